"""Does a keyword bundle's file fire where Keras fires, at the streaming detector's thresholds?

    PYTHONPATH=. python tools/benchmarking/kws_threshold_agreement.py --run RUN --data data/keywords

Parity judges a keyword file by its top class; the streaming detector (``python -m kerasuite.edge
--stream``) also thresholds the top class's probability (0.7 by default), so a file whose
probabilities move while the top class holds could fire elsewhere. For each test clip, read as
the device reads it (``kerasuite.runtime.audio.read_audio`` with the bundle's preprocessing, peak
normalisation included), the Keras model of ``RUN/model.keras`` and each mode's file of the run's
bundle on LiteRT: top-1 agreement, the largest probability difference, and per threshold how many
clips' decisions (a keyword at or above it, or nothing) differ. Single-window decisions: the
detector's 3-window average and repeat suppression are left out.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

THRESHOLDS = (0.6, 0.7, 0.8, 0.9)


def decisions(probabilities: np.ndarray, threshold: float) -> np.ndarray:
    """The class each clip fires, or -1 where the top probability is under ``threshold``."""
    return np.where(probabilities.max(axis=1) >= threshold, probabilities.argmax(axis=1), -1)


def main(argv=None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, type=Path, help="a keyword_spotting run folder (model.keras, metrics.json)")
    parser.add_argument("--data", required=True, type=Path, help="a folder: data set with a test/ split")
    parser.add_argument("--bundle", type=Path, help="the run's edge bundle (default: the one its metrics.json names)")
    args = parser.parse_args(argv)
    for needed in (args.run / "model.keras", args.run / "metrics.json", args.data / "test"):
        if not needed.exists():
            parser.error(f"{needed}: not found (--run takes a keyword_spotting run folder, --data a data set folder)")

    import keras

    import kerasuite.models  # noqa: F401  (registers the MFCC layer for loading)
    from kerasuite.runtime.audio import read_audio
    from kerasuite.runtime.interpreter import TFLiteModel

    exports = json.loads((args.run / "metrics.json").read_text())["exports"]
    bundle = args.bundle or Path(next(iter(exports.values()))["path"]).parent  # relative to where it trained
    signature = json.loads((bundle / "signature.json").read_text())
    spec = signature["preprocessing"]
    paths = sorted(args.data.glob("test/*/*.wav"))
    clips = np.stack([read_audio(str(path), spec, bundle)[spec["input"]][0] for path in paths])
    model = keras.saving.load_model(args.run / "model.keras", compile=False)
    reference = np.asarray(model.predict(clips, verbose=0), np.float64)
    rows = []
    for mode, entry in signature["modes"].items():
        outputs = np.asarray(TFLiteModel(bundle / entry["file"]).predict({spec["input"]: clips}), np.float64)
        row = {"mode": mode, "clips": len(clips),
               "top1_agreement": float(np.mean(outputs.argmax(1) == reference.argmax(1))),
               "max_probability_diff": float(np.abs(outputs - reference).max())}
        for threshold in THRESHOLDS:
            keras_fires, file_fires = decisions(reference, threshold), decisions(outputs, threshold)
            row[f"at_{threshold}"] = {"decisions_differ": int(np.sum(keras_fires != file_fires)),
                                      "keras_fires": int(np.sum(keras_fires >= 0)),
                                      "file_fires": int(np.sum(file_fires >= 0))}
        rows.append(row)
    print(json.dumps({"run": str(args.run), "bundle": str(bundle), "data": str(args.data), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
