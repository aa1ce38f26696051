"""Retrieval and ranking metrics, checked against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from kerasuite.metrics import retrieval as metrics


def test_recall_at_k_by_hand_with_seen_item_removal():
    # 3 queries x 5 candidates.
    scores = np.array([
        [0.9, 0.8, 0.7, 0.6, 0.5],  # target 2 has two better items, both seen -> rank 0
        [0.1, 0.9, 0.8, 0.3, 0.2],  # target 3: items 1, 2 ahead; only 1 seen -> rank 1
        [0.5, 0.4, 0.3, 0.2, 0.1],  # target 4: last; 4 itself in "seen" must not be removed -> rank 4
    ])
    targets = np.array([2, 3, 4])
    seen = [np.array([0, 1]), np.array([1]), np.array([4])]
    ranks = metrics.heldout_ranks(scores, targets, seen)
    assert ranks.tolist() == [0, 1, 4]
    assert metrics.recall_at_k(ranks, (1, 2, 5)) == {"recall_at_1": 1 / 3, "recall_at_2": 2 / 3, "recall_at_5": 1.0}
    # Without removal the same scores rank the targets 2, 2 and 4.
    assert metrics.heldout_ranks(scores, targets).tolist() == [2, 2, 4]


def test_ties_rank_the_lower_index_first_like_top_k():
    scores = np.array([[1.0, 1.0, 1.0, 1.0]])
    assert metrics.heldout_ranks(scores, np.array([0])).tolist() == [0]
    assert metrics.heldout_ranks(scores, np.array([3])).tolist() == [3]
    assert metrics.heldout_ranks(scores, np.array([3]), [np.array([0, 1])]).tolist() == [1]


def test_corpus_recall_chunks_and_seen_lookup_match_the_direct_computation():
    rng = np.random.default_rng(0)
    queries, candidates = rng.normal(size=(37, 4)), rng.normal(size=(50, 4))
    users = rng.integers(0, 10, size=37)
    targets = rng.integers(0, 50, size=37)
    seen = metrics.seen_matrix_rows(rng.integers(0, 10, size=200), rng.integers(0, 50, size=200))
    chunked = metrics.corpus_recall(lambda rows: queries[rows] @ candidates.T, np.arange(37), targets, seen,
                                    seen_keys=users, ks=(5, 20), chunk=8)
    ranks = metrics.heldout_ranks(queries @ candidates.T, targets, [seen.get(int(u)) for u in users])
    assert chunked == metrics.recall_at_k(ranks, (5, 20))
    assert 0.0 < chunked["recall_at_20"] < 1.0


def test_seen_matrix_rows_groups_unique_items_per_user():
    seen = metrics.seen_matrix_rows(np.array([2, 1, 2, 2]), np.array([5, 3, 1, 5]))
    assert {k: v.tolist() for k, v in seen.items()} == {1: [3], 2: [1, 5]}


def test_popularity_scores_count_training_interactions():
    assert metrics.popularity_scores(np.array([0, 2, 2, 3]), 5).tolist() == [1, 0, 2, 1, 0]


def test_top_k_overlap_is_one_for_identical_queries_and_drops_with_disagreement():
    candidates = np.eye(4)
    reference = np.array([[4.0, 3.0, 2.0, 1.0]])
    assert metrics.top_k_overlap(reference, reference, candidates, k=2) == 1.0
    swapped = np.array([[1.0, 3.0, 2.0, 4.0]])  # top-2 {3, 1} vs {0, 1}
    assert metrics.top_k_overlap(reference, swapped, candidates, k=2) == 0.5


def test_bad_shapes_are_value_errors():
    with pytest.raises(ValueError):
        metrics.heldout_ranks(np.zeros((2, 3)), np.array([0]))
    with pytest.raises(ValueError):
        metrics.heldout_ranks(np.zeros((1, 3)), np.array([3]))


def test_auc_and_rmse_by_hand():
    from kerasuite.metrics.ranking import auc, rmse

    # positives 0.8, 0.4; negatives 0.5, 0.1 -> pairs won: (0.8>0.5, 0.8>0.1, 0.4>0.1) = 3 of 4
    assert auc(np.array([0.8, 0.4, 0.5, 0.1]), np.array([1, 1, 0, 0])) == pytest.approx(0.75)
    assert auc(np.array([0.5, 0.5]), np.array([1, 0])) == pytest.approx(0.5)  # a tie counts half
    assert rmse(np.array([[1.0], [3.0]]), np.array([2.0, 2.0])) == pytest.approx(1.0)
