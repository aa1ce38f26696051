"""A model that does not beat its trivial baseline never looks like a success."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kerasuite.tasks.classification import majority_accuracy
from kerasuite.training.baseline import baseline_verdict, describe


def test_majority_accuracy_uses_the_training_majority_on_the_test_targets():
    train = np.array([2, 2, 2, 0, 1])
    test = np.array([2, 0, 0, 0])
    assert majority_accuracy(train, test) == 0.25  # class 2 is the training majority
    assert math.isnan(majority_accuracy(train, np.array([], np.int64)))


@pytest.mark.parametrize("higher, model, baseline, beaten", [
    (True, 0.30, 0.25, True), (True, 0.25, 0.25, False), (True, 0.20, 0.25, False),
    (False, 0.90, 1.00, True), (False, 1.00, 1.00, False), (False, 1.10, 1.00, False),
])
def test_verdict_follows_the_metric_direction(higher, model, baseline, beaten):
    verdict = baseline_verdict("m", higher, "baseline_m", {"m": model, "baseline_m": baseline})
    assert verdict["beaten"] is beaten
    assert ("does NOT beat" in describe(verdict)) is (not beaten)


def test_no_verdict_without_a_comparable_baseline():
    assert baseline_verdict("m", True, None, {"m": 1.0}) is None
    assert baseline_verdict("m", True, "b", {"m": 1.0}) is None
    assert baseline_verdict("m", True, "b", {"m": 1.0, "b": float("nan")}) is None


@pytest.mark.parametrize("task", ["image_classification", "retrieval"])
def test_tiny_runs_report_their_baseline(tiny_run, task):
    _, report = tiny_run(task)
    verdict = report["baseline"]
    assert verdict["beaten"] is True, verdict
    assert verdict["baseline_key"] in report["eval"]
