"""Probe (issue 20): one multinomial logistic regression on Naive-Bayes-scaled features, against
the one-vs-rest NB solver (``model.ngram.solver=nb_lbfgs``) of a finished run, same features.

    PYTHONPATH=. python tools/benchmarking/nb_multinomial_probe.py --run RUN --out PROBE.keras \
        [--inputs-out DIR]

RUN is a finished ``ngram`` run with a linear TF-IDF bag (e.g. the ngram_nb_text command in the
README). The probe refits the run's table as ``logit_k = (x * r_k) . w_k + b_k`` with one softmax
over the classes (L-BFGS on ``C * sum(cross-entropy) + ||W||^2 / 2``, C from 1/10/100 on the
validation split), where ``x`` is the run's TF-IDF row and ``r_k`` NBSVM's log-count ratios; the
table column k is ``r_k * w_k``, so the exported graph is the run's own. It prints validation and
test accuracy, the test logits' range and the share of test texts whose top two probabilities are
within 0.01, for each C and for the run's own model, and saves the refitted model to ``--out``.
``--inputs-out`` also writes ``representative.npz`` (640 training rows) and ``heldout.npz`` (the
test split with its targets), so the int8 file can be judged by the exporter:

    python -m kerasuite.export PROBE.keras --representative DIR/representative.npz \
        --heldout DIR/heldout.npz --modes int8,dynamic --custom-objects kerasuite.models
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def fit_multinomial_on_scaled(x, labels, ratios, c, start=None):
    """(weights [ids, classes] of the scaled problem, bias) minimising C * CE + ||W||^2 / 2."""
    from scipy.optimize import minimize

    ids, classes = ratios.shape
    onehot = np.eye(classes)[labels]

    def objective(theta):
        weights, bias = theta[:ids * classes].reshape(ids, classes), theta[ids * classes:]
        logits = x @ (ratios * weights) + bias
        logits -= logits.max(axis=1, keepdims=True)
        log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        residual = np.exp(log_p) - onehot
        gradient = ratios * np.asarray(x.T @ residual) * c + weights
        return (-(onehot * log_p).sum() * c + 0.5 * (weights * weights).sum(),
                np.concatenate([gradient.ravel(), residual.sum(axis=0) * c]))

    start = np.zeros(ids * classes + classes) if start is None else start
    return minimize(objective, start, jac=True, method="L-BFGS-B", options={"maxiter": 3000}).x


def describe(logits, labels):
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    ranked = np.sort(probabilities, axis=1)
    return {"accuracy": round(float((logits.argmax(axis=1) == labels).mean()), 4),
            "logit_range": [round(float(logits.min()), 1), round(float(logits.max()), 1)],
            "top2_gap_below_0.01": round(float((ranked[:, -1] - ranked[:, -2] < 0.01).mean()), 4)}


def main(argv=None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="where the refitted model.keras goes")
    parser.add_argument("--inputs-out", type=Path, help="write representative.npz and heldout.npz here")
    args = parser.parse_args(argv)
    missing = [name for name in ("config.json", "model.keras", "vocab.txt") if not (args.run / name).is_file()]
    if missing:
        print(f"error: --run {args.run}: not a finished text run (no {', '.join(missing)})", file=sys.stderr)
        return 2
    if args.out.suffix != ".keras":
        print(f"error: --out {args.out}: must end in .keras", file=sys.stderr)
        return 2

    import keras

    import kerasuite.models  # noqa: F401  registers the custom layers
    from kerasuite import config as cfg
    from kerasuite.data import text as text_data
    from kerasuite.io_utils import atomic_path
    from kerasuite.models import tfidf_solver
    from kerasuite.runtime.text_ngrams import NgramFeaturizer
    from kerasuite.tasks.text_classification import ngram_spec

    config = cfg.resolve_saved(args.run / "config.json")
    raw = text_data.load(config.data.source, config)
    vocabulary = (args.run / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]
    spec = ngram_spec(config)
    kept = np.load(args.run / spec.kept_ids) if spec.kept_ids else None
    featurizer = NgramFeaturizer(vocabulary, spec, config.data.text.standardize, kept)
    from kerasuite.training.runner import save_model

    model = keras.saving.load_model(args.run / "model.keras")
    bag = next((layer for layer in model.layers if layer.name == "tfidf_bag"), None)
    if bag is None or bag.bias is None:
        print(f"error: --run {args.run}: its model has no linear TF-IDF bag (model.ngram.embedding_dim=0)", file=sys.stderr)
        return 2
    idf = np.asarray(bag.idf)
    rows = {split: featurizer.encode_batch(getattr(raw, split).texts) for split in ("train", "validation", "test")}
    labels = {split: np.asarray(getattr(raw, split).labels) for split in rows}
    x = {split: tfidf_solver.tfidf_matrix(ids, idf, bag.split_at) for split, ids in rows.items()}
    classes = int(np.asarray(bag.bias).shape[0])
    ratios = tfidf_solver.naive_bayes_ratios(x["train"], labels["train"], classes)

    own_table, own_bias = np.asarray(bag.table) * bag.scale, np.asarray(bag.bias)
    results = {"run": str(args.run), "run_model": describe(x["test"] @ own_table + own_bias, labels["test"]), "by_c": {}}
    best, start = None, None
    for c in (1.0, 10.0, 100.0):  # weakest penalty last, each fit starting from the previous optimum
        started = time.perf_counter()
        start = fit_multinomial_on_scaled(x["train"], labels["train"], ratios, c, start)
        table = ratios * start[:-classes].reshape(ratios.shape)
        bias = start[-classes:]
        validation = float(((x["validation"] @ table + bias).argmax(axis=1) == labels["validation"]).mean())
        results["by_c"][f"{c:g}"] = {"validation_accuracy": round(validation, 4), "seconds": round(time.perf_counter() - started, 1),
                                     "test": describe(x["test"] @ table + bias, labels["test"])}
        if best is None or validation > best[0]:
            best = (validation, c, table, bias)
    _, results["chosen_c"], table, bias = best
    bag.table.assign((table / bag.scale).astype(np.float32))
    bag.bias.assign(bias.astype(np.float32))
    save_model(model, args.out)  # under a temporary name, then renamed
    if args.inputs_out:
        args.inputs_out.mkdir(parents=True, exist_ok=True)
        name = model.inputs[0].name
        pick = np.random.default_rng(0).permutation(len(rows["train"]))[:640]
        for file_name, arrays in (("representative.npz", {name: rows["train"][pick]}),
                                  ("heldout.npz", {name: rows["test"], "target": labels["test"]})):
            with atomic_path(args.inputs_out / file_name) as tmp, open(tmp, "wb") as handle:
                np.savez(handle, **arrays)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
