"""Every registered task goes through the same train -> export -> parity -> edge checks.

A new task cannot skip them: the loop is over the registry, and each task's ``tiny`` preset
(in its ``kerasuite/tasks/<task>_config.py``) is what runs here.
"""

import json

import numpy as np
import pytest

from helpers import run_cli
from kerasuite.tasks import TASK_NAMES


def test_every_registered_task_has_a_tiny_preset():
    from kerasuite.tasks import task_spec

    missing = sorted(task for task in TASK_NAMES if not task_spec(task).presets.get("tiny"))
    assert not missing, f"add a 'tiny' preset to the TaskSpec of {missing}"


@pytest.mark.parametrize("task", TASK_NAMES)
def test_task_trains_exports_and_passes_parity(tiny_run, task):
    folder, report = tiny_run(task)
    assert report["task"] == task
    assert report["eval"], "the task reported no metrics"
    assert all(np.isfinite(v) for v in report["eval"].values() if isinstance(v, float))
    bundle = folder / "bundle"
    signature = json.loads((bundle / "signature.json").read_text())
    assert signature["preprocessing"].get("kind"), "device preprocessing must name its kind"
    for mode in ("float32", "int8"):
        entry = report["exports"][mode]
        assert entry["parity"]["passed"], entry["parity"]["failures"]
        assert entry["parity"]["examples"] > 0
        ops = set(entry["ops"])
        assert not any(op.startswith("Flex") or op == "CUSTOM" for op in ops), ops
    assert report["exports"]["float32"]["parity"]["max_abs_diff"] <= 1e-4


@pytest.mark.parametrize("task", TASK_NAMES)
def test_saved_model_reloads_safely_with_identical_outputs(tiny_run, task):
    import keras

    import kerasuite.models  # noqa: F401
    from kerasuite import config as cfg
    from kerasuite.tasks import get_task

    folder, _ = tiny_run(task)
    model = keras.saving.load_model(folder / "run" / "model.keras", safe_mode=True)
    golden = np.load(folder / "bundle" / "golden.npz")
    inputs = {k.split("__", 1)[1]: golden[k] for k in golden.files if k.startswith("input__")}
    config = cfg.resolve(cfg.load_config_file(folder / "run" / "config.json"))
    export_model = get_task(task).export_model(model, get_task(task).load_data(config))
    np.testing.assert_allclose(export_model.predict(inputs, verbose=0), golden["keras_output"], atol=1e-5)


@pytest.mark.parametrize("task", TASK_NAMES)
def test_edge_runner_checks_golden_outputs(tiny_run, task):
    folder, _ = tiny_run(task)
    bundle = folder / "bundle"
    done = run_cli("kerasuite.edge", str(bundle / "model_int8.tflite"), "--check", str(bundle / "golden.npz"), "--runs", "3")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "golden check passed" in done.stdout
