"""Hostile input, over every registered task: each refusal is one line naming the culprit, exit 2
(1 for a training failure), no traceback, and no half-written run (no metrics.json, no
model.keras, no config.json when the input is refused before work starts)."""

import json
import math
import struct
import wave
from pathlib import Path

import pytest

from helpers import assert_one_line_error, run_cli, run_main, write_digit_pngs
from kerasuite.tasks import TASK_NAMES


def assert_nothing_written(run_dir: Path) -> None:
    """A refused run leaves no run folder at all (or, if it existed, no new files in it)."""
    assert not run_dir.exists() or not any(run_dir.iterdir()), sorted(p.name for p in run_dir.iterdir())


def refuse(capsys, tmp_path, *args: str, code: int = 2, culprits: tuple[str, ...] = ()) -> None:
    run_dir = tmp_path / "run"
    done = run_main(capsys, "--run-dir", str(run_dir), "--export", "none", *args)
    assert_one_line_error(done, code, *culprits)
    assert_nothing_written(run_dir)


def write_wav(path: Path, seconds: float = 0.25, rate: int = 16000, freq: float = 440.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    samples = [int(8000 * math.sin(2 * math.pi * freq * i / rate)) for i in range(int(seconds * rate))]
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(struct.pack(f"<{len(samples)}h", *samples))


# ------------------------------------------------------------------------------ usage and config


def test_unknown_flag_is_one_line_in_a_real_process(tmp_path):
    # Refused by argparse before TensorFlow loads, so this real subprocess is cheap.
    done = run_cli("kerasuite.train", "--run-dir", str(tmp_path / "run"), "--bogus-flag", "3")
    assert_one_line_error(done, 2, "--bogus-flag")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args,culprit", [
    (["--epochs", "many"], "--epochs"),
    (["--strategy", "parameter_server"], "--strategy"),
    (["--task", "weather"], "--task 'weather'"),
    (["--set", "train.epochs"], "train.epochs"),
    (["--set", "train.epochs=-1"], "train.epochs"),
    (["--set", "train.learning_rate=fast"], "train.learning_rate"),
])
def test_bad_flag_values_are_refused(tmp_path, capsys, args, culprit):
    refuse(capsys, tmp_path, *args, culprits=(culprit,))


@pytest.mark.parametrize("name,text,culprit", [
    ("bad.json", '{"train": {"epochs": 3,}', "not valid json"),
    ("bad.yaml", "train: [epochs: 3\n", "not valid yaml"),
    ("list.json", "[1, 2]", "mapping"),
    ("typed.json", '{"train": {"epochs": "many"}}', "train.epochs"),
    ("unknown.json", '{"train": {"epoch": 3}}', "train.epoch"),
])
def test_malformed_config_file_is_refused(tmp_path, capsys, name, text, culprit):
    path = tmp_path / name
    path.write_text(text)
    run_dir = tmp_path / "run"
    done = run_main(capsys, "--run-dir", str(run_dir), "--config", str(path))
    assert_one_line_error(done, 2, culprit)
    assert_nothing_written(run_dir)


# --------------------------------------------------------------------------- every task, generic


@pytest.mark.parametrize("task", TASK_NAMES)
def test_unknown_model_family_is_refused(tmp_path, capsys, task):
    refuse(capsys, tmp_path, "--task", task, "--model", "resnet", culprits=("--model 'resnet'", task))


@pytest.mark.parametrize("task", TASK_NAMES)
@pytest.mark.parametrize("scheme", ["folder", "csv"])
def test_missing_data_path_is_refused(tmp_path, capsys, task, scheme):
    missing = tmp_path / "no-such-data"
    refuse(capsys, tmp_path, "--task", task, "--data", f"{scheme}:{missing}", culprits=(str(missing),))


@pytest.mark.parametrize("task", TASK_NAMES)
def test_empty_folder_is_refused(tmp_path, capsys, task):
    empty = tmp_path / "empty"
    empty.mkdir()
    refuse(capsys, tmp_path, "--task", task, "--data", f"folder:{empty}", culprits=(str(empty),))


@pytest.mark.parametrize("task", TASK_NAMES)
def test_one_class_folder_is_refused(tmp_path, capsys, task):
    # One class folder holding a file of every kind a task reads (.png, .wav, .txt).
    data = tmp_path / "data"
    write_digit_pngs(data, per_class=3, classes=(7,))
    write_wav(data / "7" / "clip.wav")
    (data / "7" / "note.txt").write_text("seven")
    refuse(capsys, tmp_path, "--task", task, "--data", f"folder:{data}", culprits=(str(data),))


def write_class_files(folder: Path, label: str) -> None:
    """One file of every kind a class-folder task reads (.png, .wav, .txt) in ``folder/label``."""
    write_digit_pngs(folder, per_class=1, classes=(int(label),))
    write_wav(folder / label / "clip.wav")
    (folder / label / "note.txt").write_text(f"digit {label}")


@pytest.mark.parametrize("task", ["image_classification", "text_classification", "keyword_spotting"])
@pytest.mark.parametrize("layout,culprits", [
    ("val_class_not_in_train", ("val/ has classes not in train/: 9",)),
    ("val_and_dev", ("dev/", "val/")),
])
def test_a_bad_validation_folder_is_refused(tmp_path, capsys, task, layout, culprits):
    data = tmp_path / "data"
    for split in ("train", "test", "val"):
        for label in ("1", "2"):
            write_class_files(data / split, label)
    if layout == "val_class_not_in_train":
        write_class_files(data / "val", "9")
    else:
        write_class_files(data / "dev", "1")
    refuse(capsys, tmp_path, "--task", task, "--data", f"folder:{data}", culprits=(str(data), *culprits))


@pytest.mark.parametrize("task", TASK_NAMES)
def test_csv_with_wrong_columns_is_refused(tmp_path, capsys, task):
    path = tmp_path / "data.csv"
    path.write_text("colour,size\nred,1\nblue,2\ngreen,3\n" * 10)
    refuse(capsys, tmp_path, "--task", task, "--data", f"csv:{path}", culprits=(str(path),))


@pytest.mark.parametrize("task", TASK_NAMES)
def test_run_folder_that_cannot_be_created_is_refused(tmp_path, capsys, task):
    # Tests run as root, for whom chmod does not stop writes: a path below a regular file can
    # never be created by anyone.
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    done = run_main(capsys, "--task", task, "--run-dir", str(blocker / "run"), "--export", "none")
    assert_one_line_error(done, 2, "--run-dir", str(blocker))
    assert blocker.read_text() == "not a folder"


def test_export_folder_that_cannot_be_created_is_refused_before_training(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    run_dir = tmp_path / "run"
    done = run_main(capsys, "--run-dir", str(run_dir), "--export", "float32", "--set", f"export.dir={blocker / 'bundle'}")
    assert_one_line_error(done, 2, "export.dir", str(blocker))
    assert_nothing_written(run_dir)


# ------------------------------------------------------------------------------ bad data content


def test_corrupt_image_is_named_and_can_be_skipped(tmp_path, capsys):
    data = tmp_path / "data"
    write_digit_pngs(data, per_class=10, classes=(0, 1))
    bad = data / "1" / "truncated.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)  # a PNG signature and nothing usable
    refuse(capsys, tmp_path, "--data", f"folder:{data}", culprits=(str(bad), "data.skip_bad_files"))

    run_dir = tmp_path / "skipping"
    done = run_main(capsys, "--run-dir", str(run_dir), "--export", "none", "--data", f"folder:{data}", "--set",
                    "data.skip_bad_files=true", "train.epochs=1", "train.verbose=0", "data.image.height=8",
                    "data.image.width=8", "model.cnn.filters=4", "model.cnn.convs_per_block=1", "model.cnn.dense_units=8")
    assert done.returncode == 0, done.stderr
    assert json.loads((run_dir / "metrics.json").read_text())["skipped_files"] == 1


def test_corrupt_audio_clip_is_named(tmp_path, capsys):
    data = tmp_path / "data"
    for word in ("yes", "no"):
        for i in range(10):  # enough clips that the default split holds some out for testing
            write_wav(data / word / f"{i}.wav", freq=300 + 50 * i)
    bad = data / "no" / "broken.wav"
    bad.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage")
    refuse(capsys, tmp_path, "--task", "keyword_spotting", "--data", f"folder:{data}", culprits=(str(bad),))


def test_non_finite_rating_is_refused(tmp_path, capsys):
    path = tmp_path / "ratings.csv"
    rows = [f"u{u},i{i},{(u + i) % 5 + 1}" for u in range(8) for i in range(6)]
    rows[5] = "u0,i5,nan"
    path.write_text("user_id,item_id,rating\n" + "\n".join(rows) + "\n")
    refuse(capsys, tmp_path, "--task", "ranking", "--data", f"csv:{path}", culprits=(str(path),))


# -------------------------------------------------------------------------- .keras from elsewhere


def _parity_run_folder(tmp_path: Path, model) -> Path:
    """A run folder as `kerasuite.parity` expects (config, model, a bundle file), holding ``model``."""
    from kerasuite import config as cfg

    run_dir = tmp_path / "run"
    config = cfg.resolve({"data": {"source": "builtin:digits", "image": {"height": 8, "width": 8}},
                          "export": {"dir": str(tmp_path / "bundle")}})
    cfg.save(config, run_dir / "config.json")
    (tmp_path / "bundle").mkdir()
    (tmp_path / "bundle" / "model_float32.tflite").write_bytes(b"never read: the model is refused first")
    if isinstance(model, bytes):
        (run_dir / "model.keras").write_bytes(model)
    else:
        model.save(run_dir / "model.keras")
    return run_dir


def _parity(capsys, run_dir: Path):
    import subprocess

    from kerasuite.export.rerun import main

    capsys.readouterr()
    code = main([str(run_dir)])
    captured = capsys.readouterr()
    return subprocess.CompletedProcess([], code, captured.out, captured.err)


def test_keras_file_with_a_lambda_layer_is_refused_by_safe_mode(tmp_path, capsys):
    import keras

    image = keras.Input((8, 8, 1), name="image")
    # Arbitrary Python inside the file: what safe_mode exists to refuse.
    hidden = keras.layers.Lambda(lambda x: x * 2.0)(image)
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(hidden))
    run_dir = _parity_run_folder(tmp_path, keras.Model({"image": image}, outputs))
    done = _parity(capsys, run_dir)
    assert_one_line_error(done, 2, str(run_dir / "model.keras"), "Lambda", "safe_mode")
    assert not (tmp_path / "bundle" / "parity.json").exists()


def test_keras_file_that_is_not_a_model_is_refused(tmp_path, capsys):
    run_dir = _parity_run_folder(tmp_path, b"PK\x03\x04 not really a zip")
    done = _parity(capsys, run_dir)
    assert_one_line_error(done, 2, str(run_dir / "model.keras"), "not a loadable Keras model")
