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


# The weight average reaches back at most a tenth of the planned steps (1 / (1 - momentum) steps):
# Keras starts it at the weights after the first step, which a run of a few dozen steps at 0.99
# would still mostly hold when it ends (0.99 ** 32 = 0.72), saving a barely trained model.
EMA_HORIZON_SHARE = 0.1


def ema_momentum(cfg: TrainConfig, total_steps: int | None) -> float:
    """``train.ema_momentum``, lowered so that the average spans at most EMA_HORIZON_SHARE of
    ``total_steps`` (unchanged when the plan is unknown; 0, a plain copy, for a run of 10 steps or fewer)."""
    if not cfg.ema_momentum or not total_steps:
        return cfg.ema_momentum
    return min(cfg.ema_momentum, max(0.0, 1.0 - 1.0 / (EMA_HORIZON_SHARE * total_steps)))


def make_optimizer(cfg: TrainConfig, total_steps: int | None = None) -> keras.optimizers.Optimizer:
    rate = learning_rate(cfg, total_steps)
    ema = {"use_ema": True, "ema_momentum": ema_momentum(cfg, total_steps)} if cfg.ema_momentum else {}
    if cfg.optimizer == "adam":
        return keras.optimizers.Adam(rate, **ema)
    if cfg.optimizer == "adamw":
        return keras.optimizers.AdamW(rate, weight_decay=cfg.weight_decay or 1e-4, **ema)
    if cfg.optimizer == "sgd":
        return keras.optimizers.SGD(rate, momentum=0.9, **ema)
    raise UserError(f"train.optimizer: unknown optimizer {cfg.optimizer!r}; choose adam, adamw or sgd")
