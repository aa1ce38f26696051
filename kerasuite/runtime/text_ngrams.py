"""N-gram feature ids for the ``ngram`` text family, in plain Python (training and devices alike).

The model takes one int32 row of ``max_features`` ids into one embedding table:

- ``[0, V)``: word unigrams, ``V`` = vocabulary size; the id is the word's line in ``vocab.txt``
  (0 padding, 1 out-of-vocabulary), exactly as :class:`kerasuite.runtime.text.Tokenizer`;
- ``[V, V + B)``: word bigrams, ``V + fnv1a32(utf8(w1 + " " + w2)) % B``;
- ``[V + B, V + B + C)``: character n-grams of ``"<" + word + ">"`` for every length from
  ``char_min`` to ``char_max``, ``V + B + fnv1a32(utf8(gram)) % C`` (n-grams of UTF-8 *characters*,
  hashed as their UTF-8 bytes).

With ``char_scope="text"`` the character n-grams are instead those of the whole text, lowercased,
punctuation kept, whitespace runs as one space (:meth:`NgramFeaturizer.char_text`), across word
boundaries as the TF-IDF peer's ``analyzer="char"``; they follow all the word ids in the row.

Words come from the same standardize + whitespace split as the tokenizer. Ids are emitted word by
word (the word's unigram, its bigram with the previous word, then its character n-grams by start
position and length) and the row keeps the first ``max_features`` of them, padded with 0, so a
long text loses its end, never one kind of feature. ``repeats`` says how often an id that occurs
``c`` times in the text enters the row: ``"all"`` (``c`` times), ``"once"`` (its first occurrence;
binary term frequency) or ``"log2"`` (at its 1st, 2nd, 4th, 8th, ... occurrence, so
``1 + floor(log2 c)`` times: the TF-IDF-weighted model's sublinear term frequency, computed by the
featurizer so the graph needs no counting).

FNV-1a (32 bit; offset basis 2166136261, prime 16777619) is used because any device can compute
it in a few lines; training computes the ids with this very module, so nothing in TensorFlow has
to agree with it. ``B = 0`` or ``C = 0`` turns that feature kind off.

**Kept ids** (``NgramSpec.kept_ids``, a sorted int32 ``.npy`` in the bundle): with large bucket
counts most buckets are empty, so training lists the hashed ids it saw often enough
(:func:`kept_hashed_ids`: word bigrams in at least one training text, character n-grams in at least
``char_min_df``, as the TF-IDF peer's vocabularies with ``min_df``) and the table holds only those.
A hashed id found at position ``i`` of that list becomes ``V + i``; one not in the list is dropped
(it takes no place in the row), as the peer ignores n-grams outside its vocabulary.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from kerasuite.errors import UserError
from kerasuite.runtime.device_spec import TextSpec
from kerasuite.runtime.text import OOV_ID, read_vocabulary, split_words, standardize

FNV_OFFSET = 0x811C9DC5
FNV_PRIME = 0x01000193
HASH_NAME = "fnv1a32"
REPEATS = ("all", "once", "log2")
CHAR_SCOPES = ("word", "text")


def fnv1a32(data: bytes, state: int = FNV_OFFSET) -> int:
    """FNV-1a over ``data``, continuing from ``state`` (hashing ``a`` then ``b`` = hashing ``a + b``)."""
    for byte in data:
        state = ((state ^ byte) * FNV_PRIME) & 0xFFFFFFFF
    return state


@dataclasses.dataclass(frozen=True)
class NgramSpec:
    """What a device needs besides ``vocab.txt``; stored in the bundle's signature.json."""

    max_features: int
    bigram_buckets: int
    char_buckets: int
    char_min: int
    char_max: int
    repeats: str = "all"  # "all", "once" or "log2" (module docstring)
    kept_ids: str = ""  # "" (every bucket is an id) or the bundle's list of kept hashed ids (module docstring)
    char_scope: str = "word"  # "word" (n-grams of "<word>") or "text" (across words; module docstring)

    def check(self) -> None:
        if self.max_features < 1:
            raise ValueError(f"model.ngram.max_features: must be at least 1, got {self.max_features}")
        if self.bigram_buckets < 0 or self.char_buckets < 0:
            raise ValueError("model.ngram.bigram_buckets / char_buckets: must be 0 (off) or positive")
        if self.char_scope not in CHAR_SCOPES:
            raise ValueError(f"model.ngram.char_scope {self.char_scope!r}: must be one of {', '.join(CHAR_SCOPES)}")
        if self.repeats not in REPEATS:
            raise ValueError(f"n-gram repeats {self.repeats!r}: must be one of {', '.join(REPEATS)}")
        if self.char_buckets and not 1 <= self.char_min <= self.char_max:
            raise ValueError(f"model.ngram.char_min/char_max: need 1 <= char_min <= char_max, got {self.char_min}, {self.char_max}")

    def as_dict(self) -> dict:
        values = {"hash": HASH_NAME, **dataclasses.asdict(self)}
        if not self.kept_ids:
            del values["kept_ids"]  # bundles without kept ids stay byte-identical to earlier ones
        if self.char_scope == "word":
            del values["char_scope"]  # as kept_ids
        return values

    @classmethod
    def from_dict(cls, values: dict) -> "NgramSpec":
        if values.get("hash", HASH_NAME) != HASH_NAME:
            raise ValueError(f"n-gram hash {values.get('hash')!r}: only {HASH_NAME} is known")
        counts = {field.name: int(values[field.name]) for field in dataclasses.fields(cls)
                  if field.name not in ("repeats", "kept_ids", "char_scope")}
        # bundles before "repeats" said "unique" (true = "once"), and before that nothing ("all")
        repeats = values.get("repeats", "once" if values.get("unique") else "all")
        return cls(**counts, repeats=str(repeats), kept_ids=str(values.get("kept_ids", "")),
                   char_scope=str(values.get("char_scope", "word")))


class NgramFeaturizer:
    """Text -> int32 ids ``[max_features]`` (module docstring: the layout and the hash)."""

    def __init__(self, vocabulary: list[str], spec: NgramSpec, standardize_mode: str, kept: np.ndarray | None = None):
        spec.check()
        standardize("", standardize_mode)  # validates the mode
        if bool(spec.kept_ids) != (kept is not None):
            raise ValueError("NgramFeaturizer: the kept ids array and spec.kept_ids go together")
        self.spec = spec
        self.standardize_mode = standardize_mode
        self.vocabulary_size = len(vocabulary)
        self.num_ids = self.vocabulary_size + spec.bigram_buckets + spec.char_buckets
        # hashed id -> row (None: every bucket is its row); a dict: one lookup per id in plain Python
        self._rows: dict[int, int] | None = None
        if kept is not None:
            kept = np.asarray(kept).ravel()
            if kept.size and (np.any(np.diff(kept) <= 0) or kept[0] < self.vocabulary_size or kept[-1] >= self.num_ids):
                raise ValueError(f"kept n-gram ids must be sorted, unique and in [{self.vocabulary_size}, {self.num_ids})")
            self._rows = {int(raw): self.vocabulary_size + row for row, raw in enumerate(kept.tolist())}
            self.num_ids = self.vocabulary_size + len(self._rows)
        # first occurrence wins, as in the tokenizer ("[UNK]" in text maps to OOV)
        self.ids = {token: index for index, token in reversed(list(enumerate(vocabulary)))}
        self._words: dict[str, tuple[int, list[int], int]] = {}

    def _word(self, word: str) -> tuple[int, list[int], int]:
        """(unigram id, character n-gram ids, FNV state after ``word + " "``), memoised per word."""
        cached = self._words.get(word)
        if cached is not None:
            return cached
        spec = self.spec
        chars = self._char_ids(f"<{word}>") if spec.char_buckets and spec.char_scope == "word" else []
        entry = (self.ids.get(word, OOV_ID), chars, fnv1a32(word.encode("utf-8") + b" "))
        self._words[word] = entry
        return entry

    def _char_ids(self, text: str) -> list[int]:
        """Hashed (then kept) ids of ``text``'s character n-grams, by start position and length."""
        spec = self.spec
        offset = self.vocabulary_size + spec.bigram_buckets
        encoded = [char.encode("utf-8") for char in text]
        ids = []
        for start in range(len(encoded)):
            state = FNV_OFFSET
            for length in range(1, min(spec.char_max, len(encoded) - start) + 1):
                state = fnv1a32(encoded[start + length - 1], state)  # gram grown by one char
                if length >= spec.char_min:
                    ids.append(offset + state % spec.char_buckets)
        if self._rows is not None:
            ids = [self._rows[raw] for raw in ids if raw in self._rows]
        return ids

    def char_text(self, text: str) -> str:
        """What ``char_scope="text"`` n-grams are taken from: the lowercased text, punctuation kept
        whatever the word standardization does, each whitespace run one space, no space at the ends."""
        return " ".join(split_words(standardize(text, "lower")))

    def words(self, text: str) -> list[str]:
        return split_words(standardize(text, self.standardize_mode))

    def encode(self, text: str) -> np.ndarray:
        spec, limit = self.spec, self.spec.max_features
        out: list[int] = []
        seen: dict[int, int] = {}  # id -> occurrences so far
        repeats = spec.repeats

        def add(new_ids: list[int]) -> None:
            if repeats == "all":
                out.extend(new_ids)
                return
            for new_id in new_ids:
                count = seen.get(new_id, 0) + 1
                seen[new_id] = count
                # "once": the first occurrence; "log2": occurrences 1, 2, 4, 8, ...
                if count == 1 or (repeats == "log2" and count & (count - 1) == 0):
                    out.append(new_id)

        previous_state = None
        for word in self.words(text):
            unigram, chars, state_after = self._word(word)
            word_ids = [unigram]
            if spec.bigram_buckets and previous_state is not None:
                bigram = self.vocabulary_size + fnv1a32(word.encode("utf-8"), previous_state) % spec.bigram_buckets
                if self._rows is None:
                    word_ids.append(bigram)
                elif bigram in self._rows:
                    word_ids.append(self._rows[bigram])
            word_ids.extend(chars)
            add(word_ids)
            previous_state = state_after
            if len(out) >= limit:
                break
        if spec.char_buckets and spec.char_scope == "text" and len(out) < limit:
            add(self._char_ids(self.char_text(text)))
        ids = np.zeros(limit, dtype=np.int32)
        kept = out[:limit]
        ids[: len(kept)] = kept
        return ids

    def encode_batch(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.spec.max_features), np.int32)
        return np.stack([self.encode(text) for text in texts])


def kept_hashed_ids(featurizer: NgramFeaturizer, texts, char_min_df: int) -> np.ndarray:
    """Sorted int32 hashed ids of ``featurizer`` (built without kept ids) found in ``texts``: word
    bigrams in at least one text, character n-grams in at least ``char_min_df`` (module docstring)."""
    if featurizer._rows is not None:
        raise ValueError("kept_hashed_ids needs a featurizer that keeps every bucket")
    document_frequency = np.zeros(featurizer.num_ids, np.int32)
    for text in texts:
        ids = featurizer.encode(text)
        document_frequency[np.unique(ids[ids > 0])] += 1
    char_start = featurizer.vocabulary_size + featurizer.spec.bigram_buckets
    needed = np.where(np.arange(featurizer.num_ids) >= char_start, max(char_min_df, 1), 1)
    needed[: featurizer.vocabulary_size] = np.iinfo(np.int32).max  # vocabulary ids are not hashed
    return np.flatnonzero(document_frequency >= needed).astype(np.int32)


def read_kept_ids(path: Path) -> np.ndarray:
    try:
        kept = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UserError(f"{path}: cannot read the kept n-gram ids ({reason})") from None
    if kept.ndim != 1 or kept.dtype.kind not in "iu":
        raise UserError(f"{path}: kept n-gram ids must be a 1-D integer array, got {kept.dtype} {kept.shape}")
    return kept


def featurizer_from_preprocessing(spec: TextSpec | dict, bundle_dir) -> NgramFeaturizer:
    signature = Path(bundle_dir) / "signature.json"
    try:
        spec = TextSpec.coerce(spec)
        if spec.ngrams is None:
            raise ValueError("no ngrams object")
        spec.ngrams.check()  # e.g. an unknown repeats value
    except (KeyError, TypeError, ValueError) as error:
        raise UserError(f"{signature}: preprocessing.ngrams is not usable ({error})") from None
    vocabulary = read_vocabulary(Path(bundle_dir) / spec.vocabulary)
    kept = read_kept_ids(Path(bundle_dir) / spec.ngrams.kept_ids) if spec.ngrams.kept_ids else None
    try:
        return NgramFeaturizer(vocabulary, spec.ngrams, spec.standardize, kept)
    except ValueError as error:
        raise UserError(f"{signature}: preprocessing.ngrams does not fit its files ({error})") from None
