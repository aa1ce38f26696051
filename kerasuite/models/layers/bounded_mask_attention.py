"""Multi-head attention whose padding mask survives full-integer (int8) quantization."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasuite")
class BoundedMaskAttention(keras.layers.MultiHeadAttention):
    """Keras ``MultiHeadAttention`` with masked keys pushed down by ``mask_penalty``, not to -1e9.

    Keras writes -1e9 into the masked scores. In an int8 TFLite model the score tensor gets one
    scale for its whole range, so that constant leaves about 4e6 per quantization step and every
    real score rounds to the same value. On the fortunes text corpus (8 classes, seed-42 transformer
    of ``tools/benchmark_text.py``) int8 top-1 agreement with Keras is 0.362 with a penalty of 1e9
    and 0.994 with 20 (``tools/benchmarking/text_export_before_after.py``).
    A penalty of 20 weighs each masked key by exp(-20) = 2e-9 relative to its unmasked score,
    which is masking for every practical purpose, and Keras and TFLite compute the same thing.
    (``InterestPooling`` masks for the same reason with a bound derived from its weights instead:
    its scores pass a tanh, so they have one; dot-product scores do not.)

    Attention always takes the explicit-scores path (the fused ``dot_product_attention`` kernel
    would apply its own unbounded mask), so training and export see one formula.
    """

    def __init__(self, num_heads: int, key_dim: int, mask_penalty: float = 20.0, **kwargs):
        super().__init__(num_heads, key_dim, **kwargs)
        if mask_penalty <= 0:
            raise ValueError(f"BoundedMaskAttention: mask_penalty must be positive, got {mask_penalty}")
        self.mask_penalty = float(mask_penalty)

    def _compute_attention(self, query, key, value, attention_mask=None, training=None,
                           return_attention_scores=False, use_causal_mask=False):
        if use_causal_mask:
            causal = self._compute_causal_mask(query, value)
            attention_mask = causal if attention_mask is None else ops.logical_and(
                ops.cast(attention_mask, "bool"), causal)
        query = ops.multiply(query, ops.cast(self._inverse_sqrt_key_dim, query.dtype))
        scores = ops.einsum(self._dot_product_equation, key, query)  # [batch, heads, queries, keys]
        probabilities = self._masked_softmax(scores, attention_mask)
        dropped = self._dropout_layer(probabilities, training=training) if self._dropout > 0.0 else probabilities
        return ops.einsum(self._combine_equation, dropped, value), probabilities

    def _masked_softmax(self, scores, attention_mask=None):
        if attention_mask is None:
            return ops.softmax(scores, axis=-1)
        mask = ops.cast(attention_mask, scores.dtype)
        while len(mask.shape) < len(scores.shape):  # [batch, queries, keys] -> add the heads axis
            mask = ops.expand_dims(mask, -3)
        return ops.softmax(scores + (mask - 1.0) * self.mask_penalty, axis=-1)

    def get_config(self):
        return {**super().get_config(), "mask_penalty": self.mask_penalty}
