"""Maximum over the real (non-padding) positions of a sequence whose values have a lower bound."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasuite")
class MaskedMaxPooling(keras.layers.Layer):
    """``[sequence [batch, length, features], mask [batch, length]]`` -> ``[batch, features]``.

    Padded positions are set to ``floor``, the least value the sequence can hold (-1 for LSTM
    outputs, ``o * tanh(c)``), so they never win the maximum, and an empty text gives ``floor``.
    A bound the data already has, rather than a large negative constant, keeps the int8 range of
    the masked tensor equal to the sequence's own: quantization loses nothing to the mask.
    """

    def __init__(self, floor: float = -1.0, **kwargs):
        super().__init__(**kwargs)
        self.floor = float(floor)

    def call(self, inputs):
        sequence, mask = inputs
        mask = ops.expand_dims(ops.cast(mask, sequence.dtype), -1)
        masked = sequence * mask + (1.0 - mask) * self.floor
        return ops.max(masked, axis=1)

    def compute_output_shape(self, input_shape):
        sequence_shape, _ = input_shape
        return (sequence_shape[0], sequence_shape[-1])

    def get_config(self):
        return {**super().get_config(), "floor": self.floor}
