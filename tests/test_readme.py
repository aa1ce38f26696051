"""The README renders: every markdown table has a header, a separator and rows of the same width
(a blank line inside a table splits it, and the rows after it render as plain text)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

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
    import importlib.util

    spec = importlib.util.spec_from_file_location("readme_tables", REPO / "tools" / "readme_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
