"""int8 file size against float32, before and after the exporter's size options, in one run.

    PYTHONPATH=. python tools/benchmarking/speech_size_before_after.py RUN_DIR

RUN_DIR is any finished run (``python -m kerasuite.train ...``); the numbers in README come from
the default ds_cnn on the espeak-ng keyword set (``tools/make_keywords.py``). The run's trained
model is converted again, the same way ``kerasuite.train`` exports it (same representative data,
same converter child), in these variants:

- ``before``: the converter's file as it was exported until now (tensor names, empty buffers)
- ``compact``: intermediate tensor names and empty buffers dropped (``export.compact``, default)
- ``compact + per_tensor``: also one int8 weight scale per tensor (``export.int8_weights=per_tensor``)

and every int8 variant is scored on the run's held-out split with the parity harness's own code:
accuracy, top-1 agreement with the Keras model, max |diff|. The compacted files are also checked
to give exactly the uncompacted file's outputs. Sizes come with the breakdown of
``tflite_size_breakdown.py`` (weights, scales, zero points, names, structure).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools" / "benchmarking"))

import numpy as np  # noqa: E402

VARIANTS = {  # name: (modes, convert_modes keyword arguments)
    "before": (("float32", "int8"), {"compact": False}),
    "compact": (("float32", "int8"), {"compact": True}),
    "compact + per_tensor": (("int8",), {"compact": True, "int8_weights": "per_tensor"}),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args(argv)
    from kerasuite.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    from kerasuite import config as cfg
    from kerasuite.errors import UserError
    from kerasuite.export import tflite
    from kerasuite.export.bundle import predict_keras, representative_arrays, save_arrays
    from kerasuite.export.parity import compare
    from kerasuite.export.rerun import load_trusted_model
    from kerasuite.runtime.interpreter import TFLiteModel
    from kerasuite.tasks import get_task
    from tflite_size_breakdown import breakdown

    config_path = args.run_dir / "config.json"
    if not config_path.is_file() or not (args.run_dir / "model.keras").is_file():
        raise SystemExit(f"RUN_DIR {args.run_dir}: not a finished run folder (needs config.json and model.keras)")
    config = cfg.resolve(cfg.load_config_file(config_path))
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
        for name, (modes, options) in VARIANTS.items():
            paths = {mode: scratch / f"{name.replace(' + ', '_')}_{mode}.tflite" for mode in modes}
            tflite.convert_modes(model_path, paths, representative, batch_size=task.export_batch_size,
                                 import_modules=config.export.custom_layer_modules, **options)
            for mode, path in paths.items():
                predicted = TFLiteModel(path).predict(heldout.inputs)
                outputs[(name, mode)] = predicted
                checked = compare(task, data, heldout, keras_outputs, predicted, config.export.parity.int8)
                rows.append({"variant": name, "mode": mode, **breakdown(path),
                             "metric": checked["tflite"][task.primary_metric], "agreement": checked["agreement"],
                             "max_abs_diff": checked["max_abs_diff"]})
    float32 = {row["variant"]: row["file"] for row in rows if row["mode"] == "float32"}
    print(f"run: {args.run_dir}  task: {config.task}  held-out examples: {len(heldout)}  "
          f"Keras {task.primary_metric}: {keras_metric:.4f}")
    print(f"{'variant':<22} {'mode':<8} {'bytes':>8} {'vs f32 before':>13} {'vs f32 same':>11} {'weights':>8} "
          f"{'scales':>7} {'zero pts':>8} {'names':>6} {'structure':>9} {task.primary_metric:>9} {'agreement':>9} "
          f"{'max diff':>9}")
    for row in rows:
        same = float32.get(row["variant"], float32["compact"])  # per-tensor changes only int8
        print(f"{row['variant']:<22} {row['mode']:<8} {row['file']:>8,} {row['file'] / float32['before']:>12.3f}x "
              f"{row['file'] / same:>10.3f}x {row['buffers']:>8,} {row['scales']:>7,} {row['zero_points']:>8,} "
              f"{row['names']:>6,} {row['structure']:>9,} {row['metric']:>9.4f} {row['agreement']:>9.4f} "
              f"{row['max_abs_diff']:>9.2e}")
    for mode in ("float32", "int8"):
        identical = np.array_equal(outputs[("before", mode)], outputs[("compact", mode)])
        print(f"{mode}: compact outputs identical to before on all {len(heldout)} examples: {identical}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
