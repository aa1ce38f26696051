"""Re-check a finished run: the Keras model in RUN_DIR against every .tflite in its bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from kerasuite.errors import UserError, one_line_exit


def locate(run_dir: Path):
    """(config, config path, model path, bundle folder, .tflite files) of a finished run, checked
    without TensorFlow so that a wrong folder is refused at once."""
    from kerasuite import config as cfg
    from kerasuite.training.runner import run_paths

    config_path = run_dir / "config.json"
    model_path = run_dir / "model.keras"
    for path in (config_path, model_path):
        if not path.is_file():
            raise UserError(f"{run_dir}: not a finished run folder (missing {path.name})")
    config = cfg.resolve_saved(config_path)
    _, bundle_dir = run_paths(config)
    tflite_files = sorted([*bundle_dir.glob("model_*.tflite"), *bundle_dir.glob("failed/model_*.tflite")])
    if not tflite_files:
        if not bundle_dir.is_absolute() and not bundle_dir.exists():
            # the run's folders and data are relative to where it was made, not to this command
            raise UserError(f"{bundle_dir}: no such bundle folder under {Path.cwd()}; paths in {config_path} are "
                            "relative to the folder the run was made in: run this command from there")
        raise UserError(f"{bundle_dir}: no model_*.tflite files to check")
    return config, config_path, model_path, bundle_dir, tflite_files


def recheck(run_dir: Path) -> tuple[dict, dict]:
    """(each mode's parity result, written to parity.json; the task's extra model files' verdicts)."""
    config, config_path, model_path, bundle_dir, tflite_files = locate(run_dir)

    import kerasuite.models  # noqa: F401  custom layers for safe loading
    from kerasuite.export import runtimes
    from kerasuite.export.api import predict_keras
    from kerasuite.export.parity import compare
    from kerasuite.io_utils import write_json_atomic
    from kerasuite.tasks import get_task

    task = get_task(config.task)
    data = task.load_data(config)
    model = load_trusted_model(model_path)
    heldout = task.heldout(data, config.export.parity.max_examples)
    try:
        data = task.with_trained_model(model, data)
        spec = task.output_spec(data, heldout)
        export_model = task.export_model(model, data)
        keras_outputs = predict_keras(export_model, heldout.inputs)
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as error:
        # a valid .keras file of another architecture: its inputs or layers do not fit this run
        first = (" ".join(str(error).split()) or type(error).__name__)[:160]
        raise UserError(f"{model_path}: does not fit this run's {config.task} / {config.model.family} "
                        f"settings in {config_path} ({type(error).__name__}: {first})") from None
    results = {}
    for path in tflite_files:
        mode = path.stem.removeprefix("model_")
        tolerance = getattr(config.export.parity, mode, None)
        if tolerance is None:
            continue
        from kerasuite.export.api import describe_file

        _, description = describe_file(path, path.stat().st_size, config.task, config.export.threads)
        verdicts, outputs = runtimes.judge(path, mode, description, heldout.inputs, keras_outputs,
                                           lambda got: compare(spec, keras_outputs, got, tolerance))
        reference = outputs.get(runtimes.REFERENCE_RUNTIME)
        result = compare(spec, keras_outputs, reference if reference is not None
                         else np.full_like(keras_outputs, np.nan), tolerance)
        result["runtimes"] = verdicts
        result["passed"] = runtimes.mode_passed(verdicts)
        result["failures"] += [f"{name}: {verdict.get('reason', 'failed')}" for name, verdict in verdicts.items()
                               if verdict["status"] == "failed" and name != runtimes.REFERENCE_RUNTIME]
        results[mode] = result
    write_json_atomic(bundle_dir / "parity.json", results)
    return results, task.check_bundle_extras(data, bundle_dir) or {}


def load_trusted_model(path: Path):
    """Load a .keras file with ``safe_mode=True``: a file from elsewhere carrying a Lambda layer
    (arbitrary Python bytecode) or that is not a Keras archive is refused in one line."""
    import keras

    try:
        return keras.saving.load_model(path, safe_mode=True)
    except Exception as error:  # Keras raises ValueError/TypeError/OSError/zipfile errors here
        text = " ".join(str(error).split())
        if "safe_mode" in text or "Lambda" in text:
            reason = "it holds a Lambda layer or other Python code, which safe_mode refuses to run"
        else:
            reason = f"not a loadable Keras model ({type(error).__name__}: {text[:160]})"
        raise UserError(f"{path}: {reason}; only load .keras files you trained or trust") from None


def main(argv: Sequence[str] | None = None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(prog="python -m kerasuite.parity", description="Re-run the parity harness on RUN_DIR's exports.")
    parser.add_argument("run_dir", metavar="RUN_DIR")
    args = parser.parse_args(argv)
    from kerasuite.train import quiet_tensorflow

    quiet_tensorflow(verbose=False)  # Keras' warnings too, as the run that wrote the bundle had them
    # one_line_exit: a bad folder is one line (exit 2), a Ctrl-C too (130; parity.json is written
    # in one step at the end, so nothing is half-written)
    return one_line_exit(lambda: _recheck_and_report(Path(args.run_dir)))


def _recheck_and_report(run_dir: Path) -> int:
    locate(run_dir)
    from kerasuite.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    results, extra_files = recheck(run_dir)
    failed = []
    for mode, result in results.items():
        agreement = result.get("agreement")
        print(f"{mode:<8} {'passed' if result['passed'] else 'FAILED'}  max|diff| {result['max_abs_diff']:.3g}"
              + (f"  agreement {agreement:.4f}" if agreement is not None else "")
              + (f"  ({'; '.join(result['failures'])})" if result["failures"] else ""))
        if not result["passed"]:
            failed.append(mode)
    for name, verdict in extra_files.items():
        print(f"{name}: {'passed' if verdict['passed'] else 'FAILED'}  {verdict['summary']}"
              + (f"  ({'; '.join(verdict['failures'])})" if verdict["failures"] else ""))
        if not verdict["passed"]:
            failed.append(name)
    return 1 if failed else 0
