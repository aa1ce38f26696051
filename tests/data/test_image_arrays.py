"""Image data sets as downloaded, not as image files: MNIST-format IDX files (gzipped and unpacked,
EMNIST's names) and CIFAR-10/100 (binary and python versions) read by ``--data folder:PATH``
with their own test split. Every fixture is a tiny file in the data set's exact format, written
here; images are read back through the task's own loader and checked pixel for pixel."""

import gzip
import json
import struct

import numpy as np
import pytest

from helpers import assert_one_line_error, run_main, split_arrays
from kerasuite.errors import UserError

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


# ------------------------------------------------------------------------------ writers


def write_idx(path, array: np.ndarray) -> None:
    """IDX as MNIST ships it: 0x00 0x00, type 0x08 (unsigned byte), the dimension count, each
    size as a big-endian uint32, then the bytes; gzipped when the name ends in .gz."""
    array = np.asarray(array, np.uint8)
    raw = b"\x00\x00\x08" + bytes([array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    path.write_bytes(gzip.compress(raw) if path.name.endswith(".gz") else raw)


def mnist_like(seed: int, count: int, rows: int = 7, cols: int = 5, classes: int = 10):
    """Images (rows != cols, so a transpose shows) and labels covering every class."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (count, rows, cols), dtype=np.uint8)
    labels = (np.arange(count) % classes).astype(np.uint8)
    return images, labels


def write_mnist(folder, suffix=".gz", train_count=20, test_count=10, prefix="", test_word="t10k", rows=7, cols=5,
                labels=None):
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for split, word, count, seed in (("train", "train", train_count, 1), ("test", test_word, test_count, 2)):
        images, split_labels = mnist_like(seed, count, rows, cols)
        if labels is not None:
            split_labels = labels(split_labels)
        write_idx(folder / f"{prefix}{word}-images-idx3-ubyte{suffix}", images)
        write_idx(folder / f"{prefix}{word}-labels-idx1-ubyte{suffix}", split_labels)
        written[split] = (images, split_labels)
    return written


def cifar_images(seed: int, count: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)


def planar(image: np.ndarray) -> bytes:
    """CIFAR's pixel bytes: the 1,024 red values row by row, then green, then blue."""
    return image[:, :, 0].tobytes() + image[:, :, 1].tobytes() + image[:, :, 2].tobytes()


def write_cifar10_binary(folder, per_batch=4, test_count=4):
    """cifar-10-batches-bin/: five data batches and a test batch of <label><3,072 pixels>
    records, and batches.meta.txt (the real one ends in blank lines)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {"train": ([], []), "test": ([], [])}
    for n, name in enumerate([f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]):
        count = test_count if name == "test_batch.bin" else per_batch
        images = cifar_images(10 + n, count)
        labels = [(n * 3 + i) % 10 for i in range(count)]
        (folder / name).write_bytes(b"".join(bytes([label]) + planar(image) for label, image in zip(labels, images)))
        split = written["test" if name == "test_batch.bin" else "train"]
        split[0].extend(images)
        split[1].extend(labels)
    (folder / "batches.meta.txt").write_text("\n".join(CIFAR10_NAMES) + "\n\n\n")
    return {split: (np.stack(images), np.array(labels)) for split, (images, labels) in written.items()}


def write_cifar100_binary(folder, train_count=12, test_count=6):
    """cifar-100-binary/: train.bin and test.bin of <coarse label><fine label><3,072 pixels>."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, count, seed in (("train", train_count, 30), ("test", test_count, 31)):
        images = cifar_images(seed, count)
        fine, coarse = np.arange(count) % 100, np.arange(count) % 20
        (folder / f"{name}.bin").write_bytes(b"".join(bytes([c, f]) + planar(image)
                                                       for c, f, image in zip(coarse, fine, images)))
        written[name] = (images, fine, coarse)
    (folder / "fine_label_names.txt").write_text("\n".join(f"fine_{i}" for i in range(100)) + "\n")
    (folder / "coarse_label_names.txt").write_text("\n".join(f"coarse_{i}" for i in range(20)) + "\n")
    return written


# A pickle as Python 2's cPickle wrote CIFAR's python version (protocol 2): text is str (here
# SHORT_BINSTRING/BINSTRING), and a numpy array is numpy.core.multiarray._reconstruct(ndarray,
# (0,), 'b') then BUILD with (1, shape, dtype('u1'), False, raw bytes). Python 3's pickle never
# writes these opcodes, so the fixture is assembled by hand.
def _py2_str(data: bytes) -> bytes:
    return (b"U" + bytes([len(data)]) if len(data) < 256 else b"T" + struct.pack("<I", len(data))) + data


def _py2_int(value: int) -> bytes:
    return b"K" + bytes([value]) if 0 <= value < 256 else b"J" + struct.pack("<i", value)


def _py2_value(value) -> bytes:
    if isinstance(value, bytes):
        return _py2_str(value)
    if isinstance(value, int):
        return _py2_int(value)
    if isinstance(value, list):
        return b"](" + b"".join(_py2_value(item) for item in value) + b"e"
    if isinstance(value, np.ndarray):
        assert value.dtype == np.uint8 and value.ndim == 2
        dtype = b"cnumpy\ndtype\n" + _py2_str(b"u1") + b"K\x00K\x01\x87R" + (
            b"(K\x03" + _py2_str(b"|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb")
        shape = b"(" + b"".join(b"M" + struct.pack("<H", size) for size in value.shape) + b"t"
        return (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + _py2_str(b"b") + b"\x87R"
                + b"(K\x01" + shape + dtype + b"\x89" + _py2_str(value.tobytes()) + b"tb")
    raise TypeError(type(value))


def py2_pickle(mapping: dict) -> bytes:
    items = b"".join(_py2_str(key) + _py2_value(value) for key, value in mapping.items())
    return b"\x80\x02}(" + items + b"u."


def write_cifar10_python(folder, per_batch=4, test_count=4):
    """cifar-10-batches-py/: data_batch_1..5, test_batch and batches.meta, Python 2 pickles."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {"train": ([], []), "test": ([], [])}
    for n, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        count = test_count if name == "test_batch" else per_batch
        images = cifar_images(40 + n, count)
        labels = [(n * 7 + i) % 10 for i in range(count)]
        rows = np.stack([np.frombuffer(planar(image), np.uint8) for image in images])
        (folder / name).write_bytes(py2_pickle({b"batch_label": b"training batch 1 of 5", b"labels": labels,
                                                b"data": rows, b"filenames": [b"x.png"] * count}))
        split = written["test" if name == "test_batch" else "train"]
        split[0].extend(images)
        split[1].extend(labels)
    (folder / "batches.meta").write_bytes(py2_pickle({b"num_cases_per_batch": per_batch,
                                                      b"label_names": [n.encode() for n in CIFAR10_NAMES],
                                                      b"num_vis": 3072}))
    return {split: (np.stack(images), np.array(labels)) for split, (images, labels) in written.items()}


# --------------------------------------------------------------------------------- reading


def load(folder, **sets):
    """The task's own loader on ``folder:``, every split as numpy (images, labels)."""
    from kerasuite import config as cfg
    from kerasuite.data import images

    config = cfg.defaults("image_classification")
    config.data.source = f"folder:{folder}"
    config.data.validation_fraction = sets.pop("validation_fraction", 0.0)
    for key, value in sets.items():
        setattr(config.data.image, key, value)
    raw = images.load(config.data.source, config)

    return raw, *(split_arrays(split) for split in (raw.train, raw.validation, raw.test))


def _sorted_by_pixels(images, labels):
    """The training split comes shuffled (training_order); compare it in a fixed order."""
    order = np.lexsort(images.reshape(len(images), -1).T[::-1])
    return images[order], labels[order]


def assert_same_split(got, images, labels, names=None, class_names=None):
    got_images, got_labels = got
    expected = (images if images.ndim == 4 else images[..., None], np.asarray(labels))
    got_images, got_labels = _sorted_by_pixels(got_images, got_labels)
    expected_images, expected_labels = _sorted_by_pixels(*expected)
    assert got_images.dtype == np.uint8
    np.testing.assert_array_equal(got_images, expected_images)
    if class_names is None:
        np.testing.assert_array_equal(got_labels, expected_labels)
    else:  # labels compared by the names they stand for
        assert [class_names[i] for i in got_labels] == [names[i] for i in expected_labels]


@pytest.mark.parametrize("suffix,layout", [(".gz", "dashes"), ("", "dashes"), ("", "unpacker dots")])
def test_mnist_idx_files_are_read_with_their_own_test_split(tmp_path, suffix, layout):
    folder = tmp_path / "mnist"
    written = write_mnist(folder, suffix)
    if layout == "unpacker dots":  # train-images.idx3-ubyte, as some unpackers name them
        for path in folder.iterdir():
            path.rename(path.with_name(path.name.replace("-idx", ".idx")))
    raw, train, validation, test = load(folder)
    assert raw.kind == "array" and raw.channels == 1 and raw.in_memory
    assert raw.class_names == [str(d) for d in range(10)]
    assert validation is None and raw.num_train == 20
    assert_same_split(train, *written["train"])
    assert_same_split(test, *written["test"])
    assert any("20 training and 10 test (t10k) images" in note for note in raw.notes), raw.notes


def test_validation_is_carved_from_the_training_split(tmp_path):
    written = write_mnist(tmp_path / "mnist", train_count=40)
    raw, train, validation, test = load(tmp_path / "mnist", validation_fraction=0.25)
    assert len(train[0]) == 30 and len(validation[0]) == 10 and len(test[0]) == 10 and raw.num_train == 30
    assert_same_split((np.concatenate([train[0], validation[0]]), np.concatenate([train[1], validation[1]])),
                      *written["train"])


def test_torchvision_raw_folder_reads_the_unpacked_files_beside_the_gz(tmp_path):
    folder = tmp_path / "MNIST" / "raw"
    write_mnist(folder, ".gz")
    written = write_mnist(folder, "", train_count=12)  # differs from the .gz, to show which is read
    _, train, _, _ = load(folder)
    assert_same_split(train, *written["train"])


def test_a_published_set_is_named_by_its_label_files_checksums(tmp_path, monkeypatch):
    import hashlib

    from kerasuite.data import image_arrays

    folder = tmp_path / "fashion"
    write_mnist(folder, ".gz")
    sums = tuple(hashlib.md5((folder / f"{w}-labels-idx1-ubyte.gz").read_bytes()).hexdigest() for w in ("train", "t10k"))
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    # the real files' checksums are the published ones; these fixtures stand in for them
    monkeypatch.setitem(image_arrays._KNOWN_IDX_SETS, sums, ("Fashion-MNIST", names))
    raw, _, _, _ = load(folder)
    assert raw.class_names == names
    assert any("Fashion-MNIST" in note for note in raw.notes)
    assert ("25c81989df183df01b3e8a0aad5dffbe", "bb300cfdad3c16e7a12a480ee83cd310") in image_arrays._KNOWN_IDX_SETS


def test_emnist_letters_are_turned_upright_and_named_by_their_mapping(tmp_path):
    folder = tmp_path / "emnist"
    # emnist-letters labels run 1-26 (no 0); its mapping gives each label's upper and lower case
    written = write_mnist(folder, ".gz", prefix="emnist-letters-", test_word="test", labels=lambda l: l % 3 + 1)
    (folder / "emnist-letters-mapping.txt").write_text("1 65 97\n2 66 98\n3 67 99\n")
    raw, train, _, test = load(folder)
    assert raw.class_names == ["Aa", "Bb", "Cc"]
    images, labels = written["train"]
    assert train[0].shape[1:] == (5, 7, 1)  # stored 7 x 5, transposed upright
    assert_same_split(train, images.transpose(0, 2, 1), labels - 1)
    assert_same_split(test, written["test"][0].transpose(0, 2, 1), written["test"][1] - 1)


def test_cifar10_binary_batches_are_read_in_rgb_order_with_their_names(tmp_path):
    written = write_cifar10_binary(tmp_path / "cifar-10-batches-bin")
    raw, train, _, test = load(tmp_path / "cifar-10-batches-bin")
    assert raw.class_names == CIFAR10_NAMES and raw.channels == 3 and raw.num_train == 20
    assert_same_split(train, *written["train"])
    assert_same_split(test, *written["test"])


def test_the_folder_tar_extracted_into_is_read_too(tmp_path):
    written = write_cifar10_binary(tmp_path / "downloads" / "cifar-10-batches-bin")
    raw, _, _, test = load(tmp_path / "downloads")
    assert_same_split(test, *written["test"])


@pytest.mark.parametrize("labels", ["fine", "coarse"])
def test_cifar100_binary_reads_fine_labels_by_default_and_coarse_on_request(tmp_path, labels):
    written = write_cifar100_binary(tmp_path / "cifar-100-binary")
    sets = {} if labels == "fine" else {"cifar100_labels": "coarse"}
    raw, train, _, test = load(tmp_path / "cifar-100-binary", **sets)
    images, fine, coarse = written["test"]
    assert raw.class_names[:2] == [f"{labels}_0", f"{labels}_1"] and len(raw.class_names) == (100 if labels == "fine" else 20)
    assert_same_split(test, images, fine if labels == "fine" else coarse)
    assert_same_split(train, written["train"][0], written["train"][1 if labels == "fine" else 2])


def test_cifar10_python_batches_are_read_by_a_restricted_unpickler(tmp_path):
    import pickle

    folder = tmp_path / "cifar-10-batches-py"
    written = write_cifar10_python(folder)
    # the fixture is what pickle itself reads as CIFAR's python version: bytes keys, array, list
    batch = pickle.loads((folder / "test_batch").read_bytes(), encoding="bytes")
    assert batch[b"data"].shape == (4, 3072) and batch[b"data"].dtype == np.uint8 and isinstance(batch[b"labels"], list)
    raw, train, _, test = load(folder)
    assert raw.class_names == CIFAR10_NAMES
    assert_same_split(train, *written["train"])
    assert_same_split(test, *written["test"])


# ------------------------------------------------------------------------------- refusals


def _refused(folder, *culprits):
    with pytest.raises(UserError) as refused:
        load(folder)
    message = str(refused.value)
    assert "\n" not in message
    for culprit in culprits:
        assert culprit in message, message
    return message


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_a_truncated_idx_file_is_named(tmp_path, suffix):
    folder = tmp_path / "mnist"
    write_mnist(folder, suffix)
    path = folder / f"train-images-idx3-ubyte{suffix}"
    raw = gzip.decompress(path.read_bytes()) if suffix else path.read_bytes()
    cut = raw[:-35]  # a download or unpacking cut short
    path.write_bytes(gzip.compress(cut) if suffix else cut)
    _refused(folder, str(path), "truncated")


def test_a_gzip_stream_cut_short_is_named(tmp_path):
    folder = tmp_path / "mnist"
    write_mnist(folder)
    path = folder / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-20])
    _refused(folder, str(path), "cannot be read")


def test_image_and_label_counts_must_agree(tmp_path):
    folder = tmp_path / "mnist"
    write_mnist(folder, "")
    write_idx(folder / "train-labels-idx1-ubyte", np.zeros(19, np.uint8))
    _refused(folder, str(folder / "train-labels-idx1-ubyte"), "19 labels for the 20 images")


def test_a_file_without_the_idx_magic_is_named(tmp_path):
    folder = tmp_path / "mnist"
    write_mnist(folder, "")
    write_idx(folder / "t10k-labels-idx1-ubyte", np.zeros((10, 2, 2), np.uint8))  # an image file's magic
    _refused(folder, str(folder / "t10k-labels-idx1-ubyte"), "not an IDX label file", "00000803")


def test_a_missing_idx_file_is_named(tmp_path):
    folder = tmp_path / "mnist"
    write_mnist(folder)
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    _refused(folder, str(folder), "no test labels file")


def test_several_emnist_sets_in_one_folder_are_refused(tmp_path):
    folder = tmp_path / "gzip"
    for name in ("letters", "digits"):
        write_mnist(folder, ".gz", prefix=f"emnist-{name}-", test_word="test")
    _refused(folder, "emnist-digits, emnist-letters", "folder of their own")


@pytest.mark.parametrize("name,cut", [("data_batch_3.bin", 1), ("test_batch.bin", 3072)])
def test_a_cifar_batch_that_is_not_whole_records_is_named(tmp_path, name, cut):
    folder = tmp_path / "cifar-10-batches-bin"
    write_cifar10_binary(folder)
    path = folder / name
    path.write_bytes(path.read_bytes()[:-cut])
    _refused(folder, str(path), "3,073-byte CIFAR records")


def test_a_missing_cifar_batch_is_named(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    write_cifar10_binary(folder)
    (folder / "data_batch_4.bin").unlink()
    _refused(folder, "without data_batch_4.bin")


def test_a_cifar_label_beyond_the_names_is_named(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    write_cifar10_binary(folder)
    path = folder / "data_batch_2.bin"
    records = bytearray(path.read_bytes())
    records[3073] = 12  # the second record's label
    path.write_bytes(bytes(records))
    _refused(folder, str(path), "image 1 has label 12", "batches.meta.txt names 10 classes")


def test_a_pickle_that_calls_anything_but_numpy_is_refused_unrun(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10_python(folder)
    marker = tmp_path / "ran"
    # os.system("touch <marker>") on unpickling: what a tampered batch would do
    command = f"touch {marker}".encode()
    (folder / "data_batch_1").write_bytes(b"\x80\x02cos\nsystem\n" + _py2_str(command) + b"\x85R.")
    _refused(folder, str(folder / "data_batch_1"), "os.system")
    assert not marker.exists()


def test_a_truncated_cifar_pickle_is_named(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10_python(folder)
    path = folder / "test_batch"
    path.write_bytes(path.read_bytes()[:-100])
    _refused(folder, str(path), "not a readable CIFAR python file")


# ---------------------------------------------------------------------------- end to end


@pytest.mark.parametrize("layout", ["mnist_gz", "cifar10_binary", "cifar10_python"])
def test_a_tiny_run_trains_on_the_download(tmp_path, capsys, layout):
    data = tmp_path / "data"
    {"mnist_gz": lambda: write_mnist(data, ".gz"), "cifar10_binary": lambda: write_cifar10_binary(data),
     "cifar10_python": lambda: write_cifar10_python(data)}[layout]()
    run_dir = tmp_path / "run"
    done = run_main(capsys, "--task", "image_classification", "--data", f"folder:{data}", "--preset", "tiny",
                    "--export", "none", "--run-dir", str(run_dir), "--set", "train.check_baseline=false")
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((run_dir / "metrics.json").read_text())
    assert any("read as" in note for note in report["data_notes"])
    assert report["data"] == f"folder:{data}"


def test_a_bad_file_ends_the_run_in_one_line(tmp_path, capsys):
    data = tmp_path / "data"
    write_mnist(data, "")
    write_idx(data / "t10k-labels-idx1-ubyte", np.zeros(9, np.uint8))
    run_dir = tmp_path / "run"
    done = run_main(capsys, "--task", "image_classification", "--data", f"folder:{data}", "--preset", "tiny",
                    "--export", "none", "--run-dir", str(run_dir))
    assert_one_line_error(done, 2, str(data / "t10k-labels-idx1-ubyte"), "9 labels for the 10 images")
    assert not (run_dir / "metrics.json").exists()
