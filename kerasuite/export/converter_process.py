"""The converter's child process, kept for the next export of the same process.

Importing TensorFlow costs a converter child about 7 s of CPU, more than converting a small model.
A process that exports several models (a sweep, a notebook, the test suite) therefore hands each
conversion to one long-lived ``convert_worker --serve`` child instead of starting one per export.
The child is retired after :data:`REQUESTS_PER_CHILD` conversions, a guard against the converter's
leak (the reason it is a child at all; with the session cleared between requests none showed over
48 conversions, ``tools/benchmarking/converter_child_memory.py``), and is never shared across a change of
working folder or of the environment a conversion reads. A conversion that imports a user's
modules gets a child of its own: a module imported once would stay imported, stale, for the next
export.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import select
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from kerasuite.lifeline import child_env

REQUESTS_PER_CHILD = 16
# What a conversion can read from the environment: the interpreter's paths and the libraries' switches.
ENVIRONMENT_PREFIXES = ("PYTHON", "TF_", "TFLITE", "KERAS", "XLA", "OMP_", "MKL", "LD_", "PATH", "CUDA", "HOME")


class ChildGone(Exception):
    """The kept child had died before this request reached it."""


class _ServingChild:
    def __init__(self, key: tuple, env: dict[str, str]) -> None:
        self.key, self.owner, self.requests = key, os.getpid(), 0
        # What the child says outside a request (a failed start-up, a crash of the serve loop);
        # a request's own words go to that request's logs.
        self.own_stderr = tempfile.TemporaryFile()
        # A session of its own: a Ctrl-C at the terminal interrupts the parent, which stops the
        # child it is waiting on; an idle kept child must not die of it and fail the next export.
        self.process = _launched(lambda: subprocess.Popen(
            [sys.executable, "-m", "kerasuite.export.convert_worker", "--serve"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self.own_stderr, env=env, start_new_session=True))

    def ask(self, argv: list[str], logs: tuple[Path, Path], timeout: float) -> tuple[int, str]:
        """The request's exit code (the child's own, a negative signal number, if it died on it)
        and the error line the child answered with, if any. ``logs`` receive the request's
        stdout and stderr."""
        self.requests += 1
        request = {"argv": argv, "stdout": str(logs[0]), "stderr": str(logs[1])}
        try:
            self.process.stdin.write((json.dumps(request) + "\n").encode())
            self.process.stdin.flush()
        except BrokenPipeError:  # it died since it was last asked (the OOM killer, a signal)
            self.process.wait()
            raise ChildGone from None
        answer, deadline = b"", time.monotonic() + timeout
        descriptor = self.process.stdout.fileno()
        poller = select.poll()  # not select(): a long-lived process may hold descriptors past 1024
        poller.register(descriptor, select.POLLIN | select.POLLHUP)
        while not answer.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stop(wait=0)
                raise subprocess.TimeoutExpired(argv, timeout)
            if poller.poll(remaining * 1000):
                chunk = os.read(descriptor, 4096)
                if not chunk:  # it died on this request
                    return self.process.wait(), ""
                answer += chunk
        reply = json.loads(answer)
        return int(reply["code"]), str(reply.get("error") or "")

    def said(self) -> str:
        """What the child wrote outside any request (its start-up, its serve loop)."""
        try:
            self.own_stderr.seek(0)
            return self.own_stderr.read().decode(errors="replace")
        except (OSError, ValueError):
            return ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, wait: float = 10.0) -> None:
        """End of stdin ends an idle child; one still converting is killed after ``wait`` seconds.
        Its pipes and log are closed either way: a long sweep retires many children."""
        if self.owner != os.getpid():  # a forked copy: the child is the parent's to stop
            return
        if self.process.poll() is None:
            try:
                self.process.stdin.close()
                self.process.wait(timeout=wait)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        for handle in (self.process.stdin, self.process.stdout, self.own_stderr):
            try:
                handle.close()
            except OSError:
                pass


# The kernel's parent-death signal, which ends the child the moment this process dies (before
# it can write a file beside a killed trainer's bundle), fires when the *thread* that started the
# child ends. A child kept across exports may outlive the thread of its first export, so every
# kept child is started by one daemon thread that lives as long as the process.
_launch_requests: queue.SimpleQueue | None = None


def _launched(start):
    global _launch_requests
    if _launch_requests is None:
        _launch_requests = queue.SimpleQueue()
        threading.Thread(target=_launcher, args=(_launch_requests,), name="converter-launcher", daemon=True).start()
    answer: queue.SimpleQueue = queue.SimpleQueue()
    _launch_requests.put((start, answer))
    result = answer.get()
    if isinstance(result, BaseException):
        raise result
    return result


def _launcher(requests: queue.SimpleQueue) -> None:
    while True:
        start, answer = requests.get()
        try:
            answer.put(start())
        except BaseException as error:  # handed to the caller, raised there
            answer.put(error)


# One conversion at a time per process: conversions from several threads queue here, and a
# caller's timeout counts from when its request reaches the child.
_lock = threading.Lock()
_child: _ServingChild | None = None
_hooks_registered = False


def run_worker(arguments: list[str], timeout: float, scratch: Path,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python -m kerasuite.export.convert_worker ARGUMENTS`` as if run as a one-shot child:
    the exit code (negative for a crash signal), its stdout and its stderr (kept in ``scratch``,
    the caller's folder for this conversion). Raises ``subprocess.TimeoutExpired`` after
    ``timeout`` seconds, the child stopped."""
    env = child_env(dict(env if env is not None else os.environ))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # the converter's C++ log is no one's to read
    if "--import" in arguments:
        return subprocess.run([sys.executable, "-m", "kerasuite.export.convert_worker", *arguments],
                              capture_output=True, text=True, env=env, timeout=timeout)
    global _child
    key = (os.getcwd(), tuple(sorted((name, value) for name, value in env.items()
                                     if name.startswith(ENVIRONMENT_PREFIXES))))
    logs = (Path(scratch) / "converter_stdout.log", Path(scratch) / "converter_stderr.log")
    with _lock:
        if _child is not None and (_child.key != key or _child.owner != os.getpid() or not _child.alive()
                                   or _child.requests >= REQUESTS_PER_CHILD):
            _child.stop()
            _child = None
        served = None
        try:
            try:
                served = _child = _child or _start(key, env)
                code, error = _child.ask(list(arguments), logs, timeout)
            except ChildGone:  # the request never started: a fresh child takes it
                _child.stop()
                served = _child = _start(key, env)
                code, error = _child.ask(list(arguments), logs, timeout)
        except ChildGone:  # the fresh child died before reading too: it could not start
            code, error = 1, "the converter process exited before taking the request"
            _child = None
        except BaseException:  # a timeout or an interrupt: the request's state is unknown
            if _child is not None:
                _child.stop(wait=0)
            _child = None
            raise
        if _child is not None and (code < 0 or not _child.alive()):
            _child = None
        written = [path.read_text(errors="replace") if path.is_file() else "" for path in logs]
        if code != 0 and served is not None and not served.alive():
            written[1] += served.said()  # it died: why, if it said so outside the request
        if error and error not in written[1]:
            written[1] += ("\n" if written[1] and not written[1].endswith("\n") else "") + error + "\n"
        if served is not None and served is not _child:
            served.stop()
    return subprocess.CompletedProcess(arguments, code, *written)


def _start(key: tuple, env: dict[str, str]) -> _ServingChild:
    global _hooks_registered
    if not _hooks_registered:  # once per process, at its first child (nothing runs at import)
        atexit.register(retire)
        os.register_at_fork(after_in_child=_forget_in_forked_copy)
        _hooks_registered = True
    return _ServingChild(key, env)


def retire() -> None:
    """Stop the kept child now (its memory back; the next export starts a fresh one)."""
    global _child
    with _lock:
        if _child is not None:
            _child.stop()
            _child = None


def _forget_in_forked_copy() -> None:
    """A fork of this process (multiprocessing, a data loader) starts without the kept child: it
    must not write to the parent's child, and must not hold its stdin open, or the parent's
    retire() would never reach end of input. The lock may have been held by another thread at
    the fork, so the copy gets a fresh one."""
    global _child, _lock, _launch_requests
    _lock = threading.Lock()
    _launch_requests = None  # the launcher thread is not copied by a fork
    if _child is not None:
        for handle in (_child.process.stdin, _child.process.stdout, _child.own_stderr):
            try:
                handle.close()  # this copy's descriptors only; the parent's stay open
            except OSError:
                pass
    _child = None
