"""The shared checks every builder, layer and task goes through (keras-hub's test-case idea).

- :func:`run_model_saving_test`: a ``.keras`` round trip loaded with ``safe_mode=True`` (no
  Python in the file), the same input names and dtypes, the same outputs.
- :func:`run_litert_export_test`: the one export path (``kerasuite.export.export_model``) in the
  requested modes, each passing parity against Keras on every applicable runtime with builtin
  ops only (:func:`check_exports` is the same verdict for a trained run's ``exports`` block).
- :func:`run_dataset_test`: a task's batched tf.data split yields ``({input: tensor}, target)``
  with the model's input names, batches no larger than asked, and (unshuffled splits) the same
  data on every pass.

- :func:`check_task_run` and :func:`check_task_model_and_data`: all of the above for a task's
  finished tiny run (run folder + bundle). ``tests/tasks/test_all_tasks.py`` calls them for every
  registered task, so a new task cannot skip them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

FLOAT32_MAX_ABS_DIFF = 1e-4  # what a float32 file may differ from Keras by (rounding only)


def load_keras_file(path: str | Path, compile: bool = True):
    """A ``.keras`` file as the exporter loads it: ``safe_mode=True``, kerasuite's layers registered."""
    import keras

    import kerasuite.models  # noqa: F401  (registers the package's serializable layers)

    return keras.saving.load_model(path, safe_mode=True, compile=compile)


def assert_same_outputs(expected: Any, actual: Any, atol: float = 1e-6) -> None:
    """Equal output structures (one array, a list or a dict of arrays) within ``atol``."""
    import keras

    keras.tree.assert_same_structure(expected, actual)
    keras.tree.map_structure(lambda e, a: np.testing.assert_allclose(np.asarray(a), np.asarray(e), atol=atol),
                             expected, actual)


def run_model_saving_test(model, inputs: Any, tmp_path: Path, atol: float = 1e-6, compile: bool = True):
    """Save ``model``, reload it with ``safe_mode=True`` and compare: input names, input dtypes
    and the outputs on ``inputs`` (called, so training-only layers are inactive). Returns the
    reloaded model for further checks."""
    Path(tmp_path).mkdir(parents=True, exist_ok=True)
    path = Path(tmp_path) / f"{model.name}.keras"
    model.save(path)
    reloaded = load_keras_file(path, compile=compile)
    names = [t.name for t in model.inputs]
    assert [t.name for t in reloaded.inputs] == names, "input names change on reload (name the keras.Input)"
    assert [str(t.dtype) for t in reloaded.inputs] == [str(t.dtype) for t in model.inputs], names
    assert_same_outputs(model(inputs, training=False), reloaded(inputs, training=False), atol)
    return reloaded


def check_exports(exports: Mapping[str, Mapping[str, Any]], modes: Sequence[str],
                  float32_max_abs_diff: float = FLOAT32_MAX_ABS_DIFF) -> None:
    """Every mode converted to builtin ops only and passed parity on held-out examples."""
    for mode in modes:
        entry = exports[mode]
        parity = entry["parity"]
        assert parity["passed"], f"{mode}: {parity['failures']}"
        assert parity["examples"] > 0, f"{mode}: parity compared no examples"
        ops = set(entry["ops"])
        assert ops and not any(op.startswith("Flex") or op == "CUSTOM" for op in ops), f"{mode}: {sorted(ops)}"
        assert "DELEGATE" not in ops, f"{mode}: op list read from a delegated interpreter, not the file: {sorted(ops)}"
    if "float32" in modes:
        assert exports["float32"]["parity"]["max_abs_diff"] <= float32_max_abs_diff, exports["float32"]["parity"]


def run_litert_export_test(model, inputs: Mapping[str, np.ndarray], tmp_path: Path, targets: np.ndarray | None = None,
                           modes: Sequence[str] = ("float32", "int8"), tolerances: Mapping[str, Any] | None = None,
                           representative: Mapping[str, np.ndarray] | None = None, output_spec=None,
                           float32_max_abs_diff: float = FLOAT32_MAX_ABS_DIFF):
    """Export through ``kerasuite.export.export_model`` (held-out = ``inputs`` with ``targets``
    when given, so the metric is compared too; calibration = ``representative`` or ``inputs``)
    and require :func:`check_exports`. ``tolerances`` maps a
    mode to a :class:`~kerasuite.config.ModeTolerance` overriding the default. Returns the report."""
    from kerasuite.export import export_model

    report = export_model(model, representative=representative or inputs, out=Path(tmp_path) / "bundle",
                          heldout={**inputs, **({"target": targets} if targets is not None else {})}, modes=list(modes), tolerances=tolerances, output_spec=output_spec)
    check_exports(report.exports, modes, float32_max_abs_diff)
    return report


def run_dataset_test(dataset, input_names: Sequence[str], batch_size: int, repeatable: bool = True) -> int:
    """Check a batched split; returns its number of examples."""
    import tensorflow as tf

    def read() -> list:
        return [tf.nest.map_structure(np.asarray, batch) for batch in dataset]

    batches = read()
    assert batches, "the split is empty"
    count = 0
    for inputs, targets in batches:
        assert isinstance(inputs, Mapping), "a split must yield ({input_name: tensor}, target) pairs"
        assert sorted(inputs) == sorted(input_names), (sorted(inputs), sorted(input_names))
        rows = {len(value) for value in inputs.values()} | {len(np.asarray(targets))}
        assert len(rows) == 1 and rows.pop() <= batch_size, "inputs and targets must share a batch size"
        count += len(np.asarray(targets))
    if repeatable:
        import keras

        again = read()
        keras.tree.assert_same_structure(batches, again)
        keras.tree.map_structure(np.testing.assert_array_equal, batches, again)
    return count


def check_task_run(task: str, folder: Path, report: Mapping[str, Any], modes: Sequence[str] = ("float32", "int8")) -> None:
    """A finished run of ``task`` (``folder/run``, ``folder/bundle``): finite metrics, a device
    preprocessing kind, and every mode exported with builtin ops and passing parity."""
    import json

    assert report["task"] == task
    assert report["eval"], "the task reported no metrics"
    assert all(np.isfinite(v) for v in report["eval"].values() if isinstance(v, float)), report["eval"]
    signature = json.loads((Path(folder) / "bundle" / "signature.json").read_text())
    assert signature["preprocessing"].get("kind"), "device preprocessing must name its kind"
    check_exports(report["exports"], modes)


def check_task_model_and_data(task: str, folder: Path, tmp_path: Path) -> None:
    """The run's model.keras loads with ``safe_mode=True`` and its export model reproduces the
    bundle's golden outputs and survives another round trip; the task's splits pass
    :func:`run_dataset_test` with the model's input names."""
    from kerasuite import config as cfg
    from kerasuite.tasks import get_task

    folder = Path(folder)
    model = load_keras_file(folder / "run" / "model.keras")
    golden = np.load(folder / "bundle" / "golden.npz")
    inputs = {k.split("__", 1)[1]: golden[k] for k in golden.files if k.startswith("input__")}
    config = cfg.resolve(cfg.load_config_file(folder / "run" / "config.json"))
    implementation = get_task(task)
    data = implementation.load_data(config)
    shipped = implementation.export_model(model, data)
    np.testing.assert_allclose(shipped.predict(inputs, verbose=0), golden["keras_output"], atol=1e-5)
    run_model_saving_test(shipped, inputs, tmp_path, atol=1e-5)
    names = [t.name for t in model.inputs]
    run_dataset_test(data.test, names, config.train.batch_size)
    run_dataset_test(data.train, names, config.train.batch_size, repeatable=False)
