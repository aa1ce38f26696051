"""Pointwise ranking metrics, numpy only: RMSE of predicted ratings and AUC of interaction
scores (the ranking task's ``score``, the same for Keras and every TFLite file)."""

from __future__ import annotations

import numpy as np


def rmse(predictions: np.ndarray, targets: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.ravel(predictions).astype(np.float64) - targets) ** 2)))


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve via the rank statistic (ties get their average rank)."""
    scores = np.ravel(scores).astype(np.float64)
    labels = np.ravel(labels).astype(bool)
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if positives == 0 or negatives == 0:
        raise ValueError("AUC needs both positive and negative examples")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    start = 0
    while start < len(scores):  # average ranks over runs of equal scores
        stop = start
        while stop + 1 < len(scores) and sorted_scores[stop + 1] == sorted_scores[start]:
            stop += 1
        ranks[order[start:stop + 1]] = (start + stop) / 2.0 + 1.0
        start = stop + 1
    return float((ranks[labels].sum() - positives * (positives + 1) / 2.0) / (positives * negatives))
