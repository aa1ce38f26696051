"""What ``python -m kerasuite.export`` refuses, in one line with the culprit named, exit 2; and
attention masks that would collapse in int8 are made representable, or fail naming the layer."""

import numpy as np
import pytest

from helpers import assert_one_line_error, run_cli
from user_models import (RNG, assert_builtin_only, export_cli, export_cli_without_tensorflow, read_bundle, save_case,
                         tokens)

CUSTOM_LAYER_MODULE = '''
import keras


@keras.saving.register_keras_serializable(package="user_tests")
class ScaledTanh(keras.layers.Layer):
    def __init__(self, scale=2.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, x):
        return keras.ops.tanh(x) * self.scale

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}
'''


def test_lambda_layer_is_refused_before_tensorflow_naming_it(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((4,), name="x"), keras.layers.Lambda(lambda v: v * 2, name="doubler"),
                              keras.layers.Dense(2)])
    paths = save_case(tmp_path, model, {"x": RNG.normal(size=(8, 4)).astype("float32")}, train=False)
    done = export_cli_without_tensorflow(str(paths["model"]), "--representative", str(paths["representative"]),
                                         "--out", str(tmp_path / "bundle"))
    assert_one_line_error(done, 2, "doubler", "Lambda")
    assert not (tmp_path / "bundle").exists()


def test_usage_mistakes_are_one_line_before_tensorflow(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((4,), name="x"), keras.layers.Dense(2)])
    paths = save_case(tmp_path, model, {"x": RNG.normal(size=(8, 4)).astype("float32")}, train=False)
    np.savez(tmp_path / "wrong.npz", y=np.zeros((4, 4), "float32"))
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    # arrays the files cannot take: each was a traceback or a TensorFlow error after start-up
    holed = RNG.normal(size=(8, 4)).astype("float32")
    holed[3, 1] = np.nan
    np.savez(tmp_path / "nan.npz", x=holed)
    np.savez(tmp_path / "text.npz", x=np.array([["a"] * 4] * 8))
    np.savez(tmp_path / "narrow.npz", x=np.zeros((8, 3), "float32"))
    np.savez(tmp_path / "short_target.npz", x=np.zeros((8, 4), "float32"), target=np.zeros(6))
    np.save(tmp_path / "bare.npy", np.zeros((8, 4), "float32"))
    (tmp_path / "not_a_bundle").mkdir()
    (tmp_path / "not_a_bundle" / "notes.txt").write_text("mine")
    cases = [
        (["--representative", str(tmp_path / "wrong.npz")], "no array for model input 'x'"),
        (["--representative", str(tmp_path / "nan.npz")], "non-finite values (NaN or inf) in 1 of 8 examples (the first: row 3)"),
        (["--representative", str(tmp_path / "text.npz")], "holds <U1 values"),
        (["--representative", str(tmp_path / "narrow.npz")], "examples of shape [3]; the model's input 'x' takes [4]"),
        (["--representative", str(paths["representative"]), "--heldout", str(tmp_path / "short_target.npz")],
         "'target' has 6 rows but the inputs have 8"),
        (["--representative", str(tmp_path / "missing.npz")], "missing.npz"),
        (["--representative", str(tmp_path / "broken.npz")], "broken.npz"),
        # a bare array and a .keras zip were tracebacks (np.load gives them as an array and as bytes)
        (["--representative", str(tmp_path / "bare.npy")], "bare.npy: not an .npz archive", "np.savez"),
        (["--representative", str(paths["model"])], "not an .npz archive", "np.savez"),
        (["--representative", str(paths["representative"]), "--modes", "float32,int4"], "int4"),
        (["--representative", str(paths["representative"]), "--tolerance", "int8.min_agreement=high"], "min_agreement"),
        (["--representative", str(paths["representative"]), "--custom-objects", "no_such_module_here"],
         "no_such_module_here"),
        (["--representative", str(paths["representative"]), "--labels", str(tmp_path / "nolabels.txt")], "nolabels.txt"),
        (["--representative", str(paths["representative"]), "--batch-size", "0"], "--batch-size"),
        (["--representative", str(paths["representative"]), "--threads", "0"], "--threads 0"),
        (["--representative", str(paths["representative"]), "--golden-examples", "0"], "--golden-examples 0"),
        (["--representative", str(paths["representative"]), "--tflm", "maybe"], "--tflm"),
    ]
    for extra, *culprits in cases:
        done = export_cli_without_tensorflow(str(paths["model"]), *extra, "--out", str(tmp_path / "b"))
        assert_one_line_error(done, 2, *culprits)
    # a folder of the user's own: named as the flag they gave, before TensorFlow (it said export.dir, after)
    done = export_cli_without_tensorflow(str(paths["model"]), "--representative", str(paths["representative"]),
                                         "--out", str(tmp_path / "not_a_bundle"))
    assert_one_line_error(done, 2, "--out", "not a kerasuite bundle")
    assert (tmp_path / "not_a_bundle" / "notes.txt").read_text() == "mine"
    # targets that only the model's outputs can judge: after TensorFlow, still one line naming them
    np.savez(tmp_path / "float_target.npz", x=np.zeros((8, 4), "float32"), target=np.full(8, 0.5))
    done = run_cli("kerasuite.export", str(paths["model"]), "--representative", str(paths["representative"]),
                   "--heldout", str(tmp_path / "float_target.npz"), "--modes", "float32", "--out", str(tmp_path / "b"))
    assert_one_line_error(done, 2, "float_target.npz", "'target' has shape [8]", "the model outputs [8, 2]")
    assert not (tmp_path / "b").exists()


def test_custom_layer_needs_its_module_and_exports_with_it(tmp_path):
    import importlib
    import sys

    import keras

    (tmp_path / "user_layers_for_test.py").write_text(CUSTOM_LAYER_MODULE)
    sys.path.insert(0, str(tmp_path))
    try:
        layers = importlib.import_module("user_layers_for_test")
        model = keras.Sequential([keras.Input((6,), name="x"), keras.layers.Dense(8), layers.ScaledTanh(name="squash"),
                                  keras.layers.Dense(3, activation="softmax")])
        values = RNG.normal(size=(64, 6)).astype("float32")
        paths = save_case(tmp_path, model, {"x": values}, np.argmax(values[:, :3], -1))
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("user_layers_for_test", None)
    from helpers import REPO

    env = {"PYTHONPATH": f"{REPO}:{tmp_path}"}
    done = export_cli(paths, tmp_path / "bundle", modes="float32", env=env)
    assert_one_line_error(done, 2, "ScaledTanh", "squash", "--custom-objects")
    done = export_cli(paths, tmp_path / "bundle", "--custom-objects", "user_layers_for_test", modes="float32", env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    signature, parity = read_bundle(tmp_path / "bundle")
    assert parity["float32"]["passed"] and parity["float32"]["max_abs_diff"] < 1e-4
    assert "TANH" in assert_builtin_only(tmp_path / "bundle" / "model_float32.tflite")


def test_a_gru_it_cannot_unroll_is_refused_in_one_line(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((None, 3), name="x"), keras.layers.GRU(4, name="recurrent"),
                              keras.layers.Dense(2)])
    paths = save_case(tmp_path, model, {"x": RNG.normal(size=(8, 5, 3)).astype("float32")}, train=False)
    done = export_cli(paths, tmp_path / "bundle", modes="float32")
    assert_one_line_error(done, 2, "recurrent", "GRU", "fixed length")
    stateful = keras.Sequential([keras.Input(batch_shape=(8, 5, 3), name="x"),
                                 keras.layers.GRU(4, stateful=True, name="remembers"), keras.layers.Dense(2)])
    paths = save_case(tmp_path, stateful, {"x": RNG.normal(size=(8, 5, 3)).astype("float32")}, train=False)
    done = export_cli(paths, tmp_path / "bundle", modes="float32")
    assert_one_line_error(done, 2, "remembers", "stateful")
    # a stateful LSTM (plain or Bidirectional) would silently lose its state in the stateless files;
    # it ended in Keras' batch-size error about the parity arrays before
    for wrap in (lambda lstm: lstm, keras.layers.Bidirectional):
        stateful = keras.Sequential([keras.Input(batch_shape=(8, 5, 3), name="x"),
                                     wrap(keras.layers.LSTM(4, stateful=True, name="carries")), keras.layers.Dense(2)])
        paths = save_case(tmp_path, stateful, {"x": RNG.normal(size=(8, 5, 3)).astype("float32")}, train=False)
        done = export_cli(paths, tmp_path / "bundle", modes="float32")
        assert_one_line_error(done, 2, "stateful LSTM", "stateful=False")
    assert not (tmp_path / "bundle").exists()


def test_a_string_input_and_arrays_the_model_cannot_take_are_refused_in_one_line(tmp_path):
    """A TextVectorization model took strings and the exporter died in Keras' predict with a
    traceback; it is refused naming the input, before TensorFlow. Arrays of the wrong width: one
    line, exit 2, before TensorFlow too (the width is in the model file)."""
    import keras

    vectorize = keras.layers.TextVectorization(max_tokens=20, output_sequence_length=4)
    vectorize.adapt(["a b c", "b c d"])
    text = keras.Input((1,), dtype="string", name="text")
    pooled = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(20, 2)(vectorize(text)))
    model = keras.Model(text, keras.layers.Dense(2)(pooled))
    paths = save_case(tmp_path, model, {"text": np.array([["a b"], ["c d"]] * 4)}, train=False)
    done = export_cli_without_tensorflow(str(paths["model"]), "--representative", str(paths["representative"]),
                                         "--out", str(tmp_path / "bundle"))
    assert_one_line_error(done, 2, "takes strings", "input text")
    narrow = keras.Sequential([keras.Input((4,), name="x"), keras.layers.Dense(2)])
    paths = save_case(tmp_path, narrow, {"x": RNG.normal(size=(8, 5)).astype("float32")}, train=False)
    done = export_cli_without_tensorflow(str(paths["model"]), "--representative", str(paths["representative"]),
                                         "--out", str(tmp_path / "bundle"))
    assert_one_line_error(done, 2, "examples of shape [5]; the model's input 'x' takes [4]")
    assert not (tmp_path / "bundle").exists()


def test_an_input_name_tensorflow_cannot_take_is_refused_naming_a_valid_one(tmp_path):
    """keras.Input(name="pixel values"): TensorFlow names such an input 'Placeholder' in the
    converted file, and the exporter died with a KeyError traceback looking it up."""
    import keras

    pixels = keras.Input((4,), name="pixel values")
    paths = save_case(tmp_path, keras.Model(pixels, keras.layers.Dense(2)(pixels)),
                      {"pixel values": RNG.normal(size=(8, 4)).astype("float32")}, train=False)
    done = export_cli(paths, tmp_path / "bundle", modes="float32")
    assert_one_line_error(done, 2, "input name 'pixel values'", "name='pixel_values'")
    assert not (tmp_path / "bundle").exists()


def test_masked_attention_encoder_keeps_int8_agreement(tmp_path):
    """Keras' MultiHeadAttention with a padding mask writes -1e9 into masked scores, which leaves
    int8 attention uniform; the exporter swaps in the bounded mask (same weights) before converting."""
    import keras

    keras.utils.set_random_seed(6)
    ids = keras.Input((10,), dtype="int32", name="tokens")
    mask = keras.ops.expand_dims(keras.ops.not_equal(ids, 0), 1)
    x = keras.layers.Embedding(40, 8, embeddings_initializer=keras.initializers.RandomNormal(stddev=1.0))(ids)
    attended = keras.layers.MultiHeadAttention(2, 4, name="self_attention")(x, x, attention_mask=mask)
    x = keras.layers.LayerNormalization()(x + attended)
    model = keras.Model(ids, keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling1D()(x)))
    data = tokens(128, 10, 40, seed=7)
    paths = save_case(tmp_path, model, {"tokens": data}, data[:, 0] % 3)
    out = tmp_path / "bundle"
    done = export_cli(paths, out, "--tolerance", "int8.max_metric_drop=0.05", "--tolerance", "int8.min_agreement=0.9")
    assert done.returncode == 0, done.stderr[-2000:]
    signature, parity = read_bundle(out)
    assert any("self_attention" in text and "BoundedMaskAttention" in text for text in signature["conversions"])
    assert parity["float32"]["max_abs_diff"] < 1e-4
    assert parity["int8"]["passed"] and parity["int8"]["top1_agreement"] >= 0.9, parity["int8"]["failures"]
    assert_builtin_only(out / "model_int8.tflite")


FLEX_LAYER_MODULE = '''
import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="user_tests")
class Determinant(keras.layers.Layer):
    def call(self, x):
        return tf.reshape(tf.linalg.det(x), (-1, 1))
'''


def test_flex_ops_are_refused_by_name_and_allowed_files_fail_on_litert(tmp_path):
    import importlib
    import sys

    import keras

    (tmp_path / "flex_user_layer.py").write_text(FLEX_LAYER_MODULE)
    sys.path.insert(0, str(tmp_path))
    try:
        module = importlib.import_module("flex_user_layer")
        matrix = keras.Input((3, 3), name="matrix")
        model = keras.Model(matrix, module.Determinant(name="det")(matrix))
        paths = save_case(tmp_path, model, {"matrix": RNG.normal(size=(16, 3, 3)).astype("float32")}, train=False)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("flex_user_layer", None)
    from helpers import REPO

    env = {"PYTHONPATH": f"{REPO}:{tmp_path}"}
    out = tmp_path / "bundle"
    done = export_cli(paths, out, "--custom-objects", "flex_user_layer", modes="float32", env=env)
    assert_one_line_error(done, 2, "tf.MatrixDeterminant", "--allow-flex")
    assert not out.exists()
    done = export_cli(paths, out, "--custom-objects", "flex_user_layer", "--allow-flex", modes="float32", env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    signature, parity = read_bundle(out)
    verdict = parity["float32"]["runtimes"]["litert_interpreter"]
    assert verdict["status"] == "failed" and "could not run" in verdict["reason"]
    assert (out / "failed" / "model_float32.tflite").is_file() and not (out / "model_float32.tflite").exists()
    assert signature["modes"]["float32"]["verdict"] == "failed"


def test_a_flex_refusal_names_the_layer_behind_the_ops(tmp_path):
    """"tf.TensorListReserve" alone does not say which layer to change: the refusal names the
    ConvLSTM2D and why it has no builtin form."""
    import keras

    clips = keras.Input((3, 6, 6, 1), name="clips")
    recurrent = keras.layers.ConvLSTM2D(2, 3, padding="same", name="weather_memory")(clips)
    model = keras.Model(clips, keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(recurrent)))
    paths = save_case(tmp_path, model, {"clips": RNG.normal(size=(8, 3, 6, 6, 1)).astype("float32")}, train=False)
    done = export_cli(paths, tmp_path / "bundle", modes="float32")
    assert_one_line_error(done, 2, "TensorList", "'weather_memory' (ConvLSTM2D", "--allow-flex")
    assert not (tmp_path / "bundle").exists()


def test_a_flex_refusal_names_the_keras_call_behind_an_op_and_what_to_use(tmp_path):
    """An antialiased resize converts to tf.ScaleAndTranslate, which says nothing of antialias=True:
    the refusal now names the Keras call and the builtin way (antialias=False)."""
    import keras

    image = keras.Input((16, 16, 3), name="image")
    small = keras.layers.Resizing(8, 8, antialias=True)(image)
    model = keras.Model(image, keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(small)))
    paths = save_case(tmp_path, model, {"image": RNG.uniform(size=(8, 16, 16, 3)).astype("float32")}, train=False)
    done = export_cli(paths, tmp_path / "bundle", modes="float32")
    assert_one_line_error(done, 2, "tf.ScaleAndTranslate", "antialias=True", "set antialias=False")
    assert not (tmp_path / "bundle").exists()


def test_a_subclassed_model_is_refused_in_words_and_its_wrapped_form_exports():
    """A subclassed model has no graph of layers to rebuild: one UserError saying how to wrap it
    (it was an AttributeError). Wrapped in a functional model it prepares, keeping Keras' own
    Embedding since the wrapper cannot be rebuilt layer by layer, and says what that costs."""
    import keras
    import pytest

    from kerasuite.errors import UserError
    from kerasuite.export.prepare import prepare_for_export

    class Pooled(keras.Model):
        def __init__(self):
            super().__init__(name="pooled")
            self.words, self.head = keras.layers.Embedding(10, 4), keras.layers.Dense(2)

        def call(self, ids):
            return self.head(keras.ops.mean(self.words(ids), axis=1))

    model = Pooled()
    model(np.zeros((1, 3), "int32"))
    with pytest.raises(UserError, match="'pooled' is a subclassed Keras model.*keras.Model\\(inputs, model\\(inputs\\)\\)"):
        prepare_for_export(model)
    ids = keras.Input((3,), dtype="int32", name="ids")
    prepared = prepare_for_export(keras.Model(ids, model(ids)))
    assert len(prepared.conversions) == 1 and "SELECT_V2" in prepared.conversions[0], prepared.conversions
    rows = np.arange(6, dtype="int32").reshape(2, 3)
    np.testing.assert_allclose(np.asarray(prepared.model({"ids": rows})), np.asarray(model(rows)), atol=1e-6)


@pytest.mark.parametrize("penalty, collapses", [(1e9, True), (20.0, False)])
def test_an_embedding_whose_int8_attention_collapses_fails_naming_the_layer(tmp_path, penalty, collapses):
    """A model that outputs an embedding (no targets, no classes) had nothing judging its int8
    file, which passed with its attention collapsed to a plain average. The error relative to
    the embeddings' spread now fails it, and the diagnosis names the layer whose values int8
    rounds away; the same model masked with a penalty int8 can hold passes."""
    import importlib
    import sys

    import keras

    from helpers import REPO
    from user_models import MASKED_POOLING_MODULE

    (tmp_path / "masked_pooling_for_test.py").write_text(MASKED_POOLING_MODULE)
    sys.path.insert(0, str(tmp_path))
    try:
        module = importlib.import_module("masked_pooling_for_test")
        ids = keras.Input((10,), dtype="int32", name="tokens")
        words = keras.layers.Embedding(40, 8, embeddings_initializer=keras.initializers.RandomNormal(stddev=1.0, seed=2))
        model = keras.Model(ids, module.MaskedAttentionPooling(penalty, name="masked_pooling")([words(ids), ids]))
        paths = save_case(tmp_path, model, {"tokens": tokens(256, 10, 40, seed=8)}, train=False)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("masked_pooling_for_test", None)
    out = tmp_path / "bundle"
    done = export_cli(paths, out, "--custom-objects", "masked_pooling_for_test",
                      env={"PYTHONPATH": f"{REPO}:{tmp_path}"})
    signature, parity = read_bundle(out)
    assert parity["float32"]["passed"], parity["float32"]["failures"]
    int8 = parity["int8"]
    if collapses:
        assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
        assert not int8["passed"] and int8["relative_error"] > 0.2
        assert int8["failures"][0].startswith("relative error"), int8["failures"]
        assert any("rounds away the values of masked_pooling" in text for text in int8["failures"]), int8["failures"]
        assert "rel. error" in done.stdout and "FAILED" in done.stdout
    else:
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        assert int8["passed"] and int8["relative_error"] < 0.2, int8


def test_a_legacy_h5_model_exports_and_its_mistakes_are_one_line_before_tensorflow(tmp_path):
    """A legacy HDF5 model (tf.keras 2's default, still written by model.save('model.h5')) was
    refused as "not a Keras 3 .keras file", though Keras 3 loads it. Its graph is now read from
    the file's model_config with h5py, so its Lambda layers are refused before TensorFlow as a
    .keras file's are, and the model exports; a SavedModel folder, a weights-only HDF5 file and
    an HDF5 file under another name are each refused in one line saying what to do."""
    import keras

    model = keras.Sequential([keras.Input((6,), name="x"), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    values = RNG.normal(size=(64, 6)).astype("float32")
    paths = save_case(tmp_path, model, {"x": values}, np.argmax(values[:, :3], -1))
    legacy = {**paths, "model": tmp_path / "model.h5"}
    model.save(legacy["model"])
    done = export_cli(legacy, tmp_path / "bundle", modes="float32")
    assert done.returncode == 0, done.stderr[-2000:]
    signature, parity = read_bundle(tmp_path / "bundle")
    assert parity["float32"]["passed"] and parity["float32"]["top1_agreement"] == 1.0, parity["float32"]

    with_lambda = keras.Sequential([keras.Input((6,), name="x"), keras.layers.Lambda(lambda v: v * 2, name="doubler"),
                                    keras.layers.Dense(3)])
    with_lambda.save(tmp_path / "lambda.h5")
    model.save_weights(tmp_path / "only.weights.h5")
    (tmp_path / "model.bin").write_bytes(legacy["model"].read_bytes())
    saved_model = tmp_path / "saved"
    saved_model.mkdir()
    (saved_model / "saved_model.pb").write_bytes(b"")
    for given, culprits in ((tmp_path / "lambda.h5", ("doubler", "Lambda")),
                            (tmp_path / "only.weights.h5", ("weights only", "model.save")),
                            (tmp_path / "model.bin", ("HDF5", ".h5")),
                            (saved_model, ("SavedModel", "model.save('model.keras')"))):
        refused = export_cli_without_tensorflow(str(given), "--representative", str(paths["representative"]),
                                                "--out", str(tmp_path / "refused"))
        assert_one_line_error(refused, 2, str(given), *culprits)
    assert not (tmp_path / "refused").exists()


def test_export_model_refuses_non_finite_inputs_that_keras_predict_hides(tmp_path):
    """Keras' predict gave finite scores for a row with a NaN (TensorFlow's fused MatMul+ReLU
    takes max(NaN, 0) as 0) where calling the model gives NaN, so the export judged the files
    against numbers that mean nothing ("non-finite outputs"). The Python API refuses such inputs
    in one line, as the command line does before TensorFlow."""
    import keras

    from kerasuite.errors import UserError
    from kerasuite.export import export_model

    x = keras.Input((6,), name="features")
    model = keras.Model(x, keras.layers.Dense(3)(keras.layers.Dense(8, activation="relu")(x)))
    values = RNG.normal(size=(16, 6)).astype("float32")
    values[2, 4] = np.nan
    assert np.isnan(np.asarray(model(values[2:3]))).all()  # predict gave finite scores here (oneDNN's fused kernel)
    with pytest.raises(UserError, match=r"representative: array 'features' has non-finite values .* row 2\)"):
        export_model(model, representative={"features": values}, out=tmp_path / "bundle", modes=("float32",))
    assert not (tmp_path / "bundle").exists()
