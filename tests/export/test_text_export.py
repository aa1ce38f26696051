"""The LSTM family exports to the fused UNIDIRECTIONAL_SEQUENCE_LSTM builtin (not a WHILE loop,
not Flex) in float32, dynamic and int8, through the shared exporter's subprocess worker."""

import keras
import numpy as np
import pytest

from kerasuite.hparams import LstmConfig
from kerasuite.export import tflite
from kerasuite.models.layers.fusable_lstm import FusableLSTM
from kerasuite.export.fused_lstm_tflite import (
    MIN_CELL_STATE_SCALE,
    repair_fused_lstms,
)
from kerasuite.models.sequence import build_sequence_classifier
from kerasuite.runtime.interpreter import TFLiteModel

LENGTH = 10
VOCABULARY = 30


def _tokens(count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    tokens = rng.integers(2, VOCABULARY, (count, LENGTH)).astype("int32")
    for row, length in enumerate(rng.integers(0, LENGTH + 1, count)):
        tokens[row, length:] = 0  # right padding of every length, including empty texts
    return tokens


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(models, {name: .tflite path}): a unidirectional 2-layer LSTM in three modes, a
    bidirectional one in float32, and a bare LSTM with small activations in int8."""
    folder = tmp_path_factory.mktemp("text_export")
    np.savez(folder / "representative.npz", input__tokens=_tokens(32, 1), input__sequence=_small_sequences(32, 3))
    sequence = keras.Input((LENGTH, 4), name="sequence")
    models = {
        "lstm": build_sequence_classifier(LstmConfig(embedding_dim=8, units=(8, 6)), VOCABULARY, LENGTH, 3),
        "bilstm": build_sequence_classifier(LstmConfig(embedding_dim=8, units=(6,), bidirectional=True), VOCABULARY, LENGTH, 3),
        "bare": keras.Model(sequence, FusableLSTM(6, return_sequences=True)(sequence)),
    }
    paths = {}
    for name, modes in (("lstm", ("float32", "dynamic", "int8")), ("bilstm", ("float32",)), ("bare", ("int8",))):
        models[name].save(folder / f"{name}.keras")
        for mode in modes:
            out = folder / f"{name}_{mode}.tflite"
            tflite.convert(folder / f"{name}.keras", mode, out, folder / "representative.npz", batch_size=1)
            paths[f"{name}_{mode}"] = out
    return models, paths


def _small_sequences(count: int, seed: int) -> np.ndarray:
    """Inputs so small that calibration sees cell values far below 1 (a young model's regime)."""
    return (np.random.default_rng(seed).normal(size=(count, LENGTH, 4)) * 0.05).astype("float32")


def _op_list(path) -> list[str]:
    return [op["op_name"] for op in TFLiteModel(path).interpreter._get_ops_details()]


@pytest.mark.parametrize("key, fused_ops", [
    ("lstm_float32", 2), ("lstm_dynamic", 2), ("lstm_int8", 2), ("bilstm_float32", 2),
])
def test_lstm_converts_to_the_fused_op(exported, key, fused_ops):
    _, paths = exported
    ops = _op_list(paths[key])
    assert ops.count("UNIDIRECTIONAL_SEQUENCE_LSTM") == fused_ops, ops  # one per layer and direction
    assert "WHILE" not in ops
    assert not any(op.startswith("Flex") or op == "CUSTOM" for op in ops), ops


def test_int8_lstm_is_integer_inside(exported):
    _, paths = exported
    interpreter = TFLiteModel(paths["lstm_int8"]).interpreter
    details = interpreter.get_tensor_details()
    for op in interpreter._get_ops_details():
        if op["op_name"] == "UNIDIRECTIONAL_SEQUENCE_LSTM":
            assert details[op["inputs"][0]]["dtype"] == np.int8  # the sequence
            assert details[op["inputs"][1]]["dtype"] == np.int8  # input-to-input weights
            assert details[op["outputs"][0]]["dtype"] == np.int8


@pytest.mark.parametrize("key, name, tolerance", [
    ("lstm_float32", "lstm", 1e-5), ("bilstm_float32", "bilstm", 1e-5), ("lstm_dynamic", "lstm", 1e-2), ("lstm_int8", "lstm", 0.05),
])
def test_fused_model_matches_keras_example_after_example(exported, key, name, tolerance):
    """Many examples in a row: the fused op keeps h/c in variable tensors between invokes, so
    this also proves the runtime resets them before every example."""
    models, paths = exported
    tokens = _tokens(24, 2)
    expected = np.asarray(models[name](tokens))
    got = TFLiteModel(paths[key]).predict({"tokens": tokens})
    assert np.abs(got - expected).max() <= tolerance


def _cell_scales(content: bytes) -> list[float]:
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    scales = []
    for subgraph in model.subgraphs:
        for operator in subgraph.operators:
            code = model.operatorCodes[operator.opcodeIndex]
            if max(code.builtinCode, code.deprecatedBuiltinCode) == 44:  # UNIDIRECTIONAL_SEQUENCE_LSTM
                scales.append(float(subgraph.tensors[operator.inputs[19]].quantization.scale[0]))
    return scales


def _with_cell_scale(content: bytes, scale: float) -> bytes:
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    for subgraph in model.subgraphs:
        for operator in subgraph.operators:
            if max(model.operatorCodes[operator.opcodeIndex].builtinCode, 0) == 44:
                subgraph.tensors[operator.inputs[19]].quantization.scale = [scale]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def test_int8_lstm_with_small_cell_state_stays_accurate(exported, tmp_path):
    """Calibration gives this LSTM a cell scale below 2^-15, where the int8 kernel skips
    tanh(cell); the exporter raises it, and the result tracks Keras within a few steps."""
    models, paths = exported
    content = paths["bare_int8"].read_bytes()
    assert _cell_scales(content) == [MIN_CELL_STATE_SCALE]
    sequences = _small_sequences(16, 4)
    expected = np.asarray(models["bare"](sequences))
    runner = TFLiteModel(paths["bare_int8"])
    step = runner.outputs[0]["quantization"][0]
    error = np.abs(runner.predict({"sequence": sequences}) - expected).mean()
    assert error <= 1.5 * step  # about rounding; inputs beyond the calibrated range may clip

    broken = tmp_path / "broken.tflite"
    broken.write_bytes(_with_cell_scale(content, 2.0 ** -18))  # what calibration produced
    broken_error = np.abs(TFLiteModel(broken).predict({"sequence": sequences}) - expected).mean()
    assert broken_error > 10 * error and broken_error > 5 * step
    repaired, changed = repair_fused_lstms(broken.read_bytes())
    assert changed["cell_scale_raised"] == 1 and _cell_scales(repaired) == [MIN_CELL_STATE_SCALE]
    assert repair_fused_lstms(repaired)[0] == repaired  # nothing left to do


def _cell_clips(content: bytes, new_clip: float | None = None) -> tuple[list[float], bytes]:
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    clips = []
    for operator in model.subgraphs[0].operators:
        if max(model.operatorCodes[operator.opcodeIndex].builtinCode, 0) == 44:
            clips.append(float(operator.builtinOptions.cellClip))
            if new_clip is not None:
                operator.builtinOptions.cellClip = new_clip
    return clips, bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def test_fused_lstm_does_not_clip_the_cell_state(tmp_path):
    """Keras never clips the cell state; the converter's fused op clips it at 10 unless the
    exporter removes that. Here the cell climbs to ~20 and comes back down to ~5."""
    steps = 35
    sequence = keras.Input((steps, 1), name="sequence")
    model = keras.Model(sequence, FusableLSTM(1, return_sequences=True)(sequence))
    # gates i, f, c, o: input, forget and output gates open; candidate = tanh(5 x) = sign(x)
    model.layers[1].set_weights([np.array([[0.0, 0.0, 5.0, 0.0]], "float32"), np.zeros((1, 4), "float32"),
                                 np.array([10.0, 10.0, 0.0, 10.0], "float32")])
    model.save(tmp_path / "climb.keras")
    inputs = np.concatenate([np.ones(20), -np.ones(15)]).astype("float32").reshape(1, steps, 1)
    np.savez(tmp_path / "representative.npz", input__sequence=inputs)
    tflite.convert(tmp_path / "climb.keras", "float32", tmp_path / "climb.tflite", tmp_path / "representative.npz",
                   batch_size=1)
    content = (tmp_path / "climb.tflite").read_bytes()
    expected = np.asarray(model(inputs))[0, -1, 0]
    assert expected > 0.99  # cell ~ 20 - 15 = 5 > 0
    clips, clipped = _cell_clips(content, new_clip=10.0)
    assert clips == [0.0]
    np.testing.assert_allclose(TFLiteModel(tmp_path / "climb.tflite").predict({"sequence": inputs})[0, -1, 0],
                               expected, atol=1e-4)
    (tmp_path / "clipped.tflite").write_bytes(clipped)  # what the converter wrote
    assert TFLiteModel(tmp_path / "clipped.tflite").predict({"sequence": inputs})[0, -1, 0] < -0.99  # 10 - 15


def _attention_model(attention: keras.layers.Layer) -> keras.Model:
    from kerasuite.models.layers.padding_mask import PaddingMask

    tokens = keras.Input((LENGTH,), dtype="int32", name="tokens")
    mask = PaddingMask()(tokens)
    x = keras.layers.Embedding(VOCABULARY, 8, embeddings_initializer=keras.initializers.RandomNormal(stddev=1.0))(tokens)
    attended = attention(x, x, attention_mask=keras.ops.expand_dims(keras.ops.cast(mask, "bool"), 1))
    return keras.Model(tokens, keras.layers.Flatten()(attended))


def test_int8_attention_keeps_its_padding_mask(tmp_path):
    """Keras' -1e9 mask leaves int8 attention uniform; the bounded one keeps its weights."""
    from kerasuite.models.layers.bounded_mask_attention import BoundedMaskAttention

    keras.utils.set_random_seed(3)
    tokens = _tokens(64, 5)
    np.savez(tmp_path / "representative.npz", input__tokens=tokens)
    errors = {}
    bounded_weights = None  # the Keras layer gets the bounded one's weights: only the mask differs
    for name, attention in (("bounded", BoundedMaskAttention(2, 4, name="attention")),
                            ("keras", keras.layers.MultiHeadAttention(2, 4, name="attention"))):
        model = _attention_model(attention)
        if bounded_weights is None:
            bounded_weights = model.get_weights()
        else:
            model.set_weights(bounded_weights)
        model.save(tmp_path / f"{name}.keras")
        tflite.convert(tmp_path / f"{name}.keras", "int8", tmp_path / f"{name}.tflite",
                       tmp_path / "representative.npz", batch_size=1)
        expected = model.predict(tokens, verbose=0)
        got = TFLiteModel(tmp_path / f"{name}.tflite").predict({"tokens": tokens})
        real = np.repeat(tokens != 0, 8, axis=1)  # outputs at padded query positions are unused
        errors[name] = float(np.abs(got - expected)[real].mean() / np.abs(expected[real]).mean())
    assert errors["bounded"] < 0.05, errors
    assert errors["keras"] > 3 * errors["bounded"], errors  # the reason the layer exists
