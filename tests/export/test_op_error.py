"""The int8 diagnosis measures BATCH_MATMUL itself: TensorFlow's QuantizationDebugger misreports it."""

import numpy as np


def test_batch_matmul_error_is_measured_on_the_int8_model_not_taken_from_the_debugger(tmp_path):
    import keras

    from kerasuite.export.tflite import diagnose_int8
    from kerasuite.models.layers.tfidf_bag import TfidfBag

    rng = np.random.default_rng(0)
    ids = keras.Input((64,), dtype="int32", name="ngram_ids")
    bag = TfidfBag(500, 8, use_bias=True, name="tfidf_bag")
    model = keras.Model(ids, keras.layers.Activation("softmax", name="classifier")(bag(ids)))
    bag.table.assign(rng.normal(0.0, 0.3, (500, 8)).astype(np.float32))
    bag.bias.assign(rng.normal(0.0, 1.0, 8).astype(np.float32))
    bag.idf.assign(rng.uniform(1.0, 5.0, 500).astype(np.float32))
    model.save(tmp_path / "bag.keras")
    np.savez(tmp_path / "rep.npz", input__ngram_ids=rng.integers(1, 500, (64, 64)).astype(np.int32))

    diagnosis = diagnose_int8(tmp_path / "bag.keras", tmp_path / "rep.npz")

    assert "error" not in diagnosis, diagnosis
    matmul = next(layer for layer in diagnosis["layers"] if layer["op"] == "BATCH_MATMUL")
    assert matmul["measured_on"] == "int8 model tensors"
    # rounding alone is ~0.29 steps; the debugger's own figure for this op is tens of steps
    assert 0.1 < matmul["rmse_over_scale"] < 2.0, matmul
    assert matmul["debugger_rmse_over_scale"] > 10 * matmul["rmse_over_scale"], matmul
    bias_add = next(layer for layer in diagnosis["layers"] if layer["op"] == "ADD")
    assert bias_add["measured_on"] == "int8 model tensors" and bias_add["rmse_over_scale"] < 2.0, bias_add
    assert diagnosis["rmse_over_scale"] < 3.0, diagnosis  # nothing in this model is far off
