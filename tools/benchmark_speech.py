"""Keyword-spotting benchmark: the easy and the harder offline set, several seeds, one run.

    python tools/make_keywords.py --out data/keywords
    python tools/make_keywords.py --out data/keywords_hard --preset sc12-hard
    python tools/benchmark_speech.py --data easy=folder:data/keywords hard=folder:data/keywords_hard \
        --families ds_cnn --seeds 1,2 --out runs/benchmark_speech

For each data set, model family and seed this runs the real training command
(``kerasuite.training.runner.run``: train, evaluate, export float32 + int8, parity) and reads its
metrics.json: Keras accuracy, int8 TFLite accuracy (raw waveform in) and top-1 agreement with
Keras, int8 file size and TFLite latency per one-second clip (``--quantized int16x8``: the same
for the int16x8 file instead of the int8 one); the table shows the mean over seeds
(and the spread). The peer is librosa MFCC statistics (mean and standard deviation over time of
the MFCCs and their deltas) + standardisation + logistic regression, trained on the same training
clips and scored on the same test clips. Results go to OUT/results.json and a Markdown table on
stdout.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def mfcc_statistics(clips: np.ndarray, sample_rate: int, mfcc_cfg) -> np.ndarray:
    import librosa

    features = []
    for clip in clips:
        mfcc = librosa.feature.mfcc(
            y=clip, sr=sample_rate, n_mfcc=13, n_fft=mfcc_cfg.fft_length, win_length=mfcc_cfg.frame_length,
            hop_length=mfcc_cfg.frame_step, n_mels=mfcc_cfg.num_mel_bins, fmin=mfcc_cfg.lower_hz,
            fmax=mfcc_cfg.upper_hz,
        )
        delta = librosa.feature.delta(mfcc)
        features.append(np.concatenate([mfcc.mean(1), mfcc.std(1), delta.mean(1), delta.std(1)]))
    return np.stack(features)


def sklearn_baseline(config) -> dict:
    """Logistic regression on MFCC statistics, on the split the models use."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from kerasuite.data import audio as audio_sources

    raw = audio_sources.load(config.data.source, config)
    length = audio_sources.clip_samples(config.data.audio)
    decode = audio_sources.decoder(length, config.model.mfcc.peak_floor)  # the input the models see

    def arrays(dataset):
        xs, ys = [], []
        for samples, label in dataset:
            inputs, label = decode(samples, label)
            xs.append(inputs["waveform"].numpy())
            ys.append(int(label))
        return np.stack(xs), np.asarray(ys)

    train_x, train_y = arrays(raw.train.concatenate(raw.validation) if raw.validation is not None else raw.train)
    test_x, test_y = arrays(raw.test)
    started = time.perf_counter()
    rate = config.data.audio.sample_rate
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
    classifier.fit(mfcc_statistics(train_x, rate, config.model.mfcc), train_y)
    accuracy = float(np.mean(classifier.predict(mfcc_statistics(test_x, rate, config.model.mfcc)) == test_y))
    return {"accuracy": accuracy, "train_examples": len(train_y), "test_examples": len(test_y),
            "seconds": round(time.perf_counter() - started, 1)}


def quantized_figures(export: dict, mode: str) -> dict:
    """The quantized file's numbers from metrics.json's ``exports[mode]``, keyed ``<mode>_...``."""
    return {
        f"{mode}_accuracy": export["eval"]["accuracy"],
        f"{mode}_top1_agreement": export["parity"]["top1_agreement"],
        f"{mode}_tflm_accuracy": (export["runtimes"].get("tflm", {}).get("eval") or {}).get("accuracy"),
        f"{mode}_tflm_agreement": export["runtimes"].get("tflm", {}).get("agreement"),
        f"{mode}_tflm_arena_bytes": export["runtimes"].get("tflm", {}).get("arena_bytes"),
        f"{mode}_size_bytes": export["size_bytes"],
        f"{mode}_latency_ms_p50": export["latency_ms"]["p50"],
    }


def run_family(family: str, data: str, seed: int, extra: list[str], epochs: int, out: Path,
               quantized: str = "int8") -> dict:
    import keras

    from kerasuite import config as cfg
    from kerasuite.training.runner import run

    # run folder and bundle side by side: an export may not replace a folder that holds its run
    sets = cfg.parse_set([f"model.family={family}", "train.verbose=2", f"run_dir={out / 'run'}",
                          f"export.dir={out / 'bundle'}", f"seed={seed}", *extra])
    flags = {"task": "keyword_spotting", "data.source": data, "export.modes": f"float32,{quantized}"}
    if epochs:
        flags["train.epochs"] = epochs
    config = cfg.resolve({}, sets, flags)
    keras.backend.clear_session()
    report = run(config, overwrite=True)
    export, float32 = report["exports"][quantized], report["exports"]["float32"]
    return {
        "keras_accuracy": report["eval"]["accuracy"],
        "float32_accuracy": float32["eval"]["accuracy"],
        **quantized_figures(export, quantized),
        "float32_size_bytes": float32["size_bytes"],
        "float32_latency_ms_p50": float32["latency_ms"]["p50"],
        f"{quantized}_ops": export["ops"],
        "params": int(keras.saving.load_model(out / "run" / "model.keras", safe_mode=True).count_params()),
        "epochs": report["train"]["epochs"],
        "train_seconds": report["train"]["seconds"],
        "parity_passed": all(e["parity"]["passed"] for e in report["exports"].values()),
    }


def measures(quantized: str = "int8") -> tuple[str, ...]:
    return ("keras_accuracy", "float32_latency_ms_p50", *(f"{quantized}_{name}" for name in (
        "accuracy", "top1_agreement", "tflm_accuracy", "tflm_agreement", "tflm_arena_bytes", "size_bytes",
        "latency_ms_p50")))


def summarize(runs: list[dict], quantized: str = "int8") -> dict:
    # A seed that failed parity keeps its numbers (they say by how much it failed), so it counts
    # in the means and is counted here by its mark, not by missing numbers.
    done = [r for r in runs if "keras_accuracy" in r]
    summary = {"seeds": len(runs), "parity_failed_seeds": sum("parity_failed" in r for r in runs)}
    for key in measures(quantized):
        values = [r[key] for r in done if r.get(key) is not None]
        if values:
            summary[key] = {"mean": float(np.mean(values)), "min": float(np.min(values)), "max": float(np.max(values))}
    return summary


def _cell(summary: dict, key: str, fmt: str) -> str:
    if key not in summary:
        return "-"
    value = summary[key]
    if value["min"] == value["max"]:
        return format(value["mean"], fmt)
    return f"{format(value['mean'], fmt)} ({format(value['min'], fmt)}-{format(value['max'], fmt)})"


def results_table(results: dict) -> dict[str, dict]:
    """The README's table (``tools/readme_tables.py`` renders it from results/speech.json)."""
    def mean(summary: dict, key: str):
        return summary[key]["mean"] if key in summary else None

    def rounded(summary: dict, key: str):
        return round(summary[key]["mean"], 2) if key in summary else None

    def spread(summary: dict, key: str):
        return f"{summary[key]['min']:.3f}-{summary[key]['max']:.3f}" if key in summary else None

    q = results.get("quantized", "int8")  # the quantized mode the runs exported beside float32
    columns = ["data (test clips)", "model", "seeds done", "Keras acc (mean)", "Keras acc (range)",
               f"{q} acc on TFLM (mean)", f"{q} agreement LiteRT (mean)", f"{q} agreement TFLM (mean)",
               f"seeds failing {q} parity", f"{q} bytes", "MFCC stats + logistic regression"]
    if q != "int8":  # what another mode costs beside the float32 file of the same runs
        columns += [f"{q} TFLM arena bytes (mean)", f"{q} LiteRT ms per clip (mean)", "float32 LiteRT ms per clip (mean)"]
    rows = []
    for name, entry in results["sets"].items():
        for family, model in entry["models"].items():
            summary = model["summary"]
            size = summary.get(f"{q}_size_bytes", {}).get("mean")
            row = [f"{name} ({entry['baseline']['test_examples']})", family, summary["seeds"],
                   mean(summary, "keras_accuracy"), spread(summary, "keras_accuracy"),
                   mean(summary, f"{q}_tflm_accuracy"), mean(summary, f"{q}_top1_agreement"),
                   mean(summary, f"{q}_tflm_agreement"), summary["parity_failed_seeds"],
                   None if size is None else int(size), entry["baseline"]["accuracy"]]
            if q != "int8":
                arena = mean(summary, f"{q}_tflm_arena_bytes")
                row += [None if arena is None else int(arena), rounded(summary, f"{q}_latency_ms_p50"),
                        rounded(summary, "float32_latency_ms_p50")]
            rows.append(row)
    return {"seeds": {"columns": columns, "rows": rows}}


def main(argv: list[str] | None = None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser
    from tools.readme_tables import results_name

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", required=True, metavar="[NAME=]SPEC",
                        help="data sets, e.g. easy=folder:data/keywords hard=folder:data/keywords_hard")
    parser.add_argument("--out", default="runs/benchmark_speech")
    parser.add_argument("--families", default="ds_cnn,cnn")
    parser.add_argument("--seeds", default="42", help="comma-separated training seeds (default 42)")
    parser.add_argument("--epochs", type=int, default=0, help="0 = the task default")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="extra config overrides")
    parser.add_argument("--quantized", choices=("int8", "int16x8"), default="int8",
                        help="the quantized file exported beside float32 and reported (default int8)")
    parser.add_argument("--write-results", action="store_true",
                        help="also write results/NAME.json (--results-name), the source of a README table")
    parser.add_argument("--results-name", default="speech", type=results_name,
                        help="NAME of the results file --write-results writes (default speech)")
    args = parser.parse_args(argv)
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--seeds: expected integers, got {args.seeds!r}")
    named = {}
    for item in args.data:
        name, _, spec = item.partition("=") if "=" in item.split(":", 1)[0] else ("", "", item)
        named[name or spec] = spec

    import kerasuite.models  # noqa: F401
    from kerasuite import config as cfg
    from kerasuite.errors import CheckFailed, UserError
    from kerasuite.io_utils import write_json_atomic

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    q = args.quantized
    results: dict = {"seeds": seeds, "set": list(args.set), "quantized": q, "sets": {}}
    try:
        for name, spec in named.items():
            base = cfg.resolve({}, cfg.parse_set(list(args.set)), {"task": "keyword_spotting", "data.source": spec})
            entry: dict = {"data": spec, "baseline": sklearn_baseline(base), "models": {}}
            for family in families:
                runs = []
                for seed in seeds:
                    run_dir = out / name.replace("/", "_") / f"{family}_seed{seed}"
                    try:
                        runs.append({"seed": seed, **run_family(family, spec, seed, list(args.set), args.epochs, run_dir,
                                                                q)})
                    except CheckFailed as error:  # parity failed: keep the numbers, mark the seed
                        print(f"{name} {family} seed {seed}: {error}", file=sys.stderr)
                        metrics = json.loads((run_dir / "run" / "metrics.json").read_text())
                        runs.append({"seed": seed, "parity_failed": str(error),
                                     "keras_accuracy": metrics["eval"]["accuracy"],
                                     **quantized_figures(metrics["exports"][q], q)})
                    entry["models"][family] = {"runs": runs, "summary": summarize(runs, q)}
                    results["sets"][name] = entry
                    write_json_atomic(out / "results.json", results)  # partial results survive a later failure
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    write_json_atomic(out / "results.json", results)
    if args.write_results:
        from tools.readme_tables import write_results

        command = "python tools/benchmark_speech.py " + " ".join(argv if argv is not None else sys.argv[1:])
        write_results(args.results_name, command, results_table(results))
    print(f"\nkeyword spotting, seeds {','.join(map(str, seeds))}: mean (min-max) over seeds\n")
    print(f"| data (test clips) | model | Keras acc | {q} acc | {q} top-1 agreement | {q} size | "
          f"{q} latency / 1 s clip | MFCC stats + logistic regression |")
    print("|---|---|---|---|---|---|---|---|")
    for name, entry in results["sets"].items():
        for family, model in entry["models"].items():
            summary = model["summary"]
            size = f"{summary[f'{q}_size_bytes']['mean'] / 1024:.1f} kB" if f"{q}_size_bytes" in summary else "-"
            failed = f" ({summary['parity_failed_seeds']} seed(s) failed parity)" if summary["parity_failed_seeds"] else ""
            print(f"| {name} ({entry['baseline']['test_examples']}) | {family}{failed} | "
                  f"{_cell(summary, 'keras_accuracy', '.3f')} | {_cell(summary, f'{q}_accuracy', '.3f')} | "
                  f"{_cell(summary, f'{q}_top1_agreement', '.3f')} | {size} | "
                  f"{_cell(summary, f'{q}_latency_ms_p50', '.2f')} ms | {entry['baseline']['accuracy']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
