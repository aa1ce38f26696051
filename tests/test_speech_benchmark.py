"""The keyword-spotting targets, measured on the espeak-ng keyword set (slow: ~15-30 min on 2 cores).

    python -m pytest tests/test_speech_benchmark.py -m slow -s

Generates the default 12-class set (tools/make_keywords.py), runs tools/benchmark_speech.py for
the default ds_cnn, and checks: Keras accuracy >= 0.95 and clearly above the scikit-learn
baseline on the same split, int8 TFLite (raw waveform in) within 2 points of Keras, the int8
file under 100 kB, and builtin ops only.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_ds_cnn_meets_the_keyword_spotting_targets(tmp_path):
    assert shutil.which("espeak-ng") and shutil.which("sox"), "install Debian packages espeak-ng and sox"
    data = tmp_path / "keywords"
    subprocess.run([sys.executable, str(REPO / "tools" / "make_keywords.py"), "--out", str(data)], check=True)
    out = tmp_path / "benchmark"
    subprocess.run([sys.executable, str(REPO / "tools" / "benchmark_speech.py"), "--data", f"folder:{data}",
                    "--families", "ds_cnn", "--out", str(out)], check=True, cwd=REPO)
    results = json.loads((out / "results.json").read_text())
    entry = next(iter(results["sets"].values()))
    model, baseline = entry["models"]["ds_cnn"]["runs"][0], entry["baseline"]
    print(json.dumps({"baseline": baseline, "ds_cnn": {k: v for k, v in model.items() if k != "int8_ops"}}, indent=1))
    assert model["keras_accuracy"] >= 0.95
    assert model["keras_accuracy"] >= baseline["accuracy"] + 0.05
    assert model["keras_accuracy"] - model["int8_accuracy"] <= 0.02
    assert model["int8_size_bytes"] < 100_000
    assert "parity_failed" not in model, model.get("parity_failed")
    assert not [op for op in model["int8_ops"] if op.startswith("Flex") or op == "CUSTOM"]
    assert model["parity_passed"]


@pytest.mark.parametrize("tool, args", [
    ("benchmark_speech.py", ["--data", "easy=folder:/nonexistent/keywords", "--results-name", "../speech"]),
    # no data set: without the check this run would end at once instead of training (no timeout)
    ("benchmark_retrieval.py", ["--results-name", "a/b", "--datasets"]),
])
def test_a_results_name_that_is_not_a_plain_name_is_refused_before_training(tmp_path, tool, args):
    work = ["--work", str(tmp_path / "work")] if tool == "benchmark_retrieval.py" else []
    done = subprocess.run([sys.executable, str(REPO / "tools" / tool), "--out", str(tmp_path / "out"), *work, *args],
                          check=False, capture_output=True, text=True, timeout=120, cwd=str(REPO))
    assert done.returncode == 2 and "--results-name" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_seeds_that_failed_parity_are_counted_though_they_keep_their_numbers():
    sys.path.insert(0, str(REPO))
    from tools.benchmark_speech import results_table, summarize

    numbers = {"keras_accuracy": 0.96, "int8_accuracy": 0.95, "int8_top1_agreement": 0.99,
               "int8_tflm_accuracy": 0.95, "int8_tflm_agreement": 0.99, "int8_size_bytes": 79_000,
               "int8_latency_ms_p50": 0.4}
    runs = [{"seed": 1, **numbers},
            {"seed": 2, **numbers, "int8_top1_agreement": 0.96, "parity_failed": "int8: agreement 0.96 < 0.98"},
            {"seed": 3, **numbers, "int8_tflm_accuracy": 0.94, "parity_failed": "tflm: accuracy drop 0.02 > 0.01"}]
    summary = summarize(runs)
    assert summary["seeds"] == 3 and summary["parity_failed_seeds"] == 2
    assert summary["int8_top1_agreement"]["min"] == 0.96  # the failed seeds' numbers stay in the means
    results = {"sets": {"easy": {"baseline": {"test_examples": 360, "accuracy": 0.7},
                                 "models": {"ds_cnn": {"runs": runs, "summary": summary}}}}}
    table = results_table(results)["seeds"]
    row = dict(zip(table["columns"], table["rows"][0]))
    assert row["seeds failing int8 parity"] == 2 and row["seeds done"] == 3


def test_an_int16x8_benchmark_reports_that_files_numbers_and_arena_under_its_own_name():
    """--quantized int16x8: the columns name the mode the runs exported, the figures are that
    file's (never an int8 file's), and its TFLM arena is a column."""
    sys.path.insert(0, str(REPO))
    from tools.benchmark_speech import quantized_figures, results_table, summarize

    export = {"eval": {"accuracy": 0.97}, "parity": {"top1_agreement": 0.995}, "size_bytes": 120_000,
              "latency_ms": {"p50": 9.5},
              "runtimes": {"tflm": {"eval": {"accuracy": 0.968}, "agreement": 0.994, "arena_bytes": 860_000}}}
    runs = [{"seed": 1, "keras_accuracy": 0.97, "float32_latency_ms_p50": 0.68, **quantized_figures(export, "int16x8")}]
    assert not [key for key in runs[0] if key.startswith("int8")]
    results = {"quantized": "int16x8",
               "sets": {"easy": {"baseline": {"test_examples": 360, "accuracy": 0.7},
                                 "models": {"ds_cnn": {"runs": runs, "summary": summarize(runs, "int16x8")}}}}}
    table = results_table(results)["seeds"]
    row = dict(zip(table["columns"], table["rows"][0]))
    assert not [column for column in table["columns"] if "int8" in column], table["columns"]
    assert row["int16x8 agreement TFLM (mean)"] == 0.994 and row["int16x8 acc on TFLM (mean)"] == 0.968
    assert row["int16x8 TFLM arena bytes (mean)"] == 860_000 and row["int16x8 bytes"] == 120_000
    assert row["int16x8 LiteRT ms per clip (mean)"] == 9.5 and row["float32 LiteRT ms per clip (mean)"] == 0.68
