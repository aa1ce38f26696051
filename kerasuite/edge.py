"""``python -m kerasuite.edge MODEL.tflite``: run an exported model with numpy and LiteRT only.

Never imports TensorFlow or Keras, so it runs on a device that has neither. The bundle beside the
model (signature.json, labels.txt, golden.npz, ...) says how to preprocess raw input files and what
the outputs mean.

  --check golden.npz   verify the Keras model's recorded outputs within the bundle's tolerance
  --input FILE ...     classify / score raw files (image, text, .wav, or .npy arrays)
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from kerasuite.errors import CheckFailed, UserError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m kerasuite.edge", description=__doc__.splitlines()[0])
    parser.add_argument("model", metavar="MODEL.tflite")
    parser.add_argument("--check", metavar="GOLDEN.npz", help="compare against the recorded Keras outputs")
    parser.add_argument("--input", metavar="FILE", nargs="+", default=[], help="raw input files to run")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=50, help="invokes timed for the latency report")
    parser.add_argument("--top", type=int, default=3, help="how many labels/scores to print per input")
    return parser


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
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise UserError(f"{path}: not valid JSON ({error.msg})") from None


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
    if not golden_path.is_file():
        raise UserError(f"--check {golden_path}: no such file")
    try:
        golden = np.load(golden_path)
        inputs = {key.split("__", 1)[1]: golden[key] for key in golden.files if key.startswith("input__")}
        expected = golden["keras_output"]
    except (OSError, ValueError, KeyError) as error:
        raise UserError(f"--check {golden_path}: not a kerasuite golden file ({error})") from None
    actual = model.predict(inputs)
    diff = float(np.max(np.abs(actual.astype(np.float32) - expected.astype(np.float32))))
    return {"examples": int(len(expected)), "max_abs_diff": diff, "tolerance": tolerance, "passed": diff <= tolerance}


def read_inputs(paths: Sequence[str], signature: dict[str, Any], bundle_dir: Path, input_names: list[str]) -> dict[str, np.ndarray]:
    from kerasuite.runtime.inputs import READERS

    preprocessing = signature.get("preprocessing", {})
    batches: list[dict[str, np.ndarray]] = []
    for path in paths:
        if not Path(path).is_file():
            raise UserError(f"--input {path}: no such file")
        if path.endswith(".npy"):
            array = np.load(path)
            batches.append({input_names[0]: array[None] if array.ndim else array})
            continue
        kind = preprocessing.get("kind")
        if kind not in READERS:
            raise UserError(f"--input {path}: the bundle does not say how to read raw files (preprocessing kind {kind!r}); pass .npy arrays")
        module_name, _, function_name = READERS[kind].partition(":")
        reader = getattr(importlib.import_module(module_name), function_name)
        batches.append(reader(path, preprocessing, bundle_dir))
    return {name: np.concatenate([b[name] for b in batches]) for name in batches[0]}


def describe_prediction(output: np.ndarray, labels: list[str] | None, top: int) -> str:
    if labels and output.ndim == 1 and len(output) == len(labels):
        order = np.argsort(-output)[:top]
        return ", ".join(f"{labels[i]} {output[i]:.3f}" for i in order)
    flat = output.ravel()
    shown = ", ".join(f"{v:.4g}" for v in flat[:8])
    return f"[{shown}{', ...' if flat.size > 8 else ''}]"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _main(args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except CheckFailed as error:
        print(f"check failed: {error}", file=sys.stderr)
        return error.exit_code


def _main(args: argparse.Namespace) -> int:
    from kerasuite.runtime.interpreter import TFLiteModel

    model_path = Path(args.model)
    model = TFLiteModel(model_path, threads=args.threads)
    signature = load_signature(model_path)
    mode = mode_of(model_path, signature)
    bundle_dir = bundle_dir_of(model_path)
    labels = None
    if signature.get("labels") and (bundle_dir / signature["labels"]).is_file():
        labels = (bundle_dir / signature["labels"]).read_text(encoding="utf-8").splitlines()
    print(f"{model_path.name}: {mode or 'unknown mode'}, inputs "
          + ", ".join(f"{t['name']} {t['dtype']}{t['shape']}" for t in model.describe()["inputs"]))

    status = 0
    example: dict[str, np.ndarray] | None = None
    if args.check:
        tolerance = signature.get("modes", {}).get(mode or "", {}).get("golden_tolerance")
        if tolerance is None:
            raise UserError(f"--check: {bundle_dir_of(model_path) / 'signature.json'} has no tolerance for {model_path.name}")
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
        golden = np.load(args.check)
        example = {k.split("__", 1)[1]: golden[k][:1] for k in golden.files if k.startswith("input__")}
    if args.input:
        inputs = read_inputs(args.input, signature, bundle_dir, model.input_names)
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


if __name__ == "__main__":
    sys.exit(main())
