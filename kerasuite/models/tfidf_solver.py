"""Fit the linear ``ngram`` model (logistic regression on TF-IDF) the way its peer does: to
convergence, with the penalty chosen on the validation split.

Adam with early stopping on a small validation split stopped 1-3 points short of scikit-learn's
``LogisticRegression`` on the very same features (README, "Text on three real corpora"): the
peer solves a convex problem to its optimum and picks ``C`` per corpus. This module builds the
exact feature matrix :class:`~kerasuite.models.layers.tfidf_bag.TfidfBag` computes from a row of
ids, solves with L-BFGS for each candidate ``C``, keeps the one with the best validation accuracy
and writes its weights into the layer. Keras training then starts at that optimum.

``method="nb_lbfgs"`` solves NBSVM's variant instead (one binary logistic regression per class on
features scaled by that class's Naive Bayes log-count ratio); it folds into the same table.
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
    method: str = "lbfgs"
    # int8_grid: validation accuracy with the table on its int8 grid and the logits clipped (the
    # model Keras then is), and the clip bounds
    int8_grid_validation_accuracy: float | None = None
    logit_clip: tuple[float, float] | None = None


def tfidf_matrix(id_rows: np.ndarray, idf: np.ndarray, split_at: int = 0, rows_per_chunk: int = 2048):
    """``[rows, num_ids]`` sparse: per row, ``sum over positions of idf[id]`` at each id, divided
    by ``sqrt(sum over positions of idf[id]^2)``; what TfidfBag multiplies its table by (before
    its ``scale``). Id 0 is padding (``idf[0] = 0``). ``split_at`` > 0: ids below it and from it
    on are normalised apart, as TfidfBag's ``split_at``. Built ``rows_per_chunk`` rows at a time:
    the position arrays take about 66 bytes per present id while the finished matrix keeps 12, so
    a corpus of long texts (25k reviews of ~4,000 ids) would otherwise peak several GB higher."""
    from scipy import sparse

    id_rows = np.asarray(id_rows)
    chunks = [_tfidf_rows(id_rows[start:start + rows_per_chunk], idf, split_at)
              for start in range(0, max(len(id_rows), 1), rows_per_chunk)]
    return chunks[0] if len(chunks) == 1 else sparse.vstack(chunks, format="csr")


def _tfidf_rows(id_rows: np.ndarray, idf: np.ndarray, split_at: int):
    from scipy import sparse

    # Only the present (non-padding) positions: a row of 8,192 ids holds a few hundred, and the
    # dense float64 copies of every position peaked at 4.3 GB on 6.6k texts
    # (tools/benchmarking/tfidf_matrix_before_after.py)
    row_index, position = np.nonzero(id_rows)
    ids = id_rows[row_index, position].astype(np.int64)
    weights = np.asarray(idf, np.float64)[ids]
    group = 2 * row_index + (ids >= split_at if split_at else 0)  # (row, kind) pairs normalised apart
    squares = np.bincount(group, weights=weights * weights, minlength=2 * len(id_rows))
    values = weights / np.sqrt(np.maximum(squares[group], 1e-12))
    matrix = sparse.csr_matrix((values, (row_index, ids)), shape=(len(id_rows), len(idf)))
    matrix.sum_duplicates()  # repeated ids add up, as the bag's SUM does
    matrix.eliminate_zeros()
    return matrix


def naive_bayes_ratios(train_x, train_y: np.ndarray, num_classes: int, alpha: float = 1.0) -> np.ndarray:
    """``[num_ids, num_classes]``: per class k, ``log((p / |p|_1) / (q / |q|_1))`` with ``p`` (``q``)
    ``alpha`` plus the number of training texts of class k (of every other class) that contain the
    id: NBSVM's log-count ratio (Wang and Manning 2012) on binarized features."""
    present = (train_x > 0).astype(np.float64).tocsr()
    totals = np.asarray(present.sum(axis=0)).ravel()
    ratios = np.zeros((present.shape[1], num_classes))
    for k in range(num_classes):
        in_class = np.asarray(present[train_y == k].sum(axis=0)).ravel()
        p, q = alpha + in_class, alpha + (totals - in_class)
        ratios[:, k] = np.log(p / p.sum()) - np.log(q / q.sum())
    return ratios


def _fit_multinomial(train_x, train_y, candidates, num_classes):
    """Multinomial logistic regression per C; yields ``(C, weights [ids, classes], bias)``."""
    from sklearn.linear_model import LogisticRegression

    # weakest penalty last, each fit starting from the previous optimum (about 2x faster)
    model = LogisticRegression(max_iter=3000, warm_start=True)  # the peer's solver settings
    for c in candidates:
        model.set_params(C=c).fit(train_x, train_y)
        coef, intercept = model.coef_, model.intercept_
        weights = np.zeros((train_x.shape[1], num_classes))
        bias = np.zeros(num_classes)
        classes = model.classes_.astype(int)  # a class absent from training keeps zero weights
        if len(classes) == 2:  # scikit-learn keeps one column for two classes: the logit difference
            weights[:, classes[1]], weights[:, classes[0]] = coef[0] / 2, -coef[0] / 2
            bias[classes[1]], bias[classes[0]] = intercept[0] / 2, -intercept[0] / 2
        else:
            weights[:, classes] = coef.T
            bias[classes] = intercept
        yield c, weights, bias


def _fit_naive_bayes_one_vs_rest(train_x, train_y, candidates, num_classes):
    """One binary logistic regression per class on the features scaled by that class's NB ratios;
    ``x * r_k . w_k = x . (r_k * w_k)``, so the layer's table column k is ``r_k * w_k``."""
    from sklearn.linear_model import LogisticRegression

    ratios = naive_bayes_ratios(train_x, train_y, num_classes)
    scaled = [train_x.multiply(ratios[:, k]).tocsr() for k in range(num_classes)]
    models = [LogisticRegression(max_iter=3000, warm_start=True) for _ in range(num_classes)]
    present = [k for k in range(num_classes) if 0 < (train_y == k).sum() < len(train_y)]
    absent = np.setdiff1d(np.arange(num_classes), present)
    for c in candidates:
        weights = np.zeros((train_x.shape[1], num_classes))
        bias = np.zeros(num_classes)
        for k in present:
            models[k].set_params(C=c).fit(scaled[k], (train_y == k).astype(int))
            weights[:, k] = ratios[:, k] * models[k].coef_[0]
            bias[k] = models[k].intercept_[0]
        if len(present) and len(absent):  # never predicted, and the bias keeps a small int8 range
            bias[absent] = bias[present].min() - 10.0
        yield c, weights, bias


FITTERS = {"lbfgs": _fit_multinomial, "nb_lbfgs": _fit_naive_bayes_one_vs_rest}


def solve(layer, train_ids: np.ndarray, train_labels: np.ndarray, validation_ids: np.ndarray | None,
          validation_labels: np.ndarray | None, candidates: tuple[float, ...], num_classes: int,
          method: str = "lbfgs", int8_grid: bool = False) -> SolvedLinear:
    """Solve for each C in ``candidates``, assign the best into ``layer`` (a linear TfidfBag with
    bias, its idf already set) and set its L2 penalty to match that C (or freeze it: "nb_lbfgs"). ``method``: "lbfgs"
    (multinomial logistic regression, the peer) or "nb_lbfgs" (one-vs-rest logistic regression on
    Naive-Bayes-scaled features, NBSVM's recipe). ``int8_grid`` (frozen "nb_lbfgs" only): then
    the table is put on its int8 grid and the logits clipped to the decision range of the
    validation rows (:func:`~kerasuite.models.layers.tfidf_bag.int8_grid`, ``decision_range``), so
    the int8 file keeps Keras's decisions on near ties (README, "int8 on near ties")."""
    started = time.perf_counter()
    idf = np.asarray(layer.idf)
    train_x = tfidf_matrix(train_ids, idf, layer.split_at)
    train_y = np.asarray(train_labels)
    have_validation = validation_ids is not None and len(validation_ids) > 0
    if not have_validation:
        candidates = tuple(candidates)[:1]
    validation_x = tfidf_matrix(validation_ids, idf, layer.split_at) if have_validation else None
    validation_y = np.asarray(validation_labels) if have_validation else None
    scores: dict[float, float] = {}
    best = None
    for c, weights, bias in FITTERS[method](train_x, train_y, sorted(float(c) for c in candidates), num_classes):
        score = float(((validation_x @ weights + bias).argmax(axis=1) == validation_y).mean()) if have_validation else 0.0
        scores[c] = score
        if best is None or score > best[0]:
            best = (score, c, weights, bias)
    _, c, weights, bias = best
    layer.table.assign((weights / layer.scale).astype(np.float32))
    layer.bias.assign(bias.astype(np.float32))
    layer.l2 = layer.scale**2 / (2.0 * c * len(train_y))
    import keras

    layer.table.regularizer = keras.regularizers.L2(layer.l2)  # Keras training goes on from the same objective
    if method == "nb_lbfgs":
        # ...except after the NB solve: cross-entropy heads for the multinomial optimum and gives NB's
        # gain back (fortunes, seed 42: test accuracy 0.657 solved, 0.629 after Keras' epochs)
        layer.trainable = False
    grid_accuracy, clip = None, None
    if method == "nb_lbfgs" and int8_grid:
        from kerasuite.models.layers.tfidf_bag import decision_range
        from kerasuite.models.layers.tfidf_bag import int8_grid as on_int8_grid

        table = on_int8_grid(weights / layer.scale)
        layer.table.assign(table)
        check_x, check_y = (validation_x, validation_y) if have_validation else (train_x, train_y)
        logits = check_x @ (table.astype(np.float64) * layer.scale) + bias
        clip = decision_range(logits)
        layer.logit_clip = clip
        grid_accuracy = float((np.clip(logits, *clip).argmax(axis=1) == check_y).mean())
    solved = SolvedLinear(c=c, validation_accuracy=best[0] if have_validation else None, candidates=scores,
                          seconds=round(time.perf_counter() - started, 1), method=method,
                          int8_grid_validation_accuracy=grid_accuracy, logit_clip=clip)
    layer.solved = solved  # for the run's metrics.json (TextClassification.build_report)
    return solved


def report(solved: SolvedLinear) -> dict:
    """``solved`` as JSON: the method, the chosen C, its validation accuracy and every candidate's."""
    return {"method": solved.method, "c": solved.c, "validation_accuracy": solved.validation_accuracy,
            "validation_accuracy_by_c": {f"{c:g}": score for c, score in solved.candidates.items()},
            "seconds": solved.seconds,
            **({"int8_grid": {"validation_accuracy": solved.int8_grid_validation_accuracy,
                              "logit_clip": list(solved.logit_clip)}} if solved.logit_clip is not None else {})}
