"""Run an exported classifier through MediaPipe Tasks, as an Android, iOS or web app would.

MediaPipe takes raw data, not model tensors: an RGB uint8 image, a waveform with its sample rate,
a string. ``MediaPipeClassifier.predict`` turns model inputs back into that raw form (pixels =
round(value * 255); the waveform as is; token ids -> the vocabulary words joined by spaces) and
collects every category's score in output order. ``fed_inputs`` gives the model inputs that the
raw form stands for, so a harness compares MediaPipe with Keras on exactly what MediaPipe saw.

MediaPipe reads labels, normalization, audio format and tokenizer from the file's own metadata
(``kerasuite.export.metadata``); nothing from signature.json is passed to it. Importing mediapipe
loads TensorFlow (mediapipe 1.2.3), so this runtime is for tests and benchmarks, not devices.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kerasuite.errors import UserError

PIXEL_LEVELS = 255.0
# Stands for an out-of-vocabulary id when ids are turned back into text: a character no
# tokenizer splits and no vocabulary built from ASCII-lowercased text is likely to hold.
OOV_WORD = "\u2426"


class MediaPipeClassifier:
    """``kind`` is the bundle's preprocessing kind: image, audio or text."""

    def __init__(self, path: str | Path, preprocessing: dict[str, Any], vocabulary: list[str] | None = None,
                 fresh_per_call: bool = False, threads: int = 1):
        self.path = Path(path)
        self.kind = preprocessing.get("kind")
        if self.kind not in ("image", "audio", "text"):
            raise UserError(f"{self.path}: MediaPipe Tasks runs image, audio and text classifiers, not {self.kind!r}")
        self.preprocessing = preprocessing
        self.vocabulary = vocabulary
        if self.kind == "text" and vocabulary is None:
            raise UserError(f"{self.path}: a text classifier needs the bundle's vocabulary to turn ids into text")
        self.fresh_per_call = fresh_per_call
        self.threads = threads
        self.input_name = preprocessing.get("input")
        self._classifier = None if fresh_per_call else self._create()

    # -- MediaPipe ---------------------------------------------------------------------------
    def _create(self):
        from mediapipe.tasks.python.core.base_options import BaseOptions

        base = BaseOptions(model_asset_path=str(self.path))
        try:
            if self.kind == "image":
                from mediapipe.tasks.python import vision

                return vision.ImageClassifier.create_from_options(
                    vision.ImageClassifierOptions(base_options=base, max_results=-1))
            if self.kind == "audio":
                from mediapipe.tasks.python import audio

                return audio.AudioClassifier.create_from_options(
                    audio.AudioClassifierOptions(base_options=base, max_results=-1,
                                                 running_mode=audio.RunningMode.AUDIO_CLIPS))
            from mediapipe.tasks.python import text

            return text.TextClassifier.create_from_options(
                text.TextClassifierOptions(base_options=base, max_results=-1))
        except (ValueError, RuntimeError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise UserError(f"{self.path}: MediaPipe refuses it ({first})") from None

    def _raw(self, example: np.ndarray):
        if self.kind == "image":
            from mediapipe import Image, ImageFormat

            pixels = np.clip(np.round(example * PIXEL_LEVELS), 0, 255).astype(np.uint8)
            return Image(image_format=ImageFormat.SRGB, data=np.ascontiguousarray(pixels))
        if self.kind == "audio":
            from mediapipe.tasks.python.components.containers.audio_data import AudioData

            return AudioData.create_from_array(np.asarray(example, np.float32).reshape(-1),
                                               float(self.preprocessing["sample_rate"]))
        return self.ids_to_text(example)

    def ids_to_text(self, ids: np.ndarray) -> str:
        words = [OOV_WORD if int(i) == 1 else self.vocabulary[int(i)] for i in ids if int(i) != 0]
        return " ".join(words)

    def _scores(self, result) -> np.ndarray:
        if isinstance(result, list):  # audio: one result per window; a clip of the model's length has one
            result = result[0]
        result = getattr(result, "classification_result", result)
        head = result.classifications[0]
        count = max(c.index for c in head.categories) + 1 if head.categories else 0
        scores = np.zeros(max(count, self._classes or 0), np.float32)
        for category in head.categories:
            scores[category.index] = category.score
        return scores

    _classes: int | None = None

    def classify(self, example: np.ndarray) -> np.ndarray:
        raw = self._raw(example)
        if self.fresh_per_call:
            with self._create() as classifier:
                return self._scores(classifier.classify(raw))
        return self._scores(self._classifier.classify(raw))

    def repeated_vs_fresh(self, inputs: dict[str, np.ndarray], count: int = 4) -> float:
        """Max |difference| between scores from this (already used) classifier and from a fresh
        classifier per example: non-zero means state leaks from one classify() call to the next."""
        examples = inputs[self.input_name][:count]
        repeated = [self.classify(example) for example in examples]
        fresh = []
        for example in examples:
            with self._create() as classifier:
                fresh.append(self._scores(classifier.classify(self._raw(example))))
        return float(max((np.max(np.abs(a - b)) for a, b in zip(repeated, fresh)), default=0.0))

    # -- runtime interface --------------------------------------------------------------------
    def fed_inputs(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The model inputs MediaPipe actually computes on (images rounded to whole pixels)."""
        if self.kind != "image":
            return inputs
        value = inputs[self.input_name]
        return {**inputs, self.input_name: np.clip(np.round(value * PIXEL_LEVELS), 0, 255).astype(np.float32) / PIXEL_LEVELS}

    def predict(self, inputs: dict[str, np.ndarray], batch_size: int = 1) -> np.ndarray:
        if self.input_name not in inputs:
            raise UserError(f"{self.path}: input {self.input_name!r} missing")
        outputs = [self.classify(example) for example in inputs[self.input_name]]
        width = max(len(o) for o in outputs) if outputs else 0
        return np.stack([np.pad(o, (0, width - len(o))) for o in outputs]) if outputs else np.zeros((0, 0), np.float32)

    def details(self) -> dict[str, Any]:
        import mediapipe

        return {"api": f"mediapipe.tasks {self.kind} classifier", "mediapipe": mediapipe.__version__,
                "fresh_per_call": self.fresh_per_call}

    def close(self) -> None:
        if self._classifier is not None:
            self._classifier.close()
            self._classifier = None
