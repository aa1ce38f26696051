"""int8 parity of a trained keyword model with and without ``mel_low_gain``, same weights, both runtimes.

    PYTHONPATH=. python tools/benchmarking/kws_low_gain_before_after.py --run RUN_DIR --data data/keywords

The trained model's front end is rebuilt with ``model.mfcc.mel_low_gain`` 1 (one linear int8 mel
tensor before LOG) and 16 (small values' log from a 16x finer copy); the float function is the
same, so the weights carry over and Keras' outputs are identical. Each variant is converted to
int8 (the same calibration clips: ``--calibration`` peak-normalised training clips) and run on
every test clip in LiteRT and in TFLM. Reported per variant: accuracy, top-1 agreement with
Keras per runtime and between the runtimes, flash. Output: JSON on stdout.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def gains(text: str) -> list[float]:
    """``--gains``: comma-separated mel_low_gain values, each at least 1."""
    import argparse

    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"comma-separated numbers, got {text!r}") from None
    if not values or any(value < 1 for value in values):
        raise argparse.ArgumentTypeError(f"each gain must be at least 1, got {text!r}")
    return values


def main(argv: list[str] | None = None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser
    from kws_run_inputs import add_run_arguments, check_run_arguments, load_run_inputs, with_front_end

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    add_run_arguments(parser)
    parser.add_argument("--gains", type=gains, default="1,16", help="mel_low_gain values to compare")
    args = parser.parse_args(argv)
    run, data = check_run_arguments(parser, args)

    from kerasuite.export import tflite
    from kerasuite.runtime.interpreter import TFLiteModel
    from kerasuite.runtime.tflm import TFLMModel

    inputs = load_run_inputs(run, data, args.calibration)
    model, test_x, test_y, keras_out = inputs.model, inputs.test_x, inputs.test_y, inputs.keras_scores
    report = {"run": args.run, "data": args.data, "test_clips": int(len(test_y)),
              "keras_accuracy": float(np.mean(inputs.reference == test_y)), "variants": {}}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        np.savez(scratch / "rep.npz", input__waveform=inputs.calibration)
        for gain in args.gains:
            variant = with_front_end(model, mel_low_gain=gain)
            variant.save(scratch / f"gain{gain:g}.keras")
            out = scratch / f"gain{gain:g}.tflite"
            size = tflite.convert(scratch / f"gain{gain:g}.keras", "int8", out, scratch / "rep.npz", batch_size=1)
            litert = TFLiteModel(out).predict({"waveform": test_x})
            tflm = TFLMModel(out).predict({"waveform": test_x})
            report["variants"][f"mel_low_gain={gain:g}"] = {
                "flash_bytes": size,
                "litert_accuracy": float(np.mean(litert.argmax(1) == test_y)),
                "tflm_accuracy": float(np.mean(tflm.argmax(1) == test_y)),
                "litert_agreement_with_keras": float(np.mean(litert.argmax(1) == keras_out.argmax(1))),
                "tflm_agreement_with_keras": float(np.mean(tflm.argmax(1) == keras_out.argmax(1))),
                "litert_tflm_agreement": float(np.mean(litert.argmax(1) == tflm.argmax(1))),
                "max_abs_diff_tflm_vs_keras": float(np.abs(tflm - keras_out).max()),
            }
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
