"""Pick a tf.distribute strategy from ``--strategy`` and the environment.

``auto``: ``multi_worker`` when ``TF_CONFIG`` names a cluster, ``mirrored`` when more than one GPU
is visible, else the single default device. The batch size in the config is the *global* batch;
tf.distribute splits it across replicas.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from kerasuite.errors import UserError


def tf_config() -> dict | None:
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        raise UserError(f"TF_CONFIG: not valid JSON ({error.msg})") from None
    if not isinstance(value, dict) or "cluster" not in value:
        raise UserError("TF_CONFIG: expected an object with 'cluster' and 'task' keys")
    return value


def resolve_strategy_name(requested: str) -> str:
    if requested != "auto":
        return requested
    if tf_config() is not None:
        return "multi_worker"
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return "mirrored"
    return "one_device"


def make_strategy(requested: str) -> tf.distribute.Strategy:
    name = resolve_strategy_name(requested)
    if name == "multi_worker":
        if tf_config() is None:
            raise UserError("--strategy multi_worker: needs TF_CONFIG describing the cluster")
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    # The default strategy (not OneDeviceStrategy) keeps Keras' fast single-device path.
    return tf.distribute.get_strategy()


def is_chief() -> bool:
    """Only the chief writes the model, the report and the export bundle."""
    config = tf_config()
    if config is None:
        return True
    task = config.get("task", {})
    kind, index = task.get("type", "worker"), int(task.get("index", 0))
    has_chief = "chief" in config.get("cluster", {})
    return kind == "chief" or (not has_chief and kind == "worker" and index == 0)
