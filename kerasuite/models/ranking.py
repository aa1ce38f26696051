"""Ranking: score one (user, item) pair. ``mlp`` is embeddings + a feed-forward stack; ``dcn`` puts
a stack of keras-rs ``FeatureCross`` layers (Deep & Cross Network v2) in front of the same stack.

The output is a rating (regression, the head starts at the training mean so the first epoch is
not spent learning the offset) or, for implicit feedback, a click probability.
"""

from __future__ import annotations

import keras
import keras_rs
from keras import layers

from kerasuite.hparams import RankingConfig
from kerasuite.models.two_tower import RecsysInputSizes, candidate_inputs, item_feature_vector, query_inputs


def _features(cfg: RankingConfig, sizes: RecsysInputSizes):
    inputs = {**query_inputs(), **candidate_inputs(sizes)}
    user = layers.Embedding(sizes.num_users, cfg.embedding_dim, name="user_embedding")(inputs["user_index"])
    item = item_feature_vector(inputs, sizes, cfg.embedding_dim, "ranking")
    return inputs, layers.Concatenate(name="features")([user, item])


def _head(x, cfg: RankingConfig, implicit: bool, mean_target: float):
    for position, units in enumerate(cfg.hidden_units):
        x = layers.Dense(units, activation="relu", name=f"hidden_{position}")(x)
        if cfg.dropout:
            x = layers.Dropout(cfg.dropout, name=f"dropout_{position}")(x)
    if implicit:
        return layers.Dense(1, activation="sigmoid", name="probability")(x)
    return layers.Dense(1, bias_initializer=keras.initializers.Constant(mean_target), name="rating")(x)


def _check(cfg: RankingConfig) -> None:
    if cfg.embedding_dim < 1:
        raise ValueError(f"model.ranking.embedding_dim must be positive, got {cfg.embedding_dim}")
    if not 0.0 <= cfg.dropout < 1.0:
        raise ValueError(f"model.ranking.dropout must be in [0, 1), got {cfg.dropout}")


def build_ranking_mlp(cfg: RankingConfig, sizes: RecsysInputSizes, *, implicit: bool = False,
                      mean_target: float = 0.0) -> keras.Model:
    """``{user_index, item_index, item features...} -> [batch, 1]`` rating or probability."""
    _check(cfg)
    inputs, x = _features(cfg, sizes)
    return keras.Model(inputs, _head(x, cfg, implicit, mean_target), name="ranking_mlp")


def build_ranking_dcn(cfg: RankingConfig, sizes: RecsysInputSizes, *, implicit: bool = False,
                      mean_target: float = 0.0) -> keras.Model:
    """DCN-v2: ``cfg.cross_layers`` FeatureCross layers (x_{l+1} = x0 * (W x_l + b) + x_l) on the
    concatenated embeddings, then the MLP head."""
    _check(cfg)
    if cfg.cross_layers < 1:
        raise ValueError(f"model.ranking.cross_layers must be at least 1 for dcn, got {cfg.cross_layers}")
    inputs, x0 = _features(cfg, sizes)
    x = x0
    for position in range(cfg.cross_layers):
        x = keras_rs.layers.FeatureCross(name=f"cross_{position}")(x0, x)
    return keras.Model(inputs, _head(x, cfg, implicit, mean_target), name="ranking_dcn")
