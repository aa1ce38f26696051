"""One converter child takes export after export; what it converts must not depend on what it
converted before, and a child that dies or is retired is replaced."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from kerasuite.export import converter_process, tflite


@pytest.fixture(autouse=True)
def fresh_child():
    """Each test starts without a kept child: one kept from earlier tests in this worker may be
    a request short of retirement."""
    converter_process.retire()
    yield
    converter_process.retire()


def _saved_model(folder, seed: int, units: int):
    import keras

    keras.utils.set_random_seed(seed)
    features = keras.Input((6,), name="features")
    hidden = keras.layers.Dense(units, activation="relu", name="hidden")(features)
    model = keras.Model(features, keras.layers.Dense(3, activation="softmax", name="scores")(hidden))
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / "model.keras")
    values = np.random.default_rng(seed).normal(size=(32, 6)).astype("float32")
    np.savez(folder / "representative.npz", input__features=values)
    return folder / "model.keras", folder / "representative.npz"


def _convert(model, representative, folder) -> dict[str, bytes]:
    outputs = {mode: folder / f"{mode}.tflite" for mode in ("float32", "int8")}
    tflite.convert_modes(model, outputs, representative)
    return {mode: path.read_bytes() for mode, path in outputs.items()}


def _child_pid() -> int | None:
    child = converter_process._child
    return child.process.pid if child is not None and child.alive() else None


def test_a_second_export_in_the_same_child_converts_as_a_fresh_child_would(tmp_path, monkeypatch):
    first = _saved_model(tmp_path / "first", seed=1, units=8)
    second = _saved_model(tmp_path / "second", seed=2, units=5)
    _convert(*first, tmp_path / "first")
    serving = _child_pid()
    assert serving is not None
    reused = _convert(*second, tmp_path / "second")
    assert _child_pid() == serving  # no second TensorFlow start-up

    monkeypatch.setattr(converter_process, "REQUESTS_PER_CHILD", 0)  # every export in a child of its own
    fresh = _convert(*second, tmp_path / "fresh")
    assert _child_pid() not in (None, serving)
    assert reused == fresh  # byte for byte: nothing of the first model's conversion stayed behind


def test_a_child_that_died_between_exports_is_replaced(tmp_path):
    model = _saved_model(tmp_path / "model", seed=3, units=4)
    _convert(*model, tmp_path / "before")
    dead = _child_pid()
    os.kill(dead, signal.SIGKILL)
    converter_process._child.process.wait()
    files = _convert(*model, tmp_path / "after")
    assert _child_pid() not in (None, dead)
    assert files == {mode: (tmp_path / "before" / f"{mode}.tflite").read_bytes() for mode in files}


def test_a_change_of_working_folder_gets_a_child_of_its_own(tmp_path, monkeypatch):
    model = _saved_model(tmp_path / "model", seed=4, units=4)
    _convert(*model, tmp_path / "here")
    serving = _child_pid()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # a relative path in a request means another file there
    _convert(*model, tmp_path / "there")
    assert _child_pid() not in (None, serving)


def test_a_child_found_dead_only_when_asked_hands_the_export_to_a_fresh_one(tmp_path, monkeypatch):
    """Dead between the liveness check and the request (the OOM killer's timing): the request
    never started, so it is not reported as an interrupted conversion but converted anew."""
    model = _saved_model(tmp_path / "model", seed=5, units=4)
    before = _convert(*model, tmp_path / "before")
    dead = _child_pid()
    os.kill(dead, signal.SIGKILL)
    converter_process._child.process.wait()
    monkeypatch.setattr(converter_process._ServingChild, "alive", lambda self: True)  # looks alive when checked
    assert _convert(*model, tmp_path / "after") == before
    assert converter_process._child.process.pid != dead
