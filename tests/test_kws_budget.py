"""tools/benchmark_kws_budget.py: its usage errors (before any training) and the README table it
writes from measured cells."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import REPO, load_tool


def _tool():
    return load_tool("benchmark_kws_budget")


@pytest.mark.parametrize("args, culprit", [
    (["--configs", "bogus"], "--configs: unknown bogus"),
    (["--configs", "default", "--cells", "loud:default"], "--cells: expected DATA:CONFIG"),
    (["--configs", "default", "--sizes", "tiny"], "--sizes: unknown tiny"),
    (["--configs", "default", "--easy", "", "--hard", ""], "nothing to measure"),
])
def test_usage_errors_exit_2_before_training(tmp_path, args, culprit):
    done = subprocess.run([sys.executable, str(REPO / "tools" / "benchmark_kws_budget.py"), "--out", str(tmp_path), *args],
                          capture_output=True, text=True, timeout=120, cwd=str(REPO))
    assert done.returncode == 2 and culprit in done.stderr, done.stderr
    assert not (tmp_path / "results.json").exists()


def test_table_has_one_row_per_config_with_both_sets_and_the_verdicts():
    tool = _tool()
    cell = {"keras_accuracy": 0.92, "int8_tflm_accuracy": 0.91, "int8_tflm_agreement": 0.99, "parity_passed": True,
            "parity_failed": None, "flash_bytes": 79000, "arena_bytes": 436000, "params": 24372}
    failed = {**cell, "parity_passed": False, "parity_failed": "int8: agreement 0.95 < 0.98", "flash_bytes": 77000}
    results = {"data": {"easy": "folder:e", "hard": "folder:h"},
               "configs": {"default": {"hard": cell, "easy": failed}, "fft512_dir8": {"hard": {"error": "disk full"}}},
               "sizes": {"default": {"flash_bytes": 75792, "arena_bytes": 436240, "params": 24372, "operators": 62,
                                     "peak_live_bytes": 417792, "peak_at_operator": "30 RESHAPE",
                                     "peak_tensors": ["INT8[1, 51, 32, 128]"]}}}
    tables = tool.results_tables(results)
    configs = tables["configs"]
    assert configs["columns"][5:8] == ["easy: Keras acc", "easy: int8 acc on TFLM", "easy: TFLM agreement"]
    default, fft = configs["rows"]
    assert default[3] == 77000  # flash from the first data set's cell (easy), not the hard one
    assert default[5:11] == [0.92, 0.91, 0.99, 0.92, 0.91, 0.99]
    assert "easy: failed (int8: agreement 0.95 < 0.98)" in default[-1] and "hard: passed" in default[-1]
    assert fft[3] is None and "hard: error (disk full)" in fft[-1]
    assert tables["sizes"]["rows"][0][3:6] == [75792, 436240, 62]
