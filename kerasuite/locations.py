"""Where a run writes, checked before any work: pure Python, so it can run before TensorFlow.

The export replaces its bundle folder wholesale, and ``--overwrite`` clears the run folder. If
the two folders overlap (one is the other, or inside it), either step would delete the other's
files, so overlapping locations are refused up front; and a bundle folder is replaced only when
it carries the marker file kerasuite writes into every bundle (:data:`BUNDLE_MARKER`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from kerasuite.errors import UserError

# Written into every bundle; a folder without it is never deleted or replaced by an export.
BUNDLE_MARKER = ".kerasuite-bundle"
# Files a bundle from before the marker existed may hold; such a folder is replaced too.
_LEGACY_BUNDLE_SUFFIXES = (".tflite", ".png", ".npz", ".npy", ".txt", ".json", ".md")
_RUN_FILES = ("config.json", "metrics.json", "model.keras")


def check_run_name(name: str) -> None:
    """A run name becomes a folder name under runs/ and exports/; a path there escapes them."""
    if not name:
        return
    if name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise UserError(f"name {name!r}: must be a plain folder name (no '/', '\\' or '..'); "
                        "use --run-dir or export.dir to choose a location")


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(os.path.expanduser(str(path))))


def _contains(outer: Path, inner: Path) -> bool:
    return outer == inner or outer in inner.parents


def check_separate(run_dir: Path, bundle_dir: Path) -> None:
    """Refuse a run folder and export folder that are the same or nested in each other."""
    run_abs, bundle_abs = _absolute(run_dir), _absolute(bundle_dir)
    # resolve() follows symlinks that exist, so a link to the run folder is caught too
    run_real, bundle_real = run_abs.resolve(), bundle_abs.resolve()
    if (_contains(run_abs, bundle_abs) or _contains(bundle_abs, run_abs)
            or _contains(run_real, bundle_real) or _contains(bundle_real, run_real)):
        raise UserError(
            f"export.dir {bundle_dir}: overlaps the run folder {run_dir}; the export replaces its folder "
            "and would delete the run, so choose separate locations"
        )


def is_bundle_dir(path: Path) -> bool:
    """True for a folder an export may replace: empty, marked, or an unmarked old-style bundle
    (a signature.json, only bundle-like files, no sub-folders and none of a run folder's files)."""
    path = Path(path)
    if not path.is_dir() or path.is_symlink():
        return False
    entries = list(path.iterdir())
    if not entries or (path / BUNDLE_MARKER).is_file():
        return True
    if not (path / "signature.json").is_file():
        return False
    def bundle_file(entry: Path) -> bool:
        return entry.is_file() and entry.name not in _RUN_FILES and entry.suffix in _LEGACY_BUNDLE_SUFFIXES

    def failed_modes(entry: Path) -> bool:  # failed/ holds the .tflite of modes that failed parity
        return entry.name == "failed" and entry.is_dir() and not entry.is_symlink() and \
            all(f.is_file() and f.suffix == ".tflite" for f in entry.iterdir())

    return all(bundle_file(entry) or failed_modes(entry) for entry in entries)


def check_bundle_location(bundle_dir: Path) -> None:
    """An existing export folder is replaced by the export: refuse one that is not a bundle."""
    bundle_dir = Path(bundle_dir)
    if bundle_dir.exists() and not is_bundle_dir(bundle_dir):
        raise UserError(
            f"export.dir {bundle_dir}: exists and is not a kerasuite bundle (no {BUNDLE_MARKER} file), "
            "so the export will not replace it; choose another export.dir or remove it yourself"
        )


def check_bundle_owner(bundle_dir: Path, run_dir: Path) -> None:
    """Refuse to replace the bundle of another finished run. Two runs share ``exports/<run-name>``
    unless ``export.dir`` differs, so a second ``--run-dir`` swapped the first run's files under its
    metrics.json without a word (its ``kerasuite.parity`` then judged the other run's files)."""
    import json

    try:
        owner = Path(json.loads((Path(bundle_dir) / "provenance.json").read_text(encoding="utf-8"))["data"]["run_dir"])
    except (OSError, ValueError, KeyError, TypeError):
        return  # no run recorded (kerasuite.export's bundles): no run to keep it for
    if _absolute(owner) != _absolute(run_dir) and (owner / "metrics.json").is_file():
        raise UserError(f"export.dir {bundle_dir}: holds the bundle of the finished run {owner}; give this run "
                        "its own with --set export.dir=DIR, or remove that bundle yourself")


def check_free_space(folder: Path, needed_bytes: int, what: str) -> None:
    """Refuse a write that cannot fit: a full disk in the middle of an HDF5 write crashes the
    process (segmentation fault) instead of raising, and leaves a partial file."""
    probe = Path(folder)
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    try:
        free = shutil.disk_usage(probe).free
    except OSError:
        return  # cannot tell; the write itself will report
    if free < needed_bytes:
        raise UserError(
            f"{folder}: not enough free space for {what} (needs about {_kib(needed_bytes)}, "
            f"{_kib(free)} free); free some space or choose another location"
        )


def is_disk_full(error: BaseException) -> bool:
    import errno

    return (isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)) or \
        "No space left on device" in str(error)


def disk_full_error(folder: Path, flag: str = "") -> UserError:
    return UserError(f"{flag + ' ' if flag else ''}{folder}: no space left on the device while writing there; "
                     "free some space or choose another location")


def remove_orphans(folder: Path, prefix: str) -> None:
    """Delete ``PREFIX<pid>-*`` folders whose process is gone (killed mid-run); a folder of a live
    process, or one not named by this scheme, is left alone."""
    try:
        candidates = list(Path(folder).glob(f"{prefix}*"))
    except OSError:
        return
    for path in candidates:
        pid_text = path.name[len(prefix):].split("-", 1)[0]
        if path.is_dir() and not path.is_symlink() and pid_text.isdigit() and not _alive(int(pid_text)):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kib(size: int) -> str:
    return f"{size / 1024:,.0f} kB" if size < 10 * 1024 * 1024 else f"{size / 1024 / 1024:,.1f} MB"
