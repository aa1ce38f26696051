"""Reading speed of a MovieLens ``::`` ratings file, before and after the headerless reader.

    PYTHONPATH=. python tools/benchmarking/movielens_read.py [--rows 1000000] [--repeats 3] [--memory]

Writes ``--rows`` seeded ratings in ml-10m's shape (``UserID::MovieID::Rating::Timestamp``, half
stars) to a temporary ratings.dat, and the same rows as a ratings.csv with ml-latest-small's
header, then times, in interleaved rounds (medians, seconds):
- before: the ratings.csv through the header-CSV reader, the only way these ratings could be read
  before (converted by hand);
- after: the ratings.dat through ``read_movielens_ratings`` (numpy's C reader in 4 MB blocks);
- line reader: the ratings.dat through the line-by-line reader the blocks fall back on (what a
  reader of Python rows costs);
and the whole ``load_csv`` (reading plus the per-user hold-out) both ways. ``--memory`` adds
each reader's peak traced memory (tracemalloc, one run each, untimed). Nothing is asserted: the
machine is shared, so the numbers are for reading side by side.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402

from kerasuite.data import movielens, recsys  # noqa: E402


def write_files(folder: Path, rows: int, seed: int = 0) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    users = rng.integers(1, 71568, rows)  # ml-10m's id ranges
    items = rng.integers(1, 65134, rows)
    ratings = rng.integers(1, 11, rows) / 2
    stamps = rng.integers(789652009, 1231131736, rows)
    lines = [f"{u}::{i}::{r:g}::{t}\n" for u, i, r, t in zip(users.tolist(), items.tolist(), ratings.tolist(),
                                                             stamps.tolist())]
    dat = folder / "ml-10M100K" / "ratings.dat"
    dat.parent.mkdir()
    dat.write_text("".join(lines))
    csv = folder / "ml-latest-small" / "ratings.csv"
    csv.parent.mkdir()
    csv.write_text("userId,movieId,rating,timestamp\n" + "".join(line.replace("::", ",") for line in lines))
    return dat, csv


def line_reader(path: Path) -> recsys.Interactions:
    """``read_movielens_ratings`` with every block sent to the line-by-line reader."""
    kept = recsys._movielens_block
    recsys._movielens_block = lambda block, separator: None
    try:
        return recsys.read_movielens_ratings(path, movielens.ML_1M_10M)
    finally:
        recsys._movielens_block = kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory", action="store_true", help="also each reader's peak traced memory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        dat, csv = write_files(Path(scratch), args.rows)
        readers = {
            "before: ratings.csv, header-CSV reader": lambda: recsys.read_interactions_csv(csv)[0],
            "after: ratings.dat, numpy blocks": lambda: recsys.read_movielens_ratings(dat, movielens.ML_1M_10M),
            "ratings.dat, line reader": lambda: line_reader(dat),
            "before: load_csv(ratings.csv) with hold-out": lambda: recsys.load_csv(str(csv), seed=0),
            "after: load_csv(ml-10M100K) with hold-out": lambda: recsys.load_csv(str(dat.parent), seed=0),
        }
        tables = {name: read() for name, read in list(readers.items())[:3]}  # also warms the page cache
        first = next(iter(tables.values()))
        for name, table in tables.items():  # the same ratings whichever way they are read
            for field in ("users", "items", "ratings", "timestamps"):
                np.testing.assert_array_equal(getattr(table, field), getattr(first, field), err_msg=name)
        times: dict[str, list[float]] = {name: [] for name in readers}
        for _ in range(args.repeats):
            for name, read in readers.items():
                start = time.perf_counter()
                read()
                times[name].append(time.perf_counter() - start)
        print(f"{args.rows:,} ratings, median of {args.repeats} interleaved rounds:")
        for name, seconds in times.items():
            print(f"  {name:46s} {statistics.median(seconds):7.2f} s")
        if args.memory:
            print("peak traced memory (one run each):")
            for name, read in readers.items():
                tracemalloc.start()
                read()
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
                print(f"  {name:46s} {peak / 2**20:7.0f} MiB")


if __name__ == "__main__":
    main()
