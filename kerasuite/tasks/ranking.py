"""Ranking: predict how a user rates an item (``mlp`` or ``dcn``), reported next to a baseline
from the same split: the training mean for ratings (``eval.mean_baseline_rmse``), item popularity
for implicit feedback (``data.recsys.implicit=true``: interactions are positives, sampled
non-interactions negatives, metric AUC, baselines ``eval.popularity_auc`` and ``eval.ease_auc``,
EASE's item-item scores of the same pairs, kerasuite/metrics/ease.py).

What ships: the whole ranking model (``{user_index, item_index, item features} -> score``), the
id tables and ``item_features.npz`` so a device can build the inputs from raw ids.
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
from kerasuite.metrics.ranking import auc, rmse
from kerasuite.models.ranking import build_ranking_dcn, build_ranking_mlp
from kerasuite.models.two_tower import RecsysInputSizes, input_sizes
from kerasuite.runtime.device_spec import RecsysPairSpec
from kerasuite.tasks.base import Heldout, Objective, Task, TaskData, steps_per_execution
from kerasuite.training.optimizers import make_optimizer, planned_steps

ITEM_FEATURES_FILE = "item_features.npz"


@dataclasses.dataclass(kw_only=True)
class RankingTaskData(TaskData):
    """ranking's data as typed fields."""

    arrays: recsys.RecsysArrays
    sizes: RecsysInputSizes  # the embedding tables' sizes
    implicit: bool  # interactions as positives + sampled negatives (AUC), else ratings (RMSE)
    train_mean: float  # the rating baseline and the rating head's starting bias
    test_split: recsys.EncodedSplit  # held-out pairs (with sampled negatives when implicit)
    test_targets: np.ndarray
    item_counts: np.ndarray  # training interactions per item: the popularity baseline
    positive_splits: tuple  # (train, validation) positives, for the EASE baseline


def _builder(build):
    def family(config: RunConfig, data: RankingTaskData) -> keras.Model:
        return build(config.model.ranking, data.sizes, implicit=data.implicit,
                     mean_target=data.train_mean)

    return family


def objective_for(implicit: bool) -> Objective:
    """Implicit feedback (positives + sampled negatives) is judged by AUC against popularity,
    ratings by RMSE against the training mean."""
    if implicit:
        return Objective("auc", True, "popularity_auc")
    return Objective("rmse", False, "mean_baseline_rmse")


class Ranking(Task):
    name = "ranking"
    families = {"dcn": _builder(build_ranking_dcn), "mlp": _builder(build_ranking_mlp)}
    # the ratings default; a run's metric follows data.recsys.implicit (objective)
    primary_metric = "rmse"
    higher_is_better = False
    output_meaning = "predicted score"
    export_batch_size = None

    # -- data ---------------------------------------------------------------------------------
    def load_data(self, config: RunConfig) -> RankingTaskData:
        arrays = recsys.load_arrays(config)
        implicit = config.data.recsys.implicit
        if not implicit and not arrays.has_ratings:
            raise UserError(f"--data {config.data.source}: no {config.data.recsys.rating_column!r} column to rank by; "
                            "set data.recsys.implicit=true to learn from interactions alone, "
                            "or data.recsys.rating_column=NAME")
        train, validation = recsys.split_validation(arrays.train, config.data.validation_fraction,
                                                    config.data.limit, config.seed)
        # Negatives avoid what is known when they are drawn: training and validation know only the
        # training interactions (avoiding the held-out items would tell the model the test's answers).
        known_by_split = {"train": arrays.train, "validation": arrays.train,
                          "test": recsys.concat(arrays.train, arrays.test)}
        splits: dict[str, tuple[dict, np.ndarray]] = {}
        labelled: dict[str, tuple[recsys.EncodedSplit, np.ndarray]] = {}
        for offset, (name, split) in enumerate((("train", train), ("validation", validation), ("test", arrays.test))):
            if split is None:
                continue
            if implicit:
                users, items = recsys.sample_negatives(split, known_by_split[name], arrays.num_items,
                                                       config.data.recsys.negatives_per_positive, config.seed + offset)
                targets = np.concatenate([np.ones(len(split)), np.zeros(len(users))]).astype(np.float32)
                split = recsys.EncodedSplit(np.concatenate([split.users, users]), np.concatenate([split.items, items]), None)
            else:
                targets = split.ratings.astype(np.float32)
            labelled[name] = (split, targets)
            splits[name] = (recsys.example_features(arrays, split), targets)
        augment = oov_user_augment(config.data.recsys.oov_user_rate) if config.data.recsys.oov_user_rate else None
        datasets = make_datasets(config, splits, augment)
        train_targets = labelled["train"][1]
        counts = np.bincount(recsys.concat(train, validation).items, minlength=arrays.num_items)
        return RankingTaskData(
            train=datasets["train"], validation=datasets.get("validation"), test=datasets["test"],
            num_train_examples=len(train_targets), data_notes=arrays.notes,
            arrays=arrays, sizes=input_sizes(arrays), implicit=implicit, train_mean=float(train_targets.mean()),
            test_split=labelled["test"][0], test_targets=labelled["test"][1], item_counts=counts,
            positive_splits=(train, validation))

    def heldout(self, data: RankingTaskData, limit: int) -> Heldout:
        split = data.test_split
        order = np.random.default_rng(0).permutation(len(split))  # mixes positives and negatives
        if data.implicit:
            # AUC is undefined on one class: a small draw that holds one gets the other's first example
            if limit < 2:
                raise UserError(f"export.parity.max_examples={limit}: implicit ranking's AUC needs at least 2 "
                                "held-out examples, a positive and a negative")
            targets = data.test_targets[order]
            if limit < len(order) and len(np.unique(targets[:limit])) == 1:
                other = limit + int(np.argmax(targets[limit:] != targets[0]))
                order[[limit - 1, other]] = order[[other, limit - 1]]
        order = order[:limit]
        features = recsys.example_features(data.arrays, split)
        return Heldout({k: v[order] for k, v in features.items()}, data.test_targets[order])

    # -- model ---------------------------------------------------------------------------------
    def compile_model(self, model: keras.Model, config: RunConfig, data: RankingTaskData) -> None:
        if data.implicit:
            loss, metric = keras.losses.BinaryCrossentropy(), keras.metrics.AUC(name="auc")
        else:
            loss, metric = keras.losses.MeanSquaredError(), keras.metrics.RootMeanSquaredError(name="rmse")
        model.compile(optimizer=make_optimizer(config.train, planned_steps(config.train, data.num_train_examples)),
                      loss=loss, metrics=[metric],
                      steps_per_execution=steps_per_execution(config))

    # -- evaluation ----------------------------------------------------------------------------
    def baseline_key(self) -> str:
        return objective_for(False).baseline

    def objective(self, config: RunConfig) -> Objective:
        return objective_for(config.data.recsys.implicit)

    def output_spec(self, data: RankingTaskData, heldout: Heldout):
        objective = objective_for(data.implicit)
        return dataclasses.replace(super().output_spec(data, heldout), metric=objective.metric,
                                   higher_is_better=objective.higher_is_better)

    def evaluate(self, model: keras.Model, data: RankingTaskData, config: RunConfig) -> dict[str, float]:
        results = super().evaluate(model, data, config)
        targets = data.test_targets
        if data.implicit:
            # Keras' AUC buckets scores into 200 thresholds, which ties a model whose scores sit
            # close together; its baselines below (and parity's score) use the exact rank statistic.
            predictions = model.predict(data.test, verbose=0)
            results["auc"] = auc(predictions, targets)
            results["popularity_auc"] = auc(data.item_counts[data.test_split.items], targets)
            results.update(self.ease_auc(data, config))
        else:
            results["mean_baseline_rmse"] = rmse(np.full(len(targets), data.train_mean), targets)
        results["heldout_examples"] = float(len(targets))
        return results

    @staticmethod
    def ease_auc(data: RankingTaskData, config: RunConfig) -> dict[str, Any]:
        """AUC of EASE's scores on the test pairs: fitted on the training positives (lambda from
        validation recall), each user's input row being all their training interactions."""
        arrays, pairs = data.arrays, data.test_split
        train, validation = data.positive_splits
        fitted, report = ease.fit_for_splits(config.model.ease, train, validation, arrays.num_users,
                                             arrays.num_items, config.seed)
        if fitted is None:
            return report
        x = ease.interaction_matrix(arrays.train.users, arrays.train.items, arrays.num_users, arrays.num_items)
        scores = ease.pair_scores(x, fitted["b"], pairs.users, pairs.items)
        return {"ease_auc": auc(scores, data.test_targets), **report}

    def score(self, outputs: np.ndarray, heldout: Heldout, data: RankingTaskData) -> dict[str, float]:
        if data.implicit:
            return {"auc": auc(outputs, heldout.targets)}
        return {"rmse": rmse(outputs, heldout.targets)}

    # -- bundle --------------------------------------------------------------------------------
    def write_bundle_extras(self, data: RankingTaskData, bundle_dir: Path) -> None:
        from kerasuite.io_utils import atomic_path

        arrays = data.arrays
        recsys.write_id_tables(arrays, bundle_dir)
        tables = arrays.item_features(np.arange(arrays.num_items))
        if tables:
            with atomic_path(Path(bundle_dir) / ITEM_FEATURES_FILE) as tmp:
                with open(tmp, "wb") as handle:
                    np.savez(handle, **tables)

    def device_spec(self, data: RankingTaskData, config: RunConfig) -> RecsysPairSpec:
        arrays = data.arrays
        return RecsysPairSpec(
            users="users.txt", items="items.txt", oov_index=recsys.OOV_INDEX,
            item_features=ITEM_FEATURES_FILE if (arrays.has_genres or arrays.has_titles) else None,
            output="probability of an interaction" if data.implicit else "predicted rating",
            note=("input file: one 'user_id,item_id' line; ids -> index = line number in users.txt/"
                  "items.txt + 1 (unknown -> 0); item side features are row item_index of each "
                  "array in item_features.npz"))
