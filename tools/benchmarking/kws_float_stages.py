"""Which int8 stage of the front end loses a lower mel floor? Stages kept in float, same weights (issue 21).

    PYTHONPATH=. python tools/benchmarking/kws_float_stages.py --run RUN_DIR --data data/keywords_hard

The trained keyword model (``RUN_DIR/model.keras``) is converted to int8 (float I/O, the same
calibration clips for every variant), then again with a growing prefix of the MFCC front end kept
in float through the converter's selective quantization (``QuantizationDebugOptions
(denylisted_nodes=...)``); the rest of the graph stays int8. Prefixes, in graph order:

- ``fft_stage1``: peak normalisation, framing, window and the first DFT matmul;
- ``fft``: also the twiddle multiply and the second DFT matmul, whose output (the magnitude's
  projections) is the first int8 tensor;
- ``magnitude``: also the magnitude and the mel matmuls: the mel tensors before LOG are int8;
- ``log_mel``: everything before the DCT.

Where agreement with Keras jumps, the int8 tensor that was removed is where the loss is made.
Reported per variant, on every test clip: accuracy and top-1 agreement with Keras on LiteRT and
TFLM, file bytes and TFLM arena bytes. JSON on stdout. This is a diagnosis, not an export mode.
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

FRONT_END_OP = re.compile(r"(^|/)mfcc(_\d+)?/")  # the layer named "mfcc", not "mfcc_norm"
STAGES = ("fft_stage1", "fft", "magnitude", "log_mel")
# Elementwise ops between the mel matmuls and the DCT: the floor, the LOG and the two-copy sum.
_AFTER_MEL = {"MAXIMUM", "LOG", "SUB", "ADD", "RESHAPE", "DEQUANTIZE", "QUANTIZE"}


def front_end_ops(ops: list[tuple[str, str]]) -> dict[str, list[int]]:
    """Op indices kept in float per stage, from ``(op type, first output name)`` in graph order.
    The front end's FULLY_CONNECTED ops are, in order: the two DFT stages, one or two mel matmuls
    (two with ``mel_low_gain``) and the DCT, whose output carries the layer after the front end."""
    inside = [i for i, (_, name) in enumerate(ops) if FRONT_END_OP.search(name.split(";")[0])]
    if not inside:
        raise ValueError("no MFCC front end in this graph (no op output named .../mfcc.../...)")
    matmuls = [i for i in inside if ops[i][0] == "FULLY_CONNECTED"]
    if len(matmuls) < 4:
        raise ValueError(f"expected the DFT, mel and DCT matmuls in the front end, found {len(matmuls)}")
    first, stage1, stage2, mels, dct = inside[0], matmuls[0], matmuls[1], matmuls[2:-1], matmuls[-1]
    return {
        "fft_stage1": list(range(first, stage1 + 1)),
        "fft": list(range(first, stage2 + 1)),
        "magnitude": [i for i in range(first, mels[-1] + 1) if i <= mels[0] or ops[i][0] not in _AFTER_MEL],
        "log_mel": list(range(first, dct)),
    }


def main(argv: list[str] | None = None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser
    from kws_run_inputs import add_run_arguments, check_run_arguments, load_run_inputs

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    add_run_arguments(parser)
    args = parser.parse_args(argv)
    run, data = check_run_arguments(parser, args)

    import tensorflow as tf

    from kerasuite.export.convert_worker import build_converter
    from kerasuite.export.float_log import keep_kernel_gaps_in_float
    from kerasuite.runtime.interpreter import TFLiteModel
    from kerasuite.runtime.tflm import TFLMModel

    inputs = load_run_inputs(run, data, args.calibration)
    test_x, test_y, reference, calibration = inputs.test_x, inputs.test_y, inputs.reference, inputs.calibration
    report = {"run": str(run), "data": str(data), "test_clips": len(test_y),
              "keras_accuracy": float(np.mean(reference == test_y)), "variants": {}}

    def calibration_clips():
        for index in range(len(calibration)):
            yield [calibration[index : index + 1]]

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        np.savez(scratch / "rep.npz", input__waveform=calibration)

        def converter():
            return build_converter(str(run / "model.keras"), "int8", str(scratch / "rep.npz"), 1, False,
                                   integer_io=False)[0]

        int8 = converter().convert()
        (scratch / "int8.tflite").write_bytes(int8)
        interpreter = TFLiteModel(scratch / "int8.tflite").interpreter
        ops = [(op["op_name"], interpreter._get_tensor_details(op["outputs"][0], 0)["name"])
               for op in interpreter._get_ops_details()]
        stages = front_end_ops(ops)
        for variant in ("int8", *STAGES):
            if variant == "int8":
                content = int8
            else:
                options = tf.lite.experimental.QuantizationDebugOptions(
                    denylisted_nodes=[ops[i][1] for i in stages[variant]])
                content = tf.lite.experimental.QuantizationDebugger(
                    converter=converter(), debug_dataset=calibration_clips, debug_options=options,
                ).get_nondebug_quantized_model()
            content, _ = keep_kernel_gaps_in_float(content)  # TFLM's LOG takes float only
            path = scratch / f"{variant}.tflite"
            path.write_bytes(content)
            row = {"bytes": len(content)}
            tflm = TFLMModel(path)
            for name, runtime in (("litert", TFLiteModel(path)), ("tflm", tflm)):
                predicted = np.asarray(runtime.predict({"waveform": test_x})).argmax(1)
                row[name] = {"accuracy": float(np.mean(predicted == test_y)),
                             "agreement_with_keras": float(np.mean(predicted == reference))}
            row["tflm"]["arena_bytes"] = tflm.arena_bytes()
            report["variants"][variant if variant == "int8" else f"float_{variant}"] = row
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
