"""Settings of each kind of data source (``data.image``, ``data.text``, ...), with their value
rules. Pure Python: task configs compose them, and ``kerasuite.data`` loaders read them."""

from __future__ import annotations

from dataclasses import dataclass, fields

from kerasuite.data.delimited import column_key, first_repeated, is_column_number, listed_columns
from kerasuite.schema import ConfigError, setting

# TextVectorization standardize modes; kerasuite.runtime.text repeats each one on devices
STANDARDIZE_MODES = ("lower_and_split_punctuation", "lower_and_strip_punctuation", "lower", "none")


@dataclass
class ImageDataConfig:
    height: int = setting(16, min=1)
    width: int = setting(16, min=1)
    channels: int = 0  # 0: keep what the source has (1 for digits/mnist, 3 for RGB folders)
    # which of a CIFAR-100 download's two labels is the class: its 100 fine ones or 20 superclasses
    cifar100_labels: str = setting("fine", choices=("fine", "coarse"))

    def validate(self, prefix: str) -> None:
        if self.channels not in (0, 1, 3, 4):  # what TensorFlow's image decoders can produce
            raise ConfigError(f"{prefix}channels: must be 0 (as the source), 1, 3 or 4, got {self.channels}")


@dataclass
class TextDataConfig:
    max_tokens: int = setting(20000, min=3)  # padding, OOV and at least one word
    sequence_length: int = setting(200, min=1)
    # The default breaks words at ASCII punctuation instead of deleting it, which MediaPipe's
    # RegexTokenizer expresses exactly (kerasuite.export.mediapipe_text).
    standardize: str = setting("lower_and_split_punctuation", choices=STANDARDIZE_MODES)
    # A csv: source's column names, matched ignoring case and underscores; Kaggle's IMDB file, for
    # one, has review,sentiment. text_column may list several (title,description): their values,
    # joined with a space, are the text.
    text_column: str = setting("text", nonempty=True)
    label_column: str = setting("label", nonempty=True)
    # false: a csv: file without a header row, whose columns the two settings above give by number,
    # counted from 1 (label_column=1 text_column=2,3); a backslash-n in its values is a line break,
    # as Xiang Zhang's sets write one. Those with a classes.txt beside the files (AG News, DBpedia,
    # Yahoo Answers) are recognised without it (kerasuite/data/text.py, CLASS_LIST).
    header: bool = True

    @property
    def text_columns(self) -> tuple[str, ...]:
        return listed_columns(self.text_column)

    def validate(self, prefix: str) -> None:
        if not self.text_columns:
            raise ConfigError(f"{prefix}text_column: names no column, got {self.text_column!r}")
        if not self.header:
            self._require_column_numbers(prefix)
        self._refuse_a_column_read_twice(prefix)

    def _require_column_numbers(self, prefix: str) -> None:
        for key, names in (("label_column", (self.label_column.strip(),)), ("text_column", self.text_columns)):
            if not all(is_column_number(name) for name in names):
                raise ConfigError(f"{prefix}{key}: {prefix}header=false reads columns by number, counted from 1, "
                                  f"got {getattr(self, key)!r}; e.g. --set {prefix}label_column=1 {prefix}text_column=2,3")

    def _refuse_a_column_read_twice(self, prefix: str) -> None:
        """One file column cannot be read twice as text, nor be the text and its label."""
        key = column_key if self.header else (lambda number: str(int(number)))
        texts = [key(name) for name in self.text_columns]
        repeated = next((name for at, name in enumerate(self.text_columns) if key(name) in texts[:at]), None)
        if repeated is not None:
            raise ConfigError(f"{prefix}text_column names the column {repeated!r} twice")
        if key(self.label_column) in texts:
            raise ConfigError(f"{prefix}text_column and {prefix}label_column name the same column "
                              f"{self.label_column.strip()!r}; each needs its own")


@dataclass
class AudioDataConfig:
    sample_rate: int = setting(16000, min=1)
    clip_seconds: float = setting(1.0, above=0.0)
    augment: bool = True  # training split only
    time_shift_seconds: float = setting(0.1, min=0.0)
    noise_probability: float = setting(0.8, min=0.0, max=1.0)
    noise_snr_db_min: float = 5.0
    noise_snr_db_max: float = 30.0
    gain_db_range: float = setting(6.0, min=0.0)
    # speed perturbation (tempo and pitch together, as resampling): factor in 1 +- speed_range
    speed_range: float = setting(0.0, min=0.0, below=0.5)
    # Share of keyword clips cut to part of their word and relabelled _unknown_ (training only;
    # needs an _unknown_ class): the word's energy centre is moved to within 0.1 s of a window
    # edge, so about half of it is heard. Meant for streaming false alarms; off because on the
    # harder set it traded misses for false alarms below the default's curve (README, Streaming).
    partial_word_probability: float = setting(0.0, min=0.0, max=1.0)

    def validate(self, prefix: str) -> None:
        if self.noise_snr_db_max < self.noise_snr_db_min:
            raise ConfigError(f"{prefix}noise_snr_db_max ({self.noise_snr_db_max}) must be at least "
                              f"{prefix}noise_snr_db_min ({self.noise_snr_db_min})")


@dataclass
class RecsysDataConfig:
    implicit: bool = False  # True: every interaction is a positive, ratings are ignored
    min_rating: float = 0.0  # interactions below this rating are dropped for retrieval
    use_side_features: bool = True
    title_length: int = setting(8, min=0)  # item title tokens kept (0 = no title feature)
    title_vocabulary: int = setting(2000, min=1)  # most frequent title tokens; the rest share one OOV token
    oov_user_rate: float = setting(0.02, min=0.0, below=1.0)  # training only: share of users replaced by the
    # OOV index, so the OOV embedding is trained and unknown users get sensible (popularity-like) results
    negatives_per_positive: int = setting(1, min=1)  # ranking with implicit=True: sampled non-interactions per positive
    # A csv: source's column names, matched ignoring case and underscores (MovieLens' userId is
    # user_id). rating, timestamp, title and genres may be absent at their defaults; once named,
    # the file must have them. At its default, item_column also finds a movie_id (movieId) column.
    user_column: str = setting("user_id", nonempty=True)
    item_column: str = setting("item_id", nonempty=True)
    rating_column: str = setting("rating", nonempty=True)
    timestamp_column: str = setting("timestamp", nonempty=True)
    title_column: str = setting("title", nonempty=True)
    genres_column: str = setting("genres", nonempty=True)

    def validate(self, prefix: str) -> None:
        _refuse_repeated_columns(self, prefix, ("user_column", "item_column", "rating_column", "timestamp_column",
                                                "title_column", "genres_column"))

    def renamed_columns(self) -> list[str]:
        """The column settings away from their defaults (a headerless file has no names to match)."""
        return [f.name for f in fields(self) if f.name.endswith("_column") and getattr(self, f.name) != f.default]


def _refuse_repeated_columns(section, prefix: str, fields: tuple[str, ...]) -> None:
    """One file column cannot be two things (the text and its label, the user and the item)."""
    repeated = first_repeated(getattr(section, name) for name in fields)
    if repeated is not None:
        named = [f"{prefix}{name}" for name in fields if column_key(getattr(section, name)) == column_key(repeated)]
        raise ConfigError(f"{' and '.join(named)} name the same column {repeated!r}; each needs its own")
