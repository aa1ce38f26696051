"""Keras' nearest-neighbour ``UpSampling2D`` as one ``RESIZE_NEAREST_NEIGHBOR``.

Keras repeats rows and columns (``ops.repeat``), which converts to TILE and RESHAPE ops; TFLM has
no TILE, so a U-Net or decoder with an ``UpSampling2D`` could not run on a microcontroller. Resizing
by an integer factor with ``align_corners=False`` and no half-pixel centres reads input
``floor(i / factor)`` for output ``i``: the same values, exactly, in every mode (int8 keeps the
input's scale).
"""

from __future__ import annotations

from typing import Any

import keras


@keras.saving.register_keras_serializable(package="kerasuite")
class NearestUpSampling2D(keras.layers.Layer):
    """``UpSampling2D(size, interpolation="nearest")`` on channels-last images."""

    def __init__(self, size=(2, 2), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.size = tuple(int(factor) for factor in size)

    def call(self, inputs):
        if keras.backend.backend() != "tensorflow":
            return keras.ops.repeat(keras.ops.repeat(inputs, self.size[0], axis=1), self.size[1], axis=2)
        import tensorflow as tf

        height, width = inputs.shape[1], inputs.shape[2]
        dynamic = tf.shape(inputs)
        target = [height * self.size[0] if height is not None else dynamic[1] * self.size[0],
                  width * self.size[1] if width is not None else dynamic[2] * self.size[1]]
        return tf.compat.v1.image.resize_nearest_neighbor(inputs, target, align_corners=False, half_pixel_centers=False)

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        return (batch, None if height is None else height * self.size[0],
                None if width is None else width * self.size[1], channels)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(size=self.size)
        return config


def swappable(layer) -> bool:
    return (type(layer) is keras.layers.UpSampling2D and layer.interpolation == "nearest"
            and layer.data_format == "channels_last")
