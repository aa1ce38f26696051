"""The exporter's UpSampling2D swap gives Keras' values exactly, and only where it applies."""

import keras
import numpy as np
import pytest

from kerasuite.models.layers.nearest_up_sampling import NearestUpSampling2D, swappable


@pytest.mark.parametrize("size, shape", [((2, 2), (2, 5, 4, 3)), ((2, 3), (1, 3, 7, 2)), ((1, 4), (2, 2, 2, 1))])
def test_matches_keras_nearest_up_sampling(size, shape):
    values = np.random.default_rng(0).normal(size=shape).astype("float32")
    expected = np.asarray(keras.layers.UpSampling2D(size)(values))
    layer = NearestUpSampling2D(size)
    np.testing.assert_array_equal(np.asarray(layer(values)), expected)
    assert tuple(layer.compute_output_shape(shape)) == expected.shape
    assert NearestUpSampling2D.from_config(layer.get_config()).size == size


def test_only_nearest_channels_last_is_swapped():
    assert swappable(keras.layers.UpSampling2D())
    assert not swappable(keras.layers.UpSampling2D(interpolation="bilinear"))
    assert not swappable(keras.layers.UpSampling2D(data_format="channels_first"))
