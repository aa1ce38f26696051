"""Classifier files through MediaPipe Tasks, the LiteRT Interpreter and LiteRT's CompiledModel.

Per exported classifier file: latency p50/p90 of one classification at batch 1 on one thread
through each API, measured side by side in interleaved rounds in one process, and the file size
with and without its TFLite metadata. MediaPipe's time is a whole ``classify()`` call (its graph
also converts the image, splits the audio or tokenizes the text); the LiteRT times are one
``invoke``/``run`` on a prepared input. Files an API cannot run get the reason instead.

    python tools/benchmark_mediapipe.py --out benchmark_results/mediapipe            # trains tiny bundles
    python tools/benchmark_mediapipe.py --bundles exports/run1 exports/run2 --runs 300

Writes ``mediapipe.json`` and ``mediapipe.md`` in ``--out``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from kerasuite.io_utils import write_text_atomic

REPO = Path(__file__).resolve().parents[1]
MODES = "float32,int8,int8_float_io"
# Small models that still learn their synthetic or bundled data in seconds.
TINY_BUNDLES = {
    "image_cnn": ["--task", "image_classification", "--set", "model.cnn.filters=8,16", "model.cnn.dense_units=32",
                  "model.cnn.augment=false", "train.epochs=6"],
    "keyword_ds_cnn": ["--task", "keyword_spotting", "--set", "data.source=synthetic:tones", "model.ds_cnn.filters=16",
                       "model.ds_cnn.num_blocks=2", "train.epochs=4"],
    "text_transformer": ["--task", "text_classification", "--model", "transformer", "--set",
                         "data.source=synthetic:topics", "data.text.max_tokens=400", "data.text.sequence_length=32",
                         "model.transformer.embedding_dim=16", "model.transformer.num_blocks=1", "train.epochs=6"],
    "text_lstm": ["--task", "text_classification", "--model", "lstm", "--set", "data.source=synthetic:topics", "data.text.max_tokens=400",
                  "data.text.sequence_length=32", "model.lstm.embedding_dim=16", "model.lstm.units=16", "train.epochs=6"],
    # the same LSTM as builtin ops per step: no variable tensors, so MediaPipe and CompiledModel run it
    "text_lstm_unrolled": ["--task", "text_classification", "--model", "lstm", "--set", "data.source=synthetic:topics",
                           "data.text.max_tokens=400", "data.text.sequence_length=32", "model.lstm.embedding_dim=16",
                           "model.lstm.units=16", "train.epochs=6", "export.lstm=unrolled"],
}
GATE_OFF = ["export.parity.int8.min_agreement=0", "export.parity.int8_float_io.min_agreement=0",
            "export.parity.int8.max_metric_drop=1", "export.parity.int8_float_io.max_metric_drop=1",
            "train.verbose=0", "export.latency_runs=3"]


def make_bundles(out: Path) -> list[Path]:
    bundles = []
    for name, argv in TINY_BUNDLES.items():
        bundle = out / "bundles" / name
        command = [sys.executable, "-m", "kerasuite.train", *argv, *GATE_OFF, "export.dir=" + str(bundle),
                   "--run-dir", str(out / "runs" / name), "--export", MODES, "--overwrite"]
        print(f"[benchmark_mediapipe] training {name}", flush=True)
        done = subprocess.run(command, cwd=str(REPO), capture_output=True, text=True,
                              env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
        if not (bundle / "signature.json").is_file():
            print(f"[benchmark_mediapipe] {name} failed:\n{done.stderr[-2000:]}", file=sys.stderr)
            continue
        bundles.append(bundle)
    return bundles


def percentiles(timings: list[float]) -> dict[str, float]:
    import numpy as np

    return {"p50": float(np.percentile(timings, 50)), "p90": float(np.percentile(timings, 90))}


def measure_file(path: Path, example: dict, runs: int, rounds: int) -> dict[str, Any]:
    """Interleaved rounds: each API gets ``runs / rounds`` timed calls per round, in turn."""
    from kerasuite.runtime.compiled import CompiledTFLiteModel, applicability as compiled_applicability
    from kerasuite.runtime.interpreter import TFLiteModel
    from kerasuite.runtime.mediapipe import MediaPipeClassifier, applicability as mediapipe_applicability

    interpreter = TFLiteModel(path, threads=1)
    # signature.json's entry too: the applicability rules read its ops, variable tensors and state
    description = {**example["described"], **interpreter.describe(), "task": example["task"]}
    calls: dict[str, Any] = {}
    reasons: dict[str, str] = {}
    batch = {name: value[:1] for name, value in example["inputs"].items()}
    interpreter._run(batch)
    calls["litert_interpreter"] = interpreter.interpreter.invoke
    reason = compiled_applicability("", description)
    if reason is None:
        compiled = CompiledTFLiteModel(path, threads=1)
        compiled._run_one(batch)
        calls["litert_compiled"] = compiled._invoke
    else:
        reasons["litert_compiled"] = reason
    reason = mediapipe_applicability("", description)
    classifier = None
    if reason is None:
        runner = MediaPipeClassifier(path)
        classifier = runner._create()
        raw = runner._raw(batch[runner.input_name][0])
        calls["mediapipe_tasks"] = lambda: classifier.classify(raw)
    else:
        reasons["mediapipe_tasks"] = reason
    timings: dict[str, list[float]] = {name: [] for name in calls}
    per_round = max(1, runs // rounds)
    for call in calls.values():  # warm-up
        for _ in range(5):
            call()
    for _ in range(rounds):
        for name, call in calls.items():
            for _ in range(per_round):
                started = time.perf_counter()
                call()
                timings[name].append((time.perf_counter() - started) * 1000.0)
    if classifier is not None:
        classifier.close()
    return {"latency_ms": {name: percentiles(values) for name, values in timings.items()}, "not_run": reasons}


def benchmark(bundles: list[Path], runs: int, rounds: int) -> list[dict[str, Any]]:
    import numpy as np

    rows = []
    for bundle in bundles:
        signature = json.loads((bundle / "signature.json").read_text())
        golden = np.load(bundle / "golden.npz")
        inputs = {key.split("__", 1)[1]: golden[key] for key in golden.files if key.startswith("input__")}
        for mode, described in signature["modes"].items():
            path = bundle / described["file"]
            print(f"[benchmark_mediapipe] {bundle.name} {mode}", flush=True)
            found = measure_file(path, {"task": signature["task"], "inputs": inputs, "described": described},
                                 runs, rounds)
            rows.append({"bundle": bundle.name, "task": signature["task"], "model": signature["model"], "mode": mode,
                         "size_bytes": path.stat().st_size,
                         "size_bytes_without_metadata": described.get("size_bytes_without_metadata"),
                         **found})
    return rows


COLUMNS = ["bundle", "mode", "size (with / without metadata)", "MediaPipe Tasks p50 / p90 ms",
           "Interpreter p50 / p90 ms", "CompiledModel p50 / p90 ms"]


def table_rows(rows: list[dict[str, Any]]) -> list[list[str]]:
    def cell(row: dict, api: str) -> str:
        latency = row["latency_ms"].get(api)
        return f"{latency['p50']:.3f} / {latency['p90']:.3f}" if latency else "not run"

    table = []
    for row in rows:
        without = row["size_bytes_without_metadata"]
        size = f"{row['size_bytes']:,} / {without:,}" if without else f"{row['size_bytes']:,} / ?"
        table.append([row["bundle"], row["mode"], size, cell(row, "mediapipe_tasks"), cell(row, "litert_interpreter"),
                      cell(row, "litert_compiled")])
    return table


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(rows)]
    reasons = sorted({f"{api}: {reason}" for row in rows for api, reason in row["not_run"].items()})
    if reasons:
        lines += ["", "Not run:"] + [f"- {reason}" for reason in reasons]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundles", nargs="*", default=[], help="exported bundles (default: train tiny ones)")
    parser.add_argument("--out", default="benchmark_results/mediapipe")
    parser.add_argument("--runs", type=int, default=200, help="timed calls per API and file")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds the runs are split into")
    parser.add_argument("--write-results", action="store_true", help="write results/mediapipe.json (README table)")
    args = parser.parse_args(argv)
    out = Path(args.out).resolve()
    missing = [b for b in args.bundles if not (Path(b) / "signature.json").is_file()]
    if missing:
        print(f"error: --bundles {missing[0]}: not an export bundle (no signature.json)", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    from kerasuite.quiet import import_tensorflow_quietly

    bundles = [Path(b).resolve() for b in args.bundles] or make_bundles(out)
    import_tensorflow_quietly()  # mediapipe imports TensorFlow; keep its start-up chatter out
    rows = benchmark(bundles, args.runs, args.rounds)
    report = {"created": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "command": "python tools/benchmark_mediapipe.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "runs": args.runs, "rounds": args.rounds, "threads": 1, "batch": 1,
              "load_average": list(os.getloadavg()), "rows": rows}
    write_text_atomic(out / "mediapipe.json", json.dumps(report, indent=2))
    table = markdown(rows)
    write_text_atomic(out / "mediapipe.md", table)
    print(table)
    if args.write_results:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from readme_tables import write_results

        write_results("mediapipe", report["command"], {"latency": {"columns": COLUMNS, "rows": table_rows(rows)}},
                      load_average=[round(v, 1) for v in report["load_average"]],
                      not_run=sorted({f"{api}: {reason}" for row in rows for api, reason in row["not_run"].items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
