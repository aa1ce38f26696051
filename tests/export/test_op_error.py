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
    rsqrts = [layer for layer in diagnosis["layers"] if layer["op"] == "RSQRT"]
    assert rsqrts and all(layer["measured_on"] == "int8 model tensors" for layer in rsqrts), rsqrts
    assert all(layer["rmse_over_scale"] < 2.0 for layer in rsqrts), rsqrts
    # the debugger's figure for them (173 steps when this was written) would name RSQRT as the culprit
    assert any(layer["debugger_rmse_over_scale"] > 10 * max(layer["rmse_over_scale"], 0.1) for layer in rsqrts), rsqrts
    assert diagnosis["rmse_over_scale"] < 3.0, diagnosis  # nothing in this model is far off


def _int8_file_of_two_inputs(graph, rng):
    """(int8 .tflite bytes, calibration samples) for a tf.function of two [1, 16] float inputs."""
    import tensorflow as tf

    samples = [[rng.normal(0, 1, (1, 16)).astype(np.float32), rng.normal(0, 1, (1, 16)).astype(np.float32)]
               for _ in range(32)]
    converter = tf.lite.TFLiteConverter.from_concrete_functions([graph.get_concrete_function()])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.representative_dataset = lambda: iter(samples)
    return converter.convert(), samples


def test_elementwise_ops_are_recomputed_with_their_fused_activation_and_broadcasting():
    import tensorflow as tf

    from kerasuite.export import op_error

    rng = np.random.default_rng(1)
    gains = tf.constant(rng.uniform(-2.0, 2.0, (1, 16)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec([1, 16], tf.float32), tf.TensorSpec([1, 16], tf.float32)])
    def graph(a, b):
        # half the products are negative, so a measurement that ignored the fused RELU would be far off
        return tf.nn.relu(a * gains) + tf.nn.relu(a - b)

    content, samples = _int8_file_of_two_inputs(graph, rng)

    measured = op_error.measure(content, lambda: iter(samples))
    ops = {name for name, *_ in op_error._measured_ops(content)}
    assert {"MUL", "SUB", "ADD"} <= ops, ops
    assert len(measured) >= 3, measured
    for name, figures in measured.items():
        assert figures["rmse_over_scale"] < 1.0, (name, figures)


def test_a_result_beyond_the_outputs_range_is_counted_as_saturation_not_rounding():
    """An ADD whose output shares a clip's scale cannot hold sums beyond the clip: that is the
    range's choice, reported as saturated_share, while its rounding stays within a step."""
    import tensorflow as tf

    from kerasuite.export import op_error

    rng = np.random.default_rng(2)

    @tf.function(input_signature=[tf.TensorSpec([1, 16], tf.float32), tf.TensorSpec([1, 16], tf.float32)])
    def graph(a, b):
        return tf.nn.softmax(tf.clip_by_value(a + b, -1.0, 1.0))

    content, samples = _int8_file_of_two_inputs(graph, rng)

    measured = op_error.measure(content, lambda: iter(samples))
    (figures,) = measured.values()
    assert figures["saturated_share"] > 0.2, figures  # sums of two N(0, 1) beyond [-1, 1]: about half
    assert figures["rmse_over_scale"] < 1.0, figures
