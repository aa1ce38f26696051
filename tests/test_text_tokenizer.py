"""The device tokenizer (kerasuite.runtime.text, no TensorFlow) gives the training
TextVectorization's ids exactly, on text chosen to break naive re-implementations."""

import subprocess
import sys

import numpy as np
import pytest
from helpers import REPO

from kerasuite.data.settings import TextDataConfig
from kerasuite.errors import UserError
from kerasuite.runtime import text as runtime_text

TRAIN = [
    "The cat sat on the mat. THE CAT!",
    "Héllo wörld, ÉCOLE école straße STRASSE",
    "naïve café\u00a0bar über-cool e-mail don't",
    "tabs\tand\nnewlines\rand\x0bvertical\x0cfeeds",
    "unicode\u2028line\u3000ideographic\u0085nel \x1cfs",
    "emoji 😀 party 😀 İstanbul ΣΊΣΥΦΟΣ",
    "[UNK] literal [unk] brackets (parens) {braces}",
    "numbers 123 4.56 7,890 and_underscores",
]
AWKWARD = TRAIN + [
    "",
    "   \t\n  ",
    "!!! ??? ...",
    "the " * 50,  # over-long: truncated to sequence_length
    "never seen words only",
    "The\u00a0cat",  # no-break space is not a separator
    "\ufeffthe cat",  # byte-order mark sticks to the first word
    "CAT's HAT; cat’s hat",  # ASCII vs typographic apostrophe
    "ÉCOLE école",
    "x\x00y the",
]


@pytest.fixture(scope="module", params=["lower_and_split_punctuation", "lower_and_strip_punctuation", "lower", "none"])
def adapted(request):
    from kerasuite.data.text import build_vectorizer

    config = TextDataConfig(max_tokens=60, sequence_length=7, standardize=request.param)
    return request.param, build_vectorizer(TRAIN, config)


def test_device_tokenizer_matches_text_vectorization_on_awkward_text(adapted):
    import tensorflow as tf

    mode, vectorizer = adapted
    vocabulary = vectorizer.get_vocabulary()
    expected = vectorizer(tf.constant(AWKWARD)).numpy()
    tokenizer = runtime_text.Tokenizer(vocabulary, 7, mode)
    got = tokenizer.encode_batch(AWKWARD)
    assert got.dtype == np.int32 and got.shape == (len(AWKWARD), 7)
    mismatched = [text for text, a, b in zip(AWKWARD, expected, got) if not np.array_equal(a, b)]
    assert not mismatched, f"{mode}: ids differ for {mismatched!r}"
    # the comparison exercised the interesting cases, not only padding
    assert (expected == runtime_text.OOV_ID).any() and (expected[:, -1] != 0).any() and (expected == 0).all(axis=1).any()


MIXED_CASE = ["cAt sAt", "the CaT"]  # words in the vocabulary, neither Capitalized nor UPPER


def test_mediapipe_regex_tokenizer_gives_the_training_ids(adapted):
    """MediaPipe's RegexTokenizer (its C++ logic, kerasuite.export.mediapipe_text.mediapipe_ids)
    with the exported delimiter and vocabulary: exact for the default mode on raw mixed-case,
    punctuated text; where a mode is not exact, the device step the export names makes it so."""
    import tensorflow as tf

    from kerasuite.export.mediapipe_text import NUL_STEP, mediapipe_ids, regex_tokenizer

    mode, vectorizer = adapted
    texts = AWKWARD + MIXED_CASE
    expected = vectorizer(tf.constant(texts)).numpy()
    tokenization = regex_tokenizer(vectorizer.get_vocabulary(), mode)
    nul = "x\x00y the"
    mismatched = {text for text, ids in zip(texts, expected) if mediapipe_ids(text, tokenization, 7) != ids.tolist()}
    if mode in ("lower_and_split_punctuation", "lower"):
        explained = set(MIXED_CASE) | {nul} | ({"CAT's HAT; cat’s hat"} if mode == "lower" else set())
        assert mismatched <= explained and nul in mismatched and "cAt sAt" in mismatched, mismatched
    if mode == "lower_and_split_punctuation":  # raw mixed-case punctuated text: same ids
        assert mismatched == set(MIXED_CASE) | {nul}
    if mode == "none":
        assert tokenization.exact and mismatched == {nul}
    assert NUL_STEP in tokenization.remaining
    # The app step the export states (lowercase ASCII, and delete punctuation where said) fixes the rest.
    app_step = (lambda t: runtime_text.standardize(t, mode)) if mode != "none" else (lambda t: t)
    after = {text for text, ids in zip(texts, expected)
             if mediapipe_ids(app_step(text), tokenization, 7) != ids.tolist()}
    assert after == {nul}


def test_pipeline_map_gives_the_same_ids_one_text_at_a_time(adapted):
    import tensorflow as tf

    from kerasuite.data.text import vectorize_fn

    _, vectorizer = adapted
    dataset = tf.data.Dataset.from_tensor_slices((AWKWARD, np.zeros(len(AWKWARD), np.int64))).map(vectorize_fn(vectorizer))
    per_element = np.stack([inputs["tokens"].numpy() for inputs, _ in dataset])
    assert per_element.dtype == np.int32
    np.testing.assert_array_equal(per_element, vectorizer(tf.constant(AWKWARD)).numpy())


def test_hand_computed_ids():
    vocabulary = ["", "[UNK]", "the", "cat", "école"]
    tokenizer = runtime_text.Tokenizer(vocabulary, 5, "lower_and_strip_punctuation")
    np.testing.assert_array_equal(tokenizer.encode("The CAT sat, the cat."), [2, 3, 1, 2, 3])
    np.testing.assert_array_equal(tokenizer.encode("École école"), [1, 4, 0, 0, 0])  # É is not ASCII: unchanged
    np.testing.assert_array_equal(tokenizer.encode("[UNK] the"), [1, 2, 0, 0, 0])  # brackets stripped -> "unk"
    np.testing.assert_array_equal(runtime_text.Tokenizer(vocabulary, 3, "none").encode("[UNK] the The"), [1, 2, 1])
    assert runtime_text.split_words(" a\u00a0b\tc\u2028d ") == ["a\u00a0b", "c\u2028d"]


def test_vocabulary_file_round_trips_tokens_with_unicode_line_breaks(tmp_path):
    vocabulary = ["", "[UNK]", "line\u2028sep", "nel\u0085x", "fs\x1cy", "café"]
    path = tmp_path / "vocab.txt"
    path.write_text(runtime_text.vocabulary_text(vocabulary), encoding="utf-8")
    assert runtime_text.read_vocabulary(path) == vocabulary
    with pytest.raises(ValueError, match="newline"):
        runtime_text.vocabulary_text(["", "[UNK]", "a\nb"])
    (tmp_path / "bad.txt").write_text("the\ncat\n", encoding="utf-8")
    with pytest.raises(UserError, match="bad.txt"):
        runtime_text.read_vocabulary(tmp_path / "bad.txt")


def test_edge_reader_turns_a_text_file_into_batch_one_ids(tmp_path):
    from kerasuite.runtime.inputs import READERS

    assert READERS["text"] == "kerasuite.runtime.text:read_text"
    (tmp_path / "vocab.txt").write_text(runtime_text.vocabulary_text(["", "[UNK]", "the", "cat"]), encoding="utf-8")
    sample = tmp_path / "sample.txt"
    sample.write_bytes("\ufeffThe cat\u00a0sat. \xff".encode("utf-8") + b"\xfe")  # BOM, NBSP, a broken byte
    preprocessing = {"kind": "text", "input": "tokens", "vocabulary": "vocab.txt", "sequence_length": 4,
                     "standardize": "lower_and_strip_punctuation"}
    arrays = runtime_text.read_text(str(sample), preprocessing, tmp_path)
    assert list(arrays) == ["tokens"]
    np.testing.assert_array_equal(arrays["tokens"], [[2, 1, 1, 0]])  # "cat\u00a0sat" is one unknown word
    assert arrays["tokens"].dtype == np.int32
    with pytest.raises(UserError, match="missing.txt"):
        runtime_text.read_text(str(tmp_path / "missing.txt"), preprocessing, tmp_path)


def test_unknown_standardize_mode_is_refused():
    with pytest.raises(UserError, match="standardize"):
        runtime_text.Tokenizer(["", "[UNK]"], 4, "lowercase")


def test_runtime_module_does_not_import_tensorflow():
    code = "import sys, kerasuite.runtime.text, kerasuite.runtime.inputs; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(REPO), timeout=60)
    assert done.stdout.strip() == "False False", done.stderr


def test_vocabulary_is_adapted_deterministically_on_training_text_only():
    from kerasuite.data.text import build_vectorizer

    config = TextDataConfig(max_tokens=100, sequence_length=4)
    first = build_vectorizer(TRAIN, config).get_vocabulary()
    assert first == build_vectorizer(TRAIN, config).get_vocabulary()
    assert first[:2] == ["", "[UNK]"] and first[2] == "the"  # most frequent word first
    assert "don" in first and "t" in first and "don't" not in first  # the default splits at punctuation
    assert "zebra" not in first
