"""Transformer-encoder text classifier: token + position embedding -> N encoder blocks ->
pooling -> softmax. Every op converts to TFLite builtins in float32, float16, dynamic and int8."""

from __future__ import annotations

import keras
from keras import layers

from kerasuite.hparams import TransformerConfig
from kerasuite.models.layers.masked_mean_pooling import MaskedMeanPooling
from kerasuite.models.layers.padding_mask import PaddingMask
from kerasuite.models.layers.token_and_position_embedding import (
    TokenAndPositionEmbedding,
)
from kerasuite.models.layers.transformer_encoder_block import TransformerEncoderBlock

POOLINGS = ("mean", "first")


def build_transformer_classifier(
    cfg: TransformerConfig,
    vocabulary_size: int,
    sequence_length: int,
    num_classes: int,
    input_name: str = "tokens",
    name: str = "transformer",
) -> keras.Model:
    """``int32 token ids [batch, sequence_length]`` -> class probabilities ``[batch, num_classes]``.

    ``pooling="mean"`` averages the real (non-padding) positions; ``"first"`` takes position 0.
    """
    if cfg.pooling not in POOLINGS:
        raise ValueError(f"model.transformer.pooling: expected one of {', '.join(POOLINGS)}, got {cfg.pooling!r}")
    if cfg.num_blocks < 1:
        raise ValueError(f"model.transformer.num_blocks: must be at least 1, got {cfg.num_blocks}")
    if cfg.embedding_dim % cfg.num_heads:
        raise ValueError(
            f"model.transformer.embedding_dim ({cfg.embedding_dim}) must be divisible by num_heads ({cfg.num_heads})"
        )
    if num_classes < 2:
        raise ValueError(f"num_classes: need at least 2, got {num_classes}")

    tokens = keras.Input(shape=(sequence_length,), dtype="int32", name=input_name)
    mask = PaddingMask(name="padding_mask")(tokens)
    x = TokenAndPositionEmbedding(vocabulary_size, sequence_length, cfg.embedding_dim, name="embedding")(tokens)
    x = layers.Dropout(cfg.dropout, name="embedding_dropout")(x)
    attention_mask = mask if cfg.attention_mask else None
    for index in range(cfg.num_blocks):
        x = TransformerEncoderBlock(cfg.num_heads, cfg.ff_dim, cfg.dropout, name=f"encoder_{index}")(
            x, padding_mask=attention_mask
        )
    if cfg.pooling == "mean":
        x = MaskedMeanPooling(name="masked_mean")([x, mask])
    else:  # position 0, with standard layers only
        x = layers.Cropping1D((0, sequence_length - 1), name="first_position")(x)
        x = layers.Reshape((cfg.embedding_dim,), name="first_token")(x)
    x = layers.Dropout(cfg.dropout, name="head_dropout")(x)
    probabilities = layers.Dense(num_classes, activation="softmax", name="classifier")(x)
    return keras.Model(tokens, probabilities, name=name)
