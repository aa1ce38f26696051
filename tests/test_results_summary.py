"""tools/results_summary.py: the README's Results rows are copied from the other results files,
each row naming its source, and a missing source is one error line with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import load_tool

REPO = Path(__file__).resolve().parents[1]


def _load(name: str):
    return load_tool(name)


summary = _load("results_summary")


def _write(root: Path, name: str, table: str, columns: list[str], rows: list[list], command: str) -> None:
    (root / "results").mkdir(exist_ok=True)
    (root / "results" / f"{name}.json").write_text(json.dumps(
        {"command": command, "date": "2026-12-01", "tables": {table: {"columns": columns, "rows": rows}}}))


def _sources(root: Path) -> None:
    image_row = dict(zip(summary.IMAGE_RUN_COLUMNS, [None] * len(summary.IMAGE_RUN_COLUMNS)))
    image_row.update({"data": "builtin:digits", "command": "python -m kerasuite.train", "model": "cnn",
                      "test examples": 359, "epochs": 20, "Keras accuracy": 0.91234, "float32 accuracy": 0.91234,
                      "int8 accuracy": 0.9, "int8 top-1 agreement": 0.98, "float32 bytes": 1000, "int8 bytes": 300,
                      "majority class accuracy": 0.1, "parity": "passed"})
    _write(root, "image_default", "runs", summary.IMAGE_RUN_COLUMNS, [list(image_row.values())],
           "python tools/results_summary.py --measure")
    _write(root, "speech", "seeds",
           ["data (test clips)", "model", "seeds done", "Keras acc (mean)", "Keras acc (range)",
            "int8 acc on TFLM (mean)", "int8 agreement LiteRT (mean)", "int8 agreement TFLM (mean)",
            "seeds failing int8 parity", "int8 bytes", "MFCC stats + logistic regression"],
           [["hard (288)", "cnn", 3, 0.5, "0.4-0.6", 0.5, 0.99, 0.99, 0, 90000, 0.3],
            ["hard (288)", "ds_cnn", 3, 0.94907, "0.944-0.951", 0.9468, 0.9896, 0.9931, 1, 79139, 0.6875]],
           "python tools/benchmark_speech.py --write-results")
    _write(root, "text", "corpora", ["corpus", "model", "seeds", "accuracy", "int8 accuracy", "int8 KB", "parity"],
           [["fortunes", "TF-IDF + logreg", 3, "0.6494", None, None, None],
            ["fortunes", "ngram", 3, "0.6109", "0.6092", 531, "FAILED"]],
           "python -m tools.benchmark_text --results text")
    _write(root, "retrieval", "recall", ["data", "seed", "model", "epochs", "recall@10", "recall@100"],
           [["debian", 42, "ease (lambda 20.0)", None, 0.74, 0.894],
            ["debian", 42, "popularity", None, 0.258, 0.469],
            ["debian", 42, "two_tower", 8, 0.639, 0.872],
            ["debian", 42, "history_two_tower", 16, 0.714, 0.91],
            ["synthetic", 42, "ease (lambda 100.0)", None, 0.3, 0.9]],
           "tools/benchmark_retrieval.py --results-name retrieval")


def test_summary_rows_copy_each_default_family_row_and_name_their_source(tmp_path):
    _sources(tmp_path)
    assert summary.main(["--root", str(tmp_path)]) == 0
    written = json.loads((tmp_path / "results" / "summary.json").read_text())
    assert written["command"] == "python tools/results_summary.py"
    rows = {row[0]: dict(zip(written["tables"]["results"]["columns"], row)) for row in written["tables"]["results"]["rows"]}
    assert len(written["tables"]["results"]["rows"]) == 4  # one per task with a source; only default families

    image = rows["image_classification"]
    assert (image["Keras"], image["int8 TFLite"], image["int8 file"]) == ("0.9123", "0.9", "300 B (0.30x float32)")
    assert image["from"] == "`results/image_default.json#runs` row 1"

    speech = rows["keyword_spotting"]  # the ds_cnn row (row 2), not the cnn one
    assert speech["model"] == "ds_cnn" and speech["Keras"] == "0.9491 (0.944-0.951)"
    assert speech["int8 top-1 agreement with Keras"] == "LiteRT 0.9896 / TFLM 0.9931"
    assert speech["parity"] == "failed on 1 of 3 seeds" and speech["from"] == "`results/speech.json#seeds` row 2"
    assert speech["baseline on the same split"] == "MFCC statistics + logistic regression 0.6875"

    text = rows["text_classification"]
    assert (text["Keras"], text["parity"]) == ("0.6109", "FAILED")
    assert text["baseline on the same split"].endswith("0.6494") and text["from"] == "`results/text.json#corpora` rows 2, 1"

    retrieval = rows["retrieval"]  # baselines from the same data and seed only
    assert retrieval["Keras"] == "0.639 / 0.872"
    assert retrieval["baseline on the same split"] == "ease (lambda 20.0) 0.74 / 0.894; popularity 0.258 / 0.469"
    assert retrieval["from"] == "`results/retrieval.json#recall` rows 3, 1, 2"

    sources = {s["file"]: s for s in written["sources"]}
    assert sources["results/speech.json"]["command"] == "python tools/benchmark_speech.py --write-results"
    assert written["tables"]["sources"]["rows"][1] == [
        "`results/speech.json#seeds`", "`python tools/benchmark_speech.py --write-results`", "2026-12-01"]


def test_summary_follows_its_sources_when_they_are_rerun(tmp_path):
    _sources(tmp_path)
    assert summary.main(["--root", str(tmp_path)]) == 0
    _write(tmp_path, "text", "corpora", ["corpus", "model", "seeds", "accuracy", "int8 accuracy", "int8 KB", "parity"],
           [["manpages", "ngram", 2, 0.8, 0.8, 374, "passed"]], "python -m tools.benchmark_text --results text")
    assert summary.main(["--root", str(tmp_path)]) == 0
    written = json.loads((tmp_path / "results" / "summary.json").read_text())
    text = [row for row in written["tables"]["results"]["rows"] if row[0] == "text_classification"]
    assert [row[1:5] for row in text] == [["manpages", "ngram", "accuracy, mean of 2 seeds", "0.8"]]
    assert text[0][8] == ""  # no peer row in the new file: no baseline figure


@pytest.mark.parametrize("damage, message", [
    (lambda root: (root / "results" / "speech.json").unlink(),
     "error: results/speech.json: cannot read it (No such file or directory); "
     "tools/benchmark_speech.py --write-results writes it"),
    (lambda root: (root / "results" / "text.json").write_text("{not json"), "error: results/text.json: not JSON"),
    (lambda root: _write(root, "retrieval", "recall", ["data", "model"], [["debian", "two_tower"]], "x"),
     "error: results/retrieval.json#recall: no column 'seed'"),
    (lambda root: _write(root, "retrieval", "recall", ["data", "seed", "model"], [["debian", 42, "ease"]], "x"),
     "error: results/retrieval.json#recall: no row for retrieval's default family 'two_tower'"),
])
def test_a_bad_source_is_one_error_line_and_exit_2(tmp_path, capsys, damage, message):
    _sources(tmp_path)
    damage(tmp_path)
    assert summary.main(["--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "results" / "summary.json").exists()


def test_streaming_results_table_marks_the_default_threshold_and_counts():
    streaming = _load("benchmark_streaming")
    table = streaming.results_table({"negative_minutes": 20, "positive_words": 240, "rows": [
        {"threshold": 0.7, "false_alarms": 35, "false_alarms_per_hour": 105.0, "miss_rate": 0.19166,
         "false_alarms_in_positive_recording": 11},
        {"threshold": 0.9, "false_alarms": 0, "false_alarms_per_hour": 0.0, "miss_rate": 0.3667,
         "false_alarms_in_positive_recording": 3}]})
    assert table["columns"][2] == "miss rate (240 words)"
    assert table["rows"] == [["0.7 (default)", "105 (35 in 20 min)", 0.192, 11], ["0.9", "0 (0 in 20 min)", 0.367, 3]]


def test_committed_summary_matches_its_sources():
    """A benchmark rerun (results/speech.json, text.json, ...) without rerunning the summary fails
    here, not silently in the README."""
    tables, _ = summary.summary_tables(REPO)
    written = json.loads((REPO / "results" / "summary.json").read_text())
    assert written["tables"] == tables, "run python tools/results_summary.py, then python tools/readme_tables.py"


def test_retrieval_rows_come_from_the_seed_means_when_the_benchmark_ran_several_seeds(tmp_path):
    _sources(tmp_path)
    path = tmp_path / "results" / "retrieval.json"
    results = json.loads(path.read_text())
    results["tables"]["means"] = {
        "columns": ["data", "model", "seeds", "recall@10 (mean)", "recall@10 (range)", "recall@100 (mean)", "train s (mean)"],
        "rows": [["debian", "ease", 3, 0.739, "0.738-0.74", 0.895, 5.0],
                 ["debian", "popularity", 3, 0.258, "0.258-0.258", 0.469, 0],
                 ["debian", "two_tower", 3, 0.641, "0.638-0.644", 0.872, 20.0]]}
    path.write_text(json.dumps(results))
    assert summary.main(["--root", str(tmp_path)]) == 0
    written = json.loads((tmp_path / "results" / "summary.json").read_text())
    rows = {row[0]: dict(zip(written["tables"]["results"]["columns"], row)) for row in written["tables"]["results"]["rows"]}
    retrieval = rows["retrieval"]
    assert retrieval["metric"] == "recall@10 / recall@100, mean of 3 seeds"
    assert retrieval["Keras"] == "0.641 (0.638-0.644) / 0.872"
    assert retrieval["baseline on the same split"] == "ease 0.739 / 0.895; popularity 0.258 / 0.469"
    assert retrieval["from"] == "`results/retrieval.json#means` rows 3, 1, 2"


def test_streaming_benchmark_refuses_words_closer_than_their_match_range(capsys):
    streaming = _load("benchmark_streaming")
    with pytest.raises(SystemExit) as stop:
        streaming.main(["--model", "absent.tflite", "--data", "absent", "--spacing", "0.4"])
    assert stop.value.code == 2 and "--spacing 0.4" in capsys.readouterr().err  # it crashed before
