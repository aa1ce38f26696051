"""Does the trained model beat the trivial answer (majority class, popularity, training mean)?

A model at chance level can pass parity perfectly: its TFLite files agree with it. This verdict
is the other half of an honest report, so a run whose model does not beat its task's trivial
baseline on the same held-out split says so and exits 1 unless ``train.check_baseline=false``.
"""

from __future__ import annotations

import math
from typing import Any


def baseline_verdict(primary_metric: str, higher_is_better: bool, baseline_key: str | None,
                     results: dict[str, Any]) -> dict[str, Any] | None:
    """``{"metric", "model", "baseline", "baseline_key", "beaten"}``; None when the task has no
    baseline or either number is missing or not finite (nothing to compare)."""
    if baseline_key is None:
        return None
    model, baseline = results.get(primary_metric), results.get(baseline_key)
    if not isinstance(model, (int, float)) or not isinstance(baseline, (int, float)):
        return None
    if not (math.isfinite(model) and math.isfinite(baseline)):
        return None
    beaten = model > baseline if higher_is_better else model < baseline
    return {"metric": primary_metric, "model": float(model), "baseline": float(baseline),
            "baseline_key": baseline_key, "beaten": bool(beaten)}


def describe(verdict: dict[str, Any]) -> str:
    relation = "beats" if verdict["beaten"] else "does NOT beat"
    return (f"{verdict['metric']} {verdict['model']:.4f} {relation} the trivial baseline "
            f"({verdict['baseline_key']} {verdict['baseline']:.4f})")
