"""Optimizer from the typed train config."""

from __future__ import annotations

import keras

from kerasuite.config import TrainConfig
from kerasuite.errors import UserError


def make_optimizer(cfg: TrainConfig) -> keras.optimizers.Optimizer:
    if cfg.optimizer == "adam":
        return keras.optimizers.Adam(cfg.learning_rate)
    if cfg.optimizer == "adamw":
        return keras.optimizers.AdamW(cfg.learning_rate, weight_decay=cfg.weight_decay or 1e-4)
    if cfg.optimizer == "sgd":
        return keras.optimizers.SGD(cfg.learning_rate, momentum=0.9)
    raise UserError(f"train.optimizer: unknown optimizer {cfg.optimizer!r}; choose adam, adamw or sgd")
