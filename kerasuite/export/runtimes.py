"""The runtimes an exported file is checked on, for the per-runtime parity verdicts.

``RUNTIMES[name]`` holds a factory ``(path, bundle) -> runtime`` (imported lazily: a runtime's
package may be missing) and an ``applicability(mode, signature) -> reason | None`` rule; a
runtime is an object with ``predict(inputs) -> np.ndarray`` and ``details() -> dict``. A
runtime may also have ``fed_inputs(inputs)``: the inputs it actually computes on (MediaPipe
rounds images to whole pixels), which the reference model is then run on too.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
from pathlib import Path
from typing import Any, Callable, Optional

Bundle = dict[str, Any]  # "signature" (signature.json content), "dir", "vocabulary"


@dataclasses.dataclass(frozen=True)
class RuntimeEntry:
    factory: str  # "module:function" taking (path, bundle)
    applicability: Callable[[str, dict], Optional[str]]

    def create(self, path: Path, bundle: Bundle):
        module, _, function = self.factory.partition(":")
        return getattr(importlib.import_module(module), function)(path, bundle)


def _always(mode: str, signature: dict) -> Optional[str]:
    return None


def _compiled_model(mode: str, signature: dict) -> Optional[str]:
    if importlib.util.find_spec("ai_edge_litert") is None or \
            importlib.util.find_spec("ai_edge_litert.compiled_model") is None:
        return "ai_edge_litert.compiled_model is not installed"
    return None


MEDIAPIPE_KINDS = {"image": "ImageClassifier", "audio": "AudioClassifier", "text": "TextClassifier"}


def _mediapipe(mode: str, signature: dict) -> Optional[str]:
    kind = signature.get("preprocessing", {}).get("kind")
    if kind not in MEDIAPIPE_KINDS or not signature.get("labels"):
        return f"MediaPipe Tasks has no classifier for {signature.get('task', 'this task')}"
    if mode == "int8":
        return ("int8 input/output: MediaPipe takes uint8/float32 images, float32 audio and float32/uint8 "
                "scores; the int8_float_io file is the one for MediaPipe")
    if importlib.util.find_spec("mediapipe") is None:
        return "mediapipe is not installed (pip install mediapipe)"
    return None


def litert_interpreter(path: Path, bundle: Bundle):
    from kerasuite.runtime.compiled import open_model

    return open_model(path, "interpreter")


def litert_compiled(path: Path, bundle: Bundle):
    from kerasuite.runtime.compiled import open_model

    return open_model(path, "compiled")


def mediapipe(path: Path, bundle: Bundle):
    from kerasuite.runtime.mediapipe import MediaPipeClassifier

    return MediaPipeClassifier(path, bundle["signature"]["preprocessing"], bundle.get("vocabulary"))


RUNTIMES: dict[str, RuntimeEntry] = {
    "litert_interpreter": RuntimeEntry("kerasuite.export.runtimes:litert_interpreter", _always),
    "litert_compiled": RuntimeEntry("kerasuite.export.runtimes:litert_compiled", _compiled_model),
    "mediapipe": RuntimeEntry("kerasuite.export.runtimes:mediapipe", _mediapipe),
}
