"""Usage mistakes (issue 17) and wrong values (issue 18, item 5): one line naming the flag or key,
exit 2, and no TensorFlow imported to find them out."""

import json
import subprocess
import sys

import pytest

from helpers import REPO, assert_one_line_error, run_main

LONG = "x" * 300

# (arguments, what the one line must name)
BAD_VALUES = [
    (["--seed", "-1"], "seed"),
    (["--seed", "99999999999"], "seed"),
    (["--set", "model.cnn.filters="], "model.cnn.filters"),
    (["--set", "model.cnn.pooling=bogus"], "model.cnn.pooling"),
    (["--set", "model.cnn.dropout=1.5"], "model.cnn.dropout"),
    (["--set", "data.image.height=0"], "data.image.height"),
    (["--set", "data.image.channels=2"], "data.image.channels"),
    (["--set", "data.image.cifar100_labels=both"], "data.image.cifar100_labels"),
    (["--set", "train.optimizer=adagrad"], "train.optimizer"),
    (["--set", "export.parity.int8.min_agreement=1.5"], "export.parity.int8.min_agreement"),
    (["--set", "train.steps_per_epoch=-1"], "train.steps_per_epoch"),
    (["--task", "keyword_spotting", "--set", "model.mfcc.num_mel_bins=0"], "model.mfcc.num_mel_bins"),
    (["--task", "ranking", "--set", "model.ranking.embedding_dim=0"], "model.ranking.embedding_dim"),
    (["--set", "data.test_fraction=0"], "data.test_fraction"),
    (["--task", "retrieval", "--set", "model.two_tower.top_k=0"], "model.two_tower.top_k"),
    (["--set", "train.learning_rate=nan"], "train.learning_rate"),
    (["--set", "train.learning_rate=inf"], "train.learning_rate"),
    (["--set", "export.threads=0"], "export.threads"),
    (["--set", "export.golden_examples=0"], "export.golden_examples"),
    (["--set", "data.limit=-1"], "data.limit"),
    (["--run-dir", f"runs/{LONG}"], "--run-dir"),
    (["--set", f"name={LONG}"], "name"),
    (["--set", f"export.dir=exports/{LONG}"], "export.dir"),
    (["--task", "text_classification", "--set", "model.transformer.num_heads=3"], "num_heads"),
    (["--task", "keyword_spotting", "--set", "model.mfcc.upper_hz=9000"], "model.mfcc.upper_hz"),
    (["--task", "retrieval", "--model", "history_two_tower", "--set", "model.two_tower.interests=2",
      "model.two_tower.use_user_id=true"], "model.two_tower.interests"),
    # the family's own default is 3 members: the line says how to get several interests
    (["--task", "retrieval", "--model", "history_two_tower", "--set", "model.two_tower.interests=16"],
     "add model.two_tower.members=1"),
    (["--task", "retrieval", "--set", "model.two_tower.interests=2"], "model.two_tower.interests"),
    (["--task", "retrieval", "--set", "model.two_tower.members=2"], "model.two_tower.members"),
    (["--task", "retrieval", "--model", "history_two_tower", "--set", "model.two_tower.members=2",
      "model.two_tower.interests=4"], "model.two_tower.members"),
    (["--task", "retrieval", "--model", "history_two_tower", "--set", "model.two_tower.members=2",
      "model.two_tower.softmax=catalogue"], "model.two_tower.softmax"),
    (["--task", "keyword_spotting", "--set", "model.mfcc.power=3"], "model.mfcc.power"),
    (["--task", "keyword_spotting", "--set", "model.mfcc.frame_step=7"], "model.mfcc.frame_step"),
    (["--task", "keyword_spotting", "--set", "model.mfcc.mel_low_gain=200"], "model.mfcc.mel_low_gain"),
    (["--task", "keyword_spotting", "--set", "model.mfcc.magnitude_directions=2"], "model.mfcc.magnitude_directions"),
    (["--task", "keyword_spotting", "--set", "model.mfcc.frames_per_group=-1"], "model.mfcc.frames_per_group"),
    # TensorFlow's 16x8 quantizer cannot calibrate integer inputs: refused before TensorFlow starts
    (["--task", "text_classification", "--export", "float32,int16x8"], "int16x8"),
    (["--task", "retrieval", "--export", "int16x8"], "int16x8"),
    (["--task", "ranking", "--set", "export.modes=int16x8"], "int16x8"),
    # a csv: source's column names: empty, or one column named for two things
    (["--task", "text_classification", "--set", "data.text.text_column="], "data.text.text_column"),
    (["--task", "text_classification", "--set", "data.text.label_column=Review", "data.text.text_column=review"],
     "data.text.text_column and data.text.label_column"),
    (["--task", "text_classification", "--set", "data.text.text_column=,"], "data.text.text_column: names no column"),
    (["--task", "text_classification", "--set", "data.text.text_column=title,Title"], "names the column 'Title' twice"),
    # a file without a header row: columns by number, from 1, each read once
    (["--task", "text_classification", "--set", "data.text.header=false"],
     "data.text.label_column: data.text.header=false reads columns by number"),
    (["--task", "text_classification", "--set", "data.text.header=false", "data.text.label_column=0",
      "data.text.text_column=2"], "data.text.label_column"),
    (["--task", "text_classification", "--set", "data.text.header=false", "data.text.label_column=1",
      "data.text.text_column=2,title"], "data.text.text_column: data.text.header=false"),
    (["--task", "text_classification", "--set", "data.text.header=false", "data.text.label_column=1",
      "data.text.text_column=2,02"], "names the column '02' twice"),
    (["--task", "text_classification", "--set", "data.text.header=false", "data.text.label_column=2",
      "data.text.text_column=3,2"], "data.text.text_column and data.text.label_column"),
    (["--task", "text_classification", "--set", "data.text.header=maybe"], "data.text.header: expected true or false"),
    (["--task", "retrieval", "--set", "data.recsys.item_column= "], "data.recsys.item_column"),
    (["--task", "ranking", "--set", "data.recsys.item_column=userId"], "data.recsys.user_column and data.recsys.item_column"),
]
BAD_USAGE = [
    (["--set", "model.lstm.units=32"], "model.lstm.units"),  # another task's key
    (["--set", "bogus.key=1"], "bogus.key"),
    (["--task", "text_classification", "--set", "data.text.text_col=review"], "data.text.text_column"),
    (["--task", "retrieval", "--set", "data.recsys.movie_column=movieId"], "data.recsys.movie_column"),
    (["--set", "train.epochs=abc"], "train.epochs"),
    (["--task", "nope"], "--task 'nope'"),
    (["--model", "resnet"], "--model 'resnet'"),
    (["--task", "ranking", "--model", "cnn"], "--model 'cnn'"),
    (["--config", "/no/such/config.yaml"], "/no/such/config.yaml"),
    (["--data", "folder:/no/such/folder"], "/no/such/folder"),
    (["--data", "csv:x.csv"], "csv:x.csv: no such file or folder"),
    (["--task", "keyword_spotting", "--data", "csv:x.csv"], "--data 'csv:x.csv'"),  # keyword spotting reads no CSV
    (["--task", "ranking", "--data", "csv:/no/such.csv"], "/no/such.csv"),
    (["--export", "int4"], "int4"),
    (["--preset", "huge"], "--preset"),
    (["--strategy", "multi_worker"], "TF_CONFIG"),  # no cluster described
    # generated sources are named by each task's data section, checked before TensorFlow too
    (["--data", "synthetic:nope"], "synthetic:blobs"),
    (["--data", "builtin:mnist"], "builtin:digits"),
    (["--task", "text_classification", "--data", "synthetic:topics-1"], "synthetic:topics-1"),
    (["--task", "keyword_spotting", "--data", "synthetic:blobs"], "synthetic:tones"),
    (["--task", "retrieval", "--data", "synthetic:clusters,users=x"], "users"),
]


@pytest.mark.parametrize("args,culprit", BAD_VALUES + BAD_USAGE, ids=lambda v: " ".join(v)[:60] if isinstance(v, list) else None)
def test_bad_value_or_usage_is_one_line_exit_2(tmp_path, capsys, monkeypatch, args, culprit):
    monkeypatch.chdir(tmp_path)  # relative run and export folders land here, never in the repo
    run_dir = ["--run-dir", str(tmp_path / "run")] if "--run-dir" not in args else []
    done = run_main(capsys, *run_dir, *args)
    assert_one_line_error(done, 2, culprit)
    assert not (tmp_path / "run").exists()


def test_another_tasks_key_names_the_keys_that_exist(capsys, tmp_path):
    done = run_main(capsys, "--run-dir", str(tmp_path / "run"), "--set", "model.lstm.units=32")
    assert_one_line_error(done, 2, "model.lstm.units", "family, cnn")


def test_finished_run_is_refused_before_tensorflow(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "metrics.json").write_text("{}")
    done = run_main(capsys, "--run-dir", str(run_dir), "--epochs", "1")
    assert_one_line_error(done, 2, str(run_dir), "--overwrite")


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]], ids=["resume", "overwrite"])
def test_a_folder_that_holds_no_run_is_refused_untouched(tmp_path, capsys, monkeypatch, overwrite):
    """``--run-dir .`` in a project: its own config.json must not be taken for a run's, to be
    replaced (a rerun) or deleted with everything beside it (--overwrite)."""
    monkeypatch.chdir(tmp_path)  # were it not refused, its bundle would land here, not in the repo
    project = tmp_path / "project"
    project.mkdir()
    (project / "config.json").write_text('{"learning_rate": 0.1}')
    (project / "thesis.tex").write_text("three years of work")
    done = run_main(capsys, "--run-dir", str(project), "--epochs", "1", "--export", "none", *overwrite)
    assert_one_line_error(done, 2, "--run-dir", str(project), "config.json")
    assert sorted(p.name for p in project.iterdir()) == ["config.json", "thesis.tex"]
    assert (project / "config.json").read_text() == '{"learning_rate": 0.1}'


def _main_in_fresh_python(cases: list[list[str]], cwd, env: dict[str, str] | None = None) -> dict:
    """Exit codes of ``kerasuite.train.main`` for each argument list, run in one new interpreter,
    and the heavy modules that interpreter imported on the way."""
    import os

    code = (
        "import json, sys\n"
        "from kerasuite.train import main\n"
        f"codes = [main(args) for args in json.loads({json.dumps(json.dumps(cases))})]\n"
        # numpy too: it alone doubles the time to a usage error (0.7 s of imports on a loaded machine)
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'numpy'))\n"
        "print(json.dumps({'codes': codes, 'heavy': heavy}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(cwd),
                          env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})}, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_usage_errors_do_not_import_tensorflow(tmp_path):
    """Every case above, in one fresh interpreter: none of them may load TensorFlow, Keras or numpy."""
    finished = tmp_path / "finished"
    finished.mkdir()
    (finished / "metrics.json").write_text("{}")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    cases = [["--run-dir", str(tmp_path / "run"), *args] for args, _ in BAD_VALUES + BAD_USAGE]
    cases += [["--run-dir", str(finished)], ["--config", str(broken)]]
    result = _main_in_fresh_python(cases, tmp_path)
    assert result["codes"] == [2] * len(cases)
    assert result["heavy"] == []


def test_a_movielens_download_pointed_at_wrongly_is_refused_before_numpy(tmp_path, capsys):
    """A predefined split's test half, a training half without its test half, a column setting
    for the headerless files: the file names show them, so the config refuses them in one line
    before numpy or TensorFlow load."""
    folder = tmp_path / "ml-100k"
    folder.mkdir()
    for name in ("u.data", "u1.base", "u1.test", "u2.base"):
        (folder / name).write_text("196\t242\t3\t881250949\n")
    cases = [(["--task", "retrieval", "--data", f"csv:{folder / 'u1.test'}"], "point at u1.base"),
             (["--task", "ranking", "--data", f"csv:{folder / 'u2.base'}"], "u2.test is not beside it"),
             (["--task", "retrieval", "--data", f"csv:{folder}", "--set", "data.recsys.user_column=user"],
              "data.recsys.user_column names no column")]
    argv = [[*args, "--run-dir", str(tmp_path / "run")] for args, _ in cases]
    assert _main_in_fresh_python(argv, tmp_path) == {"codes": [2, 2, 2], "heavy": []}
    for args, (_, culprit) in zip(argv, cases):
        assert_one_line_error(run_main(capsys, *args), 2, culprit)


def test_an_image_csv_pointed_at_wrongly_is_refused_before_numpy(tmp_path, capsys):
    """A folder with a training table and no test table, a table without labels (Digit
    Recognizer's test.csv), a pixel count that is not a square: the file names and header rows
    show them, so the config refuses them in one line before numpy or TensorFlow load."""
    half = tmp_path / "fashion"
    half.mkdir()
    (half / "fashion-mnist_train.csv").write_text("label," + ",".join(f"pixel{n}" for n in range(1, 785)) + "\n"
                                                  + "0" + ",0" * 784 + "\n")
    unlabelled = tmp_path / "test.csv"
    unlabelled.write_text(",".join(f"pixel{n}" for n in range(784)) + "\n" + ",".join(["0"] * 784) + "\n")
    oblong = tmp_path / "oblong.csv"
    oblong.write_text("label," + ",".join(f"pixel{n}" for n in range(12)) + "\n" + "1" + ",0" * 12 + "\n")
    cases = [(f"csv:{half}", "fashion-mnist_train.csv and no test file beside it"),
             (f"csv:{unlabelled}", f"{unlabelled} line 1: no label column"),
             (f"csv:{oblong}", f"{oblong} line 1: 12 pixel columns, not a square number")]
    argv = [["--data", data, "--run-dir", str(tmp_path / "run")] for data, _ in cases]
    assert _main_in_fresh_python(argv, tmp_path) == {"codes": [2, 2, 2], "heavy": []}
    for args, (_, culprit) in zip(argv, cases):
        assert_one_line_error(run_main(capsys, *args), 2, culprit)


def test_bad_tf_config_is_refused_before_tensorflow(tmp_path):
    result = _main_in_fresh_python([["--run-dir", str(tmp_path / "run")]], tmp_path, {"TF_CONFIG": "{not json"})
    assert result == {"codes": [2], "heavy": []}


def test_parity_rerun_refuses_a_wrong_folder_before_tensorflow(tmp_path):
    """``python -m kerasuite.parity``: a folder that is no finished run, or whose bundle has no
    .tflite file, is refused in one line (exit 2) without loading TensorFlow or Keras."""
    import os

    empty = tmp_path / "empty"
    empty.mkdir()
    no_bundle = tmp_path / "no_bundle"
    no_bundle.mkdir()
    (no_bundle / "config.json").write_text(json.dumps({"task": "image_classification"}))
    (no_bundle / "model.keras").write_bytes(b"")
    empty_bundle = tmp_path / "empty_bundle"
    empty_bundle.mkdir()
    (empty_bundle / "config.json").write_text(json.dumps({"task": "image_classification",
                                                          "export": {"dir": str(tmp_path / "bundle")}}))
    (empty_bundle / "model.keras").write_bytes(b"")
    (tmp_path / "bundle").mkdir()
    code = (
        "import json, sys\n"
        "from kerasuite.export.rerun import main\n"
        f"codes = [main([path]) for path in {json.dumps([str(empty), str(no_bundle), str(empty_bundle)])}]\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))\n"
        "print(json.dumps({'codes': codes, 'heavy': heavy}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(tmp_path),
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"codes": [2, 2, 2], "heavy": []}
    errors = done.stderr.strip().splitlines()
    assert len(errors) == 3
    assert "missing config.json" in errors[0]
    # a relative bundle folder that is not here: the run was made in another folder
    assert "no such bundle folder" in errors[1] and "run this command from there" in errors[1]
    assert "no model_*.tflite files" in errors[2]


COMMANDS = [["-m", module] for module in ("kerasuite.train", "kerasuite.edge", "kerasuite.export", "kerasuite.parity",
                                          "kerasuite.runtime.recsys")]
COMMANDS += [[str(path.relative_to(REPO))] for path in sorted((REPO / "tools").glob("*.py"))]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: command[-1])
def test_every_command_answers_an_unknown_flag_in_one_line(command):
    """The same refusal everywhere: one line naming the flag, exit 2, not argparse's usage block."""
    import os

    done = subprocess.run([sys.executable, *command, "--no-such-flag"], capture_output=True, text=True, cwd=str(REPO),
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: "), done.stderr[-2000:]
    assert "--no-such-flag" in done.stderr or "required" in done.stderr
    assert done.stdout == ""
