"""int8 parity of a trained keyword model with and without ``mel_low_gain``, same weights, both runtimes.

    PYTHONPATH=. python tools/benchmarking/kws_low_gain_before_after.py --run RUN_DIR --data data/keywords

The trained model's front end is rebuilt with ``model.mfcc.mel_low_gain`` 1 (one linear int8 mel
tensor before LOG) and 16 (small values' log from a 16x finer copy); the float function is the
same, so the weights carry over and Keras' outputs are identical. Each variant is converted to
int8 (the same calibration clips: ``--calibration`` peak-normalised training clips) and run on
every test clip in LiteRT and in TFLM. Reported per variant: accuracy, top-1 agreement with
Keras per runtime and between the runtimes, flash. Output: JSON on stdout.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def clips_of(folder: Path, split: str, labels: list[str], every: int = 1):
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


def with_gain(model, gain: float):
    return with_front_end(model, mel_low_gain=gain)


def main(argv: list[str] | None = None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a finished keyword_spotting run folder (model.keras)")
    parser.add_argument("--data", required=True, help="its folder data set (train/ and test/ class folders)")
    parser.add_argument("--gains", default="1,16")
    parser.add_argument("--calibration", type=int, default=200, help="training clips for int8 calibration")
    args = parser.parse_args(argv)

    import keras

    import kerasuite.models  # noqa: F401  registers the custom layers
    from kerasuite.export import tflite
    from kerasuite.runtime.interpreter import TFLiteModel
    from kerasuite.runtime.tflm import TFLMModel

    data = Path(args.data)
    labels = sorted(p.name for p in (data / "test").iterdir() if p.is_dir())
    test_x, test_y = clips_of(data, "test", labels)
    train_x, _ = clips_of(data, "train", labels)
    calibration = train_x[np.random.default_rng(0).choice(len(train_x), min(args.calibration, len(train_x)), replace=False)]
    model = keras.saving.load_model(Path(args.run) / "model.keras", safe_mode=True)
    keras_out = np.asarray(model.predict({"waveform": test_x}, verbose=0))
    report = {"run": args.run, "data": args.data, "test_clips": int(len(test_y)),
              "keras_accuracy": float(np.mean(keras_out.argmax(1) == test_y)), "variants": {}}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        np.savez(scratch / "rep.npz", input__waveform=calibration)
        for gain in [float(g) for g in args.gains.split(",")]:
            variant = with_gain(model, gain)
            variant.save(scratch / f"gain{gain:g}.keras")
            out = scratch / f"gain{gain:g}.tflite"
            size = tflite.convert(scratch / f"gain{gain:g}.keras", "int8", out, scratch / "rep.npz", batch_size=1)
            litert = TFLiteModel(out).predict({"waveform": test_x})
            tflm = TFLMModel(out).predict({"waveform": test_x})
            report["variants"][f"mel_low_gain={gain:g}"] = {
                "flash_bytes": size,
                "litert_accuracy": float(np.mean(litert.argmax(1) == test_y)),
                "tflm_accuracy": float(np.mean(tflm.argmax(1) == test_y)),
                "litert_agreement_with_keras": float(np.mean(litert.argmax(1) == keras_out.argmax(1))),
                "tflm_agreement_with_keras": float(np.mean(tflm.argmax(1) == keras_out.argmax(1))),
                "litert_tflm_agreement": float(np.mean(litert.argmax(1) == tflm.argmax(1))),
                "max_abs_diff_tflm_vs_keras": float(np.abs(tflm - keras_out).max()),
            }
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
