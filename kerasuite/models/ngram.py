"""Bag-of-n-grams text classifier over word, word-bigram and character n-gram ids.

``weighting="tfidf"`` (default): the TF-IDF-weighted, L2-normalised bag of
:class:`~kerasuite.models.layers.tfidf_bag.TfidfBag`; with ``embedding_dim=0`` its table has one
column per class and the model is logistic regression on TF-IDF features (the peer's model, L2
penalty ``l2``), otherwise a low-rank bag -> dropout -> (hidden) -> softmax.
``weighting="mean"``: fastText (Joulin et al. 2016), one embedding table -> masked mean -> dropout
-> (optional hidden layer) -> softmax.

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
from kerasuite.models.layers.tfidf_bag import TfidfBag

LINEAR_SCALE = 10.0  # the linear model's bag scale (TfidfBag: faster at the task's learning rate)


def build_ngram_classifier(
    cfg: NgramConfig,
    num_ids: int,
    max_features: int,
    num_classes: int,
    input_name: str = "tokens",
    name: str = "ngram",
    idf=None,
    train_examples: int = 0,
    split_at: int = 0,
) -> keras.Model:
    """``int32 n-gram ids [batch, max_features]`` (0 = padding) -> class probabilities.

    ``idf``: ``[num_ids]`` inverse document frequencies of the training split (``tfidf`` only;
    None leaves ones, e.g. for a model whose weights are loaded afterwards). ``train_examples``
    turns ``regularization_c`` into the per-example L2 penalty (no penalty when 0). ``split_at``
    (``tfidf`` only): the first character n-gram id, normalised apart from the word ids (0: one
    norm over all ids)."""
    if cfg.embedding_dim < (0 if cfg.weighting == "tfidf" else 1):
        raise ValueError(f"model.ngram.embedding_dim: must be at least 1 (0 only with weighting=tfidf), got {cfg.embedding_dim}")
    if cfg.hidden_units < 0:
        raise ValueError(f"model.ngram.hidden_units: must be 0 (linear head) or positive, got {cfg.hidden_units}")
    if not 0.0 <= cfg.dropout < 1.0:
        raise ValueError(f"model.ngram.dropout: must be in [0, 1), got {cfg.dropout}")
    if num_classes < 2:
        raise ValueError(f"num_classes: need at least 2, got {num_classes}")

    ids = keras.Input(shape=(max_features,), dtype="int32", name=input_name)
    if cfg.weighting == "tfidf":
        linear = cfg.embedding_dim == 0
        scale = LINEAR_SCALE if linear else 1.0
        # C * sum(CE) + ||W||^2 / 2 over the training split, per example, with W = scale * table
        l2 = scale**2 / (2.0 * cfg.regularization_c * train_examples) if cfg.regularization_c and train_examples else 0.0
        bag_layer = TfidfBag(num_ids, num_classes if linear else cfg.embedding_dim, use_bias=linear,
                             l2=l2, scale=scale, split_at=split_at, name="tfidf_bag")
        x = bag_layer(ids)
        if idf is not None:
            bag_layer.idf.assign(idf)
        if linear:
            probabilities = layers.Activation("softmax", name="classifier")(x)
            return keras.Model(ids, probabilities, name=name)
        return _head(x, cfg, num_classes, ids, name)
    mask = PaddingMask(name="padding_mask")(ids)
    x = GatherEmbedding(num_ids, cfg.embedding_dim, name="ngram_embedding")(ids)
    x = MaskedMeanPooling(name="masked_mean")([x, mask])
    return _head(x, cfg, num_classes, ids, name)


def _head(x, cfg: NgramConfig, num_classes: int, ids, name: str) -> keras.Model:
    x = layers.Dropout(cfg.dropout, name="bag_dropout")(x)
    if cfg.hidden_units:
        x = layers.Dense(cfg.hidden_units, activation="relu", name="hidden")(x)
        x = layers.Dropout(cfg.dropout, name="hidden_dropout")(x)
    probabilities = layers.Dense(num_classes, activation="softmax", name="classifier")(x)
    return keras.Model(ids, probabilities, name=name)
