"""Kill and resume gives the run it would have been (issue 18): with shuffling, dropout and
augmentation on, a run SIGKILLed after an epoch and rerun ends with the same weights as an
uninterrupted run, because the backup holds the random state and the rerun replays the data
order of the epochs already trained."""

import json
import signal

import numpy as np
import pytest

from helpers import run_main
from harness import load_keras_file
from test_resume import wait_for_backup

EPOCHS = 3
RANDOM = {  # every source of randomness in a tiny image run left on
    "data.source": "builtin:digits", "data.limit": "192", "data.image.height": "8", "data.image.width": "8",
    "model.cnn.filters": "8", "model.cnn.convs_per_block": "1", "model.cnn.dense_units": "16",
    "model.cnn.dropout": "0.3", "model.cnn.augment": "true", "model.cnn.batch_norm": "false",
    "train.batch_size": "32", "train.verbose": "0", "train.epochs": str(EPOCHS), "train.learning_rate": "0.01",
    "train.check_baseline": "false",  # compares two runs, not how well 3 tiny epochs learn
}
WEIGHT_TOLERANCE = 1e-5


def _args(run_dir, **extra):
    sets = {**RANDOM, **extra}
    return ["--run-dir", str(run_dir), "--export", "none", "--set", *[f"{k}={v}" for k, v in sets.items()]]


def _weights(run_dir):
    model = load_keras_file(run_dir / "model.keras", compile=False)
    return [np.asarray(w) for w in model.get_weights()]


# with a moving average of the weights, the average itself is optimizer state the backup must hold
@pytest.mark.parametrize("extra", [{}, {"train.ema_momentum": "0.9"}], ids=["plain", "weight_average"])
def test_killed_and_resumed_run_matches_the_uninterrupted_one(tmp_path, capsys, extra):
    import os
    import subprocess
    import sys

    from helpers import REPO

    straight = tmp_path / "straight"
    assert run_main(capsys, *_args(straight, **extra)).returncode == 0
    resumed = tmp_path / "resumed"
    process = subprocess.Popen([sys.executable, "-m", "kerasuite.train", *_args(resumed, **extra)], cwd=str(REPO),
                               env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO)),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_backup(process, resumed, 1)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    kept = json.loads((resumed / "backup" / "training_metadata.json").read_text())["epoch"]
    if kept >= EPOCHS:
        pytest.fail("the run finished before it could be killed; make it longer")
    done = run_main(capsys, *_args(resumed, **extra))
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((resumed / "metrics.json").read_text())["train"]["resumed_from_epoch"] == kept >= 1
    diffs = [float(np.max(np.abs(a - b))) for a, b in zip(_weights(straight), _weights(resumed))]
    assert max(diffs) <= WEIGHT_TOLERANCE, f"resumed weights differ by up to {max(diffs):.3g}"


def test_a_weight_average_is_what_the_run_saves(tmp_path, capsys):
    """train.ema_momentum trains the same steps but saves the average of the weights: the saved
    model differs from the plain run's, and the run's config records the setting."""
    plain, averaged = tmp_path / "plain", tmp_path / "averaged"
    assert run_main(capsys, *_args(plain)).returncode == 0
    assert run_main(capsys, *_args(averaged, **{"train.ema_momentum": "0.9"})).returncode == 0
    diffs = [float(np.max(np.abs(a - b))) for a, b in zip(_weights(plain), _weights(averaged))]
    # two plain runs agree to float rounding (the resume test holds them to WEIGHT_TOLERANCE)
    assert max(diffs) > 5 * WEIGHT_TOLERANCE, f"the averaged run saved the plain run's weights ({max(diffs):.3g})"
    assert json.loads((averaged / "config.json").read_text())["train"]["ema_momentum"] == 0.9
    # 18 planned steps (3 epochs of 6): the average spans at most a tenth of them
    used = json.loads((averaged / "metrics.json").read_text())["train"]["ema_momentum"]
    assert used == pytest.approx(1 - 10 / 18, abs=1e-6)


def test_a_kill_between_the_backups_two_files_leaves_a_consistent_backup(tmp_path, monkeypatch):
    """The backup is weights plus the epoch they end: killed after the new weights are written
    but before their epoch is, a rerun must not take epoch 2's weights for epoch 1's (it would
    train epoch 2 twice)."""
    import keras

    from kerasuite.training import fit as fit_module

    class Killed(BaseException):  # like SIGKILL: nothing in fit catches it
        pass

    writes = []
    write = fit_module.write_json_atomic

    def write_then_die_on_the_second_epoch(path, value):
        writes.append(path)
        if len(writes) == 2:
            raise Killed()
        write(path, value)

    def tiny_model():
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(keras.optimizers.SGD(0.1), "mse")
        return model

    x, y = np.arange(16, dtype="float32").reshape(8, 2) / 16, np.ones((8, 1), "float32")
    after_epoch = {}
    keep = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: after_epoch.setdefault(
        epoch + 1, [np.array(w) for w in model.get_weights()]))
    model = tiny_model()
    monkeypatch.setattr(fit_module, "write_json_atomic", write_then_die_on_the_second_epoch)
    with pytest.raises(Killed):
        model.fit(x, y, epochs=3, verbose=0, callbacks=[keep, fit_module.RunBackup(tmp_path / "backup")])
    monkeypatch.undo()

    resumed = tiny_model()
    backup = fit_module.RunBackup(tmp_path / "backup")
    backup.set_model(resumed)
    backup.on_train_begin()
    backup.restore_signal_handlers()
    epoch = getattr(resumed, "_initial_epoch", None) or 0
    assert epoch == fit_module.resumed_epoch(tmp_path / "backup")
    expected = after_epoch[epoch] if epoch else [np.array(w) for w in tiny_model().get_weights()]
    for got, want in zip(resumed.get_weights(), expected):
        np.testing.assert_allclose(got, want, err_msg=f"the backup says epoch {epoch}, its weights are another's")


class _Killed(BaseException):  # like SIGKILL: nothing in fit catches it
    pass


def _tiny_model():
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    return model


def _stopping_after(patience: int):
    """Early stopping that sees the first epoch as its best and no later one (an improvement must
    beat it by 1e9), so it stops after epoch ``patience + 1`` and keeps epoch 1's weights."""
    from kerasuite.training.fit import EarlyStoppingOnMetric

    return EarlyStoppingOnMetric(monitor="loss", patience=patience, min_delta=1e9, restore_best_weights=True)


def _fit_killed_after_epoch(backup_dir, patience: int, epoch: int, epochs: int) -> list:
    """Fit until the backup of ``epoch`` is written, then die; return epoch 1's weights."""
    import keras

    from kerasuite.training.fit import RunBackup

    model, stopping = _tiny_model(), _stopping_after(patience)
    first = {}

    def after_the_backup(done, logs):
        first.setdefault("weights", [np.array(w) for w in model.get_weights()])
        if done + 1 == epoch:
            raise _Killed()

    x, y = np.arange(16, dtype="float32").reshape(8, 2) / 16, np.ones((8, 1), "float32")
    with pytest.raises(_Killed):
        model.fit(x, y, epochs=epochs, verbose=0, callbacks=[
            stopping, RunBackup(backup_dir, early_stopping=stopping), keras.callbacks.LambdaCallback(on_epoch_end=after_the_backup)])
    return first["weights"]


def _resume(backup_dir, patience: int, epochs: int):
    from kerasuite.training.fit import RunBackup

    model, stopping = _tiny_model(), _stopping_after(patience)
    x, y = np.arange(16, dtype="float32").reshape(8, 2) / 16, np.ones((8, 1), "float32")
    history = model.fit(x, y, epochs=epochs, verbose=0, callbacks=[stopping, RunBackup(backup_dir, early_stopping=stopping)])
    return model, stopping, len(history.history.get("loss", []))


def test_the_backup_names_early_stoppings_best_weights_and_a_resume_stops_on_time(tmp_path):
    """Killed two epochs after its best with patience 3, the resumed run trains one more epoch
    (not three), stops, and keeps the first epoch's weights; the backup held one weights file and
    one best-weights file, both named by its metadata."""
    first = _fit_killed_after_epoch(tmp_path / "backup", patience=3, epoch=3, epochs=10)
    saved = json.loads((tmp_path / "backup" / "training_metadata.json").read_text())
    assert saved["early_stopping"]["wait"] == 2 and saved["early_stopping"]["best_epoch"] == 0
    assert sorted(p.name for p in (tmp_path / "backup").iterdir()) == sorted(
        ["training_metadata.json", saved["weights"], saved["early_stopping"]["best_weights"]])

    model, stopping, epochs_run = _resume(tmp_path / "backup", patience=3, epochs=10)
    assert epochs_run == 1 and stopping.stopped_epoch == 3  # the uninterrupted run stops after epoch 4
    for got, want in zip(model.get_weights(), first):
        np.testing.assert_array_equal(got, want)


def test_a_resume_after_early_stopping_ended_training_trains_no_further_epoch(tmp_path):
    """Killed after the backup of the epoch early stopping ended on (before the finished run
    deleted it), the rerun trains nothing more and keeps the best epoch's weights."""
    first = _fit_killed_after_epoch(tmp_path / "backup", patience=1, epoch=2, epochs=10)
    assert json.loads((tmp_path / "backup" / "training_metadata.json").read_text())["early_stopping"]["stopped_epoch"] == 1
    model, stopping, epochs_run = _resume(tmp_path / "backup", patience=1, epochs=10)
    assert epochs_run == 0 and stopping.stopped_epoch == 1
    for got, want in zip(model.get_weights(), first):
        np.testing.assert_array_equal(got, want)


def test_a_backup_without_early_stopping_state_resumes_with_a_fresh_one(tmp_path):
    """Backups written before early stopping's state was saved: they resume as they did then."""
    _fit_killed_after_epoch(tmp_path / "backup", patience=3, epoch=3, epochs=10)
    metadata = tmp_path / "backup" / "training_metadata.json"
    saved = json.loads(metadata.read_text())
    del saved["early_stopping"]
    metadata.write_text(json.dumps(saved))
    model, stopping, epochs_run = _resume(tmp_path / "backup", patience=3, epochs=10)
    assert epochs_run == 4 and stopping.best_epoch == 3  # its own first epoch is its best, 3 more wait


@pytest.mark.parametrize("use_ema", [False, True], ids=["plain", "weight_average"])
def test_a_rerun_from_a_finished_fits_backup_trains_nothing_and_ends_with_its_weights(tmp_path, use_ema):
    """The backup outlives fit (the run removes it after training.json): a rerun from it trains no
    epoch and ends as the finished fit did, its weight average swapped in for the last epoch's
    weights, and gets the finished fit's train block figures back."""
    import keras

    from kerasuite.training.fit import RunBackup

    def model_to_train():
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(keras.optimizers.SGD(0.1, use_ema=use_ema, ema_momentum=0.5), "mse")
        return model

    x, y = np.arange(16, dtype="float32").reshape(8, 2) / 16, np.ones((8, 1), "float32")
    finished, backup = model_to_train(), RunBackup(tmp_path / "backup")
    finished.fit(x, y, epochs=3, verbose=0, callbacks=[backup])
    assert json.loads((tmp_path / "backup" / "training_metadata.json").read_text())["epoch"] == 3

    rerun, again = model_to_train(), RunBackup(tmp_path / "backup")
    history = rerun.fit(x, y, epochs=3, verbose=0, callbacks=[again])
    assert history.history.get("loss", []) == []
    assert again.record == json.loads(json.dumps(backup.record)) and set(again.record["last_epoch_logs"]) == {"loss"}
    for got, want in zip(rerun.get_weights(), finished.get_weights()):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-7)
