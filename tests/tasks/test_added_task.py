"""Adding a domain is one module plus one registration line.

``tabular_regression.py`` (beside this file) is a complete task that nothing under ``kerasuite/``
knows; registering its spec is the only other step. It then trains through the real CLI entry,
exports float32 and int8 and passes parity like every built-in task.
"""

import json
import os

import numpy as np
import pytest

import kerasuite.tasks
import tabular_regression
from harness import check_task_model_and_data, check_task_run
from helpers import assert_one_line_error, run_main


@pytest.fixture
def registered():
    kerasuite.tasks.register(tabular_regression.SPEC)  # the one registration line
    yield
    kerasuite.tasks.unregister(tabular_regression.SPEC.name)


def write_csv(path, rows=400, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 4)) * [1.0, 3.0, 0.5, 10.0] + [0.0, 5.0, -1.0, 100.0]
    target = 0.8 * x[:, 0] - 0.3 * x[:, 1] + np.sin(2 * x[:, 2]) + 0.02 * (x[:, 3] - 100) + rng.normal(0, 0.1, rows)
    lines = ["a,b,c,d,target"] + [",".join(f"{v:.5f}" for v in (*features, y)) for features, y in zip(x, target)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_task_from_outside_the_package_trains_exports_and_passes_parity(registered, tmp_path, capsys):
    from kerasuite.train import main

    data = write_csv(tmp_path / "rows.csv")
    assert "tabular_regression" in kerasuite.tasks.TASK_NAMES
    code = main(["--task", "tabular_regression", "--data", f"csv:{data}", "--run-dir", str(tmp_path / "run"),
                 "--export", "float32,int8", "--set", "preset=tiny", f"export.dir={tmp_path / 'bundle'}"])
    assert code == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "run" / "metrics.json").read_text())
    # the shared checks every registered task goes through (tests/tasks/test_all_tasks.py)
    check_task_run("tabular_regression", tmp_path, report)
    check_task_model_and_data("tabular_regression", tmp_path, tmp_path / "round_trip")
    # trained, not just run: the model beats predicting the training mean
    assert report["baseline"]["beaten"], report["baseline"]
    assert report["eval"]["rmse"] < 0.8 * report["eval"]["mean_baseline_rmse"], report["eval"]
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert set(config["model"]) == {"family", "mlp"}, "a run's config names only its own task's sections"
    signature = json.loads((tmp_path / "bundle" / "signature.json").read_text())
    assert signature["preprocessing"]["features"] == ["a", "b", "c", "d"]


def test_added_task_gets_the_same_config_checks(registered, tmp_path, capsys):
    data = write_csv(tmp_path / "rows.csv", rows=20)
    done = run_main(capsys, "--task", "tabular_regression", "--data", f"csv:{data}", "--set", "model.lstm.units=8")
    assert_one_line_error(done, 2, "model.lstm")
    done = run_main(capsys, "--task", "tabular_regression", "--data", f"csv:{data}", "--set", "model.mlp.hidden_units=0")
    assert_one_line_error(done, 2, "model.mlp.hidden_units")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,target\n1,2\n3,x\n")
    done = run_main(capsys, "--task", "tabular_regression", "--data", f"csv:{bad}", "--run-dir", str(tmp_path / "run"))
    assert_one_line_error(done, 2, f"{bad}:3")
    assert not (tmp_path / "run").exists()


def test_registration_refuses_a_taken_name_and_is_undone():
    import dataclasses

    with pytest.raises(ValueError, match="already registered"):
        kerasuite.tasks.register(dataclasses.replace(tabular_regression.SPEC, name="ranking"))
    kerasuite.tasks.register(tabular_regression.SPEC)
    kerasuite.tasks.unregister(tabular_regression.SPEC.name)
    assert "tabular_regression" not in kerasuite.tasks.TASK_NAMES


def test_an_installed_package_registers_its_task_by_entry_point(tmp_path):
    """What a pip-installed plugin does: one ``kerasuite.tasks`` entry point in its metadata; a
    fresh process (here the CLI's config check) then knows the task without any register call."""
    from pathlib import Path

    from helpers import REPO, run_cli

    site = tmp_path / "site"
    metadata = site / "tabular_plugin-1.0.dist-info"
    metadata.mkdir(parents=True)
    (metadata / "METADATA").write_text("Metadata-Version: 2.1\nName: tabular-plugin\nVersion: 1.0\n")
    (metadata / "entry_points.txt").write_text("[kerasuite.tasks]\ntabular_regression = tabular_regression:SPEC\n")
    path = os.pathsep.join([str(REPO), str(site), str(Path(tabular_regression.__file__).parent)])
    data = write_csv(tmp_path / "rows.csv", rows=20)
    done = run_cli("kerasuite.train", "--task", "tabular_regression", "--data", f"csv:{data}",
                   "--set", "model.mlp.hidden_units=0", env={"PYTHONPATH": path})
    assert_one_line_error(done, 2, "model.mlp.hidden_units")  # the plugin's own rule, so its spec was loaded
    done = run_cli("kerasuite.train", "--task", "tabular_regression", "--data", f"csv:{data}",
                   "--set", "model.mlp.hidden_units=0")
    assert_one_line_error(done, 2, "--task 'tabular_regression'")  # not installed: unknown task


def test_a_broken_entry_point_is_a_one_line_error(tmp_path):
    from helpers import REPO, run_cli

    site = tmp_path / "site"
    metadata = site / "broken_plugin-1.0.dist-info"
    metadata.mkdir(parents=True)
    (metadata / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (metadata / "entry_points.txt").write_text("[kerasuite.tasks]\nbroken = no_such_module_here:SPEC\n")
    done = run_cli("kerasuite.train", "--task", "broken", env={"PYTHONPATH": f"{REPO}{os.pathsep}{site}"})
    assert_one_line_error(done, 2, "'broken'", "no_such_module_here")
