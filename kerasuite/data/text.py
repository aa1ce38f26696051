"""Text sources and the tokenizer.

Every source (``tfds:``, ``folder:``, ``csv:``, ``synthetic:``) is read into memory as Python
strings with integer labels: text sets that fit this project's machines are small, and one
in-memory form makes splitting, vocabulary adaptation and error messages uniform. The
``TextVectorization`` vocabulary is adapted on the training split only; the canonical pipeline
maps it over every split, so models see int32 token ids.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import itertools
import re
import sys
from pathlib import Path
from typing import Callable, ClassVar, NoReturn

import numpy as np

from kerasuite.config import RunConfig
from kerasuite.data.delimited import (
    delimiter_notes,
    extra_fields_hint,
    find_column,
    listed_columns,
    table_reader,
    train_and_test_files,
)
from kerasuite.data.settings import TextDataConfig
from kerasuite.data.sources import (
    LabelledFiles,
    folder_splits,
    parse_source,
    synthetic_class_count,
    scan_class_folder,
    split_indices,
    tfds_builder,
    train_and_validation,
    training_order,
)
from kerasuite.data.tfds_splits import held_out_splits
from kerasuite.errors import UserError
from kerasuite.runtime.text import STANDARDIZE_MODES, decode_text

# "" takes files without a suffix: 20 Newsgroups' posts are named by number alone
TEXT_EXTENSIONS = (".txt", "")
# Xiang Zhang's character-CNN sets (AG News, DBpedia, Yahoo Answers) ship it beside train.csv and
# test.csv, whose rows have no header and start with a class index: line i names class i
CLASS_LIST = "classes.txt"


@dataclasses.dataclass
class TextSplit:
    texts: list[str]
    labels: np.ndarray  # int64 index into class_names

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: np.ndarray) -> "TextSplit":
        return TextSplit([self.texts[i] for i in indices], self.labels[indices])


@dataclasses.dataclass
class RawText:
    train: TextSplit
    validation: TextSplit | None
    test: TextSplit
    class_names: list[str]
    validation_source: str | None = None  # the folder the validation split was read from, if the source has one
    # what the run tells the user before training: the folder scan's notes (sources.ClassFolder), a
    # csv: file's delimiter when its name does not imply it
    notes: list[str] = dataclasses.field(default_factory=list)


def load(spec_text: str, config: RunConfig) -> RawText:
    spec = parse_source(spec_text, allowed=("tfds", "folder", "csv", "synthetic"))
    loader = {"tfds": _tfds, "folder": _folder, "csv": _csv, "synthetic": _synthetic}[spec.scheme]
    raw = loader(spec.target, config)
    raw.train = raw.train.subset(training_order(np.arange(len(raw.train)), config.data.limit, config.seed))
    return raw


def _with_validation(train: TextSplit, test: TextSplit, names: list[str], config: RunConfig,
                     own_validation: TextSplit | None = None) -> RawText:
    """The source's own validation split, else one carved out of its training split."""
    train, validation = train_and_validation(train, own_validation, config.data.validation_fraction, config.seed)
    return RawText(train, validation, test, names)


def _three_way(split: TextSplit, names: list[str], config: RunConfig) -> RawText:
    """Stratified deterministic train/validation/test split of a source without a test split."""
    train, validation, test = split_indices(
        split.labels, config.data.test_fraction, config.data.validation_fraction, config.seed
    )
    if not len(test):
        raise UserError("--data: too few examples to hold out a test split; add data or raise data.test_fraction")
    return RawText(split.subset(train), split.subset(validation) if len(validation) else None, split.subset(test), names)


# ------------------------------------------------------------------------------------ csv


def _class_order(labels: list[str]) -> list[str]:
    """Sorted label names; numerically when every label is an integer ("2" before "10")."""
    unique = set(labels)
    # \d, not isdigit(): int() refuses digits such as "²"; the text breaks ties ("1", "01"), which
    # set order (hash-seeded per process) would otherwise decide differently on every run
    if all(re.fullmatch(r"-?\d+", label) for label in unique):
        return sorted(unique, key=lambda label: (int(label), label))
    return sorted(unique)


@contextlib.contextmanager
def _long_fields():
    previous_limit = csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # long reviews exceed the 128 KiB default
    try:
        yield
    finally:
        csv.field_size_limit(previous_limit)  # process-wide: other readers keep their own limit


@dataclasses.dataclass(frozen=True)
class _Columns:
    """Where one file's text and label are (0-based), and how its error lines name them."""

    text_at: tuple[int, ...]
    label_at: int
    width: int  # the header's cells (the first row's without one): more filled cells is a delimiter in a value
    text_name: str
    label_name: str
    escaped_line_breaks: bool = False

    def text(self, row: list[str]) -> str:
        text = " ".join(row[at] for at in self.text_at if row[at].strip())
        # A line break rather than a space: it is what the two characters stand for, so the text
        # shown in samples and golden examples reads as written; every tokenizer and n-gram
        # reader takes it as it takes a space.
        return text.replace("\\n", "\n") if self.escaped_line_breaks else text


def _shown_cells(row: list[str], count: int = 3, width: int = 30) -> str:
    shown = [repr(cell if len(cell) <= width else cell[:width] + "...") for cell in row[:count]]
    return ", ".join(shown + (["..."] if len(row) > count else []))


_NUMBER = re.compile(r"[-+]?[0-9]+(\.[0-9]+)?")


def _looks_like_data(row: list[str]) -> bool:
    """A first row no header would be: a sentence in a cell, or a number beside words (a class
    index or rating beside its text). Numbers alone can be a header: pandas names unnamed columns 0, 1."""
    cells = [cell.strip() for cell in row if cell.strip()]
    numbers = sum(1 for cell in cells if _NUMBER.fullmatch(cell))
    return any(len(cell.split()) > 5 for cell in cells) or 0 < numbers < len(cells)


def _text_and_label_columns(path: Path, header: list[str], line: int, text_column: str, label_column: str,
                            labels_in: Path | None = None) -> tuple[tuple[int, ...], int]:
    """Where the text (one or more columns) and the label are; a missing one is named with the
    setting that picks it, but a test file without the label column the training file has holds
    no labels at all, and a first row that is data says how to read a file without a header."""
    wanted = [("text_column", name) for name in listed_columns(text_column)] + [("label_column", label_column)]
    found = [find_column(header, [name]) for _, name in wanted]
    missing = [(key, name) for (key, name), at in zip(wanted, found) if at is None]
    if missing:
        _refuse_missing_columns(path, header, line, missing, labels_in)
    return tuple(found[:-1]), found[-1]


def _refuse_missing_columns(path: Path, header: list[str], line: int, missing: list[tuple[str, str]],
                            labels_in: Path | None) -> NoReturn:
    names = ", ".join(repr(name) for _, name in missing)
    if _looks_like_data(header):
        # Yelp's and Amazon's sets as downloaded: class indices in column 1 and no classes.txt to name them
        class_list = (f"; or, as column 1 holds class indices, a {CLASS_LIST} beside it naming class i on line i"
                      if re.fullmatch(r"[0-9]+", header[0].strip()) else "")
        raise UserError(f"{path}:{line}: the first row ({_shown_cells(header)}) looks like data, not a header naming "
                        f"{names}; read a file without a header row with --set data.text.header=false "
                        f"data.text.label_column=N data.text.text_column=N (column numbers, from 1){class_list}")
    header_text = ", ".join(repr(cell) for cell in header) or "none"
    if [key for key, _ in missing] == ["label_column"] and labels_in is not None:  # GLUE's test.tsv withholds its labels
        raise UserError(f"{path}: no {missing[0][1]!r} column (header has {header_text}), though {labels_in.name} has "
                        f"one: a test file without labels cannot score the model; give a labelled test file, or "
                        f"--data csv:{labels_in} alone to hold out a test split from it")
    settings = " ".join(f"data.text.{key}=NAME" for key in dict.fromkeys(key for key, _ in missing))
    raise UserError(f"{path}: missing column {names} (header has {header_text}); choose columns with --set {settings}")


@dataclasses.dataclass(frozen=True)
class _NamedColumns:
    """A table whose header row names its columns (``data.text.text_column``, ``label_column``)."""

    text_column: str
    label_column: str
    labels_in: Path | None = None  # the training file, already read with these columns, beside this test file
    header: ClassVar[bool] = True
    class_names: ClassVar[tuple[str, ...] | None] = None

    @property
    def label_description(self) -> str:
        return f"column {self.label_column!r}"

    def for_test_file(self, train_path: Path) -> "_NamedColumns":
        return dataclasses.replace(self, labels_in=train_path)

    def empty_file(self, path: Path) -> str:
        return f"{path}: empty file; expected a header row with columns {self.text_column},{self.label_column}"

    def columns(self, path: Path, header: list[str], line: int) -> _Columns:
        text_at, label_at = _text_and_label_columns(path, header, line, self.text_column, self.label_column,
                                                     self.labels_in)
        text_names = ", ".join(repr(header[at].strip()) for at in text_at)
        return _Columns(text_at, label_at, len(header), f"column{'s' * (len(text_at) > 1)} {text_names}",
                        f"column {header[label_at].strip()!r}")

    def label(self, cell: str, path: Path, line: int) -> str:
        return cell


@dataclasses.dataclass(frozen=True)
class _NumberedColumns:
    """A table without a header row, its columns counted from 1. With a classes.txt beside it the
    label is a class index, line i of that file naming class i (Xiang Zhang's layout). A value's
    line break written as backslash-n, as those files write it, is read as one."""

    text_numbers: tuple[int, ...]
    label_number: int
    class_list: Path | None = None
    class_names: tuple[str, ...] | None = None
    width: int | None = None  # every file's columns, when the training file's first row set them
    header: ClassVar[bool] = False

    @property
    def label_description(self) -> str:
        return f"column {self.label_number}"

    def for_test_file(self, train_path: Path) -> "_NumberedColumns":
        return self

    def empty_file(self, path: Path) -> str:
        return f"{path}: empty file"

    def columns(self, path: Path, first: list[str], line: int) -> _Columns:
        needed = max(self.label_number, *self.text_numbers)
        if len(first) < needed:
            expected = (f"{self.width} columns" if self.width else
                        f"{needed} columns or more (data.text.label_column={self.label_number} "
                        f"data.text.text_column={','.join(map(str, self.text_numbers))})")
            raise UserError(f"{path}:{line}: expected {expected}, got {len(first)}")
        return _Columns(tuple(number - 1 for number in self.text_numbers), self.label_number - 1,
                        self.width or len(first),
                        f"column{'s' * (len(self.text_numbers) > 1)} {', '.join(map(str, self.text_numbers))}",
                        f"column {self.label_number}", escaped_line_breaks=True)

    def label(self, cell: str, path: Path, line: int) -> str:
        if self.class_names is None:
            return cell
        count = len(self.class_names)
        index = int(cell) if re.fullmatch(r"[0-9]+", cell) else 0
        if not 1 <= index <= count:
            raise UserError(f"{path}:{line}: column {self.label_number} holds {cell!r}, not a class index 1..{count} "
                            f"({self.class_list} names {count} classes)")
        return self.class_names[index - 1]


def read_class_list(path: Path) -> tuple[str, ...]:
    """classes.txt's class names: line i names class index i. A blank line would shift every
    class after it and is refused; blank lines at the end shift none."""
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as handle:  # universal newlines: \r\n too
            lines = [line.rstrip("\n") for line in handle]
    except OSError as error:
        raise UserError(f"{path}: cannot read ({error.strerror or error})") from None
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise UserError(f"{path}: no class names; line i names class index i")
    first_line: dict[str, int] = {}
    for number, line in enumerate(lines, 1):
        name = line.strip()
        if not name:
            raise UserError(f"{path}:{number}: blank line; line i names class index i, so a blank line would "
                            "shift every class after it")
        if name in first_line:
            raise UserError(f"{path}:{number}: {name!r} again (line {first_line[name]}); each class needs its own name")
        first_line[name] = number
    return tuple(first_line)


def _open_table(path: Path):
    try:
        return open(path, newline="", encoding="utf-8-sig", errors="replace")
    except OSError as error:
        raise UserError(f"{path}: cannot read ({error.strerror or error})") from None


def _first_row(reader, header: bool) -> list[str] | None:
    """The header, else the first row that is not blank."""
    return next((row for row in reader if header or any(cell.strip() for cell in row)), None)


def _table_layout(train_path: Path, cfg: TextDataConfig) -> _NamedColumns | _NumberedColumns:
    """How a csv: source's files are read: by column number (``data.text.header=false``), in
    Xiang Zhang's layout when it is recognised, else by the names in each file's header row."""
    class_list = train_path.parent / CLASS_LIST
    class_list = class_list if class_list.is_file() else None
    if not cfg.header:
        return _NumberedColumns(tuple(int(number) for number in cfg.text_columns), int(cfg.label_column), class_list,
                                read_class_list(class_list) if class_list else None)
    first = _peek_first_row(train_path) if class_list is not None else None
    if _indexes_classes(first, cfg):  # a class index, then the text: all the columns after it
        return _NumberedColumns(tuple(range(2, len(first) + 1)), 1, class_list, read_class_list(class_list), len(first))
    return _NamedColumns(cfg.text_column, cfg.label_column)


def _peek_first_row(path: Path) -> list[str] | None:
    try:
        with _long_fields(), _open_table(path) as handle:
            # read as the header it may be, though blank lines are skipped as data's are
            return _first_row(table_reader(handle, path, header=True), header=False)
    except (UserError, csv.Error):
        return None  # reading it as a table with a header names the problem


def _indexes_classes(first: list[str] | None, cfg: TextDataConfig) -> bool:
    """Xiang Zhang's first row: a class index, then text; not a header naming the configured columns."""
    return (first is not None and len(first) >= 2 and re.fullmatch(r"[0-9]+", first[0].strip()) is not None
            and all(find_column(first, [name]) is None for name in (*cfg.text_columns, cfg.label_column)))


def read_csv(path: Path, text_column: str = "text", label_column: str = "label",
             labels_in: Path | None = None) -> tuple[list[str], list[str], list[int]]:
    """(texts, labels, line numbers) of a CSV (a .tsv: tab-separated; else commas unless the header
    shows another delimiter, :func:`kerasuite.data.delimited.table_dialect`) with a header row naming
    ``text_column`` (several, comma-separated, are joined with a space) and ``label_column``
    (``data.text.text_column``/``label_column``). ``labels_in``: the training file, already read
    with these columns, beside this test file."""
    return _read_table(path, _NamedColumns(text_column, label_column, labels_in))


def _read_table(path: Path, layout: _NamedColumns | _NumberedColumns) -> tuple[list[str], list[str], list[int]]:
    with _long_fields(), _open_table(path) as handle:
        reader = table_reader(handle, path, layout.header)
        try:
            first = _first_row(reader, layout.header)
            if first is None:
                raise UserError(layout.empty_file(path))
            columns = layout.columns(path, first, reader.line_num)
            rows = reader if layout.header else itertools.chain([first], reader)
            texts, labels, lines = _read_rows(rows, reader, path, columns, layout.label)
        except csv.Error as error:
            raise UserError(f"{path}:{reader.line_num}: malformed CSV ({error})") from None
    if not texts:
        raise UserError(f"{path}: no data rows under the header" if layout.header else f"{path}: no data rows")
    if not any(text.strip() for text in texts):
        raise UserError(f"{path}: {columns.text_name} {'is' if len(columns.text_at) == 1 else 'are'} empty in every row")
    return texts, labels, lines


def _read_rows(rows, reader, path: Path, columns: _Columns,
               label_of: Callable[[str, Path, int], str]) -> tuple[list[str], list[str], list[int]]:
    texts, labels, lines = [], [], []
    last = max(columns.label_at, *columns.text_at)
    for row in rows:
        if not any(cell.strip() for cell in row):
            continue  # blank line
        if len(row) <= last:
            raise UserError(f"{path}:{reader.line_num}: expected {columns.width} columns, got {len(row)}")
        if any(cell.strip() for cell in row[columns.width:]):
            # a delimiter in the text: the label read would be a piece of the text
            raise UserError(f"{path}:{reader.line_num}: expected {columns.width} columns, got {len(row)}; "
                            f"{extra_fields_hint(reader)}")
        label = row[columns.label_at].strip()
        if not label:
            raise UserError(f"{path}:{reader.line_num}: {columns.label_name} is empty")
        texts.append(columns.text(row))
        labels.append(label_of(label, path, reader.line_num))
        lines.append(reader.line_num)
    return texts, labels, lines


def _csv_files(target: str) -> tuple[Path, Path | None]:
    path = Path(target)
    if path.is_dir():
        return train_and_test_files(path, target)
    if path.is_file():
        return path, None
    raise UserError(f"--data csv:{target}: no such file or folder")


def _csv(target: str, config: RunConfig) -> RawText:
    train_path, test_path = _csv_files(target)
    layout = _table_layout(train_path, config.data.text)
    raw = _read_csv_files(train_path, test_path, layout, config)
    raw.notes = delimiter_notes(train_path, test_path) if layout.header else []
    return raw


def _read_csv_files(train_path: Path, test_path: Path | None, layout: _NamedColumns | _NumberedColumns,
                    config: RunConfig) -> RawText:
    texts, labels, _ = _read_table(train_path, layout)
    if len(set(labels)) < 2:
        raise UserError(f"{train_path}: {layout.label_description} has a single value ({labels[0]!r}); "
                        "need at least two classes")
    # a class list names every class, in its index order, as the data set's own results count them
    names = list(layout.class_names or _class_order(labels))
    index = {name: i for i, name in enumerate(names)}
    train = TextSplit(texts, np.array([index[label] for label in labels], dtype=np.int64))
    if test_path is None:
        return _three_way(train, names, config)
    test_texts, test_labels, test_lines = _read_table(test_path, layout.for_test_file(train_path))
    for label, line in zip(test_labels, test_lines):
        if label not in index:
            raise UserError(f"{test_path}:{line}: label {label!r} does not occur in {train_path.name}; the model cannot predict it")
    test = TextSplit(test_texts, np.array([index[label] for label in test_labels], dtype=np.int64))
    return _with_validation(train, test, names, config)


# --------------------------------------------------------------------------------- folder


def _read_files(paths: list[str]) -> list[str]:
    texts = []
    for path in paths:
        try:
            texts.append(decode_text(Path(path).read_bytes()))
        except OSError as error:
            raise UserError(f"{path}: cannot read ({error.strerror or error})") from None
    return texts


def _read_split(files: LabelledFiles) -> TextSplit:
    return TextSplit(_read_files(files.paths), files.labels.astype(np.int64))


def _folder(target: str, config: RunConfig) -> RawText:
    scanned = scan_class_folder(target, TEXT_EXTENSIONS)
    texts = {split: _read_split(files) for split, files in
             folder_splits(scanned, target, config.data.test_fraction, config.seed).items()}
    if not any(text.strip() for text in texts["train"].texts):  # nothing to build a vocabulary from
        raise UserError(f"--data folder:{target}: every training file is empty (or only whitespace); "
                        "no words to learn from")
    raw = _with_validation(texts["train"], texts["test"], scanned.class_names, config, texts.get("validation"))
    raw.validation_source = scanned.validation_source
    raw.notes = scanned.notes
    return raw


# ----------------------------------------------------------------------------------- tfds


def _tfds(name: str, config: RunConfig) -> RawText:
    builder = tfds_builder(name)
    text_key, label_key = _tfds_keys(name, builder)

    def read(split: str | None) -> TextSplit | None:
        return _tfds_split(builder, split, text_key, label_key) if split else None

    try:
        builder.download_and_prepare()
        available = set(builder.info.splits.keys()) or {"train", "test"}
        test_name, validation_name = held_out_splits(available)
        test = read(test_name)
        if test is not None and len(test) and (test.labels < 0).all() and "validation" in available:
            # GLUE withholds its test labels (all -1): its validation split is the test
            test_name, validation_name = held_out_splits(available, hidden_test_labels=True)
            test = read(test_name)
        train, validation = read("train"), read(validation_name)
    except Exception as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"--data tfds:{name}: could not load its splits ({first})") from None
    for split_name, split in (("train", train), (test_name, test), (validation_name, validation)):
        if split is not None and (split.labels < 0).any():
            raise UserError(f"--data tfds:{name}: its {split_name} split has unlabelled examples (label -1); "
                            "kerasuite trains and tests on labelled splits only")
    names = list(builder.info.features[label_key].names)
    if test is None:  # e.g. a data set with a train split alone: seeded, stratified held-out parts
        return _three_way(train, names, config)
    return _with_validation(train, test, names, config, validation)


def _tfds_keys(name: str, builder) -> tuple[str, str]:
    """The data set's (text, label) features: its supervised keys, else its one Text feature and
    'label' (GLUE's sst2 names no supervised keys; its text is 'sentence')."""
    import tensorflow_datasets as tfds

    features = builder.info.features
    if builder.info.supervised_keys:
        text_key, label_key = builder.info.supervised_keys
    else:
        texts = [key for key, feature in features.items() if isinstance(feature, tfds.features.Text)]
        if len(texts) > 1:
            raise UserError(f"--data tfds:{name}: several text features ({', '.join(texts)}) and no supervised keys "
                            "to say which one is the input")
        text_key, label_key = (texts[0] if texts else "text"), "label"
    if not isinstance(text_key, str) or text_key not in features or label_key not in features:
        raise UserError(f"--data tfds:{name}: needs a text feature and a 'label' feature for text_classification")
    if not isinstance(features[label_key], tfds.features.ClassLabel) or not isinstance(features[text_key], tfds.features.Text):
        raise UserError(f"--data tfds:{name}: '{text_key}' must be Text and '{label_key}' a ClassLabel")
    return text_key, label_key


def _tfds_split(builder, split: str, text_key: str, label_key: str) -> TextSplit:
    import tensorflow_datasets as tfds

    texts, labels = [], []
    for example in tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False)):
        texts.append(example[text_key].decode("utf-8", errors="replace"))
        labels.append(int(example[label_key]))
    return TextSplit(texts, np.array(labels, dtype=np.int64))


# ------------------------------------------------------------------------------ synthetic

_SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "pe", "su", "da", "fo", "gi", "ha", "ju", "be")


def synthetic_texts(num_classes: int, per_class: int, seed: int) -> tuple[list[str], np.ndarray, list[str]]:
    """A learnable, not trivial topic set.

    Each class owns 8 topic words; a document mixes 2-5 of its own topic words with 0-2 words of
    another class's topic and 6-35 filler words shared by every class, in random order, with
    random capitals, punctuation and the odd accented word, so tokenization matters and one word
    never decides the class.
    """
    rng = np.random.default_rng(seed)
    words = sorted({a + b + c for a in _SYLLABLES for b in _SYLLABLES for c in _SYLLABLES})
    picked = rng.choice(len(words), size=300 + 8 * num_classes, replace=False)
    filler = [words[i] for i in picked[:300]] + ["café", "naïve", "über", "déjà"]
    topics = [[words[i] for i in picked[300 + 8 * c: 308 + 8 * c]] for c in range(num_classes)]
    texts, labels = [], []
    for label in range(num_classes):
        for _ in range(per_class):
            own = list(rng.choice(topics[label], size=rng.integers(2, 6)))
            other = topics[(label + 1 + rng.integers(0, max(1, num_classes - 1))) % num_classes]
            distractors = list(rng.choice(other, size=rng.integers(0, 3)))
            tokens = own + distractors + list(rng.choice(filler, size=rng.integers(6, 36)))
            rng.shuffle(tokens)
            decorated = []
            for token in tokens:
                if rng.random() < 0.15:
                    token = token.capitalize()
                if rng.random() < 0.1:
                    token += str(rng.choice([",", ".", "!", "?", ";"]))
                decorated.append(token)
            texts.append(" ".join(decorated))
            labels.append(label)
    return texts, np.array(labels, dtype=np.int64), [f"topic_{c}" for c in range(num_classes)]


def _synthetic(name: str, config: RunConfig) -> RawText:
    texts, labels, names = synthetic_texts(synthetic_class_count(name, "topics"), 100, config.seed)
    return _three_way(TextSplit(texts, labels), names, config)


# ------------------------------------------------------------------------------ tokenizer


def check_text_config(cfg: TextDataConfig) -> None:
    if cfg.standardize not in STANDARDIZE_MODES:
        raise UserError(f"data.text.standardize: expected one of {', '.join(STANDARDIZE_MODES)}, got {cfg.standardize!r}")
    if cfg.max_tokens < 3:
        raise UserError(f"data.text.max_tokens: must be at least 3 (padding, OOV and one word), got {cfg.max_tokens}")
    if cfg.sequence_length < 1:
        raise UserError(f"data.text.sequence_length: must be at least 1, got {cfg.sequence_length}")


def lower_and_split_punctuation(texts):
    """ASCII A-Z lowercased, each ASCII punctuation character a word break (``don't`` -> ``don t``):
    MediaPipe's RegexTokenizer splits the same way (kerasuite.export.mediapipe_text)."""
    import tensorflow as tf

    from kerasuite.runtime.text import PUNCTUATION_CLASS

    return tf.strings.regex_replace(tf.strings.lower(texts), f"[{PUNCTUATION_CLASS}]", " ")


def build_vectorizer(texts: list[str], cfg: TextDataConfig):
    """A ``TextVectorization`` adapted on ``texts`` (the training split only)."""
    import keras
    import tensorflow as tf

    check_text_config(cfg)
    standardize = None if cfg.standardize == "none" else cfg.standardize
    if cfg.standardize == "lower_and_split_punctuation":
        standardize = lower_and_split_punctuation
    vectorizer = keras.layers.TextVectorization(
        max_tokens=cfg.max_tokens,
        standardize=standardize,
        split="whitespace",
        output_mode="int",
        output_sequence_length=cfg.sequence_length,
    )
    vectorizer.adapt(tf.data.Dataset.from_tensor_slices(tf.constant(texts, dtype=tf.string)).batch(1024))
    return vectorizer


def vectorize_fn(vectorizer, input_name: str = "tokens"):
    """The pipeline's ``map_fn``: (text, label) -> ({input_name: int32 ids [sequence_length]}, label)."""
    import tensorflow as tf

    def vectorize(text, label):
        # A batch of one: on a scalar the layer returns [0] ids, not [sequence_length], for "".
        ids = vectorizer(tf.expand_dims(text, 0))[0]
        return {input_name: tf.cast(ids, tf.int32)}, label

    return vectorize


def as_dataset(split: TextSplit):
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices((tf.constant(split.texts, dtype=tf.string), split.labels))
