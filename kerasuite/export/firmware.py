"""What a firmware build needs for a file TFLM ran: the C array, the op list, the arena bytes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kerasuite.export.c_array import c_header, c_source
from kerasuite.io_utils import write_text_atomic

FIRMWARE_MODES = ("float32", "int8", "int16x8")


def write_firmware_files(folder: Path, tflite_path: Path, verdict: dict[str, Any]) -> dict[str, Any] | None:
    """``model_<mode>.cc`` / ``.h`` next to ``tflite_path`` when TFLM ran it (its verdict carries
    the measured arena); returns signature.json's ``tflm`` block, or None when TFLM could not run
    the file (then there is nothing a firmware could use)."""
    if verdict.get("arena_bytes") is None or "op_resolver" not in verdict:
        return None
    content = Path(tflite_path).read_bytes()
    stem = Path(tflite_path).stem
    header = f"{stem}.h"
    write_text_atomic(Path(folder) / f"{stem}.cc", c_source(content, Path(tflite_path).name, header))
    write_text_atomic(Path(folder) / header, c_header(Path(tflite_path).name, len(content),
                                                      verdict["arena_bytes"], verdict["op_resolver"]))
    return {
        "c_source": f"{stem}.cc",
        "c_header": header,
        "arena_bytes": verdict["arena_bytes"],
        "ops": verdict["ops"],
        "op_resolver": verdict["op_resolver"],
        # False for kerasuite's files: a fused LSTM zeroes its own state (export/stateless_lstm.py)
        "reset_variables_before_invoke": verdict.get("needs_reset", False),
    }
