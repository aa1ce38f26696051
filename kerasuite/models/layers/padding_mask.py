"""Which positions of a padded token-id sequence hold real tokens."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasuite")
class PaddingMask(keras.layers.Layer):
    """``token_ids [batch, length]`` -> float ``[batch, length]``: 1.0 for a token, 0.0 for padding.

    A float tensor, not a Keras mask: the mask is passed explicitly to the layers that use it,
    because the fused TFLite LSTM cannot take one and an explicit graph converts predictably.
    """

    def __init__(self, pad_id: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.pad_id = int(pad_id)

    def call(self, token_ids):
        return ops.cast(ops.not_equal(token_ids, self.pad_id), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "pad_id": self.pad_id}
