"""int8 parity of the keyword-spotting front end before/after ``lifter`` + ``db_offset``, same weights.

    PYTHONPATH=. python tools/benchmarking/speech_int8_frontend.py --model RUN/model.keras \\
        --data data/keywords_hard [--lifter 22 --db-offset 12]

A trained model is rebuilt with the new front end settings and the same weights; the
normalisation layer after the front end gets the moving statistics that undo the per-coefficient
gain and offset, so the two float models compute the same function (checked: max |diff| of the
probabilities is printed). Both are converted to int8 with the same calibration clips (training
split, peak-normalised, as the export does) and scored on the whole test split: top-1
agreement with Keras, int8 accuracy, Keras accuracy, and the MFCC tensor's int8 step relative to
each coefficient's spread. The export's converter runs in a child process (kerasuite.export.tflite).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def split_clips(folder: Path, split: str, labels: list[str], limit: int = 0):
    from kerasuite.runtime.audio import load_clip, normalize_peak

    clips, targets = [], []
    for index, label in enumerate(labels):
        paths = sorted((folder / split / label).glob("*.wav"))
        for path in paths[:limit or None]:
            clips.append(normalize_peak(load_clip(path, 16000, 16000), 0.05))
            targets.append(index)
    return np.stack(clips).astype(np.float32), np.asarray(targets)


def with_front_end(model, lifter: float, db_offset: float):
    """The same network with another lifter / dB offset, its mfcc_norm statistics mapped."""
    import keras

    from kerasuite.models.layers.mfcc import dct2_orthonormal

    config = model.get_config()
    for layer in config["layers"]:
        if layer["config"].get("name") == "mfcc":
            old = dict(layer["config"])
            layer["config"].update({"lifter": lifter, "db_offset": db_offset})
    new = keras.Model.from_config(config)
    new.set_weights(model.get_weights())
    old_layer, new_layer = model.get_layer("mfcc"), new.get_layer("mfcc")
    dct = dct2_orthonormal(old_layer.num_mel_bins, old_layer.num_coefficients)
    old_gain, new_gain = old_layer._lifter_gains(), new_layer._lifter_gains()
    old_offset = old.get("db_offset", 0.0) * dct.sum(axis=0) * old_gain
    new_offset = db_offset * dct.sum(axis=0) * new_gain
    # x_new = ratio * (x_old - old_offset) + new_offset, per coefficient
    ratio = new_gain / old_gain
    norm = new.get_layer("mfcc_norm")
    gamma, beta, mean, variance = [np.asarray(w) for w in model.get_layer("mfcc_norm").get_weights()]
    epsilon = norm.epsilon
    norm.set_weights([gamma, beta, ratio * (mean - old_offset) + new_offset,
                      ratio**2 * (variance + epsilon) - epsilon])
    return new


def convert_int8(model, path: Path, representative: np.ndarray, scratch: Path) -> None:
    from kerasuite.export import tflite

    keras_path = scratch / (path.stem + ".keras")
    model.save(keras_path)
    np.savez(scratch / "rep.npz", input__waveform=representative)
    tflite.convert(keras_path, "int8", path, scratch / "rep.npz")


def main(argv=None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--lifter", type=float, default=22.0)
    parser.add_argument("--db-offset", type=float, default=12.0)
    parser.add_argument("--calibration", type=int, default=20, help="training clips per class for calibration")
    parser.add_argument("--out", default="")
    args = parser.parse_args(argv)

    import keras

    import kerasuite.models  # noqa: F401
    from kerasuite.runtime.interpreter import TFLiteModel

    folder = Path(args.data)
    labels = sorted(p.name for p in (folder / "test").iterdir() if p.is_dir())
    test_x, test_y = split_clips(folder, "test", labels)
    calibration, _ = split_clips(folder, "train", labels, args.calibration)
    before = keras.saving.load_model(args.model, safe_mode=True)
    after = with_front_end(before, args.lifter, args.db_offset)
    results = {"model": args.model, "data": args.data, "test_clips": len(test_y), "lifter": args.lifter,
               "db_offset": args.db_offset}
    keras_out = {}
    for name, model in (("before", before), ("after", after)):
        keras_out[name] = model.predict({"waveform": test_x}, batch_size=64, verbose=0)
    results["float_max_abs_diff"] = float(np.abs(keras_out["before"] - keras_out["after"]).max())
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        for name, model in (("before", before), ("after", after)):
            path = scratch / f"{name}_int8.tflite"
            convert_int8(model, path, calibration, scratch)
            int8 = TFLiteModel(path).predict({"waveform": test_x})
            mfcc = np.asarray(model.get_layer("mfcc")(test_x[:96]))
            step = (max(mfcc.max(), 0) - min(mfcc.min(), 0)) / 255.0
            results[name] = {
                "keras_accuracy": float(np.mean(keras_out[name].argmax(-1) == test_y)),
                "int8_accuracy": float(np.mean(int8.argmax(-1) == test_y)),
                "int8_top1_agreement": float(np.mean(int8.argmax(-1) == keras_out[name].argmax(-1))),
                "int8_max_abs_diff": float(np.abs(int8 - keras_out[name]).max()),
                "mfcc_step_over_coefficient_std": [round(float(step / s), 3) for s in mfcc.std(axis=(0, 1))],
            }
    print(json.dumps(results, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
