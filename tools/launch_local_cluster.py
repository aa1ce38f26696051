"""Run ``python -m kerasuite.train`` as an N-worker MultiWorkerMirroredStrategy cluster on this machine.

    python tools/launch_local_cluster.py --workers 2 -- --epochs 3 --run-dir runs/two-workers

Everything after ``--`` goes to every worker unchanged. The tool picks free ports on 127.0.0.1,
gives each worker its own ``TF_CONFIG`` (worker 0 is the chief, which alone writes the run folder
and the export bundle), starts them, and waits. The chief's output is shown; the other workers'
output goes to ``worker-<i>.log`` in ``--log-dir`` (a temporary folder, removed when every worker
succeeds). If any worker fails, the others are stopped, since a cluster missing a member would
wait for it forever, and the tool exits with the failing worker's code (the chief's when it is
the one that failed). Ctrl-C or SIGTERM is passed on to every worker, which save a backup and
stop; rerunning the same command resumes.

On several machines, run the same train command on each with its own ``TF_CONFIG`` (see README);
this tool only automates that for one machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

REPO = Path(__file__).resolve().parents[1]
STOP_GRACE_SECONDS = 10.0


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Ports the OS reports free right now (all held open together so they differ)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def tf_configs(ports: Sequence[int], host: str = "127.0.0.1") -> list[dict]:
    """One TF_CONFIG per worker: the same cluster, a different task index."""
    cluster = {"worker": [f"{host}:{port}" for port in ports]}
    return [{"cluster": cluster, "task": {"type": "worker", "index": index}} for index in range(len(ports))]


def _stop(processes: list[subprocess.Popen], sig: int | None = signal.SIGTERM) -> None:
    """Signal every still-running worker's process group (``sig`` None: they were signalled
    already), then kill what outlives the grace time."""
    for process in processes:
        if sig is not None and process.poll() is None:
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()


def launch(workers: int, train_args: Sequence[str], log_dir: Path | None = None, timeout: float = 0,
           program: Sequence[str] | None = None) -> int:
    """Run the cluster and return its exit code. ``program`` replaces ``python -m kerasuite.train``
    (tests use a stand-in)."""
    if workers < 1:
        print("error: --workers: must be at least 1", file=sys.stderr)
        return 2
    keep_logs = log_dir is not None
    log_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="kerasuite-cluster-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    env_base = dict(os.environ)
    # Runs from a fresh clone without installing: the repository goes first on the import path.
    env_base["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env_base.get("PYTHONPATH", "")) if p)
    command = [*(program or (sys.executable, "-m", "kerasuite.train")), *train_args]

    processes: list[subprocess.Popen] = []
    logs = []
    received: list[int] = []

    def forward(signum, frame):  # every worker must stop together, or the rest wait forever
        received.append(signum)
        for process in processes:
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signum)
                except ProcessLookupError:
                    pass

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for index, config in enumerate(tf_configs(free_ports(workers))):
            env = dict(env_base, TF_CONFIG=json.dumps(config))
            if index == 0:
                out = None  # the chief speaks to the user
            else:
                out = open(log_dir / f"worker-{index}.log", "wb")
                logs.append(out)
            processes.append(subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT if out else None,
                                              start_new_session=True))
        started = time.monotonic()
        failed: tuple[int, int] | None = None  # (worker index, exit code)
        while True:
            codes = [process.poll() for process in processes]
            bad = [(i, c) for i, c in enumerate(codes) if c not in (None, 0)]
            if bad:
                failed = (0, codes[0]) if codes[0] not in (None, 0) else bad[0]
                break
            if all(code == 0 for code in codes):
                break
            if timeout and time.monotonic() - started > timeout:
                print(f"error: the cluster did not finish within --timeout {timeout:g} s; stopping every worker",
                      file=sys.stderr)
                _stop(processes)
                return 124
            time.sleep(0.2)
        if failed is None:
            return 0
        # Workers that were passed a signal are saving their backup: a second one would kill them
        # mid-save, so they get the grace time before SIGKILL instead.
        _stop(processes, None if received else signal.SIGTERM)
        index, code = failed
        if received:  # the workers were told to stop: report the chief's exit (143 after SIGTERM)
            code = processes[0].returncode if processes[0].returncode is not None else code
        code = 128 - code if code < 0 else code  # killed by signal N: the shell's 128 + N
        if received:
            return code
        if index != 0:
            print(f"error: worker {index} exited with {code}; its output is in {log_dir / f'worker-{index}.log'}",
                  file=sys.stderr)
            keep_logs = True
        return code
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if any(process.poll() is None for process in processes):  # an exception on the way out
            _stop(processes, signal.SIGKILL)
        for out in logs:
            out.close()
        if not keep_logs:
            shutil.rmtree(log_dir, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(
        prog="python tools/launch_local_cluster.py",
        description="Start N local kerasuite.train workers as one MultiWorkerMirroredStrategy cluster.",
        epilog="Example: python tools/launch_local_cluster.py --workers 2 -- --epochs 3 --run-dir runs/two-workers",
    )
    parser.add_argument("--workers", type=int, default=2, help="number of worker processes (default 2)")
    parser.add_argument("--log-dir", type=Path, help="keep the non-chief workers' output here (default: a temporary folder)")
    parser.add_argument("--timeout", type=float, default=0, help="stop every worker after this many seconds (0 = no limit)")
    parser.add_argument("train_args", nargs=argparse.REMAINDER, help="-- then the arguments for python -m kerasuite.train")
    args = parser.parse_args(argv)
    train_args = args.train_args[1:] if args.train_args[:1] == ["--"] else args.train_args
    return launch(args.workers, train_args, args.log_dir, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
