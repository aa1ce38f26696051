"""One post-norm transformer encoder block: self-attention and a feed-forward net, each with a
residual connection and layer normalization."""

from __future__ import annotations

import keras
from keras import ops

from kerasuite.models.layers.bounded_mask_attention import BoundedMaskAttention


@keras.saving.register_keras_serializable(package="kerasuite")
class TransformerEncoderBlock(keras.layers.Layer):
    """``x [batch, length, dim]`` (+ optional ``padding_mask [batch, length]``) -> same shape.

    ``padding_mask`` (1.0 = token, 0.0 = padding) keeps attention off padded positions, with a
    bounded penalty that int8 export keeps (see :class:`BoundedMaskAttention`).
    """

    def __init__(self, num_heads: int, ff_dim: int, dropout: float = 0.0, epsilon: float = 1e-6,
                 mask_penalty: float = 20.0, **kwargs):
        super().__init__(**kwargs)
        if num_heads < 1 or ff_dim < 1:
            raise ValueError(f"TransformerEncoderBlock: num_heads and ff_dim must be positive, got {num_heads}, {ff_dim}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"TransformerEncoderBlock: dropout must be in [0, 1), got {dropout}")
        self.num_heads = int(num_heads)
        self.ff_dim = int(ff_dim)
        self.dropout = float(dropout)
        self.epsilon = float(epsilon)
        self.mask_penalty = float(mask_penalty)
        self.supports_masking = False

    def build(self, input_shape):
        dim = input_shape[-1]
        if dim % self.num_heads:
            raise ValueError(
                f"TransformerEncoderBlock: the embedding size {dim} must be divisible by num_heads={self.num_heads}"
            )
        self.attention = BoundedMaskAttention(
            self.num_heads, dim // self.num_heads, mask_penalty=self.mask_penalty, dropout=self.dropout, name="attention"
        )
        self.attention.build(input_shape, input_shape)
        self.attention_norm = keras.layers.LayerNormalization(epsilon=self.epsilon, name="attention_norm")
        self.attention_norm.build(input_shape)
        self.ff_in = keras.layers.Dense(self.ff_dim, activation="relu", name="ff_in")
        self.ff_in.build(input_shape)
        self.ff_out = keras.layers.Dense(dim, name="ff_out")
        self.ff_out.build((*input_shape[:-1], self.ff_dim))
        self.ff_norm = keras.layers.LayerNormalization(epsilon=self.epsilon, name="ff_norm")
        self.ff_norm.build(input_shape)
        self.residual_dropout = keras.layers.Dropout(self.dropout)
        self.built = True

    def call(self, x, padding_mask=None, training=None):
        attention_mask = None
        if padding_mask is not None:
            # [batch, 1, length]: every query may look at every real key, never at padding.
            attention_mask = ops.expand_dims(ops.cast(padding_mask, "bool"), 1)
        attended = self.attention(x, x, attention_mask=attention_mask, training=training)
        x = self.attention_norm(x + self.residual_dropout(attended, training=training))
        hidden = self.ff_out(self.ff_in(x))
        return self.ff_norm(x + self.residual_dropout(hidden, training=training))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "ff_dim": self.ff_dim,
            "dropout": self.dropout,
            "epsilon": self.epsilon,
            "mask_penalty": self.mask_penalty,
        }
