"""Before/after record of exporting every mode in one converter subprocess, side by side in one run.

    PYTHONPATH=. python tools/benchmarking/convert_children_before_after.py [--repeats 2] [--modes float32,float16,dynamic,int8]

The model is the default keyword-spotting ds_cnn (untrained: conversion time does not depend on
the weights), calibrated on peak-normalised synthetic tone clips. "before" converts each mode in
its own child (``tflite.convert`` per mode, how the exporter worked), "after" converts all modes in
one child (``tflite.convert_modes``, how it works now). Repeats alternate the two; the report gives
median wall seconds and checks that both produce files of the same size per mode.
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
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--modes", default="float32,float16,dynamic,int8")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]

    from kerasuite.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    from kerasuite.hparams import DsCnnConfig, MfccConfig
    from kerasuite.data.audio import synthetic_tones
    from kerasuite.export import tflite
    from kerasuite.models.speech import build_ds_cnn
    from kerasuite.runtime.audio import normalize_peak

    scratch = Path(tempfile.mkdtemp(prefix="convert-children-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)  # models and .tflite files are scratch
    model_path = scratch / "ds_cnn.keras"
    build_ds_cnn(DsCnnConfig(), MfccConfig(), num_classes=12).save(model_path)
    clips, _ = synthetic_tones(4, 5, 16000, 16000, seed=0)
    waveforms = np.stack([normalize_peak(c / 32768.0, MfccConfig().peak_floor) for c in clips]).astype(np.float32)
    np.savez(scratch / "rep.npz", input__waveform=waveforms)

    def before(folder: Path) -> dict[str, int]:
        return {mode: tflite.convert(model_path, mode, folder / f"{mode}.tflite", scratch / "rep.npz", batch_size=1)
                for mode in modes}

    def after(folder: Path) -> dict[str, int]:
        return tflite.convert_modes(model_path, {mode: folder / f"{mode}.tflite" for mode in modes},
                                    scratch / "rep.npz", batch_size=1)

    seconds: dict[str, list[float]] = {"before": [], "after": []}
    sizes = {}
    for repeat in range(args.repeats):
        for name, run in (("before", before), ("after", after)):
            folder = scratch / f"{name}_{repeat}"
            folder.mkdir()
            started = time.perf_counter()
            sizes[name] = run(folder)
            seconds[name].append(time.perf_counter() - started)
            print(f"{name} (repeat {repeat}): {seconds[name][-1]:.1f} s", flush=True)
    load = os.getloadavg()[0]
    b, a = statistics.median(seconds["before"]), statistics.median(seconds["after"])
    print(f"modes {','.join(modes)}; {os.cpu_count()} cores, load {load:.2f}; medians of {args.repeats}")
    print(f"before (one child per mode): {b:.1f} s; after (one child): {a:.1f} s; after/before {a / b:.2f}x")
    print(f"file sizes equal per mode: {sizes['before'] == sizes['after']} ({sizes['after']})")


if __name__ == "__main__":
    main()
