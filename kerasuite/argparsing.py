"""The argument parser every kerasuite command and tool uses, so that a usage mistake reads the
same everywhere: one line naming the flag, exit 2."""

from __future__ import annotations

import argparse


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse prints the whole usage block before a usage error; one line naming the flag is
    easier to read in a log and keeps every refusal the same shape."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def export_modes(value: str) -> list[str]:
    """argparse ``type=`` for a tool's ``--modes``: a comma list of export modes, checked before
    anything is measured."""
    from kerasuite.config import EXPORT_MODES

    modes = [mode for mode in value.split(",") if mode]
    if not modes or set(modes) - set(EXPORT_MODES):
        raise argparse.ArgumentTypeError(f"{value}: a comma list of {', '.join(EXPORT_MODES)}")
    return modes
