"""EASE baseline, checked against a closed form worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from kerasuite.metrics import ease


def test_two_item_closed_form_by_hand():
    # X = [[1, 1], [1, 0]] -> X^T X + 1*I = [[3, 1], [1, 2]], det 5, P = [[2, -1], [-1, 3]] / 5
    # B[i, j] = -P[i, j] / P[j, j]: B[0, 1] = (1/5) / (3/5) = 1/3, B[1, 0] = (1/5) / (2/5) = 1/2.
    x = ease.interaction_matrix(np.array([0, 0, 1, 0]), np.array([0, 1, 0, 1]), 2, 2)  # (0, 1) twice
    assert x.toarray().tolist() == [[1.0, 1.0], [1.0, 0.0]]
    b = ease.fit(x, 1.0)
    assert b.dtype == np.float32
    np.testing.assert_allclose(b, [[0.0, 1 / 3], [1 / 2, 0.0]], rtol=1e-6)
    # user 1 (has item 0) scores item 1 at B[0, 1]
    np.testing.assert_allclose(ease.scores(x[1], b), [[0.0, 1 / 3]], rtol=1e-6)


def test_matches_the_textbook_formula_on_a_random_matrix():
    rng = np.random.default_rng(3)
    dense = (rng.random((30, 7)) < 0.3).astype(np.float32)
    users, items = np.nonzero(dense)
    b = ease.fit(ease.interaction_matrix(users, items, 30, 7), 5.0)
    p = np.linalg.inv(dense.T.astype(np.float64) @ dense + 5.0 * np.eye(7))
    expected = np.eye(7) - p / np.diag(p)[None, :]
    np.testing.assert_allclose(b, expected, atol=1e-5)
    assert np.all(np.diag(b) == 0.0)


def test_lambda_is_chosen_on_validation_and_big_catalogues_are_refused():
    # Two disjoint item groups; a user's validation item comes from its own group.
    users = np.repeat(np.arange(40), 3)
    items = np.concatenate([np.array([0, 1, 2]) if u < 20 else np.array([3, 4, 5]) for u in range(40)])
    val_users = np.arange(40)
    val_items = np.where(val_users < 20, 6, 7)
    # items 6 and 7 never co-occur in training, so every lambda gives them zero score; still a choice is made
    fitted = ease.select_and_fit(users, items, val_users, val_items, 40, 8, lambdas=(1.0, 10.0))
    assert fitted["lambda"] in (1.0, 10.0)
    assert fitted["b"].shape == (8, 8)
    assert 0.0 <= fitted["validation_recall_at_10"] <= 1.0
    assert ease.too_large(100, max_items=100) is None
    note = ease.too_large(101, max_items=100)
    assert note.startswith("skipped: 101 items > model.ease.max_items=100")
    with pytest.raises(ValueError):
        ease.fit(ease.interaction_matrix(users, items, 40, 8), 0.0)


def _retrieval_data(**sets: str):
    from kerasuite import config as cfg
    from kerasuite.tasks import get_task

    values = {"task": "retrieval", "data.source": "synthetic:clusters,users=80,items=40,clusters=4,per_user=8",
              "train.batch_size": "16", **sets}
    config = cfg.resolve({}, values)
    task = get_task("retrieval")
    return task, task.load_data(config), config


def test_retrieval_reports_ease_on_the_same_split_or_says_why_not():
    task, data, config = _retrieval_data()
    scores = task.ease_recall(data, config)
    # planted clusters: the item-item model finds the user's cluster far better than popularity
    assert scores["ease_recall_at_10"] > 0.5 and scores["ease_recall_at_100"] == 1.0
    assert scores["ease_lambda"] in config.model.ease.lambdas
    task, data, config = _retrieval_data(**{"model.ease.max_items": "10"})
    skipped = task.ease_recall(data, config)
    assert "ease_recall_at_10" not in skipped
    assert skipped["ease_note"].startswith("skipped: 40 items > model.ease.max_items=10")
