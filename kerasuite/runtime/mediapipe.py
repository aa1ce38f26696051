"""Run an exported classifier through MediaPipe Tasks, as an Android, iOS or web app would.

MediaPipe takes raw data, not model tensors: an RGB uint8 image, a waveform with its sample rate,
a string. ``MediaPipeClassifier.predict`` turns model inputs back into that raw form (pixels =
round(value * std + mean) with the file's own normalization, std 255 for pixel / 255; the
waveform as is; token ids -> the vocabulary words joined by spaces) and
collects every category's score in output order. Images are exact only when the model inputs
are whole pixels / 255 (the image decoder rounds after resizing, as a camera frame is uint8).

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


MEDIAPIPE_TASKS = {"image_classification": "image", "keyword_spotting": "audio", "text_classification": "text"}
ACCEPTED_INPUTS = {"image": ("uint8", "float32"), "audio": ("float32",), "text": ("int32",)}
ACCEPTED_OUTPUTS = ("float32", "uint8")


def applicability(mode: str, description: dict) -> str | None:
    """None when MediaPipe Tasks can run this file (a mode's signature.json entry), else why not."""
    import importlib.util

    kind = MEDIAPIPE_TASKS.get(description.get("task", ""))
    if kind is None and description.get("device_kind") == "image":  # a user's model, --image-input
        kind = "image"
    if kind is None:
        task = description.get("task")
        return (f"MediaPipe Tasks has no classifier for {task}" if task else
                "MediaPipe Tasks judges the files of kerasuite's classifier tasks (image, text, keyword "
                "spotting), whose bundles carry the metadata it reads, and a user's image classifier exported "
                "with --image-input NAME (and --pixel-scale); this file is neither")
    inputs, outputs = description.get("inputs", []), description.get("outputs", [])
    if any(t["name"] == "ngram_ids" for t in inputs):
        return "the ngram family's hashed n-gram ids: MediaPipe's text tokenizers produce word ids only"
    refused = [f"input {t['name']} {t['dtype']}" for t in inputs if t["dtype"] not in ACCEPTED_INPUTS[kind]]
    refused += [f"output {t['name']} {t['dtype']}" for t in outputs if t["dtype"] not in ACCEPTED_OUTPUTS]
    if refused:
        return (f"MediaPipe takes {'/'.join(ACCEPTED_INPUTS[kind])} {kind} input and float32/uint8 scores, "
                f"this file has {', '.join(refused)} (the int8_float_io file is the one for MediaPipe)")
    if {"UNIDIRECTIONAL_SEQUENCE_LSTM", "BIDIRECTIONAL_SEQUENCE_LSTM"} & set(description.get("ops", [])):
        # Measured with mediapipe 1.2.3: a stateful file drifts between classify() calls (MediaPipe
        # never resets variables), and the stateless rewrite (kerasuite.export.stateless_lstm) is
        # refused at load: "Output tensor .. to op .. (MUL) is a variable".
        return ("fused LSTM: MediaPipe never resets its state between classify() calls, and its TFLite "
                "refuses the file's stateless rewrite (an op writing a variable tensor); export with "
                "export.lstm=unrolled (stateless builtin ops) for MediaPipe, or run this file in LiteRT/TFLM")
    if description.get("keeps_state"):
        return ("the file keeps LSTM state between invocations and MediaPipe never resets it: repeated "
                "classify() calls drift from fresh ones (up to 0.94 measured on a tiny text LSTM); "
                "export with export.lstm=unrolled")
    if importlib.util.find_spec("mediapipe") is None:
        return "mediapipe is not installed (pip install mediapipe)"
    return None


def kind_from_metadata(found: dict | None) -> tuple[str, dict]:
    """(image | audio | text, the input tensor's metadata) from ``kerasuite.export.metadata.read``."""
    if not found:
        return "", {}
    tensor = found["subgraphMetadata"][0]["inputTensorMetadata"][0]
    content_type = tensor.get("content", {}).get("contentPropertiesType")
    units = [u.get("optionsType") for u in tensor.get("processUnits", [])]
    if content_type == 2:  # ImageProperties
        return "image", tensor
    if content_type == 4:  # AudioProperties
        return "audio", tensor
    if 6 in units:  # RegexTokenizerOptions
        return "text", tensor
    return "", tensor


class MediaPipeClassifier:
    """Everything MediaPipe needs comes from the file's metadata, as on a phone."""

    def __init__(self, path: str | Path, fresh_per_call: bool = False):
        from kerasuite.export import metadata

        self.path = Path(path)
        found = metadata.read(self.path)
        self.kind, tensor = kind_from_metadata(found)
        if not self.kind:
            raise UserError(f"{self.path}: no image, audio or text classifier metadata for MediaPipe Tasks")
        self.input_name = tensor["name"]
        # a float image input sees (pixel - mean) / std (the metadata's NormalizationOptions)
        normalization = next((unit["options"] for unit in tensor.get("processUnits", []) if unit["optionsType"] == 1),
                             {"mean": [0.0], "std": [PIXEL_LEVELS]})
        self.pixel_mean, self.pixel_std = float(normalization["mean"][0]), float(normalization["std"][0])
        self.sample_rate = tensor.get("content", {}).get("contentProperties", {}).get("sampleRate")
        self.vocabulary = None
        if self.kind == "text":
            tokenizer = next(u["options"] for u in tensor["processUnits"] if u["optionsType"] == 6)
            lines = found["files"][tokenizer["vocabFile"][0]["name"]]["text"].splitlines()
            self.vocabulary = {}
            for line in lines:  # the first spelling listed for an id is the training word
                token, _, index = line.rpartition(" ")
                self.vocabulary.setdefault(int(index), token)
        self.fresh_per_call = fresh_per_call
        self.repeated_vs_fresh_max_abs_diff: float | None = None
        self._classifier = None

    # -- MediaPipe ---------------------------------------------------------------------------
    def _create(self):
        from kerasuite.quiet import native_stderr_silenced

        with native_stderr_silenced():  # MediaPipe's TFLite announces its XNNPACK delegate natively
            return self._create_loud()

    def _create_loud(self):
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

            pixels = np.clip(np.round(example * self.pixel_std + self.pixel_mean), 0, 255).astype(np.uint8)
            return Image(image_format=ImageFormat.SRGB, data=np.ascontiguousarray(pixels))
        if self.kind == "audio":
            from mediapipe.tasks.python.components.containers.audio_data import AudioData

            return AudioData.create_from_array(np.asarray(example, np.float32).reshape(-1), float(self.sample_rate))
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
        scores = np.zeros(count, np.float32)
        for category in head.categories:
            scores[category.index] = category.score
        return scores

    def classify(self, example: np.ndarray) -> np.ndarray:
        raw = self._raw(example)
        if self.fresh_per_call or self._classifier is None:
            with self._create() as classifier:
                return self._scores(classifier.classify(raw))
        return self._scores(self._classifier.classify(raw))

    # -- runtime interface --------------------------------------------------------------------
    def predict(self, inputs: dict[str, np.ndarray], batch_size: int = 1) -> np.ndarray:
        """One classifier for the whole batch, as an app keeps one; afterwards the first few
        examples again with a fresh classifier each (``repeated_vs_fresh_max_abs_diff``)."""
        if self.input_name not in inputs:
            raise UserError(f"{self.path}: input {self.input_name!r} missing")
        examples = inputs[self.input_name]
        if not self.fresh_per_call:
            self._classifier = self._create()
        try:
            outputs = [self.classify(example) for example in examples]
        finally:
            self.close()
        fresh = []
        for example in examples[:4]:
            with self._create() as classifier:
                fresh.append(self._scores(classifier.classify(self._raw(example))))
        self.repeated_vs_fresh_max_abs_diff = float(max((np.max(np.abs(a - b)) for a, b in zip(outputs, fresh)), default=0.0))
        width = max((len(o) for o in outputs), default=0)
        return np.stack([np.pad(o, (0, width - len(o))) for o in outputs]) if outputs else np.zeros((0, 0), np.float32)

    def details(self) -> dict[str, Any]:
        import mediapipe

        return {"api": f"mediapipe.tasks {self.kind} classifier", "mediapipe": mediapipe.__version__,
                "fresh_per_call": self.fresh_per_call,
                "repeated_vs_fresh_max_abs_diff": self.repeated_vs_fresh_max_abs_diff}

    def close(self) -> None:
        if self._classifier is not None:
            self._classifier.close()
            self._classifier = None
