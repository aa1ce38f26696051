"""One training run, top to bottom: the steps behind ``python -m kerasuite.train``."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

from kerasuite import config as cfg
from kerasuite.errors import CheckFailed, UserError
from kerasuite.io_utils import write_json_atomic


def run_name(config: cfg.RunConfig) -> str:
    if config.name:
        return config.name
    data = re.sub(r"[^A-Za-z0-9]+", "-", Path(config.data.source.split(":", 1)[-1]).name or config.data.source).strip("-")
    return f"{config.task}-{config.model.family}-{data}".lower()


def run_paths(config: cfg.RunConfig) -> tuple[Path, Path]:
    name = run_name(config)
    run_dir = Path(config.run_dir or Path("runs") / name)
    bundle_dir = Path(config.export.dir or Path("exports") / name)
    return run_dir, bundle_dir


def prepare_run_dir(run_dir: Path, overwrite: bool) -> None:
    """Refuse to silently replace a finished run; make sure the folder is writable."""
    if (run_dir / "metrics.json").exists():
        if not overwrite:
            raise UserError(
                f"{run_dir}: holds a finished run (metrics.json); pass --overwrite or choose another --run-dir"
            )
        shutil.rmtree(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-probe"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise UserError(f"--run-dir {run_dir}: not writable ({error.strerror or error})") from None


def run(config: cfg.RunConfig, overwrite: bool = False, verbose: bool = False) -> dict[str, Any]:
    """Train, evaluate, export and check one configuration; returns the metrics report."""
    from kerasuite.tasks import get_task

    task = get_task(config.task)
    if config.model.family not in task.families:
        raise UserError(
            f"--model {config.model.family!r}: not a family of {task.name}; choose from {', '.join(task.families)}"
        )
    run_dir, bundle_dir = run_paths(config)
    prepare_run_dir(run_dir, overwrite)
    cfg.save(config, run_dir / "config.json")

    import keras
    import tensorflow as tf

    from kerasuite import distribute
    from kerasuite.training.fit import fit

    if not verbose:
        tf.get_logger().setLevel("ERROR")
    keras.utils.set_random_seed(config.seed)
    strategy = distribute.make_strategy(config.train.strategy)
    chief = distribute.is_chief()

    data = task.load_data(config)
    with strategy.scope():
        model = task.build_model(config, data)
        task.compile_model(model, config, data)

    history = fit(task, model, data, config, run_dir)
    report: dict[str, Any] = {
        "task": config.task,
        "model": config.model.family,
        "data": config.data.source,
        "run_dir": str(run_dir),
        "eval": task.evaluate(model, data, config),
        "train": history,
    }
    if data.info.get("skipped_files"):
        report["skipped_files"] = int(data.info["skipped_files"])
    if not chief:
        return report

    save_model(model, run_dir / "model.keras")
    if config.export.modes:
        from kerasuite.export.bundle import export_bundle

        report["exports"] = export_bundle(task, model, data, config, bundle_dir, run_dir)
    else:
        report["exports"] = {}
    write_json_atomic(run_dir / "metrics.json", report)
    print_summary(report)
    failed = [mode for mode, result in report["exports"].items() if not result["parity"]["passed"]]
    if failed:
        reasons = "; ".join(f"{m}: {', '.join(report['exports'][m]['parity']['failures'])}" for m in failed)
        raise CheckFailed(f"parity failed for {', '.join(failed)} ({reasons}); see {run_dir / 'metrics.json'}")
    return report


def save_model(model, path: Path) -> None:
    """Keras insists on a .keras suffix, so the temporary name keeps it."""
    import os

    tmp = path.with_name(f".{path.stem}.partial.keras")
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def print_summary(report: dict[str, Any]) -> None:
    metric_text = ", ".join(f"{k}={v:.4f}" for k, v in report["eval"].items() if isinstance(v, (int, float)))
    train = report["train"]
    print(f"\n{report['task']} / {report['model']} on {report['data']}")
    print(f"  keras   {metric_text}  ({train['epochs']} epochs, {train['seconds']:.1f} s, "
          f"{train['examples_per_second']:.0f} examples/s)")
    exports = report.get("exports", {})
    if exports:
        print(f"  {'mode':<8} {'size':>10} {'metric':>10} {'agreement':>10} {'max|diff|':>10} {'p50 ms':>8}  parity")
        for mode, result in exports.items():
            parity = result["parity"]
            metric = next(iter(result["eval"].values()), float("nan"))
            agreement = parity.get("agreement")
            print(
                f"  {mode:<8} {result['size_bytes']:>10,} {metric:>10.4f} "
                f"{(f'{agreement:.4f}' if agreement is not None else '-'):>10} {parity['max_abs_diff']:>10.2e} "
                f"{result['latency_ms']['p50']:>8.3f}  {'passed' if parity['passed'] else 'FAILED'}"
            )
    print(f"  run folder: {report['run_dir']}   TensorBoard: tensorboard --logdir {report['run_dir']}/logs")
    if exports:
        print(f"  edge bundle: {Path(next(iter(exports.values()))['path']).parent}")
