"""The parity harness: does an exported file, on a given runtime, compute what Keras computes?

For every mode the exporter runs the Keras model and each applicable runtime on the same held-out
inputs (:mod:`kerasuite.export.runtimes`) and this module judges one pair of outputs: the metric
for both (when the :class:`~kerasuite.export.spec.OutputSpec` can score), decision agreement
(top-1 for classifiers, top-k overlap for retrieval, none for plain values), max/mean absolute
output difference after dequantization, the difference relative to the outputs' spread, overall,
for the worst example and for the worst output column (what judges plain values in the lossy
modes), and pass/fail against the mode's tolerance.

``python -m kerasuite.parity RUN_DIR`` re-runs it on a finished run's bundle; exit 1 on failure.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kerasuite.config import ModeTolerance
from kerasuite.export.spec import LABELS, TOP1, OutputSpec


def unmeasured(spec: OutputSpec, keras_outputs: np.ndarray, tolerance: ModeTolerance) -> dict[str, Any]:
    """The headline block of a file no runtime could run: no numbers (a difference computed from
    placeholder outputs read as 0.0, with an agreement of whatever class the placeholders picked);
    each runtime's verdict says why it could not run the file."""
    return {"examples": int(len(keras_outputs)), "max_abs_diff": None, "mean_abs_diff": None, "agreement": None,
            "keras": spec.scores(np.asarray(keras_outputs, np.float32)), "tflite": {}, "metric": spec.metric,
            "failures": [], "passed": False, "tolerance": {k: v for k, v in vars(tolerance).items() if v is not None}}


# An int8 input tensor has one scale: a feature spanning under 2% of the tensor's range gets fewer
# than ~5 of its 256 steps.
NARROW_FEATURE_SHARE = 0.02
# Wider rank-2 inputs are signals (a waveform's samples), whose per-position spans say nothing.
MOST_TABULAR_FEATURES = 512


def narrowest_share(spans, whole: float) -> tuple[int, float] | None:
    """The part (index) whose span is the smallest share of ``whole``, when that share is below
    NARROW_FEATURE_SHARE; parts that do not vary lose nothing and are skipped."""
    spans = np.asarray(spans, np.float64)
    varying = np.flatnonzero(spans > 0)
    if whole <= 0 or varying.size == 0:
        return None
    narrowest = int(varying[np.argmin(spans[varying])])
    share = float(spans[narrowest]) / whole
    return (narrowest, share) if share < NARROW_FEATURE_SHARE else None


def narrow_input_features(inputs: dict[str, np.ndarray]) -> list[str]:
    """Why an int8 file may lose a float input before its first op: per input, the feature (column)
    whose range is the smallest share of the whole tensor's range, when that share is below
    NARROW_FEATURE_SHARE (raw tabular features in different units: 1,500 square feet beside 3
    bedrooms). Empty when every feature keeps its steps."""
    notes = []
    for name, values in inputs.items():
        values = np.asarray(values)
        if values.dtype.kind != "f" or values.ndim != 2 or not 2 <= values.shape[-1] <= MOST_TABULAR_FEATURES:
            continue
        spans, whole = np.ptp(values, axis=0), float(np.ptp(values))
        found = narrowest_share(spans, whole)  # a constant column (padding, a flag) is skipped
        if found is not None:
            narrowest, share = found
            notes.append(f"int8 input '{name}': feature {narrowest} spans {spans[narrowest]:.3g} of the input's "
                         f"range {whole:.3g}, about {256 * share:.1f} of int8's 256 steps (one scale per input "
                         "tensor); normalise the features before the model, or ship the dynamic mode (float "
                         "activations)")
    return notes


def beyond_calibration(inputs: dict[str, np.ndarray], calibration: dict[str, np.ndarray], row: int) -> list[str]:
    """Why a calibrated file may be far off on one example: its float inputs lie outside the range
    the representative inputs gave each input tensor's scale (one per tensor), where int8 and
    int16 saturate."""
    notes = []
    for name, values in inputs.items():
        reference = calibration.get(name)
        if reference is None or np.asarray(values).dtype.kind != "f" or not np.size(reference):
            continue
        example = np.asarray(values[row], np.float64)
        low, high = float(np.min(reference)), float(np.max(reference))
        beyond = example[(example < low) | (example > high)]
        if beyond.size:
            furthest = float(beyond[np.argmax(np.maximum(low - beyond, beyond - high))])
            notes.append(f"example (row) {row}'s input '{name}' reaches {furthest:.3g}, outside the range "
                         f"[{low:.3g}, {high:.3g}] of the representative inputs that sets its scale: calibrate on "
                         "inputs that cover it")
    return notes


def diff_text(value: float | None) -> str:
    """A max |diff| for a summary table: "-" when no runtime measured it."""
    return "-" if value is None else f"{value:.2e}"


def unit_or_larger(values: np.ndarray) -> float:
    """max(1, the largest finite magnitude in ``values``): what a tolerance is multiplied by."""
    finite = np.abs(np.asarray(values, np.float64))
    finite = finite[np.isfinite(finite)]
    return max(1.0, float(finite.max())) if finite.size else 1.0


OUTPUT_RESOLUTION = 1e-6  # about ten float32 roundings of a unit-scale output
# Shares and their differences are counts over examples in floating point: one example of 100
# lost is an accuracy drop of 0.010000000000000009, which a bound of 0.01 must still allow.
ROUNDING_SLACK = 1e-9


def spread_and_error(keras_outputs: np.ndarray, candidate_outputs: np.ndarray) -> tuple[float, float] | None:
    """(the spread of Keras' outputs: their standard deviation across examples, pooled over the
    output's values; the RMS of the difference), or None when they cannot be compared."""
    keras_outputs = np.asarray(keras_outputs, np.float64)
    candidate_outputs = np.asarray(candidate_outputs, np.float64)
    if len(keras_outputs) < 2 or keras_outputs.shape != candidate_outputs.shape:
        return None
    spread = float(np.sqrt(np.mean(np.var(keras_outputs, axis=0))))
    error = float(np.sqrt(np.mean((candidate_outputs - keras_outputs) ** 2)))
    return (spread, error) if np.isfinite(spread) and np.isfinite(error) else None


def column_errors(keras_outputs: np.ndarray, candidate_outputs: np.ndarray) -> np.ndarray | None:
    """Per output column (the last axis): its RMS difference over its own spread across examples
    and positions, NaN for a column that does not vary (padding, a constant); None for a
    one-column output or when no column varies."""
    keras_outputs = np.asarray(keras_outputs, np.float64)
    if keras_outputs.ndim < 2 or keras_outputs.shape[-1] < 2 or len(keras_outputs) < 2:
        return None
    columns = keras_outputs.reshape(-1, keras_outputs.shape[-1])
    difference = np.asarray(candidate_outputs, np.float64).reshape(columns.shape) - columns
    spreads = columns.std(axis=0)
    varies = spreads > OUTPUT_RESOLUTION * unit_or_larger(columns)
    if not varies.any():
        return None
    return np.where(varies, np.sqrt(np.mean(difference ** 2, axis=0)) / np.where(varies, spreads, 1.0), np.nan)


def example_errors(keras_outputs: np.ndarray, candidate_outputs: np.ndarray) -> np.ndarray:
    """Each example's RMS difference over its output values (same shapes, at least one example)."""
    difference = np.asarray(candidate_outputs, np.float64) - np.asarray(keras_outputs, np.float64)
    return np.sqrt(np.mean(difference.reshape(len(difference), -1) ** 2, axis=1))


def compare(spec: OutputSpec, keras_outputs: np.ndarray, candidate_outputs: np.ndarray,
            tolerance: ModeTolerance) -> dict[str, Any]:
    keras_outputs = np.asarray(keras_outputs, np.float32)
    candidate_outputs = np.asarray(candidate_outputs, np.float32)
    failures = []
    if candidate_outputs.shape != keras_outputs.shape:
        failures.append(f"output shape {list(candidate_outputs.shape)} != Keras {list(keras_outputs.shape)}")
        candidate_outputs = np.full_like(keras_outputs, np.nan)
    diff = np.abs(keras_outputs - candidate_outputs)
    keras_metrics = spec.scores(keras_outputs)
    candidate_metrics = spec.scores(candidate_outputs)
    agreement = spec.agreement(keras_outputs, candidate_outputs) if spec.agreement else None
    result: dict[str, Any] = {
        "examples": int(len(keras_outputs)),
        "max_abs_diff": float(np.nanmax(diff)) if diff.size and not np.all(np.isnan(diff)) else 0.0,
        "mean_abs_diff": float(np.nanmean(diff)) if diff.size and not np.all(np.isnan(diff)) else 0.0,
        "agreement": agreement,
        "keras": keras_metrics,
        "tflite": candidate_metrics,
        "metric": spec.metric,
    }
    if spec.agreement is not None:
        result[spec.agreement.name] = agreement
    if spec.agreement is TOP1 and agreement is not None and agreement < 1.0:
        result["disagreements"] = _disagreement_margins(keras_outputs, candidate_outputs)
    if spec.agreement is LABELS and agreement is not None and agreement < 1.0:
        result["disagreements"] = _label_margins(keras_outputs, candidate_outputs)
    drop = None
    if spec.metric and spec.metric in keras_metrics:
        drop = keras_metrics[spec.metric] - candidate_metrics[spec.metric]
        if not spec.higher_is_better:
            drop = -drop
        result["metric_drop"] = float(drop)
    if not np.all(np.isfinite(candidate_outputs)):
        failures.append("non-finite outputs")
    # Tolerances are absolute up to unit scale and relative beyond it: a house-price regression's
    # float32 file differs from Keras by float32's own rounding (0.03 on 200,000), which an
    # absolute 1e-4 failed. Probabilities, scores near 1 and accuracies keep the absolute bounds.
    output_scale = unit_or_larger(keras_outputs)
    metric_scale = unit_or_larger(np.asarray([keras_metrics[spec.metric]])) if drop is not None else 1.0
    if output_scale > 1.0 or metric_scale > 1.0:
        result["tolerance_scale"] = {"outputs": output_scale, "metric": metric_scale}
    if tolerance.max_abs_diff is not None and result["max_abs_diff"] > tolerance.max_abs_diff * output_scale:
        failures.append(f"max_abs_diff {result['max_abs_diff']:.3g} > {tolerance.max_abs_diff:g}"
                        + (f" x {output_scale:.3g} (the largest Keras output)" if output_scale > 1.0 else ""))
    if tolerance.min_agreement is not None and agreement is not None and agreement < tolerance.min_agreement - ROUNDING_SLACK:
        failures.append(f"agreement {agreement:.4f} < {tolerance.min_agreement:g}" + _near_tie_note(result))
    if (tolerance.max_metric_drop is not None and drop is not None
            and drop > tolerance.max_metric_drop * metric_scale + ROUNDING_SLACK):
        failures.append(f"{spec.metric} drop {drop:.4f} > {tolerance.max_metric_drop:g}"
                        + (f" x {metric_scale:.3g} (Keras' {spec.metric})" if metric_scale > 1.0 else ""))
    # RMS difference over the spread of Keras' outputs: 0 is identical, 1 an error as large as the
    # differences between examples; None when Keras' outputs do not vary or cannot be compared
    measured = spread_and_error(keras_outputs, candidate_outputs)
    # a spread below float32's resolution of the outputs is no variation (a saturated softmax's
    # 1e-20 scores gave "relative errors" of 1e15 for a file that agreed on every example)
    varies = measured is not None and measured[0] > OUTPUT_RESOLUTION * output_scale
    result["relative_error"] = measured[1] / measured[0] if varies else None
    if varies:
        errors = example_errors(keras_outputs, candidate_outputs)
        worst = int(np.argmax(errors))
        result["worst_example"] = {"index": worst, "relative_error": float(errors[worst] / measured[0])}
        columns = column_errors(keras_outputs, candidate_outputs)
        if columns is not None:
            worst = int(np.nanargmax(columns))
            result["worst_column"] = {"index": worst, "relative_error": float(columns[worst])}
    if agreement is None and drop is None and tolerance.max_relative_error is not None:
        # nothing else judges these values (an embedding, a regression without targets)
        if result["relative_error"] is None:
            if not failures:
                failures.append("relative error not measurable (Keras' outputs do not vary across the held-out "
                                "examples): nothing judges this file; give more varied --heldout inputs")
        elif result["relative_error"] > tolerance.max_relative_error:
            spread, error = measured
            failures.append(f"relative error {result['relative_error']:.3f} > {tolerance.max_relative_error:g} "
                            f"(RMS difference {error:.3g} over {spread:.3g}, the spread of Keras' outputs across "
                            "examples)")
    # An average hides a few examples the file gets badly wrong (an outlier past the calibrated
    # range, an op that misbehaves on one input): decisions catch them by agreement, values here.
    if agreement is None and varies and tolerance.max_example_error is not None:
        worst = result["worst_example"]
        worst["failed"] = worst["relative_error"] > tolerance.max_example_error
        if worst["failed"]:
            failures.append(f"example (row) {worst['index']} is off by {worst['relative_error']:.3g} x the spread "
                            f"of Keras' outputs (RMS over its values) > {tolerance.max_example_error:g}: the file "
                            "is wrong on single examples that the average error hides")
    # The spread is pooled over columns, so a column in other units than the rest (rooms beside a
    # price) can lose all its values to the tensor's one int8 scale without moving the average.
    column = result.get("worst_column")
    if agreement is None and column and tolerance.max_column_error is not None:
        column["failed"] = column["relative_error"] > tolerance.max_column_error
    if column and column.get("failed"):
        failures.append(f"output column {column['index']} is off by {column['relative_error']:.3g} x its own spread "
                        f"across examples > {tolerance.max_column_error:g}: the file loses that column's values "
                        "(a quantized tensor has one scale, and a column far narrower than the others gets few of its "
                        "steps); scale the columns alike, or export that column as an output of its own")
    result["failures"] = failures
    result["passed"] = not failures
    result["tolerance"] = {k: v for k, v in vars(tolerance).items() if v is not None}
    return result


def plot_outputs(keras_outputs: np.ndarray, tflite_outputs: np.ndarray, mode: str, path,
                 verdict: dict[str, Any] | None = None) -> None:
    """A scatter of Keras vs TFLite outputs (a diagonal line is what parity looks like), titled
    with the verdict: PASS/FAIL, agreement and max |diff|, so a picture never reads as a pass
    for a mode that failed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kerasuite.io_utils import atomic_path

    k = np.asarray(keras_outputs, np.float32).ravel()
    t = np.asarray(tflite_outputs, np.float32).ravel()
    if k.size > 20000:
        pick = np.random.default_rng(0).choice(k.size, 20000, replace=False)
        k, t = k[pick], t[pick]
    figure, axes = plt.subplots(figsize=(3.4, 3.4))
    axes.scatter(k, t, s=2, alpha=0.4)
    finite = np.isfinite(t)
    low = float(min(k.min(), t[finite].min() if finite.any() else k.min()))
    high = float(max(k.max(), t[finite].max() if finite.any() else k.max()))
    axes.plot([low, high], [low, high], color="grey", linewidth=0.8)
    axes.set_xlabel("Keras output")
    axes.set_ylabel(f"TFLite {mode} output")
    title = f"{mode}: max |diff| {np.nanmax(np.abs(k - t)):.2g}" if finite.any() else f"{mode}: no runtime ran it"
    colour = "black"
    if verdict is not None:
        agreement = verdict.get("agreement")
        if agreement is not None:
            title += f", agreement {agreement:.3f}"
        title = f"{'PASS' if verdict['passed'] else 'FAIL'}  {title}"
        colour = "darkgreen" if verdict["passed"] else "darkred"
        if not verdict["passed"] and verdict.get("failures"):
            axes.text(0.02, 0.98, "\n".join(verdict["failures"][:3]), transform=axes.transAxes, fontsize=6,
                      va="top", color="darkred")
    axes.set_title(title, fontsize=8, color=colour)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)


def _near_tie_note(result: dict[str, Any]) -> str:
    margins = result.get("disagreements")
    if not margins or not margins["count"]:
        return ""
    if "keras_distance_from_half_median" in margins:
        return (f" ({margins['count']} label decisions differ; Keras's own distance from 0.5 on them: median "
                f"{margins['keras_distance_from_half_median']:.3f}, max {margins['keras_distance_from_half_max']:.3f})")
    return (f" ({margins['count']} {margins.get('unit', 'examples')} differ; Keras's own top-2 probability gap on them: median "
            f"{margins['keras_top2_gap_median']:.3f}, max {margins['keras_top2_gap_max']:.3f})")


def _label_margins(keras_outputs: np.ndarray, candidate_outputs: np.ndarray) -> dict[str, Any]:
    """As :func:`_disagreement_margins` for decisions at 0.5: how far Keras' own probability was
    from the threshold where the file decided the other way."""
    keras_outputs = np.asarray(keras_outputs, np.float64)
    distance = np.abs(keras_outputs - 0.5)
    differ = (keras_outputs >= 0.5) != (np.asarray(candidate_outputs).reshape(keras_outputs.shape) >= 0.5)
    return {
        "count": int(differ.sum()),
        "unit": "label decisions",
        "keras_distance_from_half_median": float(np.median(distance[differ])) if differ.any() else None,
        "keras_distance_from_half_max": float(distance[differ].max()) if differ.any() else None,
    }


def _disagreement_margins(keras_outputs: np.ndarray, candidate_outputs: np.ndarray) -> dict[str, Any]:
    """How close Keras itself was to its second choice where the file decided otherwise: a failed
    top-1 agreement made of near ties (a gap below the file's output resolution) is a different
    finding from one made of confident decisions turned over."""
    ranked = np.sort(keras_outputs, axis=-1)
    gaps = ranked[..., -1] - ranked[..., -2]  # one per decision: per example, or per position of a map
    differ = np.argmax(keras_outputs, axis=-1) != np.argmax(candidate_outputs, axis=-1)
    return {
        "count": int(differ.sum()),
        "unit": "examples" if differ.ndim == 1 else "map positions",
        "keras_top2_gap_median": float(np.median(gaps[differ])) if differ.any() else None,
        "keras_top2_gap_max": float(gaps[differ].max()) if differ.any() else None,
        "keras_top2_gap_median_all": float(np.median(gaps)),
    }
