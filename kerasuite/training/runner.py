"""One training run, top to bottom: the steps behind ``python -m kerasuite.train``."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
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


def preflight(config: cfg.RunConfig, overwrite: bool) -> None:
    """The run-folder checks that need no TensorFlow, so ``kerasuite.train`` makes them before
    importing it: path names the file system cannot hold, a finished run, a folder that cannot
    be created, an interrupted run with other settings. ``run`` repeats them (cheap)."""
    from kerasuite.cluster import is_chief, tf_config

    run_dir, bundle_dir = run_paths(config)
    check_locations(config, run_dir, bundle_dir)  # overlapping folders: the export would delete the run
    check_name_lengths(run_dir, "--run-dir" if config.run_dir else "name")
    if config.export.modes:
        check_name_lengths(bundle_dir, "--set export.dir" if config.export.dir else "name")
    if config.train.strategy == "multi_worker" and tf_config() is None:
        raise UserError("--strategy multi_worker: needs TF_CONFIG describing the cluster (see tools/launch_local_cluster.py)")
    if is_chief():  # also refuses a malformed TF_CONFIG
        if config.export.modes:
            check_output_location(bundle_dir, "--set export.dir")
            from kerasuite import locations

            locations.check_bundle_owner(bundle_dir, run_dir)
        check_run_dir(run_dir, overwrite, config)
    elif (run_dir / "metrics.json").exists() and not overwrite:
        raise UserError(f"{run_dir}: holds a finished run (metrics.json); pass --overwrite or choose another --run-dir")


def check_name_lengths(path: Path, flag: str) -> None:
    for part in path.parts:
        size = len(os.fsencode(part))
        if size > cfg.MAX_NAME_BYTES:
            raise UserError(f"{flag}: a folder name of {size} bytes is too long (at most {cfg.MAX_NAME_BYTES}): "
                            f"{part[:40]}...")


def check_run_dir(run_dir: Path, overwrite: bool, config: cfg.RunConfig | None = None) -> None:
    """Before any work: refuse to silently replace a finished run, or to resume an interrupted
    one with other settings, or a run folder that can never be created. Writes nothing."""
    if (run_dir / "metrics.json").exists() and not overwrite:
        raise UserError(
            f"{run_dir}: holds a finished run (metrics.json); pass --overwrite or choose another --run-dir"
        )
    check_output_location(run_dir, "--run-dir")
    check_holds_a_run(run_dir)
    if not overwrite and config is not None:
        check_resumable(run_dir, config)


def check_holds_a_run(run_dir: Path) -> None:
    """A non-empty run folder must be a run's (its config.json is a run config): a rerun replaces
    config.json, model.keras and logs/, and --overwrite deletes the folder whole, so a mistyped
    --run-dir (``.`` in a project holding its own config.json) would lose someone's files."""
    # dot names are the atomic writers' temporaries, which a run killed mid-write leaves behind
    if not run_dir.is_dir() or all(entry.name.startswith(".") for entry in run_dir.iterdir()):
        return
    try:
        saved = json.loads((run_dir / "config.json").read_text())
    except (OSError, ValueError):
        saved = None
    if not (isinstance(saved, dict) and "task" in saved and isinstance(saved.get("train"), dict)):
        raise UserError(f"--run-dir {run_dir}: holds files but no run (no kerasuite config.json); "
                        "give a new or empty folder, or one a run wrote")


def create_run_dir(run_dir: Path, overwrite: bool) -> None:
    """Once the inputs are known good: clear an old run (``--overwrite``), create the folder and
    make sure it is writable."""
    if overwrite and ((run_dir / "metrics.json").exists() or (run_dir / "config.json").exists()):
        shutil.rmtree(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-probe"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise UserError(f"--run-dir {run_dir}: not writable ({error.strerror or error})") from None


# Settings a resumed run may change: they do not alter the model, the data or the optimizer
# (train.epochs only with a constant learning rate and no weight average; check_resumable).
RESUME_MAY_CHANGE = ("train.epochs", "train.verbose", "train.check_baseline", "train.strategy", "train.logical_cpus",
                     "train.steps_per_execution", "export.", "run_dir", "preset")


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): value}


def check_resumable(run_dir: Path, config: cfg.RunConfig) -> None:
    """A backup restores weights into whatever model this run builds: refuse one left by a run
    with other settings (a different model, data or optimizer) instead of resuming it wrongly."""
    saved_path = run_dir / "config.json"
    resumable = (run_dir / "backup").is_dir() or (run_dir / TRAINING_DONE).is_file()
    if not resumable or not saved_path.is_file():
        return
    try:
        saved = _flatten(json.loads(saved_path.read_text()))
    except (OSError, ValueError):
        raise UserError(f"{saved_path}: unreadable, so the backup beside it cannot be resumed safely; pass --overwrite") from None
    current = _flatten(cfg.to_dict(config))
    # A config.json written before the config was split per task also names other domains'
    # sections (data.audio, model.lstm...): not settings of this run.
    current_sections = {key.rsplit(".", 1)[0] for key in current}
    for key in sorted(set(saved) | set(current)):
        if key.startswith(RESUME_MAY_CHANGE):
            continue
        if key not in current and key.rsplit(".", 1)[0] not in current_sections:
            continue
        if saved.get(key) != current.get(key):
            raise UserError(
                f"{run_dir}: holds an interrupted run with {key}={saved.get(key)!r}, not {current.get(key)!r}; "
                "rerun with its settings to resume, or pass --overwrite to start over"
            )
    # More or fewer epochs change the optimizer too when its schedule is planned over them: the
    # rest of the run would follow a schedule that neither the first run nor a fresh one has.
    planned = [f"{key}={current[key]}" for key in ("train.lr_schedule", "train.ema_momentum")
               if current.get(key) not in (None, "constant", 0, 0.0)]
    if planned and "train.epochs" in saved and saved["train.epochs"] != current.get("train.epochs"):
        raise UserError(
            f"{run_dir}: holds an interrupted run with train.epochs={saved['train.epochs']!r}, not "
            f"{current.get('train.epochs')!r}, with {', '.join(planned)} planned over them; rerun with its "
            "epochs to resume, or pass --overwrite to start over"
        )


def check_locations(config: cfg.RunConfig, run_dir: Path, bundle_dir: Path) -> None:
    """Pure Python, before any TensorFlow work: a run name that is a path, or a run folder and
    export folder that overlap (the export's folder swap would delete the run)."""
    from kerasuite import locations

    locations.check_run_name(config.name)
    if config.export.modes:
        locations.check_separate(run_dir, bundle_dir)
        locations.check_bundle_location(bundle_dir)


def check_output_location(path: Path, flag: str) -> None:
    """Fail before training, not after, when an output folder can never be created (its parent
    is a file, or a folder this user cannot write)."""
    import os

    probe = path
    while not probe.exists():
        if probe.parent == probe:
            return
        probe = probe.parent
    if not probe.is_dir():
        raise UserError(f"{flag} {path}: cannot be created, {probe} is a file")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"{flag} {path}: cannot be created, {probe} is not writable")


def check_run_dir_space(run_dir: Path, model) -> None:
    """Before training: the run folder must hold the backup (written beside the previous one,
    then renamed), model.keras and the logs, or a full disk would crash HDF5 mid-epoch."""
    from kerasuite import locations
    from kerasuite.training.fit import backup_bytes

    locations.check_free_space(run_dir, 3 * backup_bytes(model) + 512 * 1024, "the run's backup and model.keras")


def check_mixed_precision(config: cfg.RunConfig) -> None:
    if not config.train.mixed_precision:
        return
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        raise UserError(
            "train.mixed_precision=true: needs a GPU (float16 math is emulated, hence slower, on CPU); "
            "none is visible, so leave it false"
        )


def run(config: cfg.RunConfig, overwrite: bool = False, verbose: bool = False) -> dict[str, Any]:
    """Train, evaluate, export and check one configuration; returns the metrics report.

    In a multi-worker cluster every worker calls this with the same configuration; only the chief
    touches ``RUN_DIR`` and the export bundle (see :mod:`kerasuite.distribute`).
    """
    from kerasuite import distribute
    from kerasuite.tasks import get_task

    task = get_task(config.task)
    if config.model.family not in task.families:
        raise UserError(
            f"--model {config.model.family!r}: not a family of {task.name}; choose from {', '.join(task.families)}"
        )
    run_dir, bundle_dir = run_paths(config)
    check_locations(config, run_dir, bundle_dir)
    chief = distribute.is_chief()
    check_mixed_precision(config)
    distribute.configure_logical_cpus(config.train.logical_cpus)  # refused before anything is written
    if chief:
        if config.export.modes:
            check_output_location(bundle_dir, "--set export.dir")
        check_run_dir(run_dir, overwrite, config)
    elif (run_dir / "metrics.json").exists() and not overwrite:
        raise UserError(f"{run_dir}: holds a finished run (metrics.json); pass --overwrite or choose another --run-dir")

    # The strategy comes before any other TensorFlow op: multi-worker collectives and logical
    # devices can only be configured before the runtime starts.
    strategy = distribute.make_strategy(config.train.strategy, config.train.logical_cpus)

    import keras
    import tensorflow as tf

    from kerasuite.training.fit import check_early_stopping_metric, fit, remove_backup, resumed_epoch

    if not verbose:
        tf.get_logger().setLevel("ERROR")
    keras.utils.set_random_seed(config.seed)
    previous_policy = keras.config.dtype_policy()
    if config.train.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        progress(f"loading {config.data.source} for {task.name}")
        data = task.load_data(config)  # bad data is refused before the run folder is touched
        for note in data.data_notes:
            progress(f"note: {note}")
        progress(f"building {config.model.family} ({data.num_train_examples:,} training examples"
                 + (f"; validation from {data.validation_source})" if data.validation_source else ")"))
        build_started = time.perf_counter()
        with strategy.scope():
            model = task.build_model(config, data)  # the linear ngram model is solved here
            task.compile_model(model, config, data)
        build_seconds = round(time.perf_counter() - build_started, 3)  # a tiny build takes under 0.05 s
        if model.steps_per_execution != config.train.steps_per_execution:
            print(f"note: train.steps_per_execution={config.train.steps_per_execution} runs as "
                  f"{model.steps_per_execution} with {strategy.num_replicas_in_sync} replicas (keras-team/keras#19246)",
                  file=sys.stderr)
        check_early_stopping_metric(model, config)  # so is a metric the model does not log
        if chief:
            check_run_dir_space(run_dir, model)
            create_run_dir(run_dir, overwrite)
            cfg.save(config, run_dir / "config.json")
            task.write_run_files(data, run_dir)

        # A collective: it also keeps every worker from reading the backup before the chief has
        # cleared it for --overwrite.
        if not distribute.agree_across_workers(strategy, 0 if overwrite else resumed_epoch(run_dir / "backup")):
            raise UserError(
                f"{run_dir / 'backup'}: the workers see different backups; in a multi-worker run RUN_DIR "
                "must be on storage every worker shares (or pass --overwrite to start over)"
            )
        # Not for a cluster: fit is a collective step, and each worker would decide from its own view
        # of RUN_DIR. One process mirroring over its devices decides alone.
        multi_worker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        finished = None if overwrite or multi_worker else finished_training(run_dir)
        if finished is not None:
            # A rerun after training finished (the export or evaluation was interrupted):
            # go straight to export with the saved weights instead of training again.
            model.load_weights(str(run_dir / "model.keras"))
            history = finished
            print(f"note: {run_dir / 'model.keras'}: training already finished; evaluating and exporting it",
                  file=sys.stderr)
            if chief:
                remove_backup(run_dir / "backup")  # that training's, if killed before removing it
        else:
            if chief:
                # It describes a model.keras this training replaces (a cluster trains again); left,
                # a kill before the new one is written would pair it with the new weights.
                (run_dir / TRAINING_DONE).unlink(missing_ok=True)
            with distribute.worker_scratch(run_dir) as scratch:
                history = fit(task, model, data, config, run_dir, scratch)
                history.update(distribute.describe(strategy, config.train.batch_size))
                history["steps_per_execution"] = int(model.steps_per_execution)
                history["build_seconds"] = build_seconds
                build_report = task.build_report(model)
                if build_report:
                    history["build"] = build_report
                # Every worker saves (a save may need collectives); only the chief's copy is kept.
                save_model(model, scratch / "model.keras")
                if chief:
                    write_json_atomic(run_dir / TRAINING_DONE, history)
                    # Only now: up to here a kill leaves the backup of the finished training, from
                    # which the rerun saves these two files without training again (fit).
                    remove_backup(run_dir / "backup")
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    if not chief:
        distribute.end_of_run_barrier(strategy)
        return {"task": config.task, "worker": distribute.worker_name(), "train": history}
    try:
        return _evaluate_and_export(task, model, data, config, run_dir, bundle_dir, strategy, history)
    finally:
        distribute.end_of_run_barrier(strategy)


def _evaluate_and_export(task, model, data, config: cfg.RunConfig, run_dir: Path, bundle_dir: Path, strategy,
                         history: dict[str, Any]) -> dict[str, Any]:
    """The chief's part after training: evaluate, export, check parity, write metrics.json."""
    from kerasuite import distribute

    if distribute.is_distributed(strategy):
        import keras

        # Evaluate and export a single-device copy: under a strategy, predict/evaluate are
        # collective steps that the other workers (waiting at the end barrier) would never join.
        model = keras.saving.load_model(run_dir / "model.keras", safe_mode=True, compile=False)
        task.compile_model(model, config, data)

    progress("evaluating on the test split")
    report: dict[str, Any] = {
        "task": config.task,
        "model": config.model.family,
        "data": config.data.source,
        "run_dir": str(run_dir),
        "eval": task.evaluate(model, data, config),
        "train": history,
    }
    if data.skipped_files:
        report["skipped_files"] = int(data.skipped_files)
    if data.test_source:
        report["test_source"] = data.test_source
    if data.validation_source:
        report["validation_source"] = data.validation_source
    if data.split_by_speaker:
        report["split_by_speaker"] = True
    if data.data_notes:
        report["data_notes"] = list(data.data_notes)
    from kerasuite.training.baseline import baseline_verdict

    objective = task.objective(config)
    report["baseline"] = baseline_verdict(objective.metric, objective.higher_is_better, objective.baseline, report["eval"])

    if config.export.modes:
        from kerasuite.export.bundle import export_bundle

        progress(f"exporting to {bundle_dir}")
        exported = export_bundle(task, model, data, config, bundle_dir, run_dir, report["eval"], progress=progress)
        report["exports"] = exported.exports
        if exported.unconverted:  # modes the converter crashed on: no file, the others still judged
            report["unconverted_modes"] = exported.unconverted
        if exported.extra_files:  # the task's extra model files, checked on the runtimes (retrieval's top-k graph)
            report["extra_files"] = exported.extra_files
    else:
        report["exports"] = {}
    write_json_atomic(run_dir / "metrics.json", report)
    from kerasuite.training.tensorboard import write_final_scalars

    write_final_scalars(run_dir / "logs" / "validation", report)
    print_summary(report)
    problems = []
    for mode, reason in report.get("unconverted_modes", {}).items():
        problems.append(f"TFLite conversion ({mode}): {reason}")
    failed = [mode for mode, result in report["exports"].items() if not result["parity"]["passed"]]
    if failed:
        reasons = "; ".join(f"{m}: {', '.join(report['exports'][m]['parity']['failures'])}" for m in failed)
        problems.append(f"parity failed for {', '.join(failed)} ({reasons})")
    for name, verdict in report.get("extra_files", {}).items():
        if not verdict["passed"]:
            problems.append(f"{name} failed its check ({', '.join(verdict['failures'])})")
    if report["baseline"] is not None and not report["baseline"]["beaten"] and config.train.check_baseline:
        from kerasuite.training.baseline import describe

        problems.append(f"{describe(report['baseline'])}; train longer or on more data, or pass "
                        "--set train.check_baseline=false to accept it")
    if problems:
        raise CheckFailed(f"{'; '.join(problems)}; see {run_dir / 'metrics.json'}")
    return report


# Written after model.keras: the training is complete and only evaluation/export remain.
TRAINING_DONE = "training.json"


def finished_training(run_dir: Path) -> dict[str, Any] | None:
    """The ``train`` block of a run whose training finished (model.keras, then training.json), or
    None. A backup beside them is that training's own when it ends on the epoch training.json
    reports (killed before removing it); any other is a training in progress, to resume.
    check_resumable has already compared the settings."""
    from kerasuite.training.fit import resumed_epoch

    done, model_path = run_dir / TRAINING_DONE, run_dir / "model.keras"
    if not (done.is_file() and model_path.is_file()):
        return None
    try:
        history = json.loads(done.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(history, dict):
        return None
    if (run_dir / "backup").exists() and resumed_epoch(run_dir / "backup") != history.get("epochs"):
        return None
    return history


def progress(message: str) -> None:
    """One plain line about what a long, otherwise silent step is doing."""
    print(f"[kerasuite] {message} ...", flush=True)


def save_model(model, path: Path) -> None:
    """Keras insists on a .keras suffix, so the temporary name keeps it."""
    import os

    from kerasuite import locations
    from kerasuite.training.fit import backup_bytes

    locations.check_free_space(path.parent, backup_bytes(model) + 256 * 1024, path.name)
    tmp = path.with_name(f".{path.stem}.partial.keras")
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def print_summary(report: dict[str, Any]) -> None:
    from kerasuite.export.parity import diff_text

    metric_text = ", ".join(f"{k}={v:.4f}" for k, v in report["eval"].items() if isinstance(v, (int, float)))
    train = report["train"]
    print(f"\n{report['task']} / {report['model']} on {report['data']}")
    if report.get("test_source"):
        print(f"  test split read from {report['test_source']}")
    if report.get("validation_source"):
        print(f"  validation split read from {report['validation_source']}")
    if report.get("split_by_speaker"):
        print("  seeded splits keep each speaker's clips together (the file name before _nohash_)")
    for note in report.get("data_notes", []):
        print(f"  note: {note}")
    print(f"  keras   {metric_text}  ({train['epochs']} epochs, {train['seconds']:.1f} s, "
          f"{train['examples_per_second']:.0f} examples/s)")
    if report.get("baseline"):
        from kerasuite.training.baseline import describe

        print(f"  {describe(report['baseline'])}")
    exports = report.get("exports", {})
    if exports:
        width = max(8, *(len(mode) for mode in exports))
        print(f"  {'mode':<{width}} {'size':>10} {'metric':>10} {'agreement':>10} {'max|diff|':>10} {'p50 ms':>8}  parity")
        for mode, result in exports.items():
            parity = result["parity"]
            metric = next(iter(result["eval"].values()), float("nan"))
            agreement = parity.get("agreement")
            print(
                f"  {mode:<{width}} {result['size_bytes']:>10,} {metric:>10.4f} "
                f"{(f'{agreement:.4f}' if agreement is not None else '-'):>10} {diff_text(parity['max_abs_diff']):>10} "
                f"{(result['latency_ms'] or {}).get('p50', float('nan')):>8.3f}  "
                f"{'passed' if parity['passed'] else 'FAILED (kept in failed/, do not ship)'}"
            )
        for mode, reason in report.get("unconverted_modes", {}).items():
            print(f"  {mode:<{width}} NOT CONVERTED: {reason}")
        for name, verdict in report.get("extra_files", {}).items():
            print(f"  {name}: {verdict['summary']}  "
                  f"{'passed' if verdict['passed'] else 'FAILED (do not ship): ' + ', '.join(verdict['failures'])}")
        for mode, result in exports.items():  # as kerasuite.export's table: a passing file can still mislead
            for note in result.get("notes", []):
                print(f"  note ({mode}): {note}")
    print(f"  run folder: {report['run_dir']}   TensorBoard: tensorboard --logdir {report['run_dir']}/logs")
    if exports:
        folder = Path(next(iter(exports.values()))["path"]).parent
        print(f"  edge bundle: {folder.parent if folder.name == 'failed' else folder}")
