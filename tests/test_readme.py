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
