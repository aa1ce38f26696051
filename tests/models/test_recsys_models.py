"""Two-tower and ranking builders: exact layer values, training smoke, .keras round trips."""

from __future__ import annotations

import keras
import keras_rs
import numpy as np
import pytest

from harness import run_litert_export_test, run_model_saving_test
from kerasuite.hparams import RankingConfig, TwoTowerConfig
from kerasuite.models.ranking import build_ranking_dcn, build_ranking_mlp
from kerasuite.models.layers.accidental_hit_removal import AccidentalHitRemoval
from kerasuite.models.layers.candidate_top_k import CandidateTopK
from kerasuite.models.layers.in_batch_logits import InBatchLogits
from kerasuite.models.losses import InBatchSoftmaxLoss
from kerasuite.models.two_tower import RecsysInputSizes, build_topk_model, build_two_tower, towers

SIZES = RecsysInputSizes(num_users=7, num_items=9, num_genres=3, title_vocabulary=6, title_length=4)


def batch(n=16, seed=0, sampling=False):
    rng = np.random.default_rng(seed)
    x = {
        "user_index": rng.integers(0, SIZES.num_users, n).astype("int32"),
        "item_index": rng.integers(1, SIZES.num_items, n).astype("int32"),
        "item_genres": rng.integers(0, 2, (n, 3)).astype("float32"),
        "item_title": rng.integers(0, 6, (n, 4)).astype("int32"),
    }
    if sampling:
        x["item_sampling_probability"] = rng.uniform(0.01, 0.5, n).astype("float32")
    return x


def test_accidental_hits_are_masked_where_keras_rs_leaves_them():
    logits = np.array([[1.0, 2.0, 3.0, 4.0]], "float32")
    labels = np.array([[0.0, 0.0, 1.0, 0.0]], "float32")
    ids = np.array([7, 5, 7, 8])  # candidate 0 is the positive's item again
    fixed = keras.ops.convert_to_numpy(keras.ops.softmax(AccidentalHitRemoval()(logits, labels, ids)))
    e = np.exp([2.0, 3.0, 4.0])
    np.testing.assert_allclose(fixed[0], [0.0, *(e / e.sum())], rtol=1e-6)
    # keras-rs 0.4 adds ~1e-40 to the duplicate: a no-op (keras-team/keras-rs#206). If this starts
    # failing, upstream is fixed and AccidentalHitRemoval can go.
    upstream = keras.ops.convert_to_numpy(keras_rs.layers.RemoveAccidentalHits()(logits, labels, ids))
    np.testing.assert_array_equal(upstream, logits)


def test_in_batch_logits_by_hand():
    query = np.array([[1.0, 0.0], [0.0, 1.0]], "float32")
    candidate = np.array([[0.5, 0.5], [1.0, 0.0]], "float32")
    ids = np.array([3, 3])  # both rows are the same item: each row's other column is a duplicate
    plain = InBatchLogits(temperature=0.5, remove_accidental_hits=False)(query, candidate, ids)
    np.testing.assert_allclose(plain, [[1.0, 2.0], [1.0, 0.0]])
    masked = keras.ops.convert_to_numpy(InBatchLogits(temperature=0.5)(query, candidate, ids))
    np.testing.assert_allclose(np.diag(masked), [1.0, 0.0])
    assert masked[0, 1] < -1e8 and masked[1, 0] < -1e8
    probability = np.array([0.5, 0.25], "float32")
    corrected = InBatchLogits(temperature=0.5, remove_accidental_hits=False, sampling_correction=True)(
        query, candidate, ids, probability)
    np.testing.assert_allclose(corrected, [[1.0 - np.log(0.5), 2.0 - np.log(0.25)],
                                           [1.0 - np.log(0.5), 0.0 - np.log(0.25)]], rtol=1e-6)


def test_in_batch_softmax_loss_uses_the_diagonal():
    logits = np.array([[2.0, 0.0], [0.0, 2.0]], "float32")
    per_row = -np.log(np.exp(2.0) / (np.exp(2.0) + 1.0))
    loss = InBatchSoftmaxLoss()(np.zeros(2, "float32"), logits)
    assert float(loss) == pytest.approx(per_row, rel=1e-6)


def test_in_batch_softmax_loss_averages_one_softmax_per_member_block():
    # two members' [2, 2] blocks side by side: each row's positive is its own column in each block
    first = np.array([[2.0, 0.0], [0.0, 2.0]], "float32")
    second = np.array([[0.0, 1.0], [3.0, 0.0]], "float32")
    each = [InBatchSoftmaxLoss(reduction=None)(np.zeros(2, "float32"), block) for block in (first, second)]
    joined = InBatchSoftmaxLoss(reduction=None)(np.zeros(2, "float32"), np.concatenate([first, second], axis=1))
    np.testing.assert_allclose(joined, (np.asarray(each[0]) + np.asarray(each[1])) / 2, rtol=1e-6)
    # not one softmax over all four columns
    both = np.concatenate([first, second], axis=1)
    one_softmax = np.log(np.exp(both).sum(axis=1)) - both[[0, 1], [0, 1]]
    assert not np.allclose(joined, one_softmax, rtol=1e-3)


def test_history_dropout_layer_drops_at_its_rate_in_training_only_and_each_member_draws_its_own():
    from kerasuite.models.layers.history_dropout import HistoryDropout
    from kerasuite.models.two_tower import build_history_two_tower

    history = np.arange(1, 20001, dtype=np.int32).reshape(1000, 20)
    layer = HistoryDropout(0.3, seed=1)
    np.testing.assert_array_equal(layer(history, training=False), history)
    out = np.asarray(layer(history, training=True))
    dropped = out == 0
    assert 0.27 < dropped.mean() < 0.33 and (out[~dropped] == history[~dropped]).all()
    cfg = TwoTowerConfig(embedding_dim=4, hidden_units=(8,), history_length=20, members=2, history_dropout=0.5)
    model = build_history_two_tower(cfg, SIZES)
    draws = [np.asarray(model.get_layer(f"history_dropout_{member}")(history, training=True)) for member in (0, 1)]
    assert (draws[0] == 0).mean() > 0.4 and (draws[0] != draws[1]).mean() > 0.3


def test_history_members_train_apart_and_ship_as_one_concatenated_query(tmp_path):
    from kerasuite.models.two_tower import build_history_two_tower, member_count

    cfg = TwoTowerConfig(embedding_dim=4, hidden_units=(8,), history_length=3, members=3)
    model = build_history_two_tower(cfg, SIZES)
    assert member_count(model) == 3
    x = batch(16)
    x["history"] = np.random.default_rng(2).integers(0, SIZES.num_items, (16, 3)).astype("int32")
    assert model.predict(x, verbose=0).shape == (16, 48)  # three [16, 16] blocks
    # each member learns from its own softmax only: member 0's loss leaves member 1's weights alone
    import tensorflow as tf

    member_one = model.get_layer("item_embedding_1").trainable_weights
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        first_block_loss = tf.reduce_mean(InBatchSoftmaxLoss(reduction=None)(tf.zeros(16), logits[:, :16]))
    gradients = tape.gradient(first_block_loss, member_one + model.get_layer("item_embedding_0").trainable_weights)
    values = [np.abs(tf.convert_to_tensor(gradient).numpy()).max() for gradient in gradients]
    assert values[0] == 0.0 and values[1] > 0.0, values
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=InBatchSoftmaxLoss())
    model.fit(x, np.ones(16, "float32"), batch_size=8, epochs=1, verbose=0)
    loaded = run_model_saving_test(model, {k: v[:8] for k, v in x.items()}, tmp_path)
    query_tower, candidate_tower = towers(loaded)
    queries = query_tower.predict({"user_index": x["user_index"], "history": x["history"]}, verbose=0)
    candidates = candidate_tower.predict({k: x[k] for k in ("item_index", "item_genres", "item_title")}, verbose=0)
    assert queries.shape == (16, 12) and candidates.shape == (16, 12)
    # one unit vector per member, so one dot product is the sum of the members' scores, which are
    # the training logits times the temperature
    np.testing.assert_allclose(np.linalg.norm(queries.reshape(16, 3, 4), axis=2), 1.0, rtol=1e-5)
    blocks = loaded.predict(x, verbose=0).reshape(16, 3, 16)
    summed = np.where(blocks < -1e8, np.nan, blocks).sum(axis=1) * cfg.temperature
    dots = queries @ candidates.T
    kept = ~np.isnan(summed)
    np.testing.assert_allclose(dots[kept], summed[kept], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("sampling", [False, True])
def test_two_tower_trains_and_round_trips(tmp_path, sampling):
    sizes = RecsysInputSizes(**{**vars(SIZES), "sampling_correction": sampling})
    model = build_two_tower(TwoTowerConfig(embedding_dim=4, hidden_units=(8,)), sizes)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=InBatchSoftmaxLoss())
    x = batch(32, sampling=sampling)
    history = model.fit(x, np.ones(32, "float32"), batch_size=8, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    loaded = run_model_saving_test(model, {k: v[:8] for k, v in x.items()}, tmp_path)
    query_tower, candidate_tower = towers(loaded)
    assert [t.name for t in query_tower.inputs] == ["user_index"]
    embedding = query_tower.predict(np.array([0, 3], "int32"), verbose=0)  # 0 = unknown user
    np.testing.assert_allclose(np.linalg.norm(embedding, axis=1), 1.0, rtol=1e-5)
    assert candidate_tower.output.shape[-1] == 4


def test_candidate_top_k_matches_numpy_and_round_trips(tmp_path):
    model = build_two_tower(TwoTowerConfig(embedding_dim=4, hidden_units=()), SIZES)
    query_tower, _ = towers(model)
    candidates = np.random.default_rng(1).normal(size=(8, 4)).astype("float32")
    topk = build_topk_model(query_tower, candidates, k=3)
    users = np.array([0, 2, 5], "int32")
    out = run_model_saving_test(topk, users, tmp_path).predict(users, verbose=0)
    scores = query_tower.predict(users, verbose=0) @ candidates.T
    np.testing.assert_array_equal(out["candidate_row"], np.argsort(-scores, axis=1)[:, :3])
    np.testing.assert_allclose(out["scores"], -np.sort(-scores, axis=1)[:, :3], rtol=1e-5)
    with pytest.raises(ValueError, match="k must be"):
        CandidateTopK(num_candidates=2, embedding_dim=4, k=3)


def test_candidate_top_k_ranks_by_the_best_interest_of_a_multi_interest_query(tmp_path):
    from kerasuite.models.two_tower import build_history_two_tower

    cfg = TwoTowerConfig(embedding_dim=4, hidden_units=(), history_length=3, interests=2)
    query_tower, _ = towers(build_history_two_tower(cfg, SIZES))
    assert query_tower.output.shape[1:] == (2, 4)
    candidates = np.random.default_rng(2).normal(size=(8, 4)).astype("float32")
    topk = build_topk_model(query_tower, candidates, k=3, history_length=3)
    inputs = {"user_index": np.array([0, 1], "int32"), "history": np.array([[1, 2, 0], [3, 0, 0]], "int32")}
    out = run_model_saving_test(topk, inputs, tmp_path).predict(inputs, verbose=0)
    scores = (query_tower.predict(inputs, verbose=0) @ candidates.T).max(axis=1)
    scores[0, [0, 1]] = scores[1, 2] = -np.inf  # the history's items (row = index - 1) are never returned
    np.testing.assert_array_equal(out["candidate_row"], np.argsort(-scores, axis=1)[:, :3])
    np.testing.assert_allclose(out["scores"], -np.sort(-scores, axis=1)[:, :3], rtol=1e-5)


@pytest.mark.parametrize("build", [build_ranking_mlp, build_ranking_dcn])
@pytest.mark.parametrize("implicit", [False, True])
def test_ranking_models_train_and_round_trip(tmp_path, build, implicit):
    model = build(RankingConfig(embedding_dim=4, hidden_units=(8,), cross_layers=2), SIZES,
                  implicit=implicit, mean_target=3.5)
    x = batch(32)
    y = (x["user_index"] % 2).astype("float32") if implicit else (1.0 + x["item_index"] / 2).astype("float32")
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="binary_crossentropy" if implicit else "mse")
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, batch_size=8, epochs=4, verbose=0)
    assert model.evaluate(x, y, verbose=0) < before
    predictions = run_model_saving_test(model, x, tmp_path).predict(x, verbose=0)
    assert predictions.shape == (32, 1)
    if implicit:
        assert np.all((predictions > 0) & (predictions < 1))
    if build is build_ranking_dcn:
        assert sum(isinstance(layer, keras_rs.layers.FeatureCross) for layer in model.layers) == 2


def test_trained_ranking_dcn_exports_through_the_shared_harness(tmp_path):
    from kerasuite.config import ModeTolerance

    keras.utils.set_random_seed(0)
    model = build_ranking_dcn(RankingConfig(embedding_dim=4, hidden_units=(8,), cross_layers=1), SIZES, mean_target=3.0)
    x = batch(256, seed=3)
    y = (1.0 + x["item_index"] / 2 + x["item_genres"][:, 0]).astype("float32")
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="mse")
    model.fit(x, y, batch_size=32, epochs=6, verbose=0)
    held = batch(128, seed=4)
    targets = (1.0 + held["item_index"] / 2 + held["item_genres"][:, 0]).astype("float32")
    # scores are values, not classes: int8 is judged by the rmse it feeds (as the ranking task does)
    report = run_litert_export_test(model, held, tmp_path, targets=targets, representative=x,
                                    tolerances={"int8": ModeTolerance(min_agreement=None, max_metric_drop=0.05)})
    assert report.exports["int8"]["parity"]["metric"] == "rmse"


def test_untrained_rating_head_starts_at_the_training_mean():
    model = build_ranking_mlp(RankingConfig(embedding_dim=4, hidden_units=()), SIZES, mean_target=3.5)
    head = model.get_layer("rating")
    head.kernel.assign(np.zeros(head.kernel.shape, "float32"))
    np.testing.assert_allclose(model.predict(batch(4), verbose=0), 3.5)


def test_bad_settings_are_value_errors():
    with pytest.raises(ValueError, match="cross_layers"):
        build_ranking_dcn(RankingConfig(cross_layers=0), SIZES)
    with pytest.raises(ValueError, match="temperature"):
        InBatchLogits(temperature=0.0)


def test_moved_layers_keep_their_registered_names_and_files_from_before_the_move_load(tmp_path):
    """The two-tower layers and losses moved out of models/two_tower.py (issue 13): saved .keras
    files name them by registered name and by the module they were defined in, then."""
    import json
    import zipfile

    from kerasuite.models.layers.catalogue_features import CatalogueFeatures
    from kerasuite.models.layers.catalogue_logits import CatalogueLogits
    from kerasuite.models.layers.index_embedding import IndexEmbedding
    from kerasuite.models.losses import CatalogueSoftmaxLoss

    for cls in (IndexEmbedding, AccidentalHitRemoval, InBatchLogits, CandidateTopK, CatalogueFeatures,
                CatalogueLogits, InBatchSoftmaxLoss, CatalogueSoftmaxLoss):
        assert keras.saving.get_registered_name(cls) == f"kerasuite>{cls.__name__}"
    model = build_two_tower(TwoTowerConfig(embedding_dim=4, hidden_units=(8,)), SIZES)
    model.compile(optimizer="adam", loss=InBatchSoftmaxLoss())
    model.save(tmp_path / "now.keras")
    # rewrite the file as the code before the move wrote it: every kerasuite class from two_tower
    with zipfile.ZipFile(tmp_path / "now.keras") as now, zipfile.ZipFile(tmp_path / "before.keras", "w") as before:
        for item in now.infolist():
            data = now.read(item.filename)
            if item.filename == "config.json":
                text = data.decode()
                moved = [f'"module": "kerasuite.models.layers.{name}"' for name in ("index_embedding", "in_batch_logits",
                                                                                   "accidental_hit_removal")]
                assert any(m in text for m in moved)  # the file does name the new modules
                for m in moved + ['"module": "kerasuite.models.losses"']:
                    text = text.replace(m, '"module": "kerasuite.models.two_tower"')
                json.loads(text)
                data = text.encode()
            before.writestr(item, data)
    loaded = keras.saving.load_model(tmp_path / "before.keras", safe_mode=True)
    x = {k: v[:4] for k, v in batch(4).items()}
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert isinstance(loaded.loss, InBatchSoftmaxLoss)
