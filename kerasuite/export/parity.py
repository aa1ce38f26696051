"""The parity harness: does each exported TFLite file agree with the Keras model?

For every mode it runs the Keras export model and the .tflite file (LiteRT interpreter) on the
same held-out inputs and reports the task metric for both, decision agreement (top-1 for
classifiers, top-k overlap for retrieval), max/mean absolute output difference after
dequantization, and pass/fail against the per-mode tolerances in ``export.parity``.

``python -m kerasuite.parity RUN_DIR`` re-runs it on a finished run's bundle; exit 1 on failure.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kerasuite.config import ModeTolerance
from kerasuite.tasks.base import Heldout, Task, TaskData


def compare(
    task: Task,
    data: TaskData,
    heldout: Heldout,
    keras_outputs: np.ndarray,
    tflite_outputs: np.ndarray,
    tolerance: ModeTolerance,
) -> dict[str, Any]:
    keras_outputs = np.asarray(keras_outputs, np.float32)
    tflite_outputs = np.asarray(tflite_outputs, np.float32)
    diff = np.abs(keras_outputs - tflite_outputs)
    keras_metrics = task.score(keras_outputs, heldout, data)
    tflite_metrics = task.score(tflite_outputs, heldout, data)
    primary = task.primary_metric
    drop = keras_metrics[primary] - tflite_metrics[primary]
    if not task.higher_is_better:
        drop = -drop
    agreement = task.agreement(keras_outputs, tflite_outputs, data)
    result: dict[str, Any] = {
        "examples": int(len(heldout)),
        "max_abs_diff": float(diff.max()) if diff.size else 0.0,
        "mean_abs_diff": float(diff.mean()) if diff.size else 0.0,
        "agreement": agreement,
        "keras": keras_metrics,
        "tflite": tflite_metrics,
        "metric": primary,
        "metric_drop": float(drop),
    }
    if task.agreement_kind == "classification":
        result["top1_agreement"] = agreement
    elif task.agreement_kind == "topk":
        result["topk_overlap"] = agreement
    failures = []
    if not np.all(np.isfinite(tflite_outputs)):
        failures.append("non-finite outputs")
    if tolerance.max_abs_diff is not None and result["max_abs_diff"] > tolerance.max_abs_diff:
        failures.append(f"max_abs_diff {result['max_abs_diff']:.3g} > {tolerance.max_abs_diff:g}")
    if tolerance.min_agreement is not None and agreement is not None and agreement < tolerance.min_agreement:
        failures.append(f"agreement {agreement:.4f} < {tolerance.min_agreement:g}")
    if tolerance.max_metric_drop is not None and drop > tolerance.max_metric_drop:
        failures.append(f"{primary} drop {drop:.4f} > {tolerance.max_metric_drop:g}")
    result["failures"] = failures
    result["passed"] = not failures
    result["tolerance"] = {k: v for k, v in vars(tolerance).items() if v is not None}
    return result


def plot_outputs(keras_outputs: np.ndarray, tflite_outputs: np.ndarray, mode: str, path) -> None:
    """A scatter of Keras vs TFLite outputs: a diagonal line is what parity looks like."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kerasuite.io_utils import atomic_path

    k = np.asarray(keras_outputs, np.float32).ravel()
    t = np.asarray(tflite_outputs, np.float32).ravel()
    if k.size > 20000:
        pick = np.random.default_rng(0).choice(k.size, 20000, replace=False)
        k, t = k[pick], t[pick]
    figure, axes = plt.subplots(figsize=(3.2, 3.2))
    axes.scatter(k, t, s=2, alpha=0.4)
    low, high = float(min(k.min(), t.min())), float(max(k.max(), t.max()))
    axes.plot([low, high], [low, high], color="grey", linewidth=0.8)
    axes.set_xlabel("Keras output")
    axes.set_ylabel(f"TFLite {mode} output")
    axes.set_title(f"{mode}: max |diff| {np.abs(k - t).max():.2g}", fontsize=9)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
