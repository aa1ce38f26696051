"""A whole domain in one module, registered from outside the package: tabular regression.

Data: ``csv:FILE`` with numeric feature columns and a ``target`` column (``data.target``).
Model: the ``mlp`` family (a Normalization layer adapted on the training rows, so a device feeds
raw feature values). Metric: RMSE, against the training-mean baseline on the same held-out rows.

It exists to prove the registry's promise: ``kerasuite.tasks.register(SPEC)`` (or a
``kerasuite.tasks`` entry point naming ``tabular_regression:SPEC``) is the only other line a new
domain needs; nothing under ``kerasuite/`` knows this task. TensorFlow is imported only inside
the methods the trainer calls, so the spec stays cheap like every built-in one.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from kerasuite.config import DataConfig, ModelConfig, RunConfig, TaskSpec
from kerasuite.errors import UserError
from kerasuite.runtime.device_spec import DeviceSpec
from kerasuite.schema import setting
from kerasuite.tasks.base import Heldout, Task, TaskData, steps_per_execution


# ----------------------------------------------------------------------------- config


@dataclass
class TabularSection:
    target: str = setting("target", max_length=100)  # the column to predict; every other column is a feature


@dataclass
class TabularData(DataConfig):
    schemes: ClassVar[tuple[str, ...]] = ("csv",)

    source: str = ""
    tabular: TabularSection = field(default_factory=TabularSection)


@dataclass
class MlpSection:
    hidden_units: tuple[int, ...] = setting((32, 16), min=1, nonempty=True)


@dataclass
class TabularModels(ModelConfig):
    families: ClassVar = {"mlp": ("mlp",)}

    family: str = "mlp"
    mlp: MlpSection = field(default_factory=MlpSection)


SPEC = TaskSpec(
    name="tabular_regression",
    implementation="tabular_regression:TabularRegression",
    data=TabularData,
    model=TabularModels,
    presets={
        "default": {"train.epochs": 30, "train.batch_size": 32, "train.learning_rate": 0.01,
                    # values, not classes: judged by max |diff| and the RMSE they feed
                    "export.parity.float32.min_agreement": None,
                    "export.parity.int8.min_agreement": None, "export.parity.int8.max_metric_drop": 0.05},
        "quick": {"train.epochs": 10},
        "tiny": {"model.mlp.hidden_units": (16,), "train.epochs": 8},
    },
)


# ----------------------------------------------------------------------------- data


@dataclass(frozen=True, kw_only=True)
class TabularSpec(DeviceSpec):
    """The toy task's own device spec kind: subclassing registers ``"tabular"`` for parsing."""

    kind: ClassVar[str] = "tabular"

    features: tuple[str, ...] = field(default=(), metadata={"parse": tuple})
    note: str = "input: one float32 row of the feature columns in this order, unscaled"


@dataclass(kw_only=True)
class TabularTaskData(TaskData):
    """The toy task's typed data, as every task's data is."""

    features: list[str]
    train_features: np.ndarray  # what the Normalization layer adapts to
    train_mean: float
    test_inputs: np.ndarray
    test_targets: np.ndarray


def read_csv(path: Path, target: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Feature names, a float32 feature matrix and the targets; one-line errors name file and line."""
    with open(path, newline="") as handle:
        rows = csv.reader(handle)
        header = next(rows, None)
        if not header:
            raise UserError(f"{path}: empty file; expected a header with feature columns and {target!r}")
        if target not in header:
            raise UserError(f"{path}: no {target!r} column (columns: {', '.join(header)})")
        values = []
        for line, row in enumerate(rows, start=2):
            if len(row) != len(header):
                raise UserError(f"{path}:{line}: {len(row)} fields, the header has {len(header)}")
            try:
                values.append([float(cell) for cell in row])
            except ValueError:
                raise UserError(f"{path}:{line}: every field must be a number") from None
    table = np.asarray(values, np.float32).reshape(-1, len(header))
    if not np.all(np.isfinite(table)):
        raise UserError(f"{path}: holds NaN or infinite values")
    column = header.index(target)
    features = [name for name in header if name != target]
    return features, np.delete(table, column, axis=1), table[:, column]


# ----------------------------------------------------------------------------- task


def rmse(predictions: np.ndarray, targets: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.ravel(predictions).astype(np.float64) - targets) ** 2)))


def build_mlp(config: RunConfig, data: TaskData):
    import keras

    inputs = keras.Input((len(data.features),), name="features")
    normalize = keras.layers.Normalization(name="normalize")
    normalize.adapt(data.train_features)
    x = normalize(inputs)
    for units in config.model.mlp.hidden_units:
        x = keras.layers.Dense(units, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(1, name="prediction")(x), name="tabular_mlp")


class TabularRegression(Task):
    name = "tabular_regression"
    families = {"mlp": build_mlp}
    primary_metric = "rmse"
    higher_is_better = False
    output_meaning = "predicted target"

    def load_data(self, config: RunConfig) -> TaskData:
        from kerasuite.data.pipeline import array_rows, make_pipeline
        from kerasuite.data.spec import parse_source

        path = Path(parse_source(config.data.source, allowed=("csv",)).target)
        features, x, y = read_csv(path, config.data.tabular.target)
        order = np.random.default_rng(config.seed).permutation(len(y))
        n_test = max(1, int(len(y) * config.data.test_fraction))
        n_validation = int(len(y) * config.data.validation_fraction)
        if len(y) - n_test - n_validation < 2:
            raise UserError(f"--data {config.data.source}: {len(y)} rows are too few to split")
        test, validation, train = np.split(order, [n_test, n_test + n_validation])
        if config.data.limit:
            train = train[:config.data.limit]

        def pipeline(rows: np.ndarray, training: bool):
            return make_pipeline(array_rows(({"features": x[rows]}, y[rows])), training=training,
                                 batch_size=config.train.batch_size, seed=config.seed)

        return TabularTaskData(
            train=pipeline(train, True), validation=pipeline(validation, False) if len(validation) else None,
            test=pipeline(test, False), num_train_examples=len(train), features=features,
            train_features=x[train], train_mean=float(y[train].mean()), test_inputs=x[test], test_targets=y[test])

    def heldout(self, data: TaskData, limit: int) -> Heldout:
        tabular = data
        return Heldout({"features": tabular.test_inputs[:limit]}, tabular.test_targets[:limit])

    def compile_model(self, model, config: RunConfig, data: TaskData) -> None:
        import keras

        from kerasuite.training.optimizers import make_optimizer

        model.compile(optimizer=make_optimizer(config.train), loss="mse",
                      metrics=[keras.metrics.RootMeanSquaredError(name="rmse")],
                      steps_per_execution=steps_per_execution(config))

    def baseline_key(self) -> str:
        return "mean_baseline_rmse"

    def evaluate(self, model, data: TaskData, config: RunConfig) -> dict[str, float]:
        results = super().evaluate(model, data, config)
        tabular = data
        results["mean_baseline_rmse"] = rmse(np.full(len(tabular.test_targets), tabular.train_mean), tabular.test_targets)
        return results

    def score(self, outputs: np.ndarray, heldout: Heldout, data: TaskData) -> dict[str, float]:
        return {"rmse": rmse(outputs, heldout.targets)}

    def device_spec(self, data: TaskData, config: RunConfig) -> "TabularSpec":
        return TabularSpec(features=tuple(data.features))
