"""The README renders: every markdown table has a header, a separator and rows of the same width
(a blank line inside a table splits it, and the rows after it render as plain text)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import load_tool

REPO = Path(__file__).resolve().parents[1]
SEPARATOR = re.compile(r"^\|(\s*:?-{3,}:?\s*\|)+\s*$")


def cells(line: str) -> list[str]:
    body = line.strip()
    body = body[1:-1] if body.endswith("|") else body[1:]
    return re.split(r"(?<!\\)\|", body)


def table_blocks(text: str) -> list[tuple[int, list[str]]]:
    """(first line number, lines) of each run of consecutive lines starting with '|', outside
    fenced code blocks."""
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    start, fenced = 0, False
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if not fenced and line.lstrip().startswith("|"):
            if not current:
                start = number
            current.append(line)
            continue
        if current:
            blocks.append((start, current))
            current = []
    if current:
        blocks.append((start, current))
    return blocks


MARKDOWN_FILES = [REPO / "README.md", REPO / "exports" / "README.md"]


@pytest.mark.parametrize("path", MARKDOWN_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_table_parses(path: Path):
    blocks = table_blocks(path.read_text(encoding="utf-8"))
    assert blocks, f"{path}: no tables found"
    for start, lines in blocks:
        assert len(lines) >= 2 and SEPARATOR.match(lines[1].strip()), (
            f"{path.name}:{start}: a table without a header separator (a blank line inside a table?)")
        width = len(cells(lines[0]))
        for offset, line in enumerate(lines):
            assert len(cells(line)) == width, f"{path.name}:{start + offset}: {len(cells(line))} cells, header has {width}"


def test_table_checker_catches_a_split_table():
    broken = "| a | b |\n|---|---|\n| 1 | 2 |\n\n| 3 | 4 |\n"
    blocks = table_blocks(broken)
    assert len(blocks) == 2 and not SEPARATOR.match(blocks[1][1][0] if len(blocks[1][1]) > 1 else "")


def _load_readme_tables():
    return load_tool("readme_tables")


def test_readme_tables_match_their_results_files():
    tables = _load_readme_tables()
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert tables.regenerate(text) == text, "run python tools/readme_tables.py after a benchmark"


def test_readme_tables_regenerate_and_check(tmp_path):
    import json

    tables = _load_readme_tables()
    (tmp_path / "results").mkdir()
    results = {"command": "python tools/x.py", "date": "2026-12-01",
               "tables": {"t": {"columns": ["model", "accuracy"], "rows": [["ngram", 0.91234], ["tfidf", 0.9]]}}}
    (tmp_path / "results" / "x.json").write_text(json.dumps(results))
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- results: results/x.json#t -->\nstale\n<!-- /results -->\nend\n")
    assert tables.main(["--readme", str(readme), "--check"]) == 1
    assert tables.main(["--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "| ngram | 0.9123 |" in text and "stale" not in text and text.endswith("end\n")
    assert tables.main(["--readme", str(readme), "--check"]) == 0
    results["tables"]["t"]["rows"][0][1] = 0.5
    (tmp_path / "results" / "x.json").write_text(json.dumps(results))
    assert tables.main(["--readme", str(readme), "--check"]) == 1


# Tables of measured figures that no script regenerates: one-off studies whose runs are gone,
# kept as records. Each is named by its header line, and the text just above it must say that it
# is a recorded study, with the date and the command that made it.
RECORDED_STUDIES = (
    "| training | test accuracy | `_unknown_` recall | weakest words |",
    "| change (cumulative where marked +) | recall@10 |",
    "| settings | recall@10 |",
    "| task | before | after | speedup | headroom before -> after | input wait before -> after |",
    "| variant | float32 | int8 | int8 vs float32 (vs the old float32) | int8 accuracy | int8 top-1 agreement |",
    "| training | clip accuracy (int8 agreement) | threshold 0.7 | 0.8 | 0.9 | 0.8 without smoothing | 0.9 without smoothing |",
    ('| build (`en-029` "up" test clips) | nucleus, floor 0.02 | nucleus, floor 0.002 | coda, floor 0.02 '
     '| coda, floor 0.002 | both, floor 0.02 | both, floor 0.002 |'),
    "| setting (`--set`) | seeds | Keras acc | cell lost |",
    "| data (test clips) | int8 top-1 agreement | largest probability difference | decisions differing at 0.6 / 0.7 / 0.8 / 0.9 |",
    "| model (data, seed) | Keras acc | int8 agreement | 16x8 agreement | int8 acc on TFLM | 16x8 acc on TFLM |",
    "| model (data, seed) | all int8 | + waveform and first DFT float | + second DFT float (projections int8) "
    "| + magnitude and mel input float | whole log-mel float |",
)
# A measured figure: a decimal number anywhere in a cell, or a cell that is only a number (with a
# unit); code spans are settings and commands, not figures.
MEASURED_CELL = re.compile(r"\d\.\d|^\s*\d[\d,]*\s*(B|kB|KB|MB|ms|s|x|%)?\s*$")
CODE_SPAN = re.compile(r"`[^`]*`")
RECORDED_LABEL = re.compile(r"[Rr]ecorded study \((\d{4}-\d{2}-\d{2})[^)]*\)")


def lines_in_results_blocks(text: str) -> set[int]:
    inside, numbers = False, set()
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("<!-- results:"):
            inside = True
        elif line.startswith("<!-- /results -->"):
            inside = False
        elif inside:
            numbers.add(number)
    return numbers


def unsourced_measured_tables(text: str) -> list[tuple[int, str]]:
    """(first line, header) of each table with a measured figure outside a results block."""
    generated = lines_in_results_blocks(text)
    found = []
    for start, lines in table_blocks(text):
        if start in generated:
            continue
        if any(MEASURED_CELL.search(CODE_SPAN.sub("", cell)) for line in lines[2:] for cell in cells(line)):
            found.append((start, lines[0].strip()))
    return found


def test_every_measured_table_comes_from_a_results_file_or_is_a_recorded_study():
    stray = [f"{path.relative_to(REPO)}:{start}: {header}" for path in MARKDOWN_FILES
             for start, header in unsourced_measured_tables(path.read_text(encoding="utf-8"))
             if header not in RECORDED_STUDIES]
    assert not stray, ("measured tables outside <!-- results: ... --> blocks (write them from a results file, "
                       "or list a one-off study in RECORDED_STUDIES): " + "; ".join(stray))


def test_recorded_studies_are_labelled_with_date_and_command():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    lines = text.splitlines()
    unsourced = {header: start for start, header in unsourced_measured_tables(text)}
    for header in RECORDED_STUDIES:
        assert header in unsourced, f"RECORDED_STUDIES lists a table the README no longer has: {header}"
        above = "\n".join(lines[max(0, unsourced[header] - 16):unsourced[header] - 1])
        label = RECORDED_LABEL.search(above)
        assert label, f"README.md:{unsourced[header]}: no 'recorded study (YYYY-MM-DD ...)' label above {header}"
        assert re.search(r"`(PYTHONPATH=\. )?python ", above[label.start():]), (
            f"README.md:{unsourced[header]}: the recorded study's label names no command")


def test_measured_table_check_catches_an_unmarked_table():
    text = ("<!-- results: results/x.json#t -->\n| a | b |\n|---|---|\n| x | 0.91 |\n<!-- /results -->\n\n"
            "| c | d |\n|---|---|\n| y | 1,234 B |\n\n| option | meaning |\n|---|---|\n| `--hop 0.25` | seconds |\n")
    assert unsourced_measured_tables(text) == [(7, "| c | d |")]
