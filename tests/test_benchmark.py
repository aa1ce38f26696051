"""The benchmark's report contract (tools/benchmark.py), checked on a tiny subset.

The fast test runs the real tool (worker subprocess and all) on one task with the pipeline and
start-up sections; the edge section trains and converts, so it is marked slow.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO, load_tool


def _load_tool():
    return load_tool("benchmark")


def _positive(value, where: str) -> None:
    assert isinstance(value, (int, float)) and not isinstance(value, bool), f"{where}: {value!r} is not a number"
    assert math.isfinite(value) and value > 0, f"{where}: {value!r} is not positive and finite"


def _run(tmp_path: Path, *extra: str, tasks: str = "ranking") -> dict:
    out = tmp_path / "bench"
    done = subprocess.run(
        [sys.executable, str(REPO / "tools" / "benchmark.py"), "--quick", "--out", str(out),
         "--tasks", tasks, *extra],
        capture_output=True, text=True, cwd=str(REPO), timeout=600, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (out / "benchmark.md").read_text().startswith("Measured ")
    return json.loads((out / "benchmark.json").read_text())


def test_report_contract_pipeline_and_startup(tmp_path):
    report = _run(tmp_path, "--sections", "pipeline,startup")
    machine = report["machine"]
    _positive(machine["cores"], "machine.cores")
    assert machine["cpu_flags"] and machine["tensorflow"] and machine["litert"]
    assert len(machine["load_average_start"]) == 3
    row = report["pipeline"]["ranking"]
    for key in ("pipeline_examples_per_second", "train_examples_per_second", "headroom",
                "cold_examples_per_second", "epoch_start_seconds"):
        _positive(row[key], f"pipeline.ranking.{key}")
    # The headroom is the ratio of the two rates it claims to be.
    assert row["headroom"] == pytest.approx(row["pipeline_examples_per_second"] / row["train_examples_per_second"])
    # Input wait: the median of per-round paired estimates (clipped at 0), inside its quartiles;
    # the real pipeline's whole fetch share is a share of the step.
    waits = row["input_wait_rounds"]
    assert len(waits) >= 3
    assert row["input_wait_fraction"] == pytest.approx(max(0.0, statistics.median(waits)))
    low, high = row["input_wait_quartiles"]
    assert low <= statistics.median(waits) <= high
    assert 0.0 < row["fetch_fraction"] < 1.0 and 0.0 < row["fetch_fraction_from_memory"] < 1.0
    assert row["in_step_ms"] > 0.0
    for key in ("train_help", "edge_help", "train_usage_error"):
        _positive(report["startup_seconds"][key], f"startup_seconds.{key}")


def test_markdown_names_every_measured_task():
    tool = _load_tool()
    report = {
        "created": "now", "command": "python tools/benchmark.py --quick",
        "machine": {"cpu_model": "cpu", "cores": 2, "simd_flags": ["avx2"], "tensorflow": "2", "keras": "3",
                    "litert": "1", "load_average_start": [1.0, 1.0, 1.0]},
        "pipeline": {"ranking": {"params": 10, "pipeline_examples_per_second": 3000.0, "cold_examples_per_second": 900.0,
                                 "epoch_start_seconds": 0.0123, "train_examples_per_second": 1000.0, "headroom": 3.0, "input_wait_fraction": 0.01,
                                 "input_wait_quartiles": [-0.02, 0.035], "fetch_fraction": 0.071}},
        "startup_seconds": {"train_help": 1.5, "edge_help": 0.4, "train_usage_error": 0.35, "runs": 3},
    }
    table = tool.markdown(report)
    assert "(exit 2) | 0.35 | < 1 s |" in table
    assert "| ranking | 10 | 3,000 | 900 | 12.3 | 1,000 | 3.0x | 1.0% (-2.0 to 3.5; fetch 7.1%) |" in table
    assert "| `python -m kerasuite.train --help` | 1.50 | < 3 s |" in table and "| 0.40 | < 1 s |" in table
    # the same tables feed results/benchmark.json, which tools/readme_tables.py renders in the README
    sys.path.insert(0, str(REPO / "tools"))
    from readme_tables import render

    tables = tool.results_tables(report)
    assert set(tables) == {"targets", "pipeline", "startup"}
    # met is judged from the numbers: headroom 3.0 >= 3, wait 1% < 5%, start-up 1.50 s train --help < 3 s
    assert [row[2] for row in tables["targets"]["rows"]] == [True, True, True], tables["targets"]
    report["startup_seconds"]["train_usage_error"] = 1.2
    report["pipeline"]["ranking"]["headroom"] = 2.5
    assert [row[2] for row in tool.results_tables(report)["targets"]["rows"]] == [False, True, False]
    for name in tables:
        assert render({"tables": tables, "command": "c"}, name, "results/benchmark.json").count("\n|") >= 2


def test_merge_fills_what_this_run_did_not_measure_and_keeps_only_open_errors():
    tool = _load_tool()
    machine = {"cpu_model": "cpu", "cores": 2, "simd_flags": ["avx2"], "tensorflow": "2", "keras": "3",
               "litert": "1", "load_average_start": [1.0], "load_average_end": [2.0]}
    earlier = {"created": "then", "command": "python tools/benchmark.py", "machine": machine, "seconds": 100,
               "edge": {"ranking": {"from": "earlier"}, "image_classification_96x96x3": {"from": "earlier"}},
               "startup_seconds": {"from": "earlier"},
               "errors": {"keyword_spotting:edge": "killed", "scaling": "refused", "retrieval": "failed"}}
    report = {"created": "now", "command": "python tools/benchmark.py --sections scaling,edge", "machine": machine,
              "seconds": 10, "edge": {"ranking": {"from": "now"}, "keyword_spotting": {"from": "now"}},
              "scaling": {"from": "now"}}
    tool.merge_earlier(report, earlier)
    assert report["edge"]["ranking"] == {"from": "now"}  # this run's row wins
    assert report["edge"]["image_classification_96x96x3"] == {"from": "earlier"}
    assert report["startup_seconds"] == {"from": "earlier"} and report["scaling"] == {"from": "now"}
    assert report["errors"] == {"retrieval": "failed"}  # the re-measured parts' errors are gone
    assert [run["created"] for run in report["merged_from"]] == ["then"]
    assert [row[0] for row in [tool.run_row(one) for one in [*report["merged_from"], report]]] == ["then", "now"]


def test_markdown_edge_rows_give_agreement_or_max_difference():
    tool = _load_tool()

    def mode(size, p50, agreement, diff):
        return {"size_bytes": size, "accuracy": 0.9, "agreement": agreement, "max_abs_diff": diff, "parity_examples": 50,
                "latency_ms": {"p50": p50, "p90": 2 * p50}, "latency_ms_2_threads": {"p50": p50, "p90": p50}}

    def task(agreement):
        return {"metric": "accuracy", "keras_metric": 0.91, "keras_latency_ms": {"p50": 10.0, "p90": 12.0},
                "keras_size_bytes": 4096, "float32": mode(4000, 1.0, 1.0 if agreement else None, 1e-6),
                "int8": mode(1000, 0.5, 0.96 if agreement else None, 0.031)}

    report = {"created": "now", "command": "c", "edge": {"image": task(True), "ranking": task(False)},
              "machine": {"cpu_model": "cpu", "cores": 2, "simd_flags": [], "tensorflow": "2", "keras": "3",
                          "litert": "1", "load_average_start": [1.0, 1.0, 1.0]}}
    table = tool.markdown(report)
    assert "| image | int8 | 1.0 kB | 0.25x | 0.9000 | 0.960 (50) | 0.500 | 1.000 | 0.500 | 0.50x | 20x |" in table
    assert "| ranking | int8 | 1.0 kB | 0.25x | 0.9000 | max diff 0.031 (50) |" in table


def test_a_bad_merge_file_is_refused_before_measuring(tmp_path):
    (tmp_path / "earlier.json").write_text("[]")
    for path in (tmp_path / "earlier.json", tmp_path / "missing.json"):
        done = subprocess.run([sys.executable, str(REPO / "tools" / "benchmark.py"), "--merge", str(path),
                               "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and "--merge" in done.stderr.strip().splitlines()[-1], done.stderr
        assert not (tmp_path / "out" / "benchmark.json").exists()


def test_unknown_section_is_refused(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "tools" / "benchmark.py"), "--sections", "nope",
                           "--out", str(tmp_path)], capture_output=True, text=True, cwd=str(REPO), timeout=60, check=False)
    assert done.returncode == 2 and "nope" in done.stderr


@pytest.mark.slow
def test_report_contract_edge(tmp_path):
    report = _run(tmp_path, "--sections", "edge")
    edge = report["edge"]["ranking"]
    _positive(edge["keras_latency_ms"]["p50"], "edge.ranking.keras_latency_ms.p50")
    for mode in ("float32", "int8"):
        for quantile in ("p50", "p90"):
            _positive(edge[mode]["latency_ms"][quantile], f"edge.ranking.{mode}.latency_ms.{quantile}")
        _positive(edge[mode]["size_bytes"], f"edge.ranking.{mode}.size_bytes")
        assert math.isfinite(edge[mode]["accuracy"])
        # Ranking predicts a rating: no decision to agree on, so the parity's max difference.
        assert edge[mode]["agreement"] is None and edge[mode]["parity_examples"] > 0
        assert 0.0 <= edge[mode]["max_abs_diff"] < 5.0


@pytest.mark.slow
def test_keyword_spotting_edge_model_learns(tmp_path):
    """The edge row compares int8 with float accuracy; at chance (0.25 for 4 tones, what 4
    optimizer steps gave before EDGE_TRAINING) that comparison says nothing."""
    report = _run(tmp_path, "--sections", "edge", tasks="keyword_spotting")
    edge = report["edge"]["keyword_spotting"]
    assert report["edge_training"]["keyword_spotting"]["train.batch_size"] == "16"
    # 3x chance: runs differ by a clip or two of the 24 (0.96 and 1.0 measured), chance is 0.25
    assert edge["keras_metric"] >= 0.75, edge
    for mode in ("float32", "int8"):
        assert edge[mode]["accuracy"] >= 0.75, (mode, edge[mode])


def test_pipeline_rates_count_every_example_and_batch_of_a_pass():
    import tensorflow as tf

    tool = _load_tool()

    def make():  # 100 examples in 13 batches, the last one of 4
        return tf.data.Dataset.range(100).map(lambda x: ({"x": x}, x)).batch(8)

    rates = tool.pipeline_rates(make, repeats=2, min_batches=30)
    assert rates["examples"] == 100 and rates["batches"] == 13
    for key in ("cold_examples_per_second", "warm_examples_per_second", "epoch_start_seconds"):
        _positive(rates[key], key)
    consume = tool._consumer()
    assert int(consume(iter(make().repeat()), tf.constant(26, tf.int64))) == 200  # whole passes are counted


def test_tflm_benchmark_tables_keep_a_failed_file_and_skip_empty_tables():
    tool = load_tool("benchmark_tflm")
    row = {"data": "d", "epochs": 1, "keras_accuracy": 0.9, "int8_tflm_accuracy": 0.8, "tflm_status": "failed",
           "tflm_reason": "agreement 0.9 < 0.98", "flash_bytes": 79139, "arena_bytes": 436256,
           "tflm_latency_ms": {"p50": 16.34}, "network_only": {"flash_bytes": 43472, "arena_bytes": 25216}}
    tables = tool.results_tables({"models": {tool.MODEL_ROWS[-1][0]: row}, "kws_sizes": {}})
    assert set(tables) == {"models", "kws_default_split"}  # --rows models writes no empty sizes table
    assert tables["models"]["rows"][0][5] == "failed (agreement 0.9 < 0.98)" and tables["models"]["rows"][0][-1] == 16.3
    assert tables["kws_default_split"]["rows"] == [["with the MFCC front end (the bundle file)", 79139, 436256],
                                                   ["network only (MFCC map in)", 43472, 25216]]


def test_edge_benchmark_measures_a_failed_file_where_it_was_moved_and_labels_it(tmp_path):
    """A file that failed parity sits in failed/; the latency table measures it there and says so
    (it listed only the bundle's passing files before)."""
    tool = load_tool("benchmark_edge")
    bundle = tmp_path / "bundle"
    (bundle / "failed").mkdir(parents=True)
    (bundle / "model_float32.tflite").write_bytes(b"f")
    (bundle / "failed" / "model_int8.tflite").write_bytes(b"i")
    (bundle / "signature.json").write_text(json.dumps({"modes": {
        "float32": {"file": "model_float32.tflite", "verdict": "passed"},
        "int8": {"file": "failed/model_int8.tflite", "verdict": "failed"},
        "float16": {"file": "model_float16.tflite", "verdict": "passed"}}}))  # listed, but its file is gone
    assert tool.exported_files(bundle) == {"float32": (bundle / "model_float32.tflite", "passed"),
                                           "int8": (bundle / "failed" / "model_int8.tflite", "failed")}


def test_retrieval_benchmark_averages_each_model_over_its_seeds():
    """EASE's rows carry their chosen lambda in the name; the means group them as one model, and
    a failed run is left out rather than read as zero."""
    tool = load_tool("benchmark_retrieval")
    rows = [{"data": "debian", "seed": 1, "model": "ease (lambda 20.0)", "recall_at_10": 0.74, "recall_at_100": 0.9, "seconds": 5},
            {"data": "debian", "seed": 2, "model": "ease (lambda 100.0)", "recall_at_10": 0.72, "recall_at_100": 0.8, "seconds": 7},
            {"data": "debian", "seed": 1, "model": "history_two_tower", "recall_at_10": 0.75, "recall_at_100": 0.92, "seconds": 10},
            {"data": "debian", "seed": 2, "model": "history_two_tower", "error": "killed"}]
    means = {(m["data"], m["model"]): m for m in tool.seed_means(rows)}
    assert set(means) == {("debian", "ease"), ("debian", "history_two_tower")}
    ease = means[("debian", "ease")]
    assert ease["seeds"] == 2 and math.isclose(ease["recall_at_10"], 0.73) and ease["recall_at_10_min"] == 0.72
    assert math.isclose(ease["recall_at_100"], 0.85) and ease["seconds"] == 6.0
    assert means[("debian", "history_two_tower")]["seeds"] == 1


def test_the_full_benchmark_asks_int16x8_only_of_the_tasks_with_float_inputs():
    """Every mode runs in the full edge section, but the tasks that take integer ids refuse int16x8
    before TensorFlow starts: asking them for it would end their edge rows in an error."""
    from kerasuite.config import EXPORT_MODES

    modes_for = _load_tool().modes_for

    assert "int16x8" in modes_for("keyword_spotting", list(EXPORT_MODES))
    assert "int16x8" in modes_for("image_classification", list(EXPORT_MODES))
    for task in ("text_classification", "retrieval", "ranking"):
        assert modes_for(task, list(EXPORT_MODES)) == [m for m in EXPORT_MODES if m != "int16x8"], task
