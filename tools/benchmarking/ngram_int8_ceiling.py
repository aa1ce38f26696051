"""Which int8 rounding costs a linear TF-IDF ngram run its top-1 agreement? (issue 20: fortunes)

    PYTHONPATH=. python tools/benchmarking/ngram_int8_ceiling.py --run RUN --out RESULT.json
    PYTHONPATH=. python tools/benchmarking/ngram_int8_ceiling.py --table RESULT.json ...   # results/ngram_int8_ceiling.json

RUN is a finished ``ngram`` run with a linear TF-IDF bag (``model.ngram.embedding_dim=0``, e.g. the
ngram_nb_text command in the README). The run's model is recomputed in numpy (``x @ table * scale
+ bias`` with the solver's own TF-IDF matrix; checked against Keras before anything else), then
each rounding an int8 file must make is applied alone, and some together, and the top-1 agreement
with the unrounded model is printed for the test split:

- ``table_per_tensor``: the table at one int8 step for all of it (max |entry| / 127), as TFLite's
  GATHER stores it (the dynamic-range file makes only this rounding).
- ``table_per_row``: each table row at its own step, what a per-row (axis 0) scale would give;
  TFLite's int8 GATHER has none.
- ``table_clipped_plus_residual``: the entries clipped to the table's 99.9th percentile of |entry|
  at their own step, plus the rest as a second table at the full table's step: what two GATHERs
  of full-size tables (twice the file) would give.
- ``logits``: the logits (bag plus bias) as one int8 tensor over the range they take on the
  training split (the calibration rows come from there) or, narrower, on the test split.
- ``probabilities``: the softmax output at int8's 1/256 (a tie goes to the lower class index, as
  argmax does).

An int8 file must round the logits into one int8 tensor before SOFTMAX (a shift per text cannot
narrow that tensor below the widest spread of one text's logits, printed, and TFLite's
BATCH_MATMUL has no fused clamp), so the ``logits`` rows bound what any int8 graph of this model
can agree; the table rows say what a different table layout could still win.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def round_to(values: np.ndarray, step: np.ndarray | float) -> np.ndarray:
    return np.round(values / step) * step


def logits_on_grid(logits: np.ndarray, low: float, high: float) -> np.ndarray:
    """``logits`` as an asymmetric int8 tensor over ``[low, high]`` (values outside saturate)."""
    step = (high - low) / 255.0
    return np.clip(round_to(logits - low, step), 0.0, 255.0 * step) + low


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


COLUMNS = ["corpus, seed", "logit step", "Keras top-2 gap < 0.01", "table per tensor", "table per row", "logits",
           "table per tensor + logits", "table per row + logits"]
AGREEMENTS = ("table_per_tensor", "table_per_row", "logits_train_range", "table_per_tensor_and_logits_train_range",
              "table_per_row_and_logits_train_range")


def table_row(result: dict) -> list:
    corpus = result["data"].rsplit("/", 1)[-1]
    return [f"{corpus}, {result['seed']}", result["logit_step"]["train"],
            f"{100 * result['keras_top2_gap_below']['0.01']:.1f}%", *(result["agreement"][key] for key in AGREEMENTS)]


def write_table(files: list[Path], name: str, argv: list[str]) -> int:
    from tools.readme_tables import write_results

    rows = []
    for path in files:
        try:
            rows.append(table_row(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, KeyError) as error:
            print(f"error: --table {path}: not a result of this tool ({type(error).__name__}: {error})", file=sys.stderr)
            return 2
    command = "PYTHONPATH=. python tools/benchmarking/ngram_int8_ceiling.py " + " ".join(argv)
    print(write_results(name, command, {"agreement": {"columns": COLUMNS, "rows": rows}}))
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path)
    parser.add_argument("--out", type=Path, help="also write the results here as JSON")
    parser.add_argument("--table", type=Path, nargs="+", metavar="JSON",
                        help="instead: the README table of earlier --out files, written to results/NAME.json")
    parser.add_argument("--results", metavar="NAME", default="ngram_int8_ceiling")
    args = parser.parse_args(argv)
    if args.table:
        return write_table(args.table, args.results, argv)
    if args.run is None:
        print("error: --run RUN (or --table JSON ...) is required", file=sys.stderr)
        return 2
    missing = [name for name in ("config.json", "model.keras", "vocab.txt") if not (args.run / name).is_file()]
    if missing:
        print(f"error: --run {args.run}: not a finished text run (no {', '.join(missing)})", file=sys.stderr)
        return 2

    import keras

    import kerasuite.models  # noqa: F401  registers the custom layers
    from kerasuite import config as cfg
    from kerasuite.data import text as text_data
    from kerasuite.io_utils import write_text_atomic
    from kerasuite.models import tfidf_solver
    from kerasuite.runtime.text_ngrams import NgramFeaturizer
    from kerasuite.tasks.text_classification import ngram_spec

    config = cfg.resolve_saved(args.run / "config.json")
    model = keras.saving.load_model(args.run / "model.keras")
    bag = next((layer for layer in model.layers if layer.name == "tfidf_bag"), None)
    if bag is None or bag.bias is None:
        print(f"error: --run {args.run}: its model has no linear TF-IDF bag (model.ngram.embedding_dim=0)", file=sys.stderr)
        return 2
    raw = text_data.load(config.data.source, config)
    vocabulary = (args.run / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]
    spec = ngram_spec(config)
    kept = np.load(args.run / spec.kept_ids) if spec.kept_ids else None
    featurizer = NgramFeaturizer(vocabulary, spec, config.data.text.standardize, kept)
    idf, table, bias = np.asarray(bag.idf), np.asarray(bag.table, np.float64), np.asarray(bag.bias, np.float64)
    scale = float(bag.scale)
    test_ids = featurizer.encode_batch(raw.test.texts)
    x = {"train": tfidf_solver.tfidf_matrix(featurizer.encode_batch(raw.train.texts), idf, bag.split_at),
         "test": tfidf_solver.tfidf_matrix(test_ids, idf, bag.split_at)}

    def logits_with(tab: np.ndarray, split: str = "test") -> np.ndarray:
        return np.asarray(x[split] @ (tab * scale)) + bias

    exact = logits_with(table)
    reference = exact.argmax(axis=1)
    keras_top1 = np.asarray(model.predict(test_ids, batch_size=256, verbose=0)).argmax(axis=1)
    recomputed = float((keras_top1 == reference).mean())
    if recomputed < 0.999:  # the simulation would describe some other model
        print(f"check failed: the numpy model agrees with Keras on only {recomputed:.4f} of the test texts", file=sys.stderr)
        return 1

    def agreement(logits: np.ndarray) -> float:
        return round(float((logits.argmax(axis=1) == reference).mean()), 4)

    magnitude = np.abs(table)
    per_tensor = round_to(table, magnitude.max() / 127.0)
    row_steps = np.maximum(magnitude.max(axis=1, keepdims=True), 1e-30) / 127.0
    per_row = round_to(table, row_steps)
    clip = float(np.percentile(magnitude, 99.9))
    clipped = np.clip(table, -clip, clip)
    two_tables = round_to(clipped, clip / 127.0) + round_to(table - clipped, magnitude.max() / 127.0)
    train_logits = logits_with(table, "train")
    ranges = {"train": (float(train_logits.min()), float(train_logits.max())),
              "test": (float(exact.min()), float(exact.max()))}
    probabilities = softmax(exact)
    gaps = np.diff(np.sort(probabilities, axis=1)[:, -2:], axis=1)[:, 0]

    results = {
        "run": str(args.run), "data": config.data.source, "seed": config.seed,
        "test_texts": len(reference), "numpy_vs_keras_top1": recomputed,
        "table_max_abs": round(float(magnitude.max()), 4), "table_abs_p50_p99_p999":
            [round(float(v), 5) for v in np.percentile(magnitude, [50, 99, 99.9])],
        "logit_range": {split: [round(low, 2), round(high, 2)] for split, (low, high) in ranges.items()},
        "widest_per_text_logit_spread": round(float((exact.max(axis=1) - exact.min(axis=1)).max()), 2),
        "logit_step": {split: round((high - low) / 255.0, 3) for split, (low, high) in ranges.items()},
        "keras_top2_gap_below": {f"{gap:g}": round(float((gaps < gap).mean()), 4) for gap in (0.004, 0.01, 0.05)},
        "agreement": {
            "table_per_tensor": agreement(logits_with(per_tensor)),
            "table_per_row": agreement(logits_with(per_row)),
            "table_clipped_plus_residual": agreement(logits_with(two_tables)),
            "logits_train_range": agreement(logits_on_grid(exact, *ranges["train"])),
            "logits_test_range": agreement(logits_on_grid(exact, *ranges["test"])),
            "probabilities": agreement(round_to(probabilities, 1 / 256.0)),
            "table_per_tensor_and_logits_train_range": agreement(logits_on_grid(logits_with(per_tensor), *ranges["train"])),
            "table_per_row_and_logits_train_range": agreement(logits_on_grid(logits_with(per_row), *ranges["train"])),
        },
    }
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        write_text_atomic(args.out, text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
