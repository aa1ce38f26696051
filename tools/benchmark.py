"""Performance benchmark of every kerasuite task, side by side in one run.

    python tools/benchmark.py            # full: every section, every task (tens of minutes)
    python tools/benchmark.py --quick    # short version: small models, edge + threads on one task,
                                         # no scaling (about 3 min idle, ~9 min at load 8 on 2 cores)
    python tools/benchmark.py --quick --tasks image_classification --sections pipeline,startup
    python tools/benchmark.py --profile keyword_spotting   # cProfile one task's training run
    python tools/benchmark.py --quick --tasks image_classification --sections edge   # edge rows only,
                                         # with the 96x96x3 variant (EDGE_VARIANTS)
    python tools/benchmark.py --sections tflm   # microcontroller rows (tools/benchmark_tflm.py)
    python tools/benchmark.py --sections retrieval   # two_tower, history_two_tower and EASE: recall,
                                         # training time, peak memory (tools/benchmark_retrieval.py;
                                         # the Debian set when data/debian-deps-5 exists)

Writes ``OUT/benchmark.json`` and ``OUT/benchmark.md`` (default ``runs/benchmark/``).

Why it is built this way:
- Absolute timings on a shared 2-core machine are noisy, so every headline number is a *ratio of
  two things measured in the same process, interleaved* (pipeline vs training step, int8 vs
  float32, kerasuite pipeline vs the naive one), and timings are medians over repeats.
- TensorFlow's thread pools can be sized only before it runs an op, and logical CPU devices only
  before the runtime starts, so every thread / strategy setting runs in its own subprocess
  (``--worker``). The parent never imports TensorFlow; it also reads each child's peak resident
  memory from ``os.wait4``.
- Every task runs on data that needs no download (builtin digits, synthetic topics, tones,
  clusters), so the numbers are reproducible offline; folder sources (PNG, WAV) are written once
  into OUT/data for the comparison against Keras' own ``*_dataset_from_directory`` loaders.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))  # readme_tables
from kerasuite.config import EXPORT_MODES as ALL_MODES  # noqa: E402  (no TensorFlow: the parent stays light)
from kerasuite.io_utils import write_text_atomic  # noqa: E402
from kerasuite.tasks import TASK_NAMES as TASK_ORDER  # noqa: E402
from kerasuite.tasks import task_spec  # noqa: E402

RESULT_MARK = "BENCHMARK_RESULT "
SECTIONS = ("pipeline", "threads", "edge", "startup", "scaling", "export_vs_keras", "mediapipe", "tflm",
            "kws_budget", "retrieval")  # own scripts: tools/benchmark_tflm.py, benchmark_kws_budget.py, benchmark_retrieval.py

# Settings per task. Sources need no download. "quick" is each task's ``quick`` preset (small
# models, kept in the task's config module, so the whole quick run stays within a few minutes);
# "full" keeps each task's default model with a larger data set (the default preset otherwise).
FULL_DATA: dict[str, dict[str, str]] = {
    "image_classification": {"data.source": "builtin:digits", "train.epochs": "6"},
    "text_classification": {"data.source": "synthetic:topics-8", "data.text.sequence_length": "96",
                            "train.epochs": "4", "model.family": "lstm"},  # the figures' model (default: ngram)
    "retrieval": {"data.source": "synthetic:clusters,users=2000,items=800", "train.epochs": "4"},
    "ranking": {"data.source": "synthetic:clusters,users=2000,items=800", "train.epochs": "4"},
    "keyword_spotting": {"data.source": "synthetic:tones-8", "train.epochs": "6"},
}
SETTINGS: dict[str, dict[str, dict[str, str]]] = {
    "quick": {task: {"preset": "quick"} for task in TASK_ORDER},
    "full": {task: FULL_DATA.get(task, {}) for task in TASK_ORDER},
}
# Training overrides for the edge section only (its int8-vs-float accuracy must compare a model
# that learned something; the pipeline and thread sections keep SETTINGS' batch size). Keyword
# spotting at batch 64 got 3 optimizer steps per epoch from the 173 training clips of tones-8:
# after 6 epochs (18 steps) it classified the test clips perfectly with batch statistics but at
# chance (0.125) with its BatchNormalization moving statistics, which had not settled; 20 epochs
# (60 steps) gave 1.0. Batch 16 gets those steps from the same examples, in less time than more
# epochs at batch 64 (full: 1.0 in 18 s against 46 s; quick, 4 tones at width 16: 0.96-1.0 after
# 8 epochs, where 2 epochs of 2 steps stayed at chance).
EDGE_TRAINING: dict[str, dict[str, dict[str, str]]] = {
    "quick": {"keyword_spotting": {"train.batch_size": "16", "train.epochs": "8"}},
    "full": {"keyword_spotting": {"train.batch_size": "16"}},
}
# Extra edge rows: a task at a setting where the model, not the interpreter, sets the latency.
# The default image model reads 16x16 digits (~0.1 ms per image, per-op overhead dominates), so
# int8 vs float32 there says nothing about conv models in general; a 96x96 RGB input with wider
# filters (~100x the compute) shows where int8 wins on this CPU and where it does not. One epoch:
# the row is about latency and size; its accuracy is reported, not tuned.
EDGE_VARIANTS: dict[str, dict[str, Any]] = {
    "image_classification_96x96x3": {
        "task": "image_classification",
        "sets": {"data.source": "builtin:digits", "data.image.height": "96", "data.image.width": "96",
                 "data.image.channels": "3", "model.cnn.filters": "32,64,128", "model.cnn.dense_units": "128",
                 # TFLM's reference kernels take seconds per 96x96 image: 500 parity examples on
                 # every runtime ran past the worker's 30-minute limit on a loaded machine
                 "train.epochs": "1", "export.parity.max_examples": "100"},
    },
}
COMMON = {"train.verbose": "0", "export.parity.max_examples": "500", "export.golden_examples": "4",
          "export.representative_batches": "10", "export.latency_runs": "5"}
# The benchmark reports quantized accuracy; it does not gate on parity (the parity harness and
# its tests do), so a barely trained model's int8 drift is reported instead of aborting the run.
NO_GATE = {f"export.parity.{mode}.{key}": value for mode in ALL_MODES
           for key, value in (("min_agreement", "0"), ("max_metric_drop", "1000"))}


def modes_for(task: str, modes: list[str]) -> list[str]:
    """The edge modes a task can export: int16x8 needs float inputs (kerasuite.config refuses it
    for the tasks with integer ids, TensorFlow's 16x8 quantizer fails on them)."""
    return [m for m in modes if not (m == "int16x8" and task_spec(task).integer_inputs)]


# ============================================================================ worker (child)


def _set_threads(threads: int) -> None:
    import tensorflow as tf

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def _config(task: str, sets: dict[str, str]):
    from kerasuite import config as cfg

    return cfg.resolve({}, dict(sets), {"task": task})


def _count(batch: Any) -> int:
    _, targets = batch
    return int(targets.shape[0])


def _batch_rows(batch):
    """Examples in a batch (in graph): the leading size of its last component, the targets."""
    import tensorflow as tf

    return tf.shape(tf.nest.flatten(batch)[-1], out_type=tf.int64)[0]


def _full_pass(dataset) -> tuple[float, int, int]:
    """One full pass over ``dataset`` without training, consumed inside the TF runtime as ``fit``
    consumes it; returns (seconds, examples, batches)."""
    import numpy as np

    started = time.perf_counter()
    examples, batches = dataset.reduce((np.int64(0), np.int64(0)),
                                       lambda state, batch: (state[0] + _batch_rows(batch), state[1] + 1))
    return time.perf_counter() - started, int(examples), int(batches)


def _consumer():
    """A ``tf.function`` that pulls ``steps`` batches from an iterator in one call, as ``fit``'s
    train function pulls its batch: no Python work per batch is counted against the pipeline."""
    import tensorflow as tf

    @tf.function
    def consume(iterator, steps):
        examples = tf.constant(0, tf.int64)
        for _ in tf.range(steps):
            examples += _batch_rows(next(iterator))
        return examples

    return consume


def pipeline_rates(make_dataset, repeats: int, min_batches: int = 60) -> dict[str, float]:
    """Cold: the first pass of a freshly built dataset (decode + cache fill). Warm: the steady
    state ``fit`` sees inside an epoch: one iterator over the repeated dataset (so reshuffles at
    epoch boundaries are included), whole passes of at least ``min_batches`` batches per timing.

    Why not a Python ``for`` loop per pass (what this measured before): that charged the
    pipeline ~0.1-0.5 ms of eager Python per batch and a new iterator (threads, graph rewrites,
    shuffle-buffer fill) per pass; on the recommenders' 20-batch passes that overhead, not the
    pipeline, set the number. Creating an iterator is still a real cost, once per epoch when
    ``fit`` runs without ``steps_per_epoch``: it is reported apart as ``epoch_start_seconds``."""
    import tensorflow as tf

    dataset = make_dataset()
    cold_seconds, examples, batches = _full_pass(dataset)
    starts = []
    for _ in range(max(1, repeats)):  # iterator creation + first batch, cache already filled
        started = time.perf_counter()
        next(iter(dataset))
        starts.append(time.perf_counter() - started)
    consume = _consumer()
    iterator = iter(dataset.repeat())
    steps = tf.constant(batches * math.ceil(min_batches / batches), tf.int64)
    consume(iterator, steps)  # traces the consumer and starts the pipeline's threads
    warm = []
    for _ in range(repeats):
        started = time.perf_counter()
        consumed = int(consume(iterator, steps))
        warm.append(consumed / (time.perf_counter() - started))
    return {"examples": examples, "batches": batches,
            "cold_examples_per_second": examples / cold_seconds,
            "warm_examples_per_second": statistics.median(warm),
            "epoch_start_seconds": statistics.median(starts)}


class EpochTimer:
    """Seconds from the first step's start to the last step's end of each epoch: the steps
    alone, without ``fit``'s per-epoch work (callbacks, metric reads) that a short timing epoch
    would spread over few steps and so make the training step look slower than it is."""

    def __init__(self):
        import keras

        class _Timer(keras.callbacks.Callback):
            def __init__(inner):
                super().__init__()
                inner.seconds: list[float] = []

            def on_train_batch_begin(inner, batch, logs=None):
                if batch == 0:
                    inner.started = time.perf_counter()

            def on_train_batch_end(inner, batch, logs=None):
                inner.ended = time.perf_counter()

            def on_epoch_end(inner, epoch, logs=None):
                inner.seconds.append(inner.ended - inner.started)

        self.callback = _Timer()


def fit_epoch_seconds(model, dataset, steps: int, epochs: int) -> list[float]:
    """Seconds of the ``steps`` steps of each ``fit`` epoch; the first (tracing) epoch is dropped."""
    timer = EpochTimer().callback
    model.fit(dataset, steps_per_epoch=steps, epochs=epochs + 1, verbose=0, callbacks=[timer])
    return timer.seconds[1:]


def train_rates(model, data, batch_size: int, steps: int, rounds: int, epochs: int,
                min_epoch_seconds: float = 0.25, materialised_batches: int = 32) -> dict[str, float]:
    """Examples/s of the training step on already materialised batches (what the model
    consumes) and on the real pipeline (what it gets), interleaved round by round.

    The materialised batches are the pipeline's own first batches (up to a pass, at most
    ``materialised_batches``), held in memory and cycled: the same shapes and contents the real
    pipeline gives, without its work. One repeated batch was not enough: a text batch of short
    sentences or a 16-clip remainder batch runs faster than the average one, and the difference
    was reported as input wait (30% for a text pipeline 89x faster than its model).

    A fast model gets more steps per timed epoch (at least ``min_epoch_seconds``): ten 3 ms
    recommender steps were too short to time on a shared machine."""
    materialised = data.train.take(materialised_batches).cache()
    rows = [_count(batch) for batch in materialised]  # fills the cache
    fixed = materialised.repeat()
    real = data.train.repeat()
    examples = sum(rows) / len(rows)  # per step, on average
    step_seconds = min(fit_epoch_seconds(model, fixed, steps, 1)) / steps  # also traces the step
    steps = max(steps, min(500, math.ceil(min_epoch_seconds / step_seconds)))
    fixed_times: list[float] = []
    real_times: list[float] = []
    for _ in range(rounds):
        fixed_times += fit_epoch_seconds(model, fixed, steps, epochs)
        real_times += fit_epoch_seconds(model, real, steps, epochs)
    fixed_s, real_s = statistics.median(fixed_times), statistics.median(real_times)
    return {"batch_size": max(rows), "materialised_batches": len(rows), "steps_per_epoch": steps,
            "train_examples_per_second": steps * examples / fixed_s,
            "fed_examples_per_second": steps * examples / real_s,
            # The slowdown on the real pipeline, from whole-epoch timings: includes the pipeline
            # threads' competition for the CPU, and on a shared machine the load's drift between
            # the two timings (the same code gave 0% and 20%); input wait is measured in-step.
            "fed_slowdown_fraction": (real_s - fixed_s) / real_s}


def input_wait(model, data, steps: int, rounds: int, materialised_batches: int = 32) -> dict[str, Any]:
    """Time the training step spends blocked on input, measured inside each step.

    One step is ``next(iterator)`` then ``model.train_step(batch)``, in one ``tf.function`` called
    once per step from Python, as ``fit`` runs it; ``tf.timestamp`` ops ordered by control
    dependencies read the clock before the fetch, after it, and after the step. The fetch time
    is what the TensorBoard profiler's input-pipeline analysis counts as input time. Part of it
    is the fixed cost of handing any batch to the step (~0.1-0.2 ms here, the same for a one-
    tensor ``from_tensors`` source), so the same steps also run on the pipeline's own first
    batches held in memory, and the wait the pipeline causes is the difference, as a share of
    the real step time. Both sources run in every round, their order alternating, and each
    round is one estimate: the fetch and the step it is compared with are timed in the same
    step, so the machine's load drift, which made whole-epoch comparisons swing +-30% on this
    shared machine, affects both alike."""
    import tensorflow as tf

    materialised = data.train.take(materialised_batches).cache().repeat()
    iterators = {"real": iter(data.train.repeat()), "memory": iter(materialised)}

    @tf.function
    def timed_step(iterator):
        started = tf.timestamp()
        with tf.control_dependencies([started]):
            batch = next(iterator)
        with tf.control_dependencies(tf.nest.flatten(batch)):
            fetched = tf.timestamp()
        with tf.control_dependencies([fetched]):
            logs = model.train_step(batch)
        with tf.control_dependencies(tf.nest.flatten(logs)):
            ended = tf.timestamp()
        return tf.stack([fetched - started, ended - started])

    for iterator in iterators.values():  # traces once per source; fills the pipeline's threads
        for _ in range(3):
            timed_step(iterator)
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in iterators}
    for round_index in range(rounds):
        order = list(iterators) if round_index % 2 == 0 else list(reversed(iterators))
        for name in order:
            timings = tf.stack([timed_step(iterators[name]) for _ in range(steps)]).numpy()
            rows[name].append({"fetch": float(timings[:, 0].sum()), "step": float(timings[:, 1].sum())})
    pipeline_caused = [(real["fetch"] - memory["fetch"]) / real["step"] for real, memory in zip(rows["real"], rows["memory"])]
    quartiles = statistics.quantiles(pipeline_caused, n=4) if rounds > 1 else [pipeline_caused[0]] * 3
    return {
        # Negative rounds (the real source's fetches happened to be faster) are noise around 0.
        "input_wait_fraction": max(0.0, statistics.median(pipeline_caused)),
        "input_wait_quartiles": [quartiles[0], quartiles[2]],
        "input_wait_rounds": pipeline_caused,
        "fetch_fraction": statistics.median(r["fetch"] / r["step"] for r in rows["real"]),
        "fetch_fraction_from_memory": statistics.median(r["fetch"] / r["step"] for r in rows["memory"]),
        # One step as timed inside it (fetch included), against which fit's own per-step time
        # (batch_size / train_examples_per_second) shows the Python overhead per call.
        "in_step_ms": 1000.0 * statistics.median(r["step"] / steps for r in rows["memory"]),
        "input_wait_steps_per_round": steps,
    }


def _steps_for(data, batch_size: int, cap: int) -> int:
    return max(4, min(cap, math.ceil(data.num_train_examples / batch_size)))


def worker_task(spec: dict[str, Any]) -> dict[str, Any]:
    """Pipeline vs model, the naive-loader comparison and the edge section for one task."""
    _set_threads(spec.get("threads", 0))
    import keras

    from kerasuite.tasks import get_task

    task_name, sets = spec["task"], spec["sets"]
    config = _config(task_name, sets)
    task = get_task(task_name)
    keras.utils.set_random_seed(config.seed)
    result: dict[str, Any] = {}
    clock = time.perf_counter()
    if "pipeline" in spec["sections"]:
        holder: dict[str, Any] = {}

        def make():
            holder["data"] = task.load_data(config)
            return holder["data"].train

        rates = pipeline_rates(make, spec["repeats"])
        data = holder["data"]
        model = task.build_model(config, data)
        task.compile_model(model, config, data)
        steps = _steps_for(data, config.train.batch_size, spec["max_steps"])
        train = train_rates(model, data, config.train.batch_size, steps, spec["rounds"], spec["epochs"])
        # About 2 s of steps per source and round (10-200 steps): a round is one paired estimate.
        step_seconds = train["batch_size"] / train["train_examples_per_second"]
        wait_steps = max(10, min(200, math.ceil(2.0 / step_seconds)))
        train.update(input_wait(model, data, wait_steps, spec["wait_rounds"]))
        result["pipeline"] = {
            **rates,
            "pipeline_examples_per_second": rates["warm_examples_per_second"],
            **train,
            "headroom": rates["warm_examples_per_second"] / train["train_examples_per_second"],
            "cold_headroom": rates["cold_examples_per_second"] / train["train_examples_per_second"],
            "params": int(model.count_params()),
        }
        if spec.get("naive_folder"):
            result["pipeline"]["naive"] = naive_comparison(task_name, spec, task)
        result["pipeline"]["section_seconds"] = time.perf_counter() - clock
        clock = time.perf_counter()
    if "edge" in spec["sections"]:
        result["edge"] = edge_section(task_name, spec)
        result["edge"]["section_seconds"] = time.perf_counter() - clock
    return result


def naive_comparison(task_name: str, spec: dict[str, Any], task) -> dict[str, Any]:
    """kerasuite's pipeline against Keras' directory loader with its defaults, same folder."""
    import keras

    folder = spec["naive_folder"]
    config = _config(task_name, {**spec["sets"], "data.source": f"folder:{folder}"})
    batch = config.train.batch_size
    if task_name == "image_classification":
        def naive():
            return keras.utils.image_dataset_from_directory(
                os.path.join(folder, "train"), batch_size=batch, color_mode="grayscale",
                image_size=(config.data.image.height, config.data.image.width), verbose=False)
    else:
        def naive():
            return keras.utils.audio_dataset_from_directory(
                os.path.join(folder, "train"), batch_size=batch,
                output_sequence_length=int(config.data.audio.sample_rate * config.data.audio.clip_seconds),
                verbose=False)
    ours = pipeline_rates(lambda: task.load_data(config).train, spec["repeats"])
    theirs = pipeline_rates(naive, spec["repeats"])
    return {
        "folder": folder,
        "kerasuite": ours,
        "naive": theirs,
        "naive_loader": "image_dataset_from_directory" if task_name == "image_classification" else "audio_dataset_from_directory",
        "speedup_warm": ours["warm_examples_per_second"] / theirs["warm_examples_per_second"],
        "speedup_cold": ours["cold_examples_per_second"] / theirs["cold_examples_per_second"],
    }


def edge_section(task_name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Train with the real runner, export every mode, then time Keras ``model(x)`` and each
    TFLite file (1 and 2 threads) on the same example, interleaved over repeats."""
    import keras
    import numpy as np
    import tensorflow as tf

    from kerasuite.errors import CheckFailed
    from kerasuite.runtime.interpreter import TFLiteModel
    from kerasuite.training.runner import run

    work = Path(tempfile.mkdtemp(prefix=f"bench-{task_name}-", dir=spec["scratch"]))
    sets = {**COMMON, **NO_GATE, **spec["sets"], **spec.get("edge_training", {}), "run_dir": str(work / "run"),
            "export.dir": str(work / "bundle"), "export.modes": ",".join(spec["modes"])}
    config = _config(task_name, sets)
    keras.backend.clear_session()
    try:
        report = run(config, overwrite=True)
    except CheckFailed:
        report = json.loads((work / "run" / "metrics.json").read_text())
    golden = np.load(work / "bundle" / "golden.npz")
    example = {k.split("__", 1)[1]: golden[k][:1] for k in golden.files if k.startswith("input__")}
    task_model = keras.saving.load_model(work / "run" / "model.keras", safe_mode=True, compile=False)
    from kerasuite.tasks import get_task
    from kerasuite.tasks.base import Task

    # Time the model that ships (e.g. the query tower), cut from the trained one.
    task = get_task(task_name)
    data = task.load_data(config) if type(task).export_model is not Task.export_model else None
    shipped = task.export_model(task_model, data)
    inputs = {name: tf.constant(value) for name, value in example.items()}
    # a mode that failed parity is timed too, from failed/ (its row carries the failed verdict)
    runners = {(mode, threads): TFLiteModel(report["exports"][mode]["path"], threads=threads)
               for mode in spec["modes"] for threads in (1, 2)}
    samples: dict[Any, list[dict[str, float]]] = {key: [] for key in [*runners, "keras"]}
    for _ in range(spec["repeats"]):
        samples["keras"].append(_keras_latency(shipped, inputs, spec["latency_runs"]))
        for key, runner in runners.items():
            samples[key].append(runner.latency_ms(example, runs=spec["latency_runs"]))

    def med(rows: list[dict[str, float]]) -> dict[str, float]:
        return {q: statistics.median(r[q] for r in rows) for q in ("p50", "p90")}

    primary = task.objective(config).metric
    out: dict[str, Any] = {
        "metric": primary,
        "keras_metric": _metric(report["eval"], primary),
        "keras_latency_ms": med(samples["keras"]),
        "train_epochs": report["train"]["epochs"],
        "keras_size_bytes": (work / "run" / "model.keras").stat().st_size,
    }
    for mode in spec["modes"]:
        exported = report["exports"][mode]
        out[mode] = {
            "latency_ms": med(samples[(mode, 1)]),
            "latency_ms_2_threads": med(samples[(mode, 2)]),
            "size_bytes": int(exported["size_bytes"]),
            "accuracy": _metric(exported["eval"], primary),
            # Top-1 agreement with the Keras model on the parity examples: quantisation damage
            # alone, where an accuracy difference on a small test set is mostly sampling noise.
            # (None for ranking: a regression has no decision to agree on; see max_abs_diff.)
            "agreement": exported["parity"]["agreement"],
            "max_abs_diff": float(exported["parity"]["max_abs_diff"]),
            "parity_examples": int(exported["parity"]["examples"]),
            "parity_passed": bool(exported["parity"]["passed"]),
        }
    return out


def _metric(values: dict[str, Any], primary: str) -> float:
    if primary in values:
        return float(values[primary])
    return float(next(v for v in values.values() if isinstance(v, (int, float))))


def _keras_latency(model, inputs, runs: int) -> dict[str, float]:
    import numpy as np

    for _ in range(3):
        model(inputs, training=False)
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        model(inputs, training=False)
        timings.append((time.perf_counter() - started) * 1000.0)
    return {"p50": float(np.percentile(timings, 50)), "p90": float(np.percentile(timings, 90))}


def worker_train(spec: dict[str, Any]) -> dict[str, Any]:
    """Training-step throughput on a fixed batch at one thread / strategy setting."""
    from kerasuite import distribute

    if spec.get("logical_cpus"):
        distribute.configure_logical_cpus(spec["logical_cpus"])
    _set_threads(spec.get("threads", 0))
    strategy = distribute.make_strategy(spec.get("strategy", "auto"), spec.get("logical_cpus", 0))
    import keras
    import tensorflow as tf

    from kerasuite.tasks import get_task

    config = _config(spec["task"], spec["sets"])
    task = get_task(spec["task"])
    keras.utils.set_random_seed(config.seed)
    data = task.load_data(config)
    with strategy.scope():
        model = task.build_model(config, data)
        task.compile_model(model, config, data)
    first = next(iter(data.train))
    fixed = tf.data.Dataset.from_tensors(first).repeat()
    steps = _steps_for(data, config.train.batch_size, spec["max_steps"])
    times: list[float] = []
    for _ in range(spec["rounds"]):
        times += fit_epoch_seconds(model, fixed, steps, spec["epochs"])
    return {"train_examples_per_second": steps * _count(first) / statistics.median(times),
            "replicas": int(strategy.num_replicas_in_sync),
            # 1 under several replicas whatever the task asks (kerasuite.distribute.steps_per_execution)
            "steps_per_execution": int(model.steps_per_execution)}


def worker_main(spec_text: str) -> int:
    spec = json.loads(spec_text)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(REPO))
    from kerasuite.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    result = {"task": worker_task, "train": worker_train}[spec["kind"]](spec)
    print(RESULT_MARK + json.dumps(result), flush=True)
    return 0


# ============================================================================ parent


def run_child(args: list[str], timeout: float) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run a child; return (completed, wall seconds, peak resident MB from wait4)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO))
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(args, stdout=out, stderr=err, text=True, env=env, cwd=str(REPO))
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.01)
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        done = subprocess.CompletedProcess(args, process.returncode, out.read(), err.read())
    # ru_maxrss is in kilobytes on Linux.
    return done, wall, usage.ru_maxrss / 1024.0


def run_or_record(spec: dict, key: str, errors: dict[str, str]) -> dict | None:
    """One worker's result, or None with its error recorded under ``key``: one failing task must
    not cost the rest of a long run."""
    try:
        return run_worker(spec)
    except RuntimeError as error:
        errors[key] = str(error)
        print(error, file=sys.stderr)
        return None


def run_worker(spec: dict[str, Any], timeout: float = 1800) -> dict[str, Any]:
    done, wall, rss = run_child([sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)], timeout)
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            result = json.loads(line[len(RESULT_MARK):])
            result["_child"] = {"wall_seconds": wall, "peak_rss_mb": rss}
            return result
    tail = (done.stderr or done.stdout).strip().splitlines()[-15:]
    raise RuntimeError(f"benchmark worker {spec['kind']}/{spec.get('task')} exited {done.returncode}:\n" + "\n".join(tail))


def machine_block() -> dict[str, Any]:
    from importlib import metadata

    flags: list[str] = []
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags") and not flags:
                flags = line.split(":", 1)[1].split()
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    wanted = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_flags": flags,
        "simd_flags": [flag for flag in wanted if flag in flags],
        "python": platform.python_version(),
        "tensorflow": version("tensorflow"),
        "keras": version("keras"),
        "litert": version("ai-edge-litert"),
        "load_average_start": list(os.getloadavg()),
    }


def write_digits_folder(root: Path) -> Path:
    if not (root / "train").is_dir():
        subprocess.run([sys.executable, str(REPO / "tools" / "make_digits_folder.py"), str(root)], check=True,
                       capture_output=True, cwd=str(REPO), env=dict(os.environ, PYTHONPATH=str(REPO)))
    return root


def write_tones_folder(root: Path, per_class: int) -> Path:
    """The synthetic:tones clips as 16-bit WAV files, one folder per class (train/ and test/)."""
    if (root / "train").is_dir():
        return root
    import wave

    import numpy as np

    sys.path.insert(0, str(REPO))
    # kerasuite.data.audio imports TensorFlow; the generator is copied from there via a child.
    code = ("import numpy as np, sys; from kerasuite.data.audio import synthetic_tones; "
            f"c, l = synthetic_tones(4, {per_class}, 16000, 16000, 42); np.savez(sys.argv[1], c=c, l=l)")
    scratch = root.parent / "tones.npz"
    root.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-c", code, str(scratch)], check=True, capture_output=True, cwd=str(REPO),
                   env=dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3"))
    arrays = np.load(scratch)
    for index, (clip, label) in enumerate(zip(arrays["c"], arrays["l"])):
        split = "test" if index % 5 == 0 else "train"
        folder = root / split / f"tones_{label}"
        folder.mkdir(parents=True, exist_ok=True)
        with wave.open(str(folder / f"clip_{index:05d}.wav"), "wb") as handle:
            handle.setnchannels(1)
            handle.setsampwidth(2)
            handle.setframerate(16000)
            handle.writeframes(clip.astype("<i2").tobytes())
    scratch.unlink()
    return root


# A value mistake found only after every key, type and the task's config are resolved, so the row
# times the whole up-front check (which must come before TensorFlow loads).
USAGE_ERROR_ARGS = ("--task", "keyword_spotting", "--set", "model.mfcc.num_mel_bins=0")


def startup_seconds(runs: int) -> dict[str, Any]:
    """Wall time of ``--help`` (interpreter start + imports) and of a usage error (exit 2),
    median of ``runs``, interleaved."""
    cases = (("train_help", "kerasuite.train", ("--help",), 0), ("edge_help", "kerasuite.edge", ("--help",), 0),
             ("train_usage_error", "kerasuite.train", USAGE_ERROR_ARGS, 2))
    times: dict[str, list[float]] = {key: [] for key, *_ in cases}
    for _ in range(runs):
        for key, module, args, expected in cases:
            done, wall, _ = run_child([sys.executable, "-m", module, *args], 120)
            if done.returncode != expected:
                raise RuntimeError(f"python -m {module} {' '.join(args)} exited {done.returncode}, not {expected}: "
                                   f"{done.stderr[-500:]}")
            times[key].append(wall)
    result: dict[str, Any] = {key: statistics.median(values) for key, values in times.items()}
    result["runs"] = runs
    result["samples"] = {key: [round(v, 3) for v in values] for key, values in times.items()}
    return result


def cli_run(sets: dict[str, str], task: str, out: Path, export: str = "none") -> dict[str, Any]:
    """One real ``python -m kerasuite.train`` child: wall, peak RSS and its metrics.json."""
    # the bundle beside the run folder: the export refuses one inside it (it replaces its folder)
    work = Path(tempfile.mkdtemp(prefix="bench-cli-", dir=out))
    run_dir = work / "run"
    args = [sys.executable, "-m", "kerasuite.train", "--task", task, "--run-dir", str(run_dir), "--export", export,
            "--set", *[f"{k}={v}" for k, v in {**sets, "export.dir": str(work / 'bundle')}.items()]]
    done, wall, rss = run_child(args, 3600)
    # Exit 1 = a parity check failed after training and export: the timings are still real.
    if done.returncode not in (0, 1) or not (run_dir / "metrics.json").is_file():
        raise RuntimeError(f"kerasuite.train exited {done.returncode}: {done.stderr.strip()[-800:]}")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {"wall_seconds": wall, "peak_rss_mb": rss, "train_seconds": metrics["train"]["seconds"],
            "train_examples_per_second": metrics["train"]["examples_per_second"], "exit_code": done.returncode}


def scaling(quick: bool, out: Path) -> dict[str, Any]:
    """Train time and peak memory against data size (ranking on synthetic clusters: 1x, 4x, 16x
    users) and model width (image cnn filters), plus a default ``python -m kerasuite.train``."""
    base_users = 150
    factors = (1, 4) if quick else (1, 4, 16)
    result: dict[str, Any] = {"data_size": {}, "model_width": {}}
    for factor in factors:
        sets = {"data.source": f"synthetic:clusters,users={base_users * factor},items=200", "train.epochs": "2",
                "train.verbose": "0", "model.ranking.hidden_units": "32,16"}
        row = cli_run(sets, "ranking", out)
        row["users"] = base_users * factor
        result["data_size"][f"{factor}x"] = row
    for width in ((8, 16) if quick else (8, 16, 32)):
        sets = {"data.source": "builtin:digits", "train.epochs": "2", "train.verbose": "0",
                "model.cnn.filters": f"{width},{2 * width}", "model.cnn.dense_units": str(4 * width)}
        result["model_width"][f"filters={width},{2 * width}"] = cli_run(sets, "image_classification", out)
    default_sets = {"train.verbose": "0"} if not quick else {"train.verbose": "0", "train.epochs": "1"}
    result["default_run"] = cli_run(default_sets, "image_classification", out, export="float32,int8")
    result["default_run"]["command"] = ("python -m kerasuite.train" +
                                        ("" if not quick else " --set train.epochs=1"))
    return result


def profile_task(task: str, quick: bool, out: Path) -> Path:
    """cProfile one real training run of ``task`` (in this process) and save the top functions."""
    import cProfile
    import io
    import pstats

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(REPO))
    from kerasuite.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    from kerasuite.training.runner import run

    work = Path(tempfile.mkdtemp(prefix=f"profile-{task}-", dir=out))
    sets = {**COMMON, **NO_GATE, **SETTINGS["quick" if quick else "full"][task], "run_dir": str(work / "run"),
            "export.dir": str(work / "bundle"), "export.modes": "float32,int8"}
    config = _config(task, sets)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    report = run(config, overwrite=True)
    profiler.disable()
    wall = time.perf_counter() - started
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("tottime").print_stats(25)
    path = out / f"profile_{task}.txt"
    write_text_atomic(path, f"task {task}: run() wall {wall:.2f} s, train {report['train']['seconds']} s\n" + text.getvalue())
    print(f"run() wall {wall:.2f} s, train {report['train']['seconds']} s; profile in {path}")
    return path


def _agreement(row: dict[str, Any]) -> str:
    if row.get("agreement") is None:
        return f"max diff {row['max_abs_diff']:.2g} ({row['parity_examples']})"
    return f"{row['agreement']:.3f} ({row['parity_examples']})"


def _wait(row: dict[str, Any]) -> str:
    """Pipeline-caused input wait (median, quartiles over rounds) and the whole fetch's share."""
    text = f"{100 * row['input_wait_fraction']:.1f}%"
    if "input_wait_quartiles" in row:
        low, high = row["input_wait_quartiles"]
        text += f" ({100 * low:.1f} to {100 * high:.1f}; fetch {100 * row['fetch_fraction']:.1f}%)"
    return text


def _table(columns: list[str], rows: list[list]) -> dict[str, list]:
    return {"columns": columns, "rows": rows}


def results_tables(report: dict[str, Any]) -> dict[str, dict]:
    """The run's tables as ``{"columns", "rows"}`` (the README's, via tools/readme_tables.py)."""
    tables: dict[str, dict] = {}
    targets = targets_table(report)
    if targets:
        tables["targets"] = targets
    if report.get("pipeline"):
        rows = []
        for task, row in report["pipeline"].items():
            threads = report.get("threads", {}).get(task, {})

            def t(key, threads=threads):
                return f"{threads[key]['train_examples_per_second']:,.0f}" if key in threads else "-"

            rows.append([task, f"{row['params']:,}", f"{row['pipeline_examples_per_second']:,.0f}",
                         f"{row['cold_examples_per_second']:,.0f}", f"{1000 * row['epoch_start_seconds']:.1f}",
                         f"{row['train_examples_per_second']:,.0f}", f"{row['headroom']:.1f}x", _wait(row),
                         t("1_thread"), t("2_threads"), t("mirrored_2_logical")])
        tables["pipeline"] = _table(["task", "params", "pipeline ex/s (warm)", "cold", "epoch start ms",
                                     "train step ex/s", "headroom", "input wait (quartiles; all fetching)",
                                     "1 thread", "2 threads", "mirrored x2"], rows)
        naive = {task: row["naive"] for task, row in report["pipeline"].items() if "naive" in row}
        if naive:
            tables["naive"] = _table(
                ["task", "kerasuite pipeline ex/s (cold / warm)", "naive loader ex/s (cold / warm)", "speedup cold / warm"],
                [[task, f"{row['kerasuite']['cold_examples_per_second']:,.0f} / "
                        f"{row['kerasuite']['warm_examples_per_second']:,.0f}",
                  f"{row['naive']['cold_examples_per_second']:,.0f} / {row['naive']['warm_examples_per_second']:,.0f} "
                  f"(`{row['naive_loader']}`)", f"{row['speedup_cold']:.1f}x / {row['speedup_warm']:.1f}x"]
                 for task, row in naive.items()])
    if report.get("edge"):
        rows = []
        for task, row in report["edge"].items():
            f32 = row.get("float32")
            keras_p50 = row["keras_latency_ms"]["p50"]
            rows.append([task, "Keras `model(x)`", f"{row['keras_size_bytes'] / 1024:,.1f} kB (.keras)", "-",
                         f"{row['metric']} {row['keras_metric']:.4f}", "-", f"{keras_p50:.3f}",
                         f"{row['keras_latency_ms']['p90']:.3f}", "-", "-", "1x"])
            for mode in ALL_MODES:
                if mode not in row:
                    continue
                r = row[mode]
                rows.append([task, mode, f"{r['size_bytes'] / 1024:,.1f} kB", f"{r['size_bytes'] / f32['size_bytes']:.2f}x",
                             f"{r['accuracy']:.4f}", _agreement(r), f"{r['latency_ms']['p50']:.3f}",
                             f"{r['latency_ms']['p90']:.3f}", f"{r['latency_ms_2_threads']['p50']:.3f}",
                             f"{r['latency_ms']['p50'] / f32['latency_ms']['p50']:.2f}x",
                             _times(keras_p50 / r['latency_ms']['p50'])])
        tables["edge"] = _table(["task", "mode", "size", "size vs f32", "metric", "agreement with Keras",
                                 "p50 ms (1 thr)", "p90 ms", "p50 ms (2 thr)", "p50 vs f32", "Keras p50 / this p50"], rows)
    if report.get("startup_seconds"):
        s = report["startup_seconds"]
        tables["startup"] = _table(
            [f"command (median of {s['runs']} runs)", "seconds", "target"],
            [["`python -m kerasuite.train --help`", f"{s['train_help']:.2f}", "< 3 s"],
             ["`python -m kerasuite.edge --help`", f"{s['edge_help']:.2f}", "< 1 s"],
             [f"usage error `python -m kerasuite.train {' '.join(USAGE_ERROR_ARGS)}` (exit 2)",
              f"{s['train_usage_error']:.2f}", "< 1 s"]])
    if report.get("scaling"):
        sc = report["scaling"]
        rows = []
        for group in ("data_size", "model_width"):
            for key, row in sc[group].items():
                label = f"ranking, {row['users']} users ({key})" if group == "data_size" else f"image cnn {key}"
                rows.append([label, f"{row['train_seconds']:.1f}", f"{row['train_examples_per_second']:,.0f}",
                             f"{row['wall_seconds']:.1f}", f"{row['peak_rss_mb']:,.0f}"])
        d = sc["default_run"]
        rows.append([f"`{d['command']}` (+ export float32,int8)", f"{d['train_seconds']:.1f}",
                     f"{d['train_examples_per_second']:,.0f}", f"{d['wall_seconds']:.1f}", f"{d['peak_rss_mb']:,.0f}"])
        tables["scaling"] = _table(["scaling run", "train s", "ex/s", "wall s", "peak RSS MB"], rows)
    if report.get("threads"):
        tables["threads"] = _table(
            ["task", "1 thread ex/s", "2 threads ex/s", "2 vs 1", "MirroredStrategy, 2 logical CPUs ex/s",
             "mirrored vs 2 threads"],
            [[task, f"{row['1_thread']['train_examples_per_second']:,.0f}",
              f"{row['2_threads']['train_examples_per_second']:,.0f}", f"{row['speedup_2_vs_1_thread']:.2f}x",
              f"{row['mirrored_2_logical']['train_examples_per_second']:,.0f}", f"{row['mirrored_vs_2_threads']:.2f}x"]
             for task, row in report["threads"].items()])
    return tables


CONV_TASKS = ("image_classification", "image_classification_96x96x3")


def _span(values: list[float], text: str = "{:.1f}x") -> str:
    low, high = min(values), max(values)
    return text.format(low) if low == high else f"{text.format(low)}-{text.format(high)}"


def targets_table(report: dict[str, Any]) -> dict[str, list] | None:
    """The performance targets judged from this run's own numbers (met: computed, not written)."""
    rows = []
    pipeline = report.get("pipeline", {})
    if pipeline:
        headroom = [row["headroom"] for row in pipeline.values()]
        rows.append(["pipeline at least 3x faster than the model consumes", _span(headroom), min(headroom) >= 3])
        waits = {task: row["input_wait_fraction"] for task, row in pipeline.items()}
        rows.append(["time waiting for input under 5% of step time",
                     ", ".join(f"{task} {100 * wait:.1f}%" for task, wait in waits.items()), max(waits.values()) < 0.05])
    edge = report.get("edge", {})
    conv = {task: row["int8"]["latency_ms"]["p50"] / row["float32"]["latency_ms"]["p50"]
            for task, row in edge.items() if task in CONV_TASKS and "int8" in row and "float32" in row}
    if conv:
        rows.append(["int8 at most 0.8x float32 latency, conv models",
                     ", ".join(f"{task} {ratio:.2f}x" for task, ratio in conv.items()), max(conv.values()) <= 0.8])
    sizes = {task: row["int8"]["size_bytes"] / row["float32"]["size_bytes"] for task, row in edge.items()
             if "int8" in row and "float32" in row and row["float32"]["size_bytes"] > 100_000}
    if sizes:
        rows.append(["int8 file at most 0.3x float32 above 100 kB",
                     ", ".join(f"{task} {ratio:.2f}x" for task, ratio in sizes.items()), max(sizes.values()) <= 0.3])
    startup = report.get("startup_seconds")
    if startup:
        rows.append(["start-up: `edge --help` < 1 s, `train --help` < 3 s, usage error < 1 s",
                     f"{startup['edge_help']:.2f} s, {startup['train_help']:.2f} s, {startup['train_usage_error']:.2f} s",
                     startup["edge_help"] < 1 and startup["train_help"] < 3 and startup["train_usage_error"] < 1])
    return _table(["target", "measured in this run", "met"], rows) if rows else None


PER_TASK_SECTIONS = ("pipeline", "edge", "threads")
WHOLE_SECTIONS = ("startup_seconds", "scaling", "export_vs_keras", "mediapipe", "tflm", "kws_budget", "retrieval")


def _times(ratio: float) -> str:
    """A speed-up for a table: whole numbers from 10x, two digits below (a file slower than Keras
    reads 0.23x, not 0x)."""
    return f"{ratio:,.0f}x" if ratio >= 10 else f"{ratio:.2g}x"


def merge_earlier(report: dict[str, Any], earlier: dict[str, Any]) -> None:
    """Fill ``report`` with what ``earlier`` measured and this run did not (per task for the
    per-task sections); the earlier run's errors stay only for what is still missing."""
    for section in PER_TASK_SECTIONS:
        for task, row in earlier.get(section, {}).items():
            report.setdefault(section, {}).setdefault(task, row)
    for section in WHOLE_SECTIONS:
        if section in earlier and section not in report:
            report[section] = earlier[section]
    errors = dict(report.get("errors", {}))
    for where, message in earlier.get("errors", {}).items():
        task, _, section = where.rpartition(":")
        measured = task in report.get(section, {}) if task else where in report or (
            where == "startup" and "startup_seconds" in report)
        if not measured:
            errors.setdefault(where, message)
    if errors:
        report["errors"] = errors
    else:
        report.pop("errors", None)
    report["merged_from"] = [*earlier.get("merged_from", []),
                             {key: earlier[key] for key in ("created", "command", "machine", "seconds") if key in earlier}]


def run_row(report: dict[str, Any]) -> list:
    m = report["machine"]
    end = m.get("load_average_end") or [float("nan")]
    return [report["created"], f"`{report['command']}`", f"{m['cpu_model']}, {m['cores']} cores ({', '.join(m['simd_flags'])})",
            f"TF {m['tensorflow']}, Keras {m['keras']}, LiteRT {m['litert']}",
            f"{m['load_average_start'][0]:.1f} / {end[0]:.1f}", round(report["seconds"])]


def machine_line(report: dict[str, Any]) -> str:
    m = report["machine"]
    end = m.get("load_average_end")
    return (f"Measured {report['created']} with `{report['command']}` on {m['cpu_model']}, {m['cores']} cores "
            f"({', '.join(m['simd_flags'])}), TF {m['tensorflow']}, Keras {m['keras']}, LiteRT {m['litert']}; "
            f"load average {m['load_average_start'][0]:.1f} at start"
            + (f", {end[0]:.1f} at the end" if end else "") +
            ". Ratios are measured side by side in one run; timings are medians over repeats.")


def markdown(report: dict[str, Any]) -> str:
    from readme_tables import format_cell

    lines = [machine_line(report)]
    for name, table in results_tables(report).items():
        lines += ["", f"{name}:", "", "| " + " | ".join(table["columns"]) + " |", "|" + "---|" * len(table["columns"])]
        lines += ["| " + " | ".join(format_cell(cell) for cell in row) + " |" for row in table["rows"]]
    for where, message in report.get("errors", {}).items():
        lines += ["", f"Not measured ({where}): {message.splitlines()[0]}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from readme_tables import results_name

    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small models, fewer repeats, fewer sections per task")
    parser.add_argument("--out", default="runs/benchmark", help="folder for benchmark.json and benchmark.md")
    parser.add_argument("--tasks", default=",".join(TASK_ORDER))
    parser.add_argument("--sections", default="",
                        help=f"comma list of {', '.join(SECTIONS)} (default: all; --quick leaves out scaling, mediapipe, tflm and kws_budget)")
    parser.add_argument("--modes", default="", help="edge modes (default: float32,int8 quick, every mode full)")
    parser.add_argument("--profile", metavar="TASK", help="cProfile one training run of TASK and exit")
    parser.add_argument("--write-results", action="store_true",
                        help="also write results/NAME.json (--results-name), the README's Performance tables")
    parser.add_argument("--results-name", default="benchmark", type=results_name,
                        help="NAME of results/NAME.json (default benchmark): a partial run gets its own table "
                             "instead of replacing the full run's")
    parser.add_argument("--merge", metavar="BENCHMARK.json",
                        help="an earlier run's benchmark.json: what this run does not measure is taken from it "
                             "(each row stays from the run that measured it; the run table lists both runs)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker_main(args.worker)
    earlier = None
    if args.merge:  # read now: a bad file must not cost a long run at its end
        try:
            earlier = json.loads(Path(args.merge).read_text())
            if not isinstance(earlier, dict) or not {"command", "machine", "created"} <= earlier.keys():
                raise ValueError("no command, machine and created keys")
        except (OSError, ValueError) as error:
            parser.error(f"--merge {args.merge}: not a benchmark.json this tool wrote ({error})")
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    if args.profile:
        profile_task(args.profile, args.quick, out)
        return 0
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    default_sections = [s for s in SECTIONS
                        if not (args.quick and s in ("scaling", "mediapipe", "tflm", "kws_budget", "retrieval"))]
    sections = [s.strip() for s in args.sections.split(",") if s.strip()] or default_sections
    unknown = [t for t in tasks if t not in TASK_ORDER] + [s for s in sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown task or section: {', '.join(unknown)}")
    level = "quick" if args.quick else "full"
    modes = [m for m in (args.modes or ("float32,int8" if args.quick else ",".join(ALL_MODES))).split(",") if m]
    # Three interleaved rounds even when quick: on a shared 2-core machine one timed epoch of the
    # training step varied by +-50%, which made a single round's input wait meaningless.
    knobs = {"repeats": 2 if args.quick else 5, "rounds": 3, "wait_rounds": 3 if args.quick else 7, "epochs": 2 if args.quick else 3,
             "max_steps": 10 if args.quick else 30, "latency_runs": 50 if args.quick else 200}
    scratch = out / "scratch"
    scratch.mkdir(exist_ok=True)
    started = time.perf_counter()
    report: dict[str, Any] = {
        "created": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "python tools/benchmark.py" + (" --quick" if args.quick else "") +
                   ("" if args.tasks == ",".join(TASK_ORDER) else f" --tasks {args.tasks}") +
                   (f" --sections {args.sections}" if args.sections else "") +
                   (f" --modes {args.modes}" if args.modes else "") +
                   (f" --results-name {args.results_name}" if args.results_name != "benchmark" else ""),
        "level": level, "settings": {t: {**task_spec(t).presets["quick" if args.quick else "default"], **SETTINGS[level][t]}
                                       for t in tasks},
        "edge_training": {t: EDGE_TRAINING[level][t] for t in tasks if t in EDGE_TRAINING[level]}, "knobs": knobs,
        "machine": machine_block(),
    }
    folders = {}
    if "pipeline" in sections:
        data_dir = out / "data"
        if "image_classification" in tasks:
            folders["image_classification"] = str(write_digits_folder(data_dir / "digits_png"))
        if "keyword_spotting" in tasks:
            folders["keyword_spotting"] = str(write_tones_folder(data_dir / "tones_wav", 30 if args.quick else 150))
    errors: dict[str, str] = {}

    def save() -> None:
        # After every section, so an interrupted or failed run keeps what it measured.
        write_text_atomic(out / "benchmark.json", json.dumps(report, indent=2))

    task_sections = [s for s in ("pipeline", "edge") if s in sections]
    edge_quick_task = "image_classification" if "image_classification" in tasks else tasks[0]
    for task in tasks:
        if not task_sections:
            break
        # Quick: the edge section (training, then a converter subprocess: ~20 s for four modes
        # of the speech model on a loaded 2-core machine) runs for one conv task only.
        sections_here = [s for s in task_sections if s != "edge" or not args.quick or task == edge_quick_task]
        if not sections_here:
            continue
        spec = {"kind": "task", "task": task, "sets": SETTINGS[level][task], "sections": sections_here,
                "edge_training": EDGE_TRAINING[level].get(task, {}), "modes": modes_for(task, modes),
                "scratch": str(scratch),
                "naive_folder": folders.get(task), **knobs}
        print(f"[benchmark] {task}: {', '.join(sections_here)}", flush=True)
        result = run_or_record(spec, f"{task}:{','.join(sections_here)}", errors)
        if result is None:
            continue
        report.setdefault("children", {})[task] = result["_child"]
        if "pipeline" in result:
            report.setdefault("pipeline", {})[task] = result["pipeline"]
        if "edge" in result:
            report.setdefault("edge", {})[task] = result["edge"]
        save()
    if "edge" in sections:
        for name, variant in EDGE_VARIANTS.items():
            if variant["task"] not in tasks:
                continue
            print(f"[benchmark] {name}: edge", flush=True)
            spec = {"kind": "task", "task": variant["task"], "sets": variant["sets"], "sections": ["edge"],
                    "modes": modes_for(variant["task"], modes), "scratch": str(scratch), **knobs}
            result = run_or_record(spec, f"{name}:edge", errors)
            if result is None:
                continue
            report.setdefault("children", {})[name] = result["_child"]
            report.setdefault("edge", {})[name] = {**result["edge"], "settings": variant["sets"]}
            save()
    if "threads" in sections:
        # Quick: one task (the thread pools matter the same way for all); full: every task.
        for task in tasks[:1] if args.quick else tasks:
            print(f"[benchmark] {task}: threads", flush=True)
            rows: dict[str, Any] = {}
            try:
                for key, extra in (("1_thread", {"threads": 1}), ("2_threads", {"threads": 2}),
                                   ("mirrored_2_logical", {"logical_cpus": 2, "strategy": "mirrored"})):
                    rows[key] = run_worker({"kind": "train", "task": task, "sets": SETTINGS[level][task], **knobs, **extra})
            except RuntimeError as error:
                errors[f"{task}:threads"] = str(error)
                print(error, file=sys.stderr)
                continue
            rows["speedup_2_vs_1_thread"] = rows["2_threads"]["train_examples_per_second"] / rows["1_thread"]["train_examples_per_second"]
            rows["mirrored_vs_2_threads"] = (rows["mirrored_2_logical"]["train_examples_per_second"]
                                             / rows["2_threads"]["train_examples_per_second"])
            report.setdefault("threads", {})[task] = rows
            save()
    if "startup" in sections:
        print("[benchmark] start-up", flush=True)
        report["startup_seconds"] = startup_seconds(3 if args.quick else 7)
        save()
    if "scaling" in sections:
        print("[benchmark] scaling", flush=True)
        try:
            report["scaling"] = scaling(args.quick, scratch)
        except RuntimeError as error:
            errors["scaling"] = str(error)
            print(error, file=sys.stderr)
    if "tflm" in sections:  # its own script (trains one model per row): flash, TFLM arena and latency
        print("[benchmark] tflm", flush=True)
        done = subprocess.run([sys.executable, str(Path(__file__).with_name("benchmark_tflm.py")),
                               "--out", str(out / "tflm"), *(["--quick"] if args.quick else [])])
        if done.returncode == 0:
            report["tflm"] = json.loads((out / "tflm" / "results.json").read_text())
        else:
            errors["tflm"] = f"tools/benchmark_tflm.py exited {done.returncode}"
        save()
    if "kws_budget" in sections:  # its own script (trains per config and keyword set): accuracy vs flash vs arena
        print("[benchmark] kws_budget", flush=True)
        done = subprocess.run([sys.executable, str(Path(__file__).with_name("benchmark_kws_budget.py")),
                               "--out", str(out / "kws_budget")])
        if done.returncode == 0:
            report["kws_budget"] = json.loads((out / "kws_budget" / "results.json").read_text())
        else:
            errors["kws_budget"] = f"tools/benchmark_kws_budget.py exited {done.returncode}"
        save()
    if "export_vs_keras" in sections:  # tools/benchmark_export.py; its own table in export_vs_keras.md
        print("[benchmark] export vs Keras' model.export", flush=True)
        done = subprocess.run([sys.executable, str(Path(__file__).with_name("benchmark_export.py")), "--out", str(out)])
        if done.returncode == 0:
            report["export_vs_keras"] = json.loads((out / "export_vs_keras.json").read_text())
        else:
            errors["export_vs_keras"] = f"tools/benchmark_export.py exited {done.returncode}"
        save()
    if "mediapipe" in sections:  # its own script (tools/benchmark_mediapipe.py), own tables
        print("[benchmark] mediapipe", flush=True)
        target = out / "mediapipe"
        done = subprocess.run([sys.executable, str(Path(__file__).with_name("benchmark_mediapipe.py")),
                               "--out", str(target), "--runs", "50" if args.quick else "200"])
        if done.returncode == 0:
            report["mediapipe"] = json.loads((target / "mediapipe.json").read_text())
        else:
            errors["mediapipe"] = f"tools/benchmark_mediapipe.py exited {done.returncode}"
        save()
    if "retrieval" in sections:  # its own script: each model and EASE in its own child process
        print("[benchmark] retrieval", flush=True)
        target = out / "retrieval"
        debian = REPO / "data" / "debian-deps-5"
        command = [sys.executable, str(Path(__file__).with_name("benchmark_retrieval.py")), "--work", str(target),
                   "--out", str(target / "retrieval.json")]
        command += (["--datasets", "synthetic", "--epochs", "2"] if args.quick
                    else ["--debian", str(debian)] if debian.is_dir() else ["--datasets", "synthetic", "movielens_csv"])
        done = subprocess.run(command)
        if done.returncode == 0:
            report["retrieval"] = json.loads((target / "retrieval.json").read_text())
        else:
            errors["retrieval"] = f"tools/benchmark_retrieval.py exited {done.returncode}"
        save()
    report["machine"]["load_average_end"] = list(os.getloadavg())
    report["seconds"] = time.perf_counter() - started
    if errors:
        report["errors"] = errors
    if earlier is not None:
        merge_earlier(report, earlier)
    save()
    table = markdown(report)
    if "tflm" in report:
        table += "\n" + (out / "tflm" / "results.md").read_text()
    if "retrieval" in report:
        table += "\nRetrieval: recall, training time and peak memory, side by side\n\n" + (
            out / "retrieval" / "retrieval.md").read_text()
    write_text_atomic(out / "benchmark.md", table)
    if args.write_results:
        from readme_tables import write_results

        runs = [*report.get("merged_from", []), report]
        run = _table(["measured", "command", "machine", "versions", "load average start / end", "seconds"],
                     [run_row(one) for one in runs])
        command = " ; ".join(one["command"] + (" --write-results" if one is report else "") for one in runs)
        write_results(args.results_name, command, {"run": run, **results_tables(report)},
                      machine=machine_line(report), seconds=round(report["seconds"]), errors=report.get("errors", {}))
    print(table)
    print(f"wrote {out / 'benchmark.json'} and {out / 'benchmark.md'} in {report['seconds']:.0f} s")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
