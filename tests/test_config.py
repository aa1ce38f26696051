import functools
import json

import pytest

from kerasuite import config as cfg
from kerasuite.errors import UserError
from kerasuite.tasks import TASK_NAMES, task_spec


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


def test_family_presets_apply_over_default_only_for_their_family_and_under_everything_else(tmp_path):
    family_values = task_spec("retrieval").family_presets["history_two_tower"]
    history = cfg.resolve({}, {"task": "retrieval", "model.family": "history_two_tower"})
    plain = cfg.resolve({}, {"task": "retrieval", "model.family": "two_tower"})
    def read(config, key):
        return functools.reduce(getattr, key.split("."), config)

    for key, value in family_values.items():
        assert read(history, key) == value, key
        assert read(plain, key) != value, key  # the other family keeps the task's defaults
    # the family named in a config file or by the --model flag counts too
    assert cfg.resolve({"model": {"family": "history_two_tower"}}, {"task": "retrieval"}).train.epochs == history.train.epochs
    assert cfg.resolve({}, {}, {"task": "retrieval", "model.family": "history_two_tower"}).train.epochs == history.train.epochs
    # tiny still shrinks it, and file / --set values still win
    tiny = cfg.resolve({}, {"task": "retrieval", "model.family": "history_two_tower", "preset": "tiny"})
    assert tiny.model.two_tower.embedding_dim == cfg.defaults("retrieval", "tiny").model.two_tower.embedding_dim
    assert cfg.resolve({}, {"task": "retrieval", "model.family": "history_two_tower", "train.epochs": "2"}).train.epochs == 2


def test_family_presets_follow_the_family_a_named_preset_picks():
    # text's default family is ngram, but its tiny preset picks lstm: ngram's preset must not apply
    ngram_values = task_spec("text_classification").family_presets["ngram"]
    tiny = cfg.resolve({}, {"task": "text_classification", "preset": "tiny"})
    assert tiny.model.family == "lstm"
    assert tiny.data.text.standardize != ngram_values["data.text.standardize"]
    default = cfg.resolve({}, {"task": "text_classification"})
    assert default.model.family == "ngram" and default.data.text.standardize == ngram_values["data.text.standardize"]
    # the user's --model still wins over the preset's family
    chosen = cfg.resolve({}, {"task": "text_classification", "preset": "tiny", "model.family": "ngram"})
    assert chosen.data.text.standardize == ngram_values["data.text.standardize"]


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
        ({}, {"train.ema_momentum": "1"}, "train.ema_momentum"),
        # the best epoch's raw weights would replace the average the run validated
        ({}, {"train.ema_momentum": "0.99", "train.early_stopping_patience": "2"}, "train.restore_best_weights=false"),
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


def test_set_none_empties_a_list_as_the_export_flag_does():
    assert cfg.resolve({}, cfg.parse_set(["export.modes=none"])).export.modes == ()
    with pytest.raises(cfg.ConfigError, match="model.cnn.filters"):  # a list that must hold something
        cfg.resolve({}, cfg.parse_set(["model.cnn.filters=none"]))


def test_a_folder_given_as_config_file_is_named_as_a_folder(tmp_path):
    with pytest.raises(cfg.ConfigError, match=f"--config {tmp_path}: a folder"):
        cfg.load_config_file(tmp_path)


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


# ------------------------------------------------------------------ per-task configs (issue 13)


def test_a_run_config_names_only_its_own_task_sections():
    image = cfg.to_dict(cfg.defaults("image_classification"))
    assert set(image["data"]) - set(cfg.to_dict(cfg.DataConfig())) == {"image"}
    assert set(image["model"]) == {"family", "cnn"}
    speech = cfg.to_dict(cfg.defaults("keyword_spotting"))
    assert {"family", "mfcc", "ds_cnn", "cnn"} <= set(speech["model"]) and "audio" in speech["data"]
    assert not {"lstm", "transformer", "two_tower", "ranking"} & set(speech["model"])
    assert not {"image", "text", "recsys"} & set(speech["data"])
    assert set(image) == set(speech) == {"task", "preset", "name", "run_dir", "seed", "data", "model", "train", "export"}


def test_another_tasks_key_is_refused_naming_the_keys_that_exist():
    with pytest.raises(cfg.ConfigError) as error:
        cfg.resolve({}, {"model.lstm.units": "32"})
    message = str(error.value)
    assert "'model.lstm.units'" in message and "family, cnn" in message and "\n" not in message
    with pytest.raises(cfg.ConfigError, match="data.audio"):
        cfg.resolve({"data": {"audio": {"sample_rate": 8000}}})


@pytest.mark.parametrize("task", TASK_NAMES)
def test_every_task_has_default_quick_and_tiny_presets_that_resolve(task):
    spec = task_spec(task)
    assert set(spec.presets) == set(cfg.PRESETS)
    assert spec.new_config().model.family in spec.model.families  # the default family is one of them
    for preset in cfg.PRESETS:
        config = cfg.defaults(task, preset)
        assert config.task == task and config.preset == preset
        assert config.data.source, "every task has a default data source"
    # tiny is its own, smaller setting, not an alias of the default
    default = cfg.to_dict(cfg.defaults(task))
    assert cfg.to_dict(cfg.defaults(task, "tiny")) != default


def test_saved_config_from_before_the_split_still_resumes(tmp_path):
    """config.json files written before the per-task split hold every domain's sections at their
    defaults: they still load, and their backup still resumes."""
    from kerasuite.training.runner import check_resumable

    config = cfg.resolve({}, {"model.cnn.filters": "4,8", "seed": "7"})
    legacy = cfg.to_dict(config)
    del legacy["preset"]
    for other in TASK_NAMES:
        other_config = cfg.to_dict(task_spec(other).new_config())  # sections at their dataclass defaults
        for part in ("data", "model"):
            for name, value in other_config[part].items():
                if isinstance(value, dict) and name not in legacy[part]:
                    legacy[part][name] = value
    assert "lstm" in legacy["model"] and "recsys" in legacy["data"]
    del legacy["data"]["audio"]["gain_db_range"]  # a field added after the file was written
    assert cfg.resolve(legacy) == config
    run_dir = tmp_path / "run"
    (run_dir / "backup").mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps(legacy))
    check_resumable(run_dir, config)  # no error
    changed = cfg.resolve({}, {"model.cnn.filters": "4,16", "seed": "7"})
    with pytest.raises(UserError, match="model.cnn.filters"):
        check_resumable(run_dir, changed)
    # a section of another task that was changed is not silently dropped
    legacy["model"]["lstm"]["units"] = [8]
    with pytest.raises(cfg.ConfigError, match="model.lstm"):
        cfg.resolve(legacy)


def test_export_modes_are_defined_once():
    import dataclasses

    parity_modes = [f.name for f in dataclasses.fields(cfg.ParityConfig) if f.name != "max_examples"]
    assert tuple(parity_modes) == cfg.EXPORT_MODES


def test_task_families_match_their_config_and_hparams_name_the_familys_sections():
    from kerasuite.tasks import get_task
    from kerasuite.training.fit import logged_hparams

    for task in TASK_NAMES:
        assert set(get_task(task).families) == set(task_spec(task).model.families), task
    ranking = logged_hparams(cfg.resolve({}, {"task": "ranking", "model.family": "mlp"}))
    assert ranking["ranking.embedding_dim"] == cfg.defaults("ranking").model.ranking.embedding_dim
    speech = logged_hparams(cfg.defaults("keyword_spotting"))
    assert {"mfcc.num_mel_bins", "ds_cnn.filters"} <= set(speech) and "cnn.filters" not in speech


@pytest.mark.parametrize("task", TASK_NAMES)
@pytest.mark.parametrize("preset", ["default", "tiny"])
def test_a_saved_run_config_reads_back_as_it_was_saved(tmp_path, task, preset):
    config = cfg.resolve({}, {}, {"task": task, "preset": preset})
    cfg.save(config, tmp_path / "config.json")
    assert cfg.to_dict(cfg.resolve_saved(tmp_path / "config.json")) == cfg.to_dict(config)


def test_a_saved_run_config_from_before_a_key_existed_gets_its_old_behaviour_not_todays_preset(tmp_path):
    # a 16-interest history_two_tower run saved before model.two_tower.members existed; the family's
    # preset now says members=3, which does not combine with 16 interests
    config = cfg.resolve({}, {"model.two_tower.interests": "16", "model.two_tower.members": "1"},
                         {"task": "retrieval", "model.family": "history_two_tower"})
    saved = cfg.to_dict(config)
    del saved["model"]["two_tower"]["members"]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    with pytest.raises(cfg.ConfigError, match="members"):
        cfg.resolve(cfg.load_config_file(tmp_path / "config.json"))  # a user's --config file: presets apply
    old = cfg.resolve_saved(tmp_path / "config.json")
    assert old.model.two_tower.members == 1 and old.model.two_tower.interests == 16
    assert old.train.epochs == config.train.epochs and old.model.family == "history_two_tower"


def test_the_keyword_int16x8_profile_resolves_to_what_the_readme_measured():
    """configs/keyword_spotting_int16x8.json: the settings of results/speech_int16x8.json (the
    README's int16x8 table), exported as float32 and int16x8."""
    from helpers import REPO

    profile = REPO / "configs" / "keyword_spotting_int16x8.json"
    config = cfg.resolve(cfg.load_config_file(profile), {}, {})
    assert config.task == "keyword_spotting" and config.export.modes == ("float32", "int16x8")
    assert (config.model.ds_cnn.filters, config.model.mfcc.amin, config.model.mfcc.pairwise_max) == (96, 0.002, True)
    assert config.model.kws_training.logit_penalty == 0.1
    assert (config.data.audio.noise_snr_db_min, config.data.audio.noise_snr_db_max) == (20, 40)
    measured = json.loads((REPO / "results" / "speech_int16x8.json").read_text())["command"]
    for key, value in (("model.ds_cnn.filters", "96"), ("model.mfcc.amin", "0.002"), ("model.mfcc.pairwise_max", "true"),
                       ("model.kws_training.logit_penalty", "0.1"), ("data.audio.noise_snr_db_min", "20"),
                       ("data.audio.noise_snr_db_max", "40")):
        assert f"{key}={value}" in measured, key
    assert "--quantized int16x8" in measured
