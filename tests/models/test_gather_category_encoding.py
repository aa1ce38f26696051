"""The exporter's CategoryEncoding swap gives Keras' outputs for every input it accepts, and
refuses (keeps Keras' layer for) the ones it does not reproduce."""

import keras
import numpy as np
import pytest

from kerasuite.models.layers.gather_category_encoding import GatherCategoryEncoding, swappable


@pytest.mark.parametrize("mode, shape", [("one_hot", (7,)), ("one_hot", (7, 1)), ("one_hot", (7, 3)),
                                         ("multi_hot", (7, 4)), ("count", (7, 4))])
def test_matches_keras_category_encoding(mode, shape):
    ids = np.random.default_rng(1).integers(0, 6, shape).astype("int32")
    ids[0] = 5  # the last category, and repeats for count
    expected = np.asarray(keras.layers.CategoryEncoding(6, output_mode=mode)(ids))
    layer = GatherCategoryEncoding(6, mode)
    np.testing.assert_array_equal(np.asarray(layer(ids)), expected)
    clone = GatherCategoryEncoding.from_config(layer.get_config())
    assert (clone.num_tokens, clone.output_mode) == (6, mode) and not clone.weights


def test_only_inputs_it_reproduces_are_swapped():
    def encoding(shape, **kwargs):
        layer = keras.layers.CategoryEncoding(6, **kwargs)
        layer(keras.Input(shape, dtype="int32"))
        return layer

    assert swappable(encoding((1,), output_mode="one_hot")) and swappable(encoding((4,), output_mode="count"))
    assert not swappable(encoding((2, 3), output_mode="multi_hot"))  # Keras treats rank 3 its own way
    assert not swappable(encoding((4,), output_mode="multi_hot", sparse=True))
    assert not swappable(keras.layers.Dense(2))
