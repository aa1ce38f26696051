"""Strategies for real: MirroredStrategy over two logical CPUs and a two-process
MultiWorkerMirroredStrategy cluster on 127.0.0.1 must train the same model as one device."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import DETERMINISTIC_IMAGE, REPO, assert_one_line_error, run_cli, run_main

sys.path.insert(0, str(REPO / "tools"))
import launch_local_cluster  # noqa: E402

# A config whose training is the same computation however the global batch is split: no
# dropout, augmentation or batch norm (per-replica randomness / statistics), and no shuffle,
# because tf.distribute's graph rewrite re-seeds Dataset.shuffle (the distributed order is
# still seeded and identical on every worker, just not the one-device order). 512 examples in
# global batches of 32 split evenly over 2 replicas.
EXACT = {**DETERMINISTIC_IMAGE, "data.limit": "512", "train.epochs": "3"}
# Measured differences are ~1e-7 (float summation order); this leaves room for other CPUs.
LOSS_TOLERANCE = 1e-4


def exact_args(run_dir: Path, **extra: str) -> list[str]:
    sets = {**EXACT, **extra}
    return ["--run-dir", str(run_dir), "--export", "none", "--set", *[f"{k}={v}" for k, v in sets.items()]]


@pytest.fixture(scope="module")
def one_device_report(tmp_path_factory):
    """The reference: the same config trained in-process on the default (single) device."""
    from kerasuite.train import main

    run_dir = tmp_path_factory.mktemp("one_device") / "run"
    assert main([*exact_args(run_dir), "--strategy", "one_device"]) == 0
    return json.loads((run_dir / "metrics.json").read_text())


def assert_same_training(report: dict, reference: dict) -> None:
    for key in ("final_loss", "final_val_loss"):
        assert abs(report["train"][key] - reference["train"][key]) <= LOSS_TOLERANCE, (key, report["train"], reference["train"])
    assert abs(report["eval"]["loss"] - reference["eval"]["loss"]) <= LOSS_TOLERANCE
    assert abs(report["eval"]["accuracy"] - reference["eval"]["accuracy"]) <= 1e-6
    # The reference must have learned something, or equal losses would prove little.
    assert reference["eval"]["loss"] < 2.0 and reference["eval"]["accuracy"] > 0.3


# ----------------------------------------------------------------------------------- pure logic


@pytest.mark.parametrize("tf_config,chief", [
    ({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 0}}, True),
    ({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}, False),
    ({"cluster": {"chief": ["c:0"], "worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}, False),
    ({"cluster": {"chief": ["c:0"], "worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}, True),
])
def test_only_the_chief_writes(monkeypatch, tf_config, chief):
    from kerasuite import distribute

    monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))
    assert distribute.is_chief() is chief
    assert distribute.resolve_strategy_name("auto") == "multi_worker"


@pytest.mark.parametrize("replicas,requested,used", [(1, 16, 16), (2, 16, 1), (4, 1, 1)])
def test_steps_per_execution_is_one_with_several_replicas(replicas, requested, used):
    from types import SimpleNamespace

    from kerasuite import distribute

    assert distribute.steps_per_execution(SimpleNamespace(num_replicas_in_sync=replicas), requested) == used


def test_auto_without_tf_config_or_devices_is_one_device(monkeypatch):
    from kerasuite import distribute

    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert distribute.is_chief() is True
    assert distribute.resolve_strategy_name("auto") == "one_device"  # one CPU device, no GPU here


def test_non_chief_scratch_folder_is_removed(monkeypatch, tmp_path):
    from kerasuite import distribute

    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}))
    with distribute.worker_scratch(tmp_path / "run") as scratch:
        (scratch / "model.keras").write_text("x")
        assert not str(scratch).startswith(str(tmp_path / "run"))
    assert not scratch.exists() and not (tmp_path / "run").exists()


@pytest.mark.parametrize("value,culprit", [
    ("{not json", "TF_CONFIG: not valid JSON"),
    (json.dumps({"task": {"type": "worker", "index": 0}}), "'cluster'"),
    (json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}), "index 3"),
    (json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "ps", "index": 0}}), "names no job"),
    (json.dumps({"cluster": {"worker": 5}, "task": {"type": "worker", "index": 0}}), "job 'worker'"),
    (json.dumps({"cluster": {"worker": "a:1"}, "task": {"type": "worker", "index": 1}}), "job 'worker'"),
])
def test_bad_tf_config_is_one_line_exit_2(tmp_path, capsys, monkeypatch, value, culprit):
    monkeypatch.setenv("TF_CONFIG", value)
    done = run_main(capsys, *exact_args(tmp_path / "run"))
    assert_one_line_error(done, 2, culprit)
    assert not (tmp_path / "run").exists()


def test_launcher_builds_one_cluster_with_distinct_free_ports():
    ports = launch_local_cluster.free_ports(3)
    assert len(set(ports)) == 3 and all(port > 0 for port in ports)
    configs = launch_local_cluster.tf_configs(ports)
    assert [c["task"] for c in configs] == [{"type": "worker", "index": i} for i in range(3)]
    assert all(c["cluster"] == {"worker": [f"127.0.0.1:{p}" for p in ports]} for c in configs)


def test_launcher_stops_the_cluster_when_a_worker_fails(tmp_path):
    # Worker 1 fails at once while the chief would wait for it forever; the launcher must stop
    # the chief and return the failing worker's code. (A stand-in program: no TensorFlow start-up.)
    program = [sys.executable, "-c",
               "import json, os, sys, time\n"
               "index = json.loads(os.environ['TF_CONFIG'])['task']['index']\n"
               "sys.exit(3) if index == 1 else time.sleep(120)"]
    started = time.monotonic()
    code = launch_local_cluster.launch(2, [], log_dir=tmp_path / "logs", program=program)
    assert code == 3
    assert time.monotonic() - started < 30
    assert (tmp_path / "logs" / "worker-1.log").is_file()


def test_launcher_passes_sigterm_on_once_and_exits_143_while_the_chief_saves(tmp_path):
    """The other worker stops at once, the chief takes a moment to save its backup. The launcher
    must not signal the chief a second time (a second SIGTERM killed it mid-save: exit 241, or 247
    after the grace time's SIGKILL), and reports the chief's 143."""
    import signal

    worker = (
        "import json, os, signal, sys, time\n"
        "index = json.loads(os.environ['TF_CONFIG'])['task']['index']\n"
        "def stop(signum, frame):\n"
        "    if index == 0:\n"
        "        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second signal now kills, as mid-save\n"
        "        time.sleep(2)\n"
        "    sys.exit(143)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        f"open(os.path.join({str(tmp_path)!r}, f'ready-{{index}}'), 'w').close()\n"
        "time.sleep(120)\n"
    )
    launcher = subprocess.Popen(
        [sys.executable, "-c", "import sys\n"
         f"sys.path.insert(0, {str(REPO / 'tools')!r})\n"
         "import launch_local_cluster\n"
         f"sys.exit(launch_local_cluster.launch(2, [], program=[sys.executable, '-c', {worker!r}]))"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready-{index}").exists() for index in (0, 1)):
        assert launcher.poll() is None and time.monotonic() < deadline, launcher.communicate()
        time.sleep(0.05)
    launcher.send_signal(signal.SIGTERM)
    _, stderr = launcher.communicate(timeout=60)
    assert launcher.returncode == 143, stderr


def test_logical_cpus_after_tensorflow_started_is_refused(tmp_path, capsys, one_device_report):
    # The in-process reference has already started TensorFlow with one CPU device.
    done = run_main(capsys, *exact_args(tmp_path / "run", **{"train.logical_cpus": "2"}), "--strategy", "mirrored")
    assert_one_line_error(done, 2, "train.logical_cpus=2", "fresh process")
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------------------ real strategies


def test_mirrored_rerun_after_finished_training_only_exports(tmp_path, capsys):
    """An export interrupted after training (training.json beside model.keras, no metrics.json):
    the rerun under MirroredStrategy (what auto picks with several GPUs) must not train again."""
    run_dir = tmp_path / "run"
    args = [*exact_args(run_dir, **{"train.epochs": "1", "data.limit": "128", "train.check_baseline": "false"}),
            "--strategy", "mirrored"]
    assert run_main(capsys, *args).returncode == 0
    trained = json.loads((run_dir / "training.json").read_text())
    (run_dir / "metrics.json").unlink()
    done = run_main(capsys, *args)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "training already finished" in done.stderr
    assert json.loads((run_dir / "metrics.json").read_text())["train"] == trained



@pytest.mark.slow  # a fresh process (logical devices are fixed at start-up); CI runs the two-worker test
def test_mirrored_over_two_logical_cpus_matches_one_device(tmp_path, one_device_report):
    run_dir = tmp_path / "run"
    done = run_cli("kerasuite.train", *exact_args(run_dir, **{"train.logical_cpus": "2"}), "--strategy", "mirrored")
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((run_dir / "metrics.json").read_text())
    assert report["train"]["strategy"] == "mirrored" and report["train"]["replicas"] == 2
    assert report["train"]["per_replica_batch_size"] == 16 and report["train"]["global_batch_size"] == 32
    assert_same_training(report, one_device_report)


def test_two_worker_cluster_on_loopback_matches_one_device(tmp_path, one_device_report):
    run_dir, scratch = tmp_path / "run", tmp_path / "tmp"
    scratch.mkdir()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TMPDIR=str(scratch))  # where non-chief workers write
    env.pop("TF_CONFIG", None)
    done = subprocess.run(
        [sys.executable, str(REPO / "tools" / "launch_local_cluster.py"), "--workers", "2", "--timeout", "300",
         # steps_per_execution > 1 fails under several replicas in Keras 3 (keras-team/keras#19246):
         # asked for, it must run as 1 and say so, not crash.
         "--log-dir", str(tmp_path / "logs"), "--", *exact_args(run_dir, **{"train.steps_per_execution": "4"})],
        capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=360,
    )
    assert done.returncode == 0, done.stderr[-3000:] + (tmp_path / "logs" / "worker-1.log").read_text()[-3000:]
    report = json.loads((run_dir / "metrics.json").read_text())
    assert report["train"]["strategy"] == "multi_worker"
    assert report["train"]["workers"] == 2 and report["train"]["replicas"] == 2
    assert report["train"]["steps_per_execution"] == 1
    assert_same_training(report, one_device_report)
    # Only the chief wrote the run folder; the other worker's saves and logs are gone.
    assert sorted(p.name for p in run_dir.iterdir()) == ["config.json", "logs", "metrics.json", "model.keras", "training.json"]
    assert [p.name for p in scratch.iterdir()] == []


@pytest.mark.slow  # two cluster launches (~1-2 min on 2 cores)
def test_two_worker_cluster_stops_on_sigterm_and_resumes(tmp_path):
    import signal

    run_dir = tmp_path / "run"
    args = [sys.executable, str(REPO / "tools" / "launch_local_cluster.py"), "--workers", "2", "--timeout", "300",
            "--", *exact_args(run_dir, **{"train.epochs": "6"})]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("TF_CONFIG", None)
    launcher = subprocess.Popen(args, env=env, cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metadata = run_dir / "backup" / "training_metadata.json"
    deadline = time.monotonic() + 300
    while not metadata.exists():
        assert launcher.poll() is None and time.monotonic() < deadline, launcher.communicate()[1][-2000:]
        time.sleep(0.05)
    launcher.send_signal(signal.SIGTERM)  # forwarded to every worker, as a scheduler would
    _, stderr = launcher.communicate(timeout=120)
    assert launcher.returncode == 143, stderr[-2000:]
    assert "SIGTERM" in stderr and not (run_dir / "metrics.json").exists()
    saved = json.loads(metadata.read_text())["epoch"]

    done = subprocess.run(args, env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=360)
    assert done.returncode == 0, done.stderr[-3000:]
    train = json.loads((run_dir / "metrics.json").read_text())["train"]
    assert train["resumed_from_epoch"] == saved and train["epochs"] == 6 and train["workers"] == 2


# Each worker of a cluster runs this (``python -c``) with a folder and the train arguments: it
# writes the train block its fit returned into the folder and SIGKILLs itself.
KILLED_AFTER_FIT = """
import json, os, signal, sys
from pathlib import Path
from kerasuite.training import fit
index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
trained = fit.fit
def fit_then_die(*args, **kwargs):
    history = trained(*args, **kwargs)
    (Path(sys.argv[1]) / f"fit-returned-{index}.json").write_text(json.dumps(history))
    os.kill(os.getpid(), signal.SIGKILL)
fit.fit = fit_then_die
from kerasuite.train import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.slow  # two cluster launches (~1-2 min on 2 cores)
def test_two_worker_cluster_killed_after_training_reruns_without_training(tmp_path):
    """Killed after fit, before model.keras and training.json: the relaunched cluster resumes from
    the chief's backup of the finished training, trains no epoch and reports the chief's train block."""
    run_dir = tmp_path / "run"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO))
    env.pop("TF_CONFIG", None)
    killed = subprocess.run(
        [sys.executable, "-c", "import sys\n"
         f"sys.path.insert(0, {str(REPO / 'tools')!r})\n"
         "import launch_local_cluster\n"
         f"sys.exit(launch_local_cluster.launch(2, {exact_args(run_dir)!r}, timeout=300, "
         f"program=[sys.executable, '-c', {KILLED_AFTER_FIT!r}, {str(tmp_path)!r}]))"],
        env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=360)
    assert killed.returncode != 0 and (run_dir / "backup").is_dir(), killed.stderr[-2000:]
    assert not (run_dir / "training.json").exists() and not (run_dir / "model.keras").exists()
    trained = json.loads((tmp_path / "fit-returned-0.json").read_text())

    done = subprocess.run([sys.executable, str(REPO / "tools" / "launch_local_cluster.py"), "--workers", "2",
                           "--timeout", "300", "--log-dir", str(tmp_path / "logs"), "--", *exact_args(run_dir)],
                          env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=360)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "training already finished" in done.stderr + (tmp_path / "logs" / "worker-1.log").read_text()
    train = json.loads((run_dir / "metrics.json").read_text())["train"]
    assert {key: train.get(key) for key in trained} == trained
    assert sorted(p.name for p in run_dir.iterdir()) == ["config.json", "logs", "metrics.json", "model.keras", "training.json"]
