"""The export GRU: Keras' GRU arithmetic with the input projection out of the loop, so an int8
file carries no per-step int32 biases."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.parametrize("options", [
    {},
    {"return_sequences": True},
    {"go_backwards": True, "return_sequences": True},
    {"reset_after": False},
    {"use_bias": False},
    {"activation": "relu", "recurrent_activation": "hard_sigmoid"},
], ids=lambda options: ",".join(f"{k}={v}" for k, v in options.items()) or "defaults")
def test_hoisted_gru_computes_what_keras_gru_computes(options):
    import keras

    from kerasuite.models.layers.hoisted_gru import HoistedGRU

    keras.utils.set_random_seed(7)
    reference = keras.layers.GRU(5, **options)
    values = np.random.default_rng(7).normal(size=(3, 6, 4)).astype("float32")
    reference.build(values.shape)
    if reference.cell.use_bias:  # non-zero biases (Keras starts them at zero): every bias path is exercised
        reference.cell.bias.assign(np.random.default_rng(8).normal(size=reference.cell.bias.shape))
    expected = np.asarray(reference(values))
    hoisted = HoistedGRU.from_config({**reference.get_config(), "unroll": True})
    hoisted.build(values.shape)
    hoisted.set_weights(reference.get_weights())
    np.testing.assert_allclose(np.asarray(hoisted(values)), expected, atol=2e-6)


def test_hoisted_gru_takes_keras_loop_for_a_mask():
    import keras

    from kerasuite.models.layers.hoisted_gru import HoistedGRU

    keras.utils.set_random_seed(9)
    reference = keras.layers.GRU(3)
    values = np.random.default_rng(9).normal(size=(2, 5, 4)).astype("float32")
    mask = np.array([[True] * 5, [True, True, True, False, False]])
    expected = np.asarray(reference(values, mask=mask))
    hoisted = HoistedGRU.from_config({**reference.get_config(), "unroll": True})
    hoisted.build(values.shape)
    hoisted.set_weights(reference.get_weights())
    np.testing.assert_allclose(np.asarray(hoisted(values, mask=mask)), expected, atol=2e-6)


def test_int8_gru_file_has_no_per_step_biases_and_is_smaller_than_float32(tmp_path):
    """Keras' unrolled GRU gave each step's two FULLY_CONNECTED ops an int32 bias with per-channel
    scales: 59 bias tensors for 30 steps, an int8 file 1.76x the float32 one. Exported, the model
    keeps one gate-wide bias tensor (the input projection's) and one FULLY_CONNECTED per step."""
    import keras
    from ai_edge_litert import schema_py_generated as schema

    from kerasuite.export.api import export_model

    keras.utils.set_random_seed(3)
    sequence = keras.Input((12, 6), name="sequence")
    gru = keras.layers.GRU(16)
    model = keras.Model(sequence, keras.layers.Dense(2, activation="softmax")(gru(sequence)))
    gru.cell.bias.assign(np.random.default_rng(4).normal(size=gru.cell.bias.shape))  # a zero bias is dropped
    values = np.random.default_rng(3).normal(size=(64, 12, 6)).astype("float32")
    report = export_model(model, representative={"sequence": values}, out=tmp_path / "bundle", modes=("float32", "int8"))
    int8_file = tmp_path / "bundle" / "model_int8.tflite"
    parsed = schema.ModelT.InitFromPackedBuf(bytearray(int8_file.read_bytes()), 0)
    graph = parsed.subgraphs[0]
    biases = [t for t in graph.tensors if t.type == schema.TensorType.INT32 and len(t.shape) == 1
              and parsed.buffers[t.buffer].data is not None and len(parsed.buffers[t.buffer].data)
              and int(t.shape[0]) == 3 * 16]
    assert len(biases) == 1, len(biases)
    # one input projection, one recurrent product per step after the first, the Dense on top
    codes = [parsed.operatorCodes[op.opcodeIndex] for op in graph.operators]
    fully_connected = sum(max(c.builtinCode, c.deprecatedBuiltinCode) == schema.BuiltinOperator.FULLY_CONNECTED
                          for c in codes)
    assert fully_connected == 1 + 11 + 1, fully_connected
    assert report.passed, report
