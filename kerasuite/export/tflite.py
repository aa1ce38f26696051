"""Parent side of conversion: one subprocess per mode, because the converter leaks memory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from kerasuite.errors import UserError

MODES = ("float32", "float16", "dynamic", "int8")


def convert(
    model_path: Path,
    mode: str,
    out_path: Path,
    representative_path: Path | None = None,
    batch_size: int | None = None,
    allow_flex: bool = False,
    timeout: float = 900.0,
) -> int:
    """Convert ``model_path`` (a .keras export model) to ``out_path``; returns the file size.

    Raises ``UserError`` when the model needs non-builtin ops (the message lists them) and
    ``RuntimeError`` for any other converter failure. Nothing is left at ``out_path`` on failure.
    """
    command = [
        sys.executable, "-m", "kerasuite.export.convert_worker",
        "--model", str(model_path), "--mode", mode, "--out", str(out_path),
        "--batch-size", str(batch_size or 0),
    ]
    if representative_path is not None:
        command += ["--representative", str(representative_path)]
    if allow_flex:
        command.append("--allow-flex")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3"))
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    if done.returncode == 2:
        raise UserError(_last_line(done.stderr))
    if done.returncode != 0 or not out_path.is_file():
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"TFLite conversion ({mode}) failed:\n{tail}")
    return out_path.stat().st_size


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "conversion refused"
