"""``python -m kerasuite.export MODEL.keras --representative INPUTS.npz``: see kerasuite.export.cli."""

import sys

from kerasuite.export.cli import main

if __name__ == "__main__":
    sys.exit(main())
