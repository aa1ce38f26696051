"""Training throughput against ``train.steps_per_execution``, every task side by side in one run.

    PYTHONPATH=. python tools/benchmarking/steps_per_execution.py [--tasks ranking,retrieval] [--values 1,4,16]

Keras runs ``steps_per_execution`` training steps per call into the TF runtime; between calls it
spends Python time (callbacks, logs, progress) that does not shrink with the model. For the
recommenders that overhead is most of ``fit``'s time: ``tools/benchmark.py --sections pipeline``
reports a step timed inside itself (``in_step_ms``, ranking 1.6 ms) against ``fit``'s time per
step (batch_size / train_examples_per_second: ranking 4.2 ms even at 16 steps per call, so more
than the per-call Python remains; not traced further). For every task at ``tools/benchmark.py``'s full settings, this builds
one model per value (same seed), then times whole ``fit`` epochs over the real pipeline (iterator
creation, the last partial batch and all callbacks included, as a user's run pays them),
interleaving values round by round; medians are reported with the ratio to 1.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

import benchmark as b  # noqa: E402


def epoch_seconds(model, dataset, epochs: int) -> list[float]:
    import keras

    class Clock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.started)

    clock = Clock()
    model.fit(dataset, epochs=epochs, verbose=0, callbacks=[clock])
    return clock.seconds


def measure(task_name: str, values: list[int], rounds: int, epochs: int) -> dict:
    import keras

    from kerasuite.tasks import get_task

    task = get_task(task_name)
    models = {}
    for value in values:
        config = b._config(task_name, {**b.SETTINGS["full"][task_name], "train.steps_per_execution": str(value)})
        keras.utils.set_random_seed(config.seed)
        data = task.load_data(config)
        model = task.build_model(config, data)
        task.compile_model(model, config, data)
        epoch_seconds(model, data.train, 1)  # traces; not timed
        models[value] = (model, data)
    seconds: dict[int, list[float]] = {value: [] for value in values}
    for round_index in range(rounds):
        order = values if round_index % 2 == 0 else list(reversed(values))
        for value in order:
            model, data = models[value]
            seconds[value] += epoch_seconds(model, data.train, epochs)
    examples = models[values[0]][1].num_train_examples
    base = statistics.median(seconds[values[0]])
    return {
        "train_examples": examples,
        "rows": {value: {"epoch_seconds": statistics.median(s), "examples_per_second": examples / statistics.median(s),
                         "speedup": base / statistics.median(s)} for value, s in seconds.items()},
    }


def main(argv: list[str] | None = None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(b.TASK_ORDER))
    parser.add_argument("--values", default="1,4,16,64", help="steps_per_execution values; the first is the baseline")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per value and round")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    values = [int(v) for v in args.values.split(",")]
    results = {"load_average_start": list(os.getloadavg())}
    print(f"{'task':<22} " + " ".join(f"{'spe=' + str(v):>16}" for v in values))
    for task_name in [t for t in args.tasks.split(",") if t]:
        result = measure(task_name, values, args.rounds, args.epochs)
        results[task_name] = result
        print(f"{task_name:<22} " + " ".join(
            f"{row['examples_per_second']:>9,.0f} {row['speedup']:>5.2f}x" for row in result["rows"].values()), flush=True)
    results["load_average_end"] = list(os.getloadavg())
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
