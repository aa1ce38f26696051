"""Does a word pair's decision lie in the vowel or in the consonants after it? (issue 21)

    PYTHONPATH=. python tools/benchmarking/kws_cue_probe.py --data data/keywords --words up off \
        --cell 'up_en-029_*' --set amin=0.02 --set amin=0.002

For each front-end setting (``--set KEY=VALUE ...`` of ``model.mfcc``, one probe per ``--set``;
none = the defaults), the project's own MFCC layer reads every clip of the two words; the
*nucleus* is the run of frames within 6 dB (c0) of the loudest one, the *coda* the 6 frames
(120 ms) after it. A logistic regression (scikit-learn, C=0.1) is fitted on the train split with
the nucleus' mean MFCCs, with the coda's MFCCs, and with both, and scored on the test split:
pair accuracy, and how many clips matching ``--cell`` (a file-name glob) it gets right.

A linear model has no room to memorise voices, so it shows what the features carry. If it gets a
cell right from the coda that a trained network misses, the network has learnt the pair from
the vowel alone, and a setting that hides the coda (the mel floor ``amin``, noise) is suspect.
"""

from __future__ import annotations

import fnmatch
import sys
from pathlib import Path

import numpy as np

NUCLEUS_DB = 6.0
CODA_FRAMES = 6


def parse_setting(text: str) -> dict:
    from kerasuite.hparams import MfccConfig

    fields = MfccConfig.__dataclass_fields__
    setting = {}
    for item in text.split(",") if text else []:
        key, _, value = item.partition("=")
        if key not in fields or not value:
            raise ValueError(f"--set {text}: {key!r} is not a model.mfcc key=value (keys: {', '.join(fields)})")
        kind = type(getattr(MfccConfig(), key))
        setting[key] = int(value) if kind is int else float(value)
    return setting


def nucleus_and_coda(mfcc: np.ndarray, c0_per_db: float) -> tuple[np.ndarray, np.ndarray]:
    """``[frames, coefficients]`` -> (the nucleus' mean MFCCs, the coda's MFCCs flattened), both
    relative to the loudest frame's c0 so that level does not count."""
    loudness = mfcc[:, 0] / c0_per_db
    peak = int(loudness.argmax())
    end = peak
    while end + 1 < len(loudness) and loudness[end + 1] > loudness[peak] - NUCLEUS_DB:
        end += 1
    start = peak
    while start > 0 and loudness[start - 1] > loudness[peak] - NUCLEUS_DB:
        start -= 1
    relative = mfcc - np.eye(mfcc.shape[1])[0] * mfcc[peak, 0]
    coda = relative[end + 1 : end + 1 + CODA_FRAMES]
    floor = relative.min(axis=0)
    coda = np.concatenate([coda, np.repeat(floor[None], CODA_FRAMES - len(coda), axis=0)])
    return relative[start : end + 1].mean(axis=0), coda.reshape(-1)


def main(argv=None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path, help="a folder: data set with train/ and test/")
    parser.add_argument("--words", nargs=2, required=True, metavar=("A", "B"), help="the two classes to separate")
    parser.add_argument("--cell", default="", help="file-name glob of test clips to count (e.g. 'up_en-029_*')")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE[,KEY=VALUE]",
                        help="model.mfcc settings of one probe; repeat for several (default: the defaults)")
    args = parser.parse_args(argv)
    for split in ("train", "test"):
        for word in args.words:
            if not (args.data / split / word).is_dir():
                print(f"error: --data {args.data}: no {split}/{word}/ folder", file=sys.stderr)
                return 2
    try:
        settings = [parse_setting(text) for text in args.set] or [{}]
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    from sklearn.linear_model import LogisticRegression

    from kerasuite.hparams import MfccConfig
    from kerasuite.models.speech import mfcc_layer
    from kerasuite.runtime.audio import load_clip

    clips = {split: [(label, path) for label, word in enumerate(args.words)
                     for path in sorted((args.data / split / word).glob("*.wav"))] for split in ("train", "test")}
    for setting in settings:
        front_end = mfcc_layer(MfccConfig(**setting), 16000)
        c0_per_db = float(front_end.dct_matrix[:, 0].sum())
        features, labels = {}, {}
        for split, items in clips.items():
            audio = np.stack([load_clip(str(path), 16000, 16000) for _, path in items])
            mfcc = np.concatenate([np.asarray(front_end(audio[i : i + 256])) for i in range(0, len(audio), 256)])
            pairs = [nucleus_and_coda(m, c0_per_db) for m in mfcc]
            features[split] = {"nucleus": np.stack([n for n, _ in pairs]), "coda": np.stack([c for _, c in pairs])}
            features[split]["both"] = np.hstack([features[split]["nucleus"], features[split]["coda"]])
            labels[split] = np.array([label for label, _ in items])
        cell = np.array([fnmatch.fnmatch(path.name, args.cell) for _, path in clips["test"]]) if args.cell else None
        name = ",".join(f"{k}={v:g}" for k, v in setting.items()) or "defaults"
        for part in ("nucleus", "coda", "both"):
            model = LogisticRegression(C=0.1, max_iter=5000).fit(features["train"][part], labels["train"])
            right = model.predict(features["test"][part]) == labels["test"]
            line = f"{name}: {part:7s} test pair accuracy {right.mean():.3f} ({right.sum()}/{len(right)})"
            if cell is not None:
                line += f", cell {args.cell}: {right[cell].sum()}/{cell.sum()} right"
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
