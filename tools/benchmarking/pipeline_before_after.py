"""Before/after record of the ISSUE 8 pipeline work, side by side in one process.

    PYTHONPATH=. python tools/benchmarking/pipeline_before_after.py [--tasks ranking,retrieval,keyword_spotting]
                                                                    [--repeats 3] [--out FILE.json]

Per task, on the ``--quick`` benchmark settings, the training pipeline as it was ("before") and as
it is ("after"), built from the same raw data, timed in interleaved rounds (medians):
- keyword_spotting: augmentation as a per-clip map (the old ``augmenter``, kept here verbatim)
  against the vectorized ``batch_augmenter``, and no augmentation at all for reference.
- ranking, retrieval: rows sliced per example from the arrays (``from_tensor_slices`` -> cache
  -> shuffle buffer -> batch) against ``array_rows`` (batches of row indices cut from one
  permutation per epoch, one gather per batch).

Each pipeline is measured two ways: ``old_measure`` is how tools/benchmark.py measured before (a
Python ``for`` loop per pass over a new iterator) and ``warm`` is how it measures now (steady
state, consumed in graph as ``fit`` consumes it; see ``benchmark.pipeline_rates``). The training
step's examples/s (fixed batch, same batch size) and the input wait of training steps fed by
each pipeline (measured inside the step, see ``benchmark.input_wait``) are measured in the same
rounds, so headroom before/after comes from one run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, TOOLS)
sys.path.insert(0, os.path.join(TOOLS, ".."))

import benchmark as b  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from kerasuite.data import audio as audio_sources  # noqa: E402
from kerasuite.data.pipeline import make_pipeline  # noqa: E402
from kerasuite.models.layers.mfcc import normalize_peak  # noqa: E402
from kerasuite.tasks import get_task  # noqa: E402
from kerasuite.tasks import ranking as ranking_module  # noqa: E402
from kerasuite.tasks import retrieval as retrieval_module  # noqa: E402


def per_clip_augmenter(audio, noise, length, seed, peak_floor=None):
    """The keyword-spotting augmentation as it was before: one clip per call (``augment_fn``)."""
    max_shift = round(audio.time_shift_seconds * audio.sample_rate)
    noise_bank = tf.constant(noise, tf.float32)
    noise_clips, noise_length = noise.shape
    rng = tf.random.Generator.from_seed(seed)

    def augment(inputs, label):
        x = inputs["waveform"]
        if max_shift > 0:
            shift = rng.uniform([], -max_shift, max_shift + 1, dtype=tf.int32)
            padded = tf.pad(x, [[max_shift, max_shift]])
            x = padded[max_shift - shift:max_shift - shift + length]
        if audio.noise_probability > 0:
            row = rng.uniform([], 0, noise_clips, dtype=tf.int32)
            offset = rng.uniform([], 0, noise_length - length + 1, dtype=tf.int32)
            segment = noise_bank[row, offset:offset + length]
            snr_db = rng.uniform([], audio.noise_snr_db_min, audio.noise_snr_db_max)
            signal_rms = tf.sqrt(tf.reduce_mean(x**2) + 1e-12)
            noise_rms = tf.sqrt(tf.reduce_mean(segment**2) + 1e-12)
            scale = signal_rms / noise_rms * 10.0 ** (-snr_db / 20.0)
            use = tf.cast(rng.uniform([]) < audio.noise_probability, tf.float32)
            x = x + use * scale * segment
        if audio.gain_db_range > 0:
            gain_db = rng.uniform([], -audio.gain_db_range, audio.gain_db_range)
            x = x * 10.0 ** (gain_db / 20.0)
        x = tf.ensure_shape(x, [length])
        if peak_floor is not None:
            x = normalize_peak(x, peak_floor)
        return {**inputs, "waveform": tf.clip_by_value(x, -1.0, 1.0)}, label

    return augment


def speech_variants(config):
    raw = audio_sources.load(config.data.source, config)
    length = audio_sources.clip_samples(config.data.audio)
    floor = config.model.mfcc.peak_floor
    common = dict(training=True, batch_size=config.train.batch_size, map_fn=audio_sources.decoder(length, floor),
                  cache=config.data.cache, shuffle_buffer=config.data.shuffle_buffer, seed=config.seed)
    args = (config.data.audio, raw.noise, length, config.seed, floor)
    return {
        "before": lambda: make_pipeline(raw.train, augment_fn=per_clip_augmenter(*args), **common),
        "after": lambda: make_pipeline(raw.train, batch_augment_fn=audio_sources.batch_augmenter(*args), **common),
        "no_augmentation": lambda: make_pipeline(raw.train, **common),
    }


def recsys_variants(task, config):
    captured = {}
    original = retrieval_module.make_datasets

    def capture(config, splits, augment=None):
        captured["splits"], captured["augment"] = splits, augment
        return original(config, splits, augment)

    module = ranking_module if task.name == "ranking" else retrieval_module
    module.make_datasets = capture
    try:
        task.load_data(config)
    finally:
        module.make_datasets = original
    features, targets = captured["splits"]["train"]
    augment = captured["augment"]

    def before():  # retrieval.make_datasets' training split as it was: per-example slices
        order = np.random.default_rng(config.seed).permutation(len(targets))
        rows = ({k: v[order] for k, v in features.items()}, targets[order])
        return make_pipeline(tf.data.Dataset.from_tensor_slices(rows), training=True,
                             batch_size=config.train.batch_size, batch_augment_fn=augment, cache=config.data.cache,
                             shuffle_buffer=config.data.shuffle_buffer, seed=config.seed, auto_shard="DATA",
                             drop_remainder=len(targets) > config.train.batch_size)

    def after():
        return original(config, {"train": (features, targets)}, augment)["train"]

    return {"before": before, "after": after}


def old_measure(make_dataset, repeats: int) -> float:
    """tools/benchmark.py's pipeline measure before this change: a Python loop per pass."""
    dataset = make_dataset()
    for _ in dataset:  # cold pass
        pass
    seconds, examples = [], 0
    for _ in range(repeats):
        started, examples = time.perf_counter(), 0
        for _, targets in dataset:
            examples += int(targets.shape[0])
        seconds.append(time.perf_counter() - started)
    return examples / statistics.median(seconds)


def main() -> int:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="ranking,retrieval,keyword_spotting")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds per task")
    parser.add_argument("--out", default="", help="also write the results to this JSON file")
    args = parser.parse_args()
    results = {"machine": {"load_average_start": list(os.getloadavg()), "cores": os.cpu_count()}}
    for task_name in [t.strip() for t in args.tasks.split(",") if t.strip()]:
        config = b._config(task_name, b.SETTINGS["quick"][task_name])
        task = get_task(task_name)
        keras.utils.set_random_seed(config.seed)
        variants = speech_variants(config) if task_name == "keyword_spotting" else recsys_variants(task, config)
        data = task.load_data(config)
        model = task.build_model(config, data)
        task.compile_model(model, config, data)
        steps = b._steps_for(data, config.train.batch_size, 10)
        rows = {name: {"warm": [], "cold": [], "old_measure": [], "train": [], "input_wait": []} for name in variants}
        for _ in range(args.repeats):
            for name, make in variants.items():
                rates = b.pipeline_rates(make, 2)
                rows[name]["warm"].append(rates["warm_examples_per_second"])
                rows[name]["cold"].append(rates["cold_examples_per_second"])
                rows[name]["old_measure"].append(old_measure(make, 2))
                fed_data = dataclasses.replace(data, train=make())
                fed = b.train_rates(model, fed_data, config.train.batch_size, steps, rounds=1, epochs=2)
                rows[name]["train"].append(fed["train_examples_per_second"])
                rows[name]["input_wait"].append(b.input_wait(model, fed_data, steps=100, rounds=1)["input_wait_rounds"][0])
        train = statistics.median(v for row in rows.values() for v in row["train"])
        out = {"batch_size": config.train.batch_size, "train_step_examples_per_second": train}
        for name, row in rows.items():
            warm = statistics.median(row["warm"])
            out[name] = {"warm_examples_per_second": warm, "cold_examples_per_second": statistics.median(row["cold"]),
                         "old_measure_examples_per_second": statistics.median(row["old_measure"]),
                         "headroom": warm / train, "old_measure_headroom": statistics.median(row["old_measure"]) / train,
                         "input_wait_fraction": statistics.median(row["input_wait"])}
        out["speedup_warm"] = out["after"]["warm_examples_per_second"] / out["before"]["warm_examples_per_second"]
        out["speedup_old_measure"] = (out["after"]["old_measure_examples_per_second"]
                                      / out["before"]["old_measure_examples_per_second"])
        results[task_name] = out
        print(task_name, json.dumps(out, indent=1), flush=True)
    results["machine"]["load_average_end"] = list(os.getloadavg())
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(results, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
