"""Edge latency and size, side by side in one run: Keras ``model(x)`` on one example against
every TFLite file in a bundle (LiteRT, 1 and 2 threads).

    python tools/benchmark_edge.py runs/image_classification-cnn-digits [--runs 200] [--json out.json]

Reports medians (p50) and p90 in milliseconds, file sizes, and ratios to float32, all measured in
this process on this machine, so the ratios are comparable even when the absolute numbers are not.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from kerasuite.io_utils import write_text_atomic


def keras_latency_ms(model, example: dict[str, np.ndarray], runs: int, compiled: bool) -> dict[str, float]:
    """``model(x)`` eagerly (what a notebook does), or traced once with tf.function (the fair
    best case for TensorFlow)."""
    import tensorflow as tf

    inputs = {name: tf.constant(value) for name, value in example.items()}
    call = tf.function(lambda x: model(x, training=False)) if compiled else (lambda x: model(x, training=False))
    for _ in range(5):
        call(inputs)
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        call(inputs)
        timings.append((time.perf_counter() - started) * 1000.0)
    return {"p50": float(np.percentile(timings, 50)), "p90": float(np.percentile(timings, 90))}


def exported_files(bundle: Path) -> dict[str, tuple[Path, str]]:
    """mode -> (its file, its parity verdict), from the bundle's signature.json ``modes`` (what
    ``kerasuite.edge`` and ``benchmark_mediapipe.py`` read): a file that failed parity sits in
    ``failed/`` and is measured there, labelled as failed (a latency table of only the passing
    files hid the failed mode's row)."""
    modes = json.loads((bundle / "signature.json").read_text()).get("modes", {})
    return {mode: (bundle / described["file"], str(described.get("verdict", "unknown")))
            for mode, described in modes.items() if (bundle / described.get("file", "")).is_file()}


def main() -> None:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    from kerasuite.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    import keras

    import kerasuite.models  # noqa: F401
    from kerasuite import config as cfg
    from kerasuite.runtime.interpreter import TFLiteModel
    from kerasuite.training.runner import run_paths

    config = cfg.resolve_saved(args.run_dir / "config.json")
    _, bundle = run_paths(config)
    golden = np.load(bundle / "golden.npz")
    example = {k.split("__", 1)[1]: golden[k][:1] for k in golden.files if k.startswith("input__")}
    model = keras.saving.load_model(args.run_dir / "model.keras", safe_mode=True)

    keras_size = (args.run_dir / "model.keras").stat().st_size
    rows = {
        "keras eager": {"threads": "tf default", "size_bytes": keras_size,
                        "latency_ms": keras_latency_ms(model, example, args.runs, compiled=False)},
        "keras tf.fn": {"threads": "tf default", "size_bytes": keras_size,
                        "latency_ms": keras_latency_ms(model, example, args.runs, compiled=True)},
    }
    for mode, (path, verdict) in exported_files(bundle).items():
        for threads in (1, 2):
            runner = TFLiteModel(path, threads=threads)
            rows[f"{mode}/{threads}t"] = {"threads": threads, "size_bytes": path.stat().st_size, "parity": verdict,
                                          "latency_ms": runner.latency_ms(example, runs=args.runs)}
    float32 = rows.get("float32/1t")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; run: {args.run_dir}")
    print(f"{'model':<14} {'threads':>9} {'size':>10} {'p50 ms':>9} {'p90 ms':>9} {'p50 vs f32':>11} {'size vs f32':>12}"
          f"  parity")
    for name, row in rows.items():
        ratio_latency = row["latency_ms"]["p50"] / float32["latency_ms"]["p50"] if float32 else float("nan")
        ratio_size = row["size_bytes"] / float32["size_bytes"] if float32 else float("nan")
        print(f"{name:<14} {str(row['threads']):>9} {row['size_bytes']:>10,} {row['latency_ms']['p50']:>9.3f} "
              f"{row['latency_ms']['p90']:>9.3f} {ratio_latency:>10.2f}x {ratio_size:>11.2f}x  {row.get('parity', '-')}")
    if args.json:
        write_text_atomic(args.json, json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
