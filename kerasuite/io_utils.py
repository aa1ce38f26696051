"""Atomic file writes: a reader never sees a half-written file, a failure leaves none behind."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary sibling path; on success rename it onto ``path``, on error delete it.
    ``suffix``: the temporary name's ending, for writers that check it (Keras' ``.weights.h5``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    # mkstemp creates 0600; the finished file gets what open() would give it (0644 under the usual umask)
    os.fchmod(fd, 0o666 & ~_umask())
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def folder_not_ours(path: str | Path, marker: str) -> str | None:
    """Why ``path`` may not be replaced by a tool that leaves ``marker`` in what it writes, or None.
    A missing or empty folder, or one holding ``marker``, is the tool's to replace; anything else
    may be someone's data (a mistyped --out), so it is refused before any work is done."""
    path = Path(path)
    if not path.exists():
        return None
    if not path.is_dir():
        return f"{path} exists and is not a folder"
    if (path / marker).is_file() or not any(path.iterdir()):
        return None
    return f"{path} exists and was not written by this tool (no {marker} in it); give a new or empty folder"


@contextlib.contextmanager
def atomic_folder(path: str | Path, marker: str) -> Iterator[Path]:
    """Yield an empty temporary sibling folder; on success it replaces ``path`` as a whole, on error
    it is deleted and ``path`` is left as it was. A reader sees the old folder or the new one, never
    a mix of clips from two runs or a half-written set. The caller must have written ``marker``
    into it (what ``folder_not_ours`` looks for), so that the next run may replace it in turn."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    try:
        yield tmp
        if not (tmp / marker).is_file():
            raise RuntimeError(f"{marker} was not written into the new {path.name}; {path} is left as it was")
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / path.name)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def _umask() -> int:
    current = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(current)
    return current


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_npy_atomic(path: str | Path, array) -> None:
    """``np.save`` under a temporary name, then rename (never a half-written .npy, never pickled)."""
    import numpy as np

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, np.asarray(array), allow_pickle=False)


def write_text_atomic(path: str | Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, value: Any) -> None:
    write_text_atomic(path, json.dumps(value, indent=2, sort_keys=False) + "\n")
