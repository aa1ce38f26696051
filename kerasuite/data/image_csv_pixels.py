"""The pixels of the image CSVs :mod:`kerasuite.data.image_csv` finds, as an ``ArraySet`` of
uint8 images (the in-memory path MNIST's IDX files take).

numpy's C reader parses each block of rows: Kaggle's Digit Recognizer train.csv (42,000 rows of
785 numbers) and FER2013 (35,887 rows of 2,304) would take minutes as Python numbers
(tools/benchmarking/image_csv_read.py). A block it cannot take whole is read again row by row by
``PixelTable.row``, whose rules it shares and which names the first bad line.
"""

from __future__ import annotations

import dataclasses
import io
import warnings
from pathlib import Path

import numpy as np

from kerasuite.data.delimited import line_blocks, numpy_sees_python_lines
from kerasuite.data.image_arrays import ArraySet, ArraySplit
from kerasuite.data.image_csv import SPLIT_CODES, USAGE_SPLITS, PixelTable, find_tables
from kerasuite.errors import UserError

BLOCK_BYTES = 1 << 22
MAX_LABEL = 10**9 - 1  # PixelTable.row's nine digits
_USAGE_CODES = {usage: SPLIT_CODES[split] for usage, split in USAGE_SPLITS.items()}


@dataclasses.dataclass
class Rows:
    labels: np.ndarray  # int64 [N], as the file has them
    pixels: np.ndarray  # uint8 [N, side * side]
    splits: np.ndarray | None  # uint8 [N] of SPLIT_CODES: FER2013's Usage column, when the table has one

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, indices: np.ndarray) -> Rows:
        return Rows(self.labels[indices], self.pixels[indices], None if self.splits is None else self.splits[indices])


def read_pixel_csv(target: str) -> ArraySet:
    """``csv:TARGET``'s images with their labels as class indices, split as the files say: a test
    file beside the training file, FER2013's Usage column, or (test None) none, to be held out."""
    tables = find_tables(target)
    table = tables.train
    rows = read_rows(table)
    if tables.test is not None:
        parts, note = _with_test_file(table, rows, tables.test)
    elif table.usage is not None:
        parts, note = _by_usage(table, rows)
    else:
        parts = {"train": (rows, np.arange(len(rows)))}
        note = f"{len(rows):,} images, from which a test split is held out (data.test_fraction)"
    classes = np.unique(parts["train"][0].labels)
    if len(classes) < 2:
        raise UserError(f"{table.path}: every training row has {table.label_name} {classes[0]}; "
                        "need at least two classes")
    for split, (part, file_rows) in parts.items():
        _check_trained_labels(tables.test if split == "test" and tables.test is not None else table, part, file_rows, classes)
    names, numbered = _class_names(table, classes)
    notes = [*tables.notes, f"{table.path}: read as {table.kind}: {note}"]
    if numbered:
        notes.append(f"{table.path}: classes are named by their label numbers, as the table does not name them")
    splits = {split: ArraySplit(part.pixels.reshape(-1, table.side, table.side, 1),
                                np.searchsorted(classes, part.labels).astype(np.int64))
              for split, (part, _) in parts.items()}
    return ArraySet(splits["train"], splits.get("test"), names, notes, validation=splits.get("validation"),
                    validation_source=f"{table.path}'s PublicTest rows" if "validation" in splits else None)


def _with_test_file(table: PixelTable, rows: Rows, test_table: PixelTable) -> tuple[dict, str]:
    test = read_rows(test_table)
    parts = {"train": (rows, np.arange(len(rows))), "test": (test, np.arange(len(test)))}
    return parts, f"{len(rows):,} training and {len(test):,} test ({test_table.path.name}) images"


def _by_usage(table: PixelTable, rows: Rows) -> tuple[dict, str]:
    """FER2013's own split: Training, PublicTest (validation), PrivateTest (test) rows; a split
    without rows is left to be carved from Training, as for a file without the column."""
    parts = {}
    for split in USAGE_SPLITS.values():
        file_rows = np.flatnonzero(rows.splits == SPLIT_CODES[split])
        if len(file_rows):
            parts[split] = (rows.take(file_rows), file_rows)
    if "train" not in parts:
        raise UserError(f"{table.path}: no row's {table.header[table.usage]} is Training, so none is left to train on")
    counts = ", ".join(f"{len(parts[split][0]):,} {usage} ({split})" for usage, split in USAGE_SPLITS.items()
                       if split in parts)
    missing = [usage for usage, split in USAGE_SPLITS.items() if split not in parts]
    return parts, (f"split by its {table.header[table.usage]} column: {counts}"
                   + (f"; no {' or '.join(missing)} rows, so that split is held out from Training" if missing else ""))


def _check_trained_labels(table: PixelTable, part: Rows, file_rows: np.ndarray, classes: np.ndarray) -> None:
    """A validation or test label no training row has: the model could never predict it."""
    unknown = np.flatnonzero(~np.isin(part.labels, classes))
    if len(unknown):
        row = int(file_rows[unknown[0]])
        raise UserError(f"{table.path} line {_line_of_row(table.path, row)}: {table.label_name} "
                        f"{part.labels[unknown[0]]}, which no training row has; the model could not predict it")


def _class_names(table: PixelTable, classes: np.ndarray) -> tuple[list[str], bool]:
    """The data set's own names of ``classes``, or their numbers (True: numbered)."""
    if table.class_names and classes.max() < len(table.class_names):
        return [table.class_names[int(label)] for label in classes], False
    return [str(int(label)) for label in classes], True


def _line_of_row(path: Path, index: int) -> int:
    """The line number of data row ``index`` (0: the first row below the header): for a message."""
    with path.open("rb") as handle:
        handle.readline()
        seen = -1
        for number, line in enumerate(handle, 2):
            seen += bool(line.strip())
            if seen == index:
                return number
    return 0  # pragma: no cover - the row was read from this file


# ---------------------------------------------------------------------------------- rows


def read_rows(table: PixelTable) -> Rows:
    """Every row of a labelled table, in blocks of whole lines."""
    parts = []
    with table.path.open("rb") as handle:
        handle.readline()  # the header, which read_table has read
        for first_line, block in line_blocks(handle, 2, BLOCK_BYTES):
            rows = _numpy_block(block, table)
            parts.append(rows if rows is not None else _line_block(block, table, first_line))
    return Rows(np.concatenate([part.labels for part in parts]),
                np.concatenate([part.pixels for part in parts]),
                None if table.usage is None else np.concatenate([part.splits for part in parts]))


def _empty(table: PixelTable) -> Rows:
    return Rows(np.zeros(0, np.int64), np.zeros((0, table.pixel_count), np.uint8),
                None if table.usage is None else np.zeros(0, np.uint8))


def _numpy_block(block: bytes, table: PixelTable) -> Rows | None:
    """The block's rows by numpy's C reader, or None when any of them is in doubt."""
    if not numpy_sees_python_lines(block):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data": a block of blank lines
            rows = _packed_block(block, table) if table.packed else _columns_block(block, table)
    except (ValueError, OverflowError):
        return None
    if rows is None or rows.pixels.shape[1:] != (table.pixel_count,):
        return None
    if len(rows) and (rows.labels.min() < 0 or rows.labels.max() > MAX_LABEL):
        return None
    return rows


def _columns_block(block: bytes, table: PixelTable) -> Rows | None:
    """label,pixel0,...: every field a number, so numpy reads the rows whole."""
    values = np.loadtxt(io.BytesIO(block), delimiter=",", dtype=np.int32, comments=None, quotechar='"', ndmin=2,
                        encoding="latin-1")
    if not values.size:
        return _empty(table)
    if values.shape[1] != len(table.header):
        return None
    pixels = values[:, table.pixels]
    if pixels.min() < 0 or pixels.max() > 255:
        return None
    return Rows(values[:, table.label].astype(np.int64), pixels.astype(np.uint8), None)


def _packed_block(block: bytes, table: PixelTable) -> Rows | None:
    """emotion,pixels,Usage: the fields of a row split in Python (three a row), the pixels of the
    block by numpy, whose uint8 refuses anything but 0-255."""
    width = len(table.header)
    labels, pixels, usages = [], [], []
    for line in block.decode("latin-1").split("\n"):
        if not line.strip():
            continue
        fields = line.rstrip("\r").split(",")
        if len(fields) != width:
            return None  # quoted fields, or a row of the wrong shape: the row reader says which
        labels.append(fields[table.label].strip())
        pixels.append(fields[table.pixels[0]])
        if table.usage is not None:
            usages.append(_USAGE_CODES.get(fields[table.usage].strip(), -1))
    if not labels:
        return _empty(table)
    label_texts = np.array(labels)
    if not np.strings.isdecimal(label_texts).all() or -1 in usages:  # Latin-1's only decimals are 0-9
        return None
    return Rows(label_texts.astype(np.int64), np.loadtxt(pixels, dtype=np.uint8, comments=None, ndmin=2),
                None if table.usage is None else np.array(usages, np.uint8))


def _line_block(block: bytes, table: PixelTable, first_line: int) -> Rows:
    """The block row by row (``PixelTable.row``): the first bad line is named."""
    labels, pixels, splits = [], [], []
    # Latin-1 maps every byte to one character, so a stray byte reaches the row checks (and the
    # message) instead of stopping a decoder without a line number
    for number, line in enumerate(block.decode("latin-1").split("\n"), first_line):
        if line.strip():
            label, values, split = table.row(line, number)
            labels.append(label)
            pixels.append(values)
            splits.append(split)
    if not labels:
        return _empty(table)
    return Rows(np.array(labels, np.int64), np.array(pixels, np.uint8),
                None if table.usage is None else np.array(splits, np.uint8))
