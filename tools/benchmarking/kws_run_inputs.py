"""What the keyword-spotting probes share: ``--run``/``--data``/``--calibration``, the clips they
load (a finished run's model, every test clip, its Keras scores, and calibration clips drawn from
the training split), and the model rebuilt with other front-end settings. Not a tool itself."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


def add_run_arguments(parser) -> None:
    parser.add_argument("--run", required=True, help="a finished keyword_spotting run folder (model.keras)")
    parser.add_argument("--data", required=True, help="its folder data set (train/ and test/ class folders)")
    parser.add_argument("--calibration", type=int, default=200, help="training clips for calibration")


def check_run_arguments(parser, args) -> tuple[Path, Path]:
    """``(run, data)``, or one usage line and exit 2 (before TensorFlow is imported)."""
    run, data = Path(args.run), Path(args.data)
    if not (run / "model.keras").is_file():
        parser.error(f"--run {run}: no model.keras there")
    if args.calibration < 1:
        parser.error(f"--calibration {args.calibration}: needs at least one clip")
    if not (data / "test").is_dir() or not (data / "train").is_dir():
        parser.error(f"--data {data}: needs train/ and test/ class folders")
    return run, data


def clips_of(folder: Path, split: str, labels: list[str], every: int = 1):
    """A split's clips, peak-normalised as the training pipeline and devices do, and their labels."""
    from kerasuite.runtime.audio import load_clip, normalize_peak

    clips, targets = [], []
    for index, label in enumerate(labels):
        for path in sorted((folder / split / label).glob("*.wav"))[::every]:
            clips.append(normalize_peak(load_clip(path, 16000, 16000), 0.05))
            targets.append(index)
    return np.stack(clips).astype(np.float32), np.asarray(targets)


def with_front_end(model, **changes):
    """The trained model with its ``mfcc`` layer rebuilt with ``changes`` (settings that keep the
    float function, so the weights carry over)."""
    import keras

    config = model.get_config()
    for layer in config["layers"]:
        if layer["config"].get("name") == "mfcc":
            layer["config"].update(changes)
    rebuilt = keras.Model.from_config(config)
    rebuilt.set_weights(model.get_weights())
    return rebuilt


@dataclass
class RunInputs:
    model: object  # the loaded keras.Model
    test_x: np.ndarray
    test_y: np.ndarray
    keras_scores: np.ndarray  # Keras' output per test clip
    calibration: np.ndarray

    @property
    def reference(self) -> np.ndarray:
        """Keras' top-1 answer per test clip."""
        return self.keras_scores.argmax(1)


def load_run_inputs(run: Path, data: Path, calibration_clips: int) -> RunInputs:
    import keras

    import kerasuite.models  # noqa: F401  registers the custom layers

    labels = sorted(p.name for p in (data / "test").iterdir() if p.is_dir())
    test_x, test_y = clips_of(data, "test", labels)
    train_x, _ = clips_of(data, "train", labels)
    picked = np.random.default_rng(0).choice(len(train_x), min(calibration_clips, len(train_x)), replace=False)
    model = keras.saving.load_model(run / "model.keras", safe_mode=True)
    scores = np.asarray(model.predict({"waveform": test_x}, verbose=0))
    return RunInputs(model, test_x, test_y, scores, train_x[picked])
