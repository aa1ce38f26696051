"""Which part of the TF-IDF peer's features does the ngram family lack? (issue 20)

    PYTHONPATH=. python tools/benchmarking/text_peer_variants.py --data csv:data/fortunes --c 1

The peer of tools/benchmark_text.py (word 1-2 grams + character 2-5 grams across word boundaries,
``analyzer="char"``) beside the same peer with character n-grams inside words only
(``analyzer="char_wb"``, like the ngram family's ``<word>`` n-grams) and that one with a single L2
norm over word and character features together (as the family's TfidfBag), the peer with the
family's whitespace-split words (punctuation kept), and all three of those choices at once; one fixed C, on the split
the Keras runs use (seed 42): test accuracy, feature count and seconds, side by side in one run.
"""

from __future__ import annotations

import time


def main(argv=None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--variants", help="comma-separated row numbers (1 = the peer) to run; default all")
    parser.add_argument("--c", type=float, default=10.0, help="logistic regression C (the peer's choice on validation)")
    args = parser.parse_args(argv)

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union
    from sklearn.preprocessing import Normalizer

    from kerasuite import config as cfg
    from kerasuite.data import text as text_data

    config = cfg.resolve({}, {}, {"task": "text_classification", "seed": args.seed})
    raw = text_data.load(args.data, config)

    def words(**kwargs):
        return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, **kwargs)

    variants = {
        "peer (char across words)": make_union(
            words(), TfidfVectorizer(analyzer="char", ngram_range=(2, 5), sublinear_tf=True, min_df=2)),
        "char_wb (char inside words)": make_union(
            words(), TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)),
        # the ngram family's TfidfBag normalises all ids together, not words and characters apart
        "char_wb, one L2 norm over words and characters": make_pipeline(make_union(
            words(norm=None), TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2,
                                              norm=None)), Normalizer()),
        # words as the ngram family's default splits them: whitespace, punctuation kept
        "words split on whitespace, punctuation kept": make_union(
            words(token_pattern=r"\S+"), TfidfVectorizer(analyzer="char", ngram_range=(2, 5), sublinear_tf=True, min_df=2)),
        # all three of the ngram family's default choices at once
        "char_wb + whitespace words + one L2 norm": make_pipeline(make_union(
            words(token_pattern=r"\S+", norm=None),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2, norm=None)), Normalizer()),
    }
    print(f"| {args.data}, seed {args.seed}, C={args.c:g} | test accuracy | features | seconds |")
    print("|---|---|---|---|")
    chosen = [int(n) for n in args.variants.split(",")] if args.variants else range(1, len(variants) + 1)
    for name, vectorizer in [list(variants.items())[n - 1] for n in chosen]:
        started = time.perf_counter()
        features = vectorizer.fit_transform(raw.train.texts)
        model = LogisticRegression(C=args.c, max_iter=3000).fit(features, raw.train.labels)
        accuracy = float((model.predict(vectorizer.transform(raw.test.texts)) == raw.test.labels).mean())
        print(f"| {name} | {accuracy:.4f} | {features.shape[1]:,} | {time.perf_counter() - started:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
