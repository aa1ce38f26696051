"""Would int16 activations carry a lower mel floor? int8 against 16x8 on the same weights (issue 21).

    PYTHONPATH=. python tools/benchmarking/kws_int16_front_end.py --run RUN_DIR --data data/keywords_hard

The trained keyword model (``RUN_DIR/model.keras``) is converted twice with the same calibration
clips (``--calibration`` peak-normalised training clips): as the bundle's int8 file (int8
activations, int8 I/O, LOG kept in float as in every export), and with TFLite's 16x8 scheme
(int16 activations, int8 weights, float I/O; the peak normalisation's GREATER_EQUAL, SELECT_V2
and DIV have no 16x8 kernel and stay float). TFLM has no int16 REDUCE_MAX, so in the 16x8 file
each op TFLM refuses is moved to float between a DEQUANTIZE and a QUANTIZE, one at a time, until
TFLM runs it. Reported per variant, on every test clip: accuracy and top-1 agreement with Keras
on LiteRT and TFLM, file bytes, TFLM arena bytes, and the ops moved to float. JSON on stdout.

``--pairwise-max`` first rebuilds the model's front end with ``pairwise_max`` (the magnitude's
maximum over directions as elementwise MAXIMUM ops, the same function, so the weights carry over):
then only the peak normalisation's REDUCE_MAX, on the waveform, needs float on TFLM.

The 16x8 file is converted as the ``int16x8`` export mode converts it (``build_converter``), but
without the export's float REDUCE_MAX: the loop above finds which ops TFLM refuses, so this tool
checks the export's list (``kerasuite.export.float_log.FLOAT_ONLY_AT``) rather than assuming it.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

TFLM_REFUSAL = re.compile(r"op (\w+) \(node \d+\) failed")


def scores(path: Path, test_x: np.ndarray, test_y: np.ndarray, reference: np.ndarray, runtime) -> dict:
    predicted = np.asarray(runtime(path).predict({"waveform": test_x})).argmax(1)
    return {"accuracy": float(np.mean(predicted == test_y)), "agreement_with_keras": float(np.mean(predicted == reference))}


def main(argv: list[str] | None = None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser
    from kws_run_inputs import add_run_arguments, check_run_arguments, load_run_inputs, with_front_end

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    add_run_arguments(parser)
    parser.add_argument("--pairwise-max", action="store_true",
                        help="rebuild the front end with the magnitude's maximum as MAXIMUM ops (same weights)")
    args = parser.parse_args(argv)
    run, data = check_run_arguments(parser, args)

    from kerasuite.export.convert_worker import build_converter
    from kerasuite.export.float_log import keep_log_in_float, keep_ops_in_float
    from kerasuite.runtime.interpreter import TFLiteModel
    from kerasuite.runtime.tflm import TFLMError, TFLMModel

    inputs = load_run_inputs(run, data, args.calibration)
    model, test_x, test_y, reference, calibration = (inputs.model, inputs.test_x, inputs.test_y, inputs.reference,
                                                     inputs.calibration)
    report = {"run": str(run), "data": str(data), "test_clips": len(test_y),
              "keras_accuracy": float(np.mean(reference == test_y)), "variants": {}}
    report["pairwise_max"] = args.pairwise_max
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        np.savez(scratch / "rep.npz", input__waveform=calibration)
        source = run / "model.keras"
        if args.pairwise_max:
            source = scratch / "pairwise.keras"
            with_front_end(model, pairwise_max=True).save(source)
        for variant in ("int8", "16x8"):
            converter, _ = build_converter(str(source), "int8" if variant == "int8" else "int16x8",
                                           str(scratch / "rep.npz"), 1, False)
            converted, _ = keep_log_in_float(converter.convert())
            path = scratch / f"{variant}.tflite"
            path.write_bytes(converted)
            row = {"bytes": len(converted), "litert": scores(path, test_x, test_y, reference, TFLiteModel)}
            moved: list[str] = []
            for _ in range(8):  # each round moves one refused op to float
                try:
                    tflm = TFLMModel(path)
                    row["tflm"] = scores(path, test_x, test_y, reference, lambda p, t=tflm: t)
                    row["tflm"]["arena_bytes"] = tflm.arena_bytes()
                    break
                except TFLMError as error:  # TFLM names the op it refuses; anything else ends the loop
                    refused = TFLM_REFUSAL.search(str(error))
                    if not refused or refused.group(1) in moved:
                        row["tflm"] = {"error": str(error).splitlines()[0][:300]}
                        break
                    moved.append(refused.group(1))
                    path.write_bytes(keep_ops_in_float(converted, moved, ("INT16",), b"int16")[0])
            if moved:
                row["ops_moved_to_float_for_tflm"] = moved
                row["tflm_file_bytes"] = path.stat().st_size
            report["variants"][variant] = row
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
