"""The exporter and parity harness detect what they must: divergence and non-builtin ops."""

import numpy as np
import pytest

from harness import load_keras_file
from kerasuite import config as cfg
from kerasuite.errors import UserError


def test_parity_detects_a_perturbed_model(tiny_run):
    from kerasuite.export.parity import compare
    from kerasuite.runtime.interpreter import TFLiteModel
    from kerasuite.tasks import get_task

    folder, _ = tiny_run("image_classification")
    config = cfg.resolve(cfg.load_config_file(folder / "run" / "config.json"))
    task = get_task("image_classification")
    data = task.load_data(config)
    heldout = task.heldout(data, 200)
    trained = load_keras_file(folder / "run" / "model.keras")
    model = task.export_model(trained, data)  # what shipped: the RGB input in front of the 1-channel model
    tflite_outputs = TFLiteModel(folder / "bundle" / "model_float32.tflite").predict(heldout.inputs)
    spec = task.output_spec(data, heldout)
    honest = compare(spec, model.predict(heldout.inputs, verbose=0), tflite_outputs, config.export.parity.float32)
    assert honest["passed"], honest["failures"]
    head = trained.get_layer("probabilities")
    kernel, bias = head.get_weights()
    head.set_weights([kernel * 1.02, bias])  # a 2% drift: small, but far beyond float32 rounding
    drifted = compare(spec, model.predict(heldout.inputs, verbose=0), tflite_outputs, config.export.parity.float32)
    assert not drifted["passed"]
    assert any("max_abs_diff" in failure for failure in drifted["failures"])


FLEX_LAYER_MODULE = """
import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="kerasuite_tests")
class Determinant(keras.layers.Layer):
    def call(self, x):
        return tf.reshape(tf.linalg.det(x), (-1, 1))
"""


def test_conversion_needing_flex_ops_is_refused_and_leaves_no_file(tmp_path, monkeypatch):
    import importlib
    import sys

    import keras

    from kerasuite.export import tflite

    (tmp_path / "flex_layer_for_test.py").write_text(FLEX_LAYER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path) + ":" + str(__import__("helpers").REPO))
    layer_module = importlib.import_module("flex_layer_for_test")
    inputs = keras.Input((3, 3), name="matrix")
    model = keras.Model({"matrix": inputs}, layer_module.Determinant()(inputs))
    path = tmp_path / "det.keras"
    model.save(path)
    out = tmp_path / "det.tflite"
    with pytest.raises(UserError, match="not TFLite builtins: tf.MatrixDeterminant") as error:
        tflite.convert(path, "float32", out, import_modules=("flex_layer_for_test",))
    assert "export.allow_flex" in str(error.value) and "\n" not in str(error.value)
    assert not out.exists() and not list(tmp_path.glob(".det.tflite*"))
    sys.modules.pop("flex_layer_for_test", None)


def test_int8_diagnosis_names_a_layer_of_the_model(tiny_run, tmp_path):
    from kerasuite.export.tflite import diagnose_int8

    folder, _ = tiny_run("image_classification")
    golden = np.load(folder / "bundle" / "golden.npz")
    # golden inputs are RGB (the shipped graph converts); the run's model.keras takes the 1 trained channel
    np.savez(tmp_path / "rep.npz", input__image=golden["input__image"][..., :1])
    diagnosis = diagnose_int8(folder / "run" / "model.keras", tmp_path / "rep.npz")
    assert "error" not in diagnosis, diagnosis
    model = load_keras_file(folder / "run" / "model.keras")
    layer_names = {layer.name for layer in model.layers}
    assert diagnosis["worst_layer"] in layer_names, diagnosis["worst_layer"]
    assert diagnosis["rmse_over_scale"] > 0
    assert len(diagnosis["layers"]) >= 3
    assert "values_lost_layer" not in diagnosis  # a healthy model: every layer keeps its values


def test_one_child_converts_every_mode_and_reports_a_failing_mode_by_name(tmp_path, monkeypatch):
    """All modes in one request to the converter child (TensorFlow imported once), results still
    per mode: int8 without calibration data fails and names int8, while the other modes are written."""
    import keras

    from kerasuite.export import tflite

    inputs = keras.Input((4,), name="features")
    model = keras.Model({"features": inputs}, keras.layers.Dense(3, activation="softmax")(inputs))
    model.save(tmp_path / "tiny.keras")
    children = []
    real_run = tflite.run_worker
    monkeypatch.setattr(tflite, "run_worker", lambda command, *a: children.append(command) or real_run(command, *a))
    outputs = {mode: tmp_path / f"model_{mode}.tflite" for mode in ("float32", "dynamic")}
    sizes = tflite.convert_modes(tmp_path / "tiny.keras", outputs)
    assert len(children) == 1
    assert sizes == {mode: path.stat().st_size for mode, path in outputs.items()} and min(sizes.values()) > 0

    outputs = {mode: tmp_path / f"again_{mode}.tflite" for mode in ("float32", "int8", "float16")}
    with pytest.raises(RuntimeError, match=r"TFLite conversion \(int8\) failed"):
        tflite.convert_modes(tmp_path / "tiny.keras", outputs)  # no representative data for int8
    assert len(children) == 2
    assert outputs["float32"].is_file() and outputs["float16"].is_file() and not outputs["int8"].exists()

    # Given somewhere to record it (the export does), a mode the converter raises on is one line
    # there and the other modes' sizes come back: the export went on with a traceback before (a
    # 16x8 calibration "Unable to find min/max value" reached the user as a RuntimeError).
    outputs = {mode: tmp_path / f"third_{mode}.tflite" for mode in ("float32", "int8", "float16")}
    failed: dict[str, str] = {}
    sizes = tflite.convert_modes(tmp_path / "tiny.keras", outputs, crashes=failed)
    assert set(sizes) == {"float32", "float16"} and list(failed) == ["int8"], (sizes, failed)
    assert failed["int8"].startswith("TensorFlow's converter failed on this model (") and "\n" not in failed["int8"]


def test_a_failed_top1_agreement_says_how_close_keras_was_on_the_examples_that_differ():
    from kerasuite.config import ModeTolerance
    from kerasuite.export.parity import compare
    from kerasuite.export.spec import TOP1, OutputSpec

    keras_outputs = np.array([[0.50, 0.48, 0.02], [0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.34, 0.33, 0.33]])
    file_outputs = np.array([[0.48, 0.50, 0.02], [0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.32, 0.35, 0.33]])
    checked = compare(OutputSpec(agreement=TOP1), keras_outputs, file_outputs, ModeTolerance(min_agreement=0.98))

    assert checked["disagreements"]["count"] == 2
    assert checked["disagreements"]["keras_top2_gap_max"] == pytest.approx(0.02)
    assert checked["disagreements"]["keras_top2_gap_median_all"] == pytest.approx(0.26)
    assert checked["failures"] == [
        "agreement 0.5000 < 0.98 (2 examples differ; Keras's own top-2 probability gap on them: median 0.015, max 0.020)"]
    agreeing = compare(OutputSpec(agreement=TOP1), keras_outputs, keras_outputs, ModeTolerance(min_agreement=0.98))
    assert agreeing["passed"] and "disagreements" not in agreeing


def test_a_drop_of_exactly_the_bound_passes_despite_floating_point():
    """One example of 100 lost is an accuracy drop of 0.72 - 0.71 = 0.010000000000000009: a bound of
    0.01 failed it, and the verdict read "accuracy drop 0.0100 > 0.01". One more example fails."""
    from kerasuite.config import ModeTolerance
    from kerasuite.export.parity import compare
    from kerasuite.export.spec import TOP1, OutputSpec

    targets = np.arange(100) % 2
    right = np.eye(2)[targets]
    keras_outputs = right.copy()
    keras_outputs[:28] = right[:28, ::-1]  # Keras: 72 of 100 right
    spec = OutputSpec(metric="accuracy", agreement=TOP1,
                      score=lambda outputs: {"accuracy": float(np.mean(outputs.argmax(-1) == targets))})
    tolerance = ModeTolerance(max_metric_drop=0.01, min_agreement=0.99)
    one_lost = keras_outputs.copy()
    one_lost[99] = keras_outputs[99, ::-1]
    checked = compare(spec, keras_outputs, one_lost, tolerance)
    assert checked["metric_drop"] > 0.01 and checked["agreement"] == 0.99  # the float the bound once failed
    assert checked["passed"], checked["failures"]
    two_lost = one_lost.copy()
    two_lost[98] = keras_outputs[98, ::-1]
    failures = compare(spec, keras_outputs, two_lost, tolerance)["failures"]
    assert failures == ["agreement 0.9800 < 0.99 (2 examples differ; Keras's own top-2 probability gap on them: "
                        "median 1.000, max 1.000)", "accuracy drop 0.0200 > 0.01"], failures


def test_a_converter_error_is_told_by_its_diagnostic_not_its_call_sites():
    """TensorFlow's converter ends its message with Python call sites and carets: the one-line
    reason read "TensorFlow's converter failed on this model (^)". Its diagnostic names the op."""
    from kerasuite.export.tflite import _one_line_reasons

    text = ('loc(fused["BatchMatMulV3:", callsite("functional_1/dense_1/MatMul"("/x/polymorphic_function.py":696:1) at '
            '"/x/layer.py":1002:1)]): error: \'tfl.fully_connected\' op operand #0 must be tensor of 32-bit float '
            "values, but got 'tensor<?x16xi8>'\n/x/layer.py:1002:1: note: called from\n    outputs = call()\n^")
    assert _one_line_reasons({"float32": text}) == {"float32": (
        "TensorFlow's converter failed on this model ('tfl.fully_connected' op operand #0 must be tensor of 32-bit "
        "float values, but got 'tensor<?x16xi8>' (at functional_1/dense_1/MatMul))")}
    assert _one_line_reasons({"int8": "Traceback\n  File x\nValueError: Unable to find min/max value\n"}) == {
        "int8": "TensorFlow's converter failed on this model (ValueError: Unable to find min/max value)"}


def test_plain_values_are_judged_by_their_error_relative_to_their_spread():
    """An embedding with no targets had no criterion in the lossy modes: an int8 file whose
    attention had collapsed (relative error 0.26-1.32) passed. Now the error over the outputs' spread
    judges it, only where no agreement or metric does."""
    from kerasuite.config import ParityConfig
    from kerasuite.export.parity import compare
    from kerasuite.export.spec import TOP1, OutputSpec

    rng = np.random.default_rng(5)
    embeddings = rng.normal(size=(64, 16)).astype(np.float32)
    int8 = ParityConfig().int8
    assert int8.max_relative_error == 0.2
    close = embeddings + rng.normal(scale=0.02, size=embeddings.shape).astype(np.float32)
    checked = compare(OutputSpec("model output"), embeddings, close, int8)
    assert checked["passed"] and checked["relative_error"] == pytest.approx(0.02, rel=0.15)
    collapsed = np.repeat(embeddings.mean(axis=0, keepdims=True), len(embeddings), axis=0)  # every example alike
    checked = compare(OutputSpec("model output"), embeddings, collapsed, int8)
    assert not checked["passed"] and checked["relative_error"] == pytest.approx(1.0, rel=0.01)
    assert checked["failures"][0].startswith("relative error 1.000 > 0.2")
    # a constant output cannot be judged this way, and says so instead of passing
    constant = np.ones((8, 4), np.float32)
    checked = compare(OutputSpec("model output"), constant, constant, int8)
    assert checked["relative_error"] is None
    assert not checked["passed"] and "nothing judges this file" in checked["failures"][0]
    # a saturated softmax varies only below float32's resolution: no relative error (it read 1e15)
    saturated = np.tile(np.array([[1.0, 0.0]], np.float32), (16, 1))
    saturated[:, 1] = rng.uniform(0, 1e-18, 16)
    checked = compare(OutputSpec(agreement=TOP1), saturated, saturated + np.array([[-1e-3, 1e-3]], np.float32), int8)
    assert checked["passed"] and checked["relative_error"] is None
    # class scores keep their own criterion; the relative error is only reported
    scores = rng.dirichlet(np.ones(3), size=32).astype(np.float32)
    noisy = np.clip(scores + rng.normal(scale=0.2, size=scores.shape), 0, 1).astype(np.float32)
    keep_argmax = np.argmax(noisy, -1) == np.argmax(scores, -1)
    checked = compare(OutputSpec(agreement=TOP1), scores[keep_argmax], noisy[keep_argmax], int8)
    assert checked["passed"] and checked["relative_error"] > 0.2


def test_plain_values_wrong_on_one_example_fail_though_their_average_error_passes():
    """One example of 100 off by 1.9 spreads is a relative error of 0.19, which passed the 0.2
    bound; the worst example's own error now judges it, and the failure names its row."""
    from kerasuite.config import ParityConfig
    from kerasuite.export.parity import compare
    from kerasuite.export.spec import OutputSpec

    rng = np.random.default_rng(11)
    outputs = rng.normal(size=(100, 1)).astype(np.float32)
    int8 = ParityConfig().int8
    healthy = outputs + rng.normal(scale=0.05, size=outputs.shape).astype(np.float32)
    checked = compare(OutputSpec("model output"), outputs, healthy, int8)
    assert checked["passed"] and checked["worst_example"]["relative_error"] < 0.3, checked
    one_wrong = outputs.copy()
    spread = float(outputs.std())
    one_wrong[37] += 1.9 * spread
    checked = compare(OutputSpec("model output"), outputs, one_wrong, int8)
    assert checked["relative_error"] < int8.max_relative_error  # the average alone passes it
    assert not checked["passed"] and checked["worst_example"]["index"] == 37
    assert checked["failures"] == [checked["failures"][0]] and checked["failures"][0].startswith(
        "example (row) 37 is off by 1.9 x the spread")
    # a regression with targets is judged by its metric too, and by the worst example as well
    targets = outputs + rng.normal(scale=3.0, size=outputs.shape).astype(np.float32)  # a model's own error
    rmse = OutputSpec("model output", "rmse", False, None,
                      lambda predicted: {"rmse": float(np.sqrt(np.mean((predicted - targets) ** 2)))})
    checked = compare(rmse, outputs, one_wrong, int8)
    assert checked["failures"] and all(f.startswith("example (row) 37") for f in checked["failures"]), checked
    # decisions are judged by agreement, which counts such an example already
    scores = rng.dirichlet(np.ones(3), size=100).astype(np.float32)
    shifted = scores.copy()
    shifted[5] = shifted[5][::-1]
    from kerasuite.export.spec import TOP1

    checked = compare(OutputSpec(agreement=TOP1), scores, shifted, int8)
    assert "worst_example" in checked and not any(f.startswith("example (row)") for f in checked["failures"])


def test_a_map_of_class_scores_is_judged_per_position():
    """A segmentation-like [batch, H, W, classes] output: top-1 agreement and accuracy per
    position, and the near-tie note counts positions, not examples."""
    from kerasuite.config import ModeTolerance
    from kerasuite.export.parity import compare
    from kerasuite.export.spec import generic_output_spec, looks_like_class_scores

    rng = np.random.default_rng(3)
    scores = rng.dirichlet(np.ones(3), size=(2, 4, 5)).astype(np.float32)  # 40 positions
    targets = np.argmax(scores, -1)
    targets[0, 0, 0] = (targets[0, 0, 0] + 1) % 3  # one position the model gets wrong
    spec = generic_output_spec(scores, targets, ["sky", "road", "car"])
    assert spec.agreement is not None and spec.metric == "accuracy" and "every position of a map" in spec.meaning
    assert spec.score(scores) == {"accuracy": pytest.approx(39 / 40)}
    flipped = scores.copy()
    flipped[1, 2, 3] = flipped[1, 2, 3][::-1] if np.argmax(flipped[1, 2, 3]) != 1 else np.roll(flipped[1, 2, 3], 1)
    checked = compare(spec, scores, flipped, ModeTolerance(min_agreement=0.98))
    assert checked["agreement"] == pytest.approx(39 / 40) and not checked["passed"]
    assert checked["disagreements"]["count"] == 1 and "1 map positions differ" in checked["failures"][0]
    assert not looks_like_class_scores(rng.normal(size=(2, 4, 5, 3)))  # a feature map is compared by value
    assert generic_output_spec(rng.normal(size=(2, 4, 5, 3))).agreement is None


def test_probabilities_with_0_1_targets_are_judged_by_their_decisions_at_one_half():
    """A binary sigmoid classifier ([batch, 1]) or a multi-label model got only max |diff| and
    RMSE; with 0/1 targets its decisions at 0.5 are compared (label_agreement, checked against
    min_agreement) and scored (label_accuracy). [0, 1] outputs with other targets stay a regression."""
    from kerasuite.config import ModeTolerance
    from kerasuite.export.parity import compare
    from kerasuite.export.spec import LABELS, generic_output_spec

    rng = np.random.default_rng(4)
    probabilities = rng.random((50, 1)).astype(np.float32)
    targets = (probabilities[:, 0] > 0.5).astype(int)
    targets[:5] = 1 - targets[:5]  # five the model gets wrong
    spec = generic_output_spec(probabilities, targets)
    assert spec.agreement is LABELS and spec.metric == "label_accuracy"
    assert spec.score(probabilities) == {"label_accuracy": pytest.approx(45 / 50)}
    flipped = probabilities.copy()
    flipped[7:10, 0] = 1.0 - flipped[7:10, 0]
    checked = compare(spec, probabilities, flipped, ModeTolerance(min_agreement=0.98))
    assert checked["label_agreement"] == pytest.approx(47 / 50) and not checked["passed"]
    assert "3 label decisions differ; Keras's own distance from 0.5" in checked["failures"][0], checked["failures"]
    multi = rng.random((20, 4)).astype(np.float32)
    assert generic_output_spec(multi, (multi > 0.3).astype(np.float32)).agreement is LABELS
    pixels = rng.random((20, 4, 4, 1)).astype(np.float32)
    assert generic_output_spec(pixels, pixels).metric == "rmse"  # an autoencoder: not decisions


def test_one_hot_targets_score_class_accuracy():
    """categorical_crossentropy users keep one-hot targets: they are read as classes (accuracy
    beside top-1 agreement), where they used to give agreement only; logits count as class scores
    when one-hot targets say so."""
    from kerasuite.export.spec import TOP1, generic_output_spec

    rng = np.random.default_rng(5)
    logits = rng.normal(size=(40, 4)).astype(np.float32)
    classes = np.argmax(logits, -1)
    classes[:4] = (classes[:4] + 1) % 4  # four the model gets wrong
    spec = generic_output_spec(logits, np.eye(4, dtype=np.float32)[classes])
    assert spec.agreement is TOP1 and spec.metric == "accuracy"
    assert spec.score(logits) == {"accuracy": pytest.approx(36 / 40)}
    assert generic_output_spec(logits, np.ones((40, 4))).agreement is None  # not one-hot: a regression
    sigmoids = 1 / (1 + np.exp(-logits))  # independent labels, even with one positive per row
    assert generic_output_spec(sigmoids, np.eye(4, dtype=np.float32)[classes]).metric == "label_accuracy"


def test_the_int8_diagnosis_measures_a_spread_sample_of_the_calibration_set():
    # Calibration keeps every example (the debugged model has the file's scales); the debugger's
    # slow per-layer loop gets about DIAGNOSIS_EXAMPLES of them, from the whole set.
    from kerasuite.export.convert_worker import DIAGNOSIS_EXAMPLES, evenly_spaced

    singles = [[np.full((1, 2), i, np.float32)] for i in range(1000)]
    picked = [int(batch[0][0, 0]) for batch in evenly_spaced(lambda: iter(singles), DIAGNOSIS_EXAMPLES)()]
    assert len(picked) == DIAGNOSIS_EXAMPLES and picked[0] == 0 and picked[-1] == 999
    assert picked == sorted(set(picked))
    batches = [[np.full((64, 2), i, np.float32)] for i in range(20)]
    assert [int(b[0][0, 0]) for b in evenly_spaced(lambda: iter(batches), 128)()] == [0, 19]
    few = [[np.zeros((1, 2), np.float32)]] * 5
    assert len(list(evenly_spaced(lambda: iter(few), 128)())) == 5


def test_calibration_reads_the_representative_file_once(tmp_path, monkeypatch):
    # Indexing an npz file reads and decompresses the whole array; the calibration generator did
    # that for every example (1,280 x an 82 MB keyword clip array per int8 conversion).
    from kerasuite.export.convert_worker import calibration_batches

    np.savez(tmp_path / "rep.npz", input__a=np.arange(10, dtype=np.float32)[:, None],
             input__b=np.arange(10, 20, dtype=np.int32)[:, None])
    reads = []
    original = np.lib.npyio.NpzFile.__getitem__
    monkeypatch.setattr(np.lib.npyio.NpzFile, "__getitem__", lambda self, key: reads.append(key) or original(self, key))
    batches = list(calibration_batches(str(tmp_path / "rep.npz"), ["b", "a"], 3)())
    assert sorted(reads) == ["input__a", "input__b"]
    assert len(batches) == 3 and [b.ravel().tolist() for b in batches[1]] == [[13, 14, 15], [3.0, 4.0, 5.0]]


@pytest.mark.parametrize("penalty, lost", [(1e9, True), (20.0, False)])
def test_int8_diagnosis_names_a_layer_whose_values_a_mask_constant_rounds_away(tmp_path, monkeypatch, penalty, lost):
    """A -1e9 mask makes the scores' int8 step ~4e6: every real score rounds to the zero point,
    which the error in steps does not show (it is tiny in those steps). The signal-to-step check
    names the layer; with a penalty int8 can represent, nothing is named."""
    import importlib
    import sys

    import keras

    from kerasuite.export.tflite import diagnose_int8

    from user_models import MASKED_POOLING_MODULE

    (tmp_path / "masked_pooling_for_test.py").write_text(MASKED_POOLING_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path) + ":" + str(__import__("helpers").REPO))
    module = importlib.import_module("masked_pooling_for_test")
    try:
        ids = keras.Input((10,), dtype="int32", name="tokens")
        words = keras.layers.Embedding(40, 8, embeddings_initializer=keras.initializers.RandomNormal(stddev=1.0, seed=2))
        pooled = module.MaskedAttentionPooling(penalty, name="masked_pooling")([words(ids), ids])
        model = keras.Model(ids, keras.layers.Dense(3, activation="softmax", name="classes")(pooled))
        model.save(tmp_path / "model.keras")
    finally:
        sys.modules.pop("masked_pooling_for_test", None)
    rng = np.random.default_rng(3)
    rows = rng.integers(1, 40, (64, 10)).astype("int32")
    for row, used in zip(rows, rng.integers(2, 11, 64)):
        row[used:] = 0
    np.savez(tmp_path / "rep.npz", input__tokens=rows)
    diagnosis = diagnose_int8(tmp_path / "model.keras", tmp_path / "rep.npz",
                              import_modules=("masked_pooling_for_test",))
    assert "error" not in diagnosis, diagnosis
    if lost:
        assert diagnosis.get("values_lost_layer") == "masked_pooling", {k: v for k, v in diagnosis.items() if k != "layers"}
        assert diagnosis["values_lost_signal_over_scale"] < 0.01, diagnosis["values_lost_signal_over_scale"]
    else:
        assert "values_lost_layer" not in diagnosis, [(l["tensor"], l["signal_over_scale"]) for l in diagnosis["layers"]]


def test_the_int8_diagnosis_refuses_a_quantization_debugger_it_cannot_make_keep_its_tensors():
    """The per-layer diagnosis depends on replacing a private interpreter of TensorFlow's
    QuantizationDebugger; on a release without it, a silent no-op would diagnose from reused
    memory, so it must stop with a reason instead."""
    import types

    import tensorflow as tf

    from kerasuite.export.convert_worker import keep_intermediate_tensors

    with pytest.raises(RuntimeError, match="_quant_interpreter"):
        keep_intermediate_tensors(types.SimpleNamespace(quant_model=b""), tf)
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [tf.function(lambda x: tf.nn.relu(x * 2.0)).get_concrete_function(tf.TensorSpec([1, 4], tf.float32))])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([np.full((1, 4), v, np.float32)] for v in (-1.0, 0.5, 1.0))
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=lambda: ([np.full((1, 4), v, np.float32)] for v in (-1.0, 0.5, 1.0)))
    built = debugger._quant_interpreter
    keep_intermediate_tensors(debugger, tf)  # today's TensorFlow has it: replaced, and the debugger runs on it
    assert debugger._quant_interpreter is not built
    debugger.run()
    errors = [stats["mean_squared_error"] for stats in debugger.layer_statistics.values()]
    assert errors and all(np.isfinite(error) and error < 0.01 for error in errors), errors


def test_int8_failure_without_a_bad_layer_says_the_error_builds_up():
    """The diagnosis measures each layer's own int8 error. A failed int8 file in which no layer is
    above one quantization step must not be blamed on its largest (an EfficientNetB0 was blamed
    on its classifier); one with such a layer still names it."""
    from kerasuite.export.api import int8_error_line

    layers = [{"keras_layer": f"block{i}", "rmse_over_scale": 0.3} for i in range(40)]
    spread = {"worst_layer": "predictions", "worst_op": "FULLY_CONNECTED", "rmse_over_scale": 0.72,
              "first_layer_over_1_step": None, "layers": layers}
    line = int8_error_line(spread)
    assert "largest int8 error at" not in line
    assert "no op's own int8 error is above one quantization step" in line
    assert "predictions (FULLY_CONNECTED, 0.72" in line and "40 int8 ops" in line and "int16x8" in line
    # the text and recommender tasks refuse int16x8: not offered there
    ids = int8_error_line(spread, offer_int16x8=False)
    assert "int16x8" not in ids and "dynamic and float16" in ids
    # a note on an input or a concatenation sharing one int8 scale follows: the loss is there, not spread
    explained = int8_error_line(spread, explained_by_scales=True)
    assert "builds up" not in explained and "predictions (FULLY_CONNECTED, 0.72" in explained
    # the float op on int8 inputs is infinite where int8 rounded a log's floor to zero: said, not "inf steps"
    infinite = dict(spread, worst_layer="mel_spectrogram", worst_op="LOG", rmse_over_scale=float("inf"),
                    first_layer_over_1_step="mel_spectrogram")
    line = int8_error_line(infinite)
    assert "inf" not in line.replace("infinite", "") and "mel_spectrogram (LOG)" in line and "rounds to zero" in line
    local = dict(spread, rmse_over_scale=3.4, first_layer_over_1_step="predictions")
    assert int8_error_line(local) == "largest int8 error at predictions (FULLY_CONNECTED, 3.40 quantization steps RMS)"
    # a fused LSTM's own output error already holds its whole recurrence
    fused = dict(spread, worst_layer="lstm", worst_op="UNIDIRECTIONAL_SEQUENCE_LSTM")
    assert int8_error_line(fused).startswith("largest int8 error at lstm (UNIDIRECTIONAL_SEQUENCE_LSTM, 0.72")


def test_a_mode_the_converter_raised_on_keeps_its_reason_when_a_later_mode_crashes(tmp_path, monkeypatch):
    """The child reports float32's exception, then dies of SIGSEGV on int8: both modes are named,
    neither silently missing from the export (the crash used to drop what came before it)."""
    import json
    import subprocess

    from kerasuite.export import tflite

    def child(command, *args):
        report = command[command.index("--report") + 1]
        with open(report, "w") as handle:
            json.dump({"float32": {"error": "Traceback (most recent call last):\nRuntimeError: boom"}}, handle)
        return subprocess.CompletedProcess(command, -11, "", "")

    monkeypatch.setattr(tflite, "run_worker", child)
    failed: dict[str, str] = {}
    outputs = {mode: tmp_path / f"model_{mode}.tflite" for mode in ("float32", "int8")}
    sizes = tflite.convert_modes(tmp_path / "any.keras", outputs, crashes=failed)
    assert sizes == {}
    assert failed["float32"] == "TensorFlow's converter failed on this model (RuntimeError: boom)", failed
    assert "crashed (SIGSEGV)" in failed["int8"], failed


def test_an_output_column_in_other_units_is_judged_on_its_own_spread():
    """A price (spread 50,000) and a room count (1-6) in one output: int8's one scale leaves the
    rooms a step or none, off by more than their whole spread, while the error pooled over both
    columns is under 0.01 of the spread and passed."""
    from kerasuite.config import ParityConfig
    from kerasuite.export.parity import compare
    from kerasuite.export.spec import OutputSpec

    rng = np.random.default_rng(12)
    price = rng.normal(200000, 50000, size=(200, 1))
    rooms = rng.integers(1, 7, size=(200, 1)).astype(np.float64)
    outputs = np.concatenate([price, rooms], axis=1).astype(np.float32)
    step = (outputs.max() - outputs.min()) / 255
    int8 = (np.round(outputs / step) * step).astype(np.float32)  # one scale for the tensor
    assert np.all(np.abs(int8[:, 1]) < step)  # every room count rounds to 0
    checked = compare(OutputSpec("model output"), outputs, int8, ParityConfig().int8)
    assert checked["relative_error"] < 0.01 and checked["worst_example"]["relative_error"] < 0.05, checked
    assert checked["worst_column"]["index"] == 1 and checked["worst_column"]["relative_error"] > 2, checked
    assert not checked["passed"] and checked["failures"][0].startswith("output column 1 is off by"), checked
    # the same rounding with each column on its own scale keeps both
    own_scales = outputs.copy()
    own_scales[:, 0] = np.round(outputs[:, 0] / step) * step
    checked = compare(OutputSpec("model output"), outputs, own_scales, ParityConfig().int8)
    assert checked["passed"] and checked["worst_column"]["relative_error"] < 0.01, checked


def test_a_constant_output_column_leaves_the_other_columns_judged():
    from kerasuite.config import ParityConfig
    from kerasuite.export.parity import compare
    from kerasuite.export.spec import OutputSpec

    rng = np.random.default_rng(13)
    outputs = np.concatenate([rng.normal(size=(50, 2)), np.zeros((50, 1))], axis=1).astype(np.float32)
    wrong = outputs.copy()
    wrong[:, 1] = rng.permutation(wrong[:, 1])  # column 1 keeps its values, loses its examples
    checked = compare(OutputSpec("model output"), outputs, wrong, ParityConfig().int8)
    assert checked["worst_column"]["index"] == 1 and not checked["passed"], checked
