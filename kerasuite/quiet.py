"""Silence native start-up chatter that a user cannot act on.

TensorFlow prints "Could not find cuda drivers" through absl before any log level applies, and
LiteRT prints "Created TensorFlow Lite XNNPACK delegate" on every load, both straight to file
descriptor 2. ``KERASUITE_VERBOSE=1`` (set by ``--verbose``) lets them through.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Iterator


def flush_native_stdio() -> None:
    try:
        import ctypes

        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):
        pass


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    if os.environ.get("KERASUITE_VERBOSE"):
        yield
        return
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        flush_native_stdio()  # native libraries that buffer stderr (LiteRT) would print after the restore
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


@contextlib.contextmanager
def captured_native_stderr() -> Iterator[list[str]]:
    """Collects what native code writes to file descriptor 2 while inside (TFLM's MicroPrintf,
    LiteRT's "ERROR: ... failed to invoke", MediaPipe's stack traces); the list is filled when the
    block ends, also when it ends in an exception, so a caller can put the kernel's own words into
    its verdict instead of leaving them on the user's terminal."""
    lines: list[str] = []
    try:
        saved = os.dup(2)
    except OSError:
        yield lines
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            flush_native_stdio()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines.extend(line.strip() for line in sink.read().decode("utf-8", "replace").splitlines()
                         if line.strip())
            if os.environ.get("KERASUITE_VERBOSE") and lines:  # --verbose still shows everything
                os.write(2, ("\n".join(lines) + "\n").encode())


def import_tensorflow_quietly() -> None:
    """Import TensorFlow once with its native start-up messages muted; later imports are free."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with native_stderr_silenced():
        import tensorflow  # noqa: F401
