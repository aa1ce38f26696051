"""Delimited tables for ``csv:`` sources: the dialect a file's name implies, columns found by a
configured name, and a folder's train and test files. Standard library only, so the config check
can use it before TensorFlow loads."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Iterable, Sequence

from kerasuite.errors import UserError

TABLE_SUFFIXES = (".csv", ".tsv")


def is_tab_separated(path: Path) -> bool:
    return Path(path).suffix.lower() == ".tsv"


def table_reader(handle, path: Path):
    """A ``csv.reader`` for ``path``: comma-separated with double quotes, or for ``.tsv``
    tab-separated without quoting, as GLUE's and Kaggle's .tsv files are written (their texts
    hold unbalanced quotes, which quoting would read as one field running over many lines)."""
    if is_tab_separated(path):
        return csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
    return csv.reader(handle)


def extra_fields_hint(path: Path) -> str:
    """How a row gets more fields than its header, in the words of the file's dialect."""
    if is_tab_separated(path):
        return "a value holds a tab"
    return "put a value that holds commas in double quotes"


def column_key(name: str) -> str:
    """A column name as matched: case, surrounding spaces and underscores ignored (``userId`` is
    ``user_id``)."""
    return name.strip().lower().replace("_", "")


def listed_columns(value: str) -> tuple[str, ...]:
    """A setting's comma-separated columns (``title,description``; ``2,3``), spaces around each ignored."""
    return tuple(part.strip() for part in value.split(",") if part.strip())


def is_column_number(name: str) -> bool:
    """A column counted from 1, as a file without a header row names them; ASCII digits only,
    as ``int()`` refuses some other digits (``²``)."""
    return re.fullmatch(r"[0-9]+", name.strip()) is not None and int(name) >= 1


def find_column(header: Sequence[str], names: Iterable[str]) -> int | None:
    """Where the first of ``names`` found is in ``header``. A name spelt as in the header up to
    case wins over one that matches only without underscores, so a file holding both ``user_id``
    and ``userId`` reads the column it always did."""
    for name in names:
        exact = [at for at, cell in enumerate(header) if cell.strip().lower() == name.strip().lower()]
        loose = [at for at, cell in enumerate(header) if column_key(cell) == column_key(name)]
        if exact or loose:
            return (exact or loose)[0]
    return None


def first_repeated(names: Iterable[str]) -> str | None:
    """The first name that matches an earlier one as a column (settings naming one column twice)."""
    seen: set[str] = set()
    for name in names:
        if column_key(name) in seen:
            return name
        seen.add(column_key(name))
    return None


def split_file(folder: Path, split: str, target: str) -> Path | None:
    """``folder/SPLIT.csv`` or ``folder/SPLIT.tsv``; both at once is refused, as either could be meant."""
    present = [folder / f"{split}{suffix}" for suffix in TABLE_SUFFIXES if (folder / f"{split}{suffix}").is_file()]
    if len(present) > 1:
        raise UserError(f"--data csv:{target}: the folder holds both {present[0].name} and {present[1].name}; "
                        "keep one")
    return present[0] if present else None


def train_and_test_files(folder: Path, target: str) -> tuple[Path, Path]:
    """A ``csv:`` folder's training and test files, each .csv or .tsv."""
    found = {split: split_file(folder, split, target) for split in ("train", "test")}
    missing = [split for split, path in found.items() if path is None]
    if missing:
        raise UserError(f"--data csv:{target}: a folder needs train.csv and test.csv (or .tsv); "
                        + ", ".join(f"no {split}.csv or {split}.tsv" for split in missing))
    return found["train"], found["test"]
