"""The linear ngram model solved as its peer is: the Keras model after the solve gives
scikit-learn's probabilities on the features TfidfBag computes, C comes from validation, and the
penalty Keras trains on afterwards is that C's."""

import numpy as np
import pytest

from kerasuite.hparams import NgramConfig
from kerasuite.models import tfidf_solver
from kerasuite.models.layers.tfidf_bag import inverse_document_frequency
from kerasuite.models.ngram import build_ngram_classifier

NUM_IDS, LENGTH = 40, 8


def _rows(rng, labels):
    # each class prefers its own block of ids; some rows repeat an id (log2 term frequency)
    rows = np.zeros((len(labels), LENGTH), np.int32)
    for row, label in zip(rows, labels):
        count = rng.integers(2, LENGTH + 1)
        own = rng.integers(2 + 12 * label, 14 + 12 * label, size=count // 2)
        other = rng.integers(2, NUM_IDS, size=count - count // 2)
        row[:count] = np.concatenate([own, other])
    return rows


@pytest.fixture(scope="module")
def split():
    rng = np.random.default_rng(0)
    train_y, val_y = rng.integers(0, 3, 150), rng.integers(0, 3, 60)
    return _rows(rng, train_y), train_y, _rows(rng, val_y), val_y


@pytest.mark.parametrize("split_at", [0, NUM_IDS // 3])
def test_tfidf_matrix_is_what_the_bag_computes(split, split_at):
    train_ids = split[0]
    idf = inverse_document_frequency(train_ids, NUM_IDS)
    matrix = tfidf_solver.tfidf_matrix(train_ids, idf, split_at).toarray()
    model = build_ngram_classifier(NgramConfig(), NUM_IDS, LENGTH, 3, idf=idf, split_at=split_at)
    bag = model.get_layer("tfidf_bag")
    table = np.random.default_rng(1).normal(size=(NUM_IDS, 3)).astype("float32")
    bag.table.assign(table)
    logits = np.log(np.asarray(model(train_ids, training=False)))
    expected = bag.scale * matrix @ table
    # softmax is shift-invariant: compare logits up to a per-row constant
    np.testing.assert_allclose(logits - logits[:, :1], expected - expected[:, :1], atol=2e-4)


@pytest.mark.parametrize("classes", [2, 3])
def test_solved_model_equals_scikit_learn(split, classes):
    from sklearn.linear_model import LogisticRegression

    train_ids, train_y, val_ids, val_y = split
    train_y, val_y = train_y % classes, val_y % classes
    idf = inverse_document_frequency(train_ids, NUM_IDS)
    model = build_ngram_classifier(NgramConfig(), NUM_IDS, LENGTH, classes, idf=idf, train_examples=len(train_y))
    solved = tfidf_solver.solve(model.get_layer("tfidf_bag"), train_ids, train_y, val_ids, val_y, (0.1, 10.0), classes)
    assert set(solved.candidates) == {0.1, 10.0}
    assert solved.validation_accuracy == max(solved.candidates.values())
    assert solved.candidates[solved.c] == solved.validation_accuracy
    reference = LogisticRegression(C=solved.c, max_iter=3000, tol=1e-8).fit(
        tfidf_solver.tfidf_matrix(train_ids, idf), train_y)
    # the solver stops at scikit-learn's default tolerance (1e-4), as the peer does: close to the optimum
    expected = reference.predict_proba(tfidf_solver.tfidf_matrix(val_ids, idf))
    got = np.asarray(model(val_ids, training=False))
    np.testing.assert_allclose(got, expected, atol=1e-2)
    assert (got.argmax(1) == expected.argmax(1)).mean() >= 0.95


def test_keras_penalty_follows_the_chosen_c(split):
    train_ids, train_y, val_ids, val_y = split
    model = build_ngram_classifier(NgramConfig(regularization_c=0.0), NUM_IDS, LENGTH, 3,
                                   idf=inverse_document_frequency(train_ids, NUM_IDS))
    bag = model.get_layer("tfidf_bag")
    solved = tfidf_solver.solve(bag, train_ids, train_y, val_ids, val_y, (3.0,), 3)
    weights = bag.scale * np.asarray(bag.table)
    # C * sum(CE) + ||W||^2 / 2, per example: ||W||^2 / (2 C n)
    assert float(sum(bag.losses)) == pytest.approx((weights**2).sum() / (2 * solved.c * len(train_y)), rel=1e-4)


def test_without_validation_the_first_candidate_is_used(split):
    train_ids, train_y, _, _ = split
    model = build_ngram_classifier(NgramConfig(), NUM_IDS, LENGTH, 3, idf=inverse_document_frequency(train_ids, NUM_IDS))
    solved = tfidf_solver.solve(model.get_layer("tfidf_bag"), train_ids, train_y, None, None, (5.0, 50.0), 3)
    assert solved.c == 5.0 and solved.validation_accuracy is None


def test_naive_bayes_ratios_by_hand():
    from scipy import sparse

    # ids 0..2; class 0 texts contain ids {0, 1} and {0}; the class 1 text contains {1, 2}
    x = sparse.csr_matrix(np.array([[0.5, 0.2, 0.0], [1.0, 0.0, 0.0], [0.0, 0.3, 0.7]]))
    ratios = tfidf_solver.naive_bayes_ratios(x, np.array([0, 0, 1]), 2, alpha=1.0)
    p, q = np.array([3.0, 2.0, 1.0]), np.array([1.0, 2.0, 2.0])  # 1 + texts with the id, per side
    np.testing.assert_allclose(ratios[:, 0], np.log(p / p.sum()) - np.log(q / q.sum()))
    np.testing.assert_allclose(ratios[:, 1], np.log(q / q.sum()) - np.log(p / p.sum()))


@pytest.mark.parametrize("classes", [2, 3])
def test_naive_bayes_solver_is_one_vs_rest_on_scaled_features(split, classes):
    from sklearn.linear_model import LogisticRegression

    train_ids, train_y, val_ids, val_y = split
    train_y, val_y = train_y % classes, val_y % classes
    idf = inverse_document_frequency(train_ids, NUM_IDS)
    model = build_ngram_classifier(NgramConfig(solver="nb_lbfgs"), NUM_IDS, LENGTH, classes, idf=idf)
    bag = model.get_layer("tfidf_bag")
    solved = tfidf_solver.solve(bag, train_ids, train_y, val_ids, val_y, (0.1, 10.0), classes, method="nb_lbfgs")
    assert solved.validation_accuracy == max(solved.candidates.values())
    train_x, val_x = tfidf_solver.tfidf_matrix(train_ids, idf), tfidf_solver.tfidf_matrix(val_ids, idf)
    ratios = tfidf_solver.naive_bayes_ratios(train_x, train_y, classes)
    expected = np.zeros((len(val_y), classes))
    for k in range(classes):  # the plain recipe: scale by r_k, fit class k against the rest, score
        reference = LogisticRegression(C=solved.c, max_iter=3000, tol=1e-8).fit(
            train_x.multiply(ratios[:, k]).tocsr(), (train_y == k).astype(int))
        expected[:, k] = reference.decision_function(val_x.multiply(ratios[:, k]).tocsr())
    logits = np.log(np.asarray(model(val_ids, training=False)))
    # softmax is shift-invariant: compare logits up to a per-row constant
    np.testing.assert_allclose(logits - logits[:, :1], expected - expected[:, :1], atol=0.05)
    assert (logits.argmax(1) == expected.argmax(1)).mean() >= 0.95


def test_int8_grid_solve_puts_the_table_on_256_levels_and_clips_to_the_decision_range(split):
    train_ids, train_y, val_ids, val_y = split
    idf = inverse_document_frequency(train_ids, NUM_IDS)
    model = build_ngram_classifier(NgramConfig(), NUM_IDS, LENGTH, 3, idf=idf, train_examples=len(train_y))
    bag = model.get_layer("tfidf_bag")
    solved = tfidf_solver.solve(bag, train_ids, train_y, val_ids, val_y, (1.0, 10.0), 3, method="nb_lbfgs",
                                int8_grid=True)
    table = np.asarray(bag.table, np.float64)
    step = (table.max() - table.min()) / 255.0
    levels = (table - table.min()) / step
    np.testing.assert_allclose(levels, np.round(levels), atol=1e-3)  # every entry on one int8 grid
    assert table[0].min() == table.min() and table[0].max() == table.max()  # pinned by the padding row
    low, high = bag.logit_clip
    assert solved.logit_clip == (low, high) and low < high
    # the clipped Keras model decides as the unclipped one on every validation row
    matrix = tfidf_solver.tfidf_matrix(val_ids, idf, 0)
    logits = matrix @ (table * bag.scale) + np.asarray(bag.bias)
    probabilities = np.asarray(model(val_ids, training=False))
    assert (probabilities.argmax(1) == logits.argmax(1)).all()
    assert probabilities.max() < 1.0 - 1e-6 or high - low < 30  # the clip bounds the logits
    np.testing.assert_allclose(np.log(probabilities) - np.log(probabilities[:, :1]),
                               np.clip(logits, low, high) - np.clip(logits, low, high)[:, :1], atol=2e-4)
    assert tfidf_solver.report(solved)["int8_grid"]["logit_clip"] == [low, high]


def test_without_int8_grid_the_nb_table_is_as_solved(split):
    train_ids, train_y, val_ids, val_y = split
    idf = inverse_document_frequency(train_ids, NUM_IDS)
    model = build_ngram_classifier(NgramConfig(), NUM_IDS, LENGTH, 3, idf=idf, train_examples=len(train_y))
    bag = model.get_layer("tfidf_bag")
    solved = tfidf_solver.solve(bag, train_ids, train_y, val_ids, val_y, (1.0,), 3, method="nb_lbfgs")
    assert bag.logit_clip is None and solved.logit_clip is None
    table = np.asarray(bag.table, np.float64)
    levels = (table - table.min()) / ((table.max() - table.min()) / 255.0)
    assert np.abs(levels - np.round(levels)).max() > 0.1  # not on an int8 grid


@pytest.mark.parametrize("split_at", [0, NUM_IDS // 3])
def test_tfidf_matrix_built_in_chunks_is_the_same_matrix(split, split_at):
    train_ids = split[0]
    idf = inverse_document_frequency(train_ids, NUM_IDS)
    whole = tfidf_solver.tfidf_matrix(train_ids, idf, split_at, rows_per_chunk=len(train_ids))
    chunked = tfidf_solver.tfidf_matrix(train_ids, idf, split_at, rows_per_chunk=7)  # 150 rows: 22 chunks
    assert chunked.shape == whole.shape and chunked.format == "csr"
    np.testing.assert_array_equal(chunked.toarray(), whole.toarray())
    assert tfidf_solver.tfidf_matrix(train_ids[:0], idf, split_at).shape == (0, NUM_IDS)
