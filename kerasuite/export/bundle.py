"""A task's edge bundle: the task's data and output meaning handed to the one export path
(:func:`kerasuite.export.api.export_model`), which every Keras model goes through."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from kerasuite import config as cfg
from kerasuite.export.api import BundleInfo, export_model, predict_keras, save_arrays  # noqa: F401  (re-exported)
from kerasuite.tasks.base import Arrays, Task, TaskData


def representative_arrays(task: Task, data: TaskData, config: cfg.RunConfig) -> Arrays:
    parts: dict[str, list[np.ndarray]] = {}
    for batch in task.representative_inputs(data, config):
        for name, value in batch.items():
            parts.setdefault(name, []).append(np.asarray(value))
    return {name: np.concatenate(values) for name, values in parts.items()}


def export_bundle(
    task: Task, model, data: TaskData, config: cfg.RunConfig, bundle_dir: Path, run_dir: Path,
    keras_eval: dict[str, float] | None = None, progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Convert, check and describe each mode; returns the export report (its ``exports`` is
    ``metrics.json``'s ``exports`` block)."""
    data = task.with_trained_model(model, data)  # what score, parity and the extras rank against
    shipped = task.export_model(model, data)
    heldout = task.heldout(data, config.export.parity.max_examples)
    representative = representative_arrays(task, data, config) \
        if any(mode in cfg.CALIBRATED_MODES for mode in config.export.modes) \
        else heldout.take(1).inputs
    info = BundleInfo(
        title=f"{task.name} / {config.model.family}",
        task=task.name,
        model=config.model.family,
        data={"source": config.data.source, "heldout_examples": len(heldout), "run_dir": str(run_dir),
              "seed": config.seed},
        preprocessing=task.device_spec(data, config) or {},
        keras_eval=keras_eval or {},
        intended_use=(f"{task.name.replace('_', ' ')} on data like {config.data.source}; run on a device with "
                      "`python -m kerasuite.edge MODEL --check golden.npz` first."),
        limits=[f"trained {config.train.epochs} epochs on {data.num_train_examples} examples; "
                "accuracy outside this data is unmeasured"],
        write_extras=lambda folder: task.write_bundle_extras(data, folder),
        extras_step=task.bundle_extras_step(data),
    )
    report = export_model(
        shipped, representative=representative, out=bundle_dir,
        heldout={**heldout.inputs, "target": heldout.targets}, labels=data.labels,
        output_spec=task.output_spec(data, heldout), options=config.export, info=info,
        batch_size=task.export_batch(data), progress=progress,
    )
    return report
