"""What makes an input array unusable for calibration and parity (numpy only: the command line
checks it before TensorFlow, ``export_model`` on the arrays it is given)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from kerasuite.errors import UserError


def open_npz(path: Path, flag: str, hint: str) -> dict[str, np.ndarray]:
    """The arrays of the .npz archive ``path`` (given with ``flag``); anything else is one line
    ending with ``hint``. np.load reads a .npy as one bare array and the members of any zip (a
    .keras file) as bytes, and blames other files on pickled data."""
    if not zipfile.is_zipfile(path):
        raise UserError(f"{flag} {path}: not an .npz archive; {hint}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError) as error:
        raise UserError(f"{flag} {path}: not a readable .npz file ({' '.join(str(error).split())[:120]})") from None
    stray = [key for key, value in arrays.items() if not isinstance(value, np.ndarray)]
    if stray:
        raise UserError(f"{flag} {path}: not an .npz archive ({stray[0]!r} inside is no .npy array); {hint}")
    return arrays


def array_problem(key: str, value: np.ndarray) -> str | None:
    """One line on why array ``key`` cannot feed the files, or None.

    Non-finite inputs are refused rather than judged: TensorFlow's fused CPU kernels can turn a
    NaN into a finite output (Keras' ``predict`` gave finite scores for a NaN row where calling the
    model gave NaN), so such a verdict would compare numbers that mean nothing."""
    if value.dtype.kind not in "biuf":
        return (f"array {key!r} holds {value.dtype} values; the files take numbers (turn text into ids before the "
                "model: TFLite's builtins have no string ops)")
    if value.dtype.kind == "f" and not np.isfinite(value).all():
        bad = ~np.isfinite(value.reshape(len(value), -1)).all(axis=1)
        return (f"array {key!r} has non-finite values (NaN or inf) in {int(bad.sum())} of {len(value)} examples "
                f"(the first: row {int(np.argmax(bad))}); calibration and parity need finite inputs")
    return None
