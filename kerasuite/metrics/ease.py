"""EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019): the closed-form
item-item baseline for implicit feedback that a learned retrieval model is measured against.

With ``X`` the binary users x items matrix of training interactions,
``P = (X^T X + lambda I)^-1`` and ``B = I - P / diag(P)`` (column-wise), i.e. ``B[i, j] =
-P[i, j] / P[j, j]`` off the diagonal and 0 on it. A user's scores are ``x_user @ B``.

Everything is float32 numpy/scipy. The cost is one items x items matrix (plus a transient copy)
and an O(items^3) inversion per lambda, so catalogues above ``max_items`` are skipped with a note
(:func:`too_large`) instead of exhausting memory.
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np

#: Default catalogue limit: one 16384 x 16384 float32 matrix is 1 GiB; fitting holds about three
#: (the Gram matrix / its inverse in place, the symmetrised copy, B), so ~3 GiB at the limit.
MAX_ITEMS = 16384
DEFAULT_LAMBDAS = (5.0, 20.0, 100.0, 500.0)


def too_large(num_items: int, max_items: int = MAX_ITEMS) -> str | None:
    """A one-line reason to skip EASE for this catalogue, or ``None`` when it fits."""
    if num_items <= max_items:
        return None
    mib = num_items * num_items * 4 / 2**20
    return (f"skipped: {num_items} items > model.ease.max_items={max_items} (one items x items float32 "
            f"matrix would be {mib:,.0f} MiB and fitting holds about three)")


def interaction_matrix(users: np.ndarray, items: np.ndarray, num_users: int, num_items: int):
    """Binary ``scipy.sparse.csr_matrix`` [num_users, num_items] (repeated pairs count once)."""
    from scipy import sparse

    users = np.asarray(users, np.int64)
    items = np.asarray(items, np.int64)
    matrix = sparse.csr_matrix((np.ones(len(users), np.float32), (users, items)), shape=(num_users, num_items))
    matrix.data[:] = 1.0  # duplicates were summed
    return matrix


def fit(x, regularization: float) -> np.ndarray:
    """``B`` (float32 [items, items], zero diagonal) from a binary user x item matrix ``x``."""
    from scipy.linalg import lapack

    if regularization <= 0:
        raise ValueError(f"EASE regularization must be positive, got {regularization}")
    gram = np.asarray((x.T @ x).toarray() if hasattr(x, "toarray") else x.T @ x, dtype=np.float32)
    gram[np.diag_indices_from(gram)] += np.float32(regularization)
    # Cholesky inverse: the regularised Gram matrix is symmetric positive definite, and
    # potrf + potri costs half of a general inverse. LAPACK fills the upper triangle only.
    factor, info = lapack.spotrf(gram, lower=0, overwrite_a=1, clean=0)
    if info != 0:
        raise np.linalg.LinAlgError(f"EASE: Cholesky factorisation failed (info={info})")
    inverse, info = lapack.spotri(factor, lower=0, overwrite_c=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"EASE: inversion failed (info={info})")
    del gram, factor
    inverse = np.triu(inverse)
    inverse += np.triu(inverse, 1).T
    diagonal = np.diag(inverse).copy()
    inverse /= -diagonal[None, :]
    np.fill_diagonal(inverse, 0.0)
    return inverse


def scores(x_rows, b: np.ndarray) -> np.ndarray:
    """Dense float32 scores ``x_rows @ B`` for a chunk of user rows (sparse or dense)."""
    return np.asarray(x_rows @ b, dtype=np.float32)


def select_and_fit(train_users: np.ndarray, train_items: np.ndarray, validation_users: np.ndarray,
                   validation_items: np.ndarray, num_users: int, num_items: int,
                   lambdas: Sequence[float] = DEFAULT_LAMBDAS, max_validation: int = 5000,
                   seed: int = 0) -> dict:
    """Fit ``B`` on the training pairs for every lambda, keep the one with the best validation
    recall@10 (each validation pair ranked against the catalogue, the user's training items
    removed, as ``kerasuite.metrics.retrieval.corpus_recall`` does), and return
    ``{"b", "lambda", "validation_recall_at_10", "fit_seconds"}``.

    Without validation pairs the middle lambda of the grid is used. Item and user indices are
    0-based rows/columns of ``B`` and ``X``.
    """
    from kerasuite.metrics.retrieval import corpus_recall, seen_matrix_rows

    lambdas = [float(v) for v in lambdas]
    if not lambdas:
        raise ValueError("model.ease.lambdas is empty")
    x = interaction_matrix(train_users, train_items, num_users, num_items)
    started = time.perf_counter()
    if validation_users is None or len(validation_users) == 0 or len(lambdas) == 1:
        chosen = lambdas[len(lambdas) // 2]
        return {"b": fit(x, chosen), "lambda": chosen, "validation_recall_at_10": None,
                "fit_seconds": time.perf_counter() - started}
    pick = np.random.default_rng(seed).permutation(len(validation_users))[:max_validation]
    users, targets = np.asarray(validation_users)[pick], np.asarray(validation_items)[pick]
    seen = seen_matrix_rows(train_users, train_items)
    best = None
    for value in lambdas:
        b = fit(x, value)
        recall = corpus_recall(lambda rows, b=b: scores(x[rows], b), users, targets, seen, ks=(10,))["recall_at_10"]
        if best is None or recall > best[1]:
            best = (value, recall, b)
        del b
    return {"b": best[2], "lambda": best[0], "validation_recall_at_10": best[1],
            "fit_seconds": time.perf_counter() - started}



def fit_for_splits(config, train, validation, num_users: int, num_items: int, seed: int = 0) -> tuple[dict | None, dict]:
    """EASE fitted on ``train`` (``EncodedSplit``-like: ``.users``, ``.items`` indices; item 0 is
    the unknown row, so the catalogue has ``num_items - 1`` real items) with the
    lambda of ``config`` (``model.ease``) that scores best on ``validation``.

    Returns ``(fitted or None, report)``: ``report`` goes into the eval block
    (``ease_lambda``, ``ease_fit_seconds``, or ``ease_note`` saying why EASE was skipped).
    """
    if not config.enabled:
        return None, {"ease_note": "skipped: model.ease.enabled=false"}
    note = too_large(num_items - 1, config.max_items)  # num_items counts the unknown-item row 0
    if note:
        return None, {"ease_note": note}
    lambdas = tuple(float(v) for v in config.lambdas)
    if not lambdas or any(v <= 0 for v in lambdas):
        from kerasuite.errors import UserError

        raise UserError(f"model.ease.lambdas: need positive numbers, got {list(config.lambdas)}")
    fitted = select_and_fit(train.users, train.items,
                            None if validation is None else validation.users,
                            None if validation is None else validation.items,
                            num_users, num_items, lambdas, seed=seed)
    return fitted, {"ease_lambda": fitted["lambda"], "ease_fit_seconds": round(fitted["fit_seconds"], 2)}


def pair_scores(x, b: np.ndarray, users: np.ndarray, items: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """EASE's score ``x[user] @ B[:, item]`` of each (user, item) pair, float32."""
    users = np.asarray(users, np.int64)
    items = np.asarray(items, np.int64)
    out = np.empty(len(users), np.float32)
    for start in range(0, len(users), chunk):
        stop = start + chunk
        rows = np.asarray(x[users[start:stop]] @ b[:, items[start:stop]], np.float32)  # [chunk, chunk]
        out[start:stop] = np.diagonal(rows)
    return out
