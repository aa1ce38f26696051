"""Load time of a full-size image CSV through ``csv:``'s reader.

    PYTHONPATH=. python tools/benchmarking/image_csv_read.py [--repeats 3] [--line-reader]

Writes, to a temporary folder, seeded files of the real sizes and layouts:
- Kaggle's Digit Recognizer train.csv: 42,000 rows of label,pixel0..pixel783, four pixels in
  five 0 (MNIST's background), about the real 73 MB;
- FER2013's fer2013.csv: 35,887 rows of emotion,"2,304 space-separated pixels",Usage, about the
  real 290 MB;
then times ``read_pixel_csv`` on each (the median of ``--repeats`` runs, seconds) and checks the
pixels read are the ones written. ``--line-reader`` also times the row-by-row reader the numpy
blocks fall back on (one run: minutes on FER2013), which is what Python numbers would cost.
Nothing is asserted about time: the machine is shared, so the numbers are for reading side by
side.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402

from kerasuite.data import image_csv_pixels  # noqa: E402

DIGIT_ROWS, FER_ROWS = 42_000, 35_887
FER_USAGE = {"Training": 28_709, "PublicTest": 3_589, "PrivateTest": 3_589}


def write_digit_recognizer(path: Path, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pixels = np.where(rng.random((DIGIT_ROWS, 784)) < 0.8, 0, rng.integers(1, 256, (DIGIT_ROWS, 784)))
    labels = rng.integers(0, 10, DIGIT_ROWS)
    row = ",".join(["%d"] * 785) + "\n"
    with path.open("w") as handle:
        handle.write("label," + ",".join(f"pixel{n}" for n in range(784)) + "\n")
        for label, image in zip(labels.tolist(), pixels.tolist()):
            handle.write(row % (label, *image))
    return pixels


def write_fer2013(path: Path, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (FER_ROWS, 2304))
    labels = rng.integers(0, 7, FER_ROWS)
    usages = [usage for usage, count in FER_USAGE.items() for _ in range(count)]
    row = "%d," + " ".join(["%d"] * 2304) + ",%s\n"
    with path.open("w") as handle:
        handle.write("emotion,pixels,Usage\n")
        for label, image, usage in zip(labels.tolist(), pixels.tolist(), usages):
            handle.write(row % (label, *image, usage))
    return pixels


def line_reader(target: str):
    """``read_pixel_csv`` with every block sent to the row-by-row reader."""
    kept = image_csv_pixels._numpy_block
    image_csv_pixels._numpy_block = lambda block, table: None
    try:
        return image_csv_pixels.read_pixel_csv(target)
    finally:
        image_csv_pixels._numpy_block = kept


def every_image(arrays) -> np.ndarray:
    """The set's images in file order, whichever split each went to (FER2013's by Usage, in order)."""
    splits = [arrays.train, arrays.validation, arrays.test]
    return np.concatenate([split.images for split in splits if split is not None]).reshape(-1, arrays.train.images[0].size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--line-reader", action="store_true", help="also the row-by-row reader, once")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        files = {"Digit Recognizer train.csv": (Path(scratch) / "train.csv", write_digit_recognizer),
                 "FER2013 fer2013.csv": (Path(scratch) / "fer2013.csv", write_fer2013)}
        for name, (path, write) in files.items():
            written = write(path)
            arrays = image_csv_pixels.read_pixel_csv(str(path))  # also warms the page cache
            np.testing.assert_array_equal(every_image(arrays), written, err_msg=name)
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                image_csv_pixels.read_pixel_csv(str(path))
                times.append(time.perf_counter() - start)
            print(f"{name}: {len(written):,} rows, {path.stat().st_size / 1e6:.0f} MB: numpy blocks "
                  f"{statistics.median(times):.2f} s (median of {args.repeats})", flush=True)
            if args.line_reader:
                start = time.perf_counter()
                np.testing.assert_array_equal(every_image(line_reader(str(path))), written, err_msg=name)
                print(f"  row-by-row reader {time.perf_counter() - start:.2f} s (one run)", flush=True)


if __name__ == "__main__":
    main()
