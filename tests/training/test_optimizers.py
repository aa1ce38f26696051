"""The optimizer the typed train config builds: the weight average fitted to the run's length."""

from __future__ import annotations

import pytest

from kerasuite import config as cfg
from kerasuite.training.optimizers import ema_momentum


def _train(**values: str) -> cfg.TrainConfig:
    return cfg.resolve({}, {"task": "image_classification", **{f"train.{k}": v for k, v in values.items()}}).train


@pytest.mark.parametrize("steps,expected", [
    (None, 0.99),      # plan unknown: as asked
    (5000, 0.99),      # a long run: the asked average already spans under a tenth of it
    (200, 0.95),       # a tenth of 200 steps is 20: 1 - 1/20
    (32, 1 - 1 / 3.2),  # 0.99 here would leave 72% of the first step's weights in the saved model
    (8, 0.0),          # too short to average: the weights as trained
])
def test_the_weight_average_spans_at_most_a_tenth_of_the_planned_steps(steps, expected):
    assert ema_momentum(_train(ema_momentum="0.99"), steps) == pytest.approx(expected)


def test_no_average_asked_is_no_average():
    assert ema_momentum(_train(), 1000) == 0.0
