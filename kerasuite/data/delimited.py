"""Delimited tables for ``csv:`` sources: the dialect a file's name or first row shows, columns
found by a configured name, and a folder's train and test files. Standard library only, so the
config check can use it before TensorFlow loads."""

from __future__ import annotations

import csv
import dataclasses
import re
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator, Sequence

from kerasuite.errors import UserError

TABLE_SUFFIXES = (".csv", ".tsv")
FIRST_ROW_LIMIT = 1 << 16  # bytes of the first row looked at: a header's names fit many times over


@dataclasses.dataclass(frozen=True)
class Dialect:
    delimiter: str
    name: str  # as notes and messages say it: "semicolon"
    # Tab-separated text is read without quoting, as GLUE's and Kaggle's .tsv files are written:
    # their texts hold unbalanced quotes, which quoting would read as one field running over many
    # lines. The others quote with double quotes, as Excel and Book-Crossing write them.
    quoted: bool

    def reader(self, handle):
        if self.quoted:
            return csv.reader(handle, delimiter=self.delimiter)
        return csv.reader(handle, delimiter=self.delimiter, quoting=csv.QUOTE_NONE)

    @property
    def extra_fields_hint(self) -> str:
        """How a row gets more fields than its header, in this dialect's words."""
        if not self.quoted:
            return f"a value holds a {self.name}"
        return f"put a value that holds {self.name}s in double quotes"


COMMA = Dialect(",", "comma", quoted=True)
TAB = Dialect("\t", "tab", quoted=False)
# What a header row may be separated by instead of commas: Book-Crossing's and European Excel's
# semicolons, HetRec's tabs in .dat files, database exports' pipes
OTHER_DIALECTS = {dialect.delimiter: dialect for dialect in (TAB, Dialect(";", "semicolon", quoted=True),
                                                             Dialect("|", "pipe", quoted=True))}
DIALECTS = {COMMA.delimiter: COMMA, **OTHER_DIALECTS}


def is_tab_separated(path: Path) -> bool:
    return Path(path).suffix.lower() == ".tsv"


def table_dialect(path: Path, header: bool = True) -> Dialect:
    """How ``path`` is delimited: tabs for a .tsv, commas for a file without a header row; else
    what its header row shows outside double quotes: commas whenever it holds one, else the one
    other delimiter it holds.

    A header names columns, so a delimiter in it is a safe witness. A row of data is not: its free
    text may hold commas in a semicolon-separated file. A row of data read as a header (Yelp's
    first row before data.text.header=false; AG News' beside its classes.txt) still reads as it
    always did: two or more columns read by commas show a comma outside their quotes, whatever
    their text holds, and a row that shows none was one column, which no loader could use."""
    if is_tab_separated(path):
        return TAB
    if not header:
        return COMMA
    number, line = _first_row_line(path)
    outside_quotes = "".join(line.split('"')[::2])  # a doubled quote inside a value closes and reopens it
    if "," in outside_quotes:
        return COMMA
    found = [dialect for delimiter, dialect in OTHER_DIALECTS.items() if delimiter in outside_quotes]
    if len(found) > 1:
        raise _unclear_delimiter(path, number, found)
    return found[0] if found else COMMA


def _first_row_line(path: Path) -> tuple[int, str]:
    """(number, text) of the first line that is not blank; (0, "") for a file without one. Read
    as ISO-8859-1, which decodes any byte: the delimiters and quotes are ASCII in UTF-8 too."""
    try:
        with open(path, "rb") as handle:
            number = 0
            while line := handle.readline(FIRST_ROW_LIMIT):
                number += 1
                if line.strip():
                    return number, line.decode("latin-1")
    except OSError as error:
        raise UserError(f"{path}: cannot read ({error.strerror or error})") from None
    return 0, ""


def _unclear_delimiter(path: Path, number: int, found: list[Dialect]) -> UserError:
    # Either guess would read every row into the wrong columns; the user knows which one it is
    remedy = ("name a tab-separated file .tsv, or double-quote the values that hold the other"
              if TAB in found else "double-quote the values that hold the other")
    return UserError(f"{path}: line {number} holds no comma but {' and '.join(f'a {d.name}' for d in found)} "
                     f"outside double quotes, so which one separates its columns is unclear; {remedy}")


def table_reader(handle, path: Path, header: bool = True):
    """A ``csv.reader`` over ``handle`` in ``path``'s dialect (:func:`table_dialect`)."""
    return table_dialect(path, header).reader(handle)


def extra_fields_hint(reader) -> str:
    """How a row gets more fields than its header, in the words of ``reader``'s dialect."""
    return DIALECTS[reader.dialect.delimiter].extra_fields_hint


def delimiter_notes(*paths: Path | None) -> list[str]:
    """What the user should hear about each header file read (``None``: none there): the
    delimiter its header row showed, when neither the comma nor the .tsv its name implies."""
    dialects = [(path, table_dialect(path)) for path in paths if path is not None and not is_tab_separated(path)]
    return [f"{path} is {dialect.name}-separated (seen in its header row)" for path, dialect in dialects
            if dialect is not COMMA]


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


def line_blocks(handle: BinaryIO, first_line: int, block_bytes: int) -> Iterator[tuple[int, bytes]]:
    """Whole lines of an open binary file, about ``block_bytes`` at a time, each block with the
    number of its first line: numpy's reader parses a block at once, and a block it cannot take
    is read again line by line, naming the bad line."""
    while block := handle.read(block_bytes):
        block += handle.readline()
        yield first_line, block
        first_line += block.count(b"\n")


def numpy_sees_python_lines(block: bytes) -> bool:
    """Whether numpy's reader breaks ``block`` into the lines Python does: it takes a lone carriage
    return for a line break."""
    return block.count(b"\r") == block.count(b"\r\n")
