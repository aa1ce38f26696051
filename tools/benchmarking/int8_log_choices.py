"""The int8 MFCC front end's LOG on TFLM: kept in float vs an int8-friendly formulation.

    python tools/benchmarking/int8_log_choices.py [--knots 16]

TFLM's LOG kernel is float-only, so an int8 file must either keep the LOG in float
(``DEQUANTIZE -> LOG -> QUANTIZE``: what the exporter does, ``kerasuite/export/float_log.py``) or
compute the log with int8 ops. The int8-friendly formulation measured here is a piecewise-linear
log through ``--knots`` log-spaced knots (``log(x) ~ log(b0) + sum_k s_k relu(x - b_k)``: SUB, RELU,
a FULLY_CONNECTED over the knots), swapped into the default front end for this run only (the
layer's ``ops.log`` is replaced through the module, mfcc.py is untouched). Both front ends (the
default MfccConfig, 1 s clips) are converted to int8 and run on TFLM; reported per choice: flash
(file bytes), TFLM arena bytes, and the MFCC error against the float Keras front end (max and
mean |diff| over the coefficient range) on speech-like synthetic clips. Results: JSON on stdout.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
PATCH_ENV = "KERASUITE_PWL_LOG_KNOTS"


class PiecewiseLinearLogOps:
    """Proxies ``keras.ops``; ``log`` becomes an int8-friendly piecewise-linear curve."""

    # The log input spans the default front end's amin floor (0.02 / (mel_cap / 6)) to relu6's top.
    def __init__(self, knots: int, low: float = 0.0375, high: float = 6.0):
        import keras

        self._ops = keras.ops
        self.breaks = np.geomspace(low, high, knots).astype("float32")
        values = np.log(self.breaks)
        slopes = np.diff(values) / np.diff(self.breaks)
        self.increments = np.concatenate([[slopes[0]], np.diff(slopes)]).astype("float32")
        self.offset = float(values[0])

    def __getattr__(self, name):
        return getattr(self._ops, name)

    def log(self, x):
        ops = self._ops
        hinges = ops.relu(ops.expand_dims(x, -1) - self.breaks[:-1])  # [..., knots-1]
        return ops.squeeze(ops.matmul(hinges, self.increments[:, None]), -1) + self.offset


def install_patch_from_env() -> None:
    """Imported by the converter child (``--import``): trace the front end with the PWL log."""
    knots = os.environ.get(PATCH_ENV)
    if knots:
        from kerasuite.models.layers import mfcc

        mfcc.ops = PiecewiseLinearLogOps(int(knots))


def speechlike_clips(count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(16000) / 16000.0
    clips = []
    for level in np.geomspace(0.02, 0.9, count):
        pitch = rng.uniform(90, 250)
        voiced = sum(np.sin(2 * np.pi * pitch * h * t + rng.uniform(0, 6)) / h for h in range(1, 12))
        envelope = np.clip(np.sin(np.pi * np.clip((t - rng.uniform(0.1, 0.3)) / rng.uniform(0.3, 0.6), 0, 1)), 0, 1)
        clip = voiced * envelope + rng.normal(size=t.size) * 0.02
        clips.append(clip / np.abs(clip).max() * level)
    return np.asarray(clips, np.float32)


def measure(knots: int, folder: Path, clips: np.ndarray) -> dict:
    import keras

    from kerasuite.config import MfccConfig
    from kerasuite.export import tflite
    from kerasuite.models.speech import mfcc_layer
    from kerasuite.runtime.tflm import TFLMModel

    waveform = keras.Input((16000,), name="waveform")
    model = keras.Model(waveform, mfcc_layer(MfccConfig(), 16000)(waveform))
    model.save(folder / "front_end.keras")
    np.savez(folder / "rep.npz", input__waveform=clips[0::2])
    evaluation = clips[1::2]
    reference = np.asarray(model.predict({"waveform": evaluation}, verbose=0))
    out = folder / f"front_end_{knots or 'float_log'}.tflite"
    if knots:
        os.environ[PATCH_ENV] = str(knots)
    try:
        size = tflite.convert(folder / "front_end.keras", "int8", out, folder / "rep.npz", batch_size=1,
                              import_modules=("int8_log_choices",))
    finally:
        os.environ.pop(PATCH_ENV, None)
    runner = TFLMModel(out)
    got = runner.predict({"waveform": evaluation}).reshape(reference.shape)
    span = float(reference.max() - reference.min())
    diff = np.abs(got - reference)
    return {"flash_bytes": size, "arena_bytes": runner.arena_bytes(), "ops": runner.ops,
            "max_abs_diff_over_range": float(diff.max() / span), "mean_abs_diff_over_range": float(diff.mean() / span)}


def main() -> int:

    from kerasuite.argparsing import OneLineArgumentParser


    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--knots", type=int, default=16)
    parser.add_argument("--clips", type=int, default=40)
    args = parser.parse_args()
    os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])
    clips = speechlike_clips(args.clips)
    with tempfile.TemporaryDirectory() as scratch:
        results = {"float_log (DEQUANTIZE -> LOG -> QUANTIZE)": measure(0, Path(scratch), clips),
                   f"piecewise-linear int8 log ({args.knots} knots)": measure(args.knots, Path(scratch), clips)}
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
else:
    install_patch_from_env()
