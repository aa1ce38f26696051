"""Image data sets shipped as CSV tables of pixels, read by ``csv:PATH`` as downloaded: Kaggle's
Digit Recognizer (``train.csv``: label,pixel0..pixel783; its ``test.csv`` has no labels),
Fashion-MNIST's and Sign Language MNIST's CSVs (label,pixel1..pixel784) and FER2013
(emotion,pixels,Usage: 48x48 pixels as one field of space-separated numbers). A row is one square
greyscale image, row by row.

This module finds the files and reads their header and first row, and holds the rules every row
is read by; the standard library only, so the config refuses a wrong pointer before numpy or
TensorFlow load. The pixels themselves are read by :mod:`kerasuite.data.image_csv_pixels`.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import re
from pathlib import Path

from kerasuite.data.spec import parse_source
from kerasuite.errors import UserError

LABEL_COLUMNS = ("label", "emotion")  # the MNIST-like CSVs'; FER2013's
PACKED_COLUMN = "pixels"  # FER2013's: every pixel in one field
USAGE_COLUMN = "usage"
_PIXEL_COLUMN = re.compile(r"pixel(\d+)")

# FER2013's own split (the one its papers report on): Training trains, PublicTest validates,
# PrivateTest tests
USAGE_SPLITS = {"Training": "train", "PublicTest": "validation", "PrivateTest": "test"}
SPLIT_CODES = {"train": 0, "validation": 1, "test": 2}

# Its emotions by number, as the challenge's description lists them. Only a header spelt exactly
# so gets them: another table with an emotion column may number its classes otherwise.
FER2013_HEADER = ("emotion", "pixels", "Usage")
FER2013_CLASSES = ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral")
# Data sets whose CSVs are told by their file names (NAME_train.csv, NAME_test.csv as Kaggle
# ships them) and their header (label first, then pixel1..pixel784) -> (name, class by label)
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                         "Ankle boot")
# letter by label, A=0 to Z=25; J (9) and Z (25) take a motion, so no row has them
SIGN_MNIST_CLASSES = tuple(chr(ord("A") + label) for label in range(26))
KNOWN_BY_FILE_NAME = {"fashion-mnist": ("Fashion-MNIST", FASHION_MNIST_CLASSES),
                      "sign_mnist": ("Sign Language MNIST", SIGN_MNIST_CLASSES)}
MNIST_LIKE_HEADER = ("label",) + tuple(f"pixel{n}" for n in range(1, 785))

# the last word of a file's name says its split: fashion-mnist_train.csv, sign_mnist_test.csv
_SPLIT_WORDS = {"train": "train", "training": "train", "test": "test", "testing": "test"}


@dataclasses.dataclass(frozen=True)
class PixelTable:
    """What a table's header and first row say: where the label and the pixels are, the side of
    its square images, and the data set it is, when recognised."""

    path: Path
    header: tuple[str, ...]
    label: int | None  # the label column; None: unlabelled (images to predict)
    pixels: tuple[int, ...]  # the pixel columns in pixel order; the one ``pixels`` column when packed
    packed: bool
    usage: int | None  # FER2013's Usage column, which splits the table
    side: int  # images are side x side
    first_line: int  # of the first row, which gave a packed table its side
    kind: str = "a table of pixels"  # what the run's notes call it
    class_names: tuple[str, ...] = ()  # the data set's own, by label; (): label numbers

    @property
    def pixel_count(self) -> int:
        return self.side * self.side

    @property
    def label_name(self) -> str:
        return self.header[self.label] if self.label is not None else "label"

    def fields(self, line: str, number: int) -> list[str]:
        """A row's fields, as many as the header's."""
        try:
            fields = next(csv.reader([line]), [])
        except csv.Error as error:  # a lone carriage return, a quote left open
            raise UserError(f"{self.path} line {number}: not a CSV row ({error})") from None
        if len(fields) != len(self.header):
            raise UserError(f"{self.path} line {number}: {len(fields):,} fields, the header has {len(self.header):,}"
                            + (" (a row cut short?)" if len(fields) < len(self.header) else ""))
        return fields

    def row(self, line: str, number: int) -> tuple[int | None, list[int], int | None]:
        """The label, pixels and split code (``SPLIT_CODES``; None without a Usage column) of one
        row, each checked: the rules numpy's fast reader must agree with."""
        fields = self.fields(line, number)
        texts = fields[self.pixels[0]].split() if self.packed else [fields[at] for at in self.pixels]
        if len(texts) != self.pixel_count:
            raise UserError(f"{self.path} line {number}: {len(texts):,} pixel values, expected {self.pixel_count:,} "
                            f"({self.side}x{self.side}, as line {self.first_line} has)")
        label = None if self.label is None else self._label(fields[self.label], number)
        pixels = [self._pixel(text, at, number) for at, text in enumerate(texts)]
        return label, pixels, None if self.usage is None else self.split_code(fields[self.usage], number)

    def _label(self, text: str, number: int) -> int:
        value = text.strip()
        # nine digits at most: a class number, never one that overflows the label array
        if not (value.isascii() and value.isdecimal()) or len(value) > 9:
            raise UserError(f"{self.path} line {number}: {self.label_name} is {text!r}; a label is a class number "
                            "(0, 1, 2, ...)")
        return int(value)

    def _pixel(self, text: str, at: int, number: int) -> int:
        value = text.strip()
        if not (value.isascii() and value.isdecimal()) or int(value) > 255:
            where = (f"value {at + 1:,} of {self.header[self.pixels[0]]}" if self.packed
                     else self.header[self.pixels[at]].strip())
            raise UserError(f"{self.path} line {number}: {where} is {text!r}; a pixel is a whole number 0-255")
        return int(value)

    def split_code(self, text: str, number: int) -> int:
        split = USAGE_SPLITS.get(text.strip())
        if split is None:
            raise UserError(f"{self.path} line {number}: {self.header[self.usage]} is {text!r}, not one of "
                            f"{', '.join(USAGE_SPLITS)}")
        return SPLIT_CODES[split]


def read_table(path: Path) -> PixelTable:
    """``path``'s layout from its header and first row; a header that is no table of pixels, a
    pixel count that is not a square or a table without rows is refused, naming the line."""
    header_line, first, number = _header_and_first_row(path)
    cells = _header_cells(header_line, path)
    table = _layout(path, cells)
    if first is None:
        raise UserError(f"{path}: a header and no rows")
    if table.packed:  # its header does not say how many pixels a row has: the first row does
        count = len(table.fields(first, number)[table.pixels[0]].split())
        side = math.isqrt(count)
        if side * side != count or not count:
            raise UserError(f"{path} line {number}: {count:,} pixel values, not a square number; a row is read as one "
                            "square greyscale image (2,304 values: 48x48)")
        table = dataclasses.replace(table, side=side)
    table = dataclasses.replace(table, first_line=number)
    table.row(first, number)  # a first row that does not fit its header is refused with the header
    return _recognised(table)


def _header_and_first_row(path: Path) -> tuple[bytes, str | None, int]:
    try:
        with path.open("rb") as handle:
            header = handle.readline()
            for number, line in enumerate(handle, 2):  # a FER2013 row is 8 kB: reading it costs nothing
                if line.strip():
                    return header, line.decode("latin-1"), number
    except OSError as error:
        raise UserError(f"{path}: cannot be read ({error.strerror or error})") from None
    return header, None, 0


def _header_cells(line: bytes, path: Path) -> tuple[str, ...]:
    try:
        text = line.decode("utf-8-sig").rstrip("\r\n")  # a Windows editor's byte order mark too
    except UnicodeDecodeError:
        raise UserError(f"{path} line 1: not a header row of UTF-8 text (label,pixel0,pixel1,...)") from None
    if not text.strip():
        raise UserError(f"{path} line 1: empty; a table of pixels starts with a header row such as "
                        "label,pixel0,pixel1,... or emotion,pixels,Usage")
    return tuple(next(csv.reader([text])))


def _layout(path: Path, cells: tuple[str, ...]) -> PixelTable:
    keys = [cell.strip().lower() for cell in cells]
    labels = [at for at, key in enumerate(keys) if key in LABEL_COLUMNS]
    pixels = [at for at, key in enumerate(keys) if _PIXEL_COLUMN.fullmatch(key)]
    packed = [at for at, key in enumerate(keys) if key == PACKED_COLUMN]
    usage = [at for at, key in enumerate(keys) if key == USAGE_COLUMN and packed]
    where = f"{path} line 1"
    if not pixels and not packed:
        raise UserError(f"{where}: no pixel columns (pixel0, pixel1, ... or FER2013's pixels); not a table of image "
                        f"pixels (its header starts {', '.join(cells[:3])})")
    if pixels and packed:
        raise UserError(f"{where}: has both pixel columns ({cells[pixels[0]]}) and a {cells[packed[0]]} column; "
                        "keep one")
    for found, what in ((labels, "label"), (packed, "pixels"), (usage, "Usage")):
        if len(found) > 1:
            raise UserError(f"{where}: two {what} columns, {cells[found[0]]} and {cells[found[1]]}")
    other = sorted(set(range(len(cells))) - set(labels) - set(pixels) - set(packed) - set(usage))
    if other:  # read as nothing, it might have been the label, or a pixel miscounted
        raise UserError(f"{where}: column {other[0] + 1} ({cells[other[0]]!r}) is neither a label ({', '.join(LABEL_COLUMNS)}) "
                        "nor pixels (pixel0, pixel1, ..., or FER2013's pixels and its Usage)")
    if pixels:
        _check_pixel_columns(where, cells, pixels)
    side = math.isqrt(len(pixels))
    if pixels and side * side != len(pixels):
        raise UserError(f"{where}: {len(pixels):,} pixel columns, not a square number; a row is read as one square "
                        "greyscale image (784 columns: 28x28)")
    return PixelTable(path, cells, labels[0] if labels else None, tuple(pixels or packed), bool(packed),
                      usage[0] if usage else None, side, 0)


def _check_pixel_columns(where: str, cells: tuple[str, ...], pixels: list[int]) -> None:
    """pixel0 (or pixel1) upwards, in order, as the row-major image they are read into."""
    numbers = [int(_PIXEL_COLUMN.fullmatch(cells[at].strip().lower())[1]) for at in pixels]
    start = numbers[0] if numbers[0] in (0, 1) else 0
    for offset, (at, number) in enumerate(zip(pixels, numbers)):
        if number != start + offset:
            raise UserError(f"{where}: column {at + 1} is {cells[at].strip()}, expected pixel{start + offset}: pixel "
                            f"columns run from pixel0 or pixel1 upwards in order, one image row after another")


def _recognised(table: PixelTable) -> PixelTable:
    """The data set's own class names, for a table whose header (and file name) say which it is."""
    if table.header == FER2013_HEADER:
        return dataclasses.replace(table, kind="FER2013 (emotion,pixels,Usage)", class_names=FER2013_CLASSES)
    prefix, _ = _name_parts(table.path)
    known = KNOWN_BY_FILE_NAME.get(prefix)
    if known is not None and tuple(cell.strip() for cell in table.header) == MNIST_LIKE_HEADER:
        return dataclasses.replace(table, kind=f"{known[0]} ({table.path.name})", class_names=known[1])
    first, last = table.header[table.pixels[0]].strip(), table.header[table.pixels[-1]].strip()
    label = f"{table.label_name}, " if table.label is not None else ""
    return dataclasses.replace(table, kind=f"a table of pixels ({label}{first}..{last}: "
                                           f"{table.side}x{table.side} greyscale)" if not table.packed else
                               f"a table of pixels ({label}{first}: {table.side}x{table.side} greyscale)")


# ---------------------------------------------------------------------------------- files


@dataclasses.dataclass(frozen=True)
class Tables:
    train: PixelTable
    test: PixelTable | None  # None: a test split is held out from train (or its Usage column splits it)
    notes: tuple[str, ...] = ()


def _name_parts(path: Path) -> tuple[str, str | None]:
    """(the name before its split word, the split it names or None): ``fashion-mnist_train.csv``
    -> ("fashion-mnist", "train"); ``fer2013.csv`` -> ("fer2013", None)."""
    stem = path.stem.lower()
    words = re.split(r"[-_. ]+", stem)
    split = _SPLIT_WORDS.get(words[-1])
    if split is None:
        return stem, None
    return re.sub(r"[-_. ]*[a-z]+$", "", stem), split


def find_tables(target: str) -> Tables:
    """The tables ``csv:TARGET`` names: a file (a test split held out from it, or split by its
    Usage column), or a folder with a training and a test file (``train.csv`` and ``test.csv``,
    ``NAME_train.csv`` and ``NAME_test.csv``) or a single .csv (FER2013's ``fer2013.csv``). A
    test file without labels (Kaggle's images to predict) is left out with a note."""
    path = Path(target)
    if path.is_dir():
        train_path, test_path = _folder_files(path, target)
    elif path.is_file():
        train_path, test_path = path, None
    else:
        raise UserError(f"--data csv:{target}: no such file or folder")
    train = read_table(train_path)
    if train.label is None:
        raise UserError(f"{train_path} line 1: no label column ({', '.join(LABEL_COLUMNS)}): its images have no "
                        "classes to learn or be scored on (as Kaggle's test.csv, the images to predict); point --data "
                        "at the labelled file")
    if test_path is None:
        sibling = _sibling_test(train_path)
        return Tables(train, None, (_sibling_note(train_path, sibling),) if sibling else ())
    test = read_table(test_path)
    if test.label is None:
        note = (f"{test_path}: has no label column, so it is not read (images to predict, as Kaggle's test.csv); "
                f"a test split is held out from {train_path.name}")
        return Tables(train, None, (note,))
    if train.usage is not None:
        raise UserError(f"--data csv:{target}: {train_path.name}'s {train.header[train.usage]} column splits it, and "
                        f"{test_path.name} beside it is a test file too; point --data at csv:{train_path}")
    if test.side != train.side:
        raise UserError(f"{test_path}: {test.side}x{test.side} images, and {train_path.name}'s are "
                        f"{train.side}x{train.side}")
    return Tables(train, test)


def _folder_files(folder: Path, target: str) -> tuple[Path, Path | None]:
    tables = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".csv"
                    and not p.name.startswith("."))
    by_split: dict[str, list[Path]] = {"train": [], "test": []}
    for table in tables:
        split = _name_parts(table)[1]
        if split is not None:
            by_split[split].append(table)
    trains, tests = by_split["train"], by_split["test"]
    if not trains and not tests:
        if len(tables) == 1:  # FER2013's folder: fer2013.csv, split by its Usage column
            return tables[0], None
        listed = ", ".join(table.name for table in tables)
        raise UserError(f"--data csv:{target}: " + (f"holds several .csv files ({listed}) and no train and test file; "
                                                    "point --data at one file" if tables else "holds no .csv file"))
    for split, found in (("training", trains), ("test", tests)):
        if len(found) > 1:
            raise UserError(f"--data csv:{target}: holds several {split} files ({', '.join(p.name for p in found)}); "
                            "keep one data set in the folder, or point --data at one file")
    if not trains:
        raise UserError(f"--data csv:{target}: holds {tests[0].name} and no training file beside it")
    if not tests:
        raise UserError(f"--data csv:{target}: holds {trains[0].name} and no test file beside it; add it, or point "
                        f"--data at csv:{trains[0]} to hold out a test split from it")
    if _name_parts(trains[0])[0] != _name_parts(tests[0])[0]:
        raise UserError(f"--data csv:{target}: {trains[0].name} and {tests[0].name} name different data sets; keep "
                        "one data set in the folder")
    return trains[0], tests[0]


def _sibling_test(train_path: Path) -> Path | None:
    """The test file beside a training file pointed at alone."""
    prefix, split = _name_parts(train_path)
    if split != "train":
        return None
    return next((p for p in sorted(train_path.parent.glob("*")) if p != train_path and p.is_file()
                 and p.suffix.lower() == ".csv" and _name_parts(p) == (prefix, "test")), None)


def _sibling_note(train_path: Path, test_path: Path) -> str:
    return (f"{train_path}: read alone, so a test split is held out from it; {test_path.name} beside it is not read "
            f"(point --data at csv:{train_path.parent} to test on it)")


def check_csv_source(spec: str) -> None:
    """A ``csv:`` source's mistakes that its file names and headers show, refused with the config."""
    source = parse_source(spec)
    if source.scheme == "csv":
        find_tables(source.target)
