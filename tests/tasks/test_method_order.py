"""The task methods the trainer, exporter and parity harness call have no hidden order (issue 13).

Each registered task (its ``tiny`` preset, an untrained model: order, not quality, is checked
here) must give the same scores whichever of ``evaluate``/``export_model``/``output_spec`` ran
first, must never write into its ``TaskData`` while doing so, must know its metric from the config
before data loads, and must not write files from ``callbacks``.
"""

from __future__ import annotations

import pytest

from kerasuite import config as cfg
from kerasuite.tasks import TASK_NAMES


def _config(task: str, **sets: str) -> cfg.RunConfig:
    return cfg.resolve({}, {"task": task, "preset": "tiny", "train.verbose": "0", **sets})


def _snapshot(data) -> dict:
    return {name: id(value) for name, value in vars(data).items()}


@pytest.mark.parametrize("task_name", TASK_NAMES)
def test_scores_do_not_depend_on_which_method_ran_first(task_name, tmp_path):
    import numpy as np

    from kerasuite.export.api import predict_keras
    from kerasuite.tasks import get_task

    config = _config(task_name)
    task = get_task(task_name)
    objective = task.objective(config)  # known from the config alone
    data = task.load_data(config)
    model = task.build_model(config, data)
    task.compile_model(model, config, data)
    before = _snapshot(data)
    heldout = task.heldout(data, 16)

    # the rerun order: scoring set up before the export model is cut
    first_spec = task.output_spec(task.with_trained_model(model, data), heldout)
    outputs = predict_keras(task.export_model(model, data), heldout.inputs)
    first = first_spec.scores(outputs)
    assert _snapshot(data) == before, "with_trained_model/output_spec/export_model wrote into the task data"

    # the training order: evaluate, then export, then score
    task.evaluate(model, data, config)
    task.export_model(model, data)
    assert _snapshot(data) == before, "evaluate/export_model wrote into the task data"
    second = task.output_spec(task.with_trained_model(model, data), heldout).scores(outputs)
    assert first == second and first, (first, second)
    assert all(np.isfinite(value) for value in first.values())

    assert task.objective(config) == objective, "loading data or evaluating changed the task's metric"
    assert first_spec.metric == objective.metric and first_spec.higher_is_better == objective.higher_is_better
    assert objective.metric in first, f"score() gives no {objective.metric!r}: {sorted(first)}"

    # callbacks only build writers: files a run keeps are written by write_run_files
    run_dir = tmp_path / "run"
    (run_dir / "logs").mkdir(parents=True)
    task.callbacks(model, data, run_dir / "logs", config)
    assert sorted(p.name for p in run_dir.iterdir()) == ["logs"]
    task.write_run_files(data, run_dir)
    if task_name == "text_classification":
        assert (run_dir / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1] == data.vocabulary


def test_ranking_metric_follows_the_config_before_any_data_loads():
    from kerasuite.tasks import get_task

    ranking = get_task("ranking")
    implicit = ranking.objective(_config("ranking", **{"data.recsys.implicit": "true"}))
    explicit = ranking.objective(_config("ranking", **{"data.recsys.implicit": "false"}))
    assert (implicit.metric, implicit.higher_is_better, implicit.baseline) == ("auc", True, "popularity_auc")
    assert (explicit.metric, explicit.higher_is_better, explicit.baseline) == ("rmse", False, "mean_baseline_rmse")
