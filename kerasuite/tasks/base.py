"""The Task contract: everything the shared trainer, exporter and parity harness need from a domain.

A task never branches on another task's type. The trainer (``kerasuite.train``), the exporter
(``kerasuite.export``) and the parity harness (``kerasuite.export.parity``) only call the methods
below, so adding a domain is its module and its config module (``<task>_config.py``: sections,
families, presets) under ``kerasuite/tasks/`` plus one registry line.

Conventions shared by every task:
- Model inputs are named Keras ``Input`` layers; arrays travel as ``dict[name, np.ndarray]`` so a
  multi-input model (ranking: user and item) needs nothing special.
- The model that ships (``export_model``) has exactly one output tensor: class probabilities,
  a query embedding or a score. Parity compares that tensor.
- ``score`` turns that output on the held-out inputs into the task's metrics, so the same code
  measures the Keras model and every TFLite file.
"""

from __future__ import annotations

import abc
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

import numpy as np

if TYPE_CHECKING:  # keep this module cheap to import
    import keras
    import tensorflow as tf

    from kerasuite.config import RunConfig
    from kerasuite.export.spec import Agreement, OutputSpec
    from kerasuite.runtime.device_spec import DeviceSpec

Arrays = dict[str, np.ndarray]


@dataclasses.dataclass
class TaskData:
    """What a task's loader hands to training, evaluation and export."""

    train: "tf.data.Dataset"  # batched (inputs, targets) through data.pipeline.make_pipeline
    validation: "tf.data.Dataset | None"
    test: "tf.data.Dataset"  # batched, never shuffled or augmented
    num_train_examples: int
    labels: list[str] | None = None  # class names, in output order
    skipped_files: int = 0  # unreadable source files left out (the report says how many)
    # The folder or list the validation split was read from (a folder: source's val/, or Speech
    # Commands' validation_list.txt): the report names it, since data.validation_fraction is then
    # not used. None: carved from training, or none.
    validation_source: str | None = None
    # The list the test split was read from (Speech Commands' testing_list.txt), as above for
    # data.test_fraction. None: a test/ folder, the source's own test split, or a seeded split.
    test_source: str | None = None
    # A seeded split (test or validation) kept each speaker's clips together (Speech Commands'
    # ``<speaker>_nohash_<n>.wav`` names), so its score is not inflated by voices seen in training.
    split_by_speaker: bool = False
    # What the loader found that the user should hear before training: a train/ class with
    # nothing in test/, ... (printed as it loads, and kept in metrics.json's data_notes).
    data_notes: list[str] = dataclasses.field(default_factory=list)
    # Task-specific state (vocabulary, catalogue, sample rate, ...) lives in typed fields of the
    # task's own subclass (``@dataclasses.dataclass(kw_only=True) class MyTaskData(TaskData)``),
    # never in a free-form dict: what a task reads is named and checked where it is made.


@dataclasses.dataclass(frozen=True)
class Objective:
    """The metric a run is judged by: the ``score`` entry parity's ``max_metric_drop`` applies
    to, its direction, and the ``eval`` key of the trivial baseline it is compared with."""

    metric: str
    higher_is_better: bool = True
    baseline: str | None = None


@dataclasses.dataclass
class Heldout:
    """Held-out examples as numpy: the common ground for Keras and TFLite evaluation."""

    inputs: Arrays
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.targets)

    def take(self, n: int) -> "Heldout":
        return Heldout({k: v[:n] for k, v in self.inputs.items()}, self.targets[:n])


class Task(abc.ABC):
    """One applied domain. Subclasses are small: data, model families, loss, metrics, extras."""

    name: str
    # Config, defaults and presets: the TaskSpec in kerasuite/tasks/<name>_config.py.
    # family name -> builder(config, data) -> keras.Model (trainable model); the same names as
    # the spec's model section ``families`` (tests/test_config.py checks it)
    families: Mapping[str, Callable[["RunConfig", TaskData], "keras.Model"]]
    # the metric in ``score`` that parity's max_metric_drop applies to, and its direction, when
    # they do not depend on the config (else override ``objective``)
    primary_metric: str = "accuracy"
    higher_is_better: bool = True
    # what the exported output is, for signature.json and the model card
    output_meaning: str = "model output"
    # A fixed batch size baked into the exported graph (None = dynamic batch dimension).
    export_batch_size: int | None = None

    # -- data -------------------------------------------------------------------------------
    @abc.abstractmethod
    def load_data(self, config: "RunConfig") -> TaskData:
        """Read ``config.data.source`` and return batched datasets built by the canonical pipeline."""

    @abc.abstractmethod
    def heldout(self, data: TaskData, limit: int) -> Heldout:
        """Up to ``limit`` held-out examples as numpy arrays for the *export* model."""

    def representative_inputs(self, data: TaskData, config: "RunConfig") -> Iterator[Arrays]:
        """Export-model inputs from the training pipeline, for full-integer calibration."""
        for inputs, _ in data.train.take(config.export.representative_batches):
            yield _as_arrays(inputs)

    # -- model ------------------------------------------------------------------------------
    def build_model(self, config: "RunConfig", data: TaskData) -> "keras.Model":
        return self.families[config.model.family](config, data)

    def build_report(self, model: "keras.Model") -> dict:
        """What building decided that metrics.json should record (``train.build``): e.g. the
        penalty a solver chose. Empty by default."""
        return {}

    @abc.abstractmethod
    def compile_model(self, model: "keras.Model", config: "RunConfig", data: TaskData) -> None:
        """Attach optimizer, loss and Keras metrics."""

    def export_model(self, model: "keras.Model", data: TaskData) -> "keras.Model":
        """The model that ships; e.g. the query tower of a two-tower model. Never changes ``data``."""
        return model

    def export_batch(self, data: TaskData) -> int | None:
        """The batch baked into this run's exported files (default: ``export_batch_size``)."""
        return self.export_batch_size

    def with_trained_model(self, model: "keras.Model", data: TaskData) -> TaskData:
        """``data`` completed with what a trained model determines and ``score``, the agreement
        rule and the bundle's extras need (retrieval: the catalogue's embeddings). Returns a new
        object; ``data`` itself is never changed, so no method depends on another having run."""
        return data

    # -- evaluation -------------------------------------------------------------------------
    def evaluate(self, model: "keras.Model", data: TaskData, config: "RunConfig") -> dict[str, float]:
        """The report's ``eval`` block: Keras ``evaluate`` on the whole test split."""
        results = model.evaluate(data.test, verbose=0, return_dict=True)
        return {name: float(value) for name, value in results.items() if name != "compile_metrics"}

    @abc.abstractmethod
    def score(self, outputs: np.ndarray, heldout: Heldout, data: TaskData) -> dict[str, float]:
        """Task metrics from the export model's outputs on ``heldout`` (Keras or TFLite alike)."""

    def baseline_key(self) -> str | None:
        """The ``eval`` key of the trivial baseline for ``primary_metric`` (majority class,
        popularity, training mean), measured on the same held-out split; None if there is none."""
        return None

    def objective(self, config: "RunConfig") -> Objective:
        """The run's metric, direction and baseline: a function of the config alone, known
        before any data loads (ranking: AUC for implicit feedback, else RMSE)."""
        return Objective(self.primary_metric, self.higher_is_better, self.baseline_key())

    def agreement_rule(self, data: TaskData) -> "Agreement | None":
        """How two output arrays are compared decision by decision (None: by value only)."""
        return None

    def output_spec(self, data: TaskData, heldout: Heldout) -> "OutputSpec":
        """The exporter's view of this task's output on ``heldout`` (kerasuite.export.spec)."""
        from kerasuite.export.spec import OutputSpec

        return OutputSpec(meaning=self.output_meaning, metric=self.primary_metric,
                          higher_is_better=self.higher_is_better, agreement=self.agreement_rule(data),
                          score=lambda outputs: self.score(outputs, heldout, data),
                          class_targets=self.golden_classes(heldout))

    def golden_classes(self, heldout: Heldout) -> np.ndarray | None:
        """A class per held-out example, so golden examples can cover every class (None: no classes)."""
        return None

    # -- bundle and logs --------------------------------------------------------------------
    def write_bundle_extras(self, data: TaskData, bundle_dir: Path) -> "dict[str, dict] | None":
        """Files a device needs besides the .tflite (labels.txt is written by the exporter);
        ``data`` comes from :meth:`with_trained_model`. Returns the verdict of each extra model
        file it checked (``{file: {"passed", "failures", "summary", ...}}``; signature.json's
        ``extra_files``, metrics.json's ``extra_files``, and a failed one fails the run), or None."""

    def bundle_extras_step(self, data: TaskData) -> str | None:
        """What the export says as :meth:`write_bundle_extras` starts, when it converts or checks a
        model file of its own (a step that takes seconds); None when it only writes tables."""
        return None

    def check_bundle_extras(self, data: TaskData, bundle_dir: Path) -> "dict[str, dict] | None":
        """The verdicts :meth:`write_bundle_extras` returns, for the extra model files already in
        ``bundle_dir`` (``python -m kerasuite.parity`` re-runs them); None when there are none."""

    def write_run_files(self, data: TaskData, run_dir: Path) -> None:
        """Files the run folder keeps beside model.keras (text: the vocab.txt its ids index);
        the trainer calls it once, when it writes config.json."""

    def device_spec(self, data: TaskData, config: "RunConfig") -> "DeviceSpec | None":
        """What a device must do to raw input before ``invoke``: one typed spec
        (``kerasuite.runtime.device_spec``) that becomes signature.json's ``preprocessing``, the
        TFLite metadata's input description and what the runtime parses back (None: nothing)."""
        return None

    def callbacks(self, model: "keras.Model", data: TaskData, log_dir: Path, config: "RunConfig") -> list:
        """Extra TensorBoard writers (confusion matrix, samples, embeddings)."""
        return []


def steps_per_execution(config: "RunConfig") -> int:
    """``train.steps_per_execution`` for ``compile``, as the strategy in scope can run it: 1 with
    several replicas (see :func:`kerasuite.distribute.steps_per_execution`)."""
    import tensorflow as tf

    from kerasuite import distribute

    return distribute.steps_per_execution(tf.distribute.get_strategy(), config.train.steps_per_execution)


def _as_arrays(inputs: Any) -> Arrays:
    if isinstance(inputs, Mapping):
        return {name: np.asarray(value) for name, value in inputs.items()}
    raise TypeError("task datasets must yield ({input_name: tensor}, target) pairs")
