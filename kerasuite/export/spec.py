"""What a model's output means, as the exporter and the parity harness need to know it.

A task (or the CLI, for a user's own model) hands the exporter one :class:`OutputSpec` instead of
a string the exporter would branch on: what the output is, which metric judges it and in which
direction, how two sets of outputs are compared decision by decision, and how to score outputs.
Numpy only: the spec travels into parity checks that never import TensorFlow.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping

import numpy as np

from kerasuite.errors import UserError

Scorer = Callable[[np.ndarray], Mapping[str, float]]


@dataclasses.dataclass(frozen=True)
class Agreement:
    """A decision-level comparison of two output arrays, reported under ``name`` in parity.json
    (``top1_agreement``, ``topk_overlap``, ...) and checked against ``min_agreement``."""

    name: str
    measure: Callable[[np.ndarray, np.ndarray], float]

    def __call__(self, reference: np.ndarray, candidate: np.ndarray) -> float:
        return float(self.measure(reference, candidate))


def top1(reference: np.ndarray, candidate: np.ndarray) -> float:
    return float(np.mean(np.argmax(reference, -1) == np.argmax(candidate, -1)))


TOP1 = Agreement("top1_agreement", top1)


def equal_values(reference: np.ndarray, candidate: np.ndarray) -> float:
    return float(np.mean(np.asarray(reference) == np.asarray(candidate)))


EXACT = Agreement("value_agreement", equal_values)


@dataclasses.dataclass(frozen=True)
class OutputSpec:
    """``meaning`` goes to signature.json; ``metric`` names the entry of ``score``'s result that
    ``max_metric_drop`` applies to (None: no metric, e.g. no targets); ``agreement`` None means
    outputs are compared by value only (regression, embeddings without a candidate set)."""

    meaning: str = "model output"
    metric: str | None = None
    higher_is_better: bool = True
    agreement: Agreement | None = None
    score: Scorer | None = None
    class_targets: np.ndarray | None = dataclasses.field(default=None, repr=False)  # for golden picks

    def scores(self, outputs: np.ndarray) -> dict[str, float]:
        return {k: float(v) for k, v in self.score(outputs).items()} if self.score else {}


def looks_like_class_scores(outputs: np.ndarray, labels: list[str] | None = None,
                            targets: np.ndarray | None = None) -> bool:
    """A [batch, classes] output, or a map of them ([batch, ..., classes]: one decision per
    position, as a segmentation model makes), with classes >= 2 that is a probability vector along
    its last axis, or whose last axis matches the labels, or that integer class targets index."""
    outputs = np.asarray(outputs)
    if outputs.ndim < 2 or outputs.shape[-1] < 2:
        return False
    if labels is not None and len(labels) == outputs.shape[-1]:
        return True
    if targets is not None and _is_class_target(targets, outputs):
        return True
    # one-hot targets make logits class scores; independent probabilities in [0, 1] that do not
    # sum to 1 (sigmoids) stay labels even when each row has one positive
    outside_unit = outputs.size and (outputs.min() < 0.0 or outputs.max() > 1.0)
    if targets is not None and outside_unit and _is_one_hot(targets, outputs):
        return True
    rows = outputs.astype(np.float64)
    return bool(np.all(rows >= -1e-6) and np.allclose(rows.sum(axis=-1), 1.0, atol=1e-3))


def _is_one_hot(targets: np.ndarray, outputs: np.ndarray) -> bool:
    """Targets shaped like the class scores with exactly one 1 per row, the rest 0."""
    targets = np.asarray(targets)
    if targets.shape != outputs.shape or targets.size == 0 or not np.all(np.isin(targets, (0, 1))):
        return False
    return bool(np.all(targets.sum(axis=-1) == 1))


def _is_class_target(targets: np.ndarray, outputs: np.ndarray) -> bool:
    """Integer class indices, one per decision the output makes (its shape without the classes)."""
    targets = np.asarray(targets)
    if targets.shape != outputs.shape[:-1] or targets.size == 0 or not np.all(np.isfinite(targets)):
        return False
    return bool(np.all(targets == np.round(targets)) and targets.min() >= 0 and targets.max() < outputs.shape[-1])


def label_decisions(reference: np.ndarray, candidate: np.ndarray) -> float:
    """Share of (example, label) decisions at 0.5 two outputs make alike."""
    return float(np.mean((np.asarray(reference) >= 0.5) == (np.asarray(candidate) >= 0.5)))


LABELS = Agreement("label_agreement", label_decisions)


def _is_label_target(targets: np.ndarray, outputs: np.ndarray) -> bool:
    """0/1 targets, one per output value, for outputs that are probabilities (a sigmoid): a binary
    classifier's ``[batch, 1]`` or a multi-label model's ``[batch, labels]``. Outputs in [0, 1]
    with targets that are not 0/1 (an autoencoder's pixels) stay a regression."""
    targets, outputs = np.asarray(targets), np.asarray(outputs)
    if targets.size != outputs.size or targets.size == 0 or outputs.ndim < 1:
        return False
    if not np.all(np.isfinite(outputs)) or outputs.min() < 0.0 or outputs.max() > 1.0:
        return False
    return bool(np.all(np.isin(targets, (0, 1))))


def generic_output_spec(keras_outputs: np.ndarray, targets: np.ndarray | None = None,
                        labels: list[str] | None = None, discrete: bool = False) -> OutputSpec:
    """The spec for a model nobody described: an integer or boolean output (``discrete``: a
    class index from ``keras.ops.argmax``, a mask) gets the share of equal values (and accuracy
    with targets of its shape); class scores get top-1 agreement (and accuracy with class
    targets); probabilities with 0/1 targets (binary or multi-label) get agreement of their
    decisions at 0.5 and label accuracy; anything else is compared by value (and RMSE with
    targets)."""
    keras_outputs = np.asarray(keras_outputs)
    if discrete:
        # a relative error over class ids means nothing: one id off is a wrong decision
        meaning = "integer decisions (class indices or a mask), compared value by value"
        if targets is None or np.size(targets) != keras_outputs.size:
            return OutputSpec(meaning, None, True, EXACT)
        expected = np.asarray(targets).reshape(keras_outputs.shape)
        return OutputSpec(meaning, "accuracy", True, EXACT,
                          lambda outputs: {"accuracy": float(np.mean(np.asarray(outputs).reshape(expected.shape)
                                                                     == expected))})
    if looks_like_class_scores(keras_outputs, labels, targets):
        meaning = "class scores" + (" at every position of a map (last axis)" if keras_outputs.ndim > 2 else "") \
            + (", in labels.txt order" if labels else "")
        if targets is not None and _is_one_hot(targets, keras_outputs):
            targets = np.argmax(targets, -1)  # categorical_crossentropy's targets: one row per decision
        if targets is not None and _is_class_target(targets, keras_outputs):
            class_targets = np.asarray(targets).astype(np.int64)
            return OutputSpec(meaning, "accuracy", True, TOP1,
                              lambda outputs: {"accuracy": float(np.mean(np.argmax(outputs, -1) == class_targets))},
                              class_targets)
        return OutputSpec(meaning, None, True, TOP1)
    if targets is None:
        return OutputSpec("model output")
    if _is_label_target(targets, keras_outputs):
        decided = np.asarray(targets, np.float64).reshape(keras_outputs.shape) >= 0.5
        return OutputSpec("probability of each label, decided at 0.5 (binary or multi-label)", "label_accuracy",
                          True, LABELS,
                          lambda outputs: {"label_accuracy": float(np.mean(
                              (np.asarray(outputs).reshape(decided.shape) >= 0.5) == decided))})
    expected = np.asarray(targets, np.float64)
    if expected.size != keras_outputs.size:
        # nothing to compare value by value (the scores traceback'd in numpy's broadcasting)
        classes = keras_outputs.shape[-1] if keras_outputs.ndim >= 2 else None
        ids = f"integer class ids 0..{classes - 1} of shape {list(keras_outputs.shape[:-1])}, or " if classes else ""
        raise UserError(f"heldout: 'target' has shape {list(expected.shape)} ({expected.dtype} values) but the model "
                        f"outputs {list(keras_outputs.shape)}: give {ids}one target per output value "
                        f"({list(keras_outputs.shape)})")

    def rmse(outputs: np.ndarray) -> dict[str, float]:
        got = np.asarray(outputs, np.float64).reshape(expected.shape)
        return {"rmse": float(np.sqrt(np.mean((got - expected) ** 2)))}

    return OutputSpec("model output", "rmse", False, None, rmse)


def golden_indices(count: int, wanted: int, classes: np.ndarray | None) -> np.ndarray:
    """``wanted`` example indices: round-robin over the classes present (first occurrences
    first), so the golden file covers as many classes as it can; the first ``wanted`` without
    classes."""
    wanted = min(wanted, count)
    if classes is None or len(classes) != count:
        return np.arange(wanted)
    by_class: dict[int, list[int]] = {}
    for index, label in enumerate(np.asarray(classes).tolist()):
        by_class.setdefault(label, []).append(index)
    queues = [by_class[label] for label in sorted(by_class)]
    picked: list[int] = []
    depth = 0
    while len(picked) < wanted:
        for queue in queues:
            if depth < len(queue) and len(picked) < wanted:
                picked.append(queue[depth])
        depth += 1
    return np.array(sorted(picked), dtype=np.int64)
