"""Where a run writes (issue 18 items 1-3): overlapping run and export folders are refused before
training and nothing is deleted; the bundle swap replaces only kerasuite bundles; a full disk is
one line naming the folder with the previous backup intact; an interrupted export leaves no
orphaned converter and no temporary folders, and a rerun after finished training only exports."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from helpers import REPO, assert_one_line_error, run_main
from test_hostile_input import assert_nothing_written

TINY = ["--set", "data.image.height=8", "data.image.width=8", "model.cnn.filters=4", "model.cnn.convs_per_block=1",
        "model.cnn.dense_units=8", "model.cnn.augment=false", "train.epochs=1", "train.steps_per_epoch=1",
        "train.verbose=0", "export.latency_runs=1", "export.parity.max_examples=20", "export.golden_examples=2"]


# ----------------------------------------------------------------------------- overlapping folders

OVERLAPS = {  # name -> (run dir, extra args), relative to the test's folder
    "same_folder": ("R", ["--set", "export.dir={t}/R"]),
    "export_holds_run": ("B/run", ["--set", "export.dir={t}/B"]),
    "run_holds_export": ("R", ["--set", "export.dir={t}/R/bundle"]),
    "symlinked_export": ("R", ["--set", "export.dir={t}/link"]),
}


@pytest.mark.parametrize("case", sorted(OVERLAPS))
def test_overlapping_run_and_export_folders_are_refused_and_nothing_is_deleted(tmp_path, capsys, case):
    run_rel, extra = OVERLAPS[case]
    run_dir = tmp_path / run_rel
    run_dir.mkdir(parents=True)
    precious = run_dir / "notes.txt"
    precious.write_text("mine")
    (tmp_path / "link").symlink_to(run_dir)
    args = [a.format(t=tmp_path) for a in extra]
    done = run_main(capsys, "--run-dir", str(run_dir), "--export", "float32", *args)
    assert_one_line_error(done, 2, "export.dir", "overlaps")
    assert sorted(p.name for p in run_dir.iterdir()) == ["notes.txt"] and precious.read_text() == "mine"


def test_run_name_that_is_a_path_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "deep" / "er").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "deep" / "er")
    done = run_main(capsys, "--export", "float32", "--set", "name=../../x")
    assert_one_line_error(done, 2, "name '../../x'")
    assert not (tmp_path / "x").exists() and not (tmp_path / "deep" / "er" / "runs").exists()


def test_existing_export_folder_that_is_not_a_bundle_is_refused_before_training(tmp_path, capsys):
    target = tmp_path / "photos"
    target.mkdir()
    (target / "holiday.jpg").write_bytes(b"not mine to delete")
    run_dir = tmp_path / "run"
    done = run_main(capsys, "--run-dir", str(run_dir), "--export", "float32", "--set", f"export.dir={target}")
    assert_one_line_error(done, 2, str(target), "not a kerasuite bundle")
    assert_nothing_written(run_dir)
    assert (target / "holiday.jpg").read_bytes() == b"not mine to delete"


def test_another_finished_runs_bundle_is_not_replaced(tmp_path, capsys):
    """Runs share exports/<run-name>: a second --run-dir replaced the first run's bundle silently,
    and the first run's metrics.json and kerasuite.parity then described the second run's files."""
    first, bundle = tmp_path / "first", tmp_path / "bundle"
    first.mkdir()
    (first / "metrics.json").write_text("{}")
    bundle.mkdir()
    (bundle / ".kerasuite-bundle").write_text("kerasuite edge bundle\n")
    (bundle / "provenance.json").write_text(json.dumps({"data": {"run_dir": str(first)}}))
    second = tmp_path / "second"
    done = run_main(capsys, "--run-dir", str(second), "--export", "float32", "--set", f"export.dir={bundle}")
    assert_one_line_error(done, 2, str(bundle), f"finished run {first}", "export.dir")
    assert_nothing_written(second)
    assert (bundle / "provenance.json").is_file()


def _staging(tmp_path: Path) -> Path:
    staging = tmp_path / ".staging"
    staging.mkdir()
    (staging / "model_float32.tflite").write_bytes(b"new")
    return staging


@pytest.mark.parametrize("content", ["run_folder", "loose_file", "subfolder"])
def test_bundle_swap_never_deletes_what_it_did_not_create(tmp_path, content):
    from kerasuite.errors import UserError
    from kerasuite.export.api import _replace_dir

    target = tmp_path / "target"
    target.mkdir()
    (target / "signature.json").write_text("{}")  # even with a bundle's file in it
    if content == "run_folder":
        (target / "model.keras").write_bytes(b"precious")
    elif content == "loose_file":
        (target / "thesis.docx").write_bytes(b"precious")
    else:
        (target / "logs").mkdir()
        (target / "logs" / "events").write_bytes(b"precious")
    before = sorted(str(p.relative_to(target)) for p in target.rglob("*"))
    staging = _staging(tmp_path)
    with pytest.raises(UserError, match="not a kerasuite bundle"):
        _replace_dir(staging, target)
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*")) == before
    assert not list(tmp_path.glob(".target.old-*"))


@pytest.mark.parametrize("kind", ["marked", "old_style", "empty"])
def test_bundle_swap_replaces_a_bundle(tmp_path, kind):
    from kerasuite.export.api import _replace_dir
    from kerasuite.locations import BUNDLE_MARKER

    target = tmp_path / "target"
    target.mkdir()
    if kind == "marked":
        (target / BUNDLE_MARKER).write_text("")
        (target / "extra.bin").write_bytes(b"old")
    elif kind == "old_style":
        (target / "signature.json").write_text("{}")
        (target / "model_int8.tflite").write_bytes(b"old")
    _replace_dir(_staging(tmp_path), target)
    assert sorted(p.name for p in target.iterdir()) == ["model_float32.tflite"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["target"]  # no .old or staging left


# ----------------------------------------------------------------------------------- disk full


@pytest.fixture
def tiny_disk(tmp_path):
    """``tiny_disk(kilobytes)`` mounts a tmpfs of that size (root only) and unmounts it after."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root; the disk-full cases run only as root")
    mounts = []

    def mount(kilobytes: int) -> Path:
        where = tmp_path / f"disk{len(mounts)}"
        where.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kilobytes}k", "tmpfs", str(where)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here although root: {done.stderr.strip()}")
        mounts.append(where)
        return where

    yield mount
    for where in mounts:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def test_run_folder_on_a_full_disk_is_refused_before_training(tiny_disk, tmp_path, capsys):
    disk = tiny_disk(200)
    done = run_main(capsys, "--run-dir", str(disk / "run"), "--export", "none", *TINY)
    assert_one_line_error(done, 2, str(disk / "run"), "free")
    assert list(disk.iterdir()) == []


def test_backup_that_does_not_fit_keeps_the_previous_one(tiny_disk):
    import keras
    import numpy as np

    from kerasuite.errors import UserError
    from kerasuite.training.fit import BACKUP_WEIGHTS, RunBackup

    disk = tiny_disk(400)
    backup_dir = disk / "backup"
    backup_dir.mkdir()
    (backup_dir / BACKUP_WEIGHTS).write_bytes(b"previous backup")
    model = keras.Sequential([keras.Input((100,)), keras.layers.Dense(1000)])  # 400 kB of weights
    model.compile("adam", "mse")
    model.fit(np.zeros((2, 100)), np.zeros((2, 1000)), verbose=0)
    backup = RunBackup(backup_dir)
    backup.set_model(model)
    backup._current_epoch, backup._last_batch_seen = 1, 0
    with pytest.raises(UserError, match=str(backup_dir)) as refused:
        backup._save_model()
    assert "free" in str(refused.value) and "\n" not in str(refused.value)
    assert sorted(p.name for p in backup_dir.iterdir()) == [BACKUP_WEIGHTS]
    assert (backup_dir / BACKUP_WEIGHTS).read_bytes() == b"previous backup"


def test_export_folder_on_a_full_disk_is_one_line(tiny_disk, tmp_path, capsys):
    disk = tiny_disk(12)
    run_dir = tmp_path / "run"
    done = run_main(capsys, "--run-dir", str(run_dir), "--export", "float32", *TINY, f"export.dir={disk / 'bundle'}")
    assert_one_line_error(done, 2, "export.dir", str(disk / "bundle"), "no space left")
    assert list(disk.iterdir()) == []  # no staging folder, no half bundle
    assert not (run_dir / "metrics.json").exists()


# ------------------------------------------------------------------------------ interrupted export


def _children(pid: int, needle: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and needle in cmdline:
            found.append(int(entry.name))
    return found


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture(scope="module")
def tiny_keras_model(tmp_path_factory):
    import keras

    inputs = keras.Input((4,), name="x")
    model = keras.Model({"x": inputs}, keras.layers.Dense(2)(inputs))
    path = tmp_path_factory.mktemp("model") / "m.keras"
    model.save(path)
    return path


PARENT = """
import sys
from pathlib import Path
from kerasuite.export.tflite import convert_modes
convert_modes(Path(sys.argv[1]), {"float32": Path(sys.argv[2])})
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="death-with-parent uses Linux prctl")
def test_converter_child_dies_with_a_killed_parent(tmp_path, tiny_keras_model):
    out = tmp_path / "out" / "model.tflite"
    out.parent.mkdir()
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(tiny_keras_model), str(out)],
                              env=dict(os.environ, PYTHONPATH=str(REPO)))
    child = _wait_for(lambda: _children(parent.pid, "convert_worker"), 60, "the converter child")[0]
    parent.kill()
    parent.wait()
    _wait_for(lambda: not _alive(child), 10, f"converter child {child} to die with its parent")
    time.sleep(0.5)
    assert list(out.parent.iterdir()) == []  # it wrote nothing after its parent died
    leftovers = list(Path(tempfile.gettempdir()).glob(f"kerasuite-convert-{parent.pid}-*"))
    from kerasuite.locations import remove_orphans

    remove_orphans(Path(tempfile.gettempdir()), "kerasuite-convert-")  # what the next export does
    assert all(not path.exists() for path in leftovers)


def _convert_with_the_child_signalled(model_path, out, signum) -> Exception:
    """``convert_modes`` while another thread sends ``signum`` to its converter child; the
    exception it raised (None if none)."""
    import threading
    import time

    from kerasuite.export import converter_process
    from kerasuite.export.tflite import convert_modes

    # The child must be this conversion's: one kept idle from an earlier test would be signalled
    # before the request, which then goes to a fresh child and converts.
    converter_process.retire()
    signalled = []

    def signal_child():
        child = _wait_for(lambda: _children(os.getpid(), "convert_worker"), 60, "the converter child")[0]
        time.sleep(0.5)  # the request is written right after the child starts; TensorFlow's import takes seconds
        os.kill(child, signum)
        signalled.append(child)

    sender = threading.Thread(target=signal_child)
    sender.start()
    try:
        convert_modes(model_path, {"float32": out})
        raised = None
    except BaseException as error:  # the caller checks which (Interrupted is no Exception)
        raised = error
    sender.join()
    assert signalled, "the converter child was never signalled"
    return raised


def test_converter_child_killed_alone_is_one_line(tmp_path, tiny_keras_model):
    from kerasuite.errors import Interrupted

    out = tmp_path / "model.tflite"
    stopped = _convert_with_the_child_signalled(tiny_keras_model, out, signal.SIGKILL)
    assert isinstance(stopped, Interrupted), stopped
    assert "SIGKILL" in str(stopped) and "\n" not in str(stopped)
    assert stopped.exit_code == 128 + signal.SIGKILL
    assert not out.exists() and not list(Path(tempfile.gettempdir()).glob(f"kerasuite-convert-{os.getpid()}-*"))


def test_a_converter_crash_is_a_failed_check_not_an_interruption(tmp_path, tiny_keras_model):
    """SIGSEGV inside the converter (TensorFlow's converter crashes on some graphs, e.g. an int8
    WHILE loop) repeats on every rerun: it must not say "interrupted; rerun the same command"."""
    from kerasuite.errors import CheckFailed

    out = tmp_path / "model.tflite"
    crashed = _convert_with_the_child_signalled(tiny_keras_model, out, signal.SIGSEGV)
    assert isinstance(crashed, CheckFailed), crashed
    message = str(crashed)
    assert "crashed (SIGSEGV)" in message and "rerunning repeats" in message and "\n" not in message
    assert not out.exists()


def test_a_training_run_whose_int8_conversion_crashes_keeps_its_other_modes(tmp_path, capsys, monkeypatch):
    """kerasuite.train with --export float32,int8,float16 when the converter crashes on int8
    (simulated at the child's boundary: which real model crashes it depends on TensorFlow's
    version): float32 and float16 are still converted and judged, metrics.json and the summary
    name int8 as not converted, and the run fails (exit 1) in one line."""
    from kerasuite.export import tflite

    real = tflite._convert_in_one_child

    def crash_on_int8(model_path, outputs, *args, **kwargs):
        modes = list(outputs)
        if "int8" not in modes:
            return real(model_path, outputs, *args, **kwargs)
        before = {mode: outputs[mode] for mode in modes[:modes.index("int8")]}
        sizes = real(model_path, before, *args, **kwargs) if before else {}
        raise tflite.ConverterCrashed("crashed", "int8", sizes, "TensorFlow's converter crashed (SIGSEGV) on this model")

    monkeypatch.setattr(tflite, "_convert_in_one_child", crash_on_int8)
    run_dir = tmp_path / "run"
    done = run_main(capsys, "--run-dir", str(run_dir), "--export", "float32,int8,float16", *TINY,
                    f"export.dir={tmp_path / 'bundle'}", "train.check_baseline=false")
    assert_one_line_error(done, 1, "TFLite conversion (int8)", "crashed (SIGSEGV)")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["unconverted_modes"] == {"int8": "TensorFlow's converter crashed (SIGSEGV) on this model"}
    assert set(metrics["exports"]) == {"float32", "float16"}
    assert all(metrics["exports"][mode]["parity"]["runtimes"]["litert_interpreter"]["status"] == "passed"
               for mode in ("float32", "float16"))
    assert "int8" in done.stdout and "NOT CONVERTED" in done.stdout
    assert sorted(path.name for path in (tmp_path / "bundle").glob("*.tflite")) == ["model_float16.tflite", "model_float32.tflite"]


def test_sigterm_during_export_is_one_line_and_leaves_nothing(tmp_path):
    run_dir, bundle = tmp_path / "run", tmp_path / "bundle"
    trainer = subprocess.Popen(
        [sys.executable, "-m", "kerasuite.train", "--run-dir", str(run_dir), "--export", "float32", *TINY,
         f"export.dir={bundle}"],
        env=dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        child = _wait_for(lambda: _children(trainer.pid, "convert_worker"), 240, "the converter child")[0]
        trainer.send_signal(signal.SIGTERM)
        out, err = trainer.communicate(timeout=60)
    finally:
        trainer.kill()
    done = subprocess.CompletedProcess([], trainer.returncode, out, err)
    assert_one_line_error(done, 128 + signal.SIGTERM, "SIGTERM")
    _wait_for(lambda: not _alive(child), 10, "the converter child to end")
    assert not bundle.exists() and [p.name for p in tmp_path.iterdir() if p.name.startswith(".bundle")] == []
    assert not list(Path(tempfile.gettempdir()).glob(f"kerasuite-*-{trainer.pid}-*"))
    assert (run_dir / "model.keras").is_file() and not (run_dir / "metrics.json").exists()


def test_rerun_after_finished_training_only_exports(tmp_path, capsys):
    run_dir, bundle = tmp_path / "run", tmp_path / "bundle"
    first = run_main(capsys, "--run-dir", str(run_dir), "--export", "none", *TINY)
    assert first.returncode == 0, first.stderr[-2000:]
    trained = json.loads((run_dir / "metrics.json").read_text())["train"]
    weights = (run_dir / "model.keras").read_bytes()
    (run_dir / "metrics.json").unlink()  # as if killed during the export
    again = run_main(capsys, "--run-dir", str(run_dir), "--export", "float32", *TINY, f"export.dir={bundle}")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "training already finished" in again.stderr
    report = json.loads((run_dir / "metrics.json").read_text())
    assert report["train"] == trained  # the same training, not a second one
    assert (run_dir / "model.keras").read_bytes() == weights
    assert (bundle / "model_float32.tflite").is_file()
