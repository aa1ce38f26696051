"""InterestPooling: the masked attention is exact in float and stays resolvable in int8."""

from __future__ import annotations

import keras
import numpy as np

from kerasuite.models.layers.interest_pooling import InterestPooling

LENGTH, DIM, INTERESTS = 12, 8, 4


def histories(count: int, seed: int) -> np.ndarray:
    """int32 ``[count, LENGTH]`` item ids 1..30, each row a random real length, 0-padded."""
    rng = np.random.default_rng(seed)
    rows = np.zeros((count, LENGTH), np.int32)
    for row, length in zip(rows, rng.integers(1, LENGTH + 1, count)):
        row[:length] = rng.integers(1, 31, length)
    return rows


def pooling_model(head_scale: float) -> keras.Model:
    """``history -> [batch, INTERESTS, DIM]`` through a seeded item embedding; ``head_scale``
    sets how sharp the attention is (real scores span about +-head_scale)."""
    keras.utils.set_random_seed(3)
    history = keras.Input(shape=(LENGTH,), dtype="int32", name="history")
    embedding = keras.layers.Embedding(31, DIM, embeddings_initializer=keras.initializers.RandomNormal(stddev=1.0))
    mask = keras.ops.not_equal(history, 0)
    layer = InterestPooling(INTERESTS, attention_units=16)
    model = keras.Model(history, layer([embedding(history), mask]))
    kernel = np.random.default_rng(4).normal(size=(16, INTERESTS)).astype("float32")
    layer._heads.kernel.assign(kernel * head_scale / np.abs(kernel).sum(axis=0).max())
    return model


def exact_pooling(model: keras.Model, rows: np.ndarray) -> np.ndarray:
    """The masked softmax average in numpy, from the layer's own scores."""
    layer = model.layers[-1]
    sequence = np.asarray(model.layers[1](rows))
    scores = np.asarray(layer._heads(layer._hidden(sequence)))  # [batch, length, interests]
    real = (rows != 0)[..., None]
    scores = np.where(real, scores, -np.inf)
    weights = np.exp(scores - scores.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    return np.einsum("blk,bld->bkd", weights, sequence)


def test_padding_positions_get_no_weight_even_with_sharp_attention():
    rows = histories(64, seed=0)
    for head_scale in (0.5, 8.0, 40.0):
        model = pooling_model(head_scale)
        np.testing.assert_allclose(np.asarray(model(rows)), exact_pooling(model, rows), atol=2e-5)
    empty = np.zeros((1, LENGTH), np.int32)
    np.testing.assert_array_equal(np.asarray(model(empty)), 0.0)


def test_int8_interests_keep_their_own_attention():
    """A fixed -1e4 on padding positions gave the int8 scores a step of ~40, which rounded every
    real score to one value: each int8 interest came out as the plain average of the history."""
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    model = pooling_model(head_scale=4.0)
    calibration, test = histories(200, seed=1), histories(100, seed=2)

    @tf.function(input_signature=[tf.TensorSpec([1, LENGTH], tf.int32, name="history")])
    def serve(history):
        return {"output": model(history, training=False)}

    converter = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.representative_dataset = lambda: ([calibration[i:i + 1]] for i in range(len(calibration)))
    interpreter = Interpreter(model_content=converter.convert())
    interpreter.allocate_tensors()
    source, sink = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]
    int8 = []
    for i in range(len(test)):
        interpreter.set_tensor(source, test[i:i + 1])
        interpreter.invoke()
        int8.append(interpreter.get_tensor(sink)[0])
    int8, exact = np.stack(int8), exact_pooling(model, test)
    plain_average = np.broadcast_to(
        np.asarray(model.layers[1](test)).sum(axis=1, keepdims=True) / (test != 0).sum(axis=1)[:, None, None],
        exact.shape)
    int8_error = np.sqrt(np.mean((int8 - exact) ** 2))
    averaging_error = np.sqrt(np.mean((plain_average - exact) ** 2))
    # 0.7% of the averaging error with the bounded padding score, 25% with the old -1e4
    assert int8_error < 0.05 * averaging_error, (int8_error, averaging_error)
