"""Exported classifiers are drop-in models for MediaPipe Tasks: ``mediapipe.tasks`` loads them from
the embedded metadata alone and scores raw inputs (PNG files, .wav files, strings) like Keras.

Each test trains a tiny model through the real CLI, then classifies raw files with MediaPipe's own
Python API, the way an app developer would, and compares with the Keras model on the inputs the
kerasuite device readers make of the same files.
"""

import json
import wave

import numpy as np
import pytest

from harness import load_keras_file
from helpers import run_tiny

# mediapipe is a test dependency (pyproject [test]): without it these tests fail, they are not skipped
import mediapipe  # noqa: E402,F401

FLOAT32_TOLERANCE = 1e-4  # export.parity.float32.max_abs_diff
INT8_TOLERANCE = 0.05  # a few output quantization steps (1/256) of a probability


def _base_options(path):
    from mediapipe.tasks.python.core.base_options import BaseOptions

    return BaseOptions(model_asset_path=str(path))


def _scores(result, classes: int) -> np.ndarray:
    scores = np.zeros(classes, np.float32)
    for category in result.classifications[0].categories:
        scores[category.index] = category.score
    return scores


def _keras(run_dir, inputs):
    model = load_keras_file(run_dir / "model.keras")
    return model.predict(inputs, verbose=0)


def _write_png(path, pixels: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(pixels).save(path)


def _verdicts(bundle):
    return {mode: found["runtimes"]["mediapipe"] for mode, found in json.loads((bundle / "parity.json").read_text()).items()}


def test_image_classifier_takes_the_files_for_it(tmp_path):
    """A 16x16 model trained on the 8x8 grayscale digits; MediaPipe gets the raw 8x8 digits as
    RGB PNG files and resizes them itself: its resize and kerasuite's must give the same model input."""
    from mediapipe.tasks.python import vision
    from sklearn.datasets import load_digits

    from kerasuite.runtime.image import read_image

    run_tiny("image_classification", tmp_path, modes="float32,int8,int8_float_io",
             extra={"data.image.height": "16", "data.image.width": "16", "train.learning_rate": "0.01",
                    "train.epochs": "6"})
    bundle = tmp_path / "bundle"
    signature = json.loads((bundle / "signature.json").read_text())
    assert signature["preprocessing"]["channels"] == 3 and signature["preprocessing"]["trained_channels"] == 1
    digits = load_digits()
    pngs = []
    for i in range(12):  # the bundled digits as a camera would give them: 8-bit RGB at their own size
        pngs.append(tmp_path / f"digit{i}.png")
        _write_png(pngs[-1], np.repeat(np.round(digits.images[-i - 1] * 255 / 16).astype(np.uint8)[..., None], 3, -1))
    device_inputs = np.concatenate([read_image(str(p), signature["preprocessing"], bundle)["image"] for p in pngs])
    assert device_inputs.shape == (12, 16, 16, 3)
    # the run's own Keras model is 1-channel; the shipped graph converts RGB itself
    expected = _keras(tmp_path / "run", {"image": device_inputs[..., :1]})
    classes = expected.shape[1]

    for mode, tolerance in (("float32", FLOAT32_TOLERANCE), ("int8_float_io", INT8_TOLERANCE)):
        options = vision.ImageClassifierOptions(base_options=_base_options(bundle / f"model_{mode}.tflite"), max_results=-1)
        with vision.ImageClassifier.create_from_options(options) as classifier:
            got = np.stack([_scores(classifier.classify(mediapipe.Image.create_from_file(str(p))), classes) for p in pngs])
        assert np.abs(got - expected).max() <= tolerance, (mode, np.abs(got - expected).max())
    verdicts = _verdicts(bundle)
    assert verdicts["float32"]["status"] == verdicts["int8_float_io"]["status"] == "passed"
    assert verdicts["int8"]["status"] == "not_applicable" and "int8_float_io" in verdicts["int8"]["reason"]
    assert signature["modes"]["int8_float_io"]["inputs"][0]["dtype"] == "uint8"
    assert "mediapipe" in signature["modes"]["int8_float_io"]["for_runtimes"]
    assert "mediapipe" not in signature["modes"]["int8"]["for_runtimes"]
    with pytest.raises((RuntimeError, ValueError), match="INT8|int8"):  # the reason is true
        vision.ImageClassifier.create_from_model_path(str(bundle / "model_int8.tflite"))


def _write_wav(path, waveform: np.ndarray, rate: int) -> None:
    pcm = np.clip(np.round(waveform * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(pcm.tobytes())


def test_audio_classifier_takes_wav_files(tmp_path):
    from mediapipe.tasks.python import audio
    from mediapipe.tasks.python.components.containers.audio_data import AudioData

    from kerasuite.runtime.audio import read_audio

    # parity with MediaPipe is the point here, not learning: two epochs on tones may not beat the majority class
    run_tiny("keyword_spotting", tmp_path, modes="float32,int8_float_io", extra={"train.check_baseline": "false"})
    bundle = tmp_path / "bundle"
    signature = json.loads((bundle / "signature.json").read_text())
    preprocessing = signature["preprocessing"]
    golden = np.load(bundle / "golden.npz")
    waveforms = []
    for i, clip in enumerate(golden["input__waveform"]):
        path = tmp_path / f"clip{i}.wav"
        _write_wav(path, clip, preprocessing["sample_rate"])
        waveforms.append(read_audio(str(path), preprocessing, bundle)["waveform"])
    waveforms = np.concatenate(waveforms)
    expected = _keras(tmp_path / "run", {"waveform": waveforms})
    classes = expected.shape[1]
    for mode, tolerance in (("float32", FLOAT32_TOLERANCE), ("int8_float_io", INT8_TOLERANCE)):
        options = audio.AudioClassifierOptions(base_options=_base_options(bundle / f"model_{mode}.tflite"),
                                               max_results=-1, running_mode=audio.RunningMode.AUDIO_CLIPS)
        with audio.AudioClassifier.create_from_options(options) as classifier:
            results = [classifier.classify(AudioData.create_from_array(w, float(preprocessing["sample_rate"])))
                       for w in waveforms]
        assert all(len(r) == 1 for r in results)  # a clip of the model's length is one window
        got = np.stack([_scores(r[0], classes) for r in results])
        assert np.abs(got - expected).max() <= tolerance, mode
    verdicts = _verdicts(bundle)
    assert verdicts["float32"]["status"] == verdicts["int8_float_io"]["status"] == "passed"


MIXED_CASE = [
    "{0}, {1}! {2} {3}.",
    "{0}: \"{1}\" ({2}) {3}?",
]


def test_text_classifier_takes_raw_mixed_case_punctuated_strings(tmp_path):
    from mediapipe.tasks.python import text

    from kerasuite.runtime.text import Tokenizer, read_vocabulary

    run_tiny("text_classification", tmp_path, modes="float32,int8_float_io", family="transformer",
             extra={"model.transformer.embedding_dim": "8", "model.transformer.num_heads": "1",
                    "model.transformer.ff_dim": "8", "model.transformer.num_blocks": "1"})
    bundle = tmp_path / "bundle"
    signature = json.loads((bundle / "signature.json").read_text())
    vocabulary = read_vocabulary(bundle / "vocab.txt")
    rng = np.random.default_rng(0)
    words = vocabulary[2:]
    raw = []
    for i in range(8):
        picked = [words[j] for j in rng.choice(len(words), 4)]
        styled = [w.upper() if k % 3 == 0 else w.capitalize() if k % 3 == 1 else w for k, w in enumerate(picked)]
        raw.append(MIXED_CASE[i % 2].format(*styled) + " zzzunknownzzz")
    tokenizer = Tokenizer(vocabulary, signature["preprocessing"]["sequence_length"], signature["preprocessing"]["standardize"])
    expected = _keras(tmp_path / "run", {"tokens": tokenizer.encode_batch(raw)})
    classes = expected.shape[1]
    for mode, tolerance in (("float32", FLOAT32_TOLERANCE), ("int8_float_io", INT8_TOLERANCE)):
        options = text.TextClassifierOptions(base_options=_base_options(bundle / f"model_{mode}.tflite"), max_results=-1)
        with text.TextClassifier.create_from_options(options) as classifier:
            got = np.stack([_scores(classifier.classify(t), classes) for t in raw])
        assert np.abs(got - expected).max() <= tolerance, mode
    verdicts = _verdicts(bundle)
    assert verdicts["float32"]["status"] == "passed"
    assert verdicts["float32"]["repeated_vs_fresh_max_abs_diff"] == 0.0  # no state in a transformer


def test_a_stateful_lstm_file_is_judged_for_mediapipe_by_what_it_does(tmp_path):
    """Repeated classify() calls must equal fresh ones. A file whose fused LSTM keeps state between
    invocations is not for MediaPipe (it never resets variables) and says why; a stateless one passes
    with no drift between repeated and fresh calls."""
    run_tiny("text_classification", tmp_path, modes="float32", extra={"train.check_baseline": "false"})
    bundle = tmp_path / "bundle"
    described = json.loads((bundle / "signature.json").read_text())["modes"]["float32"]
    verdict = _verdicts(bundle)["float32"]
    # The file is stateless for LiteRT and TFLM (tests/test_tflm.py), but MediaPipe 1.2's TFLite
    # refuses that rewrite, and without it MediaPipe drifts: it must say so, never fail or pass.
    assert not described["keeps_state"]
    assert verdict["status"] == "not_applicable" and "never resets" in verdict["reason"], verdict
    assert "mediapipe" not in described["for_runtimes"]


def test_an_unrolled_lstm_is_a_stateless_mediapipe_text_model(tmp_path):
    """export.lstm=unrolled: MediaPipe's TextClassifier loads the LSTM file, repeated classify()
    calls equal fresh ones, and both LiteRT APIs judge it (no variable tensors)."""
    from mediapipe.tasks.python import text

    from kerasuite.runtime.text import Tokenizer, read_vocabulary

    run_tiny("text_classification", tmp_path, modes="float32,int8_float_io",
             extra={"train.check_baseline": "false", "export.lstm": "unrolled"})
    bundle = tmp_path / "bundle"
    signature = json.loads((bundle / "signature.json").read_text())
    for mode in ("float32", "int8_float_io"):
        described = signature["modes"][mode]
        assert "UNIDIRECTIONAL_SEQUENCE_LSTM" not in described["ops"] and not described["variable_tensors"]
        runtimes = described["runtimes"]
        assert runtimes["mediapipe"]["status"] == "passed", runtimes["mediapipe"]
        assert runtimes["mediapipe"]["repeated_vs_fresh_max_abs_diff"] == 0.0
        assert runtimes["litert_compiled"]["status"] == "passed", runtimes["litert_compiled"]
        assert "mediapipe" in described["for_runtimes"]
    vocabulary = read_vocabulary(bundle / "vocab.txt")
    raw = [" ".join(vocabulary[2 + i: 6 + i]).upper() + "!" for i in range(4)]
    tokenizer = Tokenizer(vocabulary, signature["preprocessing"]["sequence_length"],
                          signature["preprocessing"]["standardize"])
    expected = _keras(tmp_path / "run", {"tokens": tokenizer.encode_batch(raw)})
    options = text.TextClassifierOptions(base_options=_base_options(bundle / "model_float32.tflite"), max_results=-1)
    with text.TextClassifier.create_from_options(options) as classifier:
        first = np.stack([_scores(classifier.classify(t), expected.shape[1]) for t in raw])
        again = np.stack([_scores(classifier.classify(t), expected.shape[1]) for t in reversed(raw)])[::-1]
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - expected).max() <= FLOAT32_TOLERANCE
