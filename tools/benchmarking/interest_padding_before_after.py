"""Before/after record of InterestPooling's padding fix, on a finished multi-interest run.

    PYTHONPATH=. python tools/benchmarking/interest_padding_before_after.py RUN_DIR

RUN_DIR is a finished ``retrieval`` run of ``history_two_tower`` with ``model.two_tower.interests``
above 1. Its query tower is converted to int8 twice, same weights and the run's own calibration
batches (``kerasuite.export.convert_worker.build_converter``, in this process): with the padding
score as shipped (a margin below the heads' L1 bound) and with the fixed -1e4 used until
2026-12-04. Each file is judged by the run's own parity rule on its held-out users (top-10
overlap with Keras, and the error relative to the embeddings' spread).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

OLD_PADDING_SCORE = -1e4


def old_padding_call(self, inputs):
    """InterestPooling.call as it was: a fixed -1e4 added to padding positions' scores."""
    from keras import ops

    sequence, mask = inputs
    mask = ops.cast(mask, sequence.dtype)
    scores = self._heads(self._hidden(sequence))
    scores = scores + ops.expand_dims((1.0 - mask) * OLD_PADDING_SCORE, -1)
    weights = ops.softmax(scores, axis=1) * ops.expand_dims(mask, -1)
    return ops.matmul(ops.transpose(weights, (0, 2, 1)), sequence)


def main(argv=None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args(argv)
    if not (args.run_dir / "config.json").is_file() or not (args.run_dir / "model.keras").is_file():
        parser.error(f"{args.run_dir}: not a finished run folder (needs config.json and model.keras)")

    import keras
    import numpy as np

    import kerasuite.models  # noqa: F401  custom layers
    from kerasuite import config as cfg
    from kerasuite.export.bundle import predict_keras, representative_arrays, save_arrays
    from kerasuite.export.convert_worker import build_converter
    from kerasuite.export.parity import compare
    from kerasuite.models.layers.interest_pooling import InterestPooling
    from kerasuite.runtime.interpreter import TFLiteModel
    from kerasuite.tasks import get_task

    config = cfg.resolve_saved(args.run_dir / "config.json")
    if config.task != "retrieval" or config.model.two_tower.interests < 2:
        parser.error(f"{args.run_dir}: needs a retrieval run with model.two_tower.interests > 1")
    task = get_task(config.task)
    data = task.load_data(config)
    model = keras.saving.load_model(args.run_dir / "model.keras", safe_mode=True, compile=False)
    heldout = task.heldout(data, config.export.parity.max_examples)
    data = task.with_trained_model(model, data)
    spec = task.output_spec(data, heldout)
    scratch = Path(tempfile.mkdtemp(prefix="interest_padding_"))
    query_path = scratch / "query.keras"
    task.export_model(model, data).save(query_path)
    keras_outputs = predict_keras(keras.saving.load_model(query_path, safe_mode=True, compile=False), heldout.inputs)
    representative = scratch / "representative.npz"
    save_arrays(representative, "input", representative_arrays(task, data, config))

    shipped_call = InterestPooling.call
    result = {"run": str(args.run_dir), "interests": config.model.two_tower.interests,
              "heldout_users": len(keras_outputs)}
    for name, call in (("before_padding_score_1e4", old_padding_call), ("after_bounded_padding", shipped_call)):
        InterestPooling.call = call
        try:
            converter, _ = build_converter(str(query_path), "int8", str(representative), task.export_batch(data), False)
            path = scratch / f"{name}.tflite"
            path.write_bytes(converter.convert())
            float_outputs = predict_keras(converter._kerasuite_model, heldout.inputs)
        finally:
            InterestPooling.call = shipped_call
        checked = compare(spec, keras_outputs, TFLiteModel(path).predict(heldout.inputs), config.export.parity.int8)
        result[name] = {"keras_max_abs_diff_from_shipped": float(np.abs(float_outputs - keras_outputs).max()),
                        "int8_top10_overlap": checked["agreement"], "int8_relative_error": checked["relative_error"],
                        "int8_max_abs_diff": checked["max_abs_diff"]}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
