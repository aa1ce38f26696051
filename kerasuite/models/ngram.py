"""Bag-of-n-grams text classifier (fastText, Joulin et al. 2016): one embedding table for word,
word-bigram and character n-gram ids -> masked mean -> dropout -> (optional hidden layer) -> softmax.

The ids are computed outside the graph by :mod:`kerasuite.runtime.text_ngrams` (training and
devices run the same Python), so the exported graph is GATHER, a masked mean (MUL, SUM, DIV) and
FULLY_CONNECTED: builtins in every export mode, with no integer hashing ops a microcontroller
runtime would lack.
"""

from __future__ import annotations

import keras
from keras import layers

from kerasuite.hparams import NgramConfig
from kerasuite.models.layers.gather_embedding import GatherEmbedding
from kerasuite.models.layers.masked_mean_pooling import MaskedMeanPooling
from kerasuite.models.layers.padding_mask import PaddingMask


def build_ngram_classifier(
    cfg: NgramConfig,
    num_ids: int,
    max_features: int,
    num_classes: int,
    input_name: str = "tokens",
    name: str = "ngram",
) -> keras.Model:
    """``int32 n-gram ids [batch, max_features]`` (0 = padding) -> class probabilities."""
    if cfg.embedding_dim < 1:
        raise ValueError(f"model.ngram.embedding_dim: must be at least 1, got {cfg.embedding_dim}")
    if cfg.hidden_units < 0:
        raise ValueError(f"model.ngram.hidden_units: must be 0 (linear head) or positive, got {cfg.hidden_units}")
    if not 0.0 <= cfg.dropout < 1.0:
        raise ValueError(f"model.ngram.dropout: must be in [0, 1), got {cfg.dropout}")
    if num_classes < 2:
        raise ValueError(f"num_classes: need at least 2, got {num_classes}")

    ids = keras.Input(shape=(max_features,), dtype="int32", name=input_name)
    mask = PaddingMask(name="padding_mask")(ids)
    x = GatherEmbedding(num_ids, cfg.embedding_dim, name="ngram_embedding")(ids)
    x = MaskedMeanPooling(name="masked_mean")([x, mask])
    x = layers.Dropout(cfg.dropout, name="bag_dropout")(x)
    if cfg.hidden_units:
        x = layers.Dense(cfg.hidden_units, activation="relu", name="hidden")(x)
        x = layers.Dropout(cfg.dropout, name="hidden_dropout")(x)
    probabilities = layers.Dense(num_classes, activation="softmax", name="classifier")(x)
    return keras.Model(ids, probabilities, name=name)
