"""The argument parser every kerasuite command and tool uses, so that a usage mistake reads the
same everywhere: one line naming the flag, exit 2."""

from __future__ import annotations

import argparse


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse prints the whole usage block before a usage error; one line naming the flag is
    easier to read in a log and keeps every refusal the same shape."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")
