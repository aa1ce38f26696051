"""``train.steps_per_execution`` changes how often Keras returns to Python, not what is computed."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import DETERMINISTIC_IMAGE


def _train_one_epoch(task_name: str, sets: dict[str, str], steps_per_execution: int, split: str):
    import keras

    from kerasuite import config as cfg
    from kerasuite.tasks import get_task

    task = get_task(task_name)
    config = cfg.resolve({}, {**sets, "train.steps_per_execution": str(steps_per_execution)},
                         {"task": task_name})
    keras.utils.set_random_seed(config.seed)
    data = task.load_data(config)
    model = task.build_model(config, data)
    task.compile_model(model, config, data)
    dataset = getattr(data, split)
    history = model.fit(dataset, epochs=1, verbose=0)
    steps = int(dataset.cardinality())  # batches in one epoch (some tasks drop the remainder)
    return model, history.history, steps


# The same batches in the same order: the deterministic image setting's training split (no
# shuffle), and the recommender's test split: its training split draws a new permutation every
# time it is iterated, and two fits in one process were seen to get different ones (weights 0.02
# apart with steps_per_execution=1 both times).
@pytest.mark.parametrize("task_name,sets,split", [
    ("image_classification", DETERMINISTIC_IMAGE, "train"),
    ("ranking", {"preset": "tiny", "train.verbose": "0"}, "test"),
])
def test_same_steps_and_weights_with_several_steps_per_call(task_name, sets, split):
    one, one_logs, steps = _train_one_epoch(task_name, sets, 1, split)
    # 7 does not divide the epoch's step count: the last call runs a partial group.
    seven, seven_logs, _ = _train_one_epoch(task_name, sets, 7, split)
    assert steps % 7 != 0
    assert (one.steps_per_execution, seven.steps_per_execution) == (1, 7)  # the task passed it to compile
    assert int(one.optimizer.iterations) == int(seven.optimizer.iterations) == steps
    for a, b in zip(one.get_weights(), seven.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert one_logs["loss"][0] == pytest.approx(seven_logs["loss"][0], rel=1e-4)
