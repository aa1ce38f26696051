"""How much memory a kept converter child gains per conversion: the measurement behind
``converter_process.REQUESTS_PER_CHILD``.

    PYTHONPATH=. python tools/benchmarking/converter_child_memory.py [--requests 48] [--modes float32,int8] [--width 64]

One kept child (never retired during the run) converts a small conv classifier per request,
``--modes`` each, as a sweep that exports many models would: every request its own saved model
(its own seed, and its width growing by 4 filters per request up to ``--width`` + 28, then round
again), so nothing the converter caches per model can be reused. After each request
the child's resident memory (VmRSS) is read from /proc. The report gives the memory after the
first request, the growth per request (least-squares slope over the requests after the first
two, which still load kernels and caches) and what a child would hold after 16 and after
``--requests`` requests at that rate.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402


def resident_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def main() -> None:
    from kerasuite.argparsing import OneLineArgumentParser, export_modes

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=48)
    parser.add_argument("--modes", default="float32,int8", type=export_modes)
    parser.add_argument("--width", type=int, default=64, help="filters of the model's conv layers")
    args = parser.parse_args()
    modes = args.modes
    if args.requests < 4 or args.width < 1:
        parser.error("--requests: at least 4 (the slope skips the first two); --width: at least 1")
    if not Path("/proc/self/status").is_file():
        parser.error("this tool reads /proc/PID/status (Linux)")

    from kerasuite.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    import keras

    from kerasuite.export import converter_process, tflite

    scratch = Path(tempfile.mkdtemp(prefix="converter-memory-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    values = np.random.default_rng(0).uniform(size=(64, 32, 32, 3)).astype("float32")
    np.savez(scratch / "representative.npz", input__image=values)

    def save_model(index: int) -> tuple[Path, int]:
        keras.utils.set_random_seed(index)
        width = args.width + 4 * (index % 8)
        image = keras.Input((32, 32, 3), name="image")
        x = keras.layers.Conv2D(width, 3, activation="relu")(image)
        x = keras.layers.Conv2D(width, 3, strides=2, activation="relu")(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        model = keras.Model(image, keras.layers.Dense(10, activation="softmax")(x))
        path = scratch / f"model_{index}.keras"
        model.save(path)
        keras.backend.clear_session()
        return path, model.count_params()

    converter_process.REQUESTS_PER_CHILD = args.requests + 1  # one child for the whole run
    converter_process.retire()
    outputs = {mode: scratch / f"model_{mode}.tflite" for mode in modes}
    resident, pid = [], None
    parameters = []
    for index in range(args.requests):
        path, count = save_model(index)
        parameters.append(count)
        tflite.convert_modes(path, outputs, scratch / "representative.npz")
        path.unlink()
        child = converter_process._child
        if child is None or (pid is not None and child.process.pid != pid):
            raise SystemExit("the kept child was replaced during the run; the figures would mix two processes")
        pid = child.process.pid
        resident.append(resident_mib(pid))
        print(f"request {index + 1}: child {resident[-1]:.1f} MiB", flush=True)
    converter_process.retire()
    requests = np.arange(3, args.requests + 1)
    slope = float(np.polyfit(requests, resident[2:], 1)[0])
    print(f"{args.requests} requests of {','.join(modes)} (conv classifiers of {min(parameters):,}-{max(parameters):,} "
          f"parameters) "
          f"in one child; {os.cpu_count()} cores")
    print(f"after request 1: {resident[0]:.0f} MiB; after request {args.requests}: {resident[-1]:.0f} MiB; "
          f"range over all requests {min(resident):.0f}-{max(resident):.0f} MiB; "
          f"growth {slope:+.2f} MiB per request (slope over requests 3-{args.requests})")
    print(f"at that rate: {16 * slope:+.0f} MiB over 16 requests (the retirement bound), "
          f"{args.requests * slope:+.0f} MiB over {args.requests}")


if __name__ == "__main__":
    main()
