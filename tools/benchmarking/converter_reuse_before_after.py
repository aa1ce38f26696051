"""Before/after record of one converter child for several exports, side by side in one run.

    PYTHONPATH=. python tools/benchmarking/converter_reuse_before_after.py [--exports 6] [--repeats 2] [--modes float32,int8]

A process exports ``--exports`` small user-style models (a dense classifier, each its own seed and
width) one after another, as a sweep, a notebook or the test suite does. "before" gives every
export a child of its own (``converter_process.REQUESTS_PER_CHILD = 0``, how the exporter worked:
TensorFlow imported once per export), "after" keeps one child for all of them (the default).
Repeats alternate the two; the report gives median wall seconds per export and checks that both
write the same bytes for every file.
"""

from __future__ import annotations

import atexit
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402


def main() -> None:
    from kerasuite.argparsing import OneLineArgumentParser, export_modes

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exports", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--modes", default="float32,int8", type=export_modes)
    args = parser.parse_args()
    modes = args.modes
    if args.exports < 1 or args.repeats < 1:
        parser.error("--exports and --repeats: at least 1")

    from kerasuite.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    import keras

    from kerasuite.export import converter_process, tflite

    scratch = Path(tempfile.mkdtemp(prefix="converter-reuse-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)  # models and .tflite files are scratch
    cases = []
    for index in range(args.exports):
        keras.utils.set_random_seed(index)
        features = keras.Input((16,), name="features")
        hidden = keras.layers.Dense(8 + 4 * index, activation="relu")(features)
        model = keras.Model(features, keras.layers.Dense(4, activation="softmax")(hidden))
        model.save(scratch / f"model_{index}.keras")
        values = np.random.default_rng(index).normal(size=(64, 16)).astype("float32")
        np.savez(scratch / f"rep_{index}.npz", input__features=values)
        cases.append((scratch / f"model_{index}.keras", scratch / f"rep_{index}.npz"))
    default_limit = converter_process.REQUESTS_PER_CHILD

    def export_all(folder: Path, requests_per_child: int) -> dict[str, bytes]:
        converter_process.REQUESTS_PER_CHILD = requests_per_child
        converter_process.retire()  # each run starts TensorFlow at least once
        files = {}
        for index, (model, representative) in enumerate(cases):
            outputs = {mode: folder / f"{index}_{mode}.tflite" for mode in modes}
            tflite.convert_modes(model, outputs, representative)
            files.update({path.name: path.read_bytes() for path in outputs.values()})
        return files

    seconds: dict[str, list[float]] = {"before": [], "after": []}
    files = {}
    for repeat in range(args.repeats):
        for name, limit in (("before", 0), ("after", default_limit)):
            folder = scratch / f"{name}_{repeat}"
            folder.mkdir()
            started = time.perf_counter()
            files[name] = export_all(folder, limit)
            seconds[name].append(time.perf_counter() - started)
            print(f"{name} (repeat {repeat}): {seconds[name][-1]:.1f} s for {args.exports} exports", flush=True)
    load = os.getloadavg()[0]
    b, a = statistics.median(seconds["before"]), statistics.median(seconds["after"])
    print(f"{args.exports} exports of {','.join(modes)}; {os.cpu_count()} cores, load {load:.2f}; medians of {args.repeats}")
    print(f"before (a child per export): {b / args.exports:.1f} s per export; after (one child): "
          f"{a / args.exports:.1f} s per export; after/before {a / b:.2f}x")
    print(f"every file byte-identical: {files['before'] == files['after']} ({len(files['after'])} files)")


if __name__ == "__main__":
    main()
