"""Child processes that die with their parent (Linux), so a killed trainer leaves no orphan.

The parent puts its pid in :data:`PARENT_PID_ENV`; the child calls :func:`die_with_parent` first
thing. This is done in the child, not in a ``preexec_fn``: forking a process that runs
TensorFlow's threads and then calling into libc before ``exec`` can deadlock.
"""

from __future__ import annotations

import os
import sys

PARENT_PID_ENV = "KERASUITE_PARENT_PID"


def child_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child that should die with this process."""
    return dict(env if env is not None else os.environ, **{PARENT_PID_ENV: str(os.getpid())})


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (prctl PR_SET_PDEATHSIG)."""
    expected = os.environ.get(PARENT_PID_ENV, "")
    if not expected.isdigit() or not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != int(expected):  # the parent died before prctl took effect
        os._exit(1)
