"""Retrieval metrics over the whole candidate corpus, in plain numpy.

``recall_at_k`` means what TFRS's ``FactorizedTopK`` means: every held-out (query, item) pair is
scored against *every* candidate, and it counts as a hit when the held-out item lands in the top
k. Unlike ``FactorizedTopK`` the items the user already interacted with in training are removed
from the ranking first (they would otherwise crowd the top of the list with things the user has
already seen); the held-out item itself is never removed, even if the user had seen it before.

Ties are broken like ``tf.math.top_k``: among equal scores the lower candidate index ranks first,
so a popularity baseline with many equal counts has a deterministic rank.
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

import numpy as np

#: ``scores_for(rows) -> float array [len(rows), num_candidates]`` for a chunk of query rows.
ScoreFn = Callable[[np.ndarray], np.ndarray]


def seen_matrix_rows(users: np.ndarray, items: np.ndarray) -> dict[int, np.ndarray]:
    """``{user: sorted unique items}`` from parallel interaction arrays (the training split)."""
    users = np.asarray(users, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    if len(users) != len(items):
        raise ValueError(f"users and items differ in length: {len(users)} != {len(items)}")
    order = np.lexsort((items, users))
    users, items = users[order], items[order]
    boundaries = np.flatnonzero(np.diff(users)) + 1
    starts = np.concatenate([[0], boundaries]) if len(users) else np.zeros(0, np.int64)
    seen: dict[int, np.ndarray] = {}
    for start, stop in zip(starts, np.concatenate([boundaries, [len(users)]])):
        seen[int(users[start])] = np.unique(items[start:stop])
    return seen


def heldout_ranks(
    scores: np.ndarray,
    targets: np.ndarray,
    seen: Sequence[np.ndarray | None] | None = None,
) -> np.ndarray:
    """0-based rank of each row's target among all candidates, seen items removed.

    ``scores``: ``[n, num_candidates]``; ``targets``: ``[n]`` candidate indices; ``seen[i]``: the
    candidate indices to remove for row ``i`` (``None`` or empty for none).
    """
    scores = np.asarray(scores, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.int64)
    if scores.ndim != 2 or targets.shape != (scores.shape[0],):
        raise ValueError(f"scores must be [n, candidates] and targets [n]; got {scores.shape} and {targets.shape}")
    if len(targets) and (targets.min() < 0 or targets.max() >= scores.shape[1]):
        raise ValueError(f"targets must index the {scores.shape[1]} candidates")
    rows = np.arange(len(targets))
    target_scores = scores[rows, targets][:, None]
    columns = np.arange(scores.shape[1])[None, :]
    ahead = (scores > target_scores) | ((scores == target_scores) & (columns < targets[:, None]))
    if seen is not None:
        if len(seen) != len(targets):
            raise ValueError(f"seen has {len(seen)} rows for {len(targets)} targets")
        for row, removed in enumerate(seen):
            if removed is None or len(removed) == 0:
                continue
            removed = np.asarray(removed, dtype=np.int64)
            ahead[row, removed[removed != targets[row]]] = False
    return ahead.sum(axis=1)


def recall_at_k(ranks: np.ndarray, ks: Iterable[int]) -> dict[str, float]:
    """``{"recall_at_K": fraction of ranks < K}`` for each K (0.0 for no rows)."""
    ranks = np.asarray(ranks)
    return {f"recall_at_{k}": float(np.mean(ranks < k)) if len(ranks) else 0.0 for k in ks}


def corpus_recall(
    score_fn: ScoreFn,
    query_rows: np.ndarray,
    targets: np.ndarray,
    seen: dict[int, np.ndarray] | None,
    seen_keys: np.ndarray | None = None,
    ks: Iterable[int] = (10, 100),
    chunk: int = 512,
) -> dict[str, float]:
    """Recall@k of held-out pairs, scoring ``chunk`` queries at a time to bound memory.

    ``score_fn(query_rows[a:b])`` returns the chunk's scores against the whole corpus;
    ``seen_keys[i]`` is the key of ``seen`` (a user index) for row ``i``.
    """
    ks = tuple(ks)
    targets = np.asarray(targets, dtype=np.int64)
    seen_keys = np.asarray(seen_keys if seen_keys is not None else query_rows)
    ranks = []
    for start in range(0, len(targets), chunk):
        stop = start + chunk
        scores = np.asarray(score_fn(query_rows[start:stop]))
        removed = None
        if seen is not None:
            removed = [seen.get(int(key)) for key in seen_keys[start:stop]]
        ranks.append(heldout_ranks(scores, targets[start:stop], removed))
    all_ranks = np.concatenate(ranks) if ranks else np.zeros(0, np.int64)
    return recall_at_k(all_ranks, ks)


def popularity_scores(train_items: np.ndarray, num_candidates: int) -> np.ndarray:
    """Training interaction count per candidate: the popularity baseline's score vector."""
    return np.bincount(np.asarray(train_items, dtype=np.int64), minlength=num_candidates).astype(np.float64)


def candidate_scores(queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """``queries [n, d]`` (one vector each) or ``[n, interests, d]`` against ``candidates [m, d]``
    -> ``[n, m]``: the dot product, or with several interests the best interest's."""
    queries = np.asarray(queries)
    if queries.ndim == 3:
        return np.max(queries @ candidates.T, axis=1)
    return queries @ candidates.T


def top_k_overlap(reference: np.ndarray, candidate: np.ndarray, candidates: np.ndarray, k: int = 10) -> float:
    """Mean fraction of the top-k candidates (by dot product) two sets of query embeddings share.

    This is the parity measure for retrieval: a quantized query tower passes when it retrieves
    (almost) the same items as the Keras one.
    """
    reference = np.asarray(reference, dtype=np.float64)
    candidate = np.asarray(candidate, dtype=np.float64)
    candidates = np.asarray(candidates, dtype=np.float64)
    k = min(k, candidates.shape[0])
    top_ref = np.argsort(-candidate_scores(reference, candidates), axis=1, kind="stable")[:, :k]
    top_new = np.argsort(-candidate_scores(candidate, candidates), axis=1, kind="stable")[:, :k]
    shared = [len(np.intersect1d(a, b)) for a, b in zip(top_ref, top_new)]
    return float(np.mean(shared) / k) if shared else 0.0
