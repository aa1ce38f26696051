"""Which n-gram ids and weighting let a linear model reach the TF-IDF peer? (issue 20)

    python -m tools.benchmarking.ngram_linear_probe --data csv:data/manpages --seed 42

Logistic regression (C chosen on validation, as the peer) on the ``ngram`` family's own hashed ids
(kerasuite/runtime/text_ngrams.py) under several settings, beside the peer on the same split. No
Keras training: it shows what the features can reach before the model is asked to.
"""

from __future__ import annotations

import json
import time

import numpy as np


def sparse_rows(id_rows: list[list[int]], num_ids: int, idf: np.ndarray | None, tf: str, block_start: int = 0):
    """tf: "sublinear" (1 + ln c, the peer), "binary" (each id once), "raw_positions" (the id as
    often as it occurs, normalised over positions as TfidfBag does on a row with repeats),
    "log2_positions" (the id 1 + floor(log2 c) times, normalised over positions). ``block_start``
    > 0: ids below it (words, word bigrams) and from it on (character n-grams) are normalised apart,
    as the peer's union of two TfidfVectorizers does."""
    from scipy import sparse

    data, indices, indptr = [], [], [0]
    for row in id_rows:
        ids, counts = np.unique(np.asarray(row, np.int64), return_counts=True)
        keep = ids > 0
        ids, counts = ids[keep], counts[keep].astype(np.float64)
        idf_of = idf[ids] if idf is not None else np.ones_like(counts)
        repeats = {"sublinear": 1.0 + np.log(np.maximum(counts, 1)), "binary": np.ones_like(counts),
                   "raw_positions": counts, "log2_positions": 1.0 + np.floor(np.log2(np.maximum(counts, 1)))}[tf]
        weights = repeats * idf_of
        squares = repeats * idf_of ** 2 if tf.endswith("_positions") else weights ** 2
        blocks = [ids < block_start, ids >= block_start] if block_start else [np.ones_like(ids, bool)]
        scaled = np.zeros_like(weights)
        for block in blocks:
            scaled[block] = weights[block] / (np.sqrt(squares[block].sum()) or 1.0)
        data.extend(scaled)
        indices.extend(ids)
        indptr.append(len(indices))
    return sparse.csr_matrix((data, indices, indptr), shape=(len(id_rows), num_ids))


def fit(train, train_y, validation, val_y, test, test_y):
    from sklearn.linear_model import LogisticRegression

    best = None
    for c in (1.0, 10.0, 100.0):
        model = LogisticRegression(C=c, max_iter=3000).fit(train, train_y)
        score = float((model.predict(validation) == val_y).mean())
        if best is None or score > best[0]:
            best = (score, c, model)
    return {"validation": best[0], "C": best[1], "test": float((best[2].predict(test) == test_y).mean())}


def main(argv=None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--variants", default="base,dedup2048,b50k,b100k,split_punct")
    args = parser.parse_args(argv)

    from kerasuite import config as cfg
    from kerasuite.data import text as text_data
    from kerasuite.runtime.text_ngrams import NgramFeaturizer, NgramSpec

    variants = {
        # name: (standardize, max_ids, bigram_buckets, char_buckets, tf (sparse_rows), idf[, words and
        # characters normalised apart])
        "base": ("lower", 512, 20000, 20000, "sublinear", True),
        "all_ids": ("lower", 4096, 20000, 20000, "sublinear", True),
        "all_binary": ("lower", 4096, 20000, 20000, "binary", True),
        "all_raw_positions": ("lower", 4096, 20000, 20000, "raw_positions", True),
        "all_log2_positions": ("lower", 4096, 20000, 20000, "log2_positions", True),
        "all_log2_blocks": ("lower", 4096, 20000, 20000, "log2_positions", True, True),
        "all_noidf": ("lower", 4096, 20000, 20000, "sublinear", False),
        "b50k": ("lower", 4096, 50000, 50000, "sublinear", True),
        "b50k_binary": ("lower", 4096, 50000, 50000, "binary", True),
        "b100k": ("lower", 4096, 100000, 100000, "sublinear", True),
        "split_punct": ("lower_and_split_punctuation", 4096, 20000, 20000, "sublinear", True),
        "b1m_log2": ("lower", 4096, 1 << 20, 1 << 20, "log2_positions", True),
        "b1m_log2_mindf2": ("lower", 4096, 1 << 20, 1 << 20, "log2_positions", True, False, 2),
        "b1m_log2_blocks_mindf2": ("lower", 4096, 1 << 20, 1 << 20, "log2_positions", True, True, 2),
        "all_log2_mindf2": ("lower", 4096, 20000, 20000, "log2_positions", True, False, 2),
    }
    out = {}
    for name in args.variants.split(","):
        standardize, max_ids, bigrams, chars, tf, use_idf, *extra = variants[name]
        apart, char_min_df = (list(extra) + [False, 1])[:2]
        config = cfg.resolve({}, {}, {"task": "text_classification", "seed": args.seed,
                                      "data.text.standardize": standardize})
        raw = text_data.load(args.data, config)
        vectorizer = text_data.build_vectorizer(raw.train.texts, config.data.text)
        vocabulary = [str(token) for token in vectorizer.get_vocabulary()]
        featurizer = NgramFeaturizer(vocabulary, NgramSpec(max_ids, bigrams, chars, 2, 5), standardize)
        started = time.perf_counter()
        rows = {split: [ids[ids > 0] for ids in (featurizer.encode(t) for t in getattr(raw, split).texts)]
                for split in ("train", "validation", "test")}
        train_ids = rows["train"]
        document_frequency = np.zeros(featurizer.num_ids)
        for row in train_ids:
            document_frequency[np.unique(np.asarray(row))] += 1
        if char_min_df > 1:  # the peer's min_df on character n-grams: rarer ids are dropped everywhere
            char_start = featurizer.vocabulary_size + bigrams
            rare = (document_frequency < char_min_df) & (np.arange(featurizer.num_ids) >= char_start)
            rows = {split: [row[~rare[row]] for row in r] for split, r in rows.items()}
            train_ids = rows["train"]
        idf = np.log((1 + len(train_ids)) / (1 + document_frequency)) + 1.0 if use_idf else None
        block_start = featurizer.vocabulary_size + bigrams if apart else 0
        matrices = {split: sparse_rows(r, featurizer.num_ids, idf, tf, block_start) for split, r in rows.items()}
        result = fit(matrices["train"], raw.train.labels, matrices["validation"], raw.validation.labels,
                     matrices["test"], raw.test.labels)
        lengths = [len(r) for r in train_ids]
        result.update(seconds=round(time.perf_counter() - started, 1), median_ids=int(np.median(lengths)),
                      p95_ids=int(np.percentile(lengths, 95)),
                      median_unique=int(np.median([len(set(r) - {0}) for r in train_ids])))
        out[name] = result
        print(name, json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
