"""Several attention-pooled summaries of one sequence: a multi-interest user history."""

from __future__ import annotations

from typing import Any

import keras
from keras import layers, ops

# Added to a padding position's attention score: exp() of it is 0 in float32, and it stays far
# from float32's limit so int8 calibration of the scores does not see an infinite range.
_PADDING_SCORE = -1e4


@keras.saving.register_keras_serializable(package="kerasuite")
class InterestPooling(layers.Layer):
    """``[sequence [batch, length, d], mask [batch, length]]`` -> ``[batch, interests, d]``.

    Self-attentive multi-interest pooling (ComiRec-SA, Cen et al. 2020): each of ``interests``
    learned attention heads weighs the real positions with ``softmax(w_k . tanh(W e_i))`` and
    sums their embeddings, so a history that mixes several kinds of items keeps one vector per
    kind instead of one average. An all-padding row gives zeros. Builtin TFLite ops only
    (FULLY_CONNECTED, TANH, SOFTMAX, BATCH_MATMUL).
    """

    def __init__(self, interests: int, attention_units: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if interests < 1 or attention_units < 1:
            raise ValueError(f"interests and attention_units must be positive, got {interests}, {attention_units}")
        self.interests = interests
        self.attention_units = attention_units
        self._hidden = layers.Dense(attention_units, activation="tanh", use_bias=False, name="hidden")
        self._heads = layers.Dense(interests, use_bias=False, name="heads")

    def build(self, input_shape):
        sequence_shape, _ = input_shape
        self._hidden.build(sequence_shape)
        self._heads.build((*sequence_shape[:-1], self.attention_units))
        self.built = True

    def call(self, inputs):
        sequence, mask = inputs
        mask = ops.cast(mask, sequence.dtype)
        scores = self._heads(self._hidden(sequence))  # [batch, length, interests]
        scores = scores + ops.expand_dims((1.0 - mask) * _PADDING_SCORE, -1)
        weights = ops.softmax(scores, axis=1) * ops.expand_dims(mask, -1)  # an empty row stays 0
        return ops.matmul(ops.transpose(weights, (0, 2, 1)), sequence)

    def compute_output_shape(self, input_shape):
        sequence_shape, _ = input_shape
        return (sequence_shape[0], self.interests, sequence_shape[-1])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(interests=self.interests, attention_units=self.attention_units)
        return config
