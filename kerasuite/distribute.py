"""Pick a tf.distribute strategy from ``--strategy`` and the environment, and say who writes what.

``auto``: ``multi_worker`` when ``TF_CONFIG`` names a cluster, ``mirrored`` when more than one GPU
(or, with ``train.logical_cpus``, more than one logical CPU) is visible, else the single default
device.

The batch size in the config is the *global* batch: the canonical pipeline batches with it and
tf.distribute splits every batch across the replicas (per-replica batch = global / replicas), so
the same config gives the same optimisation steps on one device, two GPUs or two machines.

Roles in a multi-worker run (Keras' multi-worker saving pattern): the chief (``task.type`` chief,
or worker 0 when the cluster has no chief) owns ``RUN_DIR``: it writes ``config.json``,
``model.keras``, ``metrics.json``, the TensorBoard logs, the backup and the export bundle. Every
other worker takes part in the same collective steps and saves, but into a private temporary
folder that is deleted when it is done (:func:`worker_scratch`).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import tensorflow as tf

from kerasuite.cluster import is_chief, tf_config, worker_name  # noqa: F401  (TF-free, re-exported)
from kerasuite.errors import UserError


def configure_logical_cpus(count: int) -> None:
    """Split the first CPU into ``count`` logical devices (no-op for 0 or 1).

    TensorFlow allows this only before its runtime starts, so it is called first thing in a run.
    """
    if count < 0:
        raise UserError(f"train.logical_cpus: must be 0 or more, got {count}")
    if count <= 1:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError:
        # Already initialised in this process (e.g. a second run in the same Python): fine if the
        # devices are already split the same way.
        if len(tf.config.list_logical_devices("CPU")) != count:
            raise UserError(
                f"train.logical_cpus={count}: TensorFlow already started in this process with "
                f"{len(tf.config.list_logical_devices('CPU'))} CPU device(s); set it in a fresh process"
            ) from None


def resolve_strategy_name(requested: str) -> str:
    if requested != "auto":
        return requested
    if tf_config() is not None:
        return "multi_worker"
    if len(tf.config.list_logical_devices("GPU")) > 1 or len(tf.config.list_logical_devices("CPU")) > 1:
        return "mirrored"
    return "one_device"


def make_strategy(requested: str, logical_cpus: int = 0) -> tf.distribute.Strategy:
    """The strategy for ``--strategy``. Call it before any other TensorFlow op: multi-worker
    collectives and logical devices can only be configured before the runtime starts."""
    if requested == "multi_worker" or (requested == "auto" and tf_config() is not None):
        if tf_config() is None:
            raise UserError("--strategy multi_worker: needs TF_CONFIG describing the cluster (see tools/launch_local_cluster.py)")
        # Configured before anything else touches the runtime; on CPU the communication is gRPC
        # ring all-reduce, on GPUs NCCL is picked automatically.
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        patch_keras_for_multi_worker()
        return strategy
    configure_logical_cpus(logical_cpus)
    name = resolve_strategy_name(requested)
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        if gpus:
            return tf.distribute.MirroredStrategy()
        # No GPU: mirror over the logical CPUs (one replica unless train.logical_cpus > 1).
        return tf.distribute.MirroredStrategy(devices=[device.name for device in tf.config.list_logical_devices("CPU")])
    # The default strategy (not OneDeviceStrategy) keeps Keras' fast single-device path.
    return tf.distribute.get_strategy()


def patch_keras_for_multi_worker() -> None:
    """Two fixes that make Keras 3 ``fit``/``evaluate`` run under MultiWorkerMirroredStrategy.

    Keras 3.15's TensorFlow trainer (keras-team/keras issues 20329 and 20585) (1) all-reduces the
    first *input batch* just to learn its shapes, which fails for dict inputs (every kerasuite
    model takes a dict), and (2) reduces the scalar step logs with ``axis=0``, which fails for
    scalars. The fixes take the shapes from the local replica (no collective needed) and reduce
    the logs element-wise. Applied once, only when a multi-worker strategy is made; if Keras
    changes these internals the patch is skipped and tests/test_distribute.py's two-worker run
    shows whether it is still needed.
    """
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer as tf_trainer

    if getattr(tf_trainer, "_kerasuite_multi_worker_patch", False):
        return
    original_reduce = getattr(tf_trainer, "reduce_per_replica", None)
    is_multi_worker = getattr(tf_trainer, "_collective_all_reduce_multi_worker", None)
    trainer_cls = getattr(tf_trainer, "TensorFlowTrainer", None)
    if original_reduce is None or is_multi_worker is None or not hasattr(trainer_cls, "_symbolic_build"):
        return

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and is_multi_worker(strategy):
            return tree.map_structure(lambda value: strategy.reduce("MEAN", value, axis=None), values)
        return original_reduce(values, strategy, reduction)

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None:
            return
        if iterator is not None:
            local = self.distribute_strategy.experimental_local_results

            def first_replica(value):
                return local(value)[0] if isinstance(value, tf.distribute.DistributedValues) else value

            for _, _, batches in iterator:
                data_batch = tree.map_structure(first_replica, next(batches))
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    tf_trainer.reduce_per_replica = reduce_per_replica
    trainer_cls._maybe_symbolic_build = maybe_symbolic_build
    tf_trainer._kerasuite_multi_worker_patch = True


def is_distributed(strategy: tf.distribute.Strategy) -> bool:
    return isinstance(strategy, (tf.distribute.MirroredStrategy, tf.distribute.MultiWorkerMirroredStrategy))


def strategy_name(strategy: tf.distribute.Strategy) -> str:
    """The ``--strategy`` value that ``strategy`` implements."""
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return "multi_worker"
    if isinstance(strategy, tf.distribute.MirroredStrategy):
        return "mirrored"
    return "one_device"


def describe(strategy: tf.distribute.Strategy, global_batch: int) -> dict:
    """What goes into metrics.json ``train``: how the run was spread."""
    replicas = int(strategy.num_replicas_in_sync)
    config = tf_config()
    workers = sum(len(config["cluster"].get(job, [])) for job in ("chief", "worker")) if config else 1
    return {
        "strategy": strategy_name(strategy),
        "replicas": replicas,
        "workers": workers,
        "global_batch_size": global_batch,
        "per_replica_batch_size": global_batch / replicas,
    }


def steps_per_execution(strategy: tf.distribute.Strategy, requested: int) -> int:
    """``train.steps_per_execution`` as this strategy can run it. With more than one replica,
    Keras 3 fails on the first step when it is above 1 ("You must feed a value for placeholder
    tensor": the optimizer's conditionals inside the multi-step loop, keras-team/keras#19246),
    so several replicas run one step per call; the report records the value used."""
    return 1 if strategy.num_replicas_in_sync > 1 else requested


@contextlib.contextmanager
def worker_scratch(run_dir: Path) -> Iterator[Path]:
    """Where this process writes its logs and saves: ``run_dir`` for the chief; for any other
    worker a temporary folder (outside the run folder) removed on exit, however the run ends."""
    if is_chief():
        yield run_dir
        return
    scratch = Path(tempfile.mkdtemp(prefix=f"kerasuite-{worker_name()}-"))
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def agree_across_workers(strategy: tf.distribute.Strategy, value: float) -> bool:
    """True when every worker passes the same ``value``; a collective step, so every worker must
    call it at the same point. Used to check all workers resume from the same epoch."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    local = tf.constant([float(value), float(value) ** 2])

    def replica_value():
        return tf.identity(local)

    per_replica = strategy.run(replica_value)
    mean, mean_square = strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica, axis=None).numpy()
    # Equal values <=> zero variance; the values are small integers, so compare with a tolerance.
    return abs(mean_square - mean * mean) < 1e-6


def end_of_run_barrier(strategy: tf.distribute.Strategy) -> None:
    """Multi-worker: the other workers wait here until the chief has evaluated and exported.

    A worker that exits while the chief still runs stops sending heartbeats, and TensorFlow then
    prints an alarming (harmless) "tasks have crashed" error on the chief.
    """
    agree_across_workers(strategy, 0.0)
