"""Who this process is in a multi-worker cluster, read from ``TF_CONFIG``. Standard library
only: ``kerasuite.train`` checks ``TF_CONFIG`` and the chief's run folder before TensorFlow loads;
:mod:`kerasuite.distribute` builds the strategies."""

from __future__ import annotations

import json
import os

from kerasuite.errors import UserError


def tf_config() -> dict | None:
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        raise UserError(f"TF_CONFIG: not valid JSON ({error.msg})") from None
    if not isinstance(value, dict) or not isinstance(value.get("cluster"), dict):
        raise UserError("TF_CONFIG: expected an object with 'cluster' and 'task' keys")
    for job, addresses in value["cluster"].items():
        # TensorFlow's ClusterSpec takes a list, or a mapping from task index to address
        if not isinstance(addresses, (list, dict)):
            raise UserError(f"TF_CONFIG: cluster job {job!r} must be a list of \"host:port\" addresses, got {addresses!r}")
    task = value.get("task", {})
    if not isinstance(task, dict) or task.get("type") not in value["cluster"]:
        raise UserError(f"TF_CONFIG: task {task!r} names no job of the cluster ({', '.join(value['cluster'])})")
    try:
        index = int(task.get("index", 0))
    except (TypeError, ValueError):
        raise UserError(f"TF_CONFIG: task index {task.get('index')!r} is not an integer") from None
    if not 0 <= index < len(value["cluster"][task["type"]]):
        raise UserError(f"TF_CONFIG: task index {index} is outside the {task['type']} list")
    return value


def is_chief() -> bool:
    """Only the chief writes the model, the report and the export bundle."""
    config = tf_config()
    if config is None:
        return True
    task = config.get("task", {})
    kind, index = task.get("type", "worker"), int(task.get("index", 0))
    has_chief = "chief" in config.get("cluster", {})
    return kind == "chief" or (not has_chief and kind == "worker" and index == 0)


def worker_name() -> str:
    config = tf_config()
    if config is None:
        return "local"
    task = config.get("task", {})
    return f"{task.get('type', 'worker')}-{int(task.get('index', 0))}"
