"""Build the edge bundle: every requested mode converted, checked and described.

The bundle is assembled in a staging folder and renamed into place at the end, so a failed
export never leaves a half-written bundle (or a stale mix of old and new files) behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from kerasuite import config as cfg
from kerasuite.export import firmware, parity, runtimes, tflite
from kerasuite.io_utils import atomic_path, write_json_atomic, write_text_atomic
from kerasuite.runtime.interpreter import TFLiteModel
from kerasuite.tasks.base import Arrays, Heldout, Task, TaskData


def predict_keras(model, inputs: Arrays, batch_size: int = 256) -> np.ndarray:
    return np.asarray(model.predict(inputs, batch_size=batch_size, verbose=0), np.float32)


def representative_arrays(task: Task, data: TaskData, config: cfg.RunConfig) -> Arrays:
    parts: dict[str, list[np.ndarray]] = {}
    for batch in task.representative_inputs(data, config):
        for name, value in batch.items():
            parts.setdefault(name, []).append(np.asarray(value))
    return {name: np.concatenate(values) for name, values in parts.items()}


def save_arrays(path: Path, prefix: str, arrays: Arrays, **extra: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **{f"{prefix}__{k}": v for k, v in arrays.items()}, **extra)


def export_bundle(
    task: Task, model, data: TaskData, config: cfg.RunConfig, bundle_dir: Path, run_dir: Path
) -> dict[str, Any]:
    """Convert, check and describe each mode; returns ``metrics.json``'s ``exports`` block."""
    export_model = task.export_model(model, data)
    heldout = task.heldout(data, config.export.parity.max_examples)
    keras_outputs = predict_keras(export_model, heldout.inputs)

    bundle_dir = Path(bundle_dir)
    bundle_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{bundle_dir.name}.", dir=bundle_dir.parent))
    scratch = Path(tempfile.mkdtemp(prefix="kerasuite-export-"))
    try:
        model_path = scratch / "export_model.keras"
        export_model.save(model_path)
        representative_path = None
        if "int8" in config.export.modes:
            representative_path = scratch / "representative.npz"
            save_arrays(representative_path, "input", representative_arrays(task, data, config))

        results: dict[str, Any] = {}
        described: dict[str, Any] = {}
        paths = {mode: staging / f"model_{mode}.tflite" for mode in config.export.modes}
        sizes = tflite.convert_modes(
            model_path, paths, representative_path,
            batch_size=task.export_batch_size, allow_flex=config.export.allow_flex,
            import_modules=config.export.custom_layer_modules,
            compact=config.export.compact, int8_weights=config.export.int8_weights,
        )
        for mode in config.export.modes:
            out, size = paths[mode], sizes[mode]
            runner = TFLiteModel(out, threads=config.export.threads)
            tflite_outputs = runner.predict(heldout.inputs)
            tolerance = getattr(config.export.parity, mode)
            checked = parity.compare(task, data, heldout, keras_outputs, tflite_outputs, tolerance)
            if mode == "int8" and not checked["passed"]:
                diagnosis = tflite.diagnose_int8(model_path, representative_path, task.export_batch_size,
                                                 config.export.custom_layer_modules,
                                                 int8_weights=config.export.int8_weights)
                checked["diagnosis"] = {k: v for k, v in diagnosis.items() if k != "layers"}
                checked["diagnosis"]["layers"] = diagnosis.get("layers", [])[:50]
                if "worst_layer" in diagnosis:
                    checked["failures"].append(
                        f"largest int8 error at {diagnosis['worst_layer']} ({diagnosis['worst_op']}, "
                        f"{diagnosis['rmse_over_scale']:.2f} quantization steps RMS)"
                    )
            verdicts = judge_runtimes(task, data, heldout, keras_outputs, tolerance, out, mode, checked,
                                      runner.describe())
            parity.plot_outputs(keras_outputs, tflite_outputs, mode, staging / f"parity_{mode}.png")
            results[mode] = {
                "path": str(bundle_dir / out.name),
                "size_bytes": size,
                "eval": checked["tflite"],
                "parity": checked,
                "latency_ms": runner.latency_ms(heldout.inputs, runs=config.export.latency_runs),
                "ops": runner.op_names(),
                "runtimes": verdicts,
            }
            golden_count = config.export.golden_examples
            golden_diff = float(np.max(np.abs(tflite_outputs[:golden_count] - keras_outputs[:golden_count]), initial=0.0))
            described[mode] = {**runner.describe(), "file": out.name, "size_bytes": size,
                               "golden_max_abs_diff": golden_diff,
                               "golden_tolerance": golden_tolerance(tolerance, golden_diff),
                               "runtimes": verdicts}
            if mode in firmware.FIRMWARE_MODES and "tflm" in verdicts:
                tflm = firmware.write_firmware_files(staging, out, verdicts["tflm"])
                if tflm is not None:
                    described[mode]["tflm"] = tflm

        golden = heldout.take(config.export.golden_examples)
        save_arrays(staging / "golden.npz", "input", golden.inputs,
                    keras_output=keras_outputs[: len(golden)], target=golden.targets)
        if data.labels:
            write_text_atomic(staging / "labels.txt", "\n".join(data.labels) + "\n")
        task.write_bundle_extras(data, staging)
        write_json_atomic(staging / "signature.json", {
            "task": task.name,
            "model": config.model.family,
            "output": {"name": "output", "meaning": output_meaning(task)},
            "preprocessing": task.device_preprocessing(data, config),
            "labels": "labels.txt" if data.labels else None,
            "modes": described,
        })
        write_json_atomic(staging / "parity.json", {m: r["parity"] for m, r in results.items()})
        _replace_dir(staging, bundle_dir)
        return results
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(staging, ignore_errors=True)


def judge_runtimes(task: Task, data: TaskData, heldout: Heldout, keras_outputs: np.ndarray,
                   tolerance: cfg.ModeTolerance, path: Path, mode: str, checked: dict[str, Any],
                   description: dict[str, Any]) -> dict[str, dict]:
    """Per-runtime verdicts on one file: LiteRT's from ``checked`` (the reference, already
    compared) plus every other registered runtime (TFLM, ...). ``checked`` gains ``runtimes``, their
    failures, and ``passed`` only if every applicable runtime passed."""
    others = {name: entry for name, entry in runtimes.RUNTIMES.items() if name != runtimes.REFERENCE_RUNTIME}
    verdicts, _ = runtimes.judge(
        path, mode, {**description, "task": task.name, "file": Path(path).name}, heldout.inputs, keras_outputs,
        lambda got: parity.compare(task, data, heldout, keras_outputs, got, tolerance), runtimes=others)
    verdicts = {runtimes.REFERENCE_RUNTIME: reference_verdict(checked), **verdicts}
    checked["runtimes"] = verdicts
    checked["failures"] += [f"{name}: {v['reason']}" for name, v in verdicts.items()
                            if name != runtimes.REFERENCE_RUNTIME and v["status"] == "failed"]
    checked["passed"] = runtimes.mode_passed(verdicts)
    return verdicts


def reference_verdict(checked: dict[str, Any]) -> dict[str, Any]:
    verdict = {"status": "passed" if checked["passed"] else "failed", "agreement": checked["agreement"],
               "max_abs_diff": checked["max_abs_diff"], "mean_abs_diff": checked["mean_abs_diff"],
               "eval": checked["tflite"], "failures": list(checked["failures"]), "api": "Interpreter"}
    if not checked["passed"]:
        verdict["reason"] = "; ".join(checked["failures"])
    return verdict


def golden_tolerance(tolerance: cfg.ModeTolerance, measured: float) -> float:
    """Per-example bound for ``kerasuite.edge --check``: the mode's max_abs_diff where one is set;
    else twice what this mode actually showed on the golden examples (floor 0.02), so a device
    whose runtime rounds one quantization step differently still passes and a wrong model does not."""
    if tolerance.max_abs_diff is not None:
        return float(tolerance.max_abs_diff)
    return max(2.0 * measured, 0.02)


def output_meaning(task: Task) -> str:
    return {
        "classification": "class probabilities, in labels.txt order",
        "topk": "query embedding; score candidates with candidates.npy",
        "regression": "predicted score",
    }.get(task.agreement_kind, "model output")


def _replace_dir(staging: Path, target: Path) -> None:
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, target)
