"""Image data sets shipped as CSV tables of pixels, read by ``--data csv:PATH`` as downloaded:
Kaggle's Digit Recognizer (train.csv with label,pixel0..pixel783 and an unlabelled test.csv),
Fashion-MNIST's and Sign Language MNIST's CSV pairs (label,pixel1..pixel784) and FER2013
(emotion,pixels,Usage). Every fixture is a tiny file in the data set's exact layout, written
here; images are read back through the task's own loader and checked pixel for pixel."""

import json

import numpy as np
import pytest

from helpers import assert_one_line_error, run_main, split_arrays
from kerasuite.errors import UserError

FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
FER = ["Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"]


# ------------------------------------------------------------------------------ writers


def pixel_rows(seed: int, count: int, size: int) -> np.ndarray:
    """Images flattened row by row, 0 and 255 among them."""
    images = np.random.default_rng(seed).integers(0, 256, (count, size))
    images[0, :2] = (0, 255)
    return images


def pixel_table(path, labels, images, first=0, label=True, end="\n"):
    """label,pixel0..pixelN-1 (or pixel1..pixelN from ``first=1``), as Kaggle's MNIST-like CSVs."""
    header = (["label"] if label else []) + [f"pixel{first + n}" for n in range(images.shape[1])]
    rows = [([str(l)] if label else []) + [str(v) for v in image] for l, image in zip(labels, images)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes("".join(",".join(cells) + end for cells in [header, *rows]).encode())
    return path


def write_digit_recognizer(folder, count=12):
    """Kaggle's Digit Recognizer: train.csv (labelled), test.csv (pixels only: the images to
    predict) and sample_submission.csv."""
    labels, images = np.arange(count) % 3, pixel_rows(1, count, 784)
    pixel_table(folder / "train.csv", labels, images)
    unlabelled = pixel_rows(2, 5, 784)
    pixel_table(folder / "test.csv", [None] * 5, unlabelled, label=False)
    (folder / "sample_submission.csv").write_text("ImageId,Label\n1,0\n2,0\n")
    return {"train": (images, labels), "unlabelled": unlabelled}


def write_pair(folder, name, train_labels, test_labels):
    """NAME_train.csv and NAME_test.csv, label,pixel1..pixel784."""
    written = {}
    for split, labels, seed in (("train", train_labels, 3), ("test", test_labels, 4)):
        images = pixel_rows(seed, len(labels), 784)
        pixel_table(folder / f"{name}_{split}.csv", labels, images, first=1)
        written[split] = (images, np.asarray(labels))
    return written


def write_fer(path, header="emotion,pixels,Usage", usages=None, side=48, quote=""):
    """fer2013.csv: emotion, one field of side*side space-separated pixels, Usage."""
    usages = usages or ["Training"] * 8 + ["PublicTest"] * 2 + ["PrivateTest"] * 2
    labels, images = np.arange(len(usages)) % 7, pixel_rows(5, len(usages), side * side)
    columns = [column.strip() for column in header.split(",")]
    lines = [header]
    for label, image, usage in zip(labels, images, usages):
        cells = {"emotion": str(label), "pixels": quote + " ".join(map(str, image)) + quote, "Usage": usage}
        lines.append(",".join(cells[column] for column in columns))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return images, labels, np.array(usages)


# --------------------------------------------------------------------------------- reading


def load(target, **data):
    """The task's own loader on ``csv:TARGET``, every split as numpy (images, labels)."""
    from kerasuite import config as cfg
    from kerasuite.data import images

    config = cfg.defaults("image_classification")
    config.data.source = f"csv:{target}"
    config.data.validation_fraction = data.pop("validation_fraction", 0.0)
    for key, value in data.items():
        setattr(config.data, key, value)
    raw = images.load(config.data.source, config)

    return raw, *(split_arrays(split) for split in (raw.train, raw.validation, raw.test))


def as_rows(split, side):
    """A split's images flattened, with its labels, sorted by pixels (the training split comes shuffled)."""
    images, labels = split
    assert images.dtype == np.uint8 and images.shape[1:] == (side, side, 1)
    flat = images.reshape(len(images), -1).astype(np.int64)
    order = np.lexsort(flat.T[::-1])
    return flat[order], labels[order]


def assert_rows(split, side, images, labels):
    expected = as_rows((np.asarray(images, np.uint8).reshape(-1, side, side, 1), np.asarray(labels)), side)
    got = as_rows(split, side)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])


def together(*splits):
    splits = [split for split in splits if split is not None]
    return np.concatenate([s[0] for s in splits]), np.concatenate([s[1] for s in splits])


def test_digit_recognizer_holds_its_test_split_out_of_train_csv_not_the_unlabelled_test_csv(tmp_path):
    written = write_digit_recognizer(tmp_path / "digit-recognizer")
    raw, train, validation, test = load(tmp_path / "digit-recognizer", validation_fraction=0.25)
    assert raw.kind == "array" and raw.in_memory and raw.channels == 1
    assert raw.class_names == ["0", "1", "2"]
    images, labels = written["train"]
    # every split is train.csv's rows, all of them, each once: a stratified test row per class
    assert_rows(together(train, validation, test), 28, images, labels)
    assert sorted(test[1].tolist()) == [0, 1, 2] and raw.num_train == len(train[0])
    unlabelled = {tuple(row) for row in written["unlabelled"].tolist()}
    assert not any(tuple(row) in unlabelled for row in test[0].reshape(len(test[0]), -1).tolist())
    assert any("test.csv: has no label column, so it is not read" in note for note in raw.notes), raw.notes


def test_train_csv_pointed_at_alone_is_split_the_same_way(tmp_path):
    written = write_digit_recognizer(tmp_path / "digit-recognizer")
    raw, train, _, test = load(tmp_path / "digit-recognizer" / "train.csv")
    assert_rows(together(train, test), 28, *written["train"])
    assert len(test[0]) == 3
    assert any("read alone, so a test split is held out from it; test.csv beside it is not read" in note
               for note in raw.notes), raw.notes


def test_fashion_mnist_csvs_keep_their_own_test_file_and_class_names(tmp_path):
    written = write_pair(tmp_path / "fashionmnist", "fashion-mnist", np.arange(12) % 4, [3, 2, 1, 0, 0])
    raw, train, validation, test = load(tmp_path / "fashionmnist")
    assert raw.class_names == FASHION[:4]
    assert validation is None and raw.num_train == 12
    assert_rows(train, 28, *written["train"])
    assert_rows(test, 28, *written["test"])
    assert any("read as Fashion-MNIST (fashion-mnist_train.csv): 12 training and 5 test (fashion-mnist_test.csv)"
               in note for note in raw.notes), raw.notes


def test_sign_language_mnist_has_no_class_nine_and_names_its_letters(tmp_path):
    # labels 0-24 with 9 (J) absent: J and Z take a motion
    train_labels = np.array([0, 8, 10, 24] * 3)
    written = write_pair(tmp_path / "sign", "sign_mnist", train_labels, [24, 10, 8, 0])
    raw, train, _, test = load(tmp_path / "sign")
    assert raw.class_names == ["A", "I", "K", "Y"]
    index = {0: 0, 8: 1, 10: 2, 24: 3}
    assert_rows(train, 28, written["train"][0], [index[label] for label in train_labels])
    assert_rows(test, 28, written["test"][0], [3, 2, 1, 0])


@pytest.mark.parametrize("point_at", ["file", "folder"])
def test_fer2013_is_split_by_its_usage_column(tmp_path, point_at):
    images, labels, usages = write_fer(tmp_path / "fer2013" / "fer2013.csv")
    target = tmp_path / "fer2013" / ("fer2013.csv" if point_at == "file" else "")
    raw, train, validation, test = load(target, validation_fraction=0.5)  # PublicTest validates, whatever it says
    assert raw.class_names == FER
    for split, usage in ((train, "Training"), (validation, "PublicTest"), (test, "PrivateTest")):
        assert_rows(split, 48, images[usages == usage], labels[usages == usage])
    assert raw.validation_source.endswith("fer2013.csv's PublicTest rows")
    assert any("split by its Usage column: 8 Training (train), 2 PublicTest (validation), 2 PrivateTest (test)"
               in note for note in raw.notes), raw.notes


def test_a_table_like_fer2013_but_not_spelt_so_is_read_with_numbered_classes(tmp_path):
    # Kaggle's icml_face_data.csv: the same columns, in another order and with spaces after commas
    images, labels, usages = write_fer(tmp_path / "icml_face_data.csv", header="emotion, Usage, pixels")
    raw, train, _, test = load(tmp_path / "icml_face_data.csv")
    assert raw.class_names == [str(n) for n in range(7)]
    assert_rows(train, 48, images[usages == "Training"], labels[usages == "Training"])
    assert_rows(test, 48, images[usages == "PrivateTest"], labels[usages == "PrivateTest"])


def test_rows_numpy_cannot_take_whole_are_read_row_by_row(tmp_path, monkeypatch):
    """A quoted pixels field, and Windows line ends, in blocks far smaller than a file: the line
    reader the blocks fall back on reads what numpy's reader would."""
    from kerasuite.data import image_csv_pixels

    monkeypatch.setattr(image_csv_pixels, "BLOCK_BYTES", 1000)
    line_blocks = []
    read_lines = image_csv_pixels._line_block
    monkeypatch.setattr(image_csv_pixels, "_line_block", lambda *args: line_blocks.append(args[2]) or read_lines(*args))
    images, labels, _ = write_fer(tmp_path / "quoted.csv", header="emotion,pixels", usages=["-"] * 21, side=4,
                                       quote='"')
    _, train, _, test = load(tmp_path / "quoted.csv")
    assert_rows(together(train, test), 4, images, labels)
    assert len(line_blocks) > 1  # every block, numpy's reader taking none of them
    written = write_digit_recognizer(tmp_path / "crlf")
    pixel_table(tmp_path / "crlf" / "train.csv", written["train"][1], written["train"][0], end="\r\n")
    _, train, _, test = load(tmp_path / "crlf")
    assert_rows(together(train, test), 28, *written["train"])


# ------------------------------------------------------------------------------- refusals


def _refused(target, *culprits):
    with pytest.raises(UserError) as refused:
        load(target)
    message = str(refused.value)
    assert "\n" not in message
    for culprit in culprits:
        assert culprit in message, message
    return message


def _replace_line(path, number, old, new):
    lines = path.read_text().split("\n")
    assert old in lines[number - 1]
    lines[number - 1] = lines[number - 1].replace(old, new, 1)
    path.write_text("\n".join(lines))


def test_a_pixel_count_that_is_not_a_square_is_refused(tmp_path):
    path = pixel_table(tmp_path / "train.csv", np.arange(12) % 3, pixel_rows(1, 12, 780))
    _refused(path, f"{path} line 1", "780 pixel columns, not a square number")
    write_fer(tmp_path / "fer" / "fer2013.csv", side=5)
    _replace_line(tmp_path / "fer" / "fer2013.csv", 2, ",", ",7 ")  # 26 values in its first row
    _refused(tmp_path / "fer", f"{tmp_path / 'fer' / 'fer2013.csv'} line 2", "26 pixel values, not a square number")


@pytest.mark.parametrize("layout", ["columns", "packed"])
def test_a_pixel_of_256_is_named_by_file_and_line(tmp_path, monkeypatch, layout):
    from kerasuite.data import image_csv_pixels

    monkeypatch.setattr(image_csv_pixels, "BLOCK_BYTES", 200)  # the bad row lies blocks below the first
    if layout == "columns":
        path = pixel_table(tmp_path / "train.csv", np.arange(12) % 3, np.full((12, 16), 7))
        _replace_line(path, 10, ",7,7", ",7,256")
        _refused(path, f"{path} line 10", "pixel1 is '256'", "0-255")
    else:
        path = tmp_path / "fer2013.csv"
        write_fer(path, side=6)
        lines = path.read_text().split("\n")
        label, pixels, usage = lines[10].split(",")
        values = pixels.split()
        lines[10] = ",".join([label, " ".join([values[0], "256", *values[2:]]), usage])
        path.write_text("\n".join(lines))
        _refused(path, f"{path} line 11", "value 2 of pixels is '256'", "0-255")


def test_a_short_row_is_named_by_file_and_line(tmp_path):
    written = write_pair(tmp_path / "fashion", "fashion-mnist", np.arange(12) % 4, [0, 1, 2, 3])
    path = tmp_path / "fashion" / "fashion-mnist_test.csv"
    lines = path.read_text().split("\n")
    lines[3] = lines[3].rsplit(",", 1)[0]  # a row cut short: 784 fields
    path.write_text("\n".join(lines))
    _refused(tmp_path / "fashion", f"{path} line 4", "784 fields, the header has 785")
    assert written


def test_a_file_without_a_label_column_is_refused(tmp_path):
    write_digit_recognizer(tmp_path / "digit-recognizer")
    path = tmp_path / "digit-recognizer" / "test.csv"
    _refused(path, f"{path} line 1", "no label column")


def test_a_test_label_no_training_row_has_is_named(tmp_path):
    write_pair(tmp_path / "sign", "sign_mnist", np.array([0, 8, 10, 24] * 3), [0, 9, 8])
    path = tmp_path / "sign" / "sign_mnist_test.csv"
    _refused(tmp_path / "sign", f"{path} line 3", "label 9, which no training row has")


def test_a_training_file_without_its_test_file_is_refused(tmp_path):
    write_pair(tmp_path / "fashion", "fashion-mnist", np.arange(12) % 4, [0, 1])
    (tmp_path / "fashion" / "fashion-mnist_test.csv").unlink()
    _refused(tmp_path / "fashion", "fashion-mnist_train.csv and no test file beside it")


# ---------------------------------------------------------------------------- end to end


@pytest.mark.parametrize("layout", ["digit_recognizer", "fashion_mnist", "sign_mnist", "fer2013"])
def test_a_tiny_run_trains_on_the_csv(tmp_path, capsys, layout):
    data = tmp_path / "data"
    {"digit_recognizer": lambda: write_digit_recognizer(data),
     "fashion_mnist": lambda: write_pair(data, "fashion-mnist", np.arange(12) % 4, [0, 1, 2, 3]),
     "sign_mnist": lambda: write_pair(data, "sign_mnist", np.array([0, 8, 10, 24] * 3), [0, 8, 10, 24]),
     "fer2013": lambda: write_fer(data / "fer2013.csv")}[layout]()
    run_dir = tmp_path / "run"
    done = run_main(capsys, "--task", "image_classification", "--data", f"csv:{data}", "--preset", "tiny",
                    "--export", "none", "--run-dir", str(run_dir), "--set", "train.check_baseline=false")
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((run_dir / "metrics.json").read_text())
    assert any("read as" in note for note in report["data_notes"])
    assert report["data"] == f"csv:{data}"


def test_a_bad_row_ends_the_run_in_one_line(tmp_path, capsys):
    data = tmp_path / "data"
    write_digit_recognizer(data)
    _replace_line(data / "train.csv", 7, ",", ",256,")  # a value too many
    run_dir = tmp_path / "run"
    done = run_main(capsys, "--task", "image_classification", "--data", f"csv:{data}", "--preset", "tiny",
                    "--export", "none", "--run-dir", str(run_dir))
    assert_one_line_error(done, 2, f"{data / 'train.csv'} line 7", "786 fields, the header has 785")
    assert not (run_dir / "metrics.json").exists()
