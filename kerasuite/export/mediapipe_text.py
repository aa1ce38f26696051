"""Training's text standardization, as far as MediaPipe's RegexTokenizer can express it.

MediaPipe's TextClassifier tokenizes a model with one int32 input with ``RegexTokenizerOptions``
(mediapipe/tasks/cc/text/tokenizers/regex_tokenizer.cc): it splits the raw text at every match
of an RE2 delimiter pattern, looks each piece up in a vocabulary file of ``token id`` lines (ids
may repeat), and fills ``[1, sequence_length]`` with the ids, ``<UNKNOWN>``'s id for missing
pieces and ``<PAD>``'s id after the text. It cannot change the text: no lowercasing, no deleting.

How each ``data.text.standardize`` mode maps onto that:

- ``none``: split on the six ASCII whitespace characters, as ``tf.strings.split`` does: exact.
- ``lower``: the vocabulary lists each word also Capitalized and in UPPER case with the same id
  (TensorFlow lowercases ASCII A-Z only, so these are the only spellings of a word that ordinary
  text uses). Words with other mixes (``iPhone``, ``McDonald``) are not listed: the app must
  ASCII-lowercase the text first, or they become ``<UNKNOWN>``.
- ``lower_and_strip_punctuation``: deleting punctuation inside a word (``don't`` -> ``dont``) has
  no regex-split equivalent; the delimiter splits at punctuation too (exact for punctuation next
  to spaces, the common case), and ``remaining`` says what the app must do for exact ids.
- ``lower_and_split_punctuation``: punctuation separates words like whitespace does, so the
  delimiter expresses it exactly; only the case rule of ``lower`` remains.
"""

from __future__ import annotations

import dataclasses
import string

from kerasuite.export.metadata import RegexTokenizerInput

from kerasuite.runtime.text import PUNCTUATION_CLASS

WHITESPACE_CLASS = r"\t\n\v\f\r "
_ASCII_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)
PAD_TOKEN, UNKNOWN_TOKEN = "<PAD>", "<UNKNOWN>"

NUL_STEP = "MediaPipe reads the text as a C string: anything after a NUL character is ignored"
CASE_STEP = ("words mixing upper and lower case other than Capitalized or UPPER (e.g. 'iPhone') map to "
             "<UNKNOWN> unless the app lowercases ASCII A-Z before classify(); " + NUL_STEP)
STRIP_STEP = ("delete the 32 ASCII punctuation characters and lowercase ASCII A-Z before classify(): "
              "MediaPipe splits at punctuation instead, so a word with punctuation inside (don't, e.g.) "
              "differs; " + NUL_STEP)


@dataclasses.dataclass(frozen=True)
class RegexTokenization:
    input: RegexTokenizerInput
    exact: bool  # same ids as training for every text
    remaining: str | None  # the device-side step an app must do, when not exact


def case_variants(word: str) -> list[str]:
    """The spellings ASCII lowercasing maps onto ``word``, as ordinary text writes them."""
    upper = word.translate(_ASCII_UPPER)
    capitalized = word[:1].translate(_ASCII_UPPER) + word[1:]
    return list(dict.fromkeys([word, capitalized, upper]))


def vocabulary_lines(vocabulary: list[str], with_case_variants: bool) -> bytes:
    """``token id`` lines: id 0 ``<PAD>``, id 1 ``<UNKNOWN>`` (training's padding and OOV ids)."""
    lines = [f"{PAD_TOKEN} 0", f"{UNKNOWN_TOKEN} 1"]
    for index, word in enumerate(vocabulary[2:], start=2):
        for spelling in case_variants(word) if with_case_variants else [word]:
            lines.append(f"{spelling} {index}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def regex_tokenizer(vocabulary: list[str], standardize: str) -> RegexTokenization:
    lower = standardize != "none"
    if standardize in ("none", "lower"):
        delim = f"[{WHITESPACE_CLASS}]+"
    else:
        delim = f"[{WHITESPACE_CLASS}{PUNCTUATION_CLASS}]+"
    tokenizer = RegexTokenizerInput(delim_regex=delim, vocabulary=vocabulary_lines(vocabulary, lower))
    if standardize == "none":
        return RegexTokenization(tokenizer, True, NUL_STEP)
    if standardize == "lower_and_strip_punctuation":
        return RegexTokenization(tokenizer, False, STRIP_STEP)
    return RegexTokenization(tokenizer, False, CASE_STEP)


def mediapipe_ids(text: str, tokenization: RegexTokenization, sequence_length: int) -> list[int]:
    """What MediaPipe's RegexPreprocessorCalculator feeds the model for ``text`` (its C++ in Python:
    C-string input, split at delimiter matches, empty pieces dropped, ``token id`` lookup, no
    <START> token in kerasuite vocabularies, <PAD> after the text)."""
    import re

    ids = {}
    for line in tokenization.input.vocabulary.decode("utf-8").split("\n"):
        if line:
            token, _, index = line.rpartition(" ")
            ids[token] = int(index)
    pieces = [p for p in re.split(tokenization.input.delim_regex, text.split("\x00", 1)[0]) if p]
    found = [ids.get(piece, ids[UNKNOWN_TOKEN]) for piece in pieces][:sequence_length]
    return found + [ids[PAD_TOKEN]] * (sequence_length - len(found))
