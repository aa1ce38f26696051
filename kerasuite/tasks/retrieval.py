"""Retrieval: a two-tower model trained with an in-batch softmax, evaluated by ranking each
held-out item against the whole catalogue (recall@10/100, items the user saw in training removed)
next to a popularity baseline from the same split.

Families: ``two_tower`` (the user tower sees the user id) and ``history_two_tower`` (it also
pools the user's training items through the item embedding the candidate tower uses, so a new
user given a history gets personal results). EASE, the closed-form item-item model, is reported
beside them (``eval.ease_recall_at_*``, kerasuite/metrics/ease.py).

What ships: the query tower (``user_index [+ history] -> unit embedding``, the parity-checked
``model_<mode>.tflite``), ``candidates.npy`` (every item's embedding), the id tables, and
``retrieve_topk.tflite`` (query tower + brute-force top-k in one builtin-op graph).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import keras
import numpy as np

from kerasuite.config import RunConfig
from kerasuite.data import recsys
from kerasuite.data.recsys_pipeline import make_datasets, oov_user_augment
from kerasuite.errors import UserError
from kerasuite.metrics import ease
from kerasuite.metrics import retrieval as metrics
from kerasuite.models.losses import CatalogueSoftmaxLoss, InBatchSoftmaxLoss
from kerasuite.models.two_tower import (
    CATALOGUE_LAYER, RecsysInputSizes, build_history_two_tower, build_topk_model, build_two_tower, input_sizes, towers)
from kerasuite.runtime.device_spec import HistorySpec, RecsysQuerySpec
from kerasuite.tasks.base import Heldout, Task, TaskData, steps_per_execution
from kerasuite.tasks.retrieval_topk_check import check_topk_model
from kerasuite.tensorboard_projector import write_embedding_projector
from kerasuite.training.optimizers import make_optimizer, planned_steps

RECALL_KS = (10, 100)
TOPK_MODEL_FILE = "retrieve_topk.tflite"
HISTORY_TABLE_FILE = "histories.npy"  # history_two_tower: each known user's history, row = user index
TOPK_CHECK_QUERIES = 32  # held-out users the top-k graph is checked on, per runtime (one invoke each)


@dataclasses.dataclass(kw_only=True)
class RetrievalTaskData(TaskData):
    """retrieval's data as typed fields: the catalogue, the splits and what evaluation excludes.

    Nothing here depends on a trained model: the candidate embeddings are computed from the model
    by each method that needs them (:meth:`Retrieval.with_trained_model` binds them once for the
    exporter), so no method's result depends on which other method ran before it."""

    arrays: recsys.RecsysArrays
    sizes: RecsysInputSizes  # the embedding tables' sizes
    seen: dict  # user index -> candidate rows seen in training (removed when ranking)
    train_split: recsys.EncodedSplit
    validation_split: recsys.EncodedSplit | None
    known_split: recsys.EncodedSplit  # train + validation: everything known before the test
    test_split: recsys.EncodedSplit
    popularity: np.ndarray  # known interactions per candidate row: the popularity baseline
    top_k: int  # model.two_tower.top_k, for the bundle's top-k model
    history_length: int  # 0: the query tower takes no history
    history_order: str  # how histories are ordered (signature.json's history.order)
    interests: int  # query vectors per user (model.two_tower.interests; 1 without a history)
    test_history: np.ndarray | None  # the held-out queries' history input (None without history)
    planted_ceilings: dict[int, float]  # synthetic sets: the best recall@k any model can reach
    # Bound by with_trained_model for the exporter (None in freshly loaded data):
    candidates: np.ndarray | None = None  # every catalogue item's embedding, row r = item r + 1
    query_tower: keras.Model | None = None

    def trained_candidates(self) -> np.ndarray:
        if self.candidates is None:
            raise ValueError("retrieval data has no candidate embeddings: bind a trained model with "
                             "Retrieval.with_trained_model(model, data) first")
        return self.candidates


class ItemEmbeddingProjector(keras.callbacks.Callback):
    """At the end of training, item embeddings go to TensorBoard's Embedding Projector with the
    item id and title as metadata (``logs/validation``, a run that exists anyway)."""

    def __init__(self, candidate_fn, arrays: recsys.RecsysArrays, log_dir: Path) -> None:
        super().__init__()
        self.candidate_fn = candidate_fn
        self.arrays = arrays
        self.log_dir = Path(log_dir) / "validation"

    def on_train_end(self, logs=None):
        embeddings = np.asarray(self.candidate_fn(self.model))
        rows = zip(self.arrays.items.ids, self.arrays.item_titles[1:])
        write_embedding_projector(self.log_dir, "item_embedding", embeddings, list(rows), header=("item_id", "title"))


def build_history_model(config: RunConfig, data: RetrievalTaskData) -> keras.Model:
    """``history_two_tower``; with a catalogue softmax, the catalogue's features go into the model."""
    model = build_history_two_tower(config.model.two_tower, data.sizes)
    if CATALOGUE_LAYER in {layer.name for layer in model.layers}:
        arrays = data.arrays
        items = np.arange(1, arrays.num_items, dtype=np.int32)
        model.get_layer(CATALOGUE_LAYER).set_catalogue({"item_index": items, **arrays.item_features(items)})
    return model


class Retrieval(Task):
    name = "retrieval"
    families = {
        "two_tower": lambda config, data: build_two_tower(config.model.two_tower, data.sizes),
        "history_two_tower": lambda config, data: build_history_model(config, data),
    }
    primary_metric = "recall_at_10"
    higher_is_better = True
    output_meaning = "query embedding (or one per interest); score candidates with candidates.npy"
    def export_batch(self, data: RetrievalTaskData) -> int | None:
        # One vector: a dynamic batch (a server may rank many users per invoke). Several
        # interests: batch 1, because the dense layers over [batch, interests, d] otherwise keep
        # the shape arithmetic of an unknown batch (REDUCE_PROD), which TFLM cannot run.
        return 1 if data.interests > 1 else None

    # -- data ---------------------------------------------------------------------------------
    def load_data(self, config: RunConfig) -> RetrievalTaskData:
        arrays = recsys.load_arrays(config)
        min_rating = 0.0 if config.data.recsys.implicit else config.data.recsys.min_rating
        positives = recsys.keep_positive(arrays.train, min_rating)
        test = recsys.keep_positive(arrays.test, min_rating)
        if not len(positives) or not len(test):
            raise UserError(
                f"--data {config.data.source}: no training or held-out interactions left"
                f" (data.recsys.min_rating={min_rating}); lower the threshold or add users with two or more interactions")
        train, validation = recsys.split_validation(positives, config.data.validation_fraction,
                                                    config.data.limit, config.seed)
        known = recsys.concat(train, validation)
        counts = np.bincount(known.items, minlength=arrays.num_items).astype(np.float64)
        catalogue_softmax = (config.model.family == "history_two_tower"
                             and config.model.two_tower.softmax == "catalogue")
        # logQ corrects the popularity bias of in-batch negatives; a catalogue softmax samples none
        correction = config.model.two_tower.sampling_correction and not catalogue_softmax
        history_length = config.model.two_tower.history_length if config.model.family == "history_two_tower" else 0
        # Training and validation examples read the training items, test examples everything
        # known before the test; an example's own target is never in its history.
        tables = {}
        if history_length:
            tables["train"] = recsys.history_table(train, arrays.num_users, history_length)
            tables["test"] = recsys.history_table(known, arrays.num_users, history_length)
        splits = {}
        for name, split in (("train", train), ("validation", validation), ("test", test)):
            if split is None:
                continue
            features = recsys.example_features(arrays, split)
            if history_length:
                table = tables["test" if name == "test" else "train"]
                features["history"] = recsys.histories_for(table, split.users, split.items, history_length)
            if correction:
                features["item_sampling_probability"] = (counts[split.items] / counts.sum()).astype(np.float32)
            # catalogue softmax: the label is the item's catalogue row; in-batch: the diagonal (unused)
            targets = (split.items - 1).astype(np.int32) if catalogue_softmax else np.ones(len(split), np.float32)
            splits[name] = (features, targets)
        # history dropout is drawn inside the model (HistoryDropout), one draw per member
        augment = oov_user_augment(config.data.recsys.oov_user_rate) if config.data.recsys.oov_user_rate else None
        datasets = make_datasets(config, splits, augment)
        # Everything the user did before the test (below min_rating or past data.limit too) is
        # "seen". Candidate row r is item index r + 1 (index 0 is the unknown-item row).
        seen = metrics.seen_matrix_rows(arrays.train.users, arrays.train.items - 1)
        ceilings: dict[int, float] = {}
        if arrays.planted:
            seen_by_index = metrics.seen_matrix_rows(arrays.train.users, arrays.train.items)
            for k in RECALL_KS:
                ceiling = recsys.planted_recall_ceiling(arrays, test, seen_by_index, k)
                if ceiling is not None:
                    ceilings[k] = ceiling
        return RetrievalTaskData(
            train=datasets["train"], validation=datasets.get("validation"), test=datasets["test"],
            num_train_examples=len(train), arrays=arrays, sizes=input_sizes(arrays, correction), seen=seen,
            data_notes=arrays.notes,
            train_split=train, validation_split=validation, known_split=known, test_split=test,
            popularity=counts[1:], top_k=config.model.two_tower.top_k, history_length=history_length,
            history_order=recsys.history_order(known),
            interests=config.model.two_tower.interests if history_length else 1,
            test_history=splits["test"][0]["history"] if history_length else None, planted_ceilings=ceilings)

    def heldout(self, data: RetrievalTaskData, limit: int) -> Heldout:
        test = data.test_split
        return Heldout(self.query_features(data, limit), (test.items[:limit] - 1).astype(np.int64))

    @staticmethod
    def query_features(data: RetrievalTaskData, limit: int | None = None) -> dict[str, np.ndarray]:
        """The query tower's inputs for the held-out pairs (the first ``limit``)."""
        features = {"user_index": data.test_split.users[:limit].astype(np.int32)}
        if data.history_length:
            features["history"] = data.test_history[:limit]
        return features

    # -- model ---------------------------------------------------------------------------------
    def compile_model(self, model: keras.Model, config: RunConfig, data: RetrievalTaskData) -> None:
        catalogue = CATALOGUE_LAYER in {layer.name for layer in model.layers}
        loss = CatalogueSoftmaxLoss() if catalogue else InBatchSoftmaxLoss()
        optimizer = make_optimizer(config.train, planned_steps(config.train, data.num_train_examples))
        model.compile(optimizer=optimizer, loss=loss, steps_per_execution=steps_per_execution(config))

    def export_model(self, model: keras.Model, data: RetrievalTaskData) -> keras.Model:
        query_tower, _ = towers(model)
        return query_tower

    def with_trained_model(self, model: keras.Model, data: RetrievalTaskData) -> RetrievalTaskData:
        """A copy of ``data`` bound to ``model``'s catalogue embeddings and query tower (what
        ``score``, the agreement rule and the bundle's extras rank against)."""
        return dataclasses.replace(data, candidates=self.candidate_embeddings(model, data.arrays),
                                   query_tower=towers(model)[0])

    @staticmethod
    def candidate_embeddings(model: keras.Model, arrays: recsys.RecsysArrays) -> np.ndarray:
        """Every catalogue item (index 1..N) through the candidate tower: row r = item r + 1."""
        _, candidate_tower = towers(model)
        items = np.arange(1, arrays.num_items, dtype=np.int32)
        features = {"item_index": items, **arrays.item_features(items)}
        return np.asarray(candidate_tower.predict(features, batch_size=1024, verbose=0), np.float32)

    # -- evaluation ----------------------------------------------------------------------------
    def baseline_key(self) -> str:
        return f"popularity_{self.primary_metric}"

    def evaluate(self, model: keras.Model, data: RetrievalTaskData, config: RunConfig) -> dict[str, float]:
        candidates = self.candidate_embeddings(model, data.arrays)
        query_tower, _ = towers(model)
        test = data.test_split
        queries = np.asarray(query_tower.predict(self.query_features(data), batch_size=1024, verbose=0), np.float32)
        results = self.recall(queries, test.users, test.items - 1, candidates, data.seen)
        popularity = data.popularity
        baseline = metrics.corpus_recall(lambda rows: np.broadcast_to(popularity, (len(rows), len(popularity))),
                                         test.users, test.items - 1, data.seen, ks=RECALL_KS)
        results.update({f"popularity_{name}": value for name, value in baseline.items()})
        results.update(self.ease_recall(data, config))
        for k, ceiling in data.planted_ceilings.items():
            results[f"planted_ceiling_recall_at_{k}"] = ceiling
        results["loss"] = float(model.evaluate(data.test, verbose=0, return_dict=True)["loss"])
        results["heldout_pairs"] = float(len(test))
        return results

    @staticmethod
    def ease_recall(data: RetrievalTaskData, config: RunConfig) -> dict[str, Any]:
        """EASE fitted on the training split (lambda from validation), each test user's input
        row being everything known before the test, scored by the same protocol."""
        arrays, test = data.arrays, data.test_split
        fitted, report = ease.fit_for_splits(config.model.ease, data.train_split, data.validation_split,
                                             arrays.num_users, arrays.num_items, config.seed)
        if fitted is None:
            return report
        known = data.known_split
        x = ease.interaction_matrix(known.users, known.items, arrays.num_users, arrays.num_items)
        b = fitted["b"]
        recall = metrics.corpus_recall(lambda users: ease.scores(x[users], b)[:, 1:], test.users, test.items - 1,
                                       data.seen, ks=RECALL_KS)
        return {**{f"ease_{name}": value for name, value in recall.items()}, **report}

    @staticmethod
    def recall(queries: np.ndarray, users: np.ndarray, target_rows: np.ndarray, candidates: np.ndarray,
               seen: dict[int, np.ndarray]) -> dict[str, float]:
        rows = np.arange(len(target_rows))
        return metrics.corpus_recall(lambda chunk: metrics.candidate_scores(queries[chunk], candidates), rows, target_rows, seen,
                                     seen_keys=users, ks=RECALL_KS)

    def score(self, outputs: np.ndarray, heldout: Heldout, data: RetrievalTaskData) -> dict[str, float]:
        return self.recall(np.asarray(outputs, np.float32), heldout.inputs["user_index"], heldout.targets,
                           data.trained_candidates(), data.seen)

    def agreement_rule(self, data: RetrievalTaskData):
        from kerasuite.export.spec import Agreement

        candidates = data.trained_candidates()
        return Agreement("topk_overlap", lambda reference, candidate: metrics.top_k_overlap(
            reference, candidate, candidates, k=10))

    # -- bundle and logs -----------------------------------------------------------------------
    def write_bundle_extras(self, data: RetrievalTaskData, bundle_dir: Path) -> dict[str, dict]:
        import tempfile

        from kerasuite.export import tflite
        from kerasuite.io_utils import write_npy_atomic

        arrays = data.arrays
        recsys.write_id_tables(arrays, bundle_dir)
        candidates = data.trained_candidates()
        write_npy_atomic(Path(bundle_dir) / "candidates.npy", candidates.astype(np.float32))
        length = data.history_length
        if length:
            table = recsys.history_table(data.known_split, arrays.num_users, length)[:, :length]
            write_npy_atomic(Path(bundle_dir) / HISTORY_TABLE_FILE, table.astype(np.int32))
        k = min(int(data.top_k), len(candidates))
        topk_model = build_topk_model(data.query_tower, candidates, k, length)
        with tempfile.TemporaryDirectory(prefix="kerasuite-topk-") as scratch:
            path = Path(scratch) / "retrieve_topk.keras"
            topk_model.save(path)
            # Batch 1, whatever the query tower's: a device asks for one user's top-k per invoke, and
            # with a dynamic batch TOPK_V2's outputs are not arena tensors, which LiteRT's
            # CompiledModel refuses ("Failed to set custom allocation for output tensor").
            tflite.convert(path, "float32", Path(bundle_dir) / TOPK_MODEL_FILE, batch_size=1)
        return self.check_bundle_extras(data, bundle_dir)

    def bundle_extras_step(self, data: RetrievalTaskData) -> str:
        users = min(TOPK_CHECK_QUERIES, len(data.test_split.users))
        return (f"converting {TOPK_MODEL_FILE} (query tower + top-k) and checking its top-10 against Keras "
                f"on {users} users")

    def check_bundle_extras(self, data: RetrievalTaskData, bundle_dir: Path) -> dict[str, dict] | None:
        from kerasuite.export.api import FAILED_DIR

        path = Path(bundle_dir) / TOPK_MODEL_FILE
        if not path.is_file():  # a failed one sits in failed/: checked again there
            path = Path(bundle_dir) / FAILED_DIR / TOPK_MODEL_FILE
            if not path.is_file():
                return None
        queries = self.query_features(data, TOPK_CHECK_QUERIES)
        reference = np.asarray(data.query_tower.predict(queries, verbose=0), np.float32)
        return {TOPK_MODEL_FILE: check_topk_model(path, queries, reference, data.trained_candidates())}

    def device_spec(self, data: RetrievalTaskData, config: RunConfig) -> RecsysQuerySpec:
        length = data.history_length
        history = HistorySpec(
            input="history", dtype="int32", length=length, padding_index=recsys.HISTORY_PADDING,
            order=data.history_order,
            truncation=f"keep the first {length} items in that order (the most recent)",
            duplicates="kept once, at their most recent position",
            unknown_items="item ids not in items.txt are dropped (never sent as index 0)",
            table=HISTORY_TABLE_FILE,
            note=(f"history -> item indices (line in items.txt + 1), padded with "
                  f"{recsys.HISTORY_PADDING} to {length}; a known user's history as of training "
                  f"is row user_index of {HISTORY_TABLE_FILE} (row 0: empty, for new users)"),
        ) if length else None
        interests = data.interests
        members = config.model.two_tower.members if length else 1
        joined = f" ({members} independently trained members' unit vectors side by side)" if members > 1 else ""
        scoring = (f"the query tower gives an embedding{joined}; score = candidates.npy @ embedding" if interests == 1 else
                   f"the query tower gives {interests} embeddings [1, {interests}, d]; a candidate's score is "
                   "the largest of candidates.npy @ embedding_k over k")
        return RecsysQuerySpec(
            input="user_index", users="users.txt", items="items.txt", oov_index=recsys.OOV_INDEX,
            candidates="candidates.npy", topk_model=TOPK_MODEL_FILE,
            top_k=min(config.model.two_tower.top_k, data.arrays.num_items - 1),
            interests=interests if interests > 1 else None,
            note=("user id -> index: line number in users.txt + 1, unknown ids -> 0; "
                  f"{scoring}, row r is line r "
                  f"of items.txt; or run {TOPK_MODEL_FILE} (outputs int32 candidate rows and "
                  "float32 scores, best first"
                  + ("; it never returns the history's items: skip them on the embedding path too, as "
                     "already seen" if length else "") + ")"),
            history=history)

    def callbacks(self, model: keras.Model, data: RetrievalTaskData, log_dir: Path, config: RunConfig) -> list:
        arrays = data.arrays
        return [ItemEmbeddingProjector(lambda m: self.candidate_embeddings(m, arrays), arrays, log_dir)]
