"""``python -m kerasuite.parity RUN_DIR``: re-run the parity harness on a finished run's bundle."""

from kerasuite.export.rerun import main

if __name__ == "__main__":
    import sys

    sys.exit(main())
