"""int8 file size against float32, before and after the exporter's size options, in one run.

    PYTHONPATH=. python tools/benchmarking/speech_size_before_after.py RUN_DIR

RUN_DIR is any finished run (``python -m kerasuite.train ...``); the numbers in README come from
the default ds_cnn on the espeak-ng keyword set (``tools/make_keywords.py``). The run's trained
model is converted again, the same way ``kerasuite.train`` exports it (same representative data,
same converter settings, ``convert_worker.convert`` in this process), in these variants:

- ``before``: the file as it was exported until now: the converter's tensor names and empty
  buffers, and the MFCC front end's matmuls traced as Keras' N-D ``matmul`` (``tf.tensordot``,
  whose reshape targets are computed at run time)
- ``compact``: intermediate tensor names and empty buffers dropped (``export.compact``)
- ``compact + static matmul``: also the front end's matmuls between constant-shape reshapes
  (``mfcc.matmul_last``; same Keras outputs): what the exporter writes by default now
- ``... + per_tensor``: also one int8 weight scale per tensor (``export.int8_weights=per_tensor``)

and every variant is scored on the run's held-out split with the parity harness's own code:
accuracy, top-1 agreement with the Keras model, max |diff|; each variant's outputs are compared
with the previous one's. Sizes come with the breakdown of ``tflite_size_breakdown.py`` (weights,
scales, zero points, names, structure). ``--layers`` adds the quantization debugger's error per
conv layer (``kerasuite.export.tflite.diagnose_int8``: RMS error of the layer's int8 output in
output quantization steps, 0.29 is ideal rounding) with per-channel and per-tensor weights, to
show whether one scale per depthwise kernel costs precision there.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools" / "benchmarking"))

import numpy as np  # noqa: E402

VARIANTS = {  # name: (modes, tensordot front end, convert keyword arguments)
    "before": (("float32", "int8"), True, {"compact": False}),
    "compact": (("float32", "int8"), True, {"compact": True}),
    "compact + static matmul": (("float32", "int8"), False, {"compact": True}),
    "... + per_tensor": (("int8",), False, {"compact": True, "int8_weights": "per_tensor"}),
}


@contextmanager
def tensordot_front_end(enabled: bool):
    """The MFCC front end's matmuls as they were traced before ``matmul_last``."""
    from keras import ops

    from kerasuite.models.layers import mfcc

    current = mfcc.matmul_last
    if enabled:
        mfcc.matmul_last = ops.matmul
    try:
        yield
    finally:
        mfcc.matmul_last = current


def main(argv=None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--layers", action="store_true", help="per-layer int8 error, per channel vs per tensor")
    args = parser.parse_args(argv)
    from kerasuite.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    from kerasuite import config as cfg
    from kerasuite.errors import UserError
    from kerasuite.export.bundle import predict_keras, representative_arrays, save_arrays
    from kerasuite.export.parity import compare
    from kerasuite.export.convert_worker import convert, diagnose_int8
    from kerasuite.export.tflite import keras_layer_name
    from kerasuite.export.rerun import load_trusted_model
    from kerasuite.runtime.interpreter import TFLiteModel
    from kerasuite.tasks import get_task
    from tflite_size_breakdown import breakdown

    config_path = args.run_dir / "config.json"
    if not config_path.is_file() or not (args.run_dir / "model.keras").is_file():
        raise SystemExit(f"RUN_DIR {args.run_dir}: not a finished run folder (needs config.json and model.keras)")
    config = cfg.resolve_saved(config_path)
    task = get_task(config.task)
    try:
        data = task.load_data(config)
    except UserError as error:
        raise SystemExit(f"RUN_DIR {args.run_dir}: its data source is not readable here: {error}")
    model = task.export_model(load_trusted_model(args.run_dir / "model.keras"), data)
    heldout = task.heldout(data, config.export.parity.max_examples)
    keras_outputs = predict_keras(model, heldout.inputs)
    keras_metric = task.score(keras_outputs, heldout, data)[task.primary_metric]

    rows, outputs = [], {}
    with tempfile.TemporaryDirectory(prefix="size-before-after-") as scratch:
        scratch = Path(scratch)
        model_path = scratch / "export_model.keras"
        model.save(model_path)
        representative = scratch / "representative.npz"
        save_arrays(representative, "input", representative_arrays(task, data, config))
        for name, (modes, tensordot, options) in VARIANTS.items():
            for mode in modes:
                path = scratch / f"{len(rows)}_{mode}.tflite"
                with tensordot_front_end(tensordot):
                    path.write_bytes(convert(str(model_path), mode, str(representative), task.export_batch_size,
                                             False, **options))
                predicted = TFLiteModel(path).predict(heldout.inputs)
                outputs[(name, mode)] = predicted
                checked = compare(task.output_spec(data, heldout), keras_outputs, predicted, config.export.parity.int8)
                rows.append({"variant": name, "mode": mode, **breakdown(path),
                             "metric": checked["tflite"][task.primary_metric], "agreement": checked["agreement"],
                             "max_abs_diff": checked["max_abs_diff"]})
        layers = {}
        if args.layers:
            for weights in ("per_channel", "per_tensor"):
                found = diagnose_int8(str(model_path), str(representative), task.export_batch_size, weights)
                layers[weights] = {keras_layer_name(layer["tensor"]): layer for layer in found
                                   if layer["op"] in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")}
    float32 = {row["variant"]: row["file"] for row in rows if row["mode"] == "float32"}
    print(f"run: {args.run_dir}  task: {config.task}  held-out examples: {len(heldout)}  "
          f"Keras {task.primary_metric}: {keras_metric:.4f}")
    print(f"{'variant':<24} {'mode':<8} {'bytes':>8} {'vs f32 before':>13} {'vs f32 same':>11} {'tensors':>7} "
          f"{'weights':>8} {'scales':>7} {'zero pts':>8} {'names':>6} {'structure':>9} {task.primary_metric:>9} "
          f"{'agreement':>9} {'max diff':>9}")
    for row in rows:
        same = float32.get(row["variant"], float32["compact + static matmul"])  # per-tensor changes only int8
        print(f"{row['variant']:<24} {row['mode']:<8} {row['file']:>8,} {row['file'] / float32['before']:>12.3f}x "
              f"{row['file'] / same:>10.3f}x {row['tensors']:>7} {row['buffers']:>8,} {row['scales']:>7,} "
              f"{row['zero_points']:>8,} {row['names']:>6,} {row['structure']:>9,} {row['metric']:>9.4f} "
              f"{row['agreement']:>9.4f} {row['max_abs_diff']:>9.2e}")
    names = list(VARIANTS)
    for previous, name in zip(names, names[1:]):
        for mode in VARIANTS[name][0]:
            a, b = outputs[(previous, mode)], outputs[(name, mode)]
            print(f"{name} vs {previous}, {mode}: outputs identical on all {len(heldout)} examples: "
                  f"{np.array_equal(a, b)} (max |diff| {np.abs(a - b).max():.2e})")
    if layers:
        print("int8 output error per layer, RMS in output quantization steps (0.29 = ideal rounding):")
        print(f"{'layer':<28} {'op':<18} {'per_channel':>11} {'per_tensor':>10}")
        for name, layer in layers["per_channel"].items():
            other = layers["per_tensor"].get(name, {}).get("rmse_over_scale")
            print(f"{name:<28} {layer['op']:<18} {layer['rmse_over_scale']:>11.3f} "
                  f"{other if other is None else format(other, '.3f'):>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
