"""Several attention-pooled summaries of one sequence: a multi-interest user history."""

from __future__ import annotations

from typing import Any

import keras
from keras import layers, ops

# How far below the lowest score a real position can have a padding position's score sits: its
# softmax weight is then at most exp(-16) of a real one's (the masked average's float result is
# unchanged), while the scores' tensor keeps a range int8 can resolve.
_PADDING_MARGIN = 16.0


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
        # Padding gets the constant -(bound + margin), below every real score: the tanh layer
        # bounds each head's score by the L1 norm of its weights. A fixed -1e4 (until
        # 2026-12-04) gave the int8 scores tensor a step of ~40, which rounded every real score
        # to one value, so each int8 interest became the plain average (Debian top-10 overlap
        # 0.61 before, 0.98 with this: tools/benchmarking/interest_padding_before_after.py).
        bound = ops.max(ops.sum(ops.abs(ops.stop_gradient(self._heads.kernel)), axis=0))
        padding = ops.expand_dims(1.0 - mask, -1)
        scores = scores * ops.expand_dims(mask, -1) - padding * (bound + _PADDING_MARGIN)
        # BoundedMaskAttention masks the same way for the same int8 reason but with a fixed penalty
        # (its dot-product scores have no bound to sit under); here the bound keeps the tensor's
        # range, and so its int8 step, as small as masking allows.
        weights = ops.softmax(scores, axis=1) * ops.expand_dims(mask, -1)  # an empty row stays 0
        return ops.matmul(ops.transpose(weights, (0, 2, 1)), sequence)

    def compute_output_shape(self, input_shape):
        sequence_shape, _ = input_shape
        return (sequence_shape[0], self.interests, sequence_shape[-1])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(interests=self.interests, attention_units=self.attention_units)
        return config
