"""Text sources and the tokenizer.

Every source (``tfds:``, ``folder:``, ``csv:``, ``synthetic:``) is read into memory as Python
strings with integer labels: text sets that fit this project's machines are small, and one
in-memory form makes splitting, vocabulary adaptation and error messages uniform. The
``TextVectorization`` vocabulary is adapted on the training split only; the canonical pipeline
maps it over every split, so models see int32 token ids.
"""

from __future__ import annotations

import csv
import dataclasses
import re
import sys
from pathlib import Path

import numpy as np

from kerasuite.config import RunConfig
from kerasuite.data.delimited import extra_fields_hint, find_column, table_reader, train_and_test_files
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
    notes: list[str] = dataclasses.field(default_factory=list)  # the folder scan's notes (sources.ClassFolder)


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


def read_csv(path: Path, text_column: str = "text", label_column: str = "label",
             labels_in: Path | None = None) -> tuple[list[str], list[str], list[int]]:
    """(texts, labels, line numbers) of a CSV (a .tsv: tab-separated) with a header row naming
    ``text_column`` and ``label_column`` (``data.text.text_column``/``label_column``).
    ``labels_in``: the training file, already read with these columns, beside this test file."""
    previous_limit = csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # long reviews exceed the 128 KiB default
    try:
        return _read_csv(path, text_column, label_column, labels_in)
    finally:
        csv.field_size_limit(previous_limit)  # process-wide: other readers keep their own limit


def _read_csv(path: Path, text_column: str, label_column: str,
              labels_in: Path | None) -> tuple[list[str], list[str], list[int]]:
    try:
        handle = open(path, newline="", encoding="utf-8-sig", errors="replace")
    except OSError as error:
        raise UserError(f"{path}: cannot read ({error.strerror or error})") from None
    with handle:
        reader = table_reader(handle, path)
        try:
            header = next(reader, None)
            if header is None:
                raise UserError(f"{path}: empty file; expected a header row with columns {text_column},{label_column}")
            text_at, label_at = _text_and_label_columns(path, header, text_column, label_column, labels_in)
            texts, labels, lines = _read_rows(reader, path, len(header), text_at, label_at, header[label_at].strip())
        except csv.Error as error:
            raise UserError(f"{path}:{reader.line_num}: malformed CSV ({error})") from None
    if not texts:
        raise UserError(f"{path}: no data rows under the header")
    if not any(text.strip() for text in texts):
        raise UserError(f"{path}: column {header[text_at].strip()!r} is empty in every row")
    return texts, labels, lines


def _text_and_label_columns(path: Path, header: list[str], text_column: str, label_column: str,
                            labels_in: Path | None = None) -> tuple[int, int]:
    """Where the text and the label are; a missing one is named with the setting that picks it,
    but a test file without the label column the training file has holds no labels at all."""
    wanted = {"text_column": text_column, "label_column": label_column}
    found = {key: find_column(header, [name]) for key, name in wanted.items()}
    missing = [key for key, at in found.items() if at is None]
    header_text = ", ".join(repr(cell) for cell in header) or "none"
    if missing == ["label_column"] and labels_in is not None:  # GLUE's test.tsv withholds its labels
        raise UserError(f"{path}: no {label_column!r} column (header has {header_text}), though {labels_in.name} has "
                        f"one: a test file without labels cannot score the model; give a labelled test file, or "
                        f"--data csv:{labels_in} alone to hold out a test split from it")
    if missing:
        settings = " ".join(f"data.text.{key}=NAME" for key in missing)
        raise UserError(f"{path}: missing column {', '.join(repr(wanted[key]) for key in missing)} "
                        f"(header has {header_text}); choose columns with --set {settings}")
    return found["text_column"], found["label_column"]


def _read_rows(reader, path: Path, width: int, text_at: int, label_at: int,
               label_name: str) -> tuple[list[str], list[str], list[int]]:
    texts, labels, lines = [], [], []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue  # blank line
        if len(row) <= max(text_at, label_at):
            raise UserError(f"{path}:{reader.line_num}: expected {width} columns, got {len(row)}")
        if any(cell.strip() for cell in row[width:]):
            # a delimiter in the text: the label read would be a piece of the text
            raise UserError(f"{path}:{reader.line_num}: expected {width} columns, got {len(row)}; "
                            f"{extra_fields_hint(path)}")
        label = row[label_at].strip()
        if not label:
            raise UserError(f"{path}:{reader.line_num}: column {label_name!r} is empty")
        texts.append(row[text_at])
        labels.append(label)
        lines.append(reader.line_num)
    return texts, labels, lines


def _csv(target: str, config: RunConfig) -> RawText:
    path = Path(target)
    if path.is_dir():
        train_path, test_path = train_and_test_files(path, target)
    elif path.is_file():
        train_path, test_path = path, None
    else:
        raise UserError(f"--data csv:{target}: no such file or folder")

    columns = (config.data.text.text_column, config.data.text.label_column)
    texts, labels, _ = read_csv(train_path, *columns)
    names = _class_order(labels)
    if len(names) < 2:
        raise UserError(f"{train_path}: column {columns[1]!r} has a single value ({names[0]!r}); "
                        "need at least two classes")
    index = {name: i for i, name in enumerate(names)}
    train = TextSplit(texts, np.array([index[label] for label in labels], dtype=np.int64))
    if test_path is None:
        return _three_way(train, names, config)
    test_texts, test_labels, test_lines = read_csv(test_path, *columns, labels_in=train_path)
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
