"""Every registered task goes through the same train -> export -> parity -> edge checks.

A new task cannot skip them: the loop is over the registry, and each task's ``tiny`` preset
(in its ``kerasuite/tasks/<task>_config.py``) is what runs here.
"""

import pytest

from harness import check_task_model_and_data, check_task_run
from helpers import run_cli
from kerasuite.tasks import TASK_NAMES


def test_every_registered_task_has_a_tiny_preset():
    from kerasuite.tasks import task_spec

    missing = sorted(task for task in TASK_NAMES if not task_spec(task).presets.get("tiny"))
    assert not missing, f"add a 'tiny' preset to the TaskSpec of {missing}"


@pytest.mark.parametrize("task", TASK_NAMES)
def test_task_trains_exports_and_passes_parity(tiny_run, task):
    folder, report = tiny_run(task)
    check_task_run(task, folder, report)


@pytest.mark.parametrize("task", TASK_NAMES)
def test_saved_model_reloads_safely_and_data_splits_are_sound(tiny_run, task, tmp_path):
    folder, _ = tiny_run(task)
    check_task_model_and_data(task, folder, tmp_path)


@pytest.mark.parametrize("task", TASK_NAMES)
def test_edge_runner_checks_golden_outputs(tiny_run, task):
    folder, _ = tiny_run(task)
    bundle = folder / "bundle"
    done = run_cli("kerasuite.edge", str(bundle / "model_int8.tflite"), "--check", str(bundle / "golden.npz"), "--runs", "3")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "golden check passed" in done.stdout
