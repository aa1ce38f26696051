"""GroupLens' MovieLens downloads read as they are: ml-100k (``u.data``, ``u.item``, ``u.genre``)
and ml-1m / ml-10m (``ratings.dat``, ``movies.dat``). None of their files has a header row and
each has its own separator, so the header-CSV reader of :mod:`kerasuite.data.recsys` cannot take
them; that module hands a ``csv:`` target to this one when :func:`find_source` recognises it.

A layout is recognised by its file names only (a table of them, :data:`LAYOUTS`); every other file
is a header CSV as before. The rows must then have the layout's shape: a row that does not is
refused in one line naming the file and line. The standard library only (numpy neither): a
pointer to the wrong file is refused with the config, as fast as any usage error. The ratings'
fast reader, which needs numpy, is :func:`kerasuite.data.recsys.read_movielens_ratings`.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path
from typing import Callable

from kerasuite.data.delimited import TABLE_SUFFIXES
from kerasuite.data.settings import RecsysDataConfig
from kerasuite.data.spec import parse_source
from kerasuite.errors import UserError

# u.item's 19 genre flags in the order of ml-100k's README; u.genre beside it, when there, names them
ML_100K_GENRES = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
                  "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
                  "War", "Western")
MOVIES_DAT_GENRE_SEPARATOR = "|"


@dataclasses.dataclass(frozen=True)
class ItemTable:
    titles: dict[str, str]
    genres: dict[str, list[str]]
    genre_names: list[str] | None  # the data set's own genre order; None: sorted as found


@dataclasses.dataclass(frozen=True)
class Layout:
    """One download's file names and ratings format."""

    name: str
    ratings: str  # the whole ratings file, held out per user
    separator: str
    separator_name: str  # as messages name it
    row: str  # a ratings row as the download's README writes it
    items: str  # titles and genres, beside the ratings
    read_items: Callable[[Path], ItemTable]
    # A predefined split: STEM + train_suffix holds the training ratings and STEM + test_suffix
    # beside it the test ratings (ml-100k ships u1-u5, ua and ub; ml-10m's split_ratings.sh
    # writes r1-r5, ra and rb)
    split_stem: str  # a regular expression
    train_suffix: str
    test_suffix: str
    side_files: tuple[str, ...]  # other files of the download: not ratings


@dataclasses.dataclass(frozen=True)
class Source:
    """What a ``csv:`` target names in a MovieLens download."""

    layout: Layout
    train: Path
    test: Path | None  # None: hold one rating per user out of ``train``
    items: Path | None  # the item table beside the ratings, if it is there


# ------------------------------------------------------------------------------- item tables


def _text(path: Path) -> str:
    """The file decoded as UTF-8 when it is valid UTF-8, else as ISO-8859-1, which ml-100k's and
    ml-1m's files are (ml-10m's are UTF-8); a Latin-1 accent is almost never valid UTF-8."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _lines(path: Path):
    """(line number, line) of each line that is not blank. Split at line feeds only:
    ``str.splitlines`` would also break at a Latin-1 byte 0x85 (NEL)."""
    for number, line in enumerate(_text(path).split("\n"), 1):
        line = line.removesuffix("\r")
        if line.strip():
            yield number, line


def _bad_line(path: Path, number: int, message: str) -> UserError:
    return UserError(f"{path}: line {number}: {message}")


def _whole_number(value: str, path: Path, number: int, what: str) -> str:
    if not value.isdecimal():
        raise _bad_line(path, number, f"the {what} is not a whole number: {value[:40]!r}")
    return value


def read_genre_names(path: Path) -> list[str]:
    """u.genre's ``name|index`` lines as names by index (ml-100k's README order without the file)."""
    if not path.is_file():
        return list(ML_100K_GENRES)
    by_index: dict[int, str] = {}
    for number, line in _lines(path):
        fields = line.split("|")
        if len(fields) != 2 or not fields[0].strip():
            raise _bad_line(path, number, f"expected name|index, got {line[:60]!r}")
        index = int(_whole_number(fields[1].strip(), path, number, "genre index"))
        if index in by_index:
            raise _bad_line(path, number, f"genre index {index} is given twice")
        by_index[index] = fields[0].strip()
    if sorted(by_index) != list(range(len(by_index))):
        raise UserError(f"{path}: the genre indices are not 0 to {len(by_index) - 1} (u.item's flag order)")
    return [by_index[index] for index in range(len(by_index))]


def read_u_item(path: Path) -> ItemTable:
    """ml-100k's u.item: ``movie id | title | release date | video release date | IMDb URL``
    and one 0/1 flag per genre of u.genre."""
    names = read_genre_names(path.with_name("u.genre"))
    width = 5 + len(names)
    titles: dict[str, str] = {}
    genres: dict[str, list[str]] = {}
    for number, line in _lines(path):
        fields = line.split("|")
        if len(fields) != width:
            raise _bad_line(path, number, f"{len(fields)} fields separated by '|', a u.item row has {width}: movie id | "
                                          f"title | release date | video release date | IMDb URL | {len(names)} genre flags")
        item = _whole_number(fields[0].strip(), path, number, "movie id")
        flags = [flag.strip() for flag in fields[5:]]
        wrong = next((at for at, flag in enumerate(flags) if flag not in ("0", "1")), None)
        if wrong is not None:
            raise _bad_line(path, number, f"the {names[wrong]!r} genre flag (field {6 + wrong}) is not 0 or 1: "
                                          f"{flags[wrong][:40]!r}")
        if fields[1].strip():
            titles[item] = fields[1].strip()
        if "1" in flags:
            genres[item] = [name for name, flag in zip(names, flags) if flag == "1"]
    return ItemTable(titles, genres, names)


def read_movies_dat(path: Path) -> ItemTable:
    """ml-1m's and ml-10m's movies.dat: ``MovieID::Title::Genres``, the genres ``|``-joined.
    ``::`` has no quoting, and titles hold commas and quotes as plain text."""
    titles: dict[str, str] = {}
    genres: dict[str, list[str]] = {}
    for number, line in _lines(path):
        fields = line.split("::")
        if len(fields) != 3:
            raise _bad_line(path, number, f"{len(fields)} fields separated by '::', a movies.dat row has 3: "
                                          "MovieID::Title::Genres")
        item = _whole_number(fields[0].strip(), path, number, "movie id")
        if fields[1].strip():
            titles[item] = fields[1].strip()
        names = [name.strip() for name in fields[2].split(MOVIES_DAT_GENRE_SEPARATOR) if name.strip()]
        if names:
            genres[item] = names
    return ItemTable(titles, genres, None)


# ------------------------------------------------------------------------------------ layouts


ML_100K = Layout(
    name="ml-100k", ratings="u.data", separator="\t", separator_name="tabs",
    row="user id | item id | rating | timestamp", items="u.item", read_items=read_u_item,
    split_stem=r"u[1-5ab]", train_suffix=".base", test_suffix=".test",
    side_files=("u.item", "u.genre", "u.user", "u.info", "u.occupation"))
ML_1M_10M = Layout(
    name="ml-1m/ml-10m", ratings="ratings.dat", separator="::", separator_name="'::'",
    row="UserID::MovieID::Rating::Timestamp", items="movies.dat", read_items=read_movies_dat,
    split_stem=r"r[1-5ab]", train_suffix=".train", test_suffix=".test",
    side_files=("movies.dat", "users.dat", "tags.dat"))
LAYOUTS = (ML_100K, ML_1M_10M)


def find_source(target: str) -> Source | None:
    """The MovieLens download ``csv:TARGET`` points at, by its file names; ``None`` for anything
    else (a header CSV or TSV, a folder of train and test files). A folder reads its whole ratings
    file, held out per user; a predefined split's training file finds its test file beside it.
    Pointing at a test half, a split without its test half or a file that holds no ratings is
    refused."""
    path = Path(target)
    if path.is_dir():
        return _folder_source(path, target)
    for layout in LAYOUTS:
        source = _file_source(path, layout, target)
        if source is not None:
            return source
    return None


def _beside(path: Path, layout: Layout) -> Path | None:
    items = path.with_name(layout.items)
    return items if items.is_file() else None


def _folder_source(folder: Path, target: str) -> Source | None:
    if any((folder / f"{split}{suffix}").is_file() for split in ("train", "test") for suffix in TABLE_SUFFIXES):
        return None  # a folder of train and test files reads as it always did
    found = [layout for layout in LAYOUTS if (folder / layout.ratings).is_file()]
    if len(found) > 1:
        raise UserError(f"--data csv:{target}: the folder holds both {found[0].ratings} and {found[1].ratings}; "
                        "point at one of them")
    if not found:
        return None
    ratings = folder / found[0].ratings
    return Source(found[0], ratings, None, _beside(ratings, found[0]))


def _file_source(path: Path, layout: Layout, target: str) -> Source | None:
    name = path.name
    if name == layout.ratings:
        return Source(layout, path, None, _beside(path, layout))
    train = re.fullmatch(rf"({layout.split_stem}){re.escape(layout.train_suffix)}", name)
    if train:
        test = path.with_name(train[1] + layout.test_suffix)
        if not test.is_file():
            raise UserError(f"--data csv:{target}: {name} is the training half of a predefined {layout.name} split, "
                            f"and its test half {test.name} is not beside it")
        return Source(layout, path, test, _beside(path, layout))
    test = re.fullmatch(rf"({layout.split_stem}){re.escape(layout.test_suffix)}", name)
    if test:
        raise UserError(f"--data csv:{target}: {name} is the test half of a predefined {layout.name} split; point at "
                        f"{test[1]}{layout.train_suffix}, which reads {name} beside it as its test split")
    if name in layout.side_files:
        raise UserError(f"--data csv:{target}: {name} holds no ratings; point at {layout.ratings} or the folder "
                        f"holding it ({layout.name})")
    return None


def check_headerless(download: Source | None, renamed: list[str], target: str) -> None:
    """The files have no header, so a setting naming a column (``renamed``: the column settings
    away from their defaults) is refused, not ignored."""
    if download is not None and renamed:
        raise UserError(f"--data csv:{target}: {download.train.name} has no header row, so data.recsys.{renamed[0]} "
                        f"names no column (its columns are {download.layout.row}); drop the setting")


def check_csv_source(spec: str, settings: RecsysDataConfig) -> None:
    """A ``csv:`` source's mistakes that its file names show (a MovieLens split's test half, a
    column setting for a headerless file), refused with the config."""
    source = parse_source(spec)
    if source.scheme == "csv":
        check_headerless(find_source(source.target), settings.renamed_columns(), source.target)


# ------------------------------------------------------------------------------------ ratings


TIMESTAMP_DIGITS = 18  # fits int64 whatever the digits


def rating_rows(text: str, path: Path, layout: Layout, first_line: int
                ) -> tuple[list[str], list[str], list[float], list[int]]:
    """Users, items, ratings and timestamps of ``text`` (whole lines of ``path`` from line
    ``first_line`` on), each row held to the layout's shape: four fields, whole-number ids and
    timestamp, a finite rating. The first row that is not is refused, naming its line."""
    users: list[str] = []
    items: list[str] = []
    ratings: list[float] = []
    stamps: list[int] = []
    for offset, line in enumerate(text.split("\n")):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        number = first_line + offset
        fields = line.split(layout.separator)
        if len(fields) != 4:
            raise _bad_line(path, number, f"{len(fields)} fields separated by {layout.separator_name}; {layout.name} "
                                          f"ratings rows have 4: {layout.row}")
        user, item, rating, stamp = fields
        for value, what in ((user, "user id"), (item, "item id"), (stamp, "timestamp")):
            _whole_number(value, path, number, what)
        if len(stamp) > TIMESTAMP_DIGITS:
            raise _bad_line(path, number, f"the timestamp is out of range: {stamp[:40]!r}")
        users.append(user)
        items.append(item)
        ratings.append(_rating(rating, path, number))
        stamps.append(int(stamp))
    return users, items, ratings, stamps


def _rating(text: str, path: Path, number: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _bad_line(path, number, f"the rating is not a number: {text.strip()[:40]!r}") from None
    if not math.isfinite(value):
        raise _bad_line(path, number, f"the rating is not a finite number: {text.strip()[:40]!r}")
    return value
