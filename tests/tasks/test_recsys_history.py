"""history_two_tower: histories built by hand, the in-batch mask, and the edge bundle a device
runs for a known user and for a new user given ``--history``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import run_cli, run_tiny
from kerasuite.data import recsys


def test_history_table_is_newest_first_deduplicated_and_truncated():
    # user 1: items 5 (t=1), 6 (t=3), 7 (t=2), 5 again (t=4); user 2: item 8
    split = recsys.EncodedSplit(np.array([1, 1, 1, 1, 2]), np.array([5, 6, 7, 5, 8]), None,
                                np.array([1, 3, 2, 4, 9]))
    table = recsys.history_table(split, num_users=3, length=2)
    assert table.tolist() == [[0, 0, 0], [5, 6, 7], [8, 0, 0]]  # length + 1 columns
    # a training example never sees its own target; the rest moves up
    rows = recsys.histories_for(table, np.array([1, 1, 2, 0]), np.array([6, 9, 8, 3]), length=2)
    assert rows.tolist() == [[5, 7], [5, 6], [0, 0], [0, 0]]
    assert recsys.history_order(split).startswith("most recent first")
    # without timestamps: later rows count as more recent
    unstamped = recsys.EncodedSplit(np.array([1, 1]), np.array([3, 4]), None)
    assert recsys.history_table(unstamped, 2, 2)[1].tolist() == [4, 3, 0]
    assert recsys.history_order(unstamped) == "latest row first (file order)"


def test_in_batch_logits_mask_candidates_from_the_querys_history_but_never_its_positive():
    from kerasuite.models.layers.in_batch_logits import InBatchLogits

    query = np.eye(3, dtype=np.float32)
    candidate = np.eye(3, dtype=np.float32)
    ids = np.array([4, 5, 6], np.int32)
    history = np.array([[5, 4, 0], [0, 0, 0], [4, 6, 0]], np.int32)  # row 2 lists its own positive 6
    logits = np.asarray(InBatchLogits(temperature=1.0, remove_accidental_hits=False)(
        query, candidate, ids, None, query_history=history))
    masked = logits < -1e8
    assert masked.tolist() == [[False, True, False], [False, False, False], [True, False, False]]
    np.testing.assert_allclose(np.diag(logits), 1.0)


def test_interest_pooling_attends_to_real_positions_only_and_gives_zeros_for_an_empty_history():
    from kerasuite.models.layers.interest_pooling import InterestPooling

    rng = np.random.default_rng(3)
    sequence = rng.normal(size=(3, 5, 4)).astype(np.float32)
    mask = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]], bool)
    layer = InterestPooling(interests=2, attention_units=6)
    pooled = np.asarray(layer([sequence, mask]))
    assert pooled.shape == (3, 2, 4)
    np.testing.assert_array_equal(pooled[2], 0.0)
    # whatever sits in the padding does not move the result
    noisy = sequence.copy()
    noisy[0, 2:] = 100.0
    np.testing.assert_allclose(np.asarray(layer([noisy, mask]))[0], pooled[0], rtol=1e-6)
    # each interest is a convex combination of the real positions: softmax weights by hand
    hidden, heads = (np.asarray(w) for w in layer.weights)
    scores = np.tanh(sequence[1] @ hidden) @ heads  # [length, interests]
    weights = np.exp(scores - scores.max(axis=0)) / np.exp(scores - scores.max(axis=0)).sum(axis=0)
    np.testing.assert_allclose(pooled[1], weights.T @ sequence[1], rtol=1e-5, atol=1e-6)


def test_several_interests_score_a_candidate_by_the_best_one_in_training_and_on_the_device():
    from kerasuite.metrics.retrieval import candidate_scores, top_k_overlap
    from kerasuite.models.layers.in_batch_logits import InBatchLogits

    query = np.array([[[1, 0], [0, 1]], [[0.6, 0.8], [-1, 0]]], np.float32)  # 2 users x 2 interests
    candidate = np.array([[1, 0], [0, 1], [-0.6, -0.8]], np.float32)
    expected = np.array([[1, 1, -0.6], [0.6, 0.8, 0.6]], np.float32)
    np.testing.assert_allclose(candidate_scores(query, candidate), expected, rtol=1e-6)
    logits = np.asarray(InBatchLogits(temperature=0.5, remove_accidental_hits=False)(
        query, candidate, np.array([1, 2, 3], np.int32)))
    np.testing.assert_allclose(logits, expected / 0.5, rtol=1e-6)
    # the parity measure ranks by the same rule: a flipped second interest changes the top-1
    flipped = query.copy()
    flipped[1, 1] = [-0.6, -0.8]  # now closest to candidate 2
    assert top_k_overlap(query, query, candidate, k=1) == 1.0
    assert top_k_overlap(query, flipped, candidate, k=1) == 0.5


def test_catalogue_logits_score_every_item_and_mask_the_querys_history():
    from kerasuite.models.layers.catalogue_logits import CatalogueLogits
    from kerasuite.models.losses import CatalogueSoftmaxLoss

    query = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    catalogue = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], np.float32)  # rows = items 1, 2, 3
    positive = catalogue[[0, 2]]
    history = np.array([[2, 0, 0], [1, 2, 2]], np.int32)  # row 1 lists item 2 twice
    logits = np.asarray(CatalogueLogits(temperature=0.5)(query, catalogue, positive, history))
    assert (logits < -1e8).tolist() == [[False, True, False], [True, True, False]]
    np.testing.assert_allclose(logits[0, [0, 2]], [2.0, 1.2], rtol=1e-6)
    np.testing.assert_allclose(logits[1, 2], 1.6, rtol=1e-6)
    # the label is the catalogue row: row 1's only unmasked item gives it a zero loss
    loss = np.asarray(CatalogueSoftmaxLoss(reduction=None)(np.array([0, 2]), logits))
    assert loss[1] < 1e-6 < loss[0]


@pytest.mark.parametrize("interests", [1, 2])
def test_catalogue_softmax_model_trains_reloads_and_cuts_a_per_item_candidate_tower(tmp_path, interests):
    import keras

    from kerasuite.hparams import TwoTowerConfig
    from kerasuite.models.losses import CatalogueSoftmaxLoss
    from kerasuite.models.two_tower import CATALOGUE_LAYER, RecsysInputSizes, build_history_two_tower, towers

    sizes = RecsysInputSizes(num_users=7, num_items=9, num_genres=3, title_vocabulary=6, title_length=4)
    model = build_history_two_tower(TwoTowerConfig(embedding_dim=4, hidden_units=(8,), history_length=3,
                                                   softmax="catalogue", interests=interests), sizes)
    rng = np.random.default_rng(0)
    items = np.arange(1, 9, dtype=np.int32)
    catalogue = {"item_index": items, "item_genres": rng.random((8, 3)).astype("float32"),
                 "item_title": rng.integers(0, 6, (8, 4)).astype("int32")}
    model.get_layer(CATALOGUE_LAYER).set_catalogue(catalogue)
    n = 12
    targets = rng.integers(1, 9, n).astype("int32")
    features = {"user_index": rng.integers(0, 7, n).astype("int32"), "history": rng.integers(0, 9, (n, 3)).astype("int32"),
                "item_index": targets, "item_genres": catalogue["item_genres"][targets - 1],
                "item_title": catalogue["item_title"][targets - 1]}
    model.compile(optimizer="adam", loss=CatalogueSoftmaxLoss())
    assert np.isfinite(model.fit(features, targets - 1, epochs=1, verbose=0).history["loss"][0])
    assert model.predict(features, verbose=0).shape == (n, 8)
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    _, candidate = towers(reloaded)
    per_item = candidate.predict({k: catalogue[k] for k in catalogue}, verbose=0)
    assert per_item.shape == (8, 4)  # one row per item given, not the whole catalogue
    np.testing.assert_allclose(per_item, towers(model)[1].predict(catalogue, verbose=0), atol=1e-6)
    np.testing.assert_allclose(reloaded.predict(features, verbose=0), model.predict(features, verbose=0), atol=1e-5)


@pytest.mark.parametrize("softmax", ["in_batch", "catalogue"])
def test_one_tower_drops_history_items_in_the_model_in_training_only(softmax):
    from kerasuite.hparams import TwoTowerConfig
    from kerasuite.models.two_tower import RecsysInputSizes, build_history_two_tower, towers

    model = build_history_two_tower(TwoTowerConfig(embedding_dim=4, hidden_units=(8,), history_length=20,
                                                   history_dropout=0.3, softmax=softmax),
                                    RecsysInputSizes(num_users=5, num_items=30))
    history = np.arange(1, 20001, dtype=np.int32).reshape(1000, 20) % 29 + 1
    dropout = model.get_layer("history_dropout")
    dropped = np.asarray(dropout(history, training=True)) == 0
    assert 0.27 < dropped.mean() < 0.33
    np.testing.assert_array_equal(dropout(history, training=False), history)
    # the exported query tower reads the history through the layer, which is identity there
    query = towers(model)[0]
    assert "history_dropout" in {layer.name for layer in query.layers}


@pytest.fixture(scope="module", params=[(1, 1), (2, 1), (1, 2)], ids=["one_vector", "two_interests", "two_members"])
def history_run(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("history")
    interests, members = request.param
    report = run_tiny("retrieval", folder, family="history_two_tower",
                      extra={"model.two_tower.history_length": "6", "model.two_tower.interests": str(interests),
                             "model.two_tower.members": str(members), "export.tflm": "on"})
    return folder, report, interests, members


def test_history_family_reports_ease_and_ships_a_select_free_history_query_tower(history_run):
    from kerasuite.runtime.interpreter import TFLiteModel

    folder, report, interests, members = history_run
    scores = report["eval"]
    for key in ("recall_at_10", "popularity_recall_at_10", "ease_recall_at_10", "ease_recall_at_100"):
        assert 0.0 <= scores[key] <= 1.0, key
    assert scores["ease_lambda"] in (5.0, 20.0, 100.0, 500.0)
    assert all(report["exports"][mode]["parity"]["passed"] for mode in ("float32", "int8"))
    assert report["extra_files"]["retrieve_topk.tflite"]["passed"], report["extra_files"]
    # a microcontroller runs the query tower too: several interests export with a fixed batch of 1
    assert all(report["exports"][mode]["parity"]["runtimes"]["tflm"]["status"] == "passed" for mode in ("float32", "int8"))
    bundle = folder / "bundle"
    preprocessing = json.loads((bundle / "signature.json").read_text())["preprocessing"]
    assert preprocessing.get("interests", 1) == interests and (f"{interests} embeddings" in preprocessing["note"]) == (interests > 1)
    assert ("2 independently trained members" in preprocessing["note"]) == (members == 2)
    spec = preprocessing["history"]
    assert spec["length"] == 6 and spec["padding_index"] == 0 and spec["dtype"] == "int32"
    assert spec["order"].startswith("most recent first") and "most recent" in spec["truncation"]
    histories = np.load(bundle / "histories.npy")
    assert histories.shape[1] == 6 and histories.dtype == np.int32 and not histories[0].any()
    for name in ("model_float32.tflite", "model_int8.tflite", "retrieve_topk.tflite"):
        model = TFLiteModel(bundle / name)
        ops = set(model.op_names())
        assert "GATHER" in ops and not any(op.startswith(("Flex", "SELECT")) or op == "CUSTOM" for op in ops), (name, ops)
        assert sorted(model.input_names) == ["history", "user_index"]


def test_device_answers_for_known_and_new_users_and_refuses_an_all_unknown_history(history_run):
    from kerasuite.runtime import recsys as device

    folder, _, interests, _ = history_run
    bundle = folder / "bundle"
    users = (bundle / "users.txt").read_text().splitlines()
    items = (bundle / "items.txt").read_text().splitlines()
    known = run_cli("kerasuite.runtime.recsys", str(bundle), "--user", users[0], "--k", "3")
    assert known.returncode == 0 and len(known.stdout.strip().splitlines()) == 3, known.stderr
    new = run_cli("kerasuite.runtime.recsys", str(bundle), "--history", items[0], "nope", items[1], "--k", "3")
    assert new.returncode == 0, new.stderr
    recommended = [line.split()[1] for line in new.stdout.strip().splitlines()]
    assert len(recommended) == 3 and not {items[0], items[1]} & set(recommended)  # history items are seen
    warning = [line for line in new.stderr.splitlines() if line.strip()]
    assert len(warning) == 1 and "nope" in warning[0] and "skipped" in warning[0]
    nothing = run_cli("kerasuite.runtime.recsys", str(bundle), "--history", "nope", "zilch")
    assert nothing.returncode == 2 and "Traceback" not in nothing.stderr
    assert "nothing to score" in nothing.stderr.strip().splitlines()[-1]
    # a history longer than the bundle's length keeps the first (most recent) ones, unknowns dropped
    preprocessing = json.loads((bundle / "signature.json").read_text())["preprocessing"]
    given = [items[i] for i in range(9)] + ["nope"]
    row, unknown = device.history_input(preprocessing, bundle, 0, items, given)
    assert row.tolist() == [[1, 2, 3, 4, 5, 6]] and unknown == ["nope"]
    # the one-invoke top-k graph scores like the query tower + candidates.npy
    from_graph = device.recommend_with_topk_model(bundle, "someone-new", history=given)
    compiled = run_cli("kerasuite.runtime.recsys", str(bundle), "--history", *given, "--topk-model",
                       "--api", "compiled", "--k", "5")
    # the CompiledModel answers itself (a fallback to the Interpreter would print a note)
    assert compiled.returncode == 0 and "note:" not in compiled.stderr, compiled.stderr
    assert [line.split()[1] for line in compiled.stdout.strip().splitlines()] == [item for item, _ in from_graph[:5]]
    from kerasuite.runtime.interpreter import TFLiteModel

    query = TFLiteModel(bundle / "model_float32.tflite").predict({"user_index": np.array([0], np.int32), "history": row})
    assert query.shape[1:-1] == ((interests,) if interests > 1 else ())
    scores = (np.load(bundle / "candidates.npy") @ query[0].reshape(-1, query.shape[-1]).T).max(axis=1)
    expected_rows, expected_scores = device.top_k(scores, len(from_graph), exclude=row[row > 0] - 1)
    assert [item for item, _ in from_graph] == [items[r] for r in expected_rows]
    np.testing.assert_allclose([s for _, s in from_graph], expected_scores, atol=1e-5)
    assert not {items[i - 1] for i in row[0] if i} & {item for item, _ in from_graph}  # history items: seen
    # a known user: both bundle paths give the same answer (the graph once returned seen items)
    for user in users[:3]:
        from_tower = device.recommend(bundle, user, k=len(from_graph))
        assert [item for item, _ in device.recommend_with_topk_model(bundle, user)] == [item for item, _ in from_tower]


def test_edge_runner_reads_a_known_users_history_from_the_bundle(history_run, tmp_path):
    """``python -m kerasuite.edge model_float32.tflite --input USER.txt`` on a history bundle: the
    reader adds the user's row of histories.npy (the query tower has two inputs); it used to pair
    the user index with the history input and refuse with a wrong shape."""
    from kerasuite.runtime import recsys as device
    from kerasuite.runtime.interpreter import TFLiteModel

    folder = history_run[0]
    bundle = folder / "bundle"
    users = (bundle / "users.txt").read_text().splitlines()
    (tmp_path / "user.txt").write_text(f"user_id\n{users[1]}\n")
    preprocessing = json.loads((bundle / "signature.json").read_text())["preprocessing"]
    inputs = device.read_user(str(tmp_path / "user.txt"), preprocessing, bundle)
    assert inputs["user_index"].tolist() == [2]
    assert inputs["history"].tolist() == np.load(bundle / "histories.npy")[2:3].tolist()
    done = run_cli("kerasuite.edge", str(bundle / "model_float32.tflite"), "--input", str(tmp_path / "user.txt"))
    assert done.returncode == 0, done.stderr
    expected = TFLiteModel(bundle / "model_float32.tflite").predict(inputs)[0].ravel()
    shown = next(line for line in done.stdout.splitlines() if line.startswith(str(tmp_path / "user.txt")))
    first = float(shown.split("[", 1)[1].split(",")[0])
    assert abs(first - float(expected[0])) < 1e-3, (shown, expected[:3])
