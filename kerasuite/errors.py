"""Exceptions that the command-line entry points turn into one-line messages and exit codes."""


class UserError(Exception):
    """Bad usage or bad input (a flag, file or field): exit 2, message names the culprit."""

    exit_code = 2


class CheckFailed(Exception):
    """The run worked but a check did not pass (parity, thresholds, non-finite loss): exit 1."""

    exit_code = 1


class Interrupted(Exception):
    """Training was stopped by a signal (preemption) after saving its backup: exit 128 + signal."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum
