"""One converter child takes export after export; what it converts must not depend on what it
converted before, and a child that dies or is retired is replaced."""

from __future__ import annotations

import os
import signal
from pathlib import Path

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


def _open_descriptors() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_retired_children_leave_no_descriptor_open(tmp_path):
    """A sweep that changes folder or environment per export retires a child per export: each
    must take its pipes and log with it, or the process runs out of descriptors."""
    before = _open_descriptors()
    for index in range(4):
        assert converter_process.run_worker(["--help"], 60, tmp_path, env={**os.environ, "TF_SWEEP": str(index)}).returncode == 0
    converter_process.retire()
    assert _open_descriptors() <= before


def test_a_child_started_by_a_finished_thread_keeps_serving(tmp_path):
    """The kernel's parent-death signal follows the thread that started a child; the kept child
    must outlive a thread that exported once and ended."""
    import threading
    import time

    thread = threading.Thread(target=converter_process.run_worker, args=(["--help"], 60, tmp_path))
    thread.start()
    thread.join()
    started = _child_pid()
    assert started is not None
    time.sleep(1.5)
    assert converter_process.run_worker(["--help"], 60, tmp_path).returncode == 0
    assert _child_pid() == started


def test_a_child_that_cannot_start_says_why(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import os, sys\nsys.stderr.write('this interpreter refuses to start: no licence\\n')\nsys.stderr.flush()\nos._exit(3)\n")
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = converter_process.run_worker(["--help"], 60, tmp_path, env=env)
    assert done.returncode != 0
    assert "no licence" in done.stderr  # before, an empty stderr: "conversion failed:" and nothing


def test_a_request_whose_logs_cannot_be_written_says_why_and_the_child_serves_on(tmp_path):
    done = converter_process.run_worker(["--help"], 60, tmp_path / "gone")
    assert done.returncode == 1 and "No such file or directory" in done.stderr
    serving = _child_pid()
    assert serving is not None
    assert converter_process.run_worker(["--help"], 60, tmp_path).returncode == 0
    assert _child_pid() == serving


def test_a_forked_copy_lets_go_of_the_kept_child(tmp_path):
    """A fork (multiprocessing, a data loader) must not hold the child's stdin open: the parent's
    retire() ends an idle child by closing it, and would otherwise wait, then kill."""
    import time

    assert converter_process.run_worker(["--help"], 60, tmp_path).returncode == 0
    kept = converter_process._child
    reader, writer = os.pipe()
    copy = os.fork()
    if copy == 0:  # the forked copy: report what it holds, then stay alive while the parent retires
        os.write(writer, b"none" if converter_process._child is None else b"kept")
        time.sleep(8)
        os._exit(0)
    try:
        assert os.read(reader, 4) == b"none"
        started = time.monotonic()
        converter_process.retire()
        assert time.monotonic() - started < 5
        assert kept.process.returncode == 0  # ended by end of input, not killed
    finally:
        os.kill(copy, signal.SIGKILL)
        os.waitpid(copy, 0)
        os.close(reader)
        os.close(writer)


def test_the_kept_child_is_out_of_reach_of_a_terminal_ctrl_c(tmp_path):
    assert converter_process.run_worker(["--help"], 60, tmp_path).returncode == 0
    assert os.getsid(_child_pid()) != os.getsid(0)


def test_a_kept_child_ends_when_its_parent_is_killed(tmp_path):
    """No orphan converter: a trainer killed outright (SIGKILL, the OOM killer) takes its kept
    child with it within a couple of seconds, though no thread signal ties them any more."""
    import subprocess
    import sys
    import time

    parent = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from pathlib import Path; from kerasuite.export import converter_process as c; "
         f"c.run_worker(['--help'], 60, Path({str(tmp_path)!r})); print(c._child.process.pid, flush=True); "
         "import time; time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(tflite.__file__).parents[2]), os.environ.get("PYTHONPATH", "")])})
    try:
        child = int(parent.stdout.readline())
        assert Path(f"/proc/{child}").exists()
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and Path(f"/proc/{child}").exists() and \
            Path(f"/proc/{child}/stat").read_text().split()[2] != "Z":
        time.sleep(0.2)
    gone = not Path(f"/proc/{child}").exists() or Path(f"/proc/{child}/stat").read_text().split()[2] == "Z"
    assert gone, "the kept converter child outlived its killed parent"
