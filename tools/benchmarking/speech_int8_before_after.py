"""Before/after record of the keyword-spotting int8 latency fix, side by side in one process.

    PYTHONPATH=. python tools/benchmarking/speech_int8_before_after.py [--runs 200] [--repeats 5]

The default ds_cnn (MFCC front end inside) is exported to float32 and int8 twice with the same
converter the export uses (``convert_worker.build_converter``): "before" traces the front end
with the old peak normalisation (``abs`` + ``waveform / peak``), "after" with the current one
(``max(relu(x), relu(-x))`` + one reciprocal and a MUL). Both graphs compute the same function in float.
Weights are untrained (latency does not depend on them); calibration uses peak-normalised
synthetic tone clips, as the training pipeline feeds normalised clips.

Reported: p50/p90 of one ``invoke`` (batch 1, 1 and 2 threads, XNNPACK as LiteRT applies it by
default), medians over interleaved repeats; the front end alone (waveform -> MFCC) and the
network alone, to show where the time goes; and the int8 front end's error against Keras on
normalised clips (the documented device flow) and on raw clips of peak 0.02-0.9.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import statistics
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402


def old_normalize_peak(waveform, peak_floor):
    """The peak normalisation as it was before the fix (int8 DIV and ABS over every sample)."""
    from keras import ops

    peak = ops.max(ops.abs(waveform), axis=-1, keepdims=True)
    return waveform / ops.where(peak >= peak_floor, peak, 1.0)


@contextmanager
def front_end_variant(name: str):
    from kerasuite.models.layers import mfcc

    current = mfcc.normalize_peak
    if name == "before":
        mfcc.normalize_peak = old_normalize_peak
    try:
        yield
    finally:
        mfcc.normalize_peak = current


def sub_models(model):
    """(whole model, front end waveform -> MFCC, network MFCC map -> probabilities)."""
    import keras

    front = keras.Model(model.inputs, model.get_layer("mfcc").output, name="front_end")
    map_layer = model.get_layer("mfcc_map")
    network_input = keras.Input(shape=map_layer.output.shape[1:], name="mfcc_map_input")
    x, started = network_input, False
    for layer in model.layers:
        started = started or layer.name == "mfcc_norm"
        if started:
            x = layer(x)
    return {"whole": model, "front_end": front, "network": keras.Model(network_input, x, name="network")}


def convert(model, mode: str, calibration: np.ndarray, scratch: Path) -> Path:
    from kerasuite.export.convert_worker import build_converter

    stem = scratch / f"{model.name}_{mode}"
    model.save(f"{stem}.keras")
    np.savez(f"{stem}_rep.npz", **{f"input__{model.inputs[0].name}": calibration})
    converter, _ = build_converter(f"{stem}.keras", mode, f"{stem}_rep.npz", 1, False)
    path = Path(f"{stem}.tflite")
    path.write_bytes(converter.convert())
    return path


def main() -> None:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="invokes per timing")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repeats (median)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from kerasuite.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    import keras

    from kerasuite.hparams import DsCnnConfig, MfccConfig
    from kerasuite.data.audio import synthetic_tones
    from kerasuite.models.speech import build_ds_cnn
    from kerasuite.runtime import audio as device_audio
    from kerasuite.runtime.interpreter import TFLiteModel

    mfcc_cfg = MfccConfig()
    clips, _ = synthetic_tones(4, 10, 16000, 16000, seed=0)
    raw = clips.astype(np.float32) / 32768.0 * np.geomspace(0.02, 0.9, len(clips))[:, None].astype(np.float32)
    normalised = np.stack([device_audio.normalize_peak(c, mfcc_cfg.peak_floor) for c in raw])
    calibration, evaluation = normalised[0::2], normalised[1::2]

    scratch = Path(tempfile.mkdtemp(prefix="speech-int8-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)  # models and .tflite files are scratch
    runners, sizes, errors = {}, {}, {}
    for variant in ("before", "after"):
        folder = scratch / variant
        folder.mkdir()
        with front_end_variant(variant):
            keras.utils.set_random_seed(0)
            parts = sub_models(build_ds_cnn(DsCnnConfig(), mfcc_cfg, num_classes=12))
            features = parts["whole"].get_layer("mfcc_map").output
            map_model = keras.Model(parts["whole"].inputs, features)
            for part, model in parts.items():
                data = map_model.predict(calibration, verbose=0) if part == "network" else calibration
                for mode in ("float32", "int8"):
                    path = convert(model, mode, data, folder)
                    sizes[(variant, part, mode)] = path.stat().st_size
                    for threads in (1, 2):
                        runners[(variant, part, mode, threads)] = TFLiteModel(path, threads=threads)
            reference = np.asarray(parts["front_end"].predict(evaluation, verbose=0))
            raw_reference = np.asarray(parts["front_end"].predict(raw[1::2], verbose=0))
            int8 = runners[(variant, "front_end", "int8", 1)]
            scale, zero_point = int8.inputs[0]["quantization"]  # must cover [-1, 1], not just the peak's [0, 1]
            print(f"{variant}: int8 waveform input covers [{(-128 - zero_point) * scale:.3f}, {(127 - zero_point) * scale:.3f}]")
            for name, inputs, ref in (("normalised", evaluation, reference), ("raw", raw[1::2], raw_reference)):
                err = np.abs(int8.predict({"waveform": inputs}) - ref) / (ref.max() - ref.min())
                errors[(variant, name)] = {"mean": float(err.mean()), "p95": float(np.percentile(err, 95))}

    samples = {key: [] for key in runners}
    for _ in range(args.repeats):
        for key, runner in runners.items():
            name = runner.input_names[0]
            example = {name: (evaluation[:1] if key[1] != "network" else
                              np.zeros([1, *runner.describe()["inputs"][0]["shape"][1:]], np.float32))}
            samples[key].append(runner.latency_ms(example, runs=args.runs))
    latency = {key: {q: statistics.median(s[q] for s in rows) for q in ("p50", "p90")} for key, rows in samples.items()}

    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; runs {args.runs} x repeats {args.repeats}")
    print(f"{'variant':<7} {'part':<10} {'mode':<8} {'size':>8} {'p50 1t':>8} {'p90 1t':>8} {'p50 2t':>8} {'int8/f32 1t':>12}")
    for variant in ("before", "after"):
        for part in ("whole", "front_end", "network"):
            for mode in ("float32", "int8"):
                one, two = latency[(variant, part, mode, 1)], latency[(variant, part, mode, 2)]
                ratio = one["p50"] / latency[(variant, part, "float32", 1)]["p50"]
                print(f"{variant:<7} {part:<10} {mode:<8} {sizes[(variant, part, mode)]:>8,} {one['p50']:>8.3f} "
                      f"{one['p90']:>8.3f} {two['p50']:>8.3f} {ratio:>11.2f}x")
    whole = {v: latency[(v, "whole", "int8", 1)]["p50"] for v in ("before", "after")}
    print(f"whole int8 p50, after vs before: {whole['after'] / whole['before']:.2f}x")
    for key, value in errors.items():
        print(f"int8 front end error vs Keras ({key[0]}, {key[1]} clips): mean {value['mean']:.2%}, "
              f"p95 {value['p95']:.2%} of the coefficient range")
    if args.json:
        args.json.write_text(json.dumps({
            "latency_ms": {"/".join(map(str, k)): v for k, v in latency.items()},
            "size_bytes": {"/".join(k): v for k, v in sizes.items()},
            "front_end_int8_error": {"/".join(k): v for k, v in errors.items()},
        }, indent=1))


if __name__ == "__main__":
    main()
