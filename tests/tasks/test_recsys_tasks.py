"""The retrieval and ranking tasks end to end: metrics next to baselines, bundle extras, the
TF-free device path (id tables, OOV users, top-k model), and bad input through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import assert_one_line_error, run_cli, run_main
from harness import load_keras_file
from kerasuite import config as cfg
from kerasuite.errors import UserError

SYNTHETIC = "synthetic:clusters,users=60,items=40,clusters=4,per_user=8"


def _config(task: str, source: str = SYNTHETIC, **sets: str) -> cfg.RunConfig:

    values = {"task": task, "data.source": source, "train.batch_size": "16", "train.epochs": "1",
              "train.verbose": "0", **sets}
    return cfg.resolve({}, values)


def _task(name: str):
    from kerasuite.tasks import get_task

    return get_task(name)


# ----------------------------------------------------------------------------------- retrieval


def test_retrieval_reports_recall_next_to_popularity_and_ships_the_corpus(tiny_run):
    folder, report = tiny_run("retrieval")
    scores = report["eval"]
    for key in ("recall_at_10", "recall_at_100", "popularity_recall_at_10", "popularity_recall_at_100",
                "planted_ceiling_recall_at_10"):
        assert 0.0 <= scores[key] <= 1.0, key
    # 40 candidates: every held-out item is within the top 100
    assert scores["recall_at_100"] == 1.0 and scores["popularity_recall_at_100"] == 1.0
    bundle = folder / "bundle"
    items = (bundle / "items.txt").read_text().splitlines()
    candidates = np.load(bundle / "candidates.npy")
    assert candidates.shape == (len(items), 8) and len(items) == 40
    np.testing.assert_allclose(np.linalg.norm(candidates, axis=1), 1.0, rtol=1e-4)
    assert report["exports"]["int8"]["parity"]["topk_overlap"] >= 0.8
    signature = json.loads((bundle / "signature.json").read_text())
    assert signature["preprocessing"]["kind"] == "recsys_user"
    logs = folder / "run" / "logs" / "validation"
    assert (logs / "projector_config.pbtxt").is_file()
    assert list(logs.glob("events.out.tfevents.*")), "TensorBoard lists only folders with events as runs"
    metadata = (logs / "metadata.tsv").read_text().splitlines()
    assert metadata[0] == "item_id\ttitle" and len(metadata) == 41
    assert metadata[1].split("\t")[0] == items[0]


def test_topk_model_is_builtin_only_and_agrees_with_numpy_top_k(tiny_run):
    from kerasuite.runtime import recsys as device
    from kerasuite.runtime.interpreter import TFLiteModel

    folder, _ = tiny_run("retrieval")
    bundle = folder / "bundle"
    ops = set(TFLiteModel(bundle / "retrieve_topk.tflite").op_names())
    assert "TOPK_V2" in ops and not any(op.startswith("Flex") or op == "CUSTOM" for op in ops), ops
    users = (bundle / "users.txt").read_text().splitlines()
    for user in (users[0], users[-1], "never-seen-user"):  # the last one takes the OOV row
        expected = device.recommend(bundle, user, k=20)
        from_graph = device.recommend_with_topk_model(bundle, user)
        assert [item for item, _ in from_graph] == [item for item, _ in expected]
        np.testing.assert_allclose([s for _, s in from_graph], [s for _, s in expected], atol=1e-5)
        # the same answers on the CompiledModel API LiteRT 2.x recommends, for both bundle paths
        for answer in (device.recommend_with_topk_model(bundle, user, api="compiled"),
                       device.recommend(bundle, user, k=20, api="compiled")):
            assert [item for item, _ in answer] == [item for item, _ in expected]
            np.testing.assert_allclose([s for _, s in answer], [s for _, s in expected], atol=1e-5)
    assert device.recommend(bundle, users[0], k=5, exclude_items=[device.recommend(bundle, users[0], k=1)[0][0]])[0][0] \
        != device.recommend(bundle, users[0], k=1)[0][0]


def test_the_topk_graph_is_checked_on_both_litert_apis_and_the_check_can_fail(tiny_run):
    from kerasuite.runtime.interpreter import TFLiteModel
    from kerasuite.tasks.retrieval_topk_check import check_topk_model

    folder, report = tiny_run("retrieval")
    bundle = folder / "bundle"
    verdict = report["extra_files"]["retrieve_topk.tflite"]
    assert verdict["passed"] and verdict["queries"] > 0
    assert {name: r["status"] for name, r in verdict["runtimes"].items()} == {
        "litert_interpreter": "passed", "litert_compiled": "passed", "tflm": "not_applicable"}
    assert "TOPK_V2" in verdict["runtimes"]["tflm"]["reason"]
    from kerasuite.runtime.tflm import TFLMError, TFLMModel

    with pytest.raises(TFLMError, match="TOPK_V2"):  # the reason's premise: when TFLM gains the kernel, check it there
        TFLMModel(bundle / "retrieve_topk.tflite")
    assert json.loads((bundle / "signature.json").read_text())["extra_files"] == report["extra_files"]
    # the golden check is the modes'; on the top-k graph it points at the export's own verdict
    golden = run_cli("kerasuite.edge", str(bundle / "retrieve_topk.tflite"), "--check", str(bundle / "golden.npz"))
    assert golden.returncode == 2 and "Traceback" not in golden.stderr
    assert "is a task extra" in golden.stderr.strip().splitlines()[-1] and "passed" in golden.stderr
    # against the wrong reference (queries pointing the other way) both runtimes fail, named
    users = np.arange(1, 9, dtype=np.int32)
    query = TFLiteModel(bundle / "model_float32.tflite").predict({"user_index": users})
    candidates = np.load(bundle / "candidates.npy")
    right = check_topk_model(bundle / "retrieve_topk.tflite", {"user_index": users}, query, candidates)
    wrong = check_topk_model(bundle / "retrieve_topk.tflite", {"user_index": users}, -query, candidates)
    assert right["passed"] and not wrong["passed"]
    assert [failure.split(":")[0] for failure in wrong["failures"]] == ["litert_interpreter", "litert_compiled"]


def test_a_topk_graph_the_compiled_model_refuses_at_invoke_is_a_failed_verdict_not_a_crash(tiny_run, tmp_path):
    """The defect this check exists for: with a dynamic batch, the CompiledModel loads the file and
    refuses it at the first invoke."""
    import keras

    from kerasuite.export import tflite
    from kerasuite.models.two_tower import build_topk_model, towers
    from kerasuite.tasks.retrieval_topk_check import check_topk_model

    folder, _ = tiny_run("retrieval")
    bundle = folder / "bundle"
    query_tower, _ = towers(keras.saving.load_model(folder / "run" / "model.keras"))
    candidates = np.load(bundle / "candidates.npy")
    keras_path = tmp_path / "topk.keras"
    build_topk_model(query_tower, candidates, 10).save(keras_path)
    dynamic = tmp_path / "retrieve_topk_dynamic_batch.tflite"
    tflite.convert(keras_path, "float32", dynamic, batch_size=None)
    users = np.arange(1, 5, dtype=np.int32)
    reference = np.asarray(query_tower.predict({"user_index": users}, verbose=0))
    verdict = check_topk_model(dynamic, {"user_index": users}, reference, candidates)
    assert not verdict["passed"]
    assert verdict["runtimes"]["litert_interpreter"]["status"] == "passed"
    compiled = verdict["runtimes"]["litert_compiled"]
    assert compiled["status"] == "failed" and compiled["reason"].startswith("invoke failed"), compiled


def test_device_reader_maps_ids_and_unknown_users_to_the_oov_index(tiny_run, tmp_path):
    from kerasuite.runtime import recsys as device

    folder, _ = tiny_run("retrieval")
    bundle = folder / "bundle"
    preprocessing = json.loads((bundle / "signature.json").read_text())["preprocessing"]
    users = (bundle / "users.txt").read_text().splitlines()
    (tmp_path / "known.txt").write_text(f"user_id\n{users[2]}\n")
    (tmp_path / "unknown.txt").write_text("someone-new\n")
    notes = []
    assert device.read_user(str(tmp_path / "known.txt"), preprocessing, bundle, notes.append)["user_index"].tolist() == [3]
    assert not notes
    # an unknown user is answered from the OOV row, and said (it was silent for a bundle without history)
    assert device.read_user(str(tmp_path / "unknown.txt"), preprocessing, bundle, notes.append)["user_index"].tolist() == [0]
    assert len(notes) == 1 and "user someone-new is not in users.txt" in notes[0], notes
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(UserError, match="empty file"):
        device.read_user(str(tmp_path / "empty.txt"), preprocessing, bundle)


def test_device_cli_says_what_it_did_not_answer(tiny_run):
    """Nothing silent: an unknown user, an unknown --exclude id and a --k beyond the top-k graph's
    fixed k each get one line on stderr, and the answer is still given (exit 0)."""
    folder, _ = tiny_run("retrieval")
    bundle = folder / "bundle"
    users = (bundle / "users.txt").read_text().splitlines()
    graph_k = len(run_cli("kerasuite.runtime.recsys", str(bundle), "--user", users[0], "--topk-model", "--k", "1000")
                  .stdout.strip().splitlines())
    for args, said in ((("--user", "someone-new"), "--user: user someone-new is not in users.txt"),
                       (("--user", users[0], "--exclude", "no-such-item"), "--exclude: 1 unknown item id(s) ignored"),
                       (("--user", users[0], "--topk-model", "--k", str(graph_k + 5)), f"returns its top {graph_k}")):
        done = run_cli("kerasuite.runtime.recsys", str(bundle), *args)
        assert done.returncode == 0, done.stderr
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and said in lines[0], (args, done.stderr)
        assert len(done.stdout.strip().splitlines()) == (graph_k if "--topk-model" in args else 10)


def test_device_library_hands_its_notes_to_the_caller(tiny_run, capsys):
    """As a library the same notes reach ``say`` (one line each), not stderr: a server can log them."""
    from kerasuite.runtime import recsys as device

    folder, _ = tiny_run("retrieval")
    bundle = folder / "bundle"
    user = (bundle / "users.txt").read_text().splitlines()[0]
    capsys.readouterr()
    notes = []
    answer = device.recommend(bundle, "someone-new", k=3, exclude_items=["no-such-item"], say=notes.append)
    graph = device.recommend_with_topk_model(bundle, user, k=10_000, say=notes.append)
    assert len(answer) == 3 and graph
    assert [note.split(":")[1].strip() for note in notes] == ["--user", "--exclude", "--topk-model"], notes
    assert capsys.readouterr().err == ""


def test_unknown_test_users_are_scored_with_the_oov_embedding(tmp_path):
    rows = [f"u{u},i{(u + k) % 12},{3 + k % 2},{k}" for u in range(12) for k in range(4)]
    (tmp_path / "train.csv").write_text("user_id,item_id,rating,timestamp\n" + "\n".join(rows) + "\n")
    (tmp_path / "test.csv").write_text("user_id,item_id,rating,timestamp\nu1,i9,5,9\nnewcomer,i3,4,9\n")
    task = _task("retrieval")
    config = _config("retrieval", f"csv:{tmp_path}", **{"model.two_tower.embedding_dim": "4",
                                                        "model.two_tower.hidden_units": "4"})
    data = task.load_data(config)
    from kerasuite.data import recsys

    assert data.test_split.users.tolist() == [2, 0] and recsys.describe(data.arrays)["test_oov_users"] == 1
    model = task.build_model(config, data)
    task.compile_model(model, config, data)
    model.fit(data.train, epochs=1, verbose=0)
    scores = task.evaluate(model, data, config)
    assert scores["heldout_pairs"] == 2.0 and np.isfinite(scores["loss"])
    heldout = task.heldout(data, 10)
    embeddings = task.export_model(model, data).predict(heldout.inputs, verbose=0)
    assert np.all(np.isfinite(embeddings)) and embeddings.shape == (2, 4)
    trained = task.with_trained_model(model, data)
    assert task.score(embeddings, heldout, trained) == {k: scores[k] for k in ("recall_at_10", "recall_at_100")}


def test_sampling_correction_feeds_item_probabilities():
    task = _task("retrieval")
    config = _config("retrieval", **{"model.two_tower.sampling_correction": "true",
                                     "model.two_tower.embedding_dim": "4", "model.two_tower.hidden_units": "4"})
    data = task.load_data(config)
    features, _ = next(iter(data.train))
    probability = features["item_sampling_probability"].numpy()
    counts = data.popularity
    expected = counts[features["item_index"].numpy() - 1] / counts.sum()
    np.testing.assert_allclose(probability, expected, rtol=1e-6)
    model = task.build_model(config, data)
    task.compile_model(model, config, data)
    history = model.fit(data.train, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_oov_augmentation_replaces_a_share_of_users_in_training_only():
    task = _task("retrieval")
    config = _config("retrieval", **{"data.recsys.oov_user_rate": "0.5", "train.batch_size": "64"})
    data = task.load_data(config)
    train_users = np.concatenate([f["user_index"].numpy() for f, _ in data.train])
    test_users = np.concatenate([f["user_index"].numpy() for f, _ in data.test])
    assert 0.3 < np.mean(train_users == 0) < 0.7
    assert not np.any(test_users == 0)


# ------------------------------------------------------------------------------------- ranking


def test_ranking_reports_rmse_next_to_the_mean_baseline_and_runs_on_device(tiny_run, tmp_path):
    from kerasuite.runtime import recsys as device
    from kerasuite.runtime.interpreter import TFLiteModel

    folder, report = tiny_run("ranking")
    assert report["eval"]["rmse"] > 0 and report["eval"]["mean_baseline_rmse"] > 0
    assert report["exports"]["float32"]["parity"]["keras"]["rmse"] == pytest.approx(
        report["exports"]["float32"]["parity"]["tflite"]["rmse"], abs=1e-4)
    bundle = folder / "bundle"
    preprocessing = json.loads((bundle / "signature.json").read_text())["preprocessing"]
    assert preprocessing["kind"] == "recsys_pair"
    users = (bundle / "users.txt").read_text().splitlines()
    items = (bundle / "items.txt").read_text().splitlines()
    (tmp_path / "pair.csv").write_text(f"user_id,item_id\n{users[4]},{items[7]}\n")
    inputs = device.read_pair(str(tmp_path / "pair.csv"), preprocessing, bundle)
    assert inputs["user_index"].tolist() == [5] and inputs["item_index"].tolist() == [8]
    assert inputs["item_genres"].shape == (1, 4) and inputs["item_title"].shape == (1, 8)
    on_device = TFLiteModel(bundle / "model_float32.tflite").predict(inputs)
    model = load_keras_file(folder / "run" / "model.keras")
    np.testing.assert_allclose(on_device, model.predict(inputs, verbose=0), atol=1e-4)
    # a new item: the unknown-item row (no title tokens) scores finite, in Keras and in every file
    # (the title mean was 0/0: NaN in float, and int8's DIV refused the invoke)
    (tmp_path / "new_item.csv").write_text(f"user_id,item_id\n{users[4]},an-item-never-seen\n")
    inputs = device.read_pair(str(tmp_path / "new_item.csv"), preprocessing, bundle)
    assert inputs["item_index"].tolist() == [0] and not inputs["item_title"].any()
    assert np.isfinite(model.predict(inputs, verbose=0)).all()
    for mode in ("float32", "int8"):
        done = run_cli("kerasuite.edge", str(bundle / f"model_{mode}.tflite"), "--input", str(tmp_path / "new_item.csv"))
        assert done.returncode == 0, done.stderr
        score = next(line for line in done.stdout.splitlines() if line.startswith(str(tmp_path)))
        assert np.isfinite(float(score.split("[", 1)[1].rstrip("]"))), score


def test_implicit_ranking_samples_negatives_and_reports_auc():
    task = _task("ranking")
    config = _config("ranking", **{"data.recsys.implicit": "true", "model.family": "mlp",
                                   "model.ranking.embedding_dim": "4", "model.ranking.hidden_units": "8"})
    objective = task.objective(config)  # from the config alone, before any data loads
    assert (objective.metric, objective.higher_is_better, objective.baseline) == ("auc", True, "popularity_auc")
    data = task.load_data(config)
    assert task.objective(config) == objective and task.primary_metric == "rmse"  # loading changed nothing
    targets = data.test_targets
    assert targets.sum() == len(targets) / 2  # one sampled negative per held-out positive
    model = task.build_model(config, data)
    task.compile_model(model, config, data)
    model.fit(data.train, epochs=1, verbose=0)
    scores = task.evaluate(model, data, config)
    assert 0.0 <= scores["auc"] <= 1.0 and 0.0 <= scores["popularity_auc"] <= 1.0
    # EASE scores the same pairs; on planted clusters its item-item weights separate them well
    assert scores["ease_auc"] > 0.7 and scores["ease_lambda"] in config.model.ease.lambdas


def test_implicit_ranking_auc_is_exact_so_a_popularity_ranker_ties_the_popularity_baseline():
    import keras

    task = _task("ranking")
    config = _config("ranking", **{"data.recsys.implicit": "true", "model.family": "mlp"})
    data = task.load_data(config)
    # Scores in 0.5 .. 0.5001 ordered by training popularity: inside one of Keras AUC's 200
    # threshold buckets, so only the exact rank statistic sees the order.
    counts = data.item_counts.astype(np.float32)
    spec = data.test.element_spec[0]
    inputs = {name: keras.Input(shape=s.shape[1:], dtype=s.dtype, name=name) for name, s in spec.items()}
    table = keras.layers.Embedding(len(counts), 1, trainable=False)
    score = keras.layers.Flatten()(table(inputs["item_index"]))
    model = keras.Model(inputs, score)
    table.set_weights([(0.5 + 1e-4 * counts / counts.max())[:, None]])
    task.compile_model(model, config, data)
    scores = task.evaluate(model, data, config)
    assert scores["auc"] == pytest.approx(scores["popularity_auc"], abs=1e-9)


def test_a_small_implicit_parity_sample_holds_both_classes_so_its_auc_exists():
    task = _task("ranking")
    config = _config("ranking", **{"data.recsys.implicit": "true"})
    data = task.load_data(config)
    for limit in (2, 3, 5):  # the seeded draw's first two examples are both negatives
        heldout = task.heldout(data, limit)
        assert len(heldout) == limit and set(heldout.targets.tolist()) == {0.0, 1.0}
        assert 0.0 <= task.score(np.linspace(0, 1, limit), heldout, data)["auc"] <= 1.0
    with pytest.raises(UserError, match="export.parity.max_examples"):
        task.heldout(data, 1)


def test_implicit_training_negatives_do_not_know_the_test_split(tmp_path):
    # u0 has i0 in training and i1 held out: training, knowing only i0, draws its negatives from
    # i1 and i2; the test's own negatives still avoid both of u0's interactions.
    (tmp_path / "train.csv").write_text("user_id,item_id\nu0,i0\nu1,i0\nu1,i1\nu1,i2\n")
    (tmp_path / "test.csv").write_text("user_id,item_id\nu0,i1\n")
    task = _task("ranking")
    config = _config("ranking", source=f"csv:{tmp_path}", **{
        "data.recsys.implicit": "true", "data.recsys.negatives_per_positive": "40",
        "data.recsys.oov_user_rate": "0", "data.validation_fraction": "0", "train.batch_size": "1024"})
    data = task.load_data(config)
    u0, (i0, i1) = data.arrays.users.lookup(["u0"])[0], data.arrays.items.lookup(["i0", "i1"])
    inputs, labels = next(iter(data.train))
    negatives = inputs["item_index"].numpy()[(inputs["user_index"].numpy() == u0) & (labels.numpy() == 0)]
    assert i1 in negatives and i0 not in negatives
    test_negatives = data.test_split.items[data.test_targets == 0]
    assert not np.isin(test_negatives, [i0, i1]).any()


def test_training_batches_are_mixed_even_when_the_file_is_sorted(tmp_path):
    rows = [f"u{u:03d},i{(u * 7 + k) % 50}" for u in range(200) for k in range(5)]  # sorted by user
    (tmp_path / "sorted.csv").write_text("user_id,item_id\n" + "\n".join(rows) + "\n")
    sets = {"data.shuffle_buffer": "8", "train.batch_size": "64"}
    retrieval = _task("retrieval")
    features, _ = next(iter(retrieval.load_data(_config("retrieval", f"csv:{tmp_path / 'sorted.csv'}", **sets)).train))
    assert len(np.unique(features["user_index"].numpy())) > 40  # not 13 neighbouring users
    ranking = _task("ranking")
    data = ranking.load_data(_config("ranking", f"csv:{tmp_path / 'sorted.csv'}",
                                     **sets, **{"data.recsys.implicit": "true"}))
    _, labels = next(iter(data.train))
    assert 0.25 < float(np.mean(labels.numpy())) < 0.75  # positives and sampled negatives interleaved


def test_a_movielens_latest_small_layout_trains_through_the_cli_as_it_is(tmp_path):
    """ratings.csv with userId,movieId and movies.csv beside it, as GroupLens ships them: no
    settings, and the titles and genres reach the model."""
    from helpers import run_tiny

    rng = np.random.default_rng(0)
    data = tmp_path / "ml-latest-small"
    data.mkdir()
    rows = [f"{user},{movie},{rng.integers(1, 6)}.0,{964980000 + 100 * user + k}"
            for user in range(1, 31) for k, movie in enumerate(rng.choice(np.arange(1, 21), 6, replace=False))]
    (data / "ratings.csv").write_text("userId,movieId,rating,timestamp\n" + "\n".join(rows) + "\n")
    (data / "movies.csv").write_text("movieId,title,genres\n" + "".join(
        f'{movie},"Film {movie}, The (1995)",{"Comedy|Drama" if movie % 2 else "Action"}\n' for movie in range(1, 21)))
    report = run_tiny("ranking", tmp_path, {"data.source": f"csv:{data / 'ratings.csv'}",
                                            "train.check_baseline": "false"}, modes="float32")
    assert report["eval"]["rmse"] > 0
    inputs = json.loads((tmp_path / "bundle" / "signature.json").read_text())["modes"]["float32"]["inputs"]
    assert {"item_genres", "item_title"} <= {entry["name"] for entry in inputs}
    saved = json.loads((tmp_path / "run" / "config.json").read_text())["data"]["recsys"]
    assert (saved["user_column"], saved["item_column"]) == ("user_id", "item_id")


def _movielens_download(folder, name: str):
    """A small ml-100k or ml-1m folder in GroupLens' own layout, with a Latin-1 title."""
    from helpers import write_ml_100k, write_ml_1m

    rng = np.random.default_rng(0)
    ratings = [(user, int(movie), int(rng.integers(1, 6)), 874965758 + 100 * user + k)
               for user in range(1, 31) for k, movie in enumerate(rng.choice(np.arange(1, 21), 6, replace=False))]
    movies = [(movie, "Misérables, Les (1995)" if movie == 2 else f"Film {movie}, The (1995)",
               ("Comedy", "Drama") if movie % 2 else ("Action",)) for movie in range(1, 21)]
    return (write_ml_100k if name == "ml-100k" else write_ml_1m)(folder / name, ratings, movies)


def test_an_ml_100k_folder_trains_retrieval_through_the_cli_as_downloaded(tmp_path):
    """``csv:ml-100k``: u.data held out per user, titles and genres from u.item and u.genre reach
    the candidate tower (a Latin-1 title decoded, the 19 genre flags as features)."""
    from helpers import run_tiny

    folder = _movielens_download(tmp_path, "ml-100k")
    report = run_tiny("retrieval", tmp_path, {"data.source": f"csv:{folder}", "train.check_baseline": "false"},
                      modes="none")
    assert 0.0 <= report["eval"]["recall_at_10"] <= 1.0
    model = load_keras_file(tmp_path / "run" / "model.keras", compile=False)
    shapes = {tensor.name: tuple(tensor.shape) for tensor in model.inputs}
    assert shapes["item_genres"] == (None, 19) and "item_title" in shapes, shapes
    metadata = (tmp_path / "run" / "logs" / "validation" / "metadata.tsv").read_text(encoding="utf-8")
    assert "2\tMisérables, Les (1995)" in metadata.splitlines()


def test_an_ml_1m_ratings_dat_feeds_ranking_its_ratings_titles_and_genres(tmp_path):
    folder = _movielens_download(tmp_path, "ml-1m")
    data = _task("ranking").load_data(_config("ranking", f"csv:{folder / 'ratings.dat'}"))
    arrays = data.arrays
    assert arrays.has_ratings and arrays.split == "latest" and arrays.num_users == 31
    assert arrays.genre_names == ["Action", "Comedy", "Drama"] and arrays.has_titles


def test_named_columns_reach_the_task_through_its_settings(tmp_path):
    path = tmp_path / "purchases.csv"
    path.write_text("customer,product,stars\n" + "".join(f"c{u},p{(u + k) % 9},{1 + k}\n" for u in range(12) for k in range(3)))
    config = _config("ranking", f"csv:{path}", **{"data.recsys.user_column": "customer",
                                                   "data.recsys.item_column": "product",
                                                   "data.recsys.rating_column": "stars"})
    data = _task("ranking").load_data(config)
    assert data.arrays.num_users == 13 and data.arrays.num_items == 10 and data.arrays.has_ratings


@pytest.mark.parametrize("task", ["retrieval", "ranking"])
def test_a_book_crossing_layout_reaches_the_task_with_a_note_on_its_semicolons(tmp_path, task):
    # BX-Book-Ratings.csv: "User-ID";"ISBN";"Book-Rating", every field quoted, ISO-8859-1
    path = tmp_path / "BX-Book-Ratings.csv"
    rows = "".join(f'"{276725 + u}";"03454510{(u + k) % 9}X";"{(u + k) % 11}"\n' for u in range(12) for k in range(3))
    path.write_bytes(('"User-ID";"ISBN";"Book-Rating"\n' + rows).encode("latin-1"))
    config = _config(task, f"csv:{path}", **{"data.recsys.user_column": "User-ID", "data.recsys.item_column": "ISBN",
                                              "data.recsys.rating_column": "Book-Rating"})
    data = _task(task).load_data(config)
    assert data.arrays.num_users == 13 and data.arrays.num_items == 10 and data.arrays.has_ratings
    assert data.data_notes == [f"{path} is semicolon-separated (seen in its header row)"]


# ------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize("task", ["retrieval", "ranking"])
def test_bad_csv_exits_2_with_one_line_naming_file_and_column(capsys, tmp_path, task):
    bad = tmp_path / "ratings.csv"
    bad.write_text("user_id,item_id,rating\nu1,i1,4\nu1,i2,lots\n")
    done = run_main(capsys, "--task", task, "--data", f"csv:{bad}", "--run-dir", str(tmp_path / "run"))
    assert_one_line_error(done, 2, "ratings.csv", "rating", "line 3")


@pytest.mark.parametrize("task", ["retrieval", "ranking"])
def test_a_bad_movielens_row_exits_2_with_one_line_naming_file_and_line(capsys, tmp_path, task):
    folder = _movielens_download(tmp_path, "ml-1m")
    with (folder / "ratings.dat").open("a") as ratings:
        ratings.write("7::12::4::978300760::extra\n")
    done = run_main(capsys, "--task", task, "--data", f"csv:{folder}", "--run-dir", str(tmp_path / "run"))
    assert_one_line_error(done, 2, str(folder / "ratings.dat"), "line 181", "5 fields separated by '::'")


@pytest.mark.parametrize("task", ["retrieval", "ranking"])
def test_a_missing_column_exits_2_naming_file_header_and_setting(capsys, tmp_path, task):
    path = tmp_path / "purchases.csv"
    path.write_text("customer,product\nc1,p1\nc1,p2\n")
    done = run_main(capsys, "--task", task, "--data", f"csv:{path}", "--run-dir", str(tmp_path / "run"))
    assert_one_line_error(done, 2, str(path), "'user_id'", "customer,product", "--set data.recsys.user_column=NAME")


def test_ranking_without_ratings_asks_for_implicit(capsys, tmp_path):
    plain = tmp_path / "clicks.csv"
    plain.write_text("user_id,item_id\nu1,i1\nu1,i2\nu2,i1\nu2,i3\n")
    done = run_main(capsys, "--task", "ranking", "--data", f"csv:{plain}", "--run-dir", str(tmp_path / "run"))
    assert_one_line_error(done, 2, "rating", "data.recsys.implicit")


# ------------------------------------------------------------------------- slow accuracy runs


@pytest.mark.slow
def test_two_tower_reaches_the_planted_ceiling_and_exports_int8(tmp_path):
    from helpers import run_tiny

    source = "synthetic:clusters,users=1000,items=500,clusters=10,per_user=20"
    report = run_tiny("retrieval", tmp_path, {
        "data.source": source, "train.epochs": "8", "train.batch_size": "256",
        "model.two_tower.embedding_dim": "32", "model.two_tower.hidden_units": "64",
        "model.two_tower.top_k": "100", "export.parity.max_examples": "1000",
        "export.parity.int8.min_agreement": "0.9", "export.parity.int8.max_metric_drop": "0.02",
    })
    scores = report["eval"]
    # 50 items per cluster, ~18 seen: the oracle's recall@10 is about 0.28 (reported per run)
    assert scores["recall_at_10"] >= 0.85 * scores["planted_ceiling_recall_at_10"]
    assert scores["recall_at_10"] > 5 * scores["popularity_recall_at_10"]
    assert report["exports"]["int8"]["parity"]["topk_overlap"] >= 0.9


@pytest.mark.slow
def test_dcn_rating_rmse_beats_the_mean_clearly(tmp_path):
    from helpers import run_tiny

    report = run_tiny("ranking", tmp_path, {
        "data.source": "synthetic:clusters,users=1000,items=300,clusters=10,per_user=20",
        "train.epochs": "6", "train.batch_size": "256", "model.ranking.embedding_dim": "16",
        "model.ranking.hidden_units": "32,16", "model.ranking.cross_layers": "2",
        "export.parity.max_examples": "1000",
    }, modes="float32,int8")
    scores = report["eval"]
    # ratings: 4.5 in-cluster / 2 outside + item bias (sd 0.3) + noise (sd 0.3): the floor is ~0.3
    assert scores["rmse"] < 0.6 * scores["mean_baseline_rmse"]
    assert report["exports"]["int8"]["parity"]["passed"]


def test_a_failed_topk_graph_check_fails_the_run_with_one_line(tmp_path, monkeypatch, capsys):
    import kerasuite.tasks.retrieval as retrieval
    from helpers import tiny_sets
    from kerasuite.train import main

    def broken(path, queries, reference, candidates):
        return {"passed": False, "failures": ["litert_compiled: top-10 overlap 0.200 < 0.99"],
                "summary": "top-10 of 8 held-out queries against Keras: litert_compiled 0.200", "queries": 8,
                "runtimes": {"litert_compiled": {"status": "failed", "top10_overlap": 0.2}}}

    monkeypatch.setattr(retrieval, "check_topk_model", broken)
    sets = tiny_sets("retrieval", tmp_path)
    code = main(["--task", "retrieval", "--run-dir", str(tmp_path / "run"), "--export", "float32",
                 "--set", *[f"{k}={v}" for k, v in sets.items()]])
    captured = capsys.readouterr()
    assert code == 1
    assert "retrieve_topk.tflite: top-10 of 8" in captured.out and "FAILED (do not ship)" in captured.out
    # the graph's conversion and check are said as they start, not left silent
    step = "[kerasuite] converting retrieve_topk.tflite (query tower + top-k) and checking its top-10 against Keras on"
    assert step in captured.out and captured.out.index(step) < captured.out.index("retrieve_topk.tflite: top-10 of 8")
    last = captured.err.strip().splitlines()[-1]
    assert "retrieve_topk.tflite failed its check (litert_compiled: top-10 overlap 0.200 < 0.99)" in last
    assert "Traceback" not in captured.err
    verdict = json.loads((tmp_path / "run" / "metrics.json").read_text())["extra_files"]["retrieve_topk.tflite"]
    assert not verdict["passed"] and verdict["file"] == "failed/retrieve_topk.tflite"
    bundle = tmp_path / "bundle"
    assert (bundle / "failed" / "retrieve_topk.tflite").is_file() and not (bundle / "retrieve_topk.tflite").exists()


def test_the_parity_rerun_checks_the_topk_graph_again(tiny_run, monkeypatch, capsys):
    import kerasuite.tasks.retrieval as retrieval
    from kerasuite.export.rerun import main as rerun

    folder, _ = tiny_run("retrieval")
    assert rerun([str(folder / "run")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("retrieve_topk.tflite: passed  top-10 of") for line in lines), lines

    def broken(path, queries, reference, candidates):
        return {"passed": False, "failures": ["litert_compiled: top-10 overlap 0.200 < 0.99"], "summary": "broken"}

    monkeypatch.setattr(retrieval, "check_topk_model", broken)
    assert rerun([str(folder / "run")]) == 1
    assert "retrieve_topk.tflite: FAILED  broken  (litert_compiled: top-10 overlap 0.200 < 0.99)" in capsys.readouterr().out


@pytest.mark.parametrize("task_name", ["retrieval", "ranking"])
def test_recommenders_follow_the_schedule_and_cap_a_short_runs_weight_average(task_name):
    """The recommenders built their optimizer without the planned steps: train.lr_schedule=cosine
    was silently a constant rate, and a weight average could not be fitted to the run's length."""
    import keras

    task = _task(task_name)
    config = _config(task_name, **{"train.lr_schedule": "cosine", "train.ema_momentum": "0.99"})
    data = task.load_data(config)
    model = task.build_model(config, data)
    task.compile_model(model, config, data)
    assert isinstance(model.optimizer._learning_rate, keras.optimizers.schedules.CosineDecay)
    from kerasuite.training.optimizers import planned_steps

    steps = planned_steps(config.train, data.num_train_examples)
    assert model.optimizer.use_ema and model.optimizer.ema_momentum == pytest.approx(1 - 10 / steps)
