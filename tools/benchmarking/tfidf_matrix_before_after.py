"""Peak memory and time of the solver's TF-IDF matrix, before and after it worked on present ids
only, side by side on one corpus (issue 20: ngram_nb_text peaked at 4.3 GB on packages).

    PYTHONPATH=. python tools/benchmarking/tfidf_matrix_before_after.py --data csv:data/packages \
        [--max-features 8192] [--set KEY=VALUE ...]

The training split is featurized once with the ngram family's settings (``--set`` as for
``kerasuite.train``; the ngram_nb_text features by default); then each implementation builds the
matrix in its own child process, which reports its peak RSS above the featurized rows it starts
from, its time, and a checksum of the matrix; the checksums must agree.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

NB_TEXT = ["model.ngram.solver=nb_lbfgs", "data.text.standardize=lower_and_strip_punctuation",
           "model.ngram.char_scope=text", "model.ngram.normalize=apart", "model.ngram.bigram_buckets=1048576",
           "model.ngram.char_buckets=1048576", "model.ngram.char_min_df=2", "model.ngram.max_features=8192"]


def before(id_rows, idf, split_at=0):
    """tfidf_matrix until 2026-12-02: every position of every row, padding included, in float64."""
    import numpy as np
    from scipy import sparse

    rows = np.asarray(id_rows, np.int64)
    weights = np.asarray(idf, np.float64)[rows]
    kinds = [rows < split_at, rows >= split_at] if split_at else [np.ones(rows.shape, bool)]
    values = np.zeros_like(weights)
    for kind in kinds:
        squares = np.where(kind, weights * weights, 0.0).sum(axis=1, keepdims=True)
        values += np.where(kind, weights / np.sqrt(np.maximum(squares, 1e-12)), 0.0)
    row_index = np.repeat(np.arange(rows.shape[0]), rows.shape[1])
    matrix = sparse.csr_matrix((values.ravel(), (row_index, rows.ravel())), shape=(rows.shape[0], len(idf)))
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    return matrix


def _child(which: str, inputs: Path) -> None:
    import numpy as np

    from kerasuite.models import tfidf_solver

    saved = np.load(inputs)
    rows, idf, split_at = saved["rows"], saved["idf"], int(saved["split_at"])
    start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    matrix = (before if which == "before" else tfidf_solver.tfidf_matrix)(rows, idf, split_at)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    matrix = matrix.tocsr()
    matrix.sort_indices()
    print(json.dumps({"which": which, "seconds": round(seconds, 2), "peak_rss_above_start_mb": round((peak - start_rss) / 1024, 1),
                      "nnz": int(matrix.nnz), "checksum": round(float(np.abs(matrix.data).sum()), 6),
                      "row_sums": [round(float(x), 9) for x in np.asarray(matrix.sum(axis=1)).ravel()[:5]]}))


def main(argv=None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="csv:data/packages")
    parser.add_argument("--set", nargs="*", default=NB_TEXT)
    parser.add_argument("--child", choices=("before", "after"), help=argparse.SUPPRESS)
    parser.add_argument("--inputs", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.inputs)
        return 0

    import numpy as np

    from kerasuite import config as cfg
    from kerasuite.errors import UserError

    try:
        config = cfg.resolve(set_values=cfg.parse_set(args.set),
                             flag_values={"task": "text_classification", "model.family": "ngram", "data.source": args.data})
        from kerasuite.tasks import get_task
        from kerasuite.tasks.text_classification import _character_ids_start

        data = get_task("text_classification").load_data(config)  # the training run's own featurization
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if data.solver_rows is None:
        print("error: --set: the matrix exists only for the linear ngram model (model.ngram.embedding_dim=0)", file=sys.stderr)
        return 2
    rows, idf, split_at = data.solver_rows.train_ids, data.idf, _character_ids_start(config, data)
    results = {"data": args.data, "rows": list(rows.shape), "present_ids": int((rows != 0).sum())}
    with tempfile.TemporaryDirectory() as scratch:
        inputs = Path(scratch) / "inputs.npz"
        np.savez(inputs, rows=rows, idf=idf, split_at=split_at)
        for which in ("before", "after"):
            done = subprocess.run([sys.executable, __file__, "--child", which, "--inputs", str(inputs)],
                                  capture_output=True, text=True, check=True)
            results[which] = json.loads(done.stdout.strip().splitlines()[-1])
    results["same_matrix"] = (results["before"]["checksum"] == results["after"]["checksum"]
                              and results["before"]["nnz"] == results["after"]["nnz"])
    print(json.dumps(results, indent=2))
    return 0 if results["same_matrix"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
