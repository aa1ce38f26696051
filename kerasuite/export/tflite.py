"""Parent side of conversion: every requested mode in one subprocess.

The converter leaks memory on every call, so it never runs in the trainer's process. One child
converts all modes (importing TensorFlow once, which dominated short runs when each mode had its
own child) and reports per mode, so a refused mode still names its ops in one line.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import tempfile
from pathlib import Path

from kerasuite.config import EXPORT_MODES as MODES  # noqa: F401  (defined once, with the config)
from kerasuite.errors import CheckFailed, Interrupted, UserError
from kerasuite.export.converter_process import run_worker


def convert_modes(
    model_path: Path,
    outputs: dict[str, Path],
    representative_path: Path | None = None,
    batch_size: int | None = None,
    allow_flex: bool = False,
    import_modules: tuple[str, ...] = (),
    timeout_per_mode: float = 900.0,
    compact: bool = True,
    int8_weights: str = "per_channel",
    uint8_inputs: tuple[str, ...] = (),
    crashes: dict[str, str] | None = None,
    rewrites: dict[str, list[str]] | None = None,
) -> dict[str, int]:
    """Convert ``model_path`` (a .keras export model) to ``outputs[mode]`` for every mode, in one
    subprocess; returns the file size per mode.

    ``import_modules`` are imported first in the subprocess, to register a user's own custom
    layers for safe loading. ``compact`` drops intermediate tensor names and empty buffers
    (:mod:`kerasuite.export.compact`; outputs unchanged); ``int8_weights`` is ``per_channel`` or
    ``per_tensor`` (``export.int8_weights``); ``uint8_inputs`` names the pixel inputs that
    ``int8_float_io`` takes as uint8 (value = pixel / 255). The first failing mode, in the order
    given, raises: ``UserError`` when it needs non-builtin ops (the message lists them),
    ``CheckFailed`` when the converter crashes on it and ``RuntimeError`` for any other converter
    failure. Given a ``crashes`` dict, a mode the converter crashes or raises on is recorded there
    (mode -> one-line reason) instead, and the modes after a crash convert in a fresh child: one
    mode's failure then does not hide the others' files. Nothing is left at a failed mode's path.
    A ``rewrites`` dict receives what the trace changed per mode (lines for ``conversions``).
    """
    sizes: dict[str, int] = {}
    pending = dict(outputs)
    while pending:
        try:
            sizes.update(_convert_in_one_child(
                model_path, pending, representative_path, batch_size, allow_flex, import_modules,
                timeout_per_mode, compact, int8_weights, uint8_inputs, converted_before=list(sizes), rewrites=rewrites))
            break
        except ConverterCrashed as crash:
            if crashes is None:
                raise CheckFailed(str(crash)) from None
            crashes.update(crash.errors)
            crashes[crash.mode] = crash.reason
            sizes.update(crash.sizes)
            modes = list(pending)
            pending = {mode: pending[mode] for mode in modes[modes.index(crash.mode) + 1:]}
        except ConverterFailed as failure:
            if crashes is None and failure.refused and not failure.errors:
                raise UserError(next(iter(failure.refused.values()))) from None
            if crashes is None:
                raise RuntimeError(str(failure)) from None
            # an exception in the converter (a 16x8 calibration that found no range) is the same
            # kind of verdict as a crash: that mode has no file, the others keep theirs
            crashes.update(failure.reasons())
            sizes.update(failure.sizes)
            break
    return sizes


class ConverterCrashed(Exception):
    """The converter child died of a crash signal while converting ``mode``; ``sizes`` holds the
    modes it converted before that one."""

    def __init__(self, message: str, mode: str, sizes: dict[str, int], reason: str,
                 errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.mode, self.sizes, self.reason = mode, sizes, reason
        self.errors = errors or {}  # modes before it the converter raised on (their one-line reasons)


def _convert_in_one_child(
    model_path: Path, outputs: dict[str, Path], representative_path: Path | None, batch_size: int | None,
    allow_flex: bool, import_modules: tuple[str, ...], timeout_per_mode: float, compact: bool,
    int8_weights: str, uint8_inputs: tuple[str, ...], converted_before: list[str],
    rewrites: dict[str, list[str]] | None = None,
) -> dict[str, int]:
    from kerasuite.locations import remove_orphans

    remove_orphans(Path(tempfile.gettempdir()), "kerasuite-convert-")
    with tempfile.TemporaryDirectory(prefix=f"kerasuite-convert-{os.getpid()}-") as scratch:
        report_path = Path(scratch) / "report.json"
        command = ["--model", str(model_path), "--batch-size", str(batch_size or 0), "--report", str(report_path)]
        for mode, out_path in outputs.items():
            command += ["--mode", mode, "--out", str(out_path)]
        if representative_path is not None:
            command += ["--representative", str(representative_path)]
        if allow_flex:
            command.append("--allow-flex")
        if not compact:
            command.append("--no-compact")
        command += ["--int8-weights", int8_weights]
        for module in import_modules:
            command += ["--import", module]
        for name in uint8_inputs:
            command += ["--uint8-input", name]
        done = run_worker(command, timeout_per_mode * max(1, len(outputs)), Path(scratch))
        report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    sizes = {}
    failed: dict[str, str] = {}
    refused: dict[str, str] = {}
    for mode, out_path in outputs.items():
        result = report.get(mode)
        if "No space left on device" in str(result) or (result is None and "No space left on device" in done.stderr):
            import errno

            raise OSError(errno.ENOSPC, "No space left on device", str(out_path.parent))
        if result is None and -done.returncode in CRASH_SIGNALS:
            converted = [*converted_before, *sizes]
            reason = (f"TensorFlow's converter crashed ({_signal_name(-done.returncode)}) on this model, "
                      "which rerunning repeats")
            raise ConverterCrashed(
                f"TFLite conversion ({mode}): {reason}; modes converted before it: "
                f"{', '.join(converted) or 'none'} (--modes MODE converts one mode alone)", mode, sizes, reason,
                {**_one_line_reasons(failed), **refused})
        if result is None and done.returncode < 0:  # killed by a signal (OOM killer, a user)
            raise Interrupted(f"TFLite conversion ({mode}): the converter process was killed by "
                              f"{_signal_name(-done.returncode)}; rerun the same command to export again",
                              -done.returncode)
        if result is None:  # the child died before reporting this mode
            tail = "\n".join(done.stderr.strip().splitlines()[-15:])
            raise RuntimeError(f"TFLite conversion ({mode}) failed:\n{tail}")
        if "refused" in result:
            if result.get("mode_only") and len(outputs) + len(converted_before) > 1:
                refused[mode] = result["refused"]  # this mode cannot be made; the others keep their files
                continue
            raise UserError(result["refused"])
        if "error" in result or not out_path.is_file():
            failed[mode] = result.get("error", "no file written")
            continue
        sizes[mode] = out_path.stat().st_size
        if rewrites is not None and result.get("conversions"):
            rewrites[mode] = list(result["conversions"])
    if failed or refused:
        raise ConverterFailed(sizes, failed, refused)
    return sizes


class ConverterFailed(Exception):
    """The converter raised (no crash) on the modes of ``errors`` (mode -> its error text), or
    refused a mode it cannot make for this model (``refused``: mode -> one line); the child went
    on with the other modes, whose files are in ``sizes``."""

    def __init__(self, sizes: dict[str, int], errors: dict[str, str], refused: dict[str, str] | None = None) -> None:
        self.sizes, self.errors, self.refused = sizes, errors, dict(refused or {})
        mode, text = next(iter({**self.refused, **errors}.items()))
        super().__init__(f"TFLite conversion ({mode}) failed:\n{text}")

    def reasons(self) -> dict[str, str]:
        return {**_one_line_reasons(self.errors), **self.refused}


def _one_line_reasons(errors: dict[str, str]) -> dict[str, str]:
    """One line per mode: the converter's own last words."""
    return {mode: f"TensorFlow's converter failed on this model ({_last_line(text)})" for mode, text in errors.items()}


def convert(
    model_path: Path,
    mode: str,
    out_path: Path,
    representative_path: Path | None = None,
    batch_size: int | None = None,
    allow_flex: bool = False,
    import_modules: tuple[str, ...] = (),
    timeout: float = 900.0,
    compact: bool = True,
    int8_weights: str = "per_channel",
) -> int:
    """One mode (see :func:`convert_modes`); returns the file size."""
    return convert_modes(model_path, {mode: out_path}, representative_path, batch_size, allow_flex,
                         import_modules, timeout, compact, int8_weights)[mode]


# Signals of a crash inside the converter (deterministic for a given model), as opposed to the
# process being stopped from outside (SIGKILL from the OOM killer, SIGTERM, SIGINT).
CRASH_SIGNALS = frozenset({signal.SIGILL, signal.SIGABRT, signal.SIGBUS, signal.SIGFPE, signal.SIGSEGV})


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


CONVERTER_ERROR = re.compile(r"error: (.+)$")
CONVERTER_OP_LOCATION = re.compile(r'callsite\("([^"]+)"')


def _last_line(text: str) -> str:
    """The converter's first diagnostic with the graph node it names ("'tfl.fully_connected' op
    operand #0 must be ... (at model/dense/MatMul)"), else the last line that says something:
    its message ends in Python call sites and carets."""
    for line in text.splitlines():
        found = CONVERTER_ERROR.search(line)
        if found:
            where = CONVERTER_OP_LOCATION.search(line)
            return found.group(1).strip() + (f" (at {where.group(1)})" if where else "")
    lines = [line.strip() for line in text.strip().splitlines()
             if line.strip() and line.strip() != "^" and ": note: called from" not in line]
    return lines[-1] if lines else "conversion refused"


# A layer whose float values have an RMS under this many quantization steps keeps almost nothing
# of them in int8 (healthy layers measure tens of steps).
VALUES_LOST_BELOW_STEPS = 0.5


def diagnose_int8(
    model_path: Path, representative_path: Path, batch_size: int | None = None,
    import_modules: tuple[str, ...] = (), timeout: float = 900.0, int8_weights: str = "per_channel",
) -> dict:
    """Name the layer whose int8 output diverges most from float (QuantizationDebugger)."""
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "layers.json"
        command = [
            "--diagnose", "--model", str(model_path), "--mode", "int8", "--out", str(out),
            "--representative", str(representative_path), "--batch-size", str(batch_size or 0),
            "--int8-weights", int8_weights,
        ]
        for module in import_modules:
            command += ["--import", module]
        try:
            done = run_worker(command, timeout, Path(scratch))
        except subprocess.TimeoutExpired:
            # The diagnosis explains a failed verdict; it must never turn one into a crash.
            return {"error": f"the per-layer int8 diagnosis took over {timeout:.0f} s and was stopped"}
        if done.returncode != 0 or not out.is_file():
            return {"error": _last_line(done.stderr)}
        layers = json.loads(out.read_text())
    ranked = [layer for layer in layers if layer["rmse_over_scale"] is not None]
    if not ranked:
        return {"error": "the quantization debugger reported no quantized layers"}
    for layer in ranked:
        layer["keras_layer"] = keras_layer_name(layer["tensor"])
    worst = max(ranked, key=lambda layer: layer["rmse_over_scale"])
    # The error in steps cannot see a tensor whose step is far larger than its values: they round
    # to the zero point, the error is small *in steps*, and the layer looks clean. That is what a
    # huge mask constant (-1e4 on padding positions) does to the scores it shares a tensor with.
    lost = next((layer for layer in layers if (layer.get("signal_over_scale") or 1.0) < VALUES_LOST_BELOW_STEPS), None)
    summary = {
        "worst_layer": worst["keras_layer"],
        "worst_tensor": worst["tensor"],
        "worst_op": worst["op"],
        "rmse_over_scale": worst["rmse_over_scale"],
        "first_layer_over_1_step": next((l["keras_layer"] for l in ranked if l["rmse_over_scale"] > 1.0), None),
        "layers": ranked,
    }
    if lost is not None:
        summary.update(values_lost_layer=keras_layer_name(lost["tensor"]), values_lost_tensor=lost["tensor"],
                       values_lost_op=lost["op"], values_lost_signal_over_scale=lost["signal_over_scale"])
    return summary


def keras_layer_name(tensor_name: str) -> str:
    """'model_1/block0_relu0_1/Relu;...' -> 'block0_relu0': the converter fuses ops and names the
    tensor after the last Keras layer of the fused group (with Keras' call-count suffix)."""
    import re

    parts = (tensor_name or "").split(";")[0].split("/")
    name = parts[1] if len(parts) > 2 else parts[0]
    return re.sub(r"_\d+$", "", name)
