"""``python -m kerasuite.train``: parse -> config -> strategy -> fit -> evaluate -> export -> parity.

This module stays thin and imports no TensorFlow until the arguments are valid, so ``--help``
and usage errors answer at once. The work happens in :mod:`kerasuite.training.runner`.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from kerasuite.errors import Interrupted, one_line_exit
from kerasuite.argparsing import OneLineArgumentParser

DESCRIPTION = "Train a kerasuite task, evaluate it, export TFLite files and check their parity."


def build_parser() -> argparse.ArgumentParser:
    from kerasuite.config import EXPORT_MODES, PRESETS, STRATEGIES
    from kerasuite.tasks import TASK_NAMES

    parser = OneLineArgumentParser(prog="python -m kerasuite.train", description=DESCRIPTION)
    parser.add_argument("--task", help=f"one of: {', '.join(TASK_NAMES)} (default image_classification)")
    parser.add_argument("--model", help="model family, e.g. cnn, lstm, transformer, two_tower, dcn, mlp, ds_cnn")
    parser.add_argument("--data", metavar="SPEC", help="tfds:NAME | folder:PATH | csv:PATH | builtin:digits | synthetic:NAME")
    parser.add_argument("--epochs", type=int, metavar="N")
    parser.add_argument("--batch-size", type=int, metavar="N", help="global batch size (split across replicas)")
    parser.add_argument("--strategy", choices=STRATEGIES,
                        help="auto (default): multi_worker if TF_CONFIG is set, mirrored if several GPUs, else one device")
    parser.add_argument("--run-dir", metavar="DIR", help="default: runs/<run-name>")
    parser.add_argument("--export", metavar="MODES", help=f"comma list of {', '.join(EXPORT_MODES)}; 'none' to skip")
    parser.add_argument("--preset", choices=PRESETS,
                        help="the task's settings to start from: default, quick (small models) or tiny (tests)")
    parser.add_argument("--config", metavar="FILE", help="JSON or YAML file of config values")
    parser.add_argument("--set", metavar="KEY=VALUE", nargs="+", action="append", default=[],
                        help="override any config key, e.g. --set train.learning_rate=1e-3 model.cnn.filters=16,32")
    parser.add_argument("--seed", type=int, metavar="N")
    parser.add_argument("--overwrite", action="store_true", help="replace a finished run in the run folder")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's own log messages")
    return parser


def _flag_values(args: argparse.Namespace) -> dict[str, object]:
    flags = {
        "task": args.task, "model.family": args.model, "data.source": args.data,
        "train.epochs": args.epochs, "train.batch_size": args.batch_size,
        "train.strategy": args.strategy, "run_dir": args.run_dir, "seed": args.seed, "preset": args.preset,
    }
    if args.export is not None:
        flags["export.modes"] = "" if args.export.strip().lower() == "none" else args.export
    return {key: value for key, value in flags.items() if value is not None}


def resolve_config(args: argparse.Namespace):
    """The whole run config, checked: task, family, keys, types and values. No TensorFlow."""
    from kerasuite import config as cfg

    file_values = cfg.load_config_file(args.config) if args.config else {}
    set_values = cfg.parse_set([item for group in args.set for item in group])
    return cfg.resolve(file_values, set_values, _flag_values(args))


def quiet_tensorflow(verbose: bool) -> None:
    """TensorFlow's C++ start-up chatter is noise a user cannot act on; --verbose brings it back."""
    if verbose:
        os.environ["KERASUITE_VERBOSE"] = "1"
    else:
        import warnings

        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        # Keras/TF warn about things kerasuite already handles (e.g. shuffle on a tf.data input).
        for module in ("keras", "tensorflow", "absl"):
            warnings.filterwarnings("ignore", module=module)
        os.environ.setdefault("GRPC_VERBOSITY", "ERROR")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # --help, or a usage error already printed in one line
        return stop.code if isinstance(stop.code, int) else 2
    quiet_tensorflow(args.verbose)
    previous_handlers = stop_on_signals()
    try:
        return _run(args)
    finally:
        import signal

        for signum, handler in previous_handlers.items():
            signal.signal(signum, handler)


def _train(args: argparse.Namespace) -> int:
    # Every usage mistake is refused here, in well under a second: TensorFlow takes 10-20 s
    # to import and is not needed to find a bad key, value, task or run folder.
    config = resolve_config(args)
    from kerasuite.training.runner import preflight

    preflight(config, overwrite=args.overwrite)
    from kerasuite.quiet import import_tensorflow_quietly
    from kerasuite.training.runner import progress

    progress(f"{config.task} / {config.model.family}: settings checked; starting TensorFlow")
    import_tensorflow_quietly()
    from kerasuite.training.runner import run

    run(config, overwrite=args.overwrite, verbose=args.verbose)
    return 0


def _run(args: argparse.Namespace) -> int:
    try:
        return one_line_exit(lambda: _train(args))
    except OSError as error:
        from kerasuite.locations import is_disk_full

        if not is_disk_full(error):
            raise
        where = error.filename or "the run or export folder"
        print(f"error: {where}: no space left on the device; free some space or choose another location",
              file=sys.stderr)
        return 2


def stop_on_signals() -> dict:
    """SIGTERM or Ctrl-C outside ``fit`` (loading data, evaluating, exporting) ends the run with
    one line and exit 128 + signal; cleanup (temporary folders, the converter child) runs on the way
    out. During ``fit`` the backup callback takes the signals over and saves first."""
    import signal

    def stop(signum, frame):
        raise Interrupted(f"stopped by {signal.Signals(signum).name} before the run finished; "
                          "rerun the same command to continue", signum)

    import threading

    if threading.current_thread() is not threading.main_thread():  # Python allows handlers only there
        return {}
    return {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGINT)}


if __name__ == "__main__":
    sys.exit(main())
