"""Which runtimes judge an exported file, and their per-runtime parity verdicts.

Each entry names a runtime class by ``"module:attribute"`` (imported only when that runtime is
used, so this registry imports nothing heavy) and an applicability rule. The runtime is built as
``factory(path)`` and must offer ``predict(inputs: dict[str, np.ndarray]) -> np.ndarray``
(batched; runtimes that need batch 1 loop inside) and ``details() -> dict`` (extras recorded in
the verdict, e.g. ``api`` or ``arena_bytes``). ``applicability(mode, description)`` gets the mode
and that mode's signature.json entry (``inputs``, ``outputs``, ``ops``, ...) and returns None when
the runtime applies, else the reason it does not; a runtime that does not apply is reported as
``not_applicable`` with that reason, never left out silently.

A verdict: ``{"status": "passed"|"failed"|"not_applicable", "reason": str (unless passed),
"agreement": float|None, "max_abs_diff": float, "eval": {metrics}, "failures": [str], ...details}``.
A mode passes only when every applicable runtime passed.
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import Any, Callable

import numpy as np

from kerasuite.quiet import captured_native_stderr

Applicability = Callable[[str, dict], "str | None"]


def always(mode: str, description: dict) -> str | None:
    return None


@dataclasses.dataclass(frozen=True)
class RuntimeEntry:
    factory: str  # "module:attribute"; attribute(path) -> runtime
    applicability: Applicability = always

    def create(self, path: Path):
        module_name, _, attribute = self.factory.partition(":")
        return getattr(importlib.import_module(module_name), attribute)(path)


def compiled_applicability(mode: str, description: dict) -> str | None:
    from kerasuite.runtime.compiled import applicability

    return applicability(mode, description)


def mediapipe_applicability(mode: str, description: dict) -> str | None:
    from kerasuite.runtime.mediapipe import applicability

    return applicability(mode, description)


def tflm_applicability(mode: str, description: dict) -> str | None:
    from kerasuite.runtime.tflm import applicability

    return applicability(mode, description)


# The first entry is the reference runtime: its outputs are the mode's headline numbers.
RUNTIMES: dict[str, RuntimeEntry] = {
    "litert_interpreter": RuntimeEntry("kerasuite.runtime.interpreter:TFLiteModel"),
    "litert_compiled": RuntimeEntry("kerasuite.runtime.compiled:CompiledTFLiteModel", compiled_applicability),
    "mediapipe": RuntimeEntry("kerasuite.runtime.mediapipe:MediaPipeClassifier", mediapipe_applicability),
    "tflm": RuntimeEntry("kerasuite.runtime.tflm:TFLMModel", tflm_applicability),
}
REFERENCE_RUNTIME = "litert_interpreter"


def native_cause(native_lines: list[str], error_text: str) -> str:
    """The runtime's own "ERROR:" lines that the exception does not already carry, as a prefix
    for the verdict ("" when none): CompiledModel raised only "Failed to invoke the compiled model"
    and MediaPipe a calculator's RET_CHECK, while the kernel had printed which op failed and why
    ("SquaredDifference only supports FLOAT32 and INT32 now, got 7")."""
    causes: list[str] = []
    for line in native_lines:
        if not line.startswith("ERROR:"):
            continue
        cause = line[len("ERROR:"):].strip()
        if cause and cause not in error_text and cause not in causes and not cause.startswith("["):
            causes.append(cause)
    return f"{' '.join(causes)}; " if causes else ""


def judge(path: Path, mode: str, description: dict, inputs: dict[str, np.ndarray], keras_outputs: np.ndarray,
          compare: Callable[[np.ndarray], dict[str, Any]],
          runtimes: dict[str, RuntimeEntry] | None = None) -> tuple[dict[str, dict], dict[str, np.ndarray]]:
    """Every registered runtime's verdict on one file, and the outputs of those that ran.
    ``compare(outputs)`` is the parity check against Keras for this mode."""
    verdicts: dict[str, dict] = {}
    outputs: dict[str, np.ndarray] = {}
    for name, entry in (runtimes or RUNTIMES).items():
        reason = entry.applicability(mode, description)
        if reason is not None:
            verdicts[name] = {"status": "not_applicable", "reason": reason, "agreement": None}
            continue
        native: list[str] = []
        try:
            # a kernel that fails says why on fd 2 (LiteRT's "ERROR: ...", MediaPipe's stack trace):
            # that goes into the verdict, not onto the user's terminal above it
            with captured_native_stderr() as native:
                runtime = entry.create(path)
                got = np.asarray(runtime.predict(inputs), np.float32)
                details = dict(runtime.details())
        except Exception as error:  # a runtime that cannot load or run the file fails the mode
            # the file's own name: the staging folder it was judged in is gone once the bundle is written
            text = " ".join(str(error).replace(str(path), path.name).split()) or type(error).__name__
            text = (native_cause(native, text) + text)[:600]
            verdicts[name] = {"status": "failed", "reason": f"{name} could not run the file: {text}",
                              "agreement": None, "failures": [f"{name}: {text}"]}
            continue
        checked = compare(got)
        outputs[name] = got
        verdict = {"status": "passed" if checked["passed"] else "failed", "agreement": checked["agreement"],
                   "max_abs_diff": checked["max_abs_diff"], "mean_abs_diff": checked["mean_abs_diff"],
                   "eval": checked["tflite"], "failures": checked["failures"], **details}
        if not checked["passed"]:
            verdict["reason"] = "; ".join(checked["failures"])
        verdicts[name] = verdict
    return verdicts, outputs


def mode_passed(verdicts: dict[str, dict]) -> bool:
    """True when every applicable runtime passed (and at least one applied)."""
    applicable = [v for v in verdicts.values() if v["status"] != "not_applicable"]
    return bool(applicable) and all(v["status"] == "passed" for v in applicable)
