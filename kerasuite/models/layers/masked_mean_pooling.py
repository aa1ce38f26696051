"""Average over the real (non-padding) positions of a sequence."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasuite")
class MaskedMeanPooling(keras.layers.Layer):
    """``[sequence [batch, length, features], mask [batch, length]]`` -> ``[batch, features]``.

    Padding never dilutes the average, so a 5-token text and the same text padded to 200 give the
    same result. An all-padding row (an empty text) gives zeros instead of 0/0.
    """

    def call(self, inputs):
        sequence, mask = inputs
        mask = ops.cast(mask, sequence.dtype)
        total = ops.sum(sequence * ops.expand_dims(mask, -1), axis=1)
        count = ops.maximum(ops.sum(mask, axis=1, keepdims=True), 1.0)
        return total / count

    def compute_output_shape(self, input_shape):
        sequence_shape, _ = input_shape
        return (sequence_shape[0], sequence_shape[-1])
