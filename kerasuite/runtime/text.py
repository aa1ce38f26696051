"""Text input on a device: Keras ``TextVectorization`` reproduced in plain Python.

The exported text models take int32 token ids, so a device must standardize, split and look up
words exactly as training did. What TensorFlow does, measured on this TF version (and pinned by
``tests/test_text_tokenizer.py`` against the real layer on awkward text):

- ``lower``: ``tf.strings.lower`` without an encoding changes ASCII ``A-Z`` only (``É`` stays);
- strip punctuation: deletes the 32 ASCII punctuation characters (``string.punctuation``);
  split punctuation (the default): replaces each of them with a space, so they break words;
- split: ``tf.strings.split`` breaks on the six ASCII whitespace characters only
  (space, ``\\t \\n \\v \\f \\r``); non-breaking and other Unicode spaces stay inside words;
- lookup: id 0 is padding, id 1 is out-of-vocabulary, ``vocab.txt`` line *i* is id *i*;
- the first ``sequence_length`` tokens are kept, then zeros pad to that length.

numpy and the standard library only: this module runs where TensorFlow does not.
"""

from __future__ import annotations

import re
import string
from pathlib import Path

import numpy as np

from kerasuite.data.settings import STANDARDIZE_MODES  # noqa: F401  (one definition; numpy-free)
from kerasuite.errors import UserError
from kerasuite.runtime.device_spec import TextSpec

PAD_ID = 0
OOV_ID = 1
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_DROP_PUNCTUATION = str.maketrans("", "", string.punctuation)
# The 32 characters as a regex class valid in Python, RE2 (TensorFlow, MediaPipe) alike.
PUNCTUATION_CLASS = "".join("\\" + c if c in "\\[]^-" else c for c in string.punctuation)
_SPLIT_PUNCTUATION = str.maketrans(string.punctuation, " " * len(string.punctuation))
_ASCII_WHITESPACE = re.compile("[ \t\n\v\f\r]+")


def decode_text(data: bytes) -> str:
    """Bytes of a text file -> str, the same way for training files and device inputs: UTF-8,
    a leading byte-order mark dropped, undecodable bytes replaced (never an exception)."""
    return data.decode("utf-8-sig", errors="replace")


def standardize(text: str, mode: str) -> str:
    if mode not in STANDARDIZE_MODES:
        raise UserError(f"standardize {mode!r}: expected one of {', '.join(STANDARDIZE_MODES)}")
    if mode != "none":
        text = text.translate(_ASCII_LOWER)
    if mode == "lower_and_strip_punctuation":
        text = text.translate(_DROP_PUNCTUATION)
    if mode == "lower_and_split_punctuation":
        text = text.translate(_SPLIT_PUNCTUATION)
    return text


def split_words(text: str) -> list[str]:
    return [word for word in _ASCII_WHITESPACE.split(text) if word]


def read_vocabulary(path: str | Path) -> list[str]:
    """``vocab.txt``: one token per line, line 0 the (empty) padding token, line 1 ``[UNK]``.

    Split on ``\\n`` only: tokens may contain other line-breaking characters (U+2028, U+0085...)
    that ``str.splitlines`` would cut.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: vocabulary file not found")
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) < 2 or lines[0] != "":
        raise UserError(f"{path}: not a vocabulary file (line 1 must be empty padding, line 2 the OOV token)")
    return lines


def vocabulary_text(vocabulary: list[str]) -> str:
    """The content of ``vocab.txt`` for ``vocabulary`` (callers write it atomically)."""
    for token in vocabulary:
        if "\n" in token:  # cannot happen after whitespace splitting; guard the file format
            raise ValueError(f"vocabulary token {token!r} contains a newline")
    return "\n".join(vocabulary) + "\n"


class Tokenizer:
    """Text -> int32 ids ``[sequence_length]``, identical to the training ``TextVectorization``."""

    def __init__(self, vocabulary: list[str], sequence_length: int, standardize_mode: str):
        if sequence_length < 1:
            raise ValueError(f"sequence_length must be positive, got {sequence_length}")
        self.vocabulary = list(vocabulary)
        self.sequence_length = int(sequence_length)
        self.standardize_mode = standardize_mode
        standardize("", standardize_mode)  # validates the mode
        # Special tokens first: a text word equal to "[UNK]" must map to OOV like in StringLookup.
        self.ids = {token: index for index, token in reversed(list(enumerate(self.vocabulary)))}

    def words(self, text: str) -> list[str]:
        return split_words(standardize(text, self.standardize_mode))

    def encode(self, text: str) -> np.ndarray:
        ids = np.zeros(self.sequence_length, dtype=np.int32)
        words = self.words(text)[: self.sequence_length]
        ids[: len(words)] = [self.ids.get(word, OOV_ID) for word in words]
        return ids

    def encode_batch(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.encode(t) for t in texts]) if texts else np.zeros((0, self.sequence_length), np.int32)


def tokenizer_from_preprocessing(spec: TextSpec | dict, bundle_dir: Path) -> Tokenizer:
    spec = TextSpec.coerce(spec)
    vocabulary = read_vocabulary(Path(bundle_dir) / spec.vocabulary)
    return Tokenizer(vocabulary, spec.sequence_length, spec.standardize)


_BINARY_SIGNATURES = (b"\x89PNG", b"RIFF", b"\xff\xd8\xff", b"GIF8", b"PK\x03\x04", b"\x93NUMPY", b"II*\x00", b"MM\x00*")


def looks_binary(data: bytes) -> bool:
    """A file a text model must not silently predict on: a known binary format, or NUL bytes
    (which no UTF-8 text file holds)."""
    return data.startswith(_BINARY_SIGNATURES) or b"\0" in data[:65536]


def read_text(path: str, spec: TextSpec | dict, bundle_dir: Path) -> dict[str, np.ndarray]:
    """``TextSpec.reader``: one text file -> ``{input_name: int32 [1, sequence_length]}``."""
    spec = TextSpec.coerce(spec)
    file = Path(path)
    if not file.is_file():
        raise UserError(f"--input {path}: no such file")
    data = file.read_bytes()
    if looks_binary(data):
        raise UserError(f"--input {path}: not a text file (binary content such as an image or audio clip); "
                        "this bundle's model reads text")
    text = decode_text(data)
    if spec.ngrams is not None:  # the ngram family: hashed n-gram ids, not a token sequence
        from kerasuite.runtime.text_ngrams import featurizer_from_preprocessing

        ids = featurizer_from_preprocessing(spec, bundle_dir).encode(text)
    else:
        ids = tokenizer_from_preprocessing(spec, bundle_dir).encode(text)
    return {spec.input: ids[None]}
