"""Keras' ``Attention`` and ``AdditiveAttention`` with a masked score pushed down by a bounded
penalty, so the mask survives full-integer (int8) quantization.

Keras subtracts 1e9 from masked scores (a causal mask, a padding mask). In an int8 file the score
tensor gets one scale for its whole range, so the real scores round away (the export's diagnosis
read "int8 rounds away the values of attention ... their RMS is 1e-06 of one quantization step").
As in :class:`~kerasuite.models.layers.bounded_mask_attention.BoundedMaskAttention`, masked
scores get -20 instead: a weight of exp(-20) = 2e-9 relative to an unmasked one, masking for
every practical purpose, and Keras and TFLite compute the same thing. Without a mask the layers
are Keras' own.
"""

from __future__ import annotations

import keras
from keras import ops


class _BoundedMaskScores:
    """Overrides ``Attention._apply_scores``, Keras' one place that applies the score mask."""

    def _apply_scores(self, scores, value, scores_mask=None, training=False):
        if scores_mask is not None:
            keep = ops.cast(scores_mask, scores.dtype)
            if len(keep.shape) == 2:
                keep = ops.expand_dims(keep, axis=-2)
            scores = scores + (keep - 1.0) * self.mask_penalty
        weights = ops.softmax(scores, axis=-1)
        if training and self.dropout > 0:
            weights = keras.random.dropout(weights, self.dropout, seed=self.seed_generator)
        return ops.matmul(weights, value), weights

    def get_config(self):
        return {**super().get_config(), "mask_penalty": self.mask_penalty}


def _checked(mask_penalty: float, kind: str) -> float:
    if mask_penalty <= 0:
        raise ValueError(f"{kind}: mask_penalty must be positive, got {mask_penalty}")
    return float(mask_penalty)


@keras.saving.register_keras_serializable(package="kerasuite")
class BoundedMaskDotAttention(_BoundedMaskScores, keras.layers.Attention):
    def __init__(self, mask_penalty: float = 20.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_penalty = _checked(mask_penalty, type(self).__name__)


@keras.saving.register_keras_serializable(package="kerasuite")
class BoundedMaskAdditiveAttention(_BoundedMaskScores, keras.layers.AdditiveAttention):
    def __init__(self, mask_penalty: float = 20.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_penalty = _checked(mask_penalty, type(self).__name__)


BOUNDED_FOR = {keras.layers.Attention: BoundedMaskDotAttention,
               keras.layers.AdditiveAttention: BoundedMaskAdditiveAttention}
