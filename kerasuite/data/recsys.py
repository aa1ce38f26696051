"""Recommender data: interaction tables from CSV, TFDS MovieLens or a planted synthetic generator,
the per-user hold-out split, and the id -> index encoding the models and devices share.

Everything here except :func:`load_tfds` is numpy + the standard
library, so bad input is refused (``UserError``) before TensorFlow loads.

Index conventions (the exported models and ``kerasuite.runtime.recsys`` rely on them):
- users: index 0 is the out-of-vocabulary user; ``user_vocab[i]`` has index ``i + 1``. Only
  training users are in the vocabulary, so an unseen user maps to 0 and gets a learned OOV
  embedding instead of a crash, with no lookup op in the exported graph.
- items: index 0 is a padding/unknown item; ``item_vocab[i]`` has index ``i + 1``. The catalogue
  is every item in either split (a shop knows its items before anyone has bought them).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import math
import re
import warnings
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from kerasuite.data import movielens
from kerasuite.data.delimited import (
    TABLE_SUFFIXES,
    delimiter_notes,
    extra_fields_hint,
    find_column,
    line_blocks,
    numpy_sees_python_lines,
    split_file,
    table_reader,
    train_and_test_files,
)
from kerasuite.data.settings import RecsysDataConfig
from kerasuite.data.sources import parse_source
from kerasuite.data.spec import SYNTHETIC_DEFAULTS, parse_synthetic  # noqa: F401  (re-exported)
from kerasuite.errors import UserError

OOV_INDEX = 0
PAD_TOKEN, OOV_TOKEN = 0, 1  # title token indices; real tokens start at 2
GENRE_SEPARATOR = "|"
REQUIRED_COLUMNS = ("user_id", "item_id")
OPTIONAL_COLUMNS = ("rating", "timestamp", "title", "genres")
# Each column by its default name, with the data.recsys setting that names it otherwise
COLUMN_SETTINGS = {"user_id": "user_column", "item_id": "item_column", "rating": "rating_column",
                   "timestamp": "timestamp_column", "title": "title_column", "genres": "genres_column"}
# MovieLens calls its items movies (ml-latest-small's movieId, TFDS' movie_id): at the default
# item column name, such a column is the item column
ITEM_ALIASES = ("movie_id",)
# A table of item titles and genres beside the interactions (MovieLens' movies.csv), .csv or .tsv
ITEM_TABLES = ("items", "movies")


# ----------------------------------------------------------------------------- raw tables


@dataclasses.dataclass
class Interactions:
    """One interaction table with raw string ids (one row per user-item event)."""

    users: np.ndarray  # str
    items: np.ndarray  # str
    ratings: np.ndarray | None = None  # float32
    timestamps: np.ndarray | None = None  # int64

    def __len__(self) -> int:
        return len(self.users)

    def select(self, mask_or_index: np.ndarray) -> "Interactions":
        pick = lambda a: None if a is None else a[mask_or_index]  # noqa: E731
        return Interactions(self.users[mask_or_index], self.items[mask_or_index],
                            pick(self.ratings), pick(self.timestamps))


@dataclasses.dataclass
class RawRecsys:
    """A source read into memory: the two splits plus optional item side features."""

    train: Interactions
    test: Interactions
    item_titles: dict[str, str] = dataclasses.field(default_factory=dict)
    item_genres: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    genre_names: list[str] | None = None  # fixed genre order (TFDS); None = sorted as found
    # generator truth for synthetic sources: {"user_cluster": {id: c}, "item_cluster": {id: c}}
    planted: dict[str, dict[str, int]] | None = None
    split: str = "given"  # "given" (train/test files) | "latest" | "hashed" (per-user hold-out)
    # the items.csv or movies.csv (MovieLens' u.item or movies.dat) that gave titles or genres, if one did
    item_table: str | None = None
    # what the run tells the user before training: a csv: file's delimiter when its name does not imply it
    notes: list[str] = dataclasses.field(default_factory=list)


RECSYS_FIELD_LIMIT = 128 * 1024  # ids, titles and genres are short: a larger field is a broken file


def _bad(path: Path, message: str) -> UserError:
    return UserError(f"{path}: {message}")


def column_names(settings: RecsysDataConfig | None = None) -> dict[str, str]:
    """The file's name of each column, by its default name (``{"user_id": "userId", ...}``)."""
    settings = settings or RecsysDataConfig()
    return {column: getattr(settings, name) for column, name in COLUMN_SETTINGS.items()}


def read_interactions_csv(path: str | Path, names: dict[str, str] | None = None,
                          ) -> tuple[Interactions, dict[str, str], dict[str, list[str]]]:
    """Read a user, item[, rating][, timestamp][, title][, genres] table with a header row, its
    columns named as in ``names`` (:func:`column_names`; default ``user_id,item_id,...``); a
    ``.tsv`` file is tab-separated, another by the delimiter its header row shows
    (:func:`kerasuite.data.delimited.table_dialect`).

    ``genres`` holds ``|``-separated names. Raises a one-line ``UserError`` naming the file (and
    line and column) for an empty file, a missing column or a non-numeric rating/timestamp.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--data csv:{path}: no such file")
    return _read_table(path, lambda reader: _read_rows(reader, path, names or column_names()))


def _read_table(path: Path, read):
    """``read(reader)`` over the file, its errors one line naming it. The file is decoded as UTF-8
    when it is valid UTF-8, else as ISO-8859-1 (Book-Crossing's files), as MovieLens' are: bytes
    replaced would make ids that differ in them one id."""
    # The csv module's field limit is process-wide and the text reader raises it for long reviews:
    # a recommender file is held to the module's 128 kB default whatever ran before.
    previous_limit = csv.field_size_limit(RECSYS_FIELD_LIMIT)
    try:
        try:
            return _read_decoded(path, read, "utf-8-sig")
        except UnicodeDecodeError:
            return _read_decoded(path, read, "latin-1")  # decodes any byte; a Latin-1 accent is almost never valid UTF-8
    finally:
        csv.field_size_limit(previous_limit)


def _read_decoded(path: Path, read, encoding: str):
    with path.open(newline="", encoding=encoding) as handle:
        reader = table_reader(handle, path)
        try:
            return read(reader)
        except csv.Error as error:  # e.g. a field over the 128 kB limit
            raise _bad(path, f"line {reader.line_num}: not readable as CSV ({error})") from None


def _locate_columns(header: list[str], path: Path, names: dict[str, str], required: tuple[str, ...]) -> dict[str, int]:
    """Where each column of ``names`` is; a missing ``required`` one is named with its setting."""
    where = {}
    for column, name in names.items():
        aliases = ITEM_ALIASES if column == "item_id" and name == column else ()
        found = find_column(header, (name, *aliases))
        if found is not None:
            where[column] = found
        elif column in required:
            wanted = " or ".join(repr(n) for n in (name, *aliases))
            raise _bad(path, f"missing column {wanted} (header has: {','.join(cell.strip() for cell in header)}); "
                             f"name it with --set data.recsys.{COLUMN_SETTINGS[column]}=NAME")
    return where


def _required_columns(names: dict[str, str]) -> tuple[str, ...]:
    """The interactions' columns that must be there: user and item, and rating and timestamp
    once a setting names them (a misspelt name would otherwise drop them unsaid). Titles and
    genres may come from an item table instead (:func:`_check_named_item_columns`)."""
    return (*REQUIRED_COLUMNS, *(column for column in ("rating", "timestamp") if names[column] != column))


def _data_rows(reader, path: Path, header_width: int, needed_width: int):
    """(physical line number, row) of each row that is not blank; a row too short for the columns
    read or with values beyond the header is refused."""
    for row in reader:
        line_number = reader.line_num  # not a row count: a quoted field may span several lines
        if not row or not any(cell.strip() for cell in row):
            continue
        if len(row) < needed_width:
            raise _bad(path, f"line {line_number}: {len(row)} fields, the header needs {needed_width}")
        if any(cell.strip() for cell in row[header_width:]):  # a delimiter in a value shifts what follows it
            raise _bad(path, f"line {line_number}: {len(row)} fields, the header has {header_width}; "
                             f"{extra_fields_hint(reader)}")
        yield line_number, row


def _read_header(reader, path: Path, names: dict[str, str]) -> list[str]:
    header = next(reader, None)
    if header is None or not any(cell.strip() for cell in header):
        raise _bad(path, f"empty file; expected a header row {names['user_id']},{names['item_id']}"
                         f"[,{names['rating']}][,{names['timestamp']}]")
    return header


def _add_item_features(row: list[str], where: dict[str, int], item: str, titles: dict[str, str],
                       genres: dict[str, list[str]]) -> None:
    """The item's title and genres from this row, unless an earlier row gave them."""
    if "title" in where and row[where["title"]].strip():
        titles.setdefault(item, row[where["title"]].strip())
    if "genres" in where and row[where["genres"]].strip():
        names = [g.strip() for g in row[where["genres"]].split(GENRE_SEPARATOR) if g.strip()]
        genres.setdefault(item, names)


def _read_rows(reader, path: Path, names: dict[str, str]) -> tuple[Interactions, dict[str, str], dict[str, list[str]]]:
    header = _read_header(reader, path, names)
    where = _locate_columns(header, path, names, _required_columns(names))
    label = {column: header[at].strip() for column, at in where.items()}  # messages use the file's own names
    users: list[str] = []
    items: list[str] = []
    ratings: list[float] = []
    timestamps: list[int] = []
    titles: dict[str, str] = {}
    genres: dict[str, list[str]] = {}
    for line_number, row in _data_rows(reader, path, len(header), max(where.values()) + 1):
        user, item = row[where["user_id"]].strip(), row[where["item_id"]].strip()
        for column, value in (("user_id", user), ("item_id", item)):
            if "\n" in value or "\r" in value:  # ids are stored one per line in the bundle
                raise _bad(path, f"line {line_number}: column {label[column]!r} holds a line break: {value!r}")
            if not value:
                raise _bad(path, f"line {line_number}: column {label[column]!r} is empty")
        users.append(user)
        items.append(item)
        if "rating" in where:
            ratings.append(_number(row[where["rating"]], path, line_number, label["rating"]))
        if "timestamp" in where:
            timestamps.append(_timestamp(row[where["timestamp"]], path, line_number, label["timestamp"]))
        _add_item_features(row, where, item, titles, genres)
    if not users:
        raise _bad(path, "no data rows after the header")
    table = Interactions(
        np.array(users, dtype=str),
        np.array(items, dtype=str),
        np.array(ratings, dtype=np.float32) if "rating" in where else None,
        np.array(timestamps, dtype=np.int64) if "timestamp" in where else None,
    )
    return table, titles, genres


def _timestamp(text: str, path: Path, line: int, column: str) -> int:
    stamp = _number(text, path, line, column)
    if not -2**63 <= stamp < 2**63:
        raise _bad(path, f"line {line}: column {column!r} is out of the 64-bit range: {text.strip()[:40]!r}")
    return int(stamp)


def read_item_table(path: Path, names: dict[str, str]) -> tuple[dict[str, str], dict[str, list[str]]] | None:
    """Titles and genres by item from a table of items (MovieLens' ``movies.csv``:
    ``movieId,title,genres``); ``None`` when its header has no item column or neither a title nor
    a genres column, as it then describes something else."""
    def read(reader):
        header = next(reader, None) or []
        where = _locate_columns(header, path, {column: names[column] for column in ("item_id", "title", "genres")},
                                required=())
        if "item_id" not in where or not {"title", "genres"} & where.keys():
            return None
        titles: dict[str, str] = {}
        genres: dict[str, list[str]] = {}
        for line_number, row in _data_rows(reader, path, len(header), max(where.values()) + 1):
            item = row[where["item_id"]].strip()
            if item:
                _add_item_features(row, where, item, titles, genres)
        return titles, genres

    return _read_table(path, read)


def _number(text: str, path: Path, line: int, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _bad(path, f"line {line}: column {column!r} is not a number: {text.strip()!r}") from None
    if not math.isfinite(value):
        raise _bad(path, f"line {line}: column {column!r} is not a finite number: {text.strip()!r}")
    return value


def load_csv(target: str, seed: int, names: dict[str, str] | None = None) -> RawRecsys:
    """``csv:FILE`` (per-user hold-out) or ``csv:DIR`` holding ``train.csv`` and ``test.csv``
    (or .tsv), columns named as in ``names`` (:func:`column_names`). Titles and genres missing
    from the interactions come from an ``items``/``movies`` table beside them, if there is one.
    GroupLens' headerless MovieLens files (ml-100k, ml-1m, ml-10m) are read by their own layout
    (:func:`kerasuite.data.movielens.find_source`)."""
    names = names or column_names()
    download = movielens_source(target, names)
    if download is not None:
        return _load_movielens(target, download, seed)
    root = Path(target)
    if root.is_dir() and (whole := _ratings_without_split(root, target)) is not None:
        root = whole
    if root.is_dir():
        train_path, test_path = train_and_test_files(root, target)
        interactions = (train_path, test_path)
        raw = _with_item_table(_given_split(target, train_path, test_path, names), root, names, interactions)
    else:
        interactions = (root,)
        raw = _with_item_table(_held_out_split(target, root, names, seed), root.parent, names, interactions)
    _check_named_item_columns(raw, names, target)
    raw.notes = delimiter_notes(*interactions, Path(raw.item_table) if raw.item_table else None)
    return raw


# MovieLens' ml-latest-small, ml-20m and ml-25m folders: every rating in one file, no split
RATINGS_FILE = "ratings"


def _ratings_without_split(folder: Path, target: str) -> Path | None:
    """The ratings file of a folder that holds one and neither a train nor a test file (read as
    ``csv:FOLDER/ratings.csv`` is); None otherwise, so a half-given split is still refused."""
    if any(split_file(folder, split, target) for split in ("train", "test")):
        return None
    return split_file(folder, RATINGS_FILE, target)


def _held_out_split(target: str, path: Path, names: dict[str, str], seed: int) -> RawRecsys:
    table, titles, genres = read_interactions_csv(path, names)
    return _hold_out(target, table, seed, titles, genres)


def _hold_out(target: str, table: Interactions, seed: int, titles: dict[str, str] | None = None,
              genres: dict[str, list[str]] | None = None) -> RawRecsys:
    train, test, split = holdout_per_user(table, seed)
    if not len(test):  # the metrics would be NaN: nothing to evaluate on
        raise UserError(f"--data csv:{target}: every user has a single interaction, so none can be held out "
                        "for testing; users need at least two, or give a folder with train.csv and test.csv")
    return RawRecsys(train, test, titles or {}, genres or {}, split=split)


def _given_split(target: str, train_path: Path, test_path: Path, names: dict[str, str]) -> RawRecsys:
    train, titles, genres = read_interactions_csv(train_path, names)
    test, test_titles, test_genres = read_interactions_csv(test_path, names)
    for column, field in (("rating", "ratings"), ("timestamp", "timestamps")):
        if (getattr(train, field) is None) != (getattr(test, field) is None):
            raise UserError(f"--data csv:{target}: column {names[column]!r} must be in both {train_path.name} "
                            f"and {test_path.name} or neither")
    for key, value in test_titles.items():
        titles.setdefault(key, value)
    for key, value in test_genres.items():
        genres.setdefault(key, value)
    return RawRecsys(train, test, titles, genres)


def _with_item_table(raw: RawRecsys, folder: Path, names: dict[str, str], interactions: tuple[Path, ...]) -> RawRecsys:
    """``raw`` with the titles or genres its interactions lack taken from the item table in
    ``folder``, if there is one (MovieLens keeps them in movies.csv, beside ratings.csv)."""
    if raw.item_titles and raw.item_genres:
        return raw
    for path in (folder / f"{stem}{suffix}" for stem in ITEM_TABLES for suffix in TABLE_SUFFIXES):
        if not path.is_file() or any(path.resolve() == other.resolve() for other in interactions):
            continue
        features = read_item_table(path, names)
        if features is not None:
            raw.item_titles, raw.item_genres = raw.item_titles or features[0], raw.item_genres or features[1]
            raw.item_table = str(path)
            return raw
    return raw


def _check_named_item_columns(raw: RawRecsys, names: dict[str, str], target: str) -> None:
    """A title or genres column named by a setting must have given values, from the interactions
    or the item table: a misspelt name would otherwise train without them unsaid."""
    for column, values in (("title", raw.item_titles), ("genres", raw.item_genres)):
        if names[column] != column and not values:
            raise UserError(f"--data csv:{target}: found no values of column {names[column]!r} "
                            f"(data.recsys.{COLUMN_SETTINGS[column]}) in the interactions, nor in an items.csv "
                            "or movies.csv beside them")


def movielens_source(target: str, names: dict[str, str]) -> movielens.Source | None:
    """The MovieLens download ``csv:TARGET`` names, if it names one; a column named by a setting
    (``names`` away from the defaults) is refused, as its files have no header."""
    download = movielens.find_source(target)
    movielens.check_headerless(download, [COLUMN_SETTINGS[c] for c, name in names.items() if name != c], target)
    return download


def _load_movielens(target: str, download: movielens.Source, seed: int) -> RawRecsys:
    """A MovieLens download: its whole ratings file held out per user (each user's latest rating),
    or a predefined split's two files; titles and genres from its item table."""
    train = read_movielens_ratings(download.train, download.layout)
    if download.test is None:
        raw = _hold_out(target, train, seed)
    else:
        raw = RawRecsys(train, read_movielens_ratings(download.test, download.layout))
    if download.items is not None:
        table = download.layout.read_items(download.items)
        raw.item_titles, raw.item_genres, raw.genre_names = table.titles, table.genres, table.genre_names
        raw.item_table = str(download.items)
    return raw


MOVIELENS_BLOCK_BYTES = 1 << 22  # whole lines of about 4 MB at a time: memory stays flat on ml-10m
# Characters numpy keeps of an id (GroupLens' have at most 6 digits; a wider one goes to the line
# reader) and of a timestamp. The timestamp as bytes: ASCII digits convert to int64 three times
# as fast as str's
MOVIELENS_ID_WIDTH, MOVIELENS_STAMP_WIDTH = 12, 20
MOVIELENS_ROW = np.dtype([("user", f"U{MOVIELENS_ID_WIDTH}"), ("item", f"U{MOVIELENS_ID_WIDTH}"),
                          ("rating", np.float32), ("timestamp", f"S{MOVIELENS_STAMP_WIDTH}")])


def read_movielens_ratings(path: Path, layout: movielens.Layout) -> Interactions:
    """A headerless MovieLens ratings file (u.data, ratings.dat, a split's halves). numpy's C
    reader parses each block, several times as fast as rows parsed in Python and in less memory
    (tools/benchmarking/movielens_read.py); a block it cannot take whole is read again by
    :func:`kerasuite.data.movielens.rating_rows`, whose rules it shares and which names the
    first bad line."""
    parts = []
    with path.open("rb") as handle:
        for first_line, block in line_blocks(handle, 1, MOVIELENS_BLOCK_BYTES):
            parsed = _movielens_block(block, layout.separator)
            if parsed is None:
                # Latin-1 maps every byte to one character, so a stray byte reaches the row checks
                # (and the message) instead of stopping a decoder without a line number
                rows = movielens.rating_rows(block.decode("latin-1"), path, layout, first_line)
                parsed = Interactions(*(np.array(column, dtype=dtype)
                                        for column, dtype in zip(rows, (str, str, np.float32, np.int64))))
            parts.append(parsed)
    if not sum(len(part) for part in parts):
        raise UserError(f"{path}: no ratings; a {layout.ratings} row is {layout.row}")
    return Interactions(*(np.concatenate([getattr(part, field) for part in parts])
                          for field in ("users", "items", "ratings", "timestamps")))


def _movielens_block(block: bytes, separator: str) -> Interactions | None:
    """The block's rows by numpy's C reader, or ``None`` when any of them is in doubt."""
    if not numpy_sees_python_lines(block):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data": a block of blank lines
            table = np.loadtxt(io.BytesIO(block.replace(separator.encode(), b"\t")), delimiter="\t",
                               dtype=MOVIELENS_ROW, comments=None, quotechar=None, ndmin=1, encoding="latin-1")
    except ValueError:
        return None
    users, items, ratings, stamps = (table[name] for name in MOVIELENS_ROW.names)
    # str.isdecimal, as the line reader checks, and bytes' isdigit are both the ASCII digits on Latin-1 text
    for column, whole_number, widest in ((users, np.strings.isdecimal, MOVIELENS_ID_WIDTH - 1),
                                         (items, np.strings.isdecimal, MOVIELENS_ID_WIDTH - 1),
                                         (stamps, np.strings.isdigit, movielens.TIMESTAMP_DIGITS)):
        if not whole_number(column).all() or np.strings.str_len(column).max(initial=0) > widest:
            return None
    if not np.isfinite(ratings).all():
        return None
    # copies all: a field of the block's table is a view that would keep the whole table alive
    return Interactions(_narrowest(users), _narrowest(items), ratings.copy(), stamps.astype(np.int64))


def _narrowest(column: np.ndarray) -> np.ndarray:
    """As wide as its longest id: numpy's reader gives each one 12 characters (48 bytes)."""
    return column.astype(f"U{max(1, int(np.strings.str_len(column).max(initial=1)))}")


# -------------------------------------------------------------------------------- splitting


def holdout_per_user(table: Interactions, seed: int) -> tuple[Interactions, Interactions, str]:
    """Hold out one interaction per user who has at least two: the latest one when timestamps
    exist (ties: the later row), else the one with the smallest stable hash of (user, item,
    occurrence), which does not depend on the row order. Returns ``(train, test, how)``."""
    n = len(table)
    if table.timestamps is not None:
        # primary key user, then timestamp, then row: the last row of each user is its latest
        order = np.lexsort((np.arange(n), table.timestamps, table.users))
        how = "latest"
    else:
        occurrence: dict[tuple[str, str], int] = {}
        keys = np.empty(n, dtype=np.float64)
        for row, (user, item) in enumerate(zip(table.users.tolist(), table.items.tolist())):
            count = occurrence.get((user, item), 0)
            occurrence[(user, item)] = count + 1
            digest = hashlib.sha1(f"{seed}\x1f{user}\x1f{item}\x1f{count}".encode()).digest()
            keys[row] = -int.from_bytes(digest[:8], "big")  # the smallest hash sorts last
        order = np.lexsort((keys, table.users))
        how = "hashed"
    users_sorted = table.users[order]
    last_of_user = np.ones(n, dtype=bool)
    last_of_user[:-1] = users_sorted[1:] != users_sorted[:-1]
    first_of_user = np.ones(n, dtype=bool)
    first_of_user[1:] = users_sorted[1:] != users_sorted[:-1]
    held = last_of_user & ~first_of_user  # users with a single interaction keep it for training
    is_test = np.zeros(n, dtype=bool)
    is_test[order[held]] = True
    return table.select(~is_test), table.select(is_test), how


# --------------------------------------------------------------------------------- sources


def load_raw(spec: str, seed: int, names: dict[str, str] | None = None) -> RawRecsys:
    """Dispatch a ``--data`` spec to its reader; ``names`` are a CSV's column names (:func:`column_names`)."""
    source = parse_source(spec, allowed=("tfds", "csv", "synthetic"))
    if source.scheme == "csv":
        return load_csv(source.target, seed, names)
    if source.scheme == "tfds":
        return load_tfds(source.target, seed)
    return synthetic(source.target, seed)


def load_tfds(name: str, seed: int, data_dir: str | None = None) -> RawRecsys:
    """MovieLens ratings from TFDS (``movielens/100k-ratings`` and its siblings): user, movie,
    rating, timestamp, title and genres; split per user by the latest rating."""
    if not name.startswith("movielens/") or not name.endswith("-ratings"):
        raise UserError(f"--data tfds:{name}: recommenders read the movielens/*-ratings datasets")
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir)
        builder.download_and_prepare()
        dataset = builder.as_dataset(split="train")
    except Exception as error:  # network, missing files: one line for the user
        raise UserError(f"--data tfds:{name}: could not load ({type(error).__name__}: {str(error).splitlines()[0][:200]})")
    genre_names = list(builder.info.features["movie_genres"].feature.names)
    users, items, ratings, timestamps = [], [], [], []
    titles: dict[str, str] = {}
    genres: dict[str, list[str]] = {}
    wanted = ("user_id", "movie_id", "user_rating", "timestamp", "movie_title", "movie_genres")
    for example in tfds.as_numpy(dataset.map(lambda ex: {key: ex[key] for key in wanted})):
        user = example["user_id"].decode("utf-8", "replace")
        item = example["movie_id"].decode("utf-8", "replace")
        users.append(user)
        items.append(item)
        ratings.append(float(example["user_rating"]))
        timestamps.append(int(example["timestamp"]))
        titles.setdefault(item, example["movie_title"].decode("utf-8", "replace"))
        genres.setdefault(item, [genre_names[int(g)] for g in example["movie_genres"]])
    if not users:
        raise UserError(f"--data tfds:{name}: the dataset is empty")
    table = Interactions(np.array(users, dtype=str), np.array(items, dtype=str),
                         np.array(ratings, dtype=np.float32), np.array(timestamps, dtype=np.int64))
    train, test, split = holdout_per_user(table, seed)
    return RawRecsys(train, test, titles, genres, genre_names=genre_names, split=split)


def synthetic(target: str, seed: int) -> RawRecsys:
    """Planted clusters: users and items each belong to one of C clusters; a user picks
    ``per_user`` distinct items, each from its own cluster with probability ``1 - noise`` and from
    anywhere otherwise. Ratings are about 4.5 in-cluster and 2 outside, plus item bias and noise
    (sd 0.3). Items carry a title and a genre naming their cluster (``features=0`` drops them)."""
    params = parse_synthetic(target)
    rng = np.random.default_rng(seed)
    n_users, n_items, n_clusters = int(params["users"]), int(params["items"]), int(params["clusters"])
    per_user = min(int(params["per_user"]), n_items)
    item_cluster = np.arange(n_items) % n_clusters
    rng.shuffle(item_cluster)
    user_cluster = rng.integers(0, n_clusters, size=n_users)
    item_bias = rng.normal(0.0, 0.3, size=n_items)
    members = [np.flatnonzero(item_cluster == c) for c in range(n_clusters)]
    users, items, ratings, timestamps = [], [], [], []
    clock = 0
    for user in range(n_users):
        chosen: list[int] = []
        taken: set[int] = set()
        while len(chosen) < per_user:
            pool = members[user_cluster[user]] if rng.random() >= params["noise"] else np.arange(n_items)
            free = [i for i in pool.tolist() if i not in taken]
            if not free:
                free = [i for i in range(n_items) if i not in taken]
            pick = int(free[rng.integers(len(free))])
            taken.add(pick)
            chosen.append(pick)
        for item in chosen:
            affinity = 4.5 if item_cluster[item] == user_cluster[user] else 2.0
            ratings.append(float(np.clip(affinity + item_bias[item] + rng.normal(0.0, 0.3), 1.0, 5.0)))
            users.append(f"u{user}")
            items.append(f"i{item}")
            clock += 1
            timestamps.append(clock)
    table = Interactions(np.array(users, dtype=str), np.array(items, dtype=str),
                         np.array(ratings, dtype=np.float32), np.array(timestamps, dtype=np.int64))
    train, test, split = holdout_per_user(table, seed)
    titles: dict[str, str] = {}
    genres: dict[str, list[str]] = {}
    if params["features"]:
        titles = {f"i{i}": f"item {i} of cluster {c}" for i, c in enumerate(item_cluster)}
        genres = {f"i{i}": [f"cluster{c}"] for i, c in enumerate(item_cluster)}
    planted = {
        "user_cluster": {f"u{u}": int(c) for u, c in enumerate(user_cluster)},
        "item_cluster": {f"i{i}": int(c) for i, c in enumerate(item_cluster)},
    }
    return RawRecsys(train, test, titles, genres, planted=planted, split=split)


# ------------------------------------------------------------------------------- encoding


@dataclasses.dataclass
class Vocabulary:
    """Raw ids in index order; index 0 is reserved for unknown ids."""

    ids: list[str]

    def __post_init__(self) -> None:
        self._index = {value: position + 1 for position, value in enumerate(self.ids)}

    def __len__(self) -> int:
        return len(self.ids) + 1  # including the OOV row

    def lookup(self, values: Iterable[str]) -> np.ndarray:
        return np.array([self._index.get(v, OOV_INDEX) for v in values], dtype=np.int32)


@dataclasses.dataclass
class EncodedSplit:
    users: np.ndarray  # int32 user index (0 = OOV)
    items: np.ndarray  # int32 item index
    ratings: np.ndarray | None
    timestamps: np.ndarray | None = None  # int64, when the source has them (history order)

    def __len__(self) -> int:
        return len(self.users)


@dataclasses.dataclass
class RecsysArrays:
    """A source encoded as indices plus the item feature tables the candidate tower reads."""

    users: Vocabulary
    items: Vocabulary
    train: EncodedSplit
    test: EncodedSplit
    genre_names: list[str]
    item_genres: np.ndarray  # float32 [num_items + 1, num_genres] multi-hot (may have 0 columns)
    title_tokens: list[str]  # title vocabulary: token index i + 2 <-> title_tokens[i]
    item_title_ids: np.ndarray  # int32 [num_items + 1, title_length], 0-padded
    item_titles: list[str]  # display name per item index (row 0: "[unknown]")
    has_ratings: bool
    split: str
    planted: dict[str, dict[str, int]] | None = None
    notes: list[str] = dataclasses.field(default_factory=list)  # the source's (RawRecsys.notes)

    @property
    def num_users(self) -> int:
        return len(self.users)

    @property
    def num_items(self) -> int:
        return len(self.items)

    @property
    def has_genres(self) -> bool:
        return self.item_genres.shape[1] > 0

    @property
    def has_titles(self) -> bool:
        return bool(self.title_tokens)

    def item_features(self, item_index: np.ndarray) -> dict[str, np.ndarray]:
        """The candidate tower's side-feature inputs for these item indices."""
        features: dict[str, np.ndarray] = {}
        if self.has_genres:
            features["item_genres"] = self.item_genres[item_index]
        if self.has_titles:
            features["item_title"] = self.item_title_ids[item_index]
        return features


def tokenize(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def encode(raw: RawRecsys, *, use_side_features: bool = True, title_length: int = 8,
           title_vocabulary: int = 2000) -> RecsysArrays:
    """Index users (train only), items (both splits) and build the item feature tables."""
    users = Vocabulary(sorted(set(raw.train.users.tolist())))
    items = Vocabulary(sorted(set(raw.train.items.tolist()) | set(raw.test.items.tolist())))
    has_ratings = raw.train.ratings is not None

    def encode_split(table: Interactions) -> EncodedSplit:
        return EncodedSplit(users.lookup(table.users.tolist()), items.lookup(table.items.tolist()),
                            table.ratings.astype(np.float32) if table.ratings is not None else None,
                            table.timestamps)

    num_items = len(items)
    titles_by_index = ["[unknown]"] + [raw.item_titles.get(item, item) for item in items.ids]
    genre_names: list[str] = []
    item_genres = np.zeros((num_items, 0), dtype=np.float32)
    title_tokens: list[str] = []
    item_title_ids = np.zeros((num_items, 0), dtype=np.int32)
    if use_side_features and raw.item_genres:
        genre_names = list(raw.genre_names) if raw.genre_names else sorted(
            {g for names in raw.item_genres.values() for g in names})
        column = {name: i for i, name in enumerate(genre_names)}
        item_genres = np.zeros((num_items, len(genre_names)), dtype=np.float32)
        for index, item in enumerate(items.ids, start=1):
            for name in raw.item_genres.get(item, []):
                if name in column:
                    item_genres[index, column[name]] = 1.0
    if use_side_features and raw.item_titles and title_length > 0:
        counts: dict[str, int] = {}
        for item in items.ids:
            for token in tokenize(raw.item_titles.get(item, "")):
                counts[token] = counts.get(token, 0) + 1
        title_tokens = [t for t, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))][:title_vocabulary]
        token_index = {token: i + 2 for i, token in enumerate(title_tokens)}
        item_title_ids = np.zeros((num_items, title_length), dtype=np.int32)
        for index, item in enumerate(items.ids, start=1):
            ids = [token_index.get(t, OOV_TOKEN) for t in tokenize(raw.item_titles.get(item, ""))][:title_length]
            item_title_ids[index, : len(ids)] = ids
    return RecsysArrays(
        users=users, items=items, train=encode_split(raw.train), test=encode_split(raw.test),
        genre_names=genre_names, item_genres=item_genres, title_tokens=title_tokens,
        item_title_ids=item_title_ids, item_titles=titles_by_index, has_ratings=has_ratings,
        split=raw.split, planted=raw.planted, notes=list(raw.notes),
    )


def keep_positive(split: EncodedSplit, min_rating: float) -> EncodedSplit:
    """Retrieval positives: interactions rated at least ``min_rating`` (all when unrated)."""
    if split.ratings is None or min_rating <= 0:
        return split
    keep = split.ratings >= min_rating
    return EncodedSplit(split.users[keep], split.items[keep], split.ratings[keep],
                        None if split.timestamps is None else split.timestamps[keep])


def sample_negatives(positives: EncodedSplit, known: EncodedSplit, num_items: int,
                     per_positive: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Implicit-feedback negatives: for each positive, ``per_positive`` random items (index >= 1)
    that the user has no interaction with in ``known``. Returns ``(users, items)`` int32."""
    rng = np.random.default_rng(seed)
    users = np.repeat(positives.users, per_positive).astype(np.int64)
    taken = np.unique(known.users.astype(np.int64) * num_items + known.items)
    items = rng.integers(1, num_items, size=len(users))
    for _ in range(50):  # re-draw collisions; each round clears most of them
        clash = np.isin(users * num_items + items, taken)
        if not clash.any():
            break
        items[clash] = rng.integers(1, num_items, size=int(clash.sum()))
    return users.astype(np.int32), items.astype(np.int32)


# ------------------------------------------------------------------------- planted ceiling


def planted_recall_ceiling(arrays: RecsysArrays, test: EncodedSplit, seen: dict[int, np.ndarray],
                           k: int) -> float | None:
    """Expected recall@k on ``test`` of an oracle that knows the planted clusters (score 1 for the
    user's cluster, 0 elsewhere, ties in random order), ``seen`` item indices removed as in the
    evaluation. Held-out items drawn outside the cluster ("noise") are nearly unreachable, so this
    is the honest ceiling of a synthetic run. ``None`` for sources without planted structure."""
    if not arrays.planted:
        return None
    user_cluster = arrays.planted["user_cluster"]
    item_cluster = np.full(arrays.num_items, -1, dtype=np.int64)
    for index, item in enumerate(arrays.items.ids, start=1):
        item_cluster[index] = arrays.planted["item_cluster"].get(item, -1)
    recall = []
    for user, target in zip(test.users.tolist(), test.items.tolist()):
        if user == OOV_INDEX:
            recall.append(0.0)
            continue
        cluster = user_cluster[arrays.users.ids[user - 1]]
        open_items = np.ones(arrays.num_items, dtype=bool)
        open_items[0] = False
        removed = seen.get(user)
        if removed is not None:
            open_items[removed] = False
        open_items[target] = True
        in_cluster = int(np.sum(open_items & (item_cluster == cluster)))
        if item_cluster[target] == cluster:
            recall.append(min(1.0, k / in_cluster))
        else:
            outside = int(open_items.sum()) - in_cluster
            # capped: when k covers every open item, the remaining slots outnumber the outside items
            recall.append(min(1.0, (k - in_cluster) / outside) if in_cluster < k else 0.0)
    return float(np.mean(recall)) if recall else None


def describe(arrays: RecsysArrays) -> dict[str, Any]:
    """Counts of an encoded recsys set (users, items, interactions, OOV test users)."""
    return {
        "num_users": arrays.num_users - 1,
        "num_items": arrays.num_items - 1,
        "train_interactions": int(len(arrays.train)),
        "test_interactions": int(len(arrays.test)),
        "test_oov_users": int(np.sum(arrays.test.users == OOV_INDEX)),
        "split": arrays.split,
        "genres": len(arrays.genre_names),
        "title_tokens": len(arrays.title_tokens),
    }


def load_arrays(config: Any) -> RecsysArrays:
    """Read and encode ``config.data.source`` with the ``data.recsys`` settings (RunConfig)."""
    recsys = config.data.recsys
    if not 0.0 <= recsys.oov_user_rate < 1.0:
        raise UserError(f"data.recsys.oov_user_rate: must be in [0, 1), got {recsys.oov_user_rate}")
    if recsys.negatives_per_positive < 1:
        raise UserError(f"data.recsys.negatives_per_positive: must be at least 1, got {recsys.negatives_per_positive}")
    if recsys.title_length < 0 or recsys.title_vocabulary < 1:
        raise UserError("data.recsys.title_length must be >= 0 and data.recsys.title_vocabulary >= 1")
    raw = load_raw(config.data.source, config.seed, column_names(recsys))
    return encode(raw, use_side_features=recsys.use_side_features, title_length=recsys.title_length,
                  title_vocabulary=recsys.title_vocabulary)


def split_validation(split: EncodedSplit, fraction: float, limit: int, seed: int) -> tuple[EncodedSplit, EncodedSplit | None]:
    """Shuffle the training interactions once (seeded), cap them at ``limit`` (0 = all) and set
    ``fraction`` of them aside for validation."""
    order = np.random.default_rng(seed).permutation(len(split))
    if limit:
        order = order[:limit]
    n_validation = int(round(len(order) * fraction))
    pick = lambda rows: EncodedSplit(split.users[rows], split.items[rows],  # noqa: E731
                                     None if split.ratings is None else split.ratings[rows],
                                     None if split.timestamps is None else split.timestamps[rows])
    train_rows = np.sort(order[n_validation:])
    if n_validation == 0:
        return pick(train_rows), None
    return pick(train_rows), pick(np.sort(order[:n_validation]))


def concat(*splits: EncodedSplit | None) -> EncodedSplit:
    present = [s for s in splits if s is not None]
    ratings = None if any(s.ratings is None for s in present) else np.concatenate([s.ratings for s in present])
    stamps = None if any(s.timestamps is None for s in present) else np.concatenate([s.timestamps for s in present])
    return EncodedSplit(np.concatenate([s.users for s in present]), np.concatenate([s.items for s in present]),
                        ratings, stamps)


def example_features(arrays: RecsysArrays, split: EncodedSplit) -> dict[str, np.ndarray]:
    """Model inputs for each interaction: ids plus the item's side features."""
    return {"user_index": split.users.astype(np.int32), "item_index": split.items.astype(np.int32),
            **arrays.item_features(split.items)}


# ------------------------------------------------------------------------------ histories

HISTORY_PADDING = 0  # item index 0 (unknown item) pads a short history


def history_order(split: EncodedSplit) -> str:
    """How :func:`history_table` orders a user's items (also written to signature.json)."""
    return "most recent first (by timestamp)" if split.timestamps is not None else "latest row first (file order)"


def history_table(split: EncodedSplit, num_users: int, length: int) -> np.ndarray:
    """int32 ``[num_users, length + 1]``: each user's distinct items, most recent first (by
    timestamp when known, else later rows first), 0-padded; longer histories keep the most
    recent. The spare column lets a training example drop its own target and still fill
    ``length`` slots (:func:`histories_for`)."""
    n = len(split)
    stamps = split.timestamps if split.timestamps is not None else np.zeros(n, np.int64)
    # users ascending, newest first (ties: later row first)
    order = np.lexsort((-np.arange(n), -stamps.astype(np.int64), split.users))
    users, items = split.users[order].astype(np.int64), split.items[order].astype(np.int64)
    keep = items != HISTORY_PADDING
    pair = users * (int(items.max(initial=0)) + 1) + items
    _, first = np.unique(pair, return_index=True)  # the newest occurrence of a repeated item
    keep &= np.isin(np.arange(n), first)
    users, items = users[keep], items[keep]
    starts = np.searchsorted(users, users, side="left")
    position = np.arange(len(users)) - starts
    inside = position <= length
    table = np.full((num_users, length + 1), HISTORY_PADDING, np.int32)
    table[users[inside], position[inside]] = items[inside]
    return table


def histories_for(table: np.ndarray, users: np.ndarray, exclude_items: np.ndarray | None, length: int) -> np.ndarray:
    """int32 ``[n, length]`` history rows for these users, ``exclude_items[i]`` (the example's
    target: never part of its own history) removed and the rest moved up; 0-padded."""
    rows = table[np.asarray(users, np.int64)].copy()
    if exclude_items is not None:
        rows[rows == np.asarray(exclude_items, np.int64)[:, None]] = HISTORY_PADDING
    order = np.argsort(rows == HISTORY_PADDING, axis=1, kind="stable")
    return np.take_along_axis(rows, order, axis=1)[:, :length].astype(np.int32)


def write_id_tables(arrays: RecsysArrays, bundle_dir: Path) -> None:
    """``users.txt`` and ``items.txt``: line i is index i + 1 (ids with newlines cannot be listed)."""
    from kerasuite.io_utils import write_text_atomic

    for name, vocabulary in (("users.txt", arrays.users), ("items.txt", arrays.items)):
        bad = [v for v in vocabulary.ids if "\n" in v or "\r" in v]
        if bad:
            raise UserError(f"{name}: id {bad[0]!r} contains a line break; device id tables are one id per line")
        write_text_atomic(Path(bundle_dir) / name, "\n".join(vocabulary.ids) + "\n")
