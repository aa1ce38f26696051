"""One export path for every Keras model: :func:`export_model`.

``python -m kerasuite.export`` calls it for a user's own ``.keras`` file and the tasks' own export
(:mod:`kerasuite.export.bundle`) calls it for theirs; what differs between them travels as data
(an :class:`~kerasuite.export.spec.OutputSpec` and a :class:`BundleInfo`), never as a branch here.

What it does: make the model exportable (:mod:`kerasuite.export.prepare`: fused LSTMs, int8-safe
attention masks, refusals), convert every mode in one child process, judge every file on every
applicable runtime (:mod:`kerasuite.export.runtimes`), and write the bundle atomically:

    OUT/model_<mode>.tflite          modes that passed parity on every applicable runtime
    OUT/failed/model_<mode>.tflite   modes that failed (never beside the shippable files)
    OUT/signature.json               inputs/outputs per mode, each with its verdict and numbers
    OUT/parity.json                  the full per-mode, per-runtime verdicts
    OUT/parity_<mode>.png            Keras vs TFLite, titled PASS/FAIL with agreement
    OUT/golden.npz                   a few inputs (as many classes as possible) and Keras outputs
    OUT/labels.txt                   when labels were given
    OUT/provenance.json, OUT/MODEL_CARD.md
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from kerasuite.config import CALIBRATED_MODES, EXPORT_MODES, ExportConfig, ModeTolerance, ParityConfig
from kerasuite.errors import CheckFailed, UserError
from kerasuite.locations import (BUNDLE_MARKER, check_bundle_location, disk_full_error, is_bundle_dir,
                                 is_disk_full, remove_orphans)
from kerasuite.export.arrays import array_problem
from kerasuite.export.spec import OutputSpec, generic_output_spec, golden_indices

if TYPE_CHECKING:
    from kerasuite.export.prepare import PreparedModel

Arrays = dict[str, np.ndarray]
TARGET_KEY = "target"
FAILED_DIR = "failed"


@dataclasses.dataclass
class BundleInfo:
    """What the bundle says about the model beyond its numbers."""

    title: str = "Keras model"
    task: str | None = None
    model: str | None = None  # family or model name
    data: dict[str, Any] = dataclasses.field(default_factory=dict)  # provenance: source, files, split
    # what a device does to raw input: a typed kerasuite.runtime.device_spec.DeviceSpec (tasks
    # give one), or signature.json's object as a dict (parsed into its spec; kept as written)
    preprocessing: Any = dataclasses.field(default_factory=dict)
    keras_eval: dict[str, float] = dataclasses.field(default_factory=dict)
    intended_use: str = ("On-device inference with the inputs described in signature.json; check a device "
                         "with `python -m kerasuite.edge MODEL --check golden.npz` before shipping.")
    limits: list[str] = dataclasses.field(default_factory=list)
    # files a device needs besides the .tflite; returns the verdict of each extra file it checked
    # ({file name: {"passed": bool, "failures": [...], ...}}, in signature.json's "extra_files") or None
    write_extras: Callable[[Path], dict[str, dict[str, Any]] | None] | None = None
    # what ``progress`` is told before write_extras runs, when that is a long step (None: nothing)
    extras_step: str | None = None
    vocabulary: list[str] | None = None  # text models: the token list, for the tokenizer in the metadata
    # (a TextSpec's own ``tokens`` win)

    @property
    def device(self):
        """``preprocessing`` as its typed spec (None when empty)."""
        from kerasuite.runtime import device_spec

        return device_spec.parse(self.preprocessing)

    def preprocessing_json(self) -> dict[str, Any]:
        """signature.json's ``preprocessing`` object."""
        from kerasuite.runtime.device_spec import DeviceSpec

        if isinstance(self.preprocessing, DeviceSpec):
            return self.preprocessing.to_json()
        return dict(self.preprocessing or {})


@dataclasses.dataclass
class ExportReport:
    bundle: Path
    exports: dict[str, dict[str, Any]]  # metrics.json's "exports" block
    conversions: list[str]
    unconverted: dict[str, str] = dataclasses.field(default_factory=dict)  # mode -> why no file
    extra_files: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)  # checked task extras

    @property
    def failed_modes(self) -> list[str]:
        return [*self.unconverted, *(mode for mode, result in self.exports.items() if not result["parity"]["passed"])]

    @property
    def failed_extra_files(self) -> list[str]:
        return [name for name, verdict in self.extra_files.items() if not verdict["passed"]]

    def failure_reasons(self) -> str:
        """One line: why each failed mode (and checked extra file) failed."""
        return "; ".join([*(f"{mode}: {self.unconverted[mode]}" if mode in self.unconverted
                            else f"{mode}: {', '.join(self.exports[mode]['parity']['failures']) or 'failed'}"
                            for mode in self.failed_modes),
                          *(f"{name}: {', '.join(self.extra_files[name]['failures']) or 'failed'}"
                            for name in self.failed_extra_files)])

    @property
    def passed(self) -> bool:
        return not self.failed_modes and not self.failed_extra_files


def predict_keras(model, inputs: Arrays, batch_size: int = 256) -> np.ndarray:
    """Outputs of ``model`` on named input arrays, fed in the structure the model was built with
    (a dict for dict-input models; else positional, which Sequential models expect)."""
    import keras

    if isinstance(model, keras.Sequential) or not isinstance(model.input, dict):
        ordered = [inputs[tensor.name] for tensor in model.inputs]
        inputs = ordered[0] if len(ordered) == 1 else ordered
    return np.asarray(model.predict(inputs, batch_size=batch_size, verbose=0), np.float32)


def save_arrays(path: Path, prefix: str, arrays: Mapping[str, np.ndarray], **extra: np.ndarray) -> None:
    from kerasuite.io_utils import atomic_path

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **{f"{prefix}__{k}": v for k, v in arrays.items()},
                     **{k: v for k, v in extra.items() if v is not None})


def model_inputs(arrays: Mapping[str, np.ndarray], names: Sequence[str], what: str) -> Arrays:
    missing = [name for name in names if name not in arrays]
    if missing:
        raise UserError(f"{what}: no array for model input {missing[0]!r} (has: {', '.join(sorted(arrays)) or 'none'}; "
                        f"the model's inputs are: {', '.join(names)})")
    picked = {name: np.asarray(arrays[name]) for name in names}
    for name, value in picked.items():
        problem = array_problem(name, value) if value.ndim else None
        if problem:
            raise UserError(f"{what}: {problem}")
    counts = {len(value) for value in picked.values()}
    if len(counts) != 1 or 0 in counts:
        raise UserError(f"{what}: the input arrays need one common, non-zero example count (got {sorted(counts)})")
    return picked


def tolerances_for(modes: Sequence[str], tolerances: ParityConfig | Mapping[str, ModeTolerance] | None
                   ) -> dict[str, ModeTolerance]:
    source = tolerances if tolerances is not None else ParityConfig()
    if isinstance(source, ParityConfig):
        return {mode: getattr(source, mode) for mode in modes}
    defaults = ParityConfig()
    return {mode: source.get(mode, getattr(defaults, mode)) for mode in modes}


def export_model(
    model,
    *,
    representative: Mapping[str, np.ndarray],
    out: str | Path,
    heldout: Mapping[str, np.ndarray] | None = None,
    modes: Sequence[str] | None = None,
    labels: Sequence[str] | None = None,
    output_spec: OutputSpec | None = None,
    tolerances: ParityConfig | Mapping[str, ModeTolerance] | None = None,
    options: ExportConfig | None = None,
    info: BundleInfo | None = None,
    batch_size: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> ExportReport:
    """Convert ``model`` to every mode, prove each file against Keras, write the bundle at ``out``.

    ``representative``: arrays keyed by the model's input names (int8 calibration). ``heldout``:
    the same keys plus an optional ``"target"`` array; parity runs on it (on ``representative``
    when absent). ``output_spec`` says what the output means and how to judge it (default: inferred
    from the outputs, labels and target). ``tolerances`` per mode (default ``ParityConfig()``);
    ``options`` the remaining export settings (modes, threads, golden examples, allow_flex, ...;
    ``modes``/``tolerances`` given here win). ``batch_size`` bakes a batch into the graph (default:
    1 when the model has LSTMs, whose fused op needs one, else dynamic). is the
    model whose outputs are the reference (default ``model``).
    Raises ``UserError`` for input that cannot be exported; a failed parity check is not an
    exception: it is in the report (``report.passed``) and in every file of the bundle.
    ``progress`` is told each long step as it starts (conversion, each mode's check, a diagnosis).
    """
    from kerasuite.export import firmware, float16_range, parity, pixels, prepare, shared_scales, tflite
    from kerasuite.export.prepare import prepare_for_export
    from kerasuite.export.provenance import model_card, provenance
    from kerasuite.io_utils import write_json_atomic, write_text_atomic

    options = options or ExportConfig()
    info = info or BundleInfo()
    say = progress or (lambda message: None)
    try:
        device = info.device
    except (TypeError, ValueError) as error:
        raise UserError(f"info.preprocessing: {error}") from None
    modes = tuple(modes or options.modes)
    unknown = [mode for mode in modes if mode not in EXPORT_MODES]
    if unknown or not modes:
        raise UserError(f"modes: unknown mode {unknown[0] if unknown else '(none given)'!r}; "
                        f"choose from {', '.join(EXPORT_MODES)}")
    per_mode = tolerances_for(modes, tolerances if tolerances is not None else options.parity)
    prepared = prepare_for_export(model, options.lstm)
    sixteen_bit = _unrolled_for_int16x8(model, modes, prepared)
    names = [tensor.name for tensor in prepared.model.inputs]
    calibration = model_inputs(representative, names, "representative")
    file_dtypes = {tensor.name: tensor.dtype for tensor in prepared.model.inputs}  # 64-bit inputs become 32-bit
    calibration = {name: np.asarray(values).astype(file_dtypes[name], copy=False) for name, values in calibration.items()}
    check_source = heldout if heldout is not None else representative
    check_inputs = model_inputs(check_source, names, "heldout" if heldout is not None else "representative")
    image_input = getattr(device, "input", None) if device is not None and device.kind == "image" else None
    if image_input in check_inputs:
        # every runtime judges what MediaPipe (uint8 images) sees, so none fails for the rounding
        rounded, moved = pixels.whole_pixels(check_inputs[image_input], device.scale)
        if rounded is not None:
            check_inputs = {**check_inputs, image_input: rounded}
            prepared.conversions.append(f"parity inputs: '{image_input}' rounded to whole pixels ({moved:.0%} of "
                                        "values were between pixel levels; MediaPipe and cameras give uint8 images)")
    targets = None
    if heldout is not None and TARGET_KEY in heldout:
        targets = np.asarray(heldout[TARGET_KEY])
        if len(targets) != len(next(iter(check_inputs.values()))):
            raise UserError(f"heldout: {TARGET_KEY!r} has {len(targets)} rows but the inputs have "
                            f"{len(next(iter(check_inputs.values())))}")
    labels = list(labels) if labels is not None else None
    try:
        keras_outputs = predict_keras(model, check_inputs)
    except Exception as error:  # inputs whose dtype or shape the model does not take
        source = "heldout" if heldout is not None else "representative"
        raise UserError(f"{source}: model '{model.name}' cannot run on these arrays: {type(error).__name__}: "
                        f"{' '.join(str(error).split())[:200]}") from None
    if prepared.reference_change:
        float_outputs = predict_keras(prepared.model, check_inputs)
        gap = float(np.max(np.abs(float_outputs - keras_outputs), initial=0.0))
        prepared.conversions.append(f"parity reference: the model computing in float32, as the files do (its "
                                    f"{prepared.reference_change} outputs differ from that by at most {gap:.2g})")
        keras_outputs = float_outputs
    finite = np.isfinite(np.asarray(keras_outputs, np.float64)).reshape(len(keras_outputs), -1).all(axis=1)
    if not finite.all():
        # every verdict compares a file with these outputs: against NaN none can pass or mean anything
        source = "heldout" if heldout is not None else "representative"
        raise UserError(f"{source}: model '{model.name}' itself gives non-finite outputs (NaN or inf) on "
                        f"{int((~finite).sum())} of {len(finite)} examples (the first: row "
                        f"{int(np.argmin(finite))}), so no file can be judged against it; check the inputs' "
                        "range (a sqrt or log of negative values, an overflow)")
    import keras

    discrete = np.dtype(keras.backend.standardize_dtype(prepared.model.outputs[0].dtype)).kind in "iub"
    spec = output_spec or generic_output_spec(keras_outputs, targets, labels, discrete)
    if labels is not None and keras_outputs.ndim >= 2 and len(labels) != keras_outputs.shape[-1]:
        raise UserError(f"labels: {len(labels)} labels but the model outputs {keras_outputs.shape[-1]} values"
                        + (" per position" if keras_outputs.ndim > 2 else ""))
    batch = batch_size if batch_size is not None else prepared.batch_size

    out = Path(out)
    check_bundle_location(out)  # never replace a folder that is not a bundle
    out.parent.mkdir(parents=True, exist_ok=True)
    staging_prefix = f".{out.name}.staging-"
    remove_orphans(out.parent, staging_prefix)  # left by an export that was killed
    remove_orphans(Path(tempfile.gettempdir()), "kerasuite-export-")
    staging = Path(tempfile.mkdtemp(prefix=f"{staging_prefix}{os.getpid()}-", dir=out.parent))
    scratch = Path(tempfile.mkdtemp(prefix=f"kerasuite-export-{os.getpid()}-"))
    try:
        model_path = scratch / "export_model.keras"
        prepared.model.save(model_path)
        sources = {mode: model_path for mode in modes}
        if sixteen_bit is not None:
            sources["int16x8"] = scratch / "export_model_int16x8.keras"
            sixteen_bit.model.save(sources["int16x8"])
        representative_path = scratch / "representative.npz"
        save_arrays(representative_path, "input", calibration)
        converted = {mode: staging / f"model_{mode}.tflite" for mode in modes}
        crashes: dict[str, str] = {}  # a converter crash in one mode must not hide the others' verdicts
        rewrites: dict[str, list[str]] = {}  # what each mode's trace changed (the int16x8 sums)
        say(f"converting to {', '.join(modes)}")
        try:
            sizes = {}
            for source in dict.fromkeys(sources.values()):  # one converter child per source model
                sizes.update(tflite.convert_modes(
                    source, {mode: converted[mode] for mode in modes if sources[mode] == source},
                    representative_path, batch_size=batch, allow_flex=options.allow_flex,
                    import_modules=tuple(options.custom_layer_modules), compact=options.compact,
                    int8_weights=options.int8_weights,
                    uint8_inputs=device.uint8_inputs if device is not None else (), crashes=crashes,
                    rewrites=rewrites,
                ))
        except UserError as refused:
            culprits = prepare.flex_layers(prepared.model)
            hints = prepare.flex_op_hints(str(refused))
            if "not TFLite builtins" not in str(refused) or not (culprits or hints):
                raise
            behind = f"the layer{'s' if len(culprits) > 1 else ''} behind them: {', '.join(culprits)}" if culprits else ""
            raise UserError("; ".join(part for part in (str(refused), behind, "; ".join(hints)) if part)) from None
        if not sizes:  # nothing converted: no bundle to write
            mode = next(iter(crashes))
            raise CheckFailed(f"TFLite conversion ({', '.join(crashes)}): {crashes[mode]}")
        modes = tuple(mode for mode in modes if mode in sizes)
        sizes_without_metadata = dict(sizes)
        for mode in modes:  # TFLite Model Metadata: what MediaPipe Tasks read (labels, normalization...)
            sizes[mode] = write_metadata(converted[mode], mode, info, labels)
        # one Keras probe however many int8 modes fail
        concatenation_notes = functools.cache(lambda: shared_scales.narrow_concatenation_inputs(prepared.model,
                                                                                                calibration))
        exports: dict[str, dict[str, Any]] = {}
        described: dict[str, dict[str, Any]] = {}
        reference_outputs: dict[str, np.ndarray] = {}

        def diagnose_int8(mode: str) -> dict:
            say(f"{mode} failed parity: measuring each layer's int8 error (QuantizationDebugger)")
            return tflite.diagnose_int8(model_path, representative_path, batch, tuple(options.custom_layer_modules),
                                        int8_weights=options.int8_weights)

        for mode in modes:
            say(f"checking {mode} against Keras on {len(keras_outputs):,} examples")
            exports[mode], described[mode], reference_outputs[mode] = _judge_mode(
                mode, converted[mode], sizes[mode], spec, check_inputs, keras_outputs, per_mode[mode], options,
                functools.partial(diagnose_int8, mode),
                staging, info.task, device.kind if device is not None else None,
                concatenation_notes, functools.partial(float16_range.weights_beyond_float16, prepared.model),
                functools.partial(parity.beyond_calibration, check_inputs, calibration),
            )
            described[mode]["size_bytes_without_metadata"] = sizes_without_metadata[mode]
            # which runtimes this file is for: every one that applies to it
            described[mode]["for_runtimes"] = [name for name, verdict in described[mode]["runtimes"].items()
                                               if verdict["status"] != "not_applicable"]
        conversions = list(prepared.conversions)
        if sixteen_bit is not None and modes == ("int16x8",):
            # the unrolled copy's notes, and those written on the model after it was made
            conversions = [*sixteen_bit.conversions,
                           *(text for text in prepared.conversions if text not in sixteen_bit.conversions)]
        elif sixteen_bit is not None and "int16x8" in modes:
            conversions += [f"int16x8 file only: {text} (LiteRT cannot prepare the fused LSTM op with 16-bit "
                            "activations)" for text in sixteen_bit.conversions if "unrolled over" in text]
        from kerasuite.export import trace_rewrites

        conversions += trace_rewrites.conversions(prepared.model, modes)
        conversions += [line for mode in modes for line in rewrites.get(mode, [])]
        unfused = [mode for mode in modes if "WHILE" in described[mode]["ops"]]
        if unfused and any("LSTM" in text for text in conversions):
            conversions.append(f"an LSTM stayed a WHILE loop in {', '.join(unfused)}: a Keras mask (e.g. Embedding "
                               "mask_zero=True), activations other than tanh/sigmoid or returned states keep "
                               "Keras' own loop, and with no fixed length it cannot be unrolled; parity still "
                               "checks its numerics")
        (staging / FAILED_DIR).mkdir(exist_ok=True)
        for mode, result in exports.items():
            if not result["parity"]["passed"]:
                os.replace(converted[mode], staging / FAILED_DIR / converted[mode].name)
                result["file"] = described[mode]["file"] = f"{FAILED_DIR}/{converted[mode].name}"
            result["path"] = str(out / result["file"])
        if not any((staging / FAILED_DIR).iterdir()):
            (staging / FAILED_DIR).rmdir()
        for mode in modes:  # C array, op list and arena for firmware, for each passed file TFLM ran
            if mode in firmware.FIRMWARE_MODES and exports[mode]["parity"]["passed"] \
                    and "tflm" in exports[mode]["runtimes"]:
                tflm = firmware.write_firmware_files(staging, converted[mode], exports[mode]["runtimes"]["tflm"])
                if tflm is not None:
                    described[mode]["tflm"] = tflm

        classes = spec.class_targets
        if classes is None and spec.agreement is not None and spec.agreement.name == "top1_agreement":
            classes = np.argmax(keras_outputs, -1)
        if classes is not None and np.ndim(classes) != 1:  # a map: no one class per example to cover
            classes = None
        picked = golden_indices(len(keras_outputs), options.golden_examples, classes)
        for mode in modes:
            golden_diff = float(np.max(np.abs(reference_outputs[mode][picked] - keras_outputs[picked]), initial=0.0))
            described[mode]["golden_max_abs_diff"] = golden_diff
            described[mode]["golden_tolerance"] = golden_tolerance(per_mode[mode], golden_diff,
                                                                   parity.unit_or_larger(keras_outputs))
        save_arrays(staging / "golden.npz", "input", {k: v[picked] for k, v in check_inputs.items()},
                    keras_output=keras_outputs[picked], target=None if targets is None else targets[picked])
        if labels:
            write_text_atomic(staging / "labels.txt", "\n".join(labels) + "\n")
        if info.write_extras is not None and info.extras_step:
            say(info.extras_step)
        extra_files = (info.write_extras(staging) or {}) if info.write_extras is not None else {}
        for name, verdict in extra_files.items():  # a failed extra file never looks shippable either
            if not verdict["passed"] and (staging / name).is_file():
                (staging / FAILED_DIR).mkdir(exist_ok=True)
                os.replace(staging / name, staging / FAILED_DIR / name)
                verdict["file"] = f"{FAILED_DIR}/{name}"
        record = provenance({**info.data, "parity_examples": int(len(keras_outputs)),
                             "parity_on": "heldout" if heldout is not None else "representative inputs",
                             "calibration_examples": int(len(next(iter(calibration.values()))))})
        write_json_atomic(staging / "provenance.json", record)
        write_json_atomic(staging / "signature.json", {
            "task": info.task,
            "model": info.model,
            "output": {"name": "output", "meaning": spec.meaning},
            "preprocessing": info.preprocessing_json(),
            "labels": "labels.txt" if labels else None,
            "conversions": conversions,
            "failed_modes": [*crashes, *(mode for mode in modes if not exports[mode]["parity"]["passed"])],
            "unconverted_modes": crashes,
            "modes": described,
            **({"extra_files": extra_files} if extra_files else {}),
        })
        write_json_atomic(staging / "parity.json", {mode: result["parity"] for mode, result in exports.items()})
        summary = {"task": info.task, "model": info.model, "data": info.data.get("source"),
                   "output": spec.meaning, "Keras metrics": ", ".join(f"{k} {v:.4f}" for k, v in info.keras_eval.items()
                                                                       if isinstance(v, (int, float)))}
        write_text_atomic(staging / "MODEL_CARD.md", model_card(
            info.title, summary, exports, conversions, info.intended_use,
            info.limits + [f"parity measured on {len(keras_outputs)} examples "
                           f"({'held-out' if heldout is not None else 'the representative inputs: no held-out set was given'})"],
            record, crashes))
        os.chmod(staging, 0o755)  # mkdtemp makes it 0700; a bundle is meant to be read by others
        (staging / BUNDLE_MARKER).write_text("kerasuite edge bundle: a kerasuite export replaces this folder\n")
        _replace_dir(staging, out)
        return ExportReport(out, exports, conversions, crashes, extra_files)
    except OSError as error:
        if is_disk_full(error):
            raise disk_full_error(out, "export.dir") from None
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(staging, ignore_errors=True)


def write_metadata(path: Path, mode: str, info: BundleInfo, labels: Sequence[str] | None) -> int:
    """Embed TFLite Model Metadata into one converted file; returns its new size."""
    import datetime

    import kerasuite
    from kerasuite.export import metadata
    from kerasuite.runtime.interpreter import TFLiteModel

    try:
        probe = TFLiteModel(path)
    except UserError:  # a file LiteRT cannot load (Flex with allow_flex) fails its verdict next; no metadata
        return path.stat().st_size
    spec = metadata.bundle_spec(
        name=info.title or info.task or path.stem, task=info.task or "model", family=info.model or "",
        source=str(info.data.get("source") or "unrecorded data"),
        version=f"kerasuite {kerasuite.__version__}, exported {datetime.date.today().isoformat()}", mode=mode,
        input_names=probe.input_names, output_count=len(probe.outputs), preprocessing=info.device,
        labels=list(labels) if labels else None, vocabulary=info.vocabulary,
    )
    return metadata.write(path, spec)


def describe_file(path: Path, size: int, task: str, threads: int = 1):
    """(LiteRT runner or None, the description every runtime's applicability rule reads: inputs,
    outputs, ops, task). A file LiteRT cannot load (Flex ops) gets a description saying why."""
    from kerasuite.runtime.interpreter import TFLiteModel

    try:
        runner = TFLiteModel(path, threads=threads)
        return runner, {**runner.describe(), "file": path.name, "size_bytes": size, "ops": runner.op_names(),
                        "task": task}
    except UserError as error:  # e.g. Flex ops (--allow-flex): the verdicts say so, per runtime
        return None, {"inputs": [], "outputs": [], "file": path.name, "size_bytes": size, "ops": [],
                      "load_error": str(error), "task": task}


def _judge_mode(mode: str, path: Path, size: int, spec: OutputSpec, inputs: Arrays, keras_outputs: np.ndarray,
                tolerance: ModeTolerance, options: ExportConfig, diagnose: Callable[[], dict], staging: Path,
                task: str = "", device_kind: str | None = None,
                shared_scale_notes: Callable[[], list[str]] = list, float16_notes: Callable[[], list[str]] = list,
                calibration_notes: Callable[[int], list[str]] = lambda row: []):
    """One mode: every runtime's verdict, the headline numbers from the reference runtime."""
    from kerasuite.export import parity, runtimes

    runner, description = describe_file(path, size, task, options.threads)
    verdicts, outputs = runtimes.judge(
        path, mode, {**description, "task": task, "tflm": options.tflm, "device_kind": device_kind}, inputs, keras_outputs,
        lambda got: parity.compare(spec, keras_outputs, got, tolerance))
    # The headline numbers come from the reference runtime; from the first other runtime that ran
    # the file when it could not; from none when nothing ran it.
    headline = runtimes.REFERENCE_RUNTIME if runtimes.REFERENCE_RUNTIME in outputs else next(iter(outputs), None)
    if headline is None:
        reference = np.full_like(keras_outputs, np.nan)
        checked = parity.unmeasured(spec, keras_outputs, tolerance)
    else:
        reference = outputs[headline]
        checked = parity.compare(spec, keras_outputs, reference, tolerance)
        if headline != runtimes.REFERENCE_RUNTIME:
            checked["headline_runtime"] = headline
    checked["runtimes"] = verdicts
    checked["passed"] = runtimes.mode_passed(verdicts)
    could_not_run = [f"{name}: {verdict.get('reason', 'failed')}" for name, verdict in verdicts.items()
                     if verdict["status"] == "failed" and name not in outputs]
    numbers_elsewhere = [f"{name}: {verdict.get('reason', 'failed')}" for name, verdict in verdicts.items()
                         if verdict["status"] == "failed" and name in outputs and name != headline]
    checked["failures"] = could_not_run + checked["failures"] + numbers_elsewhere
    if verdicts.get(headline, {}).get("status") == "failed" and "reason" in verdicts[headline] \
            and not checked["failures"]:
        checked["failures"].append(verdicts[headline]["reason"])
    # Only a numerical failure gets the per-layer int8 diagnosis (a second calibration, minutes on
    # big models); a runtime that could not run the file says why in its own verdict.
    numerical = any(verdict["status"] == "failed" and "max_abs_diff" in verdict for verdict in verdicts.values())
    # a row beyond the calibrated range is lost where its inputs are quantized: say so next to it
    worst = checked.get("worst_example") or {}
    outside_calibration = calibration_notes(worst["index"]) \
        if mode in CALIBRATED_MODES and worst.get("failed") else []
    checked["failures"] += outside_calibration
    # a column lost to its output tensor's one scale, like an input's, is no error built up by ops
    narrow_column = bool((checked.get("worst_column") or {}).get("failed"))
    scale_notes = parity.narrow_input_features(inputs) + shared_scale_notes() \
        if mode.startswith("int8") and not checked["passed"] and numerical else []
    if mode == "int8" and not checked["passed"] and numerical:
        diagnosis = diagnose()
        checked["diagnosis"] = {k: v for k, v in diagnosis.items() if k != "layers"}
        checked["diagnosis"]["layers"] = diagnosis.get("layers", [])[:50]
        if "worst_layer" in diagnosis:
            from kerasuite.tasks import TASK_NAMES, task_spec

            # a user's model with integer inputs may still take int16x8 (ids into a plain Embedding
            # do); the tasks whose models take ids refuse it before TensorFlow starts
            offer_int16x8 = not (task in TASK_NAMES and task_spec(task).integer_inputs)
            checked["failures"].append(int8_error_line(diagnosis,
                                                       explained_by_scales=bool(scale_notes or outside_calibration)
                                                       or narrow_column, offer_int16x8=offer_int16x8))
        if "values_lost_layer" in diagnosis:
            checked["failures"].append(
                f"int8 rounds away the values of {diagnosis['values_lost_layer']} ({diagnosis['values_lost_op']}: "
                f"their RMS is {diagnosis['values_lost_signal_over_scale']:.2g} of one quantization step, so a far "
                f"larger value, such as a mask constant, sets that tensor's range)")
    checked["failures"] += scale_notes
    if mode == "float16" and not checked["passed"] and numerical:
        checked["failures"] += float16_notes()
    parity.plot_outputs(keras_outputs, reference, mode, staging / f"parity_{mode}.png", checked)
    verdict_text = "passed" if checked["passed"] else "failed"
    description.update({
        "verdict": verdict_text,
        "parity": {key: checked.get(key) for key in ("agreement", "max_abs_diff", "mean_abs_diff", "failures")},
        "runtimes": verdicts,
    })
    result = {
        "file": path.name,
        "size_bytes": size,
        "verdict": verdict_text,
        "eval": checked["tflite"],
        "parity": checked,
        "latency_ms": _latency(runner, inputs, options.latency_runs) if runner and headline else None,
        "ops": description["ops"],
        "runtimes": verdicts,
    }
    unquantized = mode == "dynamic" and runner is not None and not any(
        detail["dtype"] == np.int8 for detail in runner.interpreter.get_tensor_details())
    if unquantized:
        # a passing verdict on a file that is float32 in all but name would hide that nothing shrank
        note = ("no weight tensor is large enough for dynamic-range quantization (TFLite leaves tensors under "
                "1,024 values in float32): this file is the float32 model; float16 or int8 make it smaller")
        result["notes"] = description["notes"] = [note]
    return result, description, reference


def _latency(runner, inputs: Arrays, runs: int) -> dict[str, float] | None:
    """LiteRT's p50/p90 on one example, or None when it cannot time the file (the verdicts say why
    it could not run it; a timing failure must not end the export with a traceback)."""
    try:
        return runner.latency_ms(inputs, runs=runs)
    except Exception:
        return None


def golden_tolerance(tolerance: ModeTolerance, measured: float, scale: float = 1.0) -> float:
    """Per-example bound for ``kerasuite.edge --check``: twice what this mode actually showed on
    the golden examples (floor 0.02), so a device whose runtime rounds one quantization step
    differently still passes and a wrong model does not; no looser than the mode's max_abs_diff
    where one is set. A loose max_abs_diff (ranking's int8 1.0, whose metric bound does the
    judging) no longer becomes the device's bound: at 4.4 rating points a golden file shifted by 3
    passed. ``scale`` (the largest Keras output, at least 1) makes both relative for large
    outputs, as in the parity check."""
    bound = max(2.0 * measured, 0.02 * scale)
    if tolerance.max_abs_diff is not None:
        bound = min(bound, float(tolerance.max_abs_diff) * scale)
    return bound


def _replace_dir(staging: Path, target: Path) -> None:
    """Swap the finished staging folder in. Only a folder that is a kerasuite bundle (marker file,
    or an old-style bundle) is ever replaced: anything else is refused, never deleted."""
    if not target.exists() and not target.is_symlink():
        os.replace(staging, target)
        return
    if not is_bundle_dir(target):
        raise UserError(f"export.dir {target}: exists and is not a kerasuite bundle (no {BUNDLE_MARKER} file); "
                        "not replacing it; choose another export.dir or remove it yourself")
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    os.replace(target, old)  # onto the empty folder just made: a name no one else uses
    os.replace(staging, target)
    shutil.rmtree(old, ignore_errors=True)


def _unrolled_for_int16x8(model, modes: Sequence[str], prepared: "PreparedModel") -> "PreparedModel | None":
    """The model with its LSTMs unrolled, for the int16x8 file, when ``prepared`` fused them: LiteRT
    fails to prepare a 16x8 ``UNIDIRECTIONAL_SEQUENCE_LSTM`` ("output_state != nullptr"), while the
    unrolled steps are builtin ops with 16x8 kernels (a user's 24-unit LSTM over 20 steps: agreement
    0.99 with Keras, both LiteRT APIs). None when there is nothing to change, or when an LSTM has
    no fixed length to unroll over (the fused file then fails its verdict naming the op)."""
    from kerasuite.export.prepare import all_layers, prepare_for_export
    from kerasuite.models.layers.fusable_lstm import FusableLSTM

    fused = any(isinstance(layer, FusableLSTM) and not layer.unroll for layer in all_layers(prepared.model))
    if "int16x8" not in modes or not fused:
        return None
    try:
        return prepare_for_export(model, "unrolled")
    except UserError:
        return None


def int8_error_line(diagnosis: dict, explained_by_scales: bool = False, offer_int16x8: bool = True) -> str:
    """The per-layer diagnosis as one reason. Its errors are each op's own (float op on the int8
    inputs, against the int8 op), so when none is above one quantization step no op is to blame:
    naming the largest sent users to fix a layer that was fine (an EfficientNetB0 failed at 0.945
    agreement with "largest int8 error at predictions", 0.72 steps, the last of 200+ int8 ops;
    its int16x8 file passed at 0.996). ``explained_by_scales``: a note on the file's int8 scales
    (an input or a concatenation sharing one scale over different ranges) follows, and that
    loss is made where the values are quantized, which no op's own error shows: the build-up
    claim would be wrong there. ``offer_int16x8``: false for a task that refuses int16x8 (its
    models take integer ids), where suggesting it would send the user to a refusal."""
    import math

    from kerasuite.runtime.tflm import FUSED_SEQUENCE_OPS

    if not math.isfinite(diagnosis["rmse_over_scale"]):
        # the float op on int8 inputs is the reference, so an infinite error is a value int8 rounded
        # to zero that the op cannot take (Keras' MelSpectrogram: LOG of a 1e-10 floor under one step)
        return (f"int8 error at {diagnosis['worst_layer']} ({diagnosis['worst_op']}): an input it takes rounds to "
                "zero in int8 and the op is infinite there (a floor such as a log's smallest value is below one "
                "quantization step of its input); dynamic and float16 keep float activations")
    worst = (f"{diagnosis['worst_layer']} ({diagnosis['worst_op']}, "
             f"{diagnosis['rmse_over_scale']:.2f} quantization steps RMS)")
    # A fused sequence op runs its whole recurrence inside one op, so its output error is already
    # the built-up one: it stays the one to name.
    if diagnosis.get("first_layer_over_1_step") is None and diagnosis["rmse_over_scale"] <= 1.0 \
            and diagnosis["worst_op"] not in FUSED_SEQUENCE_OPS:
        if explained_by_scales:
            return f"no op's own int8 error is above one quantization step (largest: {worst})"
        remedies = ("int16x8 keeps int8 weights with 16-bit activations, dynamic and float16 keep float ones"
                    if offer_int16x8 else "dynamic and float16 keep float activations")
        return (f"no op's own int8 error is above one quantization step (largest: {worst}): the error "
                f"builds up over the {len(diagnosis.get('layers', []))} int8 ops rather than at one of "
                f"them; {remedies}")
    return f"largest int8 error at {worst}"
