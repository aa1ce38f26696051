"""Streaming keyword spotting: false alarms per hour and misses, with numpy + LiteRT only.

    python tools/make_keywords.py --out data/keywords_hard --preset sc12-hard
    python -m kerasuite.train --task keyword_spotting --data folder:data/keywords_hard --run-dir runs/kws_hard
    python tools/benchmark_streaming.py --model runs/kws_hard/bundle/model_int8.tflite \\
        --data data/keywords_hard --minutes 60

Two recordings are synthesized from the data set's **test** split (voices never used in training)
and its ``_background_noise_`` folder, and run through the same detector as
``python -m kerasuite.edge MODEL --input LONG.wav --stream`` (``kerasuite.runtime.streaming``):

- *negatives*: ``--minutes`` of back-to-back ``_silence_`` and ``_unknown_`` test clips (random
  order, gain -12..0 dB) over a continuous background-noise bed at -30 dB; every detection
  is a false alarm, reported per hour;
- *positives*: every keyword test clip embedded once in the same kind of audio, one every
  ``--spacing`` seconds; a word counts as found when a detection of its label falls within
  [onset - 0.25 s, onset + 1.5 s] of the clip's start, else it is a miss.

Writes OUT/streaming.json and prints a Markdown table; ``--write-results`` also writes
``results/streaming.json``, the README's streaming table (``python tools/readme_tables.py``). The
clips repeat in a long negative recording (a test split has a few dozen silence/unknown clips),
with new gains and neighbours.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kerasuite.runtime.streaming import NON_KEYWORDS, StreamSettings, detect, window_posteriors  # noqa: E402


def _clips(folder: Path, sample_rate: int, length: int) -> dict[str, list[np.ndarray]]:
    from kerasuite.runtime.audio import load_clip

    out: dict[str, list[np.ndarray]] = {}
    for class_dir in sorted(p for p in (folder / "test").iterdir() if p.is_dir()):
        out[class_dir.name] = [load_clip(f, sample_rate, length) for f in sorted(class_dir.glob("*.wav"))]
    return out


def _noise_bed(folder: Path, seconds_total: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    from kerasuite.runtime.audio import read_wav, resample, to_mono

    files = sorted((folder / "_background_noise_").glob("*.wav"))
    bank = [resample(to_mono(read_wav(f)[0]), read_wav(f)[1], sample_rate) for f in files]
    pieces, have = [], 0
    while have < seconds_total:
        clip = bank[int(rng.integers(len(bank)))]
        pieces.append(clip / (np.abs(clip).max() + 1e-9) * 10 ** (-30 / 20))
        have += len(clip)
    return np.concatenate(pieces)[:seconds_total].astype(np.float32)


def negatives(clips: dict[str, list[np.ndarray]], seconds: float, rate: int, length: int,
              bed: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    pool = [c for label in NON_KEYWORDS for c in clips.get(label, [])]
    count = int(seconds * rate // length)
    recording = bed[: count * length].copy()
    for i in range(count):
        clip = pool[int(rng.integers(len(pool)))]
        recording[i * length:(i + 1) * length] += clip * 10 ** (rng.uniform(-12, 0) / 20)
    return np.clip(recording, -1, 1)


def positives(clips: dict[str, list[np.ndarray]], spacing: float, rate: int, length: int,
              bed_for, rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[float, str]]]:
    words = [(label, c) for label, group in clips.items() if label not in NON_KEYWORDS for c in group]
    order = rng.permutation(len(words))
    step = int(spacing * rate)
    total = (len(words) + 1) * step
    recording = negatives(clips, total / rate, rate, length, bed_for(total), rng)
    truth = []
    for slot, index in enumerate(order):
        label, clip = words[index]
        start = (slot + 1) * step - length // 2
        recording[start:start + length] = clip * 10 ** (rng.uniform(-6, 0) / 20) + bed_for(length)
        truth.append((start / rate, label))
    return np.clip(recording, -1, 1), truth


def score(detections, truth: list[tuple[float, str]]) -> dict:
    used, found = set(), 0
    for onset, label in truth:
        match = next((i for i, d in enumerate(detections) if i not in used and d.label == label
                      and onset - 0.25 <= d.seconds <= onset + 1.5), None)
        if match is not None:
            used.add(match)
            found += 1
    return {"words": len(truth), "found": found, "miss_rate": 1 - found / max(1, len(truth)),
            "false_alarms": len(detections) - len(used)}


def main(argv: list[str] | None = None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a keyword-spotting bundle's .tflite file")
    parser.add_argument("--data", required=True, help="a make_keywords.py folder (its test/ and _background_noise_/)")
    parser.add_argument("--minutes", type=float, default=60.0, help="length of the negative recording")
    parser.add_argument("--spacing", type=float, default=3.0, help="seconds between embedded test words")
    parser.add_argument("--hop", type=float, default=0.25)
    parser.add_argument("--smooth", type=int, default=None,
                        help="windows whose posteriors are averaged before the threshold (default: "
                             f"{StreamSettings.smooth_seconds} s of them at --hop, as kerasuite.edge --stream does)")
    parser.add_argument("--thresholds", default="0.6,0.7,0.8,0.9")
    parser.add_argument("--out", default="runs/benchmark_streaming")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write-results", action="store_true",
                        help="also write results/streaming.json, the README's streaming table")
    args = parser.parse_args(argv)

    from kerasuite.edge import bundle_dir_of, load_signature
    from kerasuite.io_utils import write_json_atomic
    from kerasuite.runtime.interpreter import TFLiteModel

    # a word's match range is [onset - 0.25 s, onset + 1.5 s]: closer words would share detections
    if args.spacing < 1.75 or args.minutes <= 0:
        parser.error(f"--spacing {args.spacing} / --minutes {args.minutes}: the spacing must be at least 1.75 s "
                     "(a word's match range) and the minutes above 0")
    model_path, folder = Path(args.model), Path(args.data)
    if not model_path.is_file() or not (folder / "test").is_dir():
        print(f"error: need --model FILE and --data FOLDER with test/ ({model_path}, {folder})", file=sys.stderr)
        return 2
    signature = load_signature(model_path)
    preprocessing = signature["preprocessing"]
    labels = (bundle_dir_of(model_path) / signature["labels"]).read_text().splitlines()
    rate, length = int(preprocessing["sample_rate"]), int(preprocessing["samples"])
    rng = np.random.default_rng(args.seed)
    clips = _clips(folder, rate, length)
    negative = negatives(clips, args.minutes * 60, rate, length, _noise_bed(folder, int(args.minutes * 60 * rate), rate, rng), rng)
    positive, truth = positives(clips, args.spacing, rate, length, lambda n: _noise_bed(folder, n, rate, rng), rng)
    model = TFLiteModel(model_path)
    started = time.perf_counter()
    StreamSettings(hop_seconds=args.hop, smooth_windows=args.smooth).check(length / rate)
    # Posteriors once per recording; the thresholds only change the detector.
    negative_posteriors, negative_centres, _ = window_posteriors(model.predict, [negative], preprocessing, args.hop)
    positive_posteriors, positive_centres, _ = window_posteriors(model.predict, [positive], preprocessing, args.hop)
    results = {"model": str(model_path), "data": str(folder), "negative_minutes": args.minutes,
               "positive_words": len(truth), "hop_seconds": args.hop,
               "smooth_windows": StreamSettings(hop_seconds=args.hop, smooth_windows=args.smooth).windows_to_smooth(),
               "rows": []}
    for threshold in [float(t) for t in args.thresholds.split(",")]:
        settings = StreamSettings(hop_seconds=args.hop, threshold=threshold, smooth_windows=args.smooth)
        false_alarms = detect(negative_posteriors, labels, length / rate, settings, negative_centres)
        found = detect(positive_posteriors, labels, length / rate, settings, positive_centres)
        positive_score = score(found, truth)
        results["rows"].append({
            "threshold": threshold, "false_alarms": len(false_alarms),
            "false_alarms_per_hour": len(false_alarms) / (args.minutes / 60.0),
            "miss_rate": positive_score["miss_rate"], "false_alarms_in_positive_recording": positive_score["false_alarms"],
        })
    results["seconds"] = round(time.perf_counter() - started, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "streaming.json", results)
    print(f"\nstreaming on {folder} ({args.minutes:g} min of negatives, {len(truth)} embedded test words, "
          f"hop {args.hop} s, smoothing over {results['smooth_windows']} windows, {model_path.name})\n")
    print("| threshold | false alarms / hour | miss rate | false alarms among the embedded words |")
    print("|---|---|---|---|")
    for row in results["rows"]:
        print(f"| {row['threshold']:.2f} | {row['false_alarms_per_hour']:.1f} | {row['miss_rate']:.3f} | "
              f"{row['false_alarms_in_positive_recording']} |")
    if args.write_results:
        from tools.readme_tables import write_results

        command = "python tools/benchmark_streaming.py " + " ".join(argv if argv is not None else sys.argv[1:])
        path = write_results("streaming", command, {"thresholds": results_table(results)},
                             model=str(model_path), model_provenance=_provenance(model_path), data=str(folder))
        print(f"wrote {path}")
    return 0


def _provenance(model_path: Path) -> dict:
    """Which training run made the model (the bundle's provenance.json), so the results file
    names it even after the run folder is gone."""
    try:
        provenance = json.loads((model_path.parent / "provenance.json").read_text())
    except (OSError, ValueError):
        return {}
    return {"created_utc": provenance.get("created_utc"), "kerasuite_commit": provenance.get("kerasuite_commit"),
            **{key: provenance.get("data", {}).get(key) for key in ("source", "seed", "run_dir", "heldout_examples")}}


def results_table(results: dict) -> dict:
    """The README's streaming table: per threshold, false alarms per hour of negatives (with the
    raw count, so a zero is read against the recording's length) and the miss rate."""
    minutes = results["negative_minutes"]
    default = StreamSettings().threshold
    rows = [[f"{row['threshold']:g}" + (" (default)" if row["threshold"] == default else ""),
             f"{row['false_alarms_per_hour']:.0f} ({row['false_alarms']} in {minutes:g} min)",
             round(row["miss_rate"], 3), row["false_alarms_in_positive_recording"]]
            for row in results["rows"]]
    return {"columns": ["threshold", "false alarms / hour (count)", f"miss rate ({results['positive_words']} words)",
                        "false alarms among the embedded words"], "rows": rows}


if __name__ == "__main__":
    sys.exit(main())
