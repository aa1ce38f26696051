"""``python -m kerasuite.edge MODEL.tflite``: run an exported model with numpy and LiteRT only.

Never imports TensorFlow or Keras, so it runs on a device that has neither. The bundle beside the
model (signature.json, labels.txt, golden.npz, ...) says how to preprocess raw input files and what
the outputs mean.

  --check golden.npz   verify the Keras model's recorded outputs within the bundle's tolerance
  --input FILE ...     classify / score raw files (PNG or JPEG image, text, .wav, or .npy arrays;
                       JPEG needs Pillow, which decodes the pixels training decodes:
                       kerasuite/runtime/jpeg.py)
  --input LONG.wav --stream [--hop 0.25]   keyword spotting over a long recording
                       (detections with times; kerasuite/runtime/streaming.py)
  --runtime tflm       run on TensorFlow Lite Micro instead of LiteRT (exit 2 if TFLM cannot run it)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from kerasuite.errors import CheckFailed, UserError, one_line_exit
from kerasuite.argparsing import OneLineArgumentParser


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(prog="python -m kerasuite.edge", description=__doc__.splitlines()[0])
    parser.add_argument("model", metavar="MODEL.tflite")
    parser.add_argument("--check", metavar="GOLDEN.npz", help="compare against the recorded Keras outputs")
    parser.add_argument("--input", metavar="FILE", nargs="+", default=[], help="raw input files to run")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--api", choices=("interpreter", "compiled"), default="interpreter",
                        help="LiteRT API: the Interpreter, or CompiledModel (falls back to the Interpreter "
                             "where the installed LiteRT lacks it; the first line says which ran)")
    parser.add_argument("--runtime", choices=("litert", "tflm"), default="litert",
                        help="litert (default) or tflm: TensorFlow Lite Micro's reference interpreter, "
                             "what a microcontroller runs (batch 1, one thread)")
    parser.add_argument("--runs", type=int, default=50, help="invokes timed for the latency report")
    parser.add_argument("--top", type=int, default=3, help="how many labels/scores to print per input")
    parser.add_argument("--stream", action="store_true", help="slide the model's window over each --input .wav "
                        "and print keyword detections with times")
    parser.add_argument("--hop", type=float, default=0.25, help="--stream: seconds between windows (default 0.25)")
    parser.add_argument("--threshold", type=float, default=0.7, help="--stream: smoothed posterior to fire (default 0.7)")
    return parser


# Sizes in signature.json's preprocessing that must be positive whole numbers.
POSITIVE_SIZES = ("height", "width", "sample_rate", "samples", "sequence_length")


def bundle_dir_of(model_path: Path) -> Path:
    """The bundle folder: the model's own, or the one above for a file kept in ``failed/``."""
    parent = model_path.parent
    if not (parent / "signature.json").is_file() and parent.name == "failed" \
            and (parent.parent / "signature.json").is_file():
        return parent.parent
    return parent


def load_signature(model_path: Path) -> dict[str, Any]:
    path = bundle_dir_of(model_path) / "signature.json"
    if not path.is_file():
        return {}
    try:
        signature = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: not valid JSON ({getattr(error, 'msg', error)})") from None
    check_signature(signature, path)
    return signature


def check_signature(signature: Any, path: Path) -> None:
    """A tampered or hand-edited signature.json is named here, not as a KeyError later."""
    if not isinstance(signature, dict):
        raise UserError(f"{path}: expected a JSON object, found {type(signature).__name__}")
    for key in ("modes", "preprocessing"):
        if not isinstance(signature.get(key, {}), dict):
            raise UserError(f"{path}: {key!r} must be an object")
    for mode, description in signature.get("modes", {}).items():
        if not isinstance(description, dict):
            raise UserError(f"{path}: modes.{mode} must be an object")
    preprocessing = signature.get("preprocessing", {})
    if preprocessing and "kind" not in preprocessing:
        raise UserError(f"{path}: preprocessing has no 'kind'")
    if preprocessing.get("kind") == "image" and not isinstance(preprocessing.get("channels"), int):
        raise UserError(f"{path}: preprocessing.channels must be 1 or 3")
    for key in POSITIVE_SIZES:
        if key in preprocessing:
            value = preprocessing[key]
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise UserError(f"{path}: preprocessing.{key} must be a positive whole number, not {value!r}")
    if preprocessing.get("kind") == "image":
        for key in ("height", "width", "scale"):
            if key not in preprocessing:
                raise UserError(f"{path}: preprocessing.{key} is missing")


def check_flags(args: argparse.Namespace) -> None:
    """Flag mistakes and missing files, refused before a model is loaded or anything printed."""
    for flag, value in (("--threads", args.threads), ("--runs", args.runs), ("--top", args.top)):
        if value < 1:
            raise UserError(f"{flag} {value}: must be at least 1")
    if args.runtime == "tflm" and args.api == "compiled":
        raise UserError("--api compiled: a LiteRT API; --runtime tflm runs TFLM's own interpreter (drop one of them)")
    if args.stream:
        from kerasuite.runtime import streaming

        if not args.input:
            raise UserError("--stream: pass the recording(s) with --input LONG.wav")
        if args.check:
            raise UserError("--check: compares single clips with golden.npz, which --stream does not run; drop one")
        streaming.StreamSettings(hop_seconds=args.hop, threshold=args.threshold).check()
    for flag, paths in (("--check", [args.check] if args.check else []), ("--input", args.input or [])):
        for path in paths:
            if not Path(path).is_file():
                raise UserError(f"{flag} {path}: no such file")


def mode_of(model_path: Path, signature: dict[str, Any]) -> str | None:
    relative = model_path.name if model_path.parent == bundle_dir_of(model_path) \
        else f"{model_path.parent.name}/{model_path.name}"
    for mode, description in signature.get("modes", {}).items():
        if description.get("file") == relative:
            return mode
    return None


def export_verdict(description: dict[str, Any]) -> str | None:
    """Why the exporter failed this file (None: it passed, or the bundle predates verdicts)."""
    if description.get("verdict") != "failed":
        return None
    failures = description.get("parity", {}).get("failures") or []
    return "; ".join(failures) or "parity failed"


def check_golden(model, golden_path: Path, tolerance: float) -> dict[str, Any]:
    from kerasuite.export.arrays import open_npz

    golden = open_npz(golden_path, "--check", "pass the bundle's golden.npz")
    inputs = {key.split("__", 1)[1]: value for key, value in golden.items() if key.startswith("input__")}
    if "keras_output" not in golden:
        raise UserError(f"--check {golden_path}: not a kerasuite golden file (no keras_output array)")
    expected = golden["keras_output"]
    if not inputs:
        raise UserError(f"--check {golden_path}: holds no input arrays")
    if len(expected) == 0 or any(len(value) == 0 for value in inputs.values()):
        raise UserError(f"--check {golden_path}: holds zero examples")
    check_input_arrays(model, inputs, f"--check {golden_path}")
    actual = model.predict(inputs)
    if actual.shape != expected.shape:
        raise UserError(f"--check {golden_path}: keras_output has shape {list(expected.shape)}, "
                        f"the model gives {list(actual.shape)}")
    diff = float(np.max(np.abs(actual.astype(np.float32) - expected.astype(np.float32))))
    return {"examples": int(len(expected)), "max_abs_diff": diff, "tolerance": tolerance, "passed": diff <= tolerance,
            "first_example": {name: value[:1] for name, value in inputs.items()}}


def read_inputs(paths: Sequence[str], signature: dict[str, Any], bundle_dir: Path, input_names: list[str],
                model=None) -> dict[str, np.ndarray]:
    """Each file -> batch-1 model inputs (checked against ``model``'s input shapes, naming the file)."""
    from kerasuite.runtime import device_spec

    preprocessing = signature.get("preprocessing", {})
    batches: list[dict[str, np.ndarray]] = []
    for path in paths:  # each exists: check_flags said so before the model was opened
        if path.endswith(".npy"):
            try:
                array = np.load(path, allow_pickle=False)
            except (OSError, ValueError, EOFError) as error:
                reason = str(error).splitlines()[0] if str(error) else type(error).__name__
                raise UserError(f"--input {path}: not a readable numeric .npy file ({reason})") from None
            if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
                raise UserError(f"--input {path}: holds {getattr(array, 'dtype', type(array).__name__)} values; "
                                "expected a numeric array")
            if len(input_names) > 1:  # it went to the first input, and the refusal blamed that input's shape
                raw = f"; its raw files: {preprocessing['note']}" if preprocessing.get("note") else ""
                raise UserError(f"--input {path}: a .npy is one array and this model takes {len(input_names)} inputs "
                                f"({', '.join(input_names)}){raw}; --check GOLDEN.npz runs it on arrays")
            batches.append({input_names[0]: array[None] if array.ndim else array})
            if model is not None:
                check_input_arrays(model, batches[-1], f"--input {path}")
            continue
        try:  # a signature.json without a field the reader needs, or with a mistyped one
            spec = device_spec.parse(preprocessing)
        except (KeyError, TypeError, ValueError) as error:
            raise UserError(f"{bundle_dir / 'signature.json'}: preprocessing lacks or mistypes a field ({error}); "
                            f"needed to read {path}") from None
        if spec is None or not spec.reader:
            raise UserError(f"--input {path}: the bundle does not say how to read raw files "
                            f"(preprocessing kind {preprocessing.get('kind')!r}); pass .npy arrays")
        try:
            batches.append(spec.read(path, bundle_dir))
        except (KeyError, TypeError) as error:
            raise UserError(f"{bundle_dir / 'signature.json'}: preprocessing lacks or mistypes {error} "
                            f"(needed to read {path})") from None
        if model is not None:  # the file read fine, so a wrong shape comes from the preprocessing
            check_input_arrays(model, batches[-1], f"--input {path} as {bundle_dir / 'signature.json'} says to read it")
    shapes = {name: {b[name].shape[1:] for b in batches} for name in batches[0]}
    for name, found in shapes.items():
        if len(found) > 1:
            raise UserError(f"--input: the files give {name} arrays of different shapes {sorted(map(list, found))}")
    return {name: np.concatenate([b[name] for b in batches]) for name in batches[0]}


def check_input_arrays(model, inputs: dict[str, np.ndarray], what: str) -> None:
    """Shapes and dtypes against the model's inputs, so a wrong array is named, not a LiteRT error."""
    described = model.describe()["inputs"]
    for description in described:
        name = description["name"]
        # one array for a one-input model whatever its key; otherwise arrays go by name
        key = name if name in inputs else (next(iter(inputs)) if len(inputs) == 1 and len(described) == 1 else None)
        if key is None:
            raise UserError(f"{what}: no array for the model input {name!r} (has {', '.join(inputs)})")
        array = inputs[key]
        wanted = list(description["shape"])[1:]
        if array.ndim != len(wanted) + 1 or any(w not in (-1, a) for w, a in zip(wanted, array.shape[1:])):
            raise UserError(f"{what}: {key} has shape {list(array.shape)}, the model wants [N, "
                            f"{', '.join(map(str, wanted))}]")
        # quantized inputs take floats (the runner quantizes them); id inputs do not
        if description["dtype"] in ("int32", "int64") and not description.get("quantization") and array.dtype.kind == "f":
            raise UserError(f"{what}: {key} holds floats, the model wants {description['dtype']} ids")


def describe_prediction(output: np.ndarray, labels: list[str] | None, top: int) -> str:
    if labels and output.ndim == 1 and len(output) == len(labels):
        order = np.argsort(-output)[:top]
        return ", ".join(f"{labels[i]} {output[i]:.3f}" for i in order)
    flat = output.ravel()
    shown = ", ".join(f"{v:.4g}" for v in flat[:8])
    return f"[{shown}{', ...' if flat.size > 8 else ''}]"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return one_line_exit(lambda: _main(args))


def keep_native_logs_off_stderr() -> None:
    """LiteRT's CompiledModel logs accelerator set-up and teardown to file descriptor 2 at times no
    in-process silencing catches (when stderr is a file: at exit). Python's own messages move to a
    copy of the original stderr; fd 2 itself goes to /dev/null. ``KERASUITE_VERBOSE=1`` keeps it."""
    import os

    if os.environ.get("KERASUITE_VERBOSE"):
        return
    sys.stderr.flush()
    sys.stderr = os.fdopen(os.dup(2), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)


def _main(args: argparse.Namespace) -> int:
    check_flags(args)
    model_path = Path(args.model)
    if args.runtime == "tflm":
        from kerasuite.runtime.tflm import TFLMModel

        model = TFLMModel(model_path)
    else:
        from kerasuite.runtime.compiled import open_model

        if args.api == "compiled":
            keep_native_logs_off_stderr()
        model = open_model(model_path, args.api, threads=args.threads)
    try:
        return _run(args, model_path, model)
    except RuntimeError as error:  # the runtime loaded the file and refused to run it on this input
        first = next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)
        runtime = "TFLM" if args.runtime == "tflm" else f"LiteRT ({args.api})"
        raise CheckFailed(f"{model_path.name}: {runtime} failed to run it: {first[:300]}") from None
    finally:
        if hasattr(model, "close"):
            model.close()


def _run(args: argparse.Namespace, model_path: Path, model) -> int:
    signature = load_signature(model_path)
    mode = mode_of(model_path, signature)
    bundle_dir = bundle_dir_of(model_path)
    labels = None
    if signature.get("labels") and (bundle_dir / signature["labels"]).is_file():
        labels = (bundle_dir / signature["labels"]).read_text(encoding="utf-8").splitlines()
    details = model.details()
    api = details["api"] + (f" (fallback: {details['fallback_reason']})" if details.get("fallback_reason") else "")
    runtime = "TFLM" if args.runtime == "tflm" else "LiteRT API"
    print(f"{model_path.name}: {mode or 'unknown mode'}, {runtime} {api}, inputs "
          + ", ".join(f"{t['name']} {t['dtype']}{t['shape']}" for t in model.describe()["inputs"]))

    if args.stream:
        return _stream(args, model, signature, labels)
    status = 0
    example: dict[str, np.ndarray] | None = None
    if args.check:
        tolerance = signature.get("modes", {}).get(mode or "", {}).get("golden_tolerance")
        if tolerance is None:
            extra = signature.get("extra_files", {}).get(model_path.name)
            if isinstance(extra, dict):  # golden.npz holds the modes' outputs, not this file's
                raise UserError(f"--check: {model_path.name} is a task extra, not a golden-checked mode; the export "
                                f"checked it ({'passed' if extra.get('passed') else 'FAILED'}: {extra.get('summary', '')}; "
                                "signature.json extra_files)")
            if not (bundle_dir / "signature.json").is_file():  # a file copied out of its bundle, or from elsewhere
                raise UserError(f"--check: no signature.json beside {model_path} to give its golden tolerance; "
                                "run the file from its bundle folder")
            raise UserError(f"--check: {bundle_dir / 'signature.json'} has no tolerance for {model_path.name}")
        result = check_golden(model, Path(args.check), float(tolerance))
        verdict = "passed" if result["passed"] else "FAILED"
        print(f"golden check {verdict}: {result['examples']} examples, max |diff| {result['max_abs_diff']:.3g} "
              f"(tolerance {result['tolerance']:.3g})")
        if not result["passed"]:
            status = 1
        failed_because = export_verdict(signature.get("modes", {}).get(mode or "", {}))
        if failed_because:
            print(f"export verdict FAILED for {mode}: {failed_because}; do not ship {model_path.name}")
            status = 1
        example = result["first_example"]
    if args.input:
        inputs = read_inputs(args.input, signature, bundle_dir, model.input_names, model)
        check_input_arrays(model, inputs, "--input")
        outputs = model.predict(inputs)
        for path, output in zip(args.input, outputs):
            print(f"{path}: {describe_prediction(output, labels, args.top)}")
        example = {k: v[:1] for k, v in inputs.items()}
    if example is not None:
        latency = model.latency_ms(example, runs=args.runs)
        print(f"latency ({args.threads} thread{'s' if args.threads != 1 else ''}): "
              f"p50 {latency['p50']:.3f} ms, p90 {latency['p90']:.3f} ms")
    if not args.check and not args.input:
        print("nothing to run: pass --check GOLDEN.npz and/or --input FILE ...")
    return status


def _stream(args: argparse.Namespace, model, signature: dict[str, Any], labels: list[str] | None) -> int:
    from kerasuite.runtime import device_spec, streaming

    try:
        spec = device_spec.parse(signature.get("preprocessing", {}))
    except (KeyError, TypeError, ValueError) as error:
        raise UserError(f"--stream: {args.model}: its signature.json preprocessing is not usable ({error})") from None
    if not isinstance(spec, device_spec.AudioSpec) or not labels:
        raise UserError(f"--stream: {args.model} is not a keyword-spotting bundle (needs audio preprocessing and labels)")
    settings = streaming.StreamSettings(hop_seconds=args.hop, threshold=args.threshold)
    settings.check(spec.samples / spec.sample_rate)  # before the note: a refusal is the only line
    if not set(labels) & set(streaming.NON_KEYWORDS):
        print(f"note: {args.model}'s labels have no {' or '.join(streaming.NON_KEYWORDS)} class, so every window "
              "is heard as a keyword: expect false alarms between words", file=sys.stderr)
    for path in args.input:
        found, heard = streaming.stream_blocks(model.predict, streaming.recording_blocks(path, spec.sample_rate),
                                               spec, labels, settings)
        print(f"{path}: {heard / spec.sample_rate:.2f} s, {len(found)} detection(s)")
        for detection in found:
            print(f"  {detection.seconds:9.2f} s  {detection.label}  {detection.score:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
