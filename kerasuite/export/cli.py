"""``python -m kerasuite.export MODEL.keras --representative INPUTS.npz``: export and prove any Keras model.

Every usage mistake that can be seen without TensorFlow (missing or unreadable files, bad flags,
unknown modes, a Lambda layer, a module that does not exist) is reported in one line before it
loads. Exit codes: 0 every mode passed parity on every applicable runtime, 1 one failed (the
bundle is still written, failed files under ``failed/``), 2 bad input.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from kerasuite import locations
from kerasuite.config import EXPORT_MODES as MODES  # defined once, with the config
from kerasuite.config import LSTM_GRAPHS, TFLM_CHOICES
from kerasuite.errors import CheckFailed, UserError, one_line_exit
from kerasuite.export import pixels
from kerasuite.export.arrays import array_problem, open_npz
from kerasuite.argparsing import OneLineArgumentParser

TOLERANCE_KEYS = ("max_abs_diff", "min_agreement", "max_metric_drop", "max_relative_error", "max_example_error",
                  "max_column_error")
MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(prog="python -m kerasuite.export", description=__doc__.splitlines()[0].split(": ", 1)[1])
    parser.add_argument("model", metavar="MODEL.keras", help="a Keras 3 .keras file, or a legacy .h5 model")
    parser.add_argument("--representative", required=True, metavar="INPUTS.npz",
                        help="calibration inputs: one array per model input, keyed by input name")
    parser.add_argument("--heldout", metavar="HELDOUT.npz",
                        help="parity inputs (same keys) and an optional 'target' array; default: the representative inputs")
    parser.add_argument("--modes", default="float32,int8", help=f"comma list of {', '.join(MODES)}")
    parser.add_argument("--out", metavar="DIR", help="bundle folder (default exports/<model name>)")
    parser.add_argument("--labels", metavar="labels.txt", help="class names, one per line, in output order")
    parser.add_argument("--custom-objects", metavar="MODULE", nargs="+", default=[],
                        help="modules that register the model's custom layers; only these are imported")
    parser.add_argument("--allow-flex", action="store_true",
                        help="emit Flex (TensorFlow) ops instead of refusing; ai-edge-litert cannot run them")
    parser.add_argument("--tolerance", metavar="MODE.KEY=VALUE", action="append", default=[],
                        help=f"parity tolerance, e.g. int8.min_agreement=0.95; KEY is one of {', '.join(TOLERANCE_KEYS)}; "
                             "VALUE a number or none")
    parser.add_argument("--lstm", choices=LSTM_GRAPHS, default="fused",
                        help="LSTM graph: fused (one op per layer; smallest, keeps state in variable tensors) or "
                             "unrolled (builtin ops per step, stateless: runs in MediaPipe and CompiledModel too)")
    parser.add_argument("--tflm", choices=TFLM_CHOICES, default="auto",
                        help="on: also judge the files on TensorFlow Lite Micro (every mode but dynamic and float16: the "
                             "microcontroller proof, its arena bytes and firmware files; a file TFLM cannot "
                             "run then fails). auto (default) and off: not for a model from no kerasuite task")
    parser.add_argument("--image-input", metavar="NAME",
                        help="the model input that takes an RGB (or grayscale) image: the files then carry "
                             "MediaPipe image metadata and MediaPipe's ImageClassifier judges them too")
    parser.add_argument("--pixel-scale", metavar="SCALE", default="1/255",
                        help="with --image-input: what the model multiplies 0-255 pixels by (1/255, the "
                             "default, for inputs in [0, 1]; 1 for a model that rescales inside)")
    parser.add_argument("--output", metavar="NAME",
                        help="a model with several outputs: the one to export and prove (its name or index)")
    parser.add_argument("--batch-size", type=int, metavar="N",
                        help="bake a batch of N into every file (1 is what microcontrollers run; it folds away "
                             "the shape arithmetic of a batch unknown until run time); default: a dynamic batch, "
                             "1 for models with LSTMs or GRUs")
    parser.add_argument("--golden-examples", type=int, default=8, metavar="N",
                        help="held-out examples kept in golden.npz for kerasuite.edge --check (default 8)")
    parser.add_argument("--threads", type=int, default=1, metavar="N",
                        help="LiteRT Interpreter threads for the latency figures (default 1)")
    return parser


def read_npz(path_text: str, flag: str) -> dict[str, np.ndarray]:
    path = Path(path_text)
    if not path.is_file():
        raise UserError(f"{flag} {path}: no such file")
    arrays = open_npz(path, flag, "save one array per model input, keyed by its name: np.savez(PATH, NAME=array, ...)")
    if not arrays:
        raise UserError(f"{flag} {path}: holds no arrays")
    for key, value in arrays.items():
        if value.ndim == 0 or len(value) == 0:
            raise UserError(f"{flag} {path}: array {key!r} has no examples (shape {list(value.shape)})")
        problem = array_problem(key, value)
        if problem:
            raise UserError(f"{flag} {path}: {problem}")
    return arrays


def check_arrays_fit(arrays: dict[str, np.ndarray], flag: str, path: str, declared: dict | None) -> None:
    """The arrays against the inputs the model file declares (names and shapes per example), before
    TensorFlow: a wrong shape was a TensorFlow error after start-up."""
    from kerasuite.export.api import model_inputs  # numpy only: the names and counts export_model checks

    if declared is None:
        return
    model_inputs(arrays, list(declared), f"{flag} {path}")
    for name, shape in declared.items():
        given = list(arrays[name].shape[1:])
        if len(given) != len(shape) or any(want is not None and want != got for want, got in zip(shape, given)):
            wanted = "[" + ", ".join("any" if size is None else str(size) for size in shape) + "]"
            raise UserError(f"{flag} {path}: array {name!r} has examples of shape {given}; the model's input "
                            f"{name!r} takes {wanted}")


def parse_tolerances(items: Sequence[str], modes: Sequence[str]):
    from kerasuite.config import ModeTolerance, ParityConfig

    parity = ParityConfig()
    for item in items:
        key, _, value = item.partition("=")
        mode, _, field = key.partition(".")
        if mode not in MODES or field not in TOLERANCE_KEYS or not value:
            raise UserError(f"--tolerance {item}: expected MODE.KEY=VALUE with MODE in {', '.join(MODES)} and "
                            f"KEY in {', '.join(TOLERANCE_KEYS)}")
        if value.lower() == "none":
            number = None
        else:
            try:
                number = float(value)
            except ValueError:
                raise UserError(f"--tolerance {item}: {value!r} is not a number (or none)") from None
            if not np.isfinite(number) or number < 0:
                raise UserError(f"--tolerance {item}: must be a finite number >= 0")
        current: ModeTolerance = getattr(parity, mode)
        setattr(parity, mode, ModeTolerance(**{**vars(current), field: number}))
    return parity


def image_input(args: argparse.Namespace, representative: dict[str, np.ndarray]) -> dict | None:
    """--image-input/--pixel-scale checked against the representative arrays: the image's name,
    height, width, channels and pixel scale, or None."""
    if args.image_input is None:
        if args.pixel_scale != "1/255":
            raise UserError("--pixel-scale: only with --image-input NAME")
        return None
    text = args.pixel_scale.strip()
    try:
        top, _, bottom = text.partition("/")
        scale = float(top) / float(bottom) if bottom else float(top)
    except (ValueError, ZeroDivisionError):
        raise UserError(f"--pixel-scale {text}: not a number or a fraction like 1/255") from None
    if not np.isfinite(scale) or scale <= 0:
        raise UserError(f"--pixel-scale {text}: must be above 0")
    if args.image_input not in representative:
        raise UserError(f"--image-input {args.image_input}: no such array in --representative "
                        f"(has: {', '.join(representative)})")
    shape = representative[args.image_input].shape
    if len(shape) != 4 or shape[-1] not in (1, 3):
        raise UserError(f"--image-input {args.image_input}: its arrays are {list(shape)}; an image input is "
                        "[examples, height, width, 3] (or 1 channel)")
    return {"input": args.image_input, "height": int(shape[1]), "width": int(shape[2]), "channels": int(shape[3]),
            "scale": scale}


def check_usage(args: argparse.Namespace) -> dict:
    """Everything checkable before TensorFlow; returns the parsed pieces."""
    from kerasuite.export.keras_file import declared_inputs, read_config, refuse_lambda, refuse_string_inputs

    modes = tuple(mode.strip() for mode in args.modes.split(",") if mode.strip())
    bad = [mode for mode in modes if mode not in MODES]
    if bad or not modes:
        raise UserError(f"--modes {args.modes}: unknown mode {bad[0] if bad else '(none)'!r}; choose from {', '.join(MODES)}")
    if len(set(modes)) != len(modes):
        raise UserError(f"--modes {args.modes}: a mode is listed twice")
    model_path = Path(args.model)
    config = read_config(model_path)
    refuse_lambda(model_path, config)
    refuse_string_inputs(model_path, config)
    representative = read_npz(args.representative, "--representative")
    heldout = read_npz(args.heldout, "--heldout") if args.heldout else None
    declared = declared_inputs(config)
    check_arrays_fit(representative, "--representative", args.representative, declared)
    if heldout is not None:
        check_arrays_fit({k: v for k, v in heldout.items() if k != "target"}, "--heldout", args.heldout, declared)
        rows = {len(value) for key, value in heldout.items() if key != "target"}
        if "target" in heldout and len(rows) == 1 and len(heldout["target"]) not in rows:
            raise UserError(f"--heldout {args.heldout}: 'target' has {len(heldout['target'])} rows but the inputs "
                            f"have {rows.pop()}")
    labels = None
    if args.labels:
        labels_path = Path(args.labels)
        if not labels_path.is_file():
            raise UserError(f"--labels {labels_path}: no such file")
        labels = [line.strip() for line in labels_path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if not labels:
            raise UserError(f"--labels {labels_path}: no labels in it")
    for module in args.custom_objects:
        if not MODULE_NAME.match(module):
            raise UserError(f"--custom-objects {module}: not a Python module name")
        if importlib.util.find_spec(module.split(".")[0]) is None:
            raise UserError(f"--custom-objects {module}: no such module on the Python path")
    for flag, value in (("--golden-examples", args.golden_examples), ("--threads", args.threads),
                        ("--batch-size", args.batch_size)):
        if value is not None and value < 1:
            raise UserError(f"{flag} {value}: must be at least 1")
    image = image_input(args, representative)
    if image is not None:
        # the export rounds them to whole pixels; a scale under which they are no pixels is a usage mistake
        flag, source = ("--heldout", heldout) if heldout is not None else ("--representative", representative)
        problem = pixels.scale_problem(source[image["input"]], image["scale"])
        if problem:
            raise UserError(f"--image-input {image['input']}: the {flag} images are no 0-255 pixels times "
                            f"--pixel-scale {image['scale']:.6g}: {problem}; give the scale the model multiplies "
                            "0-255 pixels by (1/255 for inputs in [0, 1], 1 for a model that rescales inside)")
    out = Path(args.out) if args.out else Path("exports") / model_path.stem
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and not locations.is_bundle_dir(out):  # the export replaces the folder wholesale
        raise UserError(f"--out {out}: exists and is not a kerasuite bundle (no {locations.BUNDLE_MARKER} file), "
                        "so the export will not replace it; choose another --out or remove it yourself")
    return {"modes": modes, "config": config, "representative": representative, "heldout": heldout,
            "labels": labels, "out": out, "tolerances": parse_tolerances(args.tolerance, modes), "image": image}


def run(args: argparse.Namespace) -> int:
    checked = check_usage(args)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    print(f"loading {args.model} (TensorFlow start-up takes a few seconds)", flush=True)
    from kerasuite.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    import importlib

    import kerasuite.models  # noqa: F401  kerasuite's own layers (FusableLSTM, ...) for safe loading
    from kerasuite.config import ExportConfig
    from kerasuite.export.api import BundleInfo, export_model
    from kerasuite.export.keras_file import load_keras_file, refuse_unknown_classes

    for module in args.custom_objects:
        try:
            importlib.import_module(module)
        except Exception as error:
            raise UserError(f"--custom-objects {module}: importing it failed ({type(error).__name__}: "
                            f"{' '.join(str(error).split())[:160]})") from None
    model_path = Path(args.model)
    refuse_unknown_classes(model_path, checked["config"])
    model = load_keras_file(model_path)
    if args.output is not None:
        from kerasuite.export.prepare import select_output

        model = select_output(model, args.output)
    model_inputs = [tensor.name for tensor in model.inputs]
    if checked["image"] is not None and checked["image"]["input"] not in model_inputs:
        raise UserError(f"--image-input {checked['image']['input']}: model '{model.name}' has no such input "
                        f"(its inputs: {', '.join(model_inputs)})")
    options = ExportConfig(modes=checked["modes"], allow_flex=args.allow_flex,
                           custom_layer_modules=tuple(args.custom_objects), golden_examples=args.golden_examples,
                           threads=args.threads, latency_runs=20, parity=checked["tolerances"], lstm=args.lstm,
                           tflm=args.tflm)
    data = {"model_file": str(model_path), "representative": args.representative, "heldout": args.heldout,
            **({"output": args.output} if args.output is not None else {})}
    preprocessing = None
    if checked["image"] is not None:
        from kerasuite.runtime.device_spec import ImageSpec

        image = checked["image"]
        preprocessing = ImageSpec(**image, note=f"decode to uint8 RGB, resize to {image['height']}x{image['width']}, "
                                                f"multiply by {image['scale']:g}")
    info = BundleInfo(title=f"{model.name} ({model_path.name})", model=model.name, data=data,
                      preprocessing=preprocessing or {},
                      limits=["exported by python -m kerasuite.export from a user's model: kerasuite did not "
                              "train it and knows nothing of its data beyond the arrays given"])
    try:
        report = export_model(model, representative=checked["representative"], heldout=checked["heldout"],
                              out=checked["out"], labels=checked["labels"], options=options, info=info,
                              batch_size=args.batch_size, progress=lambda step: print(step, flush=True))
    except UserError as error:
        message = str(error)
        for flag, key in (("--representative", "representative:"), ("--heldout", "heldout:")):
            if message.startswith(key):
                path = args.representative if flag == "--representative" else args.heldout
                message = f"{flag} {path}:{message[len(key):]}"
        raise UserError(message) from None
    print_report(report)
    if not report.passed:
        raise CheckFailed(f"{'export' if report.unconverted else 'parity'} failed for {', '.join(report.failed_modes)} "
                          f"({report.failure_reasons()}); see {report.bundle / 'parity.json'}")
    return 0


def print_report(report) -> None:
    from kerasuite.export.parity import diff_text

    for text in report.conversions:
        print(f"  applied: {text}")
    print(f"  {'mode':<8} {'size':>10} {'agreement':>10} {'max|diff|':>10} {'rel. error':>10}  verdict  runtimes")
    for mode, result in report.exports.items():
        parity = result["parity"]
        agreement, relative = parity.get("agreement"), parity.get("relative_error")
        runtimes = ", ".join(f"{name} {verdict['status']}" for name, verdict in parity["runtimes"].items())
        print(f"  {mode:<8} {result['size_bytes']:>10,} {(f'{agreement:.4f}' if agreement is not None else '-'):>10} "
              f"{diff_text(parity['max_abs_diff']):>10} {(f'{relative:.3g}' if relative is not None else '-'):>10}  "
              f"{'passed' if parity['passed'] else 'FAILED':<7}  {runtimes}")
    for mode, reason in report.unconverted.items():
        print(f"  {mode:<8} {'-':>10} {'-':>10} {'-':>10} {'-':>10}  NOT CONVERTED: {reason}")
    for mode, result in report.exports.items():
        for note in result.get("notes", []):
            print(f"  note ({mode}): {note}")
    failed_files = [mode for mode in report.failed_modes if mode not in report.unconverted]
    print(f"  bundle: {report.bundle}" + (f" (failed modes in {report.bundle / 'failed'})" if failed_files else ""))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return one_line_exit(lambda: run(args))
