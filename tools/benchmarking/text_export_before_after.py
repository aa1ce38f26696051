"""Before/after record of the two text export fixes, on a finished text run, side by side.

    PYTHONPATH=. python tools/benchmarking/text_export_before_after.py RUN_DIR

RUN_DIR is a finished ``text_classification`` run (``model.keras`` + ``config.json``), e.g. one of
``tools/benchmark_text.py``'s. The held-out split and calibration batches are the run's own
(``task.heldout`` / ``task.representative_inputs``), and every file is converted by the exporter
(``kerasuite.export.tflite.convert``).

- transformer: int8 with the attention mask penalty as shipped (20) against a penalty of 1e9, the
  size of Keras MultiHeadAttention's mask constant (Keras selects -1e9 with ``where``; either way
  the int8 score tensor must span it), same weights. Reports top-1 agreement with Keras.
- lstm: float32 as shipped (cell clip removed) against the same file with the converter's
  ``cell_clip=10`` put back. Reports max |TFLite - Keras|.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def _with_penalty(model_path: Path, penalty: float, out: Path) -> Path:
    import keras

    model = keras.saving.load_model(model_path, safe_mode=True, compile=False)
    text = json.dumps(model.get_config()).replace('"mask_penalty": 20.0', f'"mask_penalty": {penalty}')
    clone = keras.Model.from_config(json.loads(text))
    clone.set_weights(model.get_weights())
    clone.save(out)
    return out


def _with_cell_clip(content: bytes, clip: float) -> bytes:
    from tensorflow.lite.tools import flatbuffer_utils

    from kerasuite.export.fused_lstm_tflite import _lstm_operators

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    for _, operator in _lstm_operators(model):
        operator.builtinOptions.cellClip = clip
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def main(argv=None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args(argv)

    import numpy as np

    import kerasuite.models  # noqa: F401  custom layers
    from kerasuite import config as cfg
    from kerasuite.export.bundle import predict_keras, representative_arrays, save_arrays
    from kerasuite.export.tflite import convert
    from kerasuite.runtime.interpreter import TFLiteModel
    from kerasuite.tasks import get_task

    config = cfg.resolve_saved(args.run_dir / "config.json")
    task = get_task(config.task)
    data = task.load_data(config)
    heldout = task.heldout(data, 5000)
    model_path = args.run_dir / "model.keras"
    import keras

    keras_outputs = predict_keras(keras.saving.load_model(model_path, safe_mode=True, compile=False), heldout.inputs)
    scratch = Path(tempfile.mkdtemp(prefix="text_before_after_"))
    representative = scratch / "representative.npz"
    save_arrays(representative, "input", representative_arrays(task, data, config))

    def run(path: Path) -> np.ndarray:
        return TFLiteModel(path).predict(heldout.inputs)

    result = {"run": str(args.run_dir), "family": config.model.family, "examples": len(keras_outputs)}
    if config.model.family == "transformer":
        for name, penalty in (("before_keras_mask_1e9", 1e9), ("after_penalty_20", 20.0)):
            source = _with_penalty(model_path, penalty, scratch / f"{name}.keras")
            convert(source, "int8", scratch / f"{name}.tflite", representative, batch_size=task.export_batch_size)
            outputs = run(scratch / f"{name}.tflite")
            result[name] = {"int8_top1_agreement": float((outputs.argmax(1) == keras_outputs.argmax(1)).mean()),
                            "int8_max_abs_diff": float(np.abs(outputs - keras_outputs).max())}
    else:
        after = scratch / "after.tflite"
        convert(model_path, "float32", after, representative, batch_size=task.export_batch_size)
        before = scratch / "before.tflite"
        before.write_bytes(_with_cell_clip(after.read_bytes(), 10.0))
        for name, path in (("before_cell_clip_10", before), ("after_no_clip", after)):
            result[name] = {"float32_max_abs_diff": float(np.abs(run(path) - keras_outputs).max())}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
