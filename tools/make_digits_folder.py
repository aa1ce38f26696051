"""Write scikit-learn's handwritten digits as PNG files in class subfolders (train/ and test/).

The split is the one ``builtin:digits`` uses (same seed and test fraction), so
``--data folder:OUT`` and ``--data builtin:digits`` can be compared on the same test images.

    python tools/make_digits_folder.py data/digits_png
    python -m kerasuite.train --data folder:data/digits_png

The folder is written under a hidden sibling name and renamed when complete (never half a set,
which a caller that checks for ``train/`` would take as whole); an earlier output of this tool
(``make_digits_folder.txt`` in it) is replaced whole, any other non-empty folder refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


MARKER = "make_digits_folder.txt"


def main() -> None:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=42, help="must match the run's --seed to share its split")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    args = parser.parse_args()
    from kerasuite.io_utils import atomic_folder, folder_not_ours

    refusal = folder_not_ours(args.out, MARKER)
    if refusal:
        parser.error(f"out: {refusal}")

    from PIL import Image
    from sklearn.datasets import load_digits

    from kerasuite.data.sources import split_indices

    digits = load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    labels = digits.target
    # validation_fraction=0 keeps train + validation together; the run splits validation itself.
    train, _, test = split_indices(labels, args.test_fraction, 0.0, args.seed)
    with atomic_folder(args.out, MARKER) as building:
        for split, indices in (("train", train), ("test", test)):
            for index in indices:
                folder = building / split / str(labels[index])
                folder.mkdir(parents=True, exist_ok=True)
                Image.fromarray(images[index]).save(folder / f"digit_{index:04d}.png")
        (building / MARKER).write_text(f"scikit-learn digits, seed {args.seed}, test fraction {args.test_fraction}\n")
    print(f"wrote {len(train)} train and {len(test)} test PNGs under {args.out}")


if __name__ == "__main__":
    main()
