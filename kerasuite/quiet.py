"""Silence native start-up chatter that a user cannot act on.

TensorFlow prints "Could not find cuda drivers" through absl before any log level applies, and
LiteRT prints "Created TensorFlow Lite XNNPACK delegate" on every load, both straight to file
descriptor 2. ``KERASUITE_VERBOSE=1`` (set by ``--verbose``) lets them through.
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator


def _flush_c_stdio() -> None:
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
        _flush_c_stdio()  # native libraries that buffer stderr (LiteRT) would print after the restore
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow_quietly() -> None:
    """Import TensorFlow once with its native start-up messages muted; later imports are free."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with native_stderr_silenced():
        import tensorflow  # noqa: F401
