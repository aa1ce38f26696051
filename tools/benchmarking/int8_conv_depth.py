"""Where int8 convolution beats float32 on this CPU: one Conv2D layer at a time, float32 vs int8.

    PYTHONPATH=. python tools/benchmarking/int8_conv_depth.py [--runs 200] [--repeats 5]

The edge target "int8 at most 0.8x float32 latency for conv models" was not met by the 96x96x3
conv model (int8 1.00x). This script explains why, layer by layer: single 3x3 Conv2D+ReLU layers
with the same output map (``--size`` x ``--size`` x 32 filters) and input channels 1 ... 512, so the
work per output value (the reduction depth K = 9 x input channels) grows while the number of
outputs stays fixed, plus the three conv shapes that dominate the 96x96 model. Each layer is
exported with the exporter's own converter child (``kerasuite.export.tflite.convert_modes``, float32
and int8 with integer I/O) and timed with the runtime runner (LiteRT, XNNPACK as applied by
default, 1 thread, batch 1); float32 and int8 alternate over repeats and medians are reported.

Reported per layer: p50 ms, the int8/float32 ratio, and nanoseconds per output value. A fixed
cost per output value in int8 (the requantisation and the int8 kernel's per-output reduction),
independent of K, is what makes shallow, high-resolution layers slower in int8; int8 wins only
where K is large enough to amortise it.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402

# (label, map size, input channels, filters): a depth sweep at one output shape, then the 96x96
# model's own layers (block0 conv0/conv1, block1 conv1, block2 conv1 in tools/benchmark.py).
def layer_shapes(size: int) -> list[tuple[str, int, int, int]]:
    sweep = [(f"sweep cin={c}", size, c, 32) for c in (1, 4, 16, 64, 256, 512)]
    model = [("96x96 block0 conv0", 96, 3, 32), ("96x96 block0 conv1", 96, 32, 32),
             ("96x96 block1 conv1", 48, 64, 64), ("96x96 block2 conv1", 24, 128, 128)]
    return sweep + model


def export_layer(work: Path, size: int, channels: int, filters: int) -> dict[str, Path]:
    import keras

    from kerasuite.export.tflite import convert_modes

    image = keras.Input((size, size, channels), name="image")
    output = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(image)
    model = keras.Model({"image": image}, output)
    model_path = work / "layer.keras"
    model.save(model_path)
    rng = np.random.default_rng(0)
    # Weights are untrained; latency does not depend on their values. Calibration on U(0, 1).
    np.savez(work / "representative.npz", input__image=rng.random((16, size, size, channels), dtype=np.float32))
    paths = {mode: work / f"{mode}.tflite" for mode in ("float32", "int8")}
    convert_modes(model_path, paths, work / "representative.npz", batch_size=1)
    return paths


def time_layer(paths: dict[str, Path], runs: int, repeats: int) -> dict[str, float]:
    from kerasuite.runtime.interpreter import TFLiteModel

    runners = {mode: TFLiteModel(path, threads=1) for mode, path in paths.items()}
    shape = runners["float32"].inputs[0]["shape"]
    example = {"image": np.random.default_rng(1).random((1, *shape[1:]), dtype=np.float32)}
    samples: dict[str, list[float]] = {mode: [] for mode in runners}
    for _ in range(repeats):
        for mode, runner in runners.items():
            samples[mode].append(runner.latency_ms(example, runs=runs)["p50"])
    return {mode: statistics.median(values) for mode, values in samples.items()}


def main(argv: list[str] | None = None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="invokes per timing")
    parser.add_argument("--repeats", type=int, default=5, help="alternating float32/int8 timings per layer")
    parser.add_argument("--size", type=int, default=48, help="output map side of the depth sweep")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)

    rows = []
    print(f"{'layer':<20} {'K':>5} {'outputs':>8} {'f32 ms':>8} {'int8 ms':>8} {'int8/f32':>8} "
          f"{'f32 ns/out':>10} {'int8 ns/out':>11}")
    for label, size, channels, filters in layer_shapes(args.size):
        with tempfile.TemporaryDirectory(prefix="int8-depth-") as scratch:
            latency = time_layer(export_layer(Path(scratch), size, channels, filters), args.runs, args.repeats)
        outputs = size * size * filters
        row = {"layer": label, "k": 9 * channels, "outputs": outputs,
               "float32_ms": latency["float32"], "int8_ms": latency["int8"],
               "ratio": latency["int8"] / latency["float32"]}
        rows.append(row)
        print(f"{label:<20} {row['k']:>5} {outputs:>8} {row['float32_ms']:>8.3f} {row['int8_ms']:>8.3f} "
              f"{row['ratio']:>8.2f} {1e6 * row['float32_ms'] / outputs:>10.2f} "
              f"{1e6 * row['int8_ms'] / outputs:>11.2f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
