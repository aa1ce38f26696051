from pathlib import Path

import numpy as np
import pytest

from kerasuite.data.sources import parse_source, scan_class_folder, split_files, split_indices, training_order
from kerasuite.errors import UserError


def test_parse_source_refuses_unknown_scheme_and_empty_target():
    assert str(parse_source("tfds:mnist")) == "tfds:mnist"
    with pytest.raises(UserError, match="--data 'ftp:x'"):
        parse_source("ftp:x")
    with pytest.raises(UserError, match="missing"):
        parse_source("folder:")
    with pytest.raises(UserError, match="reads"):
        parse_source("csv:a.csv", allowed=("folder",))


def test_split_indices_is_stratified_deterministic_and_disjoint():
    labels = np.repeat(np.arange(4), 50)
    first = split_indices(labels, 0.2, 0.1, seed=3)
    second = split_indices(labels, 0.2, 0.1, seed=3)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    train, validation, test = first
    assert len(set(train) | set(validation) | set(test)) == 200
    assert not set(train) & set(test) and not set(train) & set(validation)
    assert np.bincount(labels[test]).tolist() == [10, 10, 10, 10]
    assert np.bincount(labels[validation]).tolist() == [4, 4, 4, 4]


def test_training_order_mixes_classes_and_data_limit_keeps_a_seeded_sample_of_every_class():
    labels = np.repeat(np.arange(4), 50)  # as sources list examples: class by class
    train, _, _ = split_indices(labels, 0.2, 0.1, seed=3)
    capped = training_order(train, 40, seed=3)
    assert len(capped) == 40 and set(capped) <= set(train)
    assert np.bincount(labels[capped], minlength=4).min() >= 4
    np.testing.assert_array_equal(capped, training_order(train, 40, seed=3))
    everything = training_order(train, 0, seed=3)
    assert sorted(everything) == sorted(train)
    assert len(set(labels[everything[:20]].tolist())) >= 3  # not a run of one class


def _touch(path, name):
    path.mkdir(parents=True, exist_ok=True)
    (path / name).write_bytes(b"x")


def test_scan_class_folder_uses_train_and_test_subfolders(tmp_path):
    for split in ("train", "test"):
        for cls in ("cat", "dog"):
            _touch(tmp_path / split / cls, f"{split}_{cls}.png")
    scanned = scan_class_folder(str(tmp_path), (".png",))
    assert scanned.class_names == ["cat", "dog"]
    assert len(scanned.train.paths) == 2 and len(scanned.test.paths) == 2
    assert scanned.test.labels.tolist() == [0, 1]


def test_scan_class_folder_ignores_hidden_files_and_folders(tmp_path):
    for split in ("train", "test"):
        for cls in ("cat", "dog"):
            _touch(tmp_path / split / cls, "1.png")
            _touch(tmp_path / split / cls, "._1.png")  # macOS resource fork
            _touch(tmp_path / split / cls / ".ipynb_checkpoints", "1-checkpoint.png")
    _touch(tmp_path / "test" / ".ipynb_checkpoints", "x-checkpoint.png")
    scanned = scan_class_folder(str(tmp_path), (".png",))
    assert scanned.class_names == ["cat", "dog"]
    for files in (scanned.train, scanned.test):
        assert [Path(p).name for p in files.paths] == ["1.png", "1.png"]


@pytest.mark.parametrize("name", ["val", "Valid", "validation", "dev"])
def test_a_validation_folder_beside_train_and_test_is_the_validation_split(tmp_path, name):
    for split in ("train", "test", name):
        for cls in ("cat", "dog"):
            _touch(tmp_path / split / cls, f"{split}_{cls}.png")
    _touch(tmp_path / name / "dog" / ".ipynb_checkpoints", "x-checkpoint.png")
    scanned = scan_class_folder(str(tmp_path), (".png",))
    assert [Path(p).name for p in scanned.validation.paths] == [f"{name}_cat.png", f"{name}_dog.png"]
    assert scanned.validation.labels.tolist() == [0, 1]
    assert scanned.validation_source == str(tmp_path / name)
    assert len(scanned.train.paths) == 2 and len(scanned.test.paths) == 2


def test_without_a_validation_folder_there_is_no_own_validation_split(tmp_path):
    for split in ("train", "test"):
        for cls in ("cat", "dog"):
            _touch(tmp_path / split / cls, "1.png")
    _touch(tmp_path / ".val" / "cat", "1.png")  # hidden: a tool's copy, not a split
    scanned = scan_class_folder(str(tmp_path), (".png",))
    assert scanned.validation is None and scanned.validation_source is None


@pytest.mark.parametrize("layout,message", [
    ("val_class_not_in_train", "val/ has classes not in train/: bird"),
    ("val_and_dev", "more than one validation folder (dev/, val/)"),
    ("empty_val", "val/ holds no .png files"),
])
def test_a_bad_validation_folder_is_refused_naming_it(tmp_path, layout, message):
    for split in ("train", "test"):
        for cls in ("cat", "dog"):
            _touch(tmp_path / split / cls, "1.png")
    if layout == "val_class_not_in_train":
        _touch(tmp_path / "val" / "bird", "1.png")
    elif layout == "val_and_dev":
        _touch(tmp_path / "val" / "cat", "1.png")
        _touch(tmp_path / "dev" / "cat", "1.png")
    else:
        (tmp_path / "val" / "cat").mkdir(parents=True)
    with pytest.raises(UserError) as error:
        scan_class_folder(str(tmp_path), (".png",))
    assert message in str(error.value) and str(tmp_path) in str(error.value)
    assert "\n" not in str(error.value)


def test_split_files_is_stable_when_files_are_added(tmp_path):
    for i in range(40):
        _touch(tmp_path / ("a" if i % 2 else "b"), f"{i}.png")
    before = split_files(scan_class_folder(str(tmp_path), (".png",)).train, 0.25, seed=1)
    _touch(tmp_path / "a", "new.png")
    after = split_files(scan_class_folder(str(tmp_path), (".png",)).train, 0.25, seed=1)
    assert set(before[1].paths) <= set(after[1].paths) | set(after[0].paths)
    assert set(before[1].paths) == set(after[1].paths) - {str(tmp_path / "a" / "new.png")}


@pytest.mark.parametrize("layout,message", [
    ("missing", "does not exist"),
    ("empty", "no .png"),
    ("one_class", "single class"),
    ("train_and_val", "split names, not classes"),  # it trained a train-versus-val model
])
def test_scan_class_folder_refuses_bad_layouts(tmp_path, layout, message):
    root = tmp_path / "data"
    if layout == "empty":
        (root / "a").mkdir(parents=True)
        (root / "b").mkdir()
    elif layout == "one_class":
        _touch(root / "only", "1.png")
        _touch(root / "only", "2.png")
    elif layout == "train_and_val":
        for split in ("train", "val"):
            _touch(root / split / "cat", "1.png")
            _touch(root / split / "dog", "1.png")
    with pytest.raises(UserError, match=message) as error:
        scan_class_folder(str(root), (".png",))
    assert str(root) in str(error.value)
    if layout == "train_and_val":
        assert "a val/ beside them is the validation split" in str(error.value)


def test_make_digits_folder_is_whole_or_absent_and_never_replaces_a_folder_it_did_not_write(tmp_path):
    import subprocess
    import sys

    tool = Path(__file__).resolve().parents[2] / "tools" / "make_digits_folder.py"
    out = tmp_path / "digits"
    first = subprocess.run([sys.executable, str(tool), str(out)], capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    pngs = sorted(p.relative_to(out) for p in out.rglob("*.png"))
    assert len(pngs) == 1797 and (out / "make_digits_folder.txt").is_file()
    stale = out / "train" / "0" / "from_an_older_run.png"
    stale.write_bytes(b"")
    again = subprocess.run([sys.executable, str(tool), str(out)], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and not stale.exists(), again.stderr
    assert sorted(p.relative_to(out) for p in out.rglob("*.png")) == pngs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits"]  # no temporary folder left beside it

    theirs = tmp_path / "theirs"
    (theirs / "photos").mkdir(parents=True)
    refused = subprocess.run([sys.executable, str(tool), str(theirs)], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "make_digits_folder.txt" in refused.stderr, refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and [p.name for p in theirs.iterdir()] == ["photos"]


def test_a_class_named_like_a_split_is_still_a_class(tmp_path):
    for name in ("bus", "train"):
        _touch(tmp_path / name, "1.png")
    assert scan_class_folder(str(tmp_path), (".png",)).class_names == ["bus", "train"]


def test_a_train_class_without_test_files_gets_a_note_naming_it(tmp_path):
    for split, classes in (("train", ("neg", "pos", "unsup")), ("test", ("neg", "pos"))):
        for name in classes:
            for n in range(3 if name == "unsup" else 2):
                _touch(tmp_path / split / name, f"{n}.txt")
    scanned = scan_class_folder(str(tmp_path), (".txt",))
    assert scanned.class_names == ["neg", "pos", "unsup"]
    assert len(scanned.notes) == 1
    assert str(tmp_path / "train" / "unsup") in scanned.notes[0] and "3 files and none in test/" in scanned.notes[0]
    _touch(tmp_path / "test" / "unsup", "0.txt")
    assert scan_class_folder(str(tmp_path), (".txt",)).notes == []


def test_split_folders_named_after_the_data_set_are_the_splits(tmp_path):
    news = tmp_path / "20news-bydate"  # as the archive unpacks: posts named by number alone
    for split in ("20news-bydate-train", "20news-bydate-test"):
        for group in ("alt.atheism", "sci.space"):
            _touch(news / split / group, "49960")
    scanned = scan_class_folder(str(news), (".txt", ""))
    assert scanned.class_names == ["alt.atheism", "sci.space"]
    assert all("20news-bydate-train" in p for p in scanned.train.paths) and len(scanned.train.paths) == 2
    assert all("20news-bydate-test" in p for p in scanned.test.paths) and len(scanned.test.paths) == 2


def test_a_kaggle_split_nested_in_its_own_name_beside_unlabelled_pictures(tmp_path):
    intel = tmp_path / "intel"
    for split in ("seg_train", "seg_test"):
        for scene in ("forest", "sea"):
            _touch(intel / split / split / scene, "1.jpg")
    _touch(intel / "seg_pred" / "seg_pred", "9.jpg")
    scanned = scan_class_folder(str(intel), (".jpg",))
    assert scanned.class_names == ["forest", "sea"]
    assert [Path(p).relative_to(intel).parts[:2] for p in scanned.test.paths] == [("seg_test", "seg_test")] * 2
    assert scanned.notes == [f"{intel / 'seg_pred'}: named as unlabelled examples, so it is not read"]


def test_classes_whose_names_end_like_splits_stay_classes(tmp_path):
    for name in ("bullet_train", "speed_test", "bicycle"):
        _touch(tmp_path / name, "1.png")
    scanned = scan_class_folder(str(tmp_path), (".png",))
    assert scanned.class_names == ["bicycle", "bullet_train", "speed_test"] and scanned.test is None


def test_a_validation_folder_named_after_the_data_set_is_the_validation_split(tmp_path):
    """fruits_train/, fruits_val/, fruits_test/: the named validation folder joins the named
    splits, instead of turning all three into classes called after the splits."""
    for split in ("fruits_train", "fruits_val", "fruits_test"):
        for fruit in ("apple", "pear"):
            _touch(tmp_path / split / fruit, f"{split}.png")
    scanned = scan_class_folder(str(tmp_path), (".png",))
    assert scanned.class_names == ["apple", "pear"]
    assert [Path(p).name for p in scanned.validation.paths] == ["fruits_val.png"] * 2
    assert [Path(p).name for p in scanned.test.paths] == ["fruits_test.png"] * 2
    assert scanned.validation_source == str(tmp_path / "fruits_val")


def test_two_validation_folders_named_after_the_data_set_are_refused(tmp_path):
    for split in ("x_train", "x_test", "x_val", "x_dev"):
        _touch(tmp_path / split / "cat", "1.png")
        _touch(tmp_path / split / "dog", "1.png")
    with pytest.raises(UserError, match=r"more than one validation folder \(x_dev/, x_val/\)") as error:
        scan_class_folder(str(tmp_path), (".png",))
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("classes", [("bullet_train", "crash_test"), ("pre_test", "strength_training", "unlabeled")])
def test_class_folders_of_files_named_like_splits_stay_classes(tmp_path, classes):
    """Split folders hold class folders; folders holding the pictures themselves are classes,
    whatever their names end in (these were taken for splits, and refused as holding no files)."""
    for name in classes:
        _touch(tmp_path / name, "1.png")
        _touch(tmp_path / name, "2.png")
    scanned = scan_class_folder(str(tmp_path), (".png",))
    assert scanned.class_names == sorted(classes) and scanned.test is None and scanned.notes == []


@pytest.mark.parametrize("linked,to", [("val", "test"), ("val", "train"), ("fruits_val", "fruits_test")])
def test_a_validation_folder_that_is_another_split_is_refused(tmp_path, linked, to):
    """``ln -s test val`` (for tools that insist on a val/): validating on the test split would pick
    the model by its test score, and on train/ would score what it trained on."""
    prefix = "fruits_" if linked.startswith("fruits_") else ""
    for split in ("train", "test"):
        for cls in ("cat", "dog"):
            _touch(tmp_path / f"{prefix}{split}" / cls, f"{split}.png")
    (tmp_path / linked).symlink_to(tmp_path / to, target_is_directory=True)
    with pytest.raises(UserError) as error:
        scan_class_folder(str(tmp_path), (".png",))
    message = str(error.value)
    assert f"{linked}/ and {to}/ are the same folder" in message and str(tmp_path) in message
    assert "\n" not in message


@pytest.mark.parametrize("split", ["val", "test"])
def test_a_split_folder_of_loose_unlabelled_files_says_so(tmp_path, split):
    """Kaggle's plant-seedlings: train/<class>/ beside a test/ of loose, unlabelled pictures. The
    error said test/ held no .png files, though it held hundreds."""
    for name in ("train", "test"):
        for cls in ("cat", "dog"):
            _touch(tmp_path / name / cls, "1.png")
    if split == "val":
        _touch(tmp_path / "val", "1.png")
    else:
        for cls in ("cat", "dog"):
            (tmp_path / "test" / cls / "1.png").rename(tmp_path / "test" / f"{cls}.png")
            (tmp_path / "test" / cls).rmdir()
    with pytest.raises(UserError) as error:
        scan_class_folder(str(tmp_path), (".png",))
    message = str(error.value)
    assert f"{split}/ holds .png files outside class subfolders, so they have no labels" in message, message
    instead = f"point --data at folder:{tmp_path / 'train'}" if split == "test" else "move val/ out of the folder"
    assert instead in message and "\n" not in message
