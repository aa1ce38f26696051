"""Before/after record of the device's PNG decoder undoing row filters, side by side in one run.

    PYTHONPATH=. python tools/benchmarking/png_unfilter_before_after.py [--width 1600] [--height 1200] [--repeats 3]

A photo (scikit-learn's sample china.jpg, resized to --width x --height) is written as PNG six
ways: every row with one filter type (None, Sub, Up, Average, Paeth), and as Pillow saves it
(its own choice per row). Each file is read by ``kerasuite.runtime.image.decode_png`` twice:
"before" with the per-byte loop it ran until 2026-12-07 swapped in for the row filters, "after"
as shipped. Repeats alternate the two; the report gives median seconds and checks that both
give Pillow's pixels exactly.
"""

from __future__ import annotations

import io
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

FILTER_NAMES = ("None", "Sub", "Up", "Average", "Paeth")


def per_byte_unfilter(kinds: np.ndarray, filtered: np.ndarray) -> np.ndarray:
    """decode_png's loop as it was: Sub, Average and Paeth undone one byte at a time."""
    height, width, channels = filtered.shape
    stride = width * channels
    rows = filtered.reshape(height, stride)
    image = np.zeros((height, stride), dtype=np.int32)
    for y in range(height):
        kind, line = kinds[y], rows[y].astype(np.int32)
        previous = image[y - 1] if y else np.zeros(stride, np.int32)
        if kind == 0:
            out = line
        elif kind == 2:
            out = (line + previous) & 0xFF
        else:
            out = np.zeros(stride, np.int32)
            for x in range(stride):
                left = out[x - channels] if x >= channels else 0
                up = previous[x]
                if kind == 1:
                    predicted = left
                elif kind == 3:
                    predicted = (left + up) // 2
                else:
                    upper_left = previous[x - channels] if x >= channels else 0
                    p = left + up - upper_left
                    pa, pb, pc = abs(p - left), abs(p - up), abs(p - upper_left)
                    predicted = left if pa <= pb and pa <= pc else (up if pb <= pc else upper_left)
                out[x] = (line[x] + predicted) & 0xFF
        image[y] = out
    return image.astype(np.uint8).reshape(height, width, channels)


def png_with_one_filter(image: np.ndarray, kind: int) -> bytes:
    """An 8-bit RGB PNG of ``image`` with every row stored with filter ``kind``; the encoder is
    the tests' (tests/helpers.py), so the benchmark and the byte-identity tests write the same files."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("kerasuite_test_helpers", REPO / "tests" / "helpers.py")
    helpers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helpers)
    return helpers.png_with_filters(image, [kind] * len(image))


def row_filter_counts(data: bytes, width: int, height: int) -> str:
    """How many rows of an 8-bit RGB PNG use each filter type."""
    import struct
    import zlib

    position, compressed = 8, b""
    while position < len(data):
        length, name = struct.unpack(">I4s", data[position:position + 8])
        if name == b"IDAT":
            compressed += data[position + 8:position + 8 + length]
        position += 12 + length
    rows = np.frombuffer(zlib.decompress(compressed), np.uint8).reshape(height, width * 3 + 1)
    counts = np.bincount(rows[:, 0], minlength=5)
    return ", ".join(f"{name} {count}" for name, count in zip(FILTER_NAMES, counts))


def main() -> None:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--height", type=int, default=1200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if min(args.width, args.height, args.repeats) < 1:
        parser.error("--width, --height and --repeats: at least 1")

    from PIL import Image
    from sklearn.datasets import load_sample_image

    from kerasuite.runtime import image as device_image

    photo = np.asarray(Image.fromarray(load_sample_image("china.jpg")).resize((args.width, args.height),
                                                                              Image.Resampling.BILINEAR))
    files = {f"every row {name} ({kind})": png_with_one_filter(photo, kind) for kind, name in enumerate(FILTER_NAMES)}
    saved = io.BytesIO()
    Image.fromarray(photo).save(saved, "PNG")
    files["as Pillow saves it"] = saved.getvalue()

    shipped = device_image.unfilter
    print(f"{args.width}x{args.height} RGB photo, {args.repeats} alternating repeats, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.2f} at start")
    print(f"{'file':28} {'before s':>9} {'after s':>9} {'speed-up':>9}  same pixels as Pillow")
    for name, data in files.items():
        with Image.open(io.BytesIO(data)) as opened:
            by_pillow = np.asarray(opened.convert("RGB"))
        seconds = {"before": [], "after": []}
        same = {}
        for _ in range(args.repeats):
            for label, unfilter in (("before", per_byte_unfilter), ("after", shipped)):
                device_image.unfilter = unfilter
                started = time.perf_counter()
                decoded = device_image.decode_png(data, name)
                seconds[label].append(time.perf_counter() - started)
                same[label] = same.get(label, True) and np.array_equal(decoded, by_pillow)
        device_image.unfilter = shipped
        before, after = statistics.median(seconds["before"]), statistics.median(seconds["after"])
        print(f"{name:28} {before:9.3f} {after:9.3f} {before / after:8.1f}x  "
              f"before {'yes' if same['before'] else 'NO'}, after {'yes' if same['after'] else 'NO'}")
    print(f"rows of Pillow's file by filter: {row_filter_counts(files['as Pillow saves it'], args.width, args.height)}")


if __name__ == "__main__":
    main()
