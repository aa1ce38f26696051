"""Optimizer from the typed train config."""

from __future__ import annotations

import math

import keras

from kerasuite.config import TrainConfig
from kerasuite.errors import UserError


def learning_rate(cfg: TrainConfig, total_steps: int | None):
    """A float, or a cosine decay over ``total_steps`` (the planned epochs x steps per epoch):
    the small late steps are what make a short run land on a good minimum instead of near one."""
    if cfg.lr_schedule == "constant" or not total_steps:
        if cfg.lr_schedule not in ("constant", "cosine"):
            raise UserError(f"train.lr_schedule: unknown schedule {cfg.lr_schedule!r}; choose constant or cosine")
        return cfg.learning_rate
    if cfg.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(cfg.learning_rate, decay_steps=total_steps)
    raise UserError(f"train.lr_schedule: unknown schedule {cfg.lr_schedule!r}; choose constant or cosine")


def planned_steps(cfg: TrainConfig, num_train_examples: int) -> int:
    per_epoch = cfg.steps_per_epoch or max(1, math.ceil(num_train_examples / cfg.batch_size))
    return per_epoch * cfg.epochs


def make_optimizer(cfg: TrainConfig, total_steps: int | None = None) -> keras.optimizers.Optimizer:
    rate = learning_rate(cfg, total_steps)
    ema = {"use_ema": True, "ema_momentum": cfg.ema_momentum} if cfg.ema_momentum else {}
    if cfg.optimizer == "adam":
        return keras.optimizers.Adam(rate, **ema)
    if cfg.optimizer == "adamw":
        return keras.optimizers.AdamW(rate, weight_decay=cfg.weight_decay or 1e-4, **ema)
    if cfg.optimizer == "sgd":
        return keras.optimizers.SGD(rate, momentum=0.9, **ema)
    raise UserError(f"train.optimizer: unknown optimizer {cfg.optimizer!r}; choose adam, adamw or sgd")
