"""Write results/summary.json, the README's Results table, from the other results files.

    python tools/results_summary.py                         # derive only: seconds, no training
    nice -n 10 python tools/results_summary.py --measure    # first retrain the image rows
    python tools/readme_tables.py                           # then render README.md

One row per task and data set, for the task's default model family (``kerasuite.tasks``), each
figure copied from a results file that a benchmark script writes; the row's "from" cell and
summary.json's ``sources`` name the file, table and row. So rerunning a benchmark with its
results option and then this script refreshes the summary, and no figure is typed by hand:

- image_classification: ``results/image_default.json#runs``, which ``--measure`` writes: the
  default command (``python -m kerasuite.train``) on ``builtin:digits`` and on the same digits as
  PNG files (``tools/make_digits_folder.py``), each a real training child process (3 CPU-minutes
  for both when first measured);
- keyword_spotting: ``results/speech.json#seeds`` (``tools/benchmark_speech.py --write-results``);
- text_classification: ``results/text.json#corpora`` (``tools/benchmark_text.py --results text``);
- retrieval: ``results/retrieval.json#recall`` (``tools/benchmark_retrieval.py --results-name retrieval``).

ranking has no row: no results file holds a converged ranking model (its only measured figures
are the Performance edge rows, on synthetic data). A missing or malformed source is one error
line and exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tools.readme_tables import format_cell, write_results  # noqa: E402

COLUMNS = ["task", "data (test examples)", "model", "metric", "Keras", "int8 TFLite", "int8 top-1 agreement with Keras",
           "int8 file", "baseline on the same split", "parity", "from"]
IMAGE_RUN_COLUMNS = ["data", "command", "model", "test examples", "epochs", "Keras accuracy", "float32 accuracy",
                     "int8 accuracy", "int8 top-1 agreement", "float32 max abs diff", "float32 bytes", "int8 bytes",
                     "majority class accuracy", "parity", "train s"]
# What a user types; the folder path stands for wherever tools/make_digits_folder.py wrote the PNGs.
IMAGE_RUNS = (
    ("builtin:digits", "python -m kerasuite.train", []),
    ("folder: the same digits as PNG", "python tools/make_digits_folder.py DIGITS && python -m kerasuite.train "
     "--data folder:DIGITS", ["--data", "folder:{digits}"]),
)


class SourceError(Exception):
    """A results file that is missing or does not hold what the summary reads: one line for the user."""


def default_family(task: str) -> str:
    from kerasuite.tasks import task_spec

    return task_spec(task).model().family


class Table:
    """One table of a results file, its cells read by column name."""

    def __init__(self, root: Path, source: str, table: str, writer: str):
        self.source, self.name = source, table
        try:
            results = json.loads((root / source).read_text(encoding="utf-8"))
        except OSError as error:
            raise SourceError(f"{source}: cannot read it ({error.strerror or error}); {writer} writes it") from None
        except ValueError as error:
            raise SourceError(f"{source}: not JSON ({error})") from None
        try:
            body = results["tables"][table]
            self.columns, self.rows = list(body["columns"]), list(body["rows"])
        except (KeyError, TypeError):
            raise SourceError(f"{source}: no table {table!r} with columns and rows") from None
        self.command, self.date = results.get("command", ""), results.get("date", "")

    def index(self, column: str) -> int:
        try:
            return self.columns.index(column)
        except ValueError:
            raise SourceError(f"{self.source}#{self.name}: no column {column!r} "
                              f"(has: {', '.join(self.columns)})") from None

    def cell(self, row: list, column: str):
        return row[self.index(column)]

    def reader(self, row: list) -> Callable[[str], object]:
        """``cell(column)`` for one row."""
        return lambda column: self.cell(row, column)

    def where(self, **equal) -> list[tuple[int, list]]:
        """(1-based row number, row) of each row whose named cells equal the given values."""
        wanted = {self.index(column.replace("_", " ")): value for column, value in equal.items()}
        return [(number, row) for number, row in enumerate(self.rows, 1)
                if all(row[i] == value for i, value in wanted.items())]

    def cite(self, numbers: list[int]) -> str:
        rows = ", ".join(str(n) for n in numbers)
        return f"`{self.source}#{self.name}` row{'s' if len(numbers) > 1 else ''} {rows}"


def number(value) -> str:
    """A figure as the README's other tables show it (readme_tables' 4 significant digits); text
    is kept as the source wrote it (it chose its own digits); empty when the source has none."""
    if value is None:
        return ""
    return value if isinstance(value, str) else format_cell(value)


def default_family_rows(table: Table, task: str) -> tuple[str, list[tuple[int, list]]]:
    """``task``'s default family and the table's rows for it (model column); none is an error."""
    family = default_family(task)
    rows = table.where(model=family)
    if not rows:
        raise SourceError(f"{table.source}#{table.name}: no row for {task}'s default family {family!r}")
    return family, rows


# ---------------------------------------------------------------------------- one function per source


def image_rows(root: Path) -> tuple[Table, list[dict]]:
    table = Table(root, "results/image_default.json", "runs", "python tools/results_summary.py --measure")
    family, found = default_family_rows(table, "image_classification")
    out = []
    for row_number, row in found:
        cell = table.reader(row)
        float32_bytes, int8_bytes = cell("float32 bytes"), cell("int8 bytes")
        size = f"{format_cell(int8_bytes)} B ({int8_bytes / float32_bytes:.2f}x float32)" if float32_bytes else ""
        out.append({"cells": ["image_classification", f"{cell('data')} ({cell('test examples')})", family,
                              f"accuracy ({cell('epochs')} epochs)", number(cell("Keras accuracy")),
                              number(cell("int8 accuracy")),
                              number(cell("int8 top-1 agreement")), size,
                              f"majority class {number(cell('majority class accuracy'))}", cell("parity")],
                    "rows": [row_number]})
    return table, out


def speech_rows(root: Path) -> tuple[Table, list[dict]]:
    table = Table(root, "results/speech.json", "seeds", "tools/benchmark_speech.py --write-results")
    family, found = default_family_rows(table, "keyword_spotting")
    out = []
    for row_number, row in found:
        cell = table.reader(row)
        seeds, failing = cell("seeds done"), cell("seeds failing int8 parity")
        spread = cell("Keras acc (range)")
        keras = number(cell("Keras acc (mean)")) + (f" ({spread})" if spread else "")
        tflm = number(cell("int8 acc on TFLM (mean)"))
        agreement = " / ".join(f"{runtime} {number(cell(f'int8 agreement {runtime} (mean)'))}"
                               for runtime in ("LiteRT", "TFLM") if cell(f"int8 agreement {runtime} (mean)") is not None)
        peer = cell("MFCC stats + logistic regression")
        out.append({"cells": ["keyword_spotting", cell("data (test clips)"), family, f"accuracy, mean of {seeds} seeds",
                              keras, f"{tflm} (on TFLM)" if tflm else "", agreement,
                              f"{format_cell(cell('int8 bytes'))} B" if cell("int8 bytes") else "",
                              f"MFCC statistics + logistic regression {number(peer)}" if peer is not None else "",
                              "" if failing is None else "passed on every seed" if failing == 0
                              else f"failed on {failing} of {seeds} seeds"],
                    "rows": [row_number]})
    return table, out


TEXT_PEER = "TF-IDF + logreg"


def text_rows(root: Path) -> tuple[Table, list[dict]]:
    table = Table(root, "results/text.json", "corpora", "tools/benchmark_text.py --results text")
    family, found = default_family_rows(table, "text_classification")
    out = []
    for row_number, row in found:
        cell = table.reader(row)
        peers = table.where(corpus=cell("corpus"), model=TEXT_PEER)
        peer = f"{TEXT_PEER} {number(table.cell(peers[0][1], 'accuracy'))}" if peers else ""
        out.append({"cells": ["text_classification", cell("corpus"), family, f"accuracy, mean of {cell('seeds')} seeds",
                              number(cell("accuracy")), number(cell("int8 accuracy")), "",
                              f"{format_cell(cell('int8 KB'))} KB" if cell("int8 KB") else "", peer,
                              cell("parity") or ""],
                    "rows": [row_number, *(n for n, _ in peers[:1])]})
    return table, out


RETRIEVAL_WRITER = "tools/benchmark_retrieval.py --results-name retrieval"


def retrieval_baselines(table: Table, cell, same: tuple[str, ...], at_10: str, at_100: str) -> tuple[list[int], str]:
    """The EASE and popularity rows that share ``same`` columns with a model's row: their row
    numbers and "model recall@10 / recall@100; ..."."""
    rows = [(n, r) for n, r in table.where(**{column: cell(column) for column in same})
            if str(table.cell(r, "model")).startswith(("ease", "popularity"))]
    text = "; ".join(f"{table.cell(r, 'model')} {number(table.cell(r, at_10))} / {number(table.cell(r, at_100))}"
                     for _, r in rows)
    return [n for n, _ in rows], text


def retrieval_rows(root: Path) -> tuple[Table, list[dict]]:
    """One row per data set from the several-seed means when the benchmark ran more than one seed
    (its ``means`` table), else one per data set and seed."""
    try:
        table, means = Table(root, "results/retrieval.json", "means", RETRIEVAL_WRITER), True
    except SourceError:
        table, means = Table(root, "results/retrieval.json", "recall", RETRIEVAL_WRITER), False
    at_10, at_100 = ("recall@10 (mean)", "recall@100 (mean)") if means else ("recall@10", "recall@100")
    family, found = default_family_rows(table, "retrieval")
    out = []
    for row_number, row in found:
        cell = table.reader(row)
        numbers, baselines = retrieval_baselines(table, cell, ("data",) if means else ("data", "seed"), at_10, at_100)
        if means:
            data, metric = str(cell("data")), f"recall@10 / recall@100, mean of {cell('seeds')} seeds"
            keras = f"{number(cell(at_10))} ({cell('recall@10 (range)')}) / {number(cell(at_100))}"
        else:
            data, metric = f"{cell('data')} (seed {cell('seed')})", "recall@10 / recall@100"
            keras = f"{number(cell(at_10))} / {number(cell(at_100))}"
        out.append({"cells": ["retrieval", data, family, metric, keras, "", "", "", baselines, ""],
                    "rows": [row_number, *numbers]})
    return table, out


DERIVATIONS: tuple[Callable[[Path], tuple[Table, list[dict]]], ...] = (
    image_rows, speech_rows, text_rows, retrieval_rows)


def summary_tables(root: Path) -> tuple[dict[str, dict], list[dict]]:
    rows, sources = [], []
    for derive in DERIVATIONS:
        table, derived = derive(root)
        for entry in derived:
            rows.append([*entry["cells"], table.cite(entry["rows"])])
        sources.append({"file": table.source, "table": table.name, "command": table.command, "date": table.date,
                        "rows": [entry["rows"] for entry in derived]})
    written = [[f"`{s['file']}#{s['table']}`", f"`{s['command']}`" if s["command"] else "", s["date"]] for s in sources]
    return ({"results": {"columns": COLUMNS, "rows": rows},
             "sources": {"columns": ["results file", "written by", "on"], "rows": written}}, sources)


# ---------------------------------------------------------------------------- --measure


def _child(args: list[str], what: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    try:
        return subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=3600)
    except subprocess.TimeoutExpired:
        raise SourceError(f"{what}: still running after an hour, stopped") from None


def image_run_row(label: str, command: str, run_dir: Path, bundle: Path) -> list:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    provenance = json.loads((bundle / "provenance.json").read_text())
    exports = metrics["exports"]
    float32, int8 = exports["float32"], exports["int8"]
    failed = [mode for mode, exported in exports.items() if exported["verdict"] != "passed"]
    return [label, command, metrics["model"], provenance["data"]["heldout_examples"], metrics["train"]["epochs"],
            metrics["eval"]["accuracy"], float32["eval"]["accuracy"], int8["eval"]["accuracy"],
            int8["parity"]["top1_agreement"], float(float32["parity"]["max_abs_diff"]), float32["size_bytes"],
            int8["size_bytes"], metrics["eval"].get("majority_accuracy"),
            f"FAILED ({', '.join(failed)})" if failed else "passed", round(metrics["train"]["seconds"], 1)]


def measure_image_runs(root: Path) -> Path:
    """Train the default image command on builtin:digits and on the same split as PNG files, in
    child processes (a real ``python -m kerasuite.train``, not the runner in this process), and
    write results/image_default.json."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="results-summary-") as work:
        work = Path(work)
        digits = work / "digits_png"
        done = _child([sys.executable, str(REPO / "tools" / "make_digits_folder.py"), str(digits)],
                      "make_digits_folder.py")
        if done.returncode != 0:
            raise SourceError(f"tools/make_digits_folder.py exited {done.returncode}: {_last_line(done.stderr)}")
        for row_number, (label, command, extra) in enumerate(IMAGE_RUNS):
            run_dir, bundle = work / f"run{row_number}" / "run", work / f"run{row_number}" / "bundle"
            args = [sys.executable, "-m", "kerasuite.train", *(a.format(digits=digits) for a in extra),
                    "--run-dir", str(run_dir), "--set", f"export.dir={bundle}", "train.verbose=0"]
            print(f"[results_summary] {command}", flush=True)
            done = _child(args, command)
            # exit 1 is a parity check that failed after training and export: its figures are real
            if done.returncode not in (0, 1) or not (run_dir / "metrics.json").is_file():
                raise SourceError(f"{command}: exited {done.returncode}: {_last_line(done.stderr)}")
            rows.append(image_run_row(label, command, run_dir, bundle))
    return write_results("image_default", "python tools/results_summary.py --measure",
                         {"runs": {"columns": IMAGE_RUN_COLUMNS, "rows": rows}}, root=root)


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def main(argv: list[str] | None = None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", action="store_true",
                        help="first retrain the image rows (two default training runs) into results/image_default.json")
    parser.add_argument("--root", type=Path, default=REPO, help=argparse.SUPPRESS)  # tests: a folder with results/
    args = parser.parse_args(argv)
    try:
        if args.measure:
            print(f"wrote {measure_image_runs(args.root)}")
        tables, sources = summary_tables(args.root)
    except SourceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    command = "python tools/results_summary.py" + (" --measure" if args.measure else "")
    path = write_results("summary", command, tables, root=args.root, sources=sources)
    print(f"wrote {path}: {len(tables['results']['rows'])} rows from {len(sources)} results files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
