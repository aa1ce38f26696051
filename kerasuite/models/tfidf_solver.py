"""Fit the linear ``ngram`` model (logistic regression on TF-IDF) the way its peer does: to
convergence, with the penalty chosen on the validation split.

Adam with early stopping on a small validation split stopped 1-3 points short of scikit-learn's
``LogisticRegression`` on the very same features (README, "Text on three real corpora"): the
peer solves a convex problem to its optimum and picks ``C`` per corpus. This module builds the
exact feature matrix :class:`~kerasuite.models.layers.tfidf_bag.TfidfBag` computes from a row of
ids, solves with L-BFGS for each candidate ``C``, keeps the one with the best validation accuracy
and writes its weights into the layer. Keras training then starts at that optimum.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np


@dataclasses.dataclass(frozen=True)
class SolvedLinear:
    c: float
    validation_accuracy: float | None  # None: no validation split, ``c`` was the only candidate
    candidates: dict[float, float]  # C -> validation accuracy
    seconds: float


def tfidf_matrix(id_rows: np.ndarray, idf: np.ndarray, split_at: int = 0):
    """``[rows, num_ids]`` sparse: per row, ``sum over positions of idf[id]`` at each id, divided
    by ``sqrt(sum over positions of idf[id]^2)``; what TfidfBag multiplies its table by (before
    its ``scale``). Id 0 is padding (``idf[0] = 0``). ``split_at`` > 0: ids below it and from it
    on are normalised apart, as TfidfBag's ``split_at``."""
    from scipy import sparse

    rows = np.asarray(id_rows, np.int64)
    weights = np.asarray(idf, np.float64)[rows]
    kinds = [rows < split_at, rows >= split_at] if split_at else [np.ones(rows.shape, bool)]
    values = np.zeros_like(weights)
    for kind in kinds:
        squares = np.where(kind, weights * weights, 0.0).sum(axis=1, keepdims=True)
        values += np.where(kind, weights / np.sqrt(np.maximum(squares, 1e-12)), 0.0)
    row_index = np.repeat(np.arange(rows.shape[0]), rows.shape[1])
    matrix = sparse.csr_matrix((values.ravel(), (row_index, rows.ravel())), shape=(rows.shape[0], len(idf)))
    matrix.sum_duplicates()  # repeated ids add up, as the bag's SUM does
    matrix.eliminate_zeros()
    return matrix


def solve(layer, train_ids: np.ndarray, train_labels: np.ndarray, validation_ids: np.ndarray | None,
          validation_labels: np.ndarray | None, candidates: tuple[float, ...], num_classes: int) -> SolvedLinear:
    """Solve for each C in ``candidates``, assign the best into ``layer`` (a linear TfidfBag with
    bias, its idf already set) and set its L2 penalty to match that C."""
    from sklearn.linear_model import LogisticRegression

    started = time.perf_counter()
    idf = np.asarray(layer.idf)
    train_x = tfidf_matrix(train_ids, idf, layer.split_at)
    train_y = np.asarray(train_labels)
    have_validation = validation_ids is not None and len(validation_ids) > 0
    if not have_validation:
        candidates = tuple(candidates)[:1]
    validation_x = tfidf_matrix(validation_ids, idf, layer.split_at) if have_validation else None
    scores: dict[float, float] = {}
    best = None
    # weakest penalty last, each fit starting from the previous optimum (about 2x faster)
    model = LogisticRegression(max_iter=3000, warm_start=True)  # the peer's solver settings
    for c in sorted(float(c) for c in candidates):
        model.set_params(C=c).fit(train_x, train_y)
        score = float((model.predict(validation_x) == np.asarray(validation_labels)).mean()) if have_validation else 0.0
        scores[c] = score
        if best is None or score > best[0]:
            best = (score, c, model.coef_.copy(), model.intercept_.copy())
    _, c, coef, intercept = best
    weights = np.zeros((len(idf), num_classes), np.float32)
    bias = np.zeros(num_classes, np.float32)
    classes = model.classes_.astype(int)  # a class absent from training keeps zero weights
    if len(classes) == 2:  # scikit-learn keeps one column for two classes: the logit difference
        weights[:, classes[1]], weights[:, classes[0]] = coef[0] / 2, -coef[0] / 2
        bias[classes[1]], bias[classes[0]] = intercept[0] / 2, -intercept[0] / 2
    else:
        weights[:, classes] = coef.T
        bias[classes] = intercept
    layer.table.assign(weights / layer.scale)
    layer.bias.assign(bias)
    layer.l2 = layer.scale**2 / (2.0 * c * len(train_y))
    import keras

    layer.table.regularizer = keras.regularizers.L2(layer.l2)  # Keras training goes on from the same objective
    solved = SolvedLinear(c=c, validation_accuracy=best[0] if have_validation else None, candidates=scores,
                          seconds=round(time.perf_counter() - started, 1))
    layer.solved = solved  # for the run's metrics.json (TextClassification.build_report)
    return solved


def report(solved: SolvedLinear) -> dict:
    """``solved`` as JSON: the chosen C, its validation accuracy and every candidate's."""
    return {"c": solved.c, "validation_accuracy": solved.validation_accuracy,
            "validation_accuracy_by_c": {f"{c:g}": score for c, score in solved.candidates.items()},
            "seconds": solved.seconds}
