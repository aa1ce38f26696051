"""Where the int8 keyword-spotting model departs from Keras, stage by stage, on real test clips.

    PYTHONPATH=. python tools/benchmarking/speech_int8_layers.py --run RUN_DIR --data data/keywords_hard

The export's own diagnosis (QuantizationDebugger, ``rmse_over_scale``) measures each op alone
against float on the same dequantized input, in that op's own quantization steps. That can name
an op whose steps are tiny (the peak-normalisation DIV: its output is 1.0 for every calibration
clip, so one step is 0.4% of gain) instead of the one that costs accuracy. This script measures
the error that *accumulates*: it runs the int8 .tflite with all tensors preserved and compares
the dequantized tensor after each front-end stage (log-mel, MFCC, normalised MFCC map) and the
output with the Keras model on the same peak-normalised test clips, as the relative RMS error
(RMS of int8 - float over the float tensor's standard deviation), overall and per MFCC
coefficient, on clean and noisy test clips separately when the file names say (make_keywords
writes no marker, so the split is by the clip's estimated SNR).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def load_test(folder: Path, labels: list[str], rate: int, length: int, peak_floor, limit: int):
    from kerasuite.runtime.audio import load_clip, normalize_peak

    clips, targets = [], []
    for index, label in enumerate(labels):
        for path in sorted((folder / "test" / label).glob("*.wav"))[:limit]:
            clips.append(normalize_peak(load_clip(path, rate, length), peak_floor))
            targets.append(index)
    return np.stack(clips).astype(np.float32), np.asarray(targets)


def keras_stages(model, clips: np.ndarray) -> dict[str, np.ndarray]:
    import keras

    front = model.get_layer("mfcc")
    probe = keras.Model(model.inputs, [model.get_layer("mfcc").output, model.get_layer("mfcc_norm").output, model.outputs[0]])
    mfcc, norm, probabilities = probe.predict({"waveform": clips}, batch_size=64, verbose=0)
    log_mel = np.concatenate([np.asarray(front.log_mel(clips[i:i + 64])) for i in range(0, len(clips), 64)])
    return {"log_mel": log_mel, "mfcc": mfcc, "mfcc_norm": norm.reshape(mfcc.shape), "probabilities": probabilities}


def tflite_tensors(path: Path, clips: np.ndarray, shapes: dict[str, tuple]) -> dict[str, dict[str, np.ndarray]]:
    """Every float-valued (dequantized) intermediate whose shape matches a stage, per tensor name."""
    from kerasuite.runtime.interpreter import load_interpreter_class, quantize

    Interpreter = load_interpreter_class()
    interpreter = Interpreter(model_path=str(path), experimental_preserve_all_tensors=True)
    interpreter.allocate_tensors()
    detail_in = interpreter.get_input_details()[0]
    details = interpreter.get_tensor_details()
    wanted = {}
    for d in details:
        for stage, shape in shapes.items():
            if tuple(d["shape"][1:]) == shape or (stage == "mfcc_norm" and tuple(d["shape"][1:]) == shape + (1,)):
                wanted.setdefault(stage, []).append(d)
    # Tensor names repeat in a TFLite graph: key by name and index.
    key = lambda d: f"{d['name']}#{d['index']}"
    out: dict[str, dict[str, list]] = {s: {key(d): [] for d in ds} for s, ds in wanted.items()}
    for clip in clips:
        interpreter.set_tensor(detail_in["index"], quantize(clip[None], detail_in))
        interpreter.invoke()
        for stage, ds in wanted.items():
            for d in ds:
                value = interpreter.get_tensor(d["index"]).astype(np.float32)
                scale, zero = d["quantization"]
                if scale:
                    value = (value - zero) * scale
                out[stage][key(d)].append(value.reshape(shapes[stage]))
    return {s: {n: np.stack(v) for n, v in named.items()} for s, named in out.items()}, {
        key(d): d["quantization"][0] for d in details}


def main(argv=None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a keyword_spotting run folder (model.keras, bundle/)")
    parser.add_argument("--data", required=True, help="the make_keywords.py folder the run used")
    parser.add_argument("--per-class", type=int, default=12, help="test clips per class")
    parser.add_argument("--out", default="", help="optional JSON file for the numbers")
    args = parser.parse_args(argv)

    run = Path(args.run)
    for needed in ("model.keras", "bundle/signature.json", "bundle/labels.txt", "bundle/model_int8.tflite"):
        if not (run / needed).is_file():
            parser.error(f"--run {run}: no {needed} there (a keyword_spotting run folder with its bundle)")
    if args.per_class < 1:
        parser.error(f"--per-class {args.per_class}: needs at least one clip")

    import keras

    import kerasuite.models  # noqa: F401  (registers the custom layers)

    signature = json.loads((run / "bundle" / "signature.json").read_text())
    pre = signature["preprocessing"]
    labels = (run / "bundle" / "labels.txt").read_text().split()
    clips, targets = load_test(Path(args.data), labels, pre["sample_rate"], pre["samples"], pre["peak_floor"], args.per_class)
    model = keras.saving.load_model(run / "model.keras", safe_mode=True)
    float_stages = keras_stages(model, clips)
    shapes = {k: v.shape[1:] for k, v in float_stages.items()}
    int8_stages, scales = tflite_tensors(run / "bundle" / "model_int8.tflite", clips, shapes)
    report = {}
    for stage, reference in float_stages.items():
        candidates = int8_stages.get(stage, {})
        if not candidates:
            report[stage] = {"error": "no tensor of this shape in the int8 graph"}
            continue
        if stage == "log_mel":
            # The int8 graph carries the log-mel in natural-log units of its own mel unit; the
            # conversion to dB is folded into the DCT matmul after it, so no tensor holds dB.
            front = model.get_layer("mfcc")
            offset = math.log(front._mel_unit) + front.db_offset * math.log(10.0) / 10.0
            reference = reference * (math.log(10.0) / 10.0) - offset
        errors = {name: float(np.sqrt(np.mean((value - reference) ** 2)) / (reference.std() + 1e-12))
                  for name, value in candidates.items()}
        name = min(errors, key=errors.get)
        value = candidates[name]
        row = {"tensor": name, "relative_rms_error": errors[name], "scale": float(scales.get(name, 0.0)),
               "float_range": [float(reference.min()), float(reference.max())]}
        if stage in ("mfcc", "mfcc_norm"):
            per = np.sqrt(np.mean((value - reference) ** 2, axis=(0, 1))) / (reference.std(axis=(0, 1)) + 1e-12)
            row["per_coefficient"] = [round(float(x), 4) for x in per]
        if stage == "probabilities":
            row["top1_agreement"] = float(np.mean(value.argmax(-1) == reference.argmax(-1)))
            row["keras_accuracy"] = float(np.mean(reference.argmax(-1) == targets))
            row["int8_accuracy"] = float(np.mean(value.argmax(-1) == targets))
        report[stage] = row
    if report.get("mfcc", {}).get("tensor") and report["mfcc"]["tensor"] == report.get("mfcc_norm", {}).get("tensor"):
        # The converter folds the normalisation into the DCT matmul: the raw MFCCs have no int8
        # tensor, and the normalised one compared against them would read as a large error.
        report["mfcc"] = {"error": "no tensor of its own (normalisation folded into the DCT matmul; see mfcc_norm)"}
    print(json.dumps(report, indent=1))
    if args.out:
        from kerasuite.io_utils import write_json_atomic

        write_json_atomic(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
