"""The fit loop: Keras ``fit`` with the callbacks every run gets (TensorBoard, backup/restore,
NaN guard, early stopping, hparams) plus the task's own TensorBoard writers."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import keras

from kerasuite import config as cfg
from kerasuite.errors import CheckFailed
from kerasuite.tasks.base import Task, TaskData


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Like TerminateOnNaN, but remembers where it happened so the error can name the epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.epoch = 0
        self.failed_at: tuple[int, int] | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.failed_at = (self.epoch + 1, batch)
            self.model.stop_training = True


def _hparams(config: cfg.RunConfig) -> dict[str, Any]:
    values: dict[str, Any] = {
        "task": config.task, "model": config.model.family, "data": config.data.source,
        "epochs": config.train.epochs, "batch_size": config.train.batch_size,
        "learning_rate": config.train.learning_rate, "optimizer": config.train.optimizer,
        "seed": config.seed,
    }
    family_cfg = getattr(config.model, config.model.family, None)
    if family_cfg is not None:
        for key, value in cfg.to_dict(family_cfg).items():
            values[f"{config.model.family}.{key}"] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return values


def resumed_epoch(backup_dir: Path) -> int:
    """The epoch BackupAndRestore will resume from (0 when starting fresh)."""
    metadata = backup_dir / "training_metadata.json"
    if not metadata.is_file():
        return 0
    try:
        return int(json.loads(metadata.read_text()).get("epoch", 0))
    except (ValueError, OSError):
        return 0


def callbacks_for(task: Task, model: keras.Model, data: TaskData, config: cfg.RunConfig, run_dir: Path) -> tuple[list, StopOnNonFiniteLoss]:
    from tensorboard.plugins.hparams import api as hparams_api

    log_dir = run_dir / "logs"
    nan_guard = StopOnNonFiniteLoss()
    callbacks: list = [
        nan_guard,
        keras.callbacks.BackupAndRestore(str(run_dir / "backup")),
        keras.callbacks.TensorBoard(str(log_dir), write_graph=True, update_freq="epoch"),
        hparams_api.KerasCallback(str(log_dir / "validation"), _hparams(config), trial_id=run_dir.name),
    ]
    if config.train.early_stopping_patience > 0:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_loss" if data.validation is not None else "loss",
            patience=config.train.early_stopping_patience,
            restore_best_weights=config.train.restore_best_weights,
        ))
    callbacks.extend(task.callbacks(model, data, log_dir, config))
    return callbacks, nan_guard


def fit(task: Task, model: keras.Model, data: TaskData, config: cfg.RunConfig, run_dir: Path) -> dict[str, Any]:
    callbacks, nan_guard = callbacks_for(task, model, data, config, run_dir)
    start_epoch = resumed_epoch(run_dir / "backup")
    started = time.perf_counter()
    history = model.fit(
        data.train,
        validation_data=data.validation,
        epochs=config.train.epochs,
        steps_per_epoch=config.train.steps_per_epoch or None,
        callbacks=callbacks,
        verbose=config.train.verbose,
    )
    seconds = time.perf_counter() - started
    if nan_guard.failed_at is not None:
        epoch, batch = nan_guard.failed_at
        raise CheckFailed(
            f"training stopped: the loss became NaN or infinite in epoch {epoch} (batch {batch}); "
            "lower train.learning_rate or check the data for non-finite values"
        )
    epochs_run = len(history.history.get("loss", []))
    examples = data.num_train_examples * epochs_run
    if config.train.steps_per_epoch:
        examples = config.train.steps_per_epoch * config.train.batch_size * epochs_run
    result: dict[str, Any] = {
        "epochs": start_epoch + epochs_run,
        "seconds": round(seconds, 3),
        "examples_per_second": round(examples / seconds, 1) if seconds > 0 else 0.0,
        "resumed_from_epoch": start_epoch,
    }
    for key, values in history.history.items():
        if values:
            result[f"final_{key}"] = float(values[-1])
    return result
