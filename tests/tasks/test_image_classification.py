from pathlib import Path

import numpy as np
import pytest

from harness import run_model_saving_test
from helpers import write_digit_pngs
from kerasuite import config as cfg
from kerasuite.errors import UserError
from kerasuite.hparams import CnnConfig


def _config(source, **sets):
    values = {"data.source": source, "train.batch_size": "16", "data.image.height": "8", "data.image.width": "8"}
    values.update(sets)
    return cfg.resolve({}, values)


def _task():
    from kerasuite.tasks import get_task

    return get_task("image_classification")


def test_digits_source_gives_scaled_batches_and_disjoint_splits():
    data = _task().load_data(_config("builtin:digits"))
    inputs, labels = next(iter(data.test))
    assert inputs["image"].shape.as_list() == [16, 8, 8, 1]
    assert 0.0 <= float(np.min(inputs["image"])) and float(np.max(inputs["image"])) <= 1.0
    assert data.labels == [str(d) for d in range(10)]
    test_count = sum(int(y.shape[0]) for _, y in data.test)
    val_count = sum(int(y.shape[0]) for _, y in data.validation)
    assert data.num_train_examples + test_count + val_count == 1797


def test_folder_source_reads_real_pngs(tmp_path):
    write_digit_pngs(tmp_path, split="train")
    write_digit_pngs(tmp_path, per_class=4, split="test")
    data = _task().load_data(_config(f"folder:{tmp_path}"))
    assert data.labels == ["0", "1", "2"]
    test_labels = np.concatenate([y.numpy() for _, y in data.test])
    assert sorted(test_labels.tolist()) == [0] * 4 + [1] * 4 + [2] * 4
    batch, _ = next(iter(data.train))
    assert batch["image"].shape[1:] == (8, 8, 1)


def test_a_val_folder_is_the_validation_split_and_train_is_used_whole(tmp_path):
    from kerasuite.data import images as image_sources

    write_digit_pngs(tmp_path, per_class=6, split="train")
    write_digit_pngs(tmp_path, per_class=4, split="test")
    write_digit_pngs(tmp_path, per_class=2, split="val")
    (tmp_path / "val" / "1" / "1_0.png").rename(tmp_path / "val" / "1" / "only_in_val.png")
    config = _config(f"folder:{tmp_path}", **{"data.validation_fraction": "0.5"})  # the folder wins
    raw = image_sources.load(config.data.source, config)
    validation = sorted((Path(p.decode()).relative_to(tmp_path).as_posix(), int(y)) for p, y in raw.validation.as_numpy_iterator())
    assert validation == [("val/0/0_0.png", 0), ("val/0/0_1.png", 0), ("val/1/1_1.png", 1), ("val/1/only_in_val.png", 1),
                          ("val/2/2_0.png", 2), ("val/2/2_1.png", 2)]
    assert raw.num_train == 18 and raw.validation_source == str(tmp_path / "val")
    assert all("/train/" in p.decode() for p, _ in raw.train.as_numpy_iterator())


def test_an_unreadable_image_in_val_is_named_or_skipped_and_counted(tmp_path):
    for split, per_class in (("train", 4), ("test", 2), ("val", 2)):
        write_digit_pngs(tmp_path, per_class=per_class, split=split)
    bad = tmp_path / "val" / "2" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(UserError, match="broken.png"):
        _task().load_data(_config(f"folder:{tmp_path}"))
    data = _task().load_data(_config(f"folder:{tmp_path}", **{"data.skip_bad_files": "true"}))
    assert data.skipped_files == 1 and sum(int(y.shape[0]) for _, y in data.validation) == 6


def test_unreadable_image_is_named_or_skipped_and_counted(tmp_path):
    write_digit_pngs(tmp_path)
    bad = tmp_path / "1" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(UserError, match="broken.png"):
        _task().load_data(_config(f"folder:{tmp_path}"))
    data = _task().load_data(_config(f"folder:{tmp_path}", **{"data.skip_bad_files": "true"}))
    assert data.skipped_files == 1


def test_tfds_source_runs_real_loading_code_offline():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=40):
        data = _task().load_data(_config("tfds:mnist"))
    inputs, labels = next(iter(data.train))
    assert inputs["image"].shape.as_list()[1:] == [8, 8, 1]
    assert data.labels == [str(d) for d in range(10)]
    assert labels.dtype.name == "int64"


def test_unknown_tfds_name_is_a_user_error():
    with pytest.raises(UserError, match="tfds:no_such_set"):
        _task().load_data(_config("tfds:no_such_set"))


def test_conv_stack_round_trips_through_keras_file(tmp_path):
    from kerasuite.models.vision import build_conv_stack

    model = build_conv_stack(CnnConfig(filters=(4, 8), dense_units=8), (8, 8, 1), 3)
    x = {"image": np.random.default_rng(0).uniform(size=(5, 8, 8, 1)).astype("float32")}
    run_model_saving_test(model, x, tmp_path)
    assert model.get_layer("augment_translate") is not None  # training-only augmentation is in the model
    with pytest.raises(ValueError, match="pooling"):
        build_conv_stack(CnnConfig(pooling="median"), (8, 8, 1), 3)
