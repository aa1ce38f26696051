"""Image data sets that ship as arrays, not image files, read from ``folder:PATH`` as downloaded:
MNIST-format IDX files (MNIST, Fashion-MNIST, KMNIST, EMNIST; gzipped or unpacked) and CIFAR-10
and CIFAR-100 (the binary and the python version). Numpy and the standard library only.

Images stay uint8 [N, H, W, C] (CIFAR-10: 60,000 x 3,072 bytes, 184 MB; four times that as float32); each data
set keeps its own test split. A truncated or inconsistent file is a one-line ``UserError``
naming it.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import pickle
import re
import zlib
from pathlib import Path
from typing import Callable

import numpy as np

from kerasuite.errors import UserError


@dataclasses.dataclass
class ArraySplit:
    images: np.ndarray  # uint8 [N, H, W, C]
    labels: np.ndarray  # int64 [N], index into the set's class names

    def __len__(self) -> int:
        return len(self.labels)


@dataclasses.dataclass
class ArraySet:
    train: ArraySplit
    test: ArraySplit | None  # None: the set has no test split of its own; one is held out from train
    class_names: list[str]
    notes: list[str]  # what was read, for the run's progress lines
    validation: ArraySplit | None = None  # the set's own (FER2013's PublicTest rows); None: carved from train
    validation_source: str | None = None  # where that split was read from, for the run's report


def read_array_set(path: str, cifar100_labels: str = "fine") -> ArraySet | None:
    """The array data set in folder ``path``, or in the one CIFAR archive folder inside it (where
    ``tar xzf`` put it); None when ``path`` holds none, so it is read as an image folder."""
    root = Path(path)
    if not root.is_dir():
        return None  # the folder scan names it
    reader = _recognise(root)
    if reader is None:
        inner = [name for name in CIFAR_FOLDERS if (root / name).is_dir()]
        if len(inner) > 1:
            raise UserError(f"--data folder:{path}: holds {' and '.join(f'{name}/' for name in inner)}; "
                            "point --data at one of them")
        if not inner:
            return None
        root = root / inner[0]
        reader = _recognise(root)
        if reader is None:
            raise UserError(f"--data folder:{path}: {inner[0]}/ holds none of the files "
                            f"{CIFAR_FOLDERS[inner[0]]} is downloaded with")
    return reader(root, cifar100_labels)


def _recognise(root: Path) -> Callable[[Path, str], ArraySet] | None:
    """The reader of the array layout ``root``'s file names show, None for none; names of two
    layouts at once are refused, as either choice would ignore the other's files."""
    names = _visible_files(root)
    found = [(kind, reader) for kind, (shows, reader) in _LAYOUTS.items() if shows(names)]
    if len(found) > 1:
        raise UserError(f"{root}: holds files of {' and '.join(kind for kind, _ in found)}; "
                        "keep one data set in the folder")
    return found[0][1] if found else None


def _visible_files(root: Path) -> set[str]:
    """Names of ``root``'s files; hidden ones are tools' copies (macOS's ``._name`` resource
    forks beside a download), not data."""
    return {entry.name for entry in root.iterdir() if entry.is_file() and not entry.name.startswith(".")}


def _with_numbers(names: list[str], labels: np.ndarray) -> list[str]:
    return names or [str(label) for label in range(int(labels.max(initial=0)) + 1)]


def _describe(kind: str, where: Path, train: ArraySplit, test: ArraySplit, test_name: str) -> str:
    return f"{where}: read as {kind}: {len(train):,} training and {len(test):,} test ({test_name}) images"


# ----------------------------------------------------------------------------------- IDX


# train-images-idx3-ubyte.gz as downloaded; train-images.idx3-ubyte as some unpackers write it;
# emnist-letters-train-images-idx3-ubyte, EMNIST's names, which say "test" for t10k.
_IDX_NAME = re.compile(r"^(?:(?P<prefix>.+)-)?(?P<split>train|t10k|test)-(?P<kind>images[-.]idx3|labels[-.]idx1)"
                       r"-ubyte(?P<gz>\.gz)?$", re.IGNORECASE)
_IDX_ROLES = {("train", "images"): "training images", ("train", "labels"): "training labels",
              ("test", "images"): "test images", ("test", "labels"): "test labels"}
# md5 of the train and t10k labels .gz files as their publishers list them (Zalando's README,
# ROIS-CODH's download page, the checksums torchvision verifies): the only thing that tells
# these sets from MNIST, whose four files have the very same names, shapes and labels 0-9.
_KNOWN_IDX_SETS = {
    ("25c81989df183df01b3e8a0aad5dffbe", "bb300cfdad3c16e7a12a480ee83cd310"):
        ("Fashion-MNIST", ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                           "Bag", "Ankle boot"]),
    ("e144d726b3acfaa3e44228e80efcd344", "7320c461ea6c1c855c0b718fb2a4b134"):
        ("Kuzushiji-MNIST", ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]),
    ("d53e105ee54ea40749a09fcbcd1e9432", "ec29112dd5afa0611ce80d1b7f02629c"):
        ("MNIST", [str(digit) for digit in range(10)]),
}


def _idx_files(names: set[str]) -> dict[str, dict[str, list[str]]]:
    """{prefix ("" for MNIST's names): {role: file names}} of the IDX files among ``names``."""
    sets: dict[str, dict[str, list[str]]] = {}
    for name in sorted(names):
        match = _IDX_NAME.match(name)
        if match:
            split = "test" if match["split"].lower() == "t10k" else match["split"].lower()
            role = _IDX_ROLES[split, match["kind"][:6].lower()]
            sets.setdefault(match["prefix"] or "", {}).setdefault(role, []).append(name)
    return sets


def _read_idx_set(root: Path, _: str) -> ArraySet:
    prefix, files = _idx_set_files(root)
    train = _idx_split(files["training images"], files["training labels"])
    test = _idx_split(files["test images"], files["test labels"])
    emnist = prefix.lower().startswith("emnist-")
    if emnist:  # EMNIST stores each image transposed (column by column); turn it upright
        train.images, test.images = train.images.transpose(0, 2, 1, 3), test.images.transpose(0, 2, 1, 3)
    # the labels the training split has, so emnist-letters' 1-26 are 26 classes, not 27 with an
    # unlearnable 0
    classes = np.unique(train.labels)
    unknown = np.flatnonzero(~np.isin(test.labels, classes))
    if len(unknown):
        raise UserError(f"{files['test labels']}: image {unknown[0]:,} has label {test.labels[unknown[0]]}, "
                        f"which no training image in {files['training labels'].name} has")
    kind, names = _idx_names(root, prefix, files, classes)
    numbered = names is None
    names = names or [str(int(label)) for label in classes]
    train.labels, test.labels = np.searchsorted(classes, train.labels), np.searchsorted(classes, test.labels)
    test_name = _IDX_NAME.match(files["test images"].name)["split"]
    notes = [_describe(kind + (", turned upright (EMNIST stores each image transposed)" if emnist else ""),
                       root, train, test, test_name)]
    if numbered:
        notes.append(f"{root}: classes are named by their label numbers, as IDX files do not name them"
                     + ("" if prefix else "; Fashion-MNIST's and KMNIST's are told from MNIST's only by their "
                        "published .gz files' checksums"))
    return ArraySet(train, test, names, notes)


def _idx_set_files(root: Path) -> tuple[str, dict[str, Path]]:
    """The IDX set's name prefix ("" for MNIST's names) and its file of each role."""
    sets = _idx_files(_visible_files(root))
    if len(sets) > 1:  # EMNIST's gzip folder: six sets side by side
        raise UserError(f"{root}: holds several IDX data sets ({', '.join(p or 'unprefixed' for p in sets)}); "
                        "move one set's four files (and its mapping.txt) into a folder of their own")
    prefix, roles = next(iter(sets.items()))
    return prefix, {role: _one_idx_file(root, roles, role) for role in _IDX_ROLES.values()}


def _one_idx_file(root: Path, roles: dict[str, list[str]], role: str) -> Path:
    """The file holding ``role``: torchvision keeps the .gz beside what it unpacked, which is
    the same data, so the unpacked one is read."""
    names = roles.get(role, [])
    if not names:
        example = next(iter(n for found in roles.values() for n in found))
        raise UserError(f"{root}: has {example} but no {role} file; an IDX data set needs its "
                        "training and test (t10k) images and labels")
    unpacked = sorted({name[:-3] if name.lower().endswith(".gz") else name for name in names})
    if len(unpacked) > 1:
        raise UserError(f"{root}: two files of {role}, {unpacked[0]} and {unpacked[1]}; keep one")
    return root / (unpacked[0] if unpacked[0] in names else names[0])


def _idx_split(images_path: Path, labels_path: Path) -> ArraySplit:
    images = _read_idx(images_path, dims=3)
    labels = _read_idx(labels_path, dims=1)
    if len(images) != len(labels):
        raise UserError(f"{labels_path}: {len(labels):,} labels for the {len(images):,} images in {images_path.name}")
    if 0 in images.shape:
        raise UserError(f"{images_path}: holds no images (its header says {' x '.join(map(str, images.shape))})")
    return ArraySplit(images[..., None], labels.astype(np.int64))


def _read_idx(path: Path, dims: int) -> np.ndarray:
    """An IDX file of unsigned bytes with ``dims`` dimensions: a big-endian magic 0x0000080N,
    N sizes as big-endian uint32, then exactly that many bytes."""
    kind = "image" if dims == 3 else "label"
    try:
        with (gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")) as stream:
            header = stream.read(4 + 4 * dims)
            if len(header) < 4 or header[:3] != b"\x00\x00\x08" or header[3] != dims:
                raise UserError(f"{path}: not an IDX {kind} file (starts {header[:4].hex() or 'empty'}, "
                                f"expected 0000080{dims})")
            if len(header) < 4 + 4 * dims:
                raise UserError(f"{path}: truncated inside its header")
            shape = tuple(int.from_bytes(header[4 + 4 * i:8 + 4 * i], "big") for i in range(dims))
            size = int(np.prod(shape, dtype=np.int64))
            data = _read_exactly(stream, size, path, shape)
    except (OSError, EOFError, zlib.error) as error:  # not gzip, cut short inside the gzip stream, unreadable
        raise UserError(f"{path}: cannot be read ({getattr(error, 'strerror', None) or error})") from None
    return np.frombuffer(data, np.uint8).reshape(shape)


def _read_exactly(stream, size: int, path: Path, shape: tuple[int, ...]) -> bytearray:
    """``size`` bytes in pieces, so a header that claims far more than the file holds fails on
    the missing bytes instead of allocating the claim (or a gzip bomb its expansion)."""
    data = bytearray()
    while len(data) < size:
        piece = stream.read(min(size - len(data), 1 << 24))
        if not piece:
            raise UserError(f"{path}: truncated: its header says {' x '.join(map(str, shape))} "
                            f"({size:,} bytes), the file holds {len(data):,}")
        data += piece
    if stream.read(1):
        raise UserError(f"{path}: longer than its header says ({' x '.join(map(str, shape))}, {size:,} bytes)")
    return data


def _idx_names(root: Path, prefix: str, files: dict[str, Path], classes: np.ndarray) -> tuple[str, list[str] | None]:
    """(what the set was read as, each class's name): an EMNIST set's mapping.txt, a published
    set's own names when its label files are the ones published, else None (label numbers)."""
    mapping = root / f"{prefix}-mapping.txt"
    if prefix and mapping.is_file():
        by_label = _emnist_mapping(mapping)
        missing = [int(label) for label in classes if int(label) not in by_label]
        if missing:
            raise UserError(f"{mapping}: names no class {missing[0]} (a label in {files['training labels'].name})")
        return f"{prefix} IDX files, classes named by {mapping.name}", [by_label[int(label)] for label in classes]
    published = [path if path.name.lower().endswith(".gz") else path.with_name(path.name + ".gz")
                 for path in (files["training labels"], files["test labels"])]
    if all(path.is_file() for path in published):  # torchvision's raw/ keeps them beside what it unpacked
        known = _KNOWN_IDX_SETS.get(tuple(hashlib.md5(path.read_bytes()).hexdigest() for path in published))
        if known is not None:
            name, names = known
            return f"{name} (its published label files)", [names[int(label)] for label in classes]
    return f"{prefix + ' ' if prefix else ''}IDX files", None


def _emnist_mapping(path: Path) -> dict[int, str]:
    """EMNIST's ``<set>-mapping.txt``: a line per class, its label then the character code(s)
    it stands for ("1 65 97": label 1 is A and a in emnist-letters)."""
    by_label: dict[int, str] = {}
    for number, line in enumerate(path.read_text(encoding="ascii", errors="replace").splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        try:
            label, *codes = (int(field) for field in fields)
            by_label[label] = "".join(chr(code) for code in codes)
        except (ValueError, OverflowError):
            raise UserError(f"{path} line {number}: expected a label and character codes, got {line.strip()!r}") from None
        if not codes:
            raise UserError(f"{path} line {number}: label {label} has no character code")
    return by_label


# ---------------------------------------------------------------------------------- CIFAR


CIFAR_FOLDERS = {"cifar-10-batches-bin": "CIFAR-10's binary version", "cifar-10-batches-py": "CIFAR-10's python version",
                 "cifar-100-binary": "CIFAR-100's binary version", "cifar-100-python": "CIFAR-100's python version"}
CIFAR_PIXELS = 32 * 32 * 3
CIFAR10_BATCHES = 5


def _planar_rows_to_images(rows: np.ndarray, into: np.ndarray) -> None:
    """CIFAR's rows (1,024 red, then green, then blue bytes, each 32 rows of 32) -> [32, 32, 3]."""
    into[...] = rows.reshape(len(rows), 3, 32, 32).transpose(0, 2, 3, 1)


def _names_file(path: Path) -> list[str]:
    """A CIFAR names file: a class a line; the real ones end in blank lines."""
    if not path.is_file():
        return []
    return [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]


def _check_labels(labels: np.ndarray, names: list[str], path: Path, names_file: str) -> None:
    if names and len(labels) and labels.max() >= len(names):
        bad = int(np.argmax(labels >= len(names)))
        raise UserError(f"{path}: image {bad:,} has label {labels[bad]}, but {names_file} names {len(names)} classes")


def _cifar_set(kind: str, root: Path, train: ArraySplit, test: ArraySplit, names: list[str], names_file: str,
               test_name: str) -> ArraySet:
    notes = [_describe(kind, root, train, test, test_name)]
    if not names:
        notes.append(f"{root}: no {names_file}, so classes are named by their label numbers")
    return ArraySet(train, test, _with_numbers(names, np.concatenate([train.labels, test.labels])), notes)


def _required(root: Path, names: list[str], kind: str) -> list[Path]:
    missing = [name for name in names if not (root / name).is_file()]
    if missing:
        raise UserError(f"{root}: {kind} without {missing[0]}; it is downloaded with "
                        + ", ".join(names))
    return [root / name for name in names]


def _binary_records(paths: list[Path], record: int, label_byte: int, names: list[str],
                    names_file: str) -> ArraySplit:
    """Fixed-size records (label bytes, then 3,072 pixel bytes) from ``paths``, into one
    preallocated array: one copy of the pixels, not one per file and another to join them."""
    counts = []
    for path in paths:
        size = path.stat().st_size
        if size == 0 or size % record:
            raise UserError(f"{path}: {size:,} bytes is not a whole number of {record:,}-byte CIFAR records "
                            "(truncated, or not this version's file)")
        counts.append(size // record)
    images = np.empty((sum(counts), 32, 32, 3), np.uint8)
    labels = np.empty(sum(counts), np.int64)
    at = 0
    for path, count in zip(paths, counts):
        rows = np.fromfile(path, np.uint8).reshape(count, record)
        labels[at:at + count] = rows[:, label_byte]
        _check_labels(labels[at:at + count], names, path, names_file)
        _planar_rows_to_images(rows[:, record - CIFAR_PIXELS:], images[at:at + count])
        at += count
    return ArraySplit(images, labels)


def _read_cifar10_binary(root: Path, _: str) -> ArraySet:
    batches = _required(root, [f"data_batch_{n}.bin" for n in range(1, CIFAR10_BATCHES + 1)] + ["test_batch.bin"],
                        "CIFAR-10 binary batches")
    names = _names_file(root / "batches.meta.txt")
    train = _binary_records(batches[:-1], 1 + CIFAR_PIXELS, 0, names, "batches.meta.txt")
    test = _binary_records(batches[-1:], 1 + CIFAR_PIXELS, 0, names, "batches.meta.txt")
    return _cifar_set("CIFAR-10 binary batches", root, train, test, names, "batches.meta.txt", "test_batch.bin")


def _read_cifar100_binary(root: Path, labels: str) -> ArraySet:
    train_path, test_path = _required(root, ["train.bin", "test.bin"], "CIFAR-100 binary files")
    names_file = f"{labels}_label_names.txt"
    names = _names_file(root / names_file)
    label_byte = 0 if labels == "coarse" else 1  # each record: coarse label, fine label, pixels
    train = _binary_records([train_path], 2 + CIFAR_PIXELS, label_byte, names, names_file)
    test = _binary_records([test_path], 2 + CIFAR_PIXELS, label_byte, names, names_file)
    return _cifar_set(f"CIFAR-100 binary files ({labels} labels)", root, train, test, names, names_file, "test.bin")


class _CifarUnpickler(pickle.Unpickler):
    """Unpickling runs whatever callable a pickle names, so only what CIFAR's files name is
    found: numpy's array reconstruction (the files were written by Python 2 numpy, hence
    numpy.core; numpy 2 writes numpy._core). Anything else is refused before it is called."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"): np.zeros(0).__reduce__()[0],
                ("numpy._core.multiarray", "_reconstruct"): np.zeros(0).__reduce__()[0],
                ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}

    def find_class(self, module: str, name: str):
        found = self._ALLOWED.get((module, name))
        if found is None:
            raise _Forbidden(f"{module}.{name}")
        return found


class _Forbidden(Exception):
    pass


def _unpickle(path: Path) -> dict:
    """A CIFAR python file's dict, with Python 2's byte-string keys as text."""
    try:
        with open(path, "rb") as stream:
            # bytes: Python 2 str values (the pixels among them) stay bytes instead of being decoded as text
            value = _CifarUnpickler(stream, encoding="bytes").load()
    except _Forbidden as error:
        raise UserError(f"{path}: not loaded: it calls {error}, which no CIFAR file does (unpickling it could "
                        "run code)") from None
    except Exception as error:  # truncated (EOFError), not a pickle (UnpicklingError), ...
        raise UserError(f"{path}: not a readable CIFAR python file ({type(error).__name__}: {error})") from None
    if not isinstance(value, dict):
        raise UserError(f"{path}: not a CIFAR python file (it holds a {type(value).__name__}, not a dict)")
    return {key.decode("latin-1") if isinstance(key, bytes) else key: item for key, item in value.items()}


def _python_names(path: Path, key: str) -> list[str]:
    if not path.is_file():
        return []
    names = _unpickle(path).get(key)
    if not isinstance(names, list):
        raise UserError(f"{path}: has no list {key!r}")
    return [name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name) for name in names]


def _python_batches(paths: list[Path], label_key: str, names: list[str], names_file: str) -> ArraySplit:
    batches = []
    for path in paths:
        batch = _unpickle(path)
        data, labels = batch.get("data"), batch.get(label_key)
        if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
                and data.shape[1] == CIFAR_PIXELS):
            raise UserError(f"{path}: its 'data' is not uint8 rows of {CIFAR_PIXELS:,} pixels, as CIFAR's are")
        try:
            labels = np.asarray(labels, dtype=np.int64)
        except (TypeError, ValueError, OverflowError):
            labels = None
        if labels is None or labels.ndim != 1:
            raise UserError(f"{path}: has no list of integer {label_key!r}")
        if len(labels) != len(data):
            raise UserError(f"{path}: {len(labels):,} {label_key} for {len(data):,} images")
        if not len(data):
            raise UserError(f"{path}: holds no images")
        if labels.min() < 0 or labels.max() > 255:  # CIFAR's labels are bytes, as in the binary version
            bad = int(np.argmax((labels < 0) | (labels > 255)))
            raise UserError(f"{path}: image {bad:,} has label {labels[bad]}, not a CIFAR label (0-255)")
        _check_labels(labels, names, path, names_file)
        batches.append((data, labels))
    images = np.empty((sum(len(labels) for _, labels in batches), 32, 32, 3), np.uint8)
    at = 0
    for data, labels in batches:
        _planar_rows_to_images(data, images[at:at + len(labels)])
        at += len(labels)
    return ArraySplit(images, np.concatenate([labels for _, labels in batches]))


def _read_cifar10_python(root: Path, _: str) -> ArraySet:
    batches = _required(root, [f"data_batch_{n}" for n in range(1, CIFAR10_BATCHES + 1)] + ["test_batch"],
                        "CIFAR-10 python batches")
    names = _python_names(root / "batches.meta", "label_names")
    train = _python_batches(batches[:-1], "labels", names, "batches.meta")
    test = _python_batches(batches[-1:], "labels", names, "batches.meta")
    return _cifar_set("CIFAR-10 python batches", root, train, test, names, "batches.meta", "test_batch")


def _read_cifar100_python(root: Path, labels: str) -> ArraySet:
    train_path, test_path = _required(root, ["train", "test"], "CIFAR-100 python files")
    names = _python_names(root / "meta", f"{labels}_label_names")
    train = _python_batches([train_path], f"{labels}_labels", names, "meta")
    test = _python_batches([test_path], f"{labels}_labels", names, "meta")
    return _cifar_set(f"CIFAR-100 python files ({labels} labels)", root, train, test, names, "meta", "test")


_CIFAR10_BINARY = re.compile(r"^(data_batch_\d+\.bin|test_batch\.bin|batches\.meta\.txt)$")
_CIFAR10_PYTHON = re.compile(r"^(data_batch_\d+|test_batch|batches\.meta)$")

# layout -> (whether a folder's file names show it, its reader(root, cifar100_labels)); a layout
# shows by any of its own files, so a missing one is named rather than the folder read as images
_LAYOUTS: dict[str, tuple[Callable[[set[str]], bool], Callable[[Path, str], ArraySet]]] = {
    "MNIST-format IDX files": (lambda names: any(_IDX_NAME.match(name) for name in names), _read_idx_set),
    "CIFAR-10's binary version": (lambda names: any(_CIFAR10_BINARY.match(name) for name in names),
                                  _read_cifar10_binary),
    "CIFAR-10's python version": (lambda names: any(_CIFAR10_PYTHON.match(name) for name in names),
                                  _read_cifar10_python),
    # train.bin alone could be anything's; CIFAR-100's names files or both splits say it is CIFAR-100's
    "CIFAR-100's binary version": (lambda names: {"train.bin", "test.bin"} <= names
                                   or bool({"fine_label_names.txt", "coarse_label_names.txt"} & names),
                                   _read_cifar100_binary),
    "CIFAR-100's python version": (lambda names: "meta" in names and bool({"train", "test"} & names),
                                   _read_cifar100_python),
}
