"""Which test clips does a keyword model get wrong, and spoken by which voice? (issue 21)

    PYTHONPATH=. python tools/benchmarking/kws_confusion.py --run RUN [RUN ...] --data data/keywords
    PYTHONPATH=. python tools/benchmarking/kws_confusion.py --run RUN --data data/keywords --split train --per-accent up
    PYTHONPATH=. python tools/benchmarking/kws_confusion.py --run RUN --data data/keywords --only 'up/*_en-029_f*' \
        --sox "pitch -300" "pitch -600" "speed 0.85"

For each run folder (its ``model.keras``), the Keras model on ``DATA/<split>/<class>/*.wav`` (test
by default): accuracy, then the errors grouped as (true class -> predicted class, voice), the voice
read from the file name ``tools/make_keywords.py`` writes (``<word>_<accent>_<variant>_<n>.wav``).
Errors that repeat for one voice across runs (seeds, settings) point at the data, not at one model.
``--per-accent CLASS`` adds that class's clips right / clips per accent. ``--only GLOB`` keeps the
clips under the split whose path matches (``up/*_en-029_f*``); each ``--sox EFFECTS`` scores them
again after that sox effect chain (a pitch shift, a speed change: is the model's answer tied to
pitch or vocal tract length?).
"""

from __future__ import annotations

import collections
import sys
from pathlib import Path

import numpy as np


def voice_of(path: Path) -> str:
    parts = path.stem.split("_")
    return "_".join(parts[-3:-1]) if len(parts) >= 4 else path.stem


def load_transformed(path: Path, effects: str | None, rate: int, length: int, load_clip) -> np.ndarray:
    """The clip as the device reads it, after the sox effect chain ``effects`` (None: as it is)."""
    if effects is None:
        return load_clip(path, rate, length)
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "clip.wav"
        subprocess.run(["sox", str(path), str(out), *effects.split()], check=True, capture_output=True)
        return load_clip(out, rate, length)


def sox_refusal(path: Path, effects: str) -> str | None:
    """sox's own last line if it refuses ``effects`` on ``path``, else None."""
    import subprocess

    done = subprocess.run(["sox", str(path), "-n", *effects.split()], capture_output=True, text=True)
    lines = done.stderr.strip().splitlines()
    return None if done.returncode == 0 else (lines[-1] if lines else f"sox exited {done.returncode}")


def runs_and_effects(runs: list[Path], effect_chains: list[str], keras):
    """(run, its model, effects) for each run and each effect chain (None first: the clips as they
    are), each model loaded once."""
    for run in runs:
        model = keras.saving.load_model(run / "model.keras", compile=False)
        for effects in [None, *effect_chains]:
            yield run, model, effects


def main(argv=None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", nargs="+", required=True, type=Path, help="run folders holding model.keras")
    parser.add_argument("--data", required=True, type=Path, help="a folder: data set with a test/ split")
    parser.add_argument("--split", choices=("test", "train"), default="test", help="which split to score (default test)")
    parser.add_argument("--per-accent", metavar="CLASS", help="also print CLASS's clips right / clips per accent")
    parser.add_argument("--only", metavar="GLOB", help="score only the clips whose path under the split matches")
    parser.add_argument("--sox", nargs="+", default=[], metavar="EFFECTS",
                        help="also score the clips after each sox effect chain, e.g. 'pitch -300'")
    args = parser.parse_args(argv)
    test = args.data / args.split
    if not test.is_dir():
        print(f"error: --data {args.data}: no {args.split}/ folder", file=sys.stderr)
        return 2
    missing = [run for run in args.run if not (run / "model.keras").is_file()]
    if missing:
        print(f"error: --run {missing[0]}: no model.keras", file=sys.stderr)
        return 2


    classes = sorted(p.name for p in test.iterdir() if p.is_dir())
    if args.per_accent is not None and args.per_accent not in classes:
        print(f"error: --per-accent {args.per_accent}: no such class in {test} ({', '.join(classes)})", file=sys.stderr)
        return 2
    files = [(index, path) for index, name in enumerate(classes) for path in sorted((test / name).glob("*.wav"))
             if args.only is None or path.relative_to(test).match(args.only)]
    if not files:
        print(f"error: --only {args.only}: no clip in {test} matches", file=sys.stderr)
        return 2
    for effects in args.sox:  # a mistyped effect fails here, in one line, before any model loads
        refusal = sox_refusal(files[0][1], effects)
        if refusal:
            print(f"error: --sox {effects!r}: {refusal}", file=sys.stderr)
            return 2

    import keras

    import kerasuite.models.speech  # noqa: F401  registers the MFCC and SpecAugment layers
    from kerasuite.runtime.audio import load_clip
    truth = np.array([index for index, _ in files])
    clips_by_format: dict[tuple, np.ndarray] = {}  # the same clips for every run of one rate and length
    for run, model, effects in runs_and_effects(args.run, args.sox, keras):
        # the device's reader (any rate or channels -> the model's rate and length); the model's
        # front end does the peak normalisation itself
        rate, length = model.get_layer("mfcc").sample_rate, int(model.inputs[0].shape[-1])
        if (rate, length, effects) not in clips_by_format:
            clips_by_format[rate, length, effects] = np.stack(
                [load_transformed(path, effects, rate, length, load_clip) for _, path in files])
        predicted = np.asarray(model.predict(clips_by_format[rate, length, effects], verbose=0)).argmax(axis=1)
        wrong = collections.Counter(
            (classes[t], classes[p], voice_of(path)) for t, p, (_, path) in zip(truth, predicted, files) if t != p)
        label = f"{run}" + (f" after sox {effects}" if effects else "")
        print(f"{label}: accuracy {float((predicted == truth).mean()):.4f} on {len(truth)} clips, {sum(wrong.values())} errors")
        for (true_class, predicted_class, voice), count in wrong.most_common():
            print(f"  {true_class} -> {predicted_class}  {voice}: {count}")
        if args.per_accent is not None:
            tally = collections.defaultdict(lambda: [0, 0])  # accent -> [right, clips]
            for t, p, (_, path) in zip(truth, predicted, files):
                if classes[t] == args.per_accent:
                    accent = voice_of(path).rsplit("_", 1)[0]
                    tally[accent][0] += int(t == p)
                    tally[accent][1] += 1
            print(f"  {args.per_accent} per accent: " + ", ".join(f"{a} {r}/{n}" for a, (r, n) in sorted(tally.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
