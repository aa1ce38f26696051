import json

import pytest

from kerasuite import config as cfg


def test_precedence_defaults_file_set_flags(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  epochs: 3\n  batch_size: 16\nmodel:\n  cnn:\n    filters: [4, 8]\n")
    config = cfg.resolve(
        cfg.load_config_file(path),
        cfg.parse_set(["train.batch_size=32", "train.learning_rate=0.01"]),
        {"train.learning_rate": 0.5},
    )
    assert config.train.epochs == 3  # file over default
    assert config.train.batch_size == 32  # --set over file
    assert config.train.learning_rate == 0.5  # flag over --set
    assert config.model.cnn.filters == (4, 8)
    assert config.train.optimizer == cfg.TrainConfig().optimizer  # untouched default


def test_presets_sit_between_dataclass_defaults_and_file():
    # image_classification's default preset: 20 epochs, cosine; its tiny preset: 3 epochs
    assert cfg.resolve().train.epochs == 20
    assert cfg.resolve({}, {}, {"preset": "tiny"}).train.epochs == 3
    config = cfg.resolve({"train": {"epochs": 7}}, {}, {"preset": "tiny"})
    assert config.train.epochs == 7  # the file beats the preset
    assert config.data.image.height == 8 and config.preset == "tiny"
    assert config.export.golden_examples == cfg.COMMON_PRESETS["tiny"]["export.golden_examples"]


@pytest.mark.parametrize(
    "file_values,sets,message",
    [
        ({"trian": {}}, {}, "'trian'"),
        ({}, {"train.epoch": "3"}, "'train.epoch'"),
        ({}, {"train.epochs": "three"}, "train.epochs"),
        ({"train": {"epochs": "3"}}, {}, "train.epochs"),
        ({"train": {"mixed_precision": "yes"}}, {}, "train.mixed_precision"),
        ({}, {"export.modes": "float32,int4"}, "int4"),
        ({}, {"train.strategy": "tpu"}, "tpu"),
        ({}, {"train.steps_per_execution": "0"}, "train.steps_per_execution"),
        ({}, {"train": "3"}, "train"),
    ],
)
def test_bad_keys_and_types_are_one_line_errors(file_values, sets, message):
    with pytest.raises(cfg.ConfigError) as error:
        cfg.resolve(file_values, sets)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_set_parses_typed_values():
    config = cfg.resolve({}, cfg.parse_set([
        "task=keyword_spotting", "data.cache=false", "export.modes=float16,dynamic", "export.parity.int8.min_agreement=none",
        "model.ds_cnn.first_kernel=3,3",
    ]))
    assert config.data.cache is False
    assert config.export.modes == ("float16", "dynamic")
    assert config.export.parity.int8.min_agreement is None
    assert config.model.ds_cnn.first_kernel == (3, 3)


def test_malformed_config_file_names_the_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(cfg.ConfigError) as error:
        cfg.load_config_file(path)
    assert str(path) in str(error.value)


def test_saved_config_round_trips(tmp_path):
    config = cfg.resolve({}, {"model.cnn.filters": "4,8", "seed": "7"})
    cfg.save(config, tmp_path / "config.json")
    again = cfg.resolve(json.loads((tmp_path / "config.json").read_text()))
    assert again == config
