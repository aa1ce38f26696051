"""What every single-label classification task shares: loss, metrics, scoring, label files."""

from __future__ import annotations


import keras
import numpy as np
import tensorflow as tf

from kerasuite.config import RunConfig
from kerasuite.tasks.base import Heldout, TaskData, _as_arrays, steps_per_execution
from kerasuite.training.optimizers import make_optimizer, planned_steps


class ClassificationMixin:
    """Softmax-probability models with integer targets."""

    primary_metric = "accuracy"
    higher_is_better = True
    output_meaning = "class probabilities, in labels.txt order"

    def agreement_rule(self, data: TaskData):
        from kerasuite.export.spec import TOP1

        return TOP1

    def golden_classes(self, heldout: Heldout) -> np.ndarray:
        return np.asarray(heldout.targets)

    def compile_model(self, model: keras.Model, config: RunConfig, data: TaskData) -> None:
        model.compile(
            optimizer=make_optimizer(config.train, planned_steps(config.train, data.num_train_examples)),
            loss=keras.losses.SparseCategoricalCrossentropy(),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
            steps_per_execution=steps_per_execution(config),
        )

    def evaluate(self, model: keras.Model, data: TaskData, config: RunConfig) -> dict[str, float]:
        results = super().evaluate(model, data, config)
        results["majority_accuracy"] = majority_accuracy(_targets(data.train), _targets(data.test))
        return results

    def baseline_key(self) -> str:
        return "majority_accuracy"

    def score(self, outputs: np.ndarray, heldout: Heldout, data: TaskData) -> dict[str, float]:
        predictions = np.argmax(outputs, axis=-1)
        return {"accuracy": float(np.mean(predictions == heldout.targets))}

    @staticmethod
    def collect_heldout(dataset: tf.data.Dataset, limit: int) -> Heldout:
        inputs: dict[str, list[np.ndarray]] = {}
        targets: list[np.ndarray] = []
        count = 0
        for batch_inputs, batch_targets in dataset:
            for name, value in _as_arrays(batch_inputs).items():
                inputs.setdefault(name, []).append(value)
            targets.append(np.asarray(batch_targets))
            count += len(targets[-1])
            if count >= limit:
                break
        merged = {name: np.concatenate(parts)[:limit] for name, parts in inputs.items()}
        return Heldout(merged, np.concatenate(targets)[:limit])


def _targets(dataset: tf.data.Dataset) -> np.ndarray:
    parts = [np.asarray(targets).reshape(-1) for targets in dataset.map(lambda _, targets: targets)]
    return np.concatenate(parts) if parts else np.zeros([0], np.int64)


def majority_accuracy(train_targets: np.ndarray, test_targets: np.ndarray) -> float:
    """Accuracy on the test targets of always answering the training split's most common class."""
    if len(test_targets) == 0 or len(train_targets) == 0:
        return float("nan")
    majority = np.bincount(train_targets.astype(np.int64)).argmax()
    return float(np.mean(test_targets == majority))
