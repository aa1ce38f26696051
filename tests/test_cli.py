"""The train CLI end to end: the run-folder contract, refusals, and a fast --help."""

import json
import subprocess
import sys

import pytest

from helpers import REPO, assert_one_line_error, run_cli, run_main, write_digit_pngs


def test_help_does_not_import_tensorflow():
    code = (
        "import sys; from kerasuite.train import build_parser; build_parser().format_help(); "
        "import kerasuite.edge; kerasuite.edge.build_parser().format_help(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(REPO))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.fixture
def finished_run(tiny_run):
    return tiny_run("image_classification")


def test_run_produces_every_file_of_the_contract(finished_run):
    tmp_path, report = finished_run
    run_dir, bundle = tmp_path / "run", tmp_path / "bundle"
    for name in ("config.json", "model.keras", "metrics.json"):
        assert (run_dir / name).is_file(), name
    events = list((run_dir / "logs").rglob("events.out.tfevents.*"))
    assert {p.parent.name for p in events} >= {"train", "validation"}
    for name in ("model_float32.tflite", "model_int8.tflite", "labels.txt", "signature.json", "golden.npz",
                 "parity.json", "parity_float32.png", "parity_int8.png"):
        assert (bundle / name).is_file(), name
    assert not (run_dir / "backup").exists()  # BackupAndRestore cleans up after a finished run
    assert report["task"] == "image_classification" and report["model"] == "cnn"
    assert set(report["eval"]) >= {"accuracy", "loss"}
    assert set(report["train"]) >= {"epochs", "seconds", "examples_per_second"}
    for mode in ("float32", "int8"):
        entry = report["exports"][mode]
        assert set(entry) >= {"path", "size_bytes", "eval", "parity", "latency_ms"}
        assert entry["parity"]["passed"] is True
        assert entry["size_bytes"] == (bundle / f"model_{mode}.tflite").stat().st_size
    assert report["exports"]["float32"]["parity"]["max_abs_diff"] <= 1e-4
    signature = json.loads((bundle / "signature.json").read_text())
    int8_input = signature["modes"]["int8"]["inputs"][0]
    assert int8_input["dtype"] == "int8" and int8_input["quantization"]["scale"] > 0
    assert signature["preprocessing"]["kind"] == "image"


def test_tensorboard_logs_hold_images_and_hparams(finished_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tmp_path, _ = finished_run
    accumulator = EventAccumulator(str(tmp_path / "run" / "logs" / "validation"), size_guidance={"tensors": 0})
    accumulator.Reload()
    tags = set(accumulator.Tags()["tensors"])
    assert {"confusion_matrix", "samples_true_to_predicted"} <= tags
    assert any("hparams" in tag or tag.startswith("_hparams_") for tag in accumulator.summary_metadata)


def test_rerunning_a_finished_run_is_refused(finished_run):
    tmp_path, _ = finished_run
    done = run_cli("kerasuite.train", "--run-dir", str(tmp_path / "run"), "--epochs", "1")
    assert_one_line_error(done, 2, str(tmp_path / "run"), "--overwrite")


def test_parity_command_rechecks_a_run(finished_run):
    tmp_path, _ = finished_run
    done = run_cli("kerasuite.parity", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "float32  passed" in done.stdout and "int8     passed" in done.stdout


@pytest.mark.parametrize("args,culprit", [
    (["--task", "weather"], "--task 'weather'"),
    (["--set", "train.epoch=2"], "train.epoch"),
    (["--data", "folder:/no/such/folder"], "/no/such/folder"),
    (["--model", "resnet"], "--model 'resnet'"),
    (["--export", "int4"], "int4"),
])
def test_bad_usage_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, args, culprit):
    run_dir = tmp_path / "run"
    done = run_main(capsys, "--run-dir", str(run_dir), *args)
    assert_one_line_error(done, 2, culprit)
    assert not (run_dir / "metrics.json").exists() and not (run_dir / "model.keras").exists()


def test_single_class_folder_is_refused(tmp_path, capsys):
    write_digit_pngs(tmp_path / "data", classes=(3,))
    done = run_main(capsys, "--run-dir", str(tmp_path / "run"), "--data", f"folder:{tmp_path / 'data'}")
    assert_one_line_error(done, 2, "single class", str(tmp_path / "data"))


def test_a_run_on_a_folder_with_val_names_it_in_the_report_and_the_summary(tmp_path, capsys):
    from test_hostile_images import TINY_IMAGE

    data = tmp_path / "data"
    for split, per_class in (("train", 6), ("val", 2), ("test", 2)):
        write_digit_pngs(data, per_class=per_class, classes=(0, 1), split=split)
    run_dir = tmp_path / "run"
    done = run_main(capsys, "--run-dir", str(run_dir), "--export", "none", "--data", f"folder:{data}",
                    "--set", *TINY_IMAGE, "data.validation_fraction=0.5")
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((run_dir / "metrics.json").read_text())["validation_source"] == str(data / "val")
    assert f"validation split read from {data / 'val'}" in done.stdout
    assert "12 training examples; validation from" in done.stdout  # train/ whole, before training starts


def test_an_aclimdb_shaped_folder_warns_of_its_unlabelled_train_class_before_training(tmp_path, capsys):
    data = tmp_path / "aclImdb"
    words = {"neg": "awful dull boring", "pos": "great fine lovely", "unsup": "some movie i saw"}
    for split, classes in (("train", ("neg", "pos", "unsup")), ("test", ("neg", "pos"))):
        for name in classes:
            (data / split / name).mkdir(parents=True)
            for n in range(6):
                (data / split / name / f"{n}.txt").write_text(f"{words[name]} {n}", encoding="utf-8")
    run_dir = tmp_path / "run"
    done = run_main(capsys, "--task", "text_classification", "--preset", "tiny", "--run-dir", str(run_dir),
                    "--export", "none", "--data", f"folder:{data}")
    assert done.returncode == 0, done.stderr[-3000:]
    note = f"{data / 'train' / 'unsup'}: 6 files and none in test/"
    assert json.loads((run_dir / "metrics.json").read_text())["data_notes"][0].startswith(note)
    assert done.stdout.count(note) == 2  # as it loads, and in the summary
    assert done.stdout.index(note) < done.stdout.index("building")  # before training starts
