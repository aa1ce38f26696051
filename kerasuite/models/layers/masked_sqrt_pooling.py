"""Sum over the real (non-padding) positions of a sequence, divided by the square root of their count."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasuite")
class MaskedSqrtPooling(keras.layers.Layer):
    """``[sequence [batch, length, features], mask [batch, length]]`` -> ``[batch, features]``.

    ``sum / sqrt(n)`` over the n real positions (Mult-DAE's L2-normalised bag of items, for
    embeddings): unlike the mean, a longer history gives a larger input, so the next layer can
    tell a user with three items from one with forty. An all-padding row gives zeros.
    """

    def call(self, inputs):
        sequence, mask = inputs
        mask = ops.cast(mask, sequence.dtype)
        total = ops.sum(sequence * ops.expand_dims(mask, -1), axis=1)
        count = ops.maximum(ops.sum(mask, axis=1, keepdims=True), 1.0)
        return total / ops.sqrt(count)

    def compute_output_shape(self, input_shape):
        sequence_shape, _ = input_shape
        return (sequence_shape[0], sequence_shape[-1])
