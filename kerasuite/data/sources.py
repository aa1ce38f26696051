"""Source specs (``tfds:NAME``, ``folder:PATH``, ``csv:PATH``, ``builtin:NAME``, ``synthetic:NAME``)
and the split helpers every task shares. Pure Python + numpy: no TensorFlow here, so bad specs
are refused before TensorFlow loads.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path, PurePosixPath
from typing import Iterable, Protocol, Self, Sequence, TypeVar

import numpy as np

from kerasuite.data.spec import SCHEMES, SourceSpec, parse_source, synthetic_class_count  # noqa: F401  (re-exported)
from kerasuite.errors import UserError


# ------------------------------------------------------------------------------ splitting


def stable_fraction(key: str, seed: int) -> float:
    """A number in [0, 1) fixed by ``key`` and ``seed``: the same file always lands in the same split,
    whatever else is added to the folder."""
    digest = hashlib.sha1(f"{seed}:{key}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_indices(
    labels: np.ndarray, test_fraction: float, validation_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deterministic stratified split into (train, validation, test) index arrays.

    ``validation_fraction`` is a fraction of what remains after the test split.
    """
    rng = np.random.default_rng(seed)
    train, validation, test = [], [], []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        rng.shuffle(members)
        n_test = int(round(len(members) * test_fraction))
        rest = members[n_test:]
        n_val = int(round(len(rest) * validation_fraction))
        test.extend(members[:n_test])
        validation.extend(rest[:n_val])
        train.extend(rest[n_val:])
    return (np.sort(np.array(train, dtype=np.int64)), np.sort(np.array(validation, dtype=np.int64)),
            np.sort(np.array(test, dtype=np.int64)))


def training_order(indices: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """At most ``limit`` (0 = all) of ``indices``, in a seeded random order. Sources list their
    examples class by class: the first ``limit`` would hold only the first classes, and the
    pipeline's bounded shuffle buffer (``data.shuffle_buffer``, 10,000) on a longer split would
    feed whole runs of batches from one or two classes."""
    order = np.random.default_rng(seed).permutation(indices)
    return order[:limit] if limit else order


def split_off_validation(n: int, validation_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * validation_fraction))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


# Speech Commands names a clip ``<speaker hash>_nohash_<repetition>.wav``; TensorFlow's
# speech_commands ``which_set`` assigns its splits by hashing the part before the marker.
SPEAKER_MARKER = "_nohash_"


def split_group(path: str) -> str:
    """What a file is split by: the speaker of a Speech Commands name (before ``_nohash_``), so
    one speaker's repetitions never straddle two splits; any other file alone, by its name."""
    name = Path(path).name
    speaker, marker, _ = name.partition(SPEAKER_MARKER)
    return speaker if marker else name


def speaker_groups(paths: Sequence[str]) -> list[str] | None:
    """Each path's ``split_group``, or None when no name carries a speaker: such a data set keeps
    its split per file, as it always had."""
    if not any(SPEAKER_MARKER in Path(path).name for path in paths):
        return None
    return [split_group(path) for path in paths]


def split_off_validation_by_group(groups: Sequence[str], validation_fraction: float,
                                  seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``split_off_validation`` keeping each group whole: a group is held out when its hash falls
    below the fraction, salted so it is drawn independently of the test split's hash."""
    held = np.array([stable_fraction(f"validation:{group}", seed) < validation_fraction for group in groups],
                    dtype=bool)
    return np.flatnonzero(~held), np.flatnonzero(held)


class Split(Protocol):
    def __len__(self) -> int: ...

    def subset(self, indices: np.ndarray) -> Self: ...


SplitT = TypeVar("SplitT", bound=Split)


def train_and_validation(train: SplitT, own_validation: SplitT | None, validation_fraction: float, seed: int,
                         limit: int | None = None,
                         groups: Sequence[str] | None = None) -> tuple[SplitT, SplitT | None]:
    """The source's own validation split (a folder's ``val/``) beside the whole training split;
    without one, validation is carved out of the training split (``data.validation_fraction``,
    seeded), keeping each of ``groups`` (one key per training example, ``speaker_groups``) whole
    when given. None: no validation split.

    With ``limit``, the training split comes in ``training_order`` (0 = all): indexed once, so a
    large in-memory split (audio clips) is not copied twice."""
    if own_validation is not None:
        keep, validation = np.arange(len(train)), own_validation
    else:
        if groups is None:
            keep, held = split_off_validation(len(train), validation_fraction, seed)
        else:
            keep, held = split_off_validation_by_group(groups, validation_fraction, seed)
            if len(train) and not len(keep):  # a few speakers, every one drawn for validation
                raise UserError(f"--data: too few speakers ({len(set(groups))}) to hold out a validation split by "
                                "speaker and keep any for training; add speakers, or set data.validation_fraction=0")
        validation = train.subset(held) if len(held) else None
    if limit is not None:
        keep = training_order(keep, limit, seed)
    return train.subset(keep), validation


# ------------------------------------------------------------------------- class folders


@dataclasses.dataclass
class LabelledFiles:
    paths: list[str]
    labels: np.ndarray  # int64 index into class_names

    def __len__(self) -> int:
        return len(self.paths)

    def subset(self, indices: np.ndarray) -> "LabelledFiles":
        return LabelledFiles([self.paths[i] for i in indices], self.labels[indices])


@dataclasses.dataclass
class ClassFolder:
    class_names: list[str]
    train: LabelledFiles
    test: LabelledFiles | None  # None: to be split off (no train/ test/ layout, no testing_list.txt)
    # The folder's own: a val/ (valid/, validation/, dev/) beside train/ and test/, or validation_list.txt
    validation: LabelledFiles | None = None
    validation_source: str | None = None  # where that split was read from, for the run's report
    test_source: str | None = None  # the list the test split was read from (a test/ folder is not named)
    notes: list[str] = dataclasses.field(default_factory=list)  # what the run should tell the user about the data


def _subfolders(root: Path, ignore: tuple[str, ...]) -> list[str]:
    """Names of ``root``'s visible subfolders, less ``ignore``."""
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in ignore)


def _scan_classes(root: Path, extensions: tuple[str, ...], class_names: list[str] | None,
                  ignore: tuple[str, ...] = ()) -> tuple[list[str], LabelledFiles]:
    if not root.is_dir():
        raise UserError(f"folder {root}: does not exist or is not a folder")
    found = _subfolders(root, ignore)
    names = class_names if class_names is not None else found
    paths: list[str] = []
    labels: list[int] = []
    for index, name in enumerate(names):
        folder = root / name
        if not folder.is_dir():
            continue
        # Hidden files and folders are tools' copies, not data: macOS's "._name.wav" resource forks
        # (not audio at all) and Jupyter's ".ipynb_checkpoints/name-checkpoint.txt" duplicates.
        files = sorted(
            str(p) for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in extensions
            and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        )
        paths.extend(files)
        labels.extend([index] * len(files))
    if class_names is None:
        unknown = sorted(set(found) - set(names))
        if unknown:  # pragma: no cover - names == found here
            raise UserError(f"folder {root}: unexpected class folders {unknown}")
    return names, LabelledFiles(paths, np.array(labels, dtype=np.int64))


# Names of split folders in common data set layouts (Keras' image_dataset_from_directory users,
# Kaggle, Hugging Face exports), none of them a plausible set of classes on its own.
SPLIT_FOLDER_NAMES = ("train", "training", "val", "valid", "validation", "dev", "test", "eval", "evaluation")
# Those of them that name a validation split; matched in any case, as above.
VALIDATION_FOLDER_NAMES = ("val", "valid", "validation", "dev")


def check_not_only_splits(root: Path, path: str, ignore: tuple[str, ...]) -> None:
    """A folder whose subfolders are all split names (``train/`` and ``val/``, no ``test/``) would
    otherwise train a model to tell the splits apart, with "train" and "val" as its classes."""
    subfolders = _subfolders(root, ignore)
    if len(subfolders) >= 2 and all(name.lower() in SPLIT_FOLDER_NAMES for name in subfolders):
        raise UserError(f"--data folder:{path}: its subfolders ({', '.join(subfolders)}) are split names, not classes; "
                        "give train/ and test/ (each one subfolder per class; a val/ beside them is the validation "
                        "split, else validation is taken from train/), or one subfolder per class")


def _validation_folder_name(root: Path, path: str) -> str | None:
    """The subfolder of ``root`` named as a validation split, if any; two would leave the run to
    pick one silently."""
    return _one_validation_folder([name for name in _subfolders(root, ()) if name.lower() in VALIDATION_FOLDER_NAMES],
                                  path)


def _one_validation_folder(found: list[str], path: str) -> str | None:
    if len(found) > 1:
        raise UserError(f"--data folder:{path}: more than one validation folder ({', '.join(f'{name}/' for name in found)}); "
                        "keep one")
    return found[0] if found else None


def _scan_split(root: Path, folder: Path, train_folder: Path, class_names: list[str], extensions: tuple[str, ...],
                ignore: tuple[str, ...], path: str, role: str) -> LabelledFiles:
    """A held-out split folder beside ``train/`` (``role`` "test": ``test/``; "validation":
    ``val/``), labelled with train/'s classes: a class the model never trained on could not be
    predicted."""
    split = folder.relative_to(root).as_posix()
    extra = sorted(set(_subfolders(folder, ignore)) - set(class_names))
    if extra:
        raise UserError(f"--data folder:{path}: {split}/ has classes not in {train_folder.relative_to(root).as_posix()}/: {', '.join(extra)}")
    _, files = _scan_classes(folder, extensions, class_names)
    if not files.paths:
        wanted = describe_extensions(extensions)
        if any(p.is_file() and p.suffix.lower() in extensions and not p.name.startswith(".") for p in folder.iterdir()):
            trained = train_folder.relative_to(root).as_posix()
            instead = (f"point --data at folder:{train_folder} to hold out a test split from it" if role == "test"
                       else f"move {split}/ out of the folder to take validation from {trained}/")
            raise UserError(f"--data folder:{path}: {split}/ holds {wanted} files outside class subfolders, so they "
                            f"have no labels; sort them into one subfolder per class as in {trained}/, or {instead}")
        raise UserError(f"--data folder:{path}: {split}/ holds no {wanted} files")
    return files


def describe_extensions(extensions: tuple[str, ...]) -> str:
    """``(".txt", "")`` -> ".txt or extensionless": the empty suffix takes files without one."""
    named = "/".join(e for e in extensions if e)
    return f"{named} or extensionless" if "" in extensions else named


# Archives often name their split folders after the data set: 20 Newsgroups' "20news-bydate-train"
# and "20news-bydate-test", Kaggle's "seg_train" and "seg_test" (beside an unlabelled "seg_pred").
_SPLIT_ROLES = {"train": "train", "training": "train", "test": "test", "testing": "test",
                "pred": "unlabelled", "predict": "unlabelled", "prediction": "unlabelled",
                "unlabeled": "unlabelled", "unlabelled": "unlabelled",
                "val": "validation", "valid": "validation", "validation": "validation", "dev": "validation"}


def _split_role(name: str) -> str | None:
    """What a folder named ``name`` holds, by its last word: "train", "test", "validation",
    "unlabelled", or None for anything else (a class)."""
    return _SPLIT_ROLES.get(re.split(r"[-_. ]+", name.lower())[-1])


def _unwrap(folder: Path) -> Path:
    """Kaggle's zips often nest a split in a folder of its own name (``seg_train/seg_train/``)."""
    inner = [p for p in folder.iterdir() if not p.name.startswith(".")]
    return inner[0] if len(inner) == 1 and inner[0].is_dir() and inner[0].name == folder.name else folder


def _train_and_test_folders(root: Path, ignore: tuple[str, ...],
                            path: str) -> tuple[Path, Path, Path | None, list[str]] | None:
    """The training, test and validation (None: none) split folders of ``root``, and its
    unlabelled folders; None when it is one subfolder per class. ``train/`` and ``test/`` by those
    names always split, with a ``val/`` beside them; otherwise the folders must all be named as
    splits (one training, one test, at most one validation, unlabelled ones beside them:
    ``fruits_train/``, ``fruits_val/``, ``fruits_test/``), and the training one must hold class
    folders, so that a class named "bullet_train" among others, or beside "crash_test", stays a
    class."""
    if (root / "train").is_dir() and (root / "test").is_dir():
        validation = _validation_folder_name(root, path)
        return root / "train", root / "test", root / validation if validation else None, []
    roles = {name: _split_role(name) for name in _subfolders(root, ignore)}
    by_role = {role: [name for name, has in roles.items() if has == role]
               for role in ("train", "test", "validation", "unlabelled")}
    if len(by_role["train"]) != 1 or len(by_role["test"]) != 1 or None in roles.values():
        return None
    train = _unwrap(root / by_role["train"][0])
    if not _subfolders(train, ignore):  # it holds the examples themselves: "crash_test/" beside it is a class too
        return None
    validation = _one_validation_folder(by_role["validation"], path)
    return (train, _unwrap(root / by_role["test"][0]), _unwrap(root / validation) if validation else None,
            by_role["unlabelled"])


def scan_class_folder(path: str, extensions: Iterable[str], ignore: Iterable[str] = ()) -> ClassFolder:
    """Read a one-subfolder-per-class tree; ``train/`` and ``test/`` subfolders are the splits,
    with a ``val/`` (``valid/``, ``validation/``, ``dev/``) beside them as the validation split.

    Subfolders named in ``ignore`` are not classes (e.g. ``_background_noise_`` for audio).

    Refuses (``UserError``) a missing folder, one with no matching files, and one with fewer than
    two classes, naming the folder.
    """
    extensions = tuple(e.lower() for e in extensions)
    ignore = tuple(ignore)
    root = Path(path)
    if not root.is_dir():
        raise UserError(f"--data folder:{path}: folder does not exist")
    wanted = describe_extensions(extensions)
    validation = validation_folder = None
    split_folders = _train_and_test_folders(root, ignore, path)
    unlabelled: list[str] = []
    if split_folders is not None:
        train_folder, test_folder, validation_folder, unlabelled = split_folders
        _check_split_folders_differ(root, path, train_folder, test_folder, validation_folder)
        names, train = _scan_classes(train_folder, extensions, None, ignore)
        test = _scan_split(root, test_folder, train_folder, names, extensions, ignore, path, "test")
        if validation_folder is not None:
            validation = _scan_split(root, validation_folder, train_folder, names, extensions, ignore, path, "validation")
    else:
        check_not_only_splits(root, path, ignore)
        train_folder, test_folder = root, None
        names, train = _scan_classes(root, extensions, None, ignore)
        test = None
    used = sorted(set(train.labels.tolist()))
    if not train.paths:
        raise UserError(f"--data folder:{path}: no {wanted} files in class subfolders")
    if len(used) < 2:
        only = names[used[0]] if used else "none"
        raise UserError(f"--data folder:{path}: found a single class ({only}); need at least two class subfolders")
    empty = [name for index, name in enumerate(names) if index not in used]
    if empty:  # the model would get a class it can never learn
        raise UserError(f"{train_folder / empty[0]}: class folder holds no {wanted} files; add some or remove the folder")
    notes = _untested_class_notes(train_folder, test_folder, names, train, test) if test is not None else []
    notes += [f"{root / name}: named as unlabelled examples, so it is not read" for name in unlabelled]
    return ClassFolder(names, train, test, validation, str(validation_folder) if validation_folder else None,
                       notes=notes)


def _check_split_folders_differ(root: Path, path: str, train: Path, test: Path, validation: Path | None) -> None:
    """A split folder that is another one (``ln -s test val``, for tools that insist on a val/):
    the model would be chosen by its test score, or scored on what it trained on."""
    folders = [folder for folder in (train, test, validation) if folder is not None]
    for n, folder in enumerate(folders):
        for other in folders[n + 1:]:
            if folder.resolve() == other.resolve():
                hint = (f"; remove {other.relative_to(root).as_posix()}/ to take validation from "
                        f"{train.relative_to(root).as_posix()}/" if other == validation else "")
                raise UserError(f"--data folder:{path}: {other.relative_to(root).as_posix()}/ and "
                                f"{folder.relative_to(root).as_posix()}/ are the same folder (one links to the "
                                f"other), so a split would be scored on another split's files{hint}")


def _untested_class_notes(train_folder: Path, test_folder: Path, names: list[str], train: LabelledFiles,
                          test: LabelledFiles) -> list[str]:
    """A train/ class with nothing in test/ is never scored, and is often no class at all:
    aclImdb's train/unsup/ holds 50,000 unlabelled reviews that would become a third class."""
    tested = set(test.labels.tolist())
    counts = np.bincount(train.labels, minlength=len(names))
    return [f"{train_folder / name}: {counts[index]:,} files and none in {test_folder.name}/, so this class is trained but never "
            "tested; if it is not a class (unlabelled examples, like aclImdb's unsup/), move it out of train/"
            for index, name in enumerate(names) if index not in tested]


# Speech Commands' own splits: its README puts each clip named in testing_list.txt or
# validation_list.txt (one path like ``right/bb05582b_nohash_3.wav`` a line) in that split and
# every other clip in training; published accuracies are on exactly these.
TEST_LIST = "testing_list.txt"
VALIDATION_LIST = "validation_list.txt"


def with_split_lists(scanned: ClassFolder, path: str, ignore: Iterable[str] = ()) -> ClassFolder:
    """``scanned`` (a class-per-folder ``path``) with the clips ``testing_list.txt`` and
    ``validation_list.txt`` name as its test and validation splits and the rest as training;
    unchanged without the lists. A bad entry is a one-line ``UserError`` naming its line."""
    root = Path(path)
    lists = {name: root / name for name in (TEST_LIST, VALIDATION_LIST) if (root / name).is_file()}
    if not lists:
        return scanned
    if scanned.test is not None:
        raise UserError(f"--data folder:{path}: has train/ and test/ folders and {' and '.join(lists)}; "
                        "keep one way of splitting")
    relative = [Path(p).relative_to(root).as_posix() for p in scanned.train.paths]
    index = {name: i for i, name in enumerate(relative)}
    listed = {name: _read_split_list(list_path, root, index, tuple(ignore)) for name, list_path in lists.items()}
    _check_lists_disjoint(listed, lists, relative)
    held = set().union(*listed.values())
    train = scanned.train.subset(np.array([i for i in range(len(relative)) if i not in held], dtype=np.int64))
    _check_every_class_trains(train, scanned.class_names, path, lists)

    def split(name: str) -> LabelledFiles | None:
        return scanned.train.subset(np.array(sorted(listed[name]), dtype=np.int64)) if name in listed else None

    sources = {name: str(list_path) for name, list_path in lists.items()}
    return dataclasses.replace(scanned, train=train, test=split(TEST_LIST), validation=split(VALIDATION_LIST),
                               test_source=sources.get(TEST_LIST), validation_source=sources.get(VALIDATION_LIST))


def _read_split_list(list_path: Path, root: Path, index: dict[str, int], ignore: tuple[str, ...]) -> dict[int, int]:
    """The clips ``list_path`` names, as {index into ``index``'s files: line number}; blank lines
    are skipped, a repeated entry counts once."""
    try:
        lines = list_path.read_text(encoding="utf-8-sig").splitlines()  # a Windows editor's byte order mark too
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"{list_path}: cannot be read as UTF-8 text ({getattr(error, 'strerror', None) or error})") from None
    listed: dict[int, int] = {}
    for number, line in enumerate(lines, 1):
        entry = line.strip()  # also a Windows line end's \r
        if entry:
            listed.setdefault(_listed_clip(entry, root, index, ignore, f"{list_path} line {number}"), number)
    if not listed:
        raise UserError(f"{list_path}: names no clips; list one relative path a line (e.g. yes/0a7c2a8d_nohash_0.wav) "
                        "or remove the file")
    return listed


def _listed_clip(entry: str, root: Path, index: dict[str, int], ignore: tuple[str, ...], where: str) -> int:
    """The index of the clip a list ``entry`` names (a path relative to ``root``, forward slashes)."""
    relative = PurePosixPath(entry)
    key = relative.as_posix()  # "./yes/a.wav" and "yes//a.wav" are "yes/a.wav"
    if key in index:
        return index[key]
    top = relative.parts[0] if relative.parts else ""  # an entry "." has no parts
    if top in ignore:
        raise UserError(f"{where}: {entry}: {top}/ holds background noise, not clips of a class; "
                        "a split can only list clips in class folders")
    outside = relative.is_absolute() or ".." in relative.parts
    if not outside and not (root / key).exists():
        raise UserError(f"{where}: {entry}: no such file in {root}")
    raise UserError(f"{where}: {entry}: not a .wav clip in a class folder of {root}")


def _check_lists_disjoint(listed: dict[str, dict[int, int]], lists: dict[str, Path], relative: list[str]) -> None:
    """The data set's lists are disjoint; a clip in both would leave its split a guess and let
    the validation and test scores share clips."""
    if len(listed) < 2:
        return
    shared = sorted(set(listed[TEST_LIST]) & set(listed[VALIDATION_LIST]))
    if shared:
        clip = shared[0]
        raise UserError(f"{lists[VALIDATION_LIST]} line {listed[VALIDATION_LIST][clip]}: {relative[clip]}: also in "
                        f"{lists[TEST_LIST]} (line {listed[TEST_LIST][clip]}); a clip belongs to one split")


def _check_every_class_trains(train: LabelledFiles, class_names: list[str], path: str, lists: dict[str, Path]) -> None:
    """A class whose every clip is listed could never be learned."""
    trained = set(train.labels.tolist())
    untrained = [name for index, name in enumerate(class_names) if index not in trained]
    if untrained:
        raise UserError(f"--data folder:{path}: every clip of {untrained[0]}/ is in {' or '.join(lists)}; "
                        "none is left to train on")


def split_files(files: LabelledFiles, test_fraction: float, seed: int,
                by_speaker: bool = False) -> tuple[LabelledFiles, LabelledFiles]:
    """Split by a hash of each file's name, so the split survives adding files; ``by_speaker``
    hashes a Speech Commands name's speaker instead (``split_group``), keeping the speaker's
    clips in one split."""
    key = split_group if by_speaker else (lambda path: Path(path).name)
    is_test = np.array([stable_fraction(key(p), seed) < test_fraction for p in files.paths], dtype=bool)
    pick = lambda mask: LabelledFiles([p for p, m in zip(files.paths, mask) if m], files.labels[mask])  # noqa: E731
    return pick(~is_test), pick(is_test)


def train_test_files(scanned: ClassFolder, path: str, test_fraction: float, seed: int,
                     by_speaker: bool = False) -> tuple[LabelledFiles, LabelledFiles]:
    """The folder's own ``test/`` split, else a seeded split of its files (``split_files``); a
    split that leaves no test file is a one-line ``--data`` error."""
    if scanned.test is not None:
        return scanned.train, scanned.test
    train, test = split_files(scanned.train, test_fraction, seed, by_speaker)
    held_whole = "speakers" if by_speaker and speaker_groups(scanned.train.paths) else "files"
    if not test.paths:
        raise UserError(f"--data folder:{path}: too few {held_whole} to hold out a test split; "
                        "add files or a test/ folder")
    if not train.paths:  # a few speakers, every one drawn for the test split
        raise UserError(f"--data folder:{path}: too few {held_whole} to hold out a test split and keep any for "
                        "training; add files or a test/ folder, or lower data.test_fraction")
    return train, test


def folder_splits(scanned: ClassFolder, path: str, test_fraction: float, seed: int,
                  by_speaker: bool = False) -> dict[str, LabelledFiles]:
    """The folder's "train" and "test" files (``train_test_files``), and "validation" when it
    has a validation folder of its own."""
    train, test = train_test_files(scanned, path, test_fraction, seed, by_speaker)
    splits = {"train": train, "test": test}
    if scanned.validation is not None:
        splits["validation"] = scanned.validation
    return splits


def tfds_builder(name: str):
    """``tfds.builder(name)``, with an unknown or broken data set as a one-line ``--data`` error."""
    import tensorflow_datasets as tfds

    try:
        return tfds.builder(name)
    except Exception as error:  # DatasetNotFoundError and friends
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise UserError(f"--data tfds:{name}: {first_line}") from None
