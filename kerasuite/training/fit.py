"""The fit loop: Keras ``fit`` with the callbacks every run gets (TensorBoard, backup/restore with
preemption handling, NaN guard, early stopping, hparams) plus the task's own TensorBoard writers.

Resumption: ``RUN_DIR/backup/`` holds the weights and optimizer state after the last completed
epoch (written atomically, so a SIGKILL at any moment leaves the previous backup intact).
Rerunning the same command restores it and trains only the remaining epochs. With early
stopping, the backup also holds its state (best value, epochs without improvement, best weights),
so the resumed run stops at the epoch, and keeps the weights, of the uninterrupted run. SIGTERM or
SIGINT during ``fit`` saves a backup at the next batch boundary and ends the run with exit 128 +
signal; the rerun repeats the interrupted epoch from the saved weights (Keras' own mid-epoch
semantics).

The end of training: the backup outlives ``fit``. The run removes it only once ``model.keras`` and
``RUN_DIR/training.json`` are written (runner), so a kill between the last epoch and training.json
leaves a backup of the finished training, never nothing. Each save records what the train block
needs (the last epoch's logs, the seconds trained, the epoch this ``fit`` resumed from): a rerun
that finds a finished training's backup trains no epoch, restores it and ends as ``fit`` does
(weight average, early stopping's best weights), and reports the killed run's train block.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np

from kerasuite import config as cfg
from kerasuite.errors import CheckFailed, Interrupted, UserError
from kerasuite.io_utils import atomic_path, write_json_atomic
from kerasuite.tasks.base import Task, TaskData
from kerasuite.training.tensorboard import RunTensorBoard

BACKUP_WEIGHTS = "latest.weights.h5"
BACKUP_METADATA = "training_metadata.json"


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


class _StopForSignal(Exception):
    """Raised out of ``model.fit`` once the backup is saved: the quickest way out of a preempted
    job (no validation pass, no end-of-training pictures) while it still has its grace period."""


class RunBackup(keras.callbacks.BackupAndRestore):
    """Keras' BackupAndRestore, made safe to kill and aware of preemption:

    - saves are atomic (temporary file + rename): a kill during a save keeps the last good backup;
    - it restores from ``restore_dir`` and writes to ``backup_dir``, which differ on non-chief
      workers (they read the chief's backup and write theirs to a scratch folder, as Keras'
      multi-worker pattern does);
    - SIGTERM (a scheduler preempting the job) or SIGINT (Ctrl-C) during ``fit`` only sets a flag;
      at the next batch or epoch boundary the backup is saved and :class:`_StopForSignal` ends
      ``fit``. A signal mid-epoch saves the current weights as "that epoch not done", so the rerun
      repeats it (Keras' own semantics for mid-epoch backups). Outside ``fit`` the signals keep
      their usual meaning;
    - it is not deleted when training ends (the run removes it after training.json, see
      :func:`remove_backup`), and each save holds the train block's figures (``record``).
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, backup_dir: Path, restore_dir: Path | None = None,
                 early_stopping: EarlyStoppingOnMetric | None = None) -> None:
        super().__init__(str(backup_dir), save_freq="epoch")
        self.write_dir = Path(backup_dir)
        self.restore_dir = Path(restore_dir or backup_dir)
        # Must come before this callback in fit's list: it resets itself in on_train_begin (after
        # which this restores it) and decides in on_epoch_end (after which this saves the decision).
        self.early_stopping = early_stopping
        self.signum: int | None = None
        self.stopped_in_epoch = 0
        self._epoch = 0
        # What the train block is built from: written with every save, read back from a backup
        # whose training had finished. fit() sets fit_started just before Keras' fit.
        self.record: dict[str, Any] | None = None
        self.fit_started: float | None = None
        self.resumed_from = 0
        self._last_logs: dict[str, float] = {}
        self._previous_handlers: dict[int, Any] = {}

    # -- signals --------------------------------------------------------------------------
    def _on_signal(self, signum, frame):
        self.signum = signum

    def install_signal_handlers(self) -> None:
        if threading.current_thread() is threading.main_thread():  # Python allows handlers only there
            for sig in self.SIGNALS:
                self._previous_handlers[sig] = signal.signal(sig, self._on_signal)

    def restore_signal_handlers(self) -> None:
        for sig, previous in self._previous_handlers.items():
            signal.signal(sig, previous)
        self._previous_handlers.clear()

    def _stop_for_signal(self, completed_epochs: int, batch: int = 0) -> None:
        self._current_epoch = completed_epochs
        self._last_batch_seen = batch
        self._save_model()
        self.stopped_in_epoch = self._epoch + 1
        raise _StopForSignal()

    # -- callback hooks -------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self.install_signal_handlers()
        if self.fit_started is None:
            self.fit_started = time.perf_counter()
        weights, metadata = backup_weights(self.restore_dir), self.restore_dir / BACKUP_METADATA
        if not weights.exists():
            return
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)  # its slots are in the backup
        try:
            self.model.load_weights(str(weights))
            saved = json.loads(metadata.read_text()) if metadata.exists() else {}
            epoch = int(saved.get("epoch", 0))
            restore_seed_states(self.model, saved.get("seed_states"))
            self._restore_early_stopping(saved.get("early_stopping"))
        except Exception as error:  # corrupt or from another model: name it, do not guess
            first = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
            raise UserError(
                f"{self.restore_dir}: cannot resume from this backup ({first}); pass --overwrite to start over"
            ) from None
        self.model._initial_epoch = epoch  # the hook Keras' own BackupAndRestore uses
        self.resumed_from = epoch
        planned = int((self.params or {}).get("epochs", epoch))
        if training_finished(saved, planned, self.early_stopping is not None):
            # Killed after training ended (its last epoch, or the one early stopping ended on),
            # before training.json: the uninterrupted run trained no further epoch, so neither does
            # this one. Keras' fit then only ends (weight average, best weights) as that run's did.
            self.model._initial_epoch = max(epoch, planned)
            self.record = saved.get("train") if isinstance(saved.get("train"), dict) else None

    def _restore_early_stopping(self, state: dict | None) -> None:
        """A backup from before early stopping's state was saved has none: it starts afresh."""
        if self.early_stopping is not None and state:
            self.early_stopping.restore_state(state, self.restore_dir)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._epoch_start_seeds = seed_states(self.model)  # what a rerun of this epoch starts from
        self._mid_epoch = True

    def on_train_batch_end(self, batch, logs=None):
        if self.signum is not None:
            self._stop_for_signal(completed_epochs=self._epoch, batch=batch + 1)  # this epoch is repeated

    def on_epoch_end(self, epoch, logs=None):
        self._mid_epoch = False
        self._last_logs = float_logs(logs)
        if self.signum is not None:  # came after the last batch, e.g. during validation
            self._stop_for_signal(completed_epochs=epoch + 1)
        super().on_epoch_end(epoch, logs)

    def on_train_end(self, logs=None):
        if self.signum is not None:  # came after the last epoch: keep the backup, skip to export on rerun
            # The last epoch's backup is already complete, and saving again would store the
            # weights early stopping has just swapped in (its best) as the last epoch's.
            self.stopped_in_epoch = self._epoch + 1
            raise _StopForSignal()
        # Keras' BackupAndRestore deletes the backup here. Kept: until model.keras and
        # training.json are written it is all a kill would leave of the finished training.

    def _save_model(self):
        from kerasuite.locations import check_free_space

        self.write_dir.mkdir(parents=True, exist_ok=True)
        # The old backup stays until the new one is complete, so the new one needs room beside it.
        check_free_space(self.write_dir, self._backup_bytes() + 64 * 1024, "the training backup")
        # Each save's files get new names, which the metadata (written last) names: replacing
        # the weights and then the metadata in place would let a kill between the two pair one
        # epoch's weights with the previous epoch's number, and the rerun would train it twice.
        name = f"epoch-{self._current_epoch}.{time.time_ns()}"
        weights = write_then_rename(self.write_dir / f"{name}.weights.h5",
                                    lambda path: self.model.save_weights(str(path), overwrite=True))
        # The dropout/augmentation random state the resumed run continues from: the state at
        # the start of the epoch it will (re)run, so a resumed run draws what this one would have.
        seeds = self._epoch_start_seeds if getattr(self, "_mid_epoch", False) else seed_states(self.model)
        self.record = {"resumed_from_epoch": self.resumed_from,
                       "seconds": time.perf_counter() - (self.fit_started or time.perf_counter()),
                       "last_epoch_logs": self._last_logs}
        metadata = {"epoch": self._current_epoch, "batch": self._last_batch_seen, "seed_states": seeds,
                    "weights": weights.name, "train": self.record}
        if self.early_stopping is not None:
            metadata["early_stopping"] = self.early_stopping.backup_state(self.write_dir, name)
        write_json_atomic(self.write_dir / BACKUP_METADATA, metadata)
        remove_unnamed_backup_files(self.write_dir, metadata)

    def _backup_bytes(self) -> int:
        if self.early_stopping is None or self.early_stopping.best_weights is None:
            return backup_bytes(self.model)
        return backup_bytes(self.model) + array_bytes(self.early_stopping.best_weights)


def write_then_rename(path: Path, write: Callable[[Path], None]) -> Path:
    """``write`` to a temporary name beside ``path`` with its suffix (which Keras checks), then
    rename: a kill mid-write leaves that temporary file (the next save removes it), never a
    truncated ``path``."""
    with atomic_path(path, suffix="".join(path.suffixes[-2:])) as partial:
        write(partial)
    return path


def remove_unnamed_backup_files(backup_dir: Path, metadata: dict) -> None:
    """Delete the files the previous save's metadata named, and those of a save killed midway."""
    named = {metadata.get("weights"), (metadata.get("early_stopping") or {}).get("best_weights")}
    for previous in [*backup_dir.glob("*.weights.h5"), *backup_dir.glob(f"*{BEST_WEIGHTS_SUFFIX}")]:
        if previous.name not in named:
            previous.unlink(missing_ok=True)


def float_logs(logs: dict | None) -> dict[str, float]:
    """An epoch's logs as JSON numbers; a value that is not a number is left out."""
    values = {}
    for key, value in (logs or {}).items():
        try:
            values[str(key)] = float(value)
        except (TypeError, ValueError):
            continue
    return values


def backup_metadata(backup_dir: Path) -> dict[str, Any]:
    """The backup's metadata, or {} when there is none (or it cannot be read)."""
    try:
        saved = json.loads((backup_dir / BACKUP_METADATA).read_text())
    except (OSError, ValueError):
        return {}
    return saved if isinstance(saved, dict) else {}


def training_finished(metadata: dict[str, Any], epochs: int, early_stopping: bool) -> bool:
    """Whether a backup is of a training that had ended: saved after the last planned epoch, or
    after the epoch early stopping ended training on (a mid-epoch backup is neither)."""
    try:
        epoch = int(metadata.get("epoch", 0))
        stopped = int((metadata.get("early_stopping") or {}).get("stopped_epoch", 0)) if early_stopping else 0
    except (TypeError, ValueError, AttributeError):
        return False
    return epoch > 0 and (epoch >= epochs or stopped > 0)


def remove_backup(backup_dir: Path) -> None:
    """Delete a backup in one step: renamed into a hidden folder first, so a kill midway cannot
    leave weights without the metadata naming their epoch (a rerun would train from epoch 0), or
    the reverse. Hidden folders of removals killed before are deleted too."""
    backup_dir = Path(backup_dir)
    if backup_dir.exists():
        trash = Path(tempfile.mkdtemp(prefix=f".{backup_dir.name}.", suffix=".removed", dir=backup_dir.parent))
        os.replace(backup_dir, trash / backup_dir.name)
    for leftover in backup_dir.parent.glob(f".{backup_dir.name}.*.removed"):
        shutil.rmtree(leftover, ignore_errors=True)


def backup_weights(backup_dir: Path) -> Path:
    """The weights file that the backup's metadata names; a backup from before the metadata named
    one keeps its weights in BACKUP_WEIGHTS. Weights that no metadata names are not resumed from."""
    try:
        name = json.loads((backup_dir / BACKUP_METADATA).read_text()).get("weights")
    except (OSError, ValueError, AttributeError):
        name = None
    return backup_dir / (Path(name).name if isinstance(name, str) and name else BACKUP_WEIGHTS)


def _seed_generators(model: keras.Model) -> list:
    """Every Keras SeedGenerator in the model (dropout, augmentation), in a fixed layer order."""
    return [generator for layer in model._flatten_layers() for generator in getattr(layer, "_seed_generators", [])]


def seed_states(model: keras.Model) -> list[list[int]]:
    return [[int(x) for x in np.asarray(generator.state.value).ravel()] for generator in _seed_generators(model)]


def restore_seed_states(model: keras.Model, states: list | None) -> None:
    """Put the saved random state back (a backup from before this was saved has none: skipped)."""
    if not states:
        return
    generators = _seed_generators(model)
    if len(generators) != len(states):
        raise ValueError(f"the backup holds {len(states)} random states, the model has {len(generators)}")
    for generator, state in zip(generators, states):
        generator.state.assign(np.asarray(state, dtype=np.asarray(generator.state.value).dtype).reshape(generator.state.shape))


def replay_epoch_shuffles(dataset, epochs: int) -> None:
    """tf.data reshuffles from a seed generator that advances once per iterator opened: open (and
    drop) as many iterators as the epochs already trained opened, so a resumed run sees the order
    of each later epoch that the uninterrupted run saw, not epoch 1's order again.

    Keras' EpochIterator (keras/src/trainers/epoch_iterator.py, ``_enumerate_iterator``) opens
    two per epoch when the number of batches is known (one to train, one readied at the end of
    the epoch and then replaced), one when it is not; tests/training/test_hostile_resume.py checks it."""
    cardinality = int(dataset.cardinality())
    per_epoch = 2 if cardinality > 0 else 1
    for _ in range(epochs * per_epoch):
        iterator = iter(dataset)
        del iterator


def backup_bytes(model: keras.Model) -> int:
    """About the size of a weights + optimizer-state file (HDF5 adds a little per variable)."""
    def nbytes(variables) -> int:
        return sum(math.prod(v.shape) * np.dtype(v.dtype).itemsize for v in variables)

    weights = nbytes(model.weights)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and optimizer.built:
        state = nbytes(optimizer.variables)
    else:
        state = 2 * weights  # Adam keeps two slots per trainable weight
    return int((weights + state) * 1.05) + 2048 * (len(model.weights) + 1)


def logged_hparams(config: cfg.RunConfig) -> dict[str, Any]:
    values: dict[str, Any] = {
        "task": config.task, "model": config.model.family, "data": config.data.source,
        "epochs": config.train.epochs, "batch_size": config.train.batch_size,
        "learning_rate": config.train.learning_rate, "optimizer": config.train.optimizer,
        "seed": config.seed,
    }
    # The sections the task's config names for this family (ranking's dcn/mlp read "ranking",
    # keyword spotting's families read "mfcc" too), not an attribute that happens to share its name.
    for section_name, section in config.model.family_sections().items():
        for key, value in cfg.to_dict(section).items():
            values[f"{section_name}.{key}"] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return values


def progress_verbosity(verbose: int, stream=None) -> int:
    """Keras' progress bar redraws one line with carriage returns and ANSI codes; in a log file
    that is unreadable, so a bar asked for (1) becomes one plain line per epoch (2) when the
    output is not a terminal."""
    import sys

    stream = stream or sys.stdout
    if verbose == 1 and not (hasattr(stream, "isatty") and stream.isatty()):
        return 2
    return verbose


def resumed_epoch(backup_dir: Path) -> int:
    """The epoch BackupAndRestore will resume from (0 when starting fresh)."""
    metadata = backup_dir / BACKUP_METADATA
    if not metadata.is_file():
        return 0
    try:
        return int(json.loads(metadata.read_text()).get("epoch", 0))
    except (ValueError, OSError):
        return 0


def check_early_stopping_metric(model: keras.Model, config: cfg.RunConfig) -> None:
    """Refuse, before anything is written, an early-stopping metric the compiled model never logs.

    Keras knows metric names only after the first batch; the compile arguments it keeps say them
    sooner. Where they are unavailable, :class:`EarlyStoppingOnMetric` still refuses at epoch end.
    """
    metric = config.train.early_stopping_metric
    if config.train.early_stopping_patience <= 0 or metric == "loss":
        return
    compiled = getattr(getattr(model, "_compile_config", None), "config", None) or {}
    metrics = compiled.get("metrics")
    if metrics is None:
        return
    listed = metrics.values() if isinstance(metrics, dict) else metrics
    names = {m if isinstance(m, str) else getattr(m, "name", None) for m in keras.tree.flatten(list(listed))}
    if metric not in names:
        raise UserError(f"train.early_stopping_metric: this model logs no metric {metric!r}; "
                        f"use loss or one of: {', '.join(sorted(n for n in names if n))}")


class EarlyStoppingOnMetric(keras.callbacks.EarlyStopping):
    """Keras' EarlyStopping, with an unknown metric reported as a one-line flag error, and a state
    that :class:`RunBackup` saves and restores (Keras resets it whenever ``fit`` starts)."""

    def _set_monitor_op(self):
        try:
            super()._set_monitor_op()
        except ValueError:
            raise UserError(f"train.early_stopping_metric: this model logs no metric "
                            f"{self.monitor.removeprefix('val_')!r}; use loss or one of its compiled metrics") from None

    def backup_state(self, folder: Path, name: str) -> dict[str, Any]:
        """The state as JSON values; the best weights, if kept, go to a new file in ``folder``
        that the returned state names."""
        best_weights = None
        if self.best_weights is not None:
            best_weights = write_then_rename(folder / f"{name}{BEST_WEIGHTS_SUFFIX}",
                                             lambda path: save_arrays(path, self.best_weights)).name
        return {"best": None if self.best is None else float(self.best), "best_epoch": int(self.best_epoch),
                "wait": int(self.wait), "stopped_epoch": int(self.stopped_epoch), "best_weights": best_weights}

    def restore_state(self, state: dict[str, Any], folder: Path) -> None:
        """Undo the reset of ``on_train_begin`` with what :meth:`backup_state` saved in ``folder``."""
        best_weights = None
        if state.get("best_weights"):
            best_weights = load_arrays(folder / Path(state["best_weights"]).name)
            if len(best_weights) != len(self.model.weights):  # set_weights would fail only at the end
                raise ValueError(f"the backup's best weights are {len(best_weights)} arrays, "
                                 f"the model has {len(self.model.weights)}")
        self.best = None if state.get("best") is None else float(state["best"])
        self.best_epoch = int(state.get("best_epoch", 0))
        self.wait = int(state.get("wait", 0))
        self.stopped_epoch = int(state.get("stopped_epoch", 0))
        self.best_weights = best_weights


BEST_WEIGHTS_SUFFIX = ".best_weights.npz"


def save_arrays(path: Path, arrays: list) -> None:
    with open(path, "wb") as file:  # a file object: np.savez would otherwise append its own .npz
        np.savez(file, *arrays)


def load_arrays(path: Path) -> list[np.ndarray]:
    with np.load(path, allow_pickle=False) as saved:
        return [saved[f"arr_{index}"] for index in range(len(saved.files))]


def array_bytes(arrays: list) -> int:
    return sum(np.asarray(array).nbytes for array in arrays)


class Callbacks:
    """The callbacks of one ``fit``, with handles on the ones whose state the report reads."""

    def __init__(self, task: Task, model: keras.Model, data: TaskData, config: cfg.RunConfig,
                 run_dir: Path, scratch_dir: Path) -> None:
        from tensorboard.plugins.hparams import api as hparams_api

        log_dir = scratch_dir / "logs"  # per worker: only the chief's is under RUN_DIR
        self.nan_guard = StopOnNonFiniteLoss()
        self.early_stopping = early_stopping_for(config, data)
        self.backup = RunBackup(scratch_dir / "backup", restore_dir=run_dir / "backup", early_stopping=self.early_stopping)
        self.all: list = [
            self.nan_guard,
            *([self.early_stopping] if self.early_stopping else []),  # before the backup, which saves its state
            self.backup,
            RunTensorBoard(str(log_dir), write_graph=True, update_freq="epoch"),
            hparams_api.KerasCallback(str(log_dir / "validation"), logged_hparams(config), trial_id=run_dir.name),
        ]
        if config.train.ema_momentum:  # validation measures the averaged weights, which are what ships
            self.all.append(keras.callbacks.SwapEMAWeights())
        self.all.extend(task.callbacks(model, data, log_dir, config))


def early_stopping_for(config: cfg.RunConfig, data: TaskData) -> EarlyStoppingOnMetric | None:
    if config.train.early_stopping_patience <= 0:
        return None
    metric = config.train.early_stopping_metric
    return EarlyStoppingOnMetric(
        monitor=f"val_{metric}" if data.validation is not None else metric,
        patience=config.train.early_stopping_patience,
        restore_best_weights=config.train.restore_best_weights,
    )


def fit(task: Task, model: keras.Model, data: TaskData, config: cfg.RunConfig, run_dir: Path,
        scratch_dir: Path | None = None) -> dict[str, Any]:
    """Train ``model`` and return the report's ``train`` block. ``scratch_dir`` is where this
    process writes logs and backups (``run_dir`` itself for the chief). The backup is left in
    place (the caller removes it once the model and training.json are saved)."""
    callbacks = Callbacks(task, model, data, config, run_dir, scratch_dir or run_dir)
    start_epoch = resumed_epoch(run_dir / "backup")
    # A model with nothing left to learn (the ngram solver's frozen table): one epoch records its
    # loss and metrics, more would only repeat them (ngram_nb_text on packages: 6 such epochs, 28 s)
    epochs = config.train.epochs if model.trainable_weights else min(config.train.epochs, 1)
    # As RunBackup.on_train_begin decides it, which resumes nothing without the weights file
    finished = backup_weights(run_dir / "backup").exists() and training_finished(
        backup_metadata(run_dir / "backup"), epochs, callbacks.early_stopping is not None)
    if finished:
        print(f"note: {run_dir / 'backup'}: training already finished (epoch {start_epoch}); saving its model "
              "instead of training again", file=sys.stderr)
    elif start_epoch and not config.train.steps_per_epoch:
        # With steps_per_epoch, Keras keeps one iterator across epochs, whose position a backup
        # cannot hold; there the resumed data order differs (README, Resuming).
        replay_epoch_shuffles(data.train, start_epoch)
    callbacks.backup.fit_started = time.perf_counter()
    try:
        history = model.fit(
            data.train,
            validation_data=data.validation,
            epochs=epochs,
            steps_per_epoch=config.train.steps_per_epoch or None,
            callbacks=callbacks.all,
            verbose=progress_verbosity(config.train.verbose),
        )
    except _StopForSignal:
        name = signal.Signals(callbacks.backup.signum).name
        raise Interrupted(
            f"training interrupted by {name} in epoch {callbacks.backup.stopped_in_epoch}; backup saved in "
            f"{run_dir / 'backup'}; rerun the same command to resume", callbacks.backup.signum) from None
    except Exception as error:
        # A cluster told to stop stops worker by worker: a worker that leaves first takes the
        # collective ops of the others' last step or save with it (UnavailableError: "tasks
        # have crashed"). After a signal that is the interruption, not a crash.
        if callbacks.backup.signum is None or not _peer_gone(error):
            raise
        name = signal.Signals(callbacks.backup.signum).name
        raise Interrupted(
            f"training interrupted by {name}; another worker stopped first ({type(error).__name__}), so "
            f"{run_dir / 'backup'} holds the last backup saved before it; rerun the same command to resume",
            callbacks.backup.signum) from None
    finally:
        callbacks.backup.restore_signal_handlers()
    if callbacks.nan_guard.failed_at is not None:
        # The backup of the failed epoch holds non-finite weights: the rerun starts over.
        remove_backup(callbacks.backup.write_dir)
        epoch, batch = callbacks.nan_guard.failed_at
        raise CheckFailed(
            f"training stopped: the loss became NaN or infinite in epoch {epoch} (batch {batch}); "
            "lower train.learning_rate or check the data for non-finite values"
        )
    if callbacks.backup.signum is not None:  # arrived after the last backup was saved
        name = signal.Signals(callbacks.backup.signum).name
        raise Interrupted(f"interrupted by {name} after training ended, before the model was saved; "
                          f"rerun the same command to save it from {run_dir / 'backup'}", callbacks.backup.signum)
    # Built from the figures the last backup holds, not from Keras' history: a rerun that finds the
    # training finished has only those, and must report what this run would have. So the seconds
    # end with the last epoch's backup, before the end-of-training callbacks (pictures, projector).
    # A finished backup from before backups held them gives the epochs and early stopping's only.
    record = callbacks.backup.record or {}
    resumed_from = int(record.get("resumed_from_epoch", start_epoch))
    seconds = float(record.get("seconds", 0.0))
    epochs_run = start_epoch + len(history.history.get("loss", [])) - resumed_from
    examples = data.num_train_examples * epochs_run
    if config.train.steps_per_epoch:
        examples = config.train.steps_per_epoch * config.train.batch_size * epochs_run
    result: dict[str, Any] = {
        "epochs": resumed_from + epochs_run,
        "seconds": round(seconds, 3),
        "examples_per_second": round(examples / seconds, 1) if seconds > 0 else 0.0,
        "resumed_from_epoch": resumed_from,
    }
    optimizer = getattr(model, "optimizer", None)
    if getattr(optimizer, "use_ema", False):  # the momentum used: train.ema_momentum, capped for short runs
        result["ema_momentum"] = round(float(optimizer.ema_momentum), 6)
    if not model.trainable_weights:
        result["nothing_trainable"] = True  # why epochs is 1 whatever train.epochs says
    early = callbacks.early_stopping
    if early is not None:
        result["stopped_early"] = bool(early.stopped_epoch > 0)
        if early.best is not None and math.isfinite(float(early.best)):
            result["best_epoch"] = int(early.best_epoch) + 1  # Keras counts from 0, the report from 1
            result[f"best_{early.monitor}"] = float(early.best)
            result["restored_best_weights"] = bool(config.train.restore_best_weights and early.best_weights is not None)
    for key, value in (record.get("last_epoch_logs") or {}).items():
        result[f"final_{key}"] = float(value)
    return result


def _peer_gone(error: BaseException) -> bool:
    """The error a collective op raises when another worker of the cluster has gone."""
    import tensorflow as tf

    return isinstance(error, (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.CancelledError))
