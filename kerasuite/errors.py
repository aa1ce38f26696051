"""Exceptions that the command-line entry points turn into one-line messages and exit codes."""


class UserError(Exception):
    """Bad usage or bad input (a flag, file or field): exit 2, message names the culprit."""

    exit_code = 2


class CheckFailed(Exception):
    """The run worked but a check did not pass (parity, thresholds, non-finite loss): exit 1."""

    exit_code = 1


class Interrupted(BaseException):
    """Training was stopped by a signal (preemption) after saving its backup: exit 128 + signal.

    A BaseException, as KeyboardInterrupt is: the handler raises it wherever the run is, and the
    ``except Exception`` around a runtime's verdict turned a Ctrl-C during the export into that
    file failing parity ("do not ship"), a finished run with exit 1."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum


def one_line_exit(action) -> int:
    """Run ``action()`` (an entry point's work, returning its exit code) and turn the exceptions
    above into their one-line message on stderr and exit code."""
    import sys

    try:
        return action()
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except CheckFailed as error:
        print(f"check failed: {error}", file=sys.stderr)
        return error.exit_code
    except Interrupted as error:
        print(f"interrupted: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:  # a command that installs no handler of its own (kerasuite.export, edge)
        import signal

        print("interrupted: stopped by SIGINT before it finished; rerun the same command", file=sys.stderr)
        return 128 + signal.SIGINT
