"""The ngram family's feature ids: FNV-1a against published values, the memoised featurizer
against a plain reference written from the documented layout, the training pipeline's ids against
the bundle's device featurizer, and the exported graph builtins-only in every mode."""

import dataclasses
import json
import math
import re

import numpy as np
import pytest
from helpers import run_cli, run_tiny
from test_text_tokenizer import AWKWARD

from kerasuite.runtime import text_ngrams
from kerasuite.runtime.text import OOV_ID, split_words, standardize

NGRAM_TINY = {  # the default model (TF-IDF-weighted linear bag), small tables, every bucket a row
    "model.ngram.bigram_buckets": "97",
    "model.ngram.char_buckets": "101",
    "model.ngram.char_min_df": "0",
    "model.ngram.max_features": "64",
}


def test_fnv1a32_matches_published_values_and_continues():
    # FNV-1a 32-bit reference values (draft-eastlake-fnv, Landon Curt Noll's test vectors)
    assert text_ngrams.fnv1a32(b"") == 0x811C9DC5
    assert text_ngrams.fnv1a32(b"a") == 0xE40C292C
    assert text_ngrams.fnv1a32(b"foobar") == 0xBF9CF968
    assert text_ngrams.fnv1a32(b"bar", text_ngrams.fnv1a32(b"foo")) == 0xBF9CF968


_LOWER_ASCII = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _reference_char_ids(text, offset, spec):
    fnv, out = text_ngrams.fnv1a32, []
    for start in range(len(text)):
        for length in range(spec.char_min, spec.char_max + 1):
            if start + length <= len(text):
                out.append(offset + fnv(text[start:start + length].encode("utf-8")) % spec.char_buckets)
    return out


def _reference_ids(text, vocabulary, spec, mode):
    """The layout as documented, with no memoising or incremental hashing."""
    ids_of = {}
    for index, token in enumerate(vocabulary):
        ids_of.setdefault(token, index)
    fnv, v, b = text_ngrams.fnv1a32, len(vocabulary), spec.bigram_buckets
    out = []
    words = split_words(standardize(text, mode))
    for position, word in enumerate(words):
        out.append(ids_of.get(word, OOV_ID))
        if b and position:
            out.append(v + fnv(f"{words[position - 1]} {word}".encode("utf-8")) % b)
        marked = f"<{word}>"
        if spec.char_buckets and spec.char_scope == "word":
            out.extend(_reference_char_ids(marked, v + b, spec))
    if spec.char_buckets and spec.char_scope == "text":  # the lowercased text, whitespace runs as one space
        out.extend(_reference_char_ids(" ".join(w for w in re.split("[ \t\n\v\f\r]+", text.translate(_LOWER_ASCII)) if w), v + b, spec))
    if spec.repeats != "all":
        kept, counts = [], {}
        for new_id in out:
            counts[new_id] = counts.get(new_id, 0) + 1
            if counts[new_id] == 1 or (spec.repeats == "log2" and math.log2(counts[new_id]).is_integer()):
                kept.append(new_id)
        out = kept
    row = np.zeros(spec.max_features, np.int32)
    row[: min(len(out), spec.max_features)] = out[: spec.max_features]
    return row


@pytest.mark.parametrize("spec", [
    text_ngrams.NgramSpec(40, 13, 17, 2, 4),
    text_ngrams.NgramSpec(300, 1000, 0, 2, 5),  # no character n-grams, nothing truncated
    text_ngrams.NgramSpec(300, 0, 50, 1, 3),  # no bigrams
    text_ngrams.NgramSpec(20, 13, 17, 2, 4, repeats="once"),  # tiny tables: many repeats to drop
    text_ngrams.NgramSpec(300, 1000, 50, 1, 3, repeats="once"),
    text_ngrams.NgramSpec(300, 7, 11, 1, 3, repeats="log2"),  # tiny tables: ids seen 2-20 times
    text_ngrams.NgramSpec(300, 13, 17, 2, 4, char_scope="text"),  # characters across words
    text_ngrams.NgramSpec(30, 13, 17, 2, 4, repeats="log2", char_scope="text"),  # ...truncated
])
@pytest.mark.parametrize("mode", ["lower_and_strip_punctuation", "none"])
def test_featurizer_matches_the_documented_layout_on_awkward_text(spec, mode):
    vocabulary = ["", "[UNK]", "the", "cat", "école", "😀", "[UNK]"]
    featurizer = text_ngrams.NgramFeaturizer(vocabulary, spec, mode)
    got = featurizer.encode_batch(AWKWARD * 2)  # twice: the memoised words must give the same ids
    assert got.dtype == np.int32 and got.shape == (2 * len(AWKWARD), spec.max_features)
    expected = np.stack([_reference_ids(text, vocabulary, spec, mode) for text in AWKWARD * 2])
    np.testing.assert_array_equal(got, expected)
    assert got.max() < featurizer.num_ids
    if spec.max_features <= 40:
        assert (got[:, -1] != 0).any()  # truncation was exercised
    if spec.repeats == "once":
        assert all(len(set(row[row > 0])) == np.count_nonzero(row) for row in got)
    if spec.repeats == "log2":  # some id kept 3+ times: the 4th occurrence was reached
        assert any(np.bincount(row[row > 0]).max() >= 3 for row in got)
    assert (got == OOV_ID).any() and (got == 2).any()


def test_hand_computed_ids():
    fnv = text_ngrams.fnv1a32
    spec = text_ngrams.NgramSpec(max_features=12, bigram_buckets=10, char_buckets=7, char_min=3, char_max=3)
    featurizer = text_ngrams.NgramFeaturizer(["", "[UNK]", "ab"], spec, "lower")
    chars = [3 + 10 + fnv(gram.encode()) % 7 for gram in ("<ab", "ab>")]
    bigram = 3 + fnv(b"ab zz") % 10
    zz_chars = [3 + 10 + fnv(gram.encode()) % 7 for gram in ("<zz", "zz>")]
    expected = [2, *chars, 1, bigram, *zz_chars] + [0] * 5
    np.testing.assert_array_equal(featurizer.encode("AB zz"), expected)


def test_text_scope_character_ids_by_hand():
    # words first (punctuation stripped from them), then the n-grams of "ab, c" across the space
    fnv = text_ngrams.fnv1a32
    spec = text_ngrams.NgramSpec(max_features=12, bigram_buckets=0, char_buckets=7, char_min=3, char_max=3,
                                 char_scope="text")
    featurizer = text_ngrams.NgramFeaturizer(["", "[UNK]", "ab"], spec, "lower_and_strip_punctuation")
    chars = [3 + fnv(gram.encode()) % 7 for gram in ("ab,", "b, ", ", c")]
    np.testing.assert_array_equal(featurizer.encode("AB,\n\t c"), [2, 1, *chars] + [0] * 7)
    assert text_ngrams.NgramSpec.from_dict(spec.as_dict()) == spec
    assert "char_scope" not in dataclasses.replace(spec, char_scope="word").as_dict()  # older bundles' bytes
    with pytest.raises(ValueError, match="char_scope 'sentence'"):
        text_ngrams.NgramSpec.from_dict({**spec.as_dict(), "char_scope": "sentence"}).check()


def test_log2_repeats_by_hand():
    # "a" five times: kept at occurrences 1, 2 and 4 (1 + floor(log2 5) = 3); no bigrams or chars
    spec = text_ngrams.NgramSpec(max_features=8, bigram_buckets=0, char_buckets=0, char_min=1, char_max=1, repeats="log2")
    featurizer = text_ngrams.NgramFeaturizer(["", "[UNK]", "a", "b"], spec, "lower")
    np.testing.assert_array_equal(featurizer.encode("a b a a a a"), [2, 3, 2, 2, 0, 0, 0, 0])


def test_older_bundles_read_their_repeats():
    spec = text_ngrams.NgramSpec(8, 3, 5, 2, 3, repeats="log2")
    assert text_ngrams.NgramSpec.from_dict(spec.as_dict()) == spec
    counts = {key: value for key, value in spec.as_dict().items() if key != "repeats"}
    assert text_ngrams.NgramSpec.from_dict({**counts, "unique": True}).repeats == "once"
    assert text_ngrams.NgramSpec.from_dict(counts).repeats == "all"
    with pytest.raises(ValueError, match="repeats"):
        text_ngrams.NgramSpec.from_dict({**counts, "repeats": "twice"}).check()


def test_a_bundle_with_unknown_repeats_is_one_user_error(tmp_path):
    from kerasuite.errors import UserError
    from kerasuite.runtime.device_spec import TextSpec

    spec = TextSpec(vocabulary="vocab.txt", sequence_length=8, standardize="lower", split="whitespace", pad_id=0,
                    oov_id=1, input="ngram_ids", tokens=("", "[UNK]"),
                    ngrams=text_ngrams.NgramSpec(8, 3, 5, 2, 3, repeats="log2"), note="")
    preprocessing = spec.to_json()
    preprocessing["ngrams"]["repeats"] = "twice"
    (tmp_path / "vocab.txt").write_text("\n[UNK]\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"signature.json: preprocessing.ngrams is not usable.*twice"):
        text_ngrams.featurizer_from_preprocessing(preprocessing, tmp_path)


def test_bad_spec_names_the_key():
    with pytest.raises(ValueError, match="model.ngram.char_min"):
        text_ngrams.NgramFeaturizer(["", "[UNK]"], text_ngrams.NgramSpec(8, 0, 5, 4, 2), "lower")


def _kept_reference(text, vocabulary, spec, kept):
    """The documented kept-ids rule on the plain reference: every id of the untruncated row, hashed
    ones replaced by V + their position in ``kept`` or dropped, then the first max_features."""
    import dataclasses

    v = len(vocabulary)
    untruncated = _reference_ids(text, vocabulary, dataclasses.replace(spec, max_features=100_000, kept_ids=""), "lower")
    position = {int(raw): v + i for i, raw in enumerate(kept)}
    out = [int(i) if i < v else position[int(i)] for i in untruncated if i and (i < v or int(i) in position)]
    row = np.zeros(spec.max_features, np.int32)
    row[: min(len(out), spec.max_features)] = out[: spec.max_features]
    return row


@pytest.mark.parametrize("repeats", ["log2", "all"])
def test_kept_ids_renumber_what_training_saw_and_drop_the_rest(repeats):
    import dataclasses

    vocabulary = ["", "[UNK]", "the", "cat"]
    spec = text_ngrams.NgramSpec(30, 1 << 16, 1 << 16, 2, 4, repeats=repeats)
    training = ["the cat sat on the mat", "the dog sat", "a cat and a dog", "zebra crossing"]
    every_bucket = text_ngrams.NgramFeaturizer(vocabulary, spec, "lower")
    kept = text_ngrams.kept_hashed_ids(every_bucket, training, char_min_df=2)
    rows = [every_bucket.encode(text) for text in training]
    v, first_char = len(vocabulary), len(vocabulary) + (1 << 16)
    in_texts = [set(row[row >= v].tolist()) for row in rows]
    bigrams = set().union(*in_texts) & set(range(v, first_char))
    chars_twice = {i for i in set().union(*in_texts) if i >= first_char and sum(i in seen for seen in in_texts) >= 2}
    assert set(kept.tolist()) == bigrams | chars_twice  # bigrams seen once, characters seen in 2+ texts
    assert chars_twice and any(i >= first_char for i in set().union(*in_texts) - chars_twice)  # both cases occur
    compact = text_ngrams.NgramFeaturizer(vocabulary, dataclasses.replace(spec, kept_ids="ngram_ids.npy"), "lower", kept)
    assert compact.num_ids == v + len(kept)
    for text in [*training, "the zebra and the cat sat on a crossing", "unseen words only"]:
        np.testing.assert_array_equal(compact.encode(text), _kept_reference(text, vocabulary, spec, kept))
    assert (compact.encode_batch(training)[:, -1] != 0).any()  # truncation after dropping was exercised


def test_kept_ids_must_fit_the_spec():
    import dataclasses

    spec = dataclasses.replace(text_ngrams.NgramSpec(8, 10, 10, 2, 3), kept_ids="ngram_ids.npy")
    vocabulary = ["", "[UNK]", "a"]
    with pytest.raises(ValueError, match="go together"):
        text_ngrams.NgramFeaturizer(vocabulary, spec, "lower")
    for bad in ([5, 4], [3, 3], [2, 5], [3, 23]):  # unsorted, repeated, a vocabulary id, past the buckets
        with pytest.raises(ValueError, match="sorted, unique"):
            text_ngrams.NgramFeaturizer(vocabulary, spec, "lower", np.array(bad))


def test_a_bundle_with_a_broken_kept_ids_file_is_one_user_error(tmp_path):
    from kerasuite.errors import UserError
    from kerasuite.runtime.device_spec import TextSpec

    spec = TextSpec(vocabulary="vocab.txt", sequence_length=8, standardize="lower", split="whitespace", pad_id=0,
                    oov_id=1, input="ngram_ids", tokens=("", "[UNK]"),
                    ngrams=text_ngrams.NgramSpec(8, 3, 5, 2, 3, repeats="log2", kept_ids="ngram_ids.npy"), note="")
    (tmp_path / "vocab.txt").write_text("\n[UNK]\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"ngram_ids.npy: cannot read"):
        text_ngrams.featurizer_from_preprocessing(spec.to_json(), tmp_path)
    (tmp_path / "ngram_ids.npy").write_bytes(b"")  # an empty (truncated) file: still one line
    with pytest.raises(UserError, match=r"ngram_ids.npy: cannot read the kept n-gram ids \([^\n]*\)$"):
        text_ngrams.featurizer_from_preprocessing(spec.to_json(), tmp_path)
    np.save(tmp_path / "ngram_ids.npy", np.array([4, 3], np.int32))
    with pytest.raises(UserError, match=r"signature.json: preprocessing.ngrams does not fit its files .*sorted"):
        text_ngrams.featurizer_from_preprocessing(spec.to_json(), tmp_path)
    np.save(tmp_path / "ngram_ids.npy", np.array([3, 9], np.int32))
    assert text_ngrams.featurizer_from_preprocessing(spec.to_json(), tmp_path).num_ids == 4


def test_naive_bayes_solver_keeps_its_solution_through_keras_training(tmp_path):
    # nb_lbfgs freezes the solved table: cross-entropy epochs would head back to the multinomial optimum
    report = run_tiny("text_classification", tmp_path, {**NGRAM_TINY, "model.ngram.solver": "nb_lbfgs", "train.epochs": "3"},
                      modes="float32", family="ngram")
    solver = report["train"]["build"]["ngram_solver"]
    assert solver["method"] == "nb_lbfgs"
    # nothing is left to train: one epoch records the solved model, whatever train.epochs says
    assert report["train"]["epochs"] == 1 and report["train"]["nothing_trainable"] is True
    # ...and that model is the solved table on its int8 grid, logits clipped (int8_grid, the default)
    assert report["train"]["final_val_accuracy"] == pytest.approx(solver["int8_grid"]["validation_accuracy"], abs=1e-6)
    assert report["exports"]["float32"]["parity"]["passed"]
    import keras

    assert not keras.saving.load_model(tmp_path / "run" / "model.keras").get_layer("tfidf_bag").trainable


@pytest.mark.parametrize("kept,scope", [(False, "word"), (True, "word"), (False, "text")],
                         ids=["every_bucket", "kept_ids", "text_scope"])
def test_ngram_exports_builtins_and_the_device_reproduces_training_ids(tmp_path, kept, scope):
    from kerasuite import config as cfg
    from kerasuite.runtime.text_ngrams import featurizer_from_preprocessing

    settings = {**NGRAM_TINY, "model.ngram.bigram_buckets": "65536", "model.ngram.char_buckets": "65536",
                "model.ngram.char_min_df": "2"} if kept else dict(NGRAM_TINY)
    settings["model.ngram.char_scope"] = scope
    report = run_tiny("text_classification", tmp_path, settings, modes="float32,dynamic,int8", family="ngram")
    assert report["model"] == "ngram"
    # the solve happens while the model is built: metrics.json times it beside the fit
    assert report["train"]["build_seconds"] > 0 and report["train"]["seconds"] > 0
    # ...and records which C the solver chose on validation, with every candidate's score
    solver = report["train"]["build"]["ngram_solver"]
    assert solver["method"] == "nb_lbfgs" and set(solver["validation_accuracy_by_c"]) == {"1", "10", "100"}
    # the default NB table is frozen on its int8 grid, the logits clipped to validation's decision range
    low, high = solver["int8_grid"]["logit_clip"]
    assert low < high
    assert solver["validation_accuracy"] == max(solver["validation_accuracy_by_c"].values())
    assert f"{solver['c']:g}" in solver["validation_accuracy_by_c"]
    for mode, entry in report["exports"].items():
        assert entry["parity"]["passed"], (mode, entry["parity"]["failures"])
        ops = set(entry["ops"])
        assert not any(op.startswith("Flex") or op in ("CUSTOM", "WHILE") for op in ops), (mode, ops)
        # idf and table lookups, L2 normalisation (sums of squares as BATCH_MATMULs), the weighted
        # sum over positions, the decision-range clip
        assert {"GATHER", "RSQRT", "BATCH_MATMUL", "MINIMUM", "MAXIMUM"} <= ops, (mode, ops)
    bundle, run = tmp_path / "bundle", tmp_path / "run"
    signature = json.loads((bundle / "signature.json").read_text())
    preprocessing = signature["preprocessing"]
    assert preprocessing["ngrams"]["hash"] == "fnv1a32" and preprocessing["sequence_length"] == 64
    # the note tells a device how to compute the ids: character n-grams per word or of the whole text
    assert preprocessing["ngrams"].get("char_scope", "word") == scope
    assert ("of the whole text" in preprocessing["note"]) == (scope == "text")
    # golden.npz holds held-out examples as the training pipeline computed their ids: each one is
    # the device featurizer's row for some test text
    from kerasuite.data import text as text_data

    config = cfg.resolve(cfg.load_config_file(run / "config.json"))
    test_texts = text_data.load(config.data.source, config).test.texts
    golden = np.load(bundle / "golden.npz")["input__ngram_ids"]
    on_device = {row.tobytes() for row in featurizer_from_preprocessing(preprocessing, bundle).encode_batch(test_texts)}
    vocabulary_size = len((bundle / "vocab.txt").read_text(encoding="utf-8").split("\n")) - 1
    assert (golden >= vocabulary_size).any()  # hashed n-grams are really in there
    missing = [index for index, row in enumerate(golden) if row.tobytes() not in on_device]
    assert len(golden) >= 2 and not missing, f"golden rows {missing} differ from every device row"
    if kept:  # the table holds the vocabulary and the kept hashed ids only, listed in the bundle
        import keras

        assert preprocessing["ngrams"]["kept_ids"] == "ngram_ids.npy"
        kept_ids = np.load(bundle / "ngram_ids.npy")
        np.testing.assert_array_equal(kept_ids, np.load(run / "ngram_ids.npy"))
        table_rows = keras.saving.load_model(run / "model.keras").get_layer("tfidf_bag").table.shape[0]
        assert table_rows == vocabulary_size + len(kept_ids) < vocabulary_size + 2 * 65536
    else:
        assert "kept_ids" not in preprocessing["ngrams"]
    # a raw text file through the TF-free edge runner
    sample = tmp_path / "sample.txt"
    sample.write_text("Some words, some more words!", encoding="utf-8")
    done = run_cli("kerasuite.edge", str(bundle / "model_int8.tflite"), "--input", str(sample), "--runs", "2")
    assert done.returncode == 0, done.stderr
    assert "sample.txt: topic_" in done.stdout


@pytest.mark.parametrize("kept", [False, True], ids=["every_bucket", "kept_ids"])
def test_words_and_characters_normalised_apart_export_and_pass_parity(tmp_path, kept):
    """model.ngram.normalize=apart adds a gathered per-id kind table and a second L2 norm: still
    builtins only, parity in every mode, and the Keras model really has the second norm (with kept
    ids, the characters start after the kept bigrams)."""
    import keras

    settings = {**NGRAM_TINY, "model.ngram.normalize": "apart"}
    if kept:
        settings["model.ngram.char_min_df"] = "2"
    report = run_tiny("text_classification", tmp_path, settings, modes="float32,dynamic,int8", family="ngram")
    for mode, entry in report["exports"].items():
        assert entry["parity"]["passed"], (mode, entry["parity"]["failures"])
        assert not any(op.startswith("Flex") or op in ("CUSTOM", "WHILE") for op in entry["ops"]), (mode, entry["ops"])
    bag = keras.saving.load_model(tmp_path / "run" / "model.keras").get_layer("tfidf_bag")
    vocabulary_size = len((tmp_path / "bundle" / "vocab.txt").read_text(encoding="utf-8").split("\n")) - 1
    if kept:
        kept_ids = np.load(tmp_path / "bundle" / "ngram_ids.npy")
        kept_bigrams = int((kept_ids < vocabulary_size + 97).sum())
        assert 0 < kept_bigrams < len(kept_ids)
        assert bag.split_at == vocabulary_size + kept_bigrams
    else:
        assert bag.split_at == vocabulary_size + 97  # characters start after the vocabulary and the bigram buckets
    assert np.asarray(bag.second_kind)[bag.split_at:].min() == 1.0 and np.asarray(bag.second_kind)[:bag.split_at].max() == 0.0
