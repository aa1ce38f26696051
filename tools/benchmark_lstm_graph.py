"""The text LSTM exported both ways, side by side in one run: ``export.lstm=fused`` (one
``UNIDIRECTIONAL_SEQUENCE_LSTM`` op, state in variable tensors) and ``export.lstm=unrolled``
(builtin ops per time step, no state), from the same trained model, on the same held-out texts.

    nice -n 10 python tools/benchmark_lstm_graph.py [--data csv:data/fortunes] [--write-results]

Trains the default text_classification LSTM once (``python -m kerasuite.train``, float32 export
only), then exports that model with each graph through the one export path
(``kerasuite.export.bundle.export_bundle``), every mode, and reports per graph and mode: file size,
conversion + parity seconds, LiteRT Interpreter p50 latency (batch 1, one thread), held-out
accuracy, top-1 agreement with Keras, and each runtime's verdict (Interpreter, CompiledModel,
MediaPipe, TFLM). ``--write-results`` writes ``results/lstm_graph.json`` for the README table.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))
from kerasuite.io_utils import write_text_atomic  # noqa: E402  (after the path insert above)

GRAPHS = ("fused", "unrolled")
MODES = ("float32", "dynamic", "int8", "int8_float_io")
RUNTIMES = ("litert_interpreter", "litert_compiled", "mediapipe", "tflm")
COLUMNS = ["graph", "mode", "size KB", "export s", "p50 ms", "accuracy", "agreement",
           "Interpreter", "CompiledModel", "MediaPipe", "TFLM"]


def train(data: str, run_dir: Path, extra: list[str]) -> None:
    command = [sys.executable, "-m", "kerasuite.train", "--task", "text_classification", "--model", "lstm",
               "--data", data, "--run-dir", str(run_dir), "--export", "float32",
               "--set", "train.check_baseline=false", f"export.dir={run_dir.parent / 'trained_bundle'}", *extra]
    done = subprocess.run(command, cwd=str(REPO), env=dict(os.environ, PYTHONPATH=str(REPO)))
    if done.returncode not in (0, 1):  # 1: a failed check, still a trained model to export
        raise SystemExit(f"training failed ({done.returncode}): {' '.join(command)}")


def export_both(run_dir: Path, out: Path) -> dict[str, dict]:
    from kerasuite import config as cfg
    from kerasuite.export.bundle import export_bundle
    from kerasuite.export.rerun import load_trusted_model
    from kerasuite.tasks import get_task

    config = cfg.resolve_saved(run_dir / "config.json")
    task = get_task(config.task)
    data = task.load_data(config)
    model = load_trusted_model(run_dir / "model.keras")
    results = {}
    for graph in GRAPHS:
        export = dataclasses.replace(config.export, modes=MODES, lstm=graph, dir=str(out / graph))
        started = time.perf_counter()
        exports = export_bundle(task, model, data, dataclasses.replace(config, export=export),
                                out / graph, run_dir).exports
        results[graph] = {"seconds": time.perf_counter() - started, "exports": exports}
    return results


def verdict_cell(verdict: dict | None) -> str:
    if verdict is None:
        return "-"
    if verdict["status"] == "passed":
        return "passed"
    if verdict["status"] == "not_applicable":
        return "n/a"
    return "FAILED"


def rows(results: dict[str, dict]) -> list[list]:
    table = []
    for graph in GRAPHS:
        for mode in MODES:
            entry = results[graph]["exports"][mode]
            parity = entry["parity"]
            runtimes = parity.get("runtimes", {})
            table.append([graph, mode, round(entry["size_bytes"] / 1000, 1),
                          round(results[graph]["seconds"], 0) if mode == MODES[0] else None,
                          round((entry.get("latency_ms") or {}).get("p50", float("nan")), 3),
                          round(next(iter(entry["eval"].values())), 4),
                          None if parity.get("agreement") is None else round(parity["agreement"], 4),
                          *(verdict_cell(runtimes.get(name)) for name in RUNTIMES)])
    return table


def markdown(table: list[list]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join("" if cell is None else str(cell) for cell in row) + " |" for row in table]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="csv:data/fortunes")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="training settings")
    parser.add_argument("--work", type=Path, help="folder for the run and bundles (default: a temp folder)")
    parser.add_argument("--write-results", action="store_true", help="write results/lstm_graph.json")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="lstm-graph-"))
    run_dir = work / "run"
    if not (run_dir / "model.keras").is_file():
        train(args.data, run_dir, args.set)
    from kerasuite.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    results = export_both(run_dir, work / "bundles")
    table = rows(results)
    print(markdown(table))
    write_text_atomic(work / "lstm_graph.json", json.dumps(results, indent=1, default=str))
    if args.write_results:
        from readme_tables import write_results

        command = "python tools/benchmark_lstm_graph.py --data " + args.data + \
            (" --set " + " ".join(args.set) if args.set else "") + " --write-results"
        write_results("lstm_graph", command, {"table": {"columns": COLUMNS, "rows": table}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
