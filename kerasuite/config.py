"""Typed run configuration.

Precedence, lowest first: dataclass defaults <- the task's own defaults <- ``--config FILE``
(JSON or YAML) <- ``--set key=value`` <- dedicated CLI flags (``--epochs`` ...). The resolved
configuration is saved as ``RUN_DIR/config.json`` and can be fed back with ``--config``.

This module must stay importable without TensorFlow: ``--help`` and config errors are answered
before TensorFlow is loaded.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from kerasuite.errors import UserError


class ConfigError(UserError, ValueError):
    """A user-facing configuration problem; its message is one line naming the key or file."""


# --------------------------------------------------------------------------------------- data


@dataclass
class ImageDataConfig:
    height: int = 16
    width: int = 16
    channels: int = 0  # 0: keep what the source has (1 for digits/mnist, 3 for RGB folders)


@dataclass
class TextDataConfig:
    max_tokens: int = 20000
    sequence_length: int = 200
    # lower_and_strip_punctuation | lower | none; mirrored by kerasuite.runtime.text on devices
    standardize: str = "lower_and_strip_punctuation"


@dataclass
class AudioDataConfig:
    sample_rate: int = 16000
    clip_seconds: float = 1.0
    augment: bool = True  # training split only
    time_shift_seconds: float = 0.1
    noise_probability: float = 0.8
    noise_snr_db_min: float = 5.0
    noise_snr_db_max: float = 30.0
    gain_db_range: float = 6.0


@dataclass
class RecsysDataConfig:
    implicit: bool = False  # True: every interaction is a positive, ratings are ignored
    min_rating: float = 0.0  # interactions below this rating are dropped for retrieval
    use_side_features: bool = True
    title_length: int = 8  # item title tokens kept (0 = no title feature)
    title_vocabulary: int = 2000  # most frequent title tokens; the rest share one OOV token
    oov_user_rate: float = 0.02  # training only: share of users replaced by the OOV index, so the
    # OOV embedding is trained and unknown users get sensible (popularity-like) results
    negatives_per_positive: int = 1  # ranking with implicit=True: sampled non-interactions per positive


@dataclass
class DataConfig:
    source: str = ""  # "" = the task's default source
    validation_fraction: float = 0.1
    test_fraction: float = 0.2  # used only when the source has no test split of its own
    cache: bool = True
    shuffle_buffer: int = 10000
    limit: int = 0  # cap on training examples, 0 = all (handy for smoke runs)
    skip_bad_files: bool = False
    image: ImageDataConfig = field(default_factory=ImageDataConfig)
    text: TextDataConfig = field(default_factory=TextDataConfig)
    audio: AudioDataConfig = field(default_factory=AudioDataConfig)
    recsys: RecsysDataConfig = field(default_factory=RecsysDataConfig)


# -------------------------------------------------------------------------------------- model


@dataclass
class CnnConfig:
    # One conv block per entry. The third block works on 4x4 maps: cheap in compute, and it lifts
    # the parameter count past the int8 format's fixed per-tensor overhead (int8 file 0.30x float32).
    filters: tuple[int, ...] = (16, 32, 64)
    convs_per_block: int = 2
    kernel_size: int = 3
    pooling: str = "max"  # max | average | none
    batch_norm: bool = True
    dropout: float = 0.25
    dense_units: int = 128
    augment: bool = True  # random translation/zoom/contrast, active in training only


@dataclass
class LstmConfig:
    embedding_dim: int = 64
    units: tuple[int, ...] = (64,)
    cell: str = "lstm"  # lstm | gru
    bidirectional: bool = False
    dropout: float = 0.2
    # mean | max, over the real (non-padding) positions. Max measured better on the fortunes corpus
    # (0.5690 vs 0.5497 accuracy, int8 agreement 0.989 vs 0.980; tools/benchmark_text.py, seed 42).
    pooling: str = "max"


@dataclass
class NgramConfig:
    # fastText-style bag: word unigrams (vocabulary ids), hashed word bigrams and hashed character
    # n-grams of each word, averaged; kerasuite/runtime/text_ngrams.py defines the ids.
    embedding_dim: int = 64
    hidden_units: int = 0  # 0: linear head on the averaged bag
    dropout: float = 0.3
    bigram_buckets: int = 20000  # 0 = no word bigrams
    char_buckets: int = 20000  # 0 = no character n-grams
    char_min: int = 2
    char_max: int = 5
    max_features: int = 512  # ids per text; a longer text keeps its first max_features


@dataclass
class TransformerConfig:
    embedding_dim: int = 64
    num_heads: int = 2
    ff_dim: int = 128
    num_blocks: int = 2
    dropout: float = 0.1
    pooling: str = "mean"  # mean | first
    attention_mask: bool = True  # keep attention off padding (token id 0)


@dataclass
class TwoTowerConfig:
    embedding_dim: int = 32
    hidden_units: tuple[int, ...] = (64,)
    temperature: float = 0.05
    remove_accidental_hits: bool = True
    # logQ correction: in-batch negatives are drawn by popularity, so without it the model learns
    # to demote popular items (Debian dependency set, 5 epochs: recall@10 0.09 without, 0.47 with)
    sampling_correction: bool = True
    top_k: int = 100


@dataclass
class RankingConfig:
    embedding_dim: int = 32
    hidden_units: tuple[int, ...] = (64, 32)
    cross_layers: int = 2  # dcn only
    dropout: float = 0.0


@dataclass
class MfccConfig:
    frame_length: int = 640  # 40 ms at 16 kHz
    frame_step: int = 320  # 20 ms
    fft_length: int = 1024
    num_mel_bins: int = 40
    num_coefficients: int = 10
    lower_hz: float = 20.0
    upper_hz: float = 4000.0
    # Defaults chosen for int8 export (kerasuite/models/layers/mfcc.py explains the numerics):
    # mel of the magnitude (1.0) keeps a 48 dB range in int8 where power (2.0) keeps 24 dB;
    # clips peaking at >= peak_floor are scaled to peak 1 (None = off); magnitude_cap and
    # mel_cap bound the int8 ranges (values for 640-sample frames of peak-normalised audio,
    # about the 99th percentile of speech; None = off); amin is the mel floor, a few int8 steps
    # of mel_cap; top_db (None = off) clips to top_db below the clip max.
    # librosa's own defaults are power=2.0, amin=1e-10, top_db=80 and no normalisation or caps.
    power: float = 1.0
    peak_floor: Optional[float] = 0.05
    magnitude_cap: Optional[float] = 96.0
    mel_cap: Optional[float] = 3.2
    amin: float = 0.02
    top_db: Optional[float] = None


@dataclass
class DsCnnConfig:
    filters: int = 64
    num_blocks: int = 4
    first_kernel: tuple[int, int] = (10, 4)
    first_stride: tuple[int, int] = (2, 2)
    dropout: float = 0.2


@dataclass
class ModelConfig:
    family: str = ""  # "" = the task's default family
    cnn: CnnConfig = field(default_factory=CnnConfig)
    lstm: LstmConfig = field(default_factory=LstmConfig)
    transformer: TransformerConfig = field(default_factory=TransformerConfig)
    ngram: NgramConfig = field(default_factory=NgramConfig)
    two_tower: TwoTowerConfig = field(default_factory=TwoTowerConfig)
    ranking: RankingConfig = field(default_factory=RankingConfig)
    mfcc: MfccConfig = field(default_factory=MfccConfig)
    ds_cnn: DsCnnConfig = field(default_factory=DsCnnConfig)


# -------------------------------------------------------------------------------------- train


@dataclass
class TrainConfig:
    epochs: int = 12
    batch_size: int = 64  # global batch: split across replicas by tf.distribute
    learning_rate: float = 2e-3
    lr_schedule: str = "constant"  # constant | cosine (decays to 0 over the planned steps)
    optimizer: str = "adam"  # adam | adamw | sgd
    weight_decay: float = 0.0
    strategy: str = "auto"  # auto | one_device | mirrored | multi_worker
    # Split the CPU into N logical devices so MirroredStrategy can be run without GPUs (tests,
    # debugging); 0 = off. Must be set before TensorFlow starts, i.e. once per process.
    logical_cpus: int = 0
    steps_per_epoch: int = 0  # 0 = one pass over the training split
    # Training steps per call into the TF runtime (Keras' compile argument). Keras spends a few
    # milliseconds of Python per call; on millisecond steps (the recommenders) that is most of
    # the time (tools/benchmarking/steps_per_execution.py). Callbacks see a batch boundary every
    # N steps; results are the same.
    steps_per_execution: int = 1
    early_stopping_patience: int = 0  # 0 = off
    # What early stopping watches, on the validation split when there is one: "loss" or a compiled
    # metric such as "accuracy" (small text sets: val_loss rises while val accuracy still improves).
    early_stopping_metric: str = "loss"
    restore_best_weights: bool = True
    mixed_precision: bool = False
    verbose: int = 1  # 0 silent, 1 progress bar, 2 one line per epoch


# ------------------------------------------------------------------------------------- export


@dataclass
class ModeTolerance:
    """Pass criteria for one export mode; ``None`` disables a criterion."""

    max_abs_diff: Optional[float] = None
    min_agreement: Optional[float] = None  # top-1 agreement, or top-k overlap for retrieval
    max_metric_drop: Optional[float] = None  # in the task metric's own units (0.01 = 1 point)


@dataclass
class ParityConfig:
    float32: ModeTolerance = field(
        default_factory=lambda: ModeTolerance(max_abs_diff=1e-4, min_agreement=0.99)
    )
    float16: ModeTolerance = field(
        default_factory=lambda: ModeTolerance(max_abs_diff=1e-2, min_agreement=0.98)
    )
    dynamic: ModeTolerance = field(
        default_factory=lambda: ModeTolerance(min_agreement=0.98, max_metric_drop=0.01)
    )
    int8: ModeTolerance = field(
        default_factory=lambda: ModeTolerance(min_agreement=0.98, max_metric_drop=0.01)
    )
    max_examples: int = 2000  # held-out examples compared per mode


@dataclass
class ExportConfig:
    modes: tuple[str, ...] = ("float32", "int8")
    dir: str = ""  # "" = exports/<run-name>
    representative_batches: int = 20
    allow_flex: bool = False
    custom_layer_modules: tuple[str, ...] = ()  # imported before loading, for your own layers
    golden_examples: int = 8
    latency_runs: int = 50
    threads: int = 1
    # Drop the converter's intermediate tensor names and empty buffers (outputs bit-identical,
    # input/output/signature names kept); false keeps them for reading the graph in a viewer.
    compact: bool = True
    # per_channel | per_tensor: int8 weight scales per output channel (the converter's default)
    # or one per tensor (smaller file, less precise weights; measured in README "Performance").
    int8_weights: str = "per_channel"
    parity: ParityConfig = field(default_factory=ParityConfig)


@dataclass
class RunConfig:
    task: str = "image_classification"
    name: str = ""  # "" = derived from task, model and data
    run_dir: str = ""  # "" = runs/<name>
    seed: int = 42
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    export: ExportConfig = field(default_factory=ExportConfig)


EXPORT_MODES = ("float32", "float16", "dynamic", "int8")
INT8_WEIGHTS = ("per_channel", "per_tensor")
STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker")


# ------------------------------------------------------------------------- resolution


def to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def load_config_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--config: no such file: {path}")
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            raw = yaml.safe_load(text)
        else:
            raw = json.loads(text)
    except Exception as error:  # the parsers' messages are multi-line; keep the first line
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(f"--config {path}: not valid {path.suffix.lstrip('.') or 'JSON'}: {first}")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"--config {path}: the top level must be a mapping of keys to values")
    return raw


def parse_set(assignments: list[str]) -> dict[str, str]:
    """``["a.b=1", ...]`` -> ``{"a.b": "1"}``; values stay strings until typed against the schema."""
    parsed: dict[str, str] = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. train.epochs=3")
        parsed[key.strip()] = value.strip()
    return parsed


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _coerce(value: Any, tp: Any, key: str, from_string: bool) -> Any:
    """Check (config file) or parse (``--set`` string) ``value`` against the annotation ``tp``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None or (from_string and str(value).lower() in ("none", "null")):
            return None
        return _coerce(value, options[0], key, from_string)
    if origin is tuple:
        args = typing.get_args(tp)
        item_type = args[0]
        if from_string:
            items = [part.strip() for part in str(value).split(",") if part.strip()]
        elif isinstance(value, (list, tuple)):
            items = list(value)
        else:
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, item_type, key, from_string) for v in items)
        if len(items) != len(args):
            raise ConfigError(f"{key}: expected {len(args)} values, got {len(items)}")
        return tuple(_coerce(v, a, key, from_string) for v, a in zip(items, args))
    if tp is bool:
        if isinstance(value, bool):
            return value
        if from_string and str(value).lower() in ("true", "1", "yes", "on"):
            return True
        if from_string and str(value).lower() in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if from_string:
            try:
                return int(str(value))
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        if isinstance(value, (int, float)):
            return float(value)
        if from_string:
            try:
                return float(str(value))
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        if from_string:
            return str(value)
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    raise ConfigError(f"{key}: unsupported type {tp}")  # pragma: no cover - schema bug


def _apply_nested(target: Any, values: dict[str, Any], prefix: str) -> None:
    types_ = _field_types(type(target))
    for name, value in values.items():
        key = f"{prefix}{name}"
        if name not in types_:
            raise ConfigError(f"unknown config key {key!r}{_suggest(type(target), name, prefix)}")
        tp = types_[name]
        if _is_dataclass_type(tp):
            if not isinstance(value, dict):
                raise ConfigError(f"{key}: expected a mapping of {tp.__name__} fields")
            _apply_nested(getattr(target, name), value, f"{key}.")
        else:
            setattr(target, name, _coerce(value, tp, key, from_string=False))


def _apply_dotted(config: Any, key: str, raw: str) -> None:
    parts = key.split(".")
    target = config
    for depth, name in enumerate(parts):
        types_ = _field_types(type(target))
        prefix = ".".join(parts[:depth])
        if name not in types_:
            where = f"{prefix}." if prefix else ""
            raise ConfigError(f"--set: unknown config key {key!r}{_suggest(type(target), name, where)}")
        tp = types_[name]
        if depth == len(parts) - 1:
            if _is_dataclass_type(tp):
                raise ConfigError(f"--set {key}: is a section; set one of its fields, e.g. {key}.<field>=...")
            setattr(target, name, _coerce(raw, tp, f"--set {key}", from_string=True))
        else:
            if not _is_dataclass_type(tp):
                raise ConfigError(f"--set: unknown config key {key!r} ({'.'.join(parts[: depth + 1])} is not a section)")
            target = getattr(target, name)


def _suggest(cls: type, name: str, prefix: str) -> str:
    import difflib

    close = difflib.get_close_matches(name, [f.name for f in dataclasses.fields(cls)], n=1)
    return f" (did you mean {prefix + close[0]!r}?)" if close else ""


def resolve(
    file_values: dict[str, Any] | None = None,
    set_values: dict[str, str] | None = None,
    flag_values: dict[str, Any] | None = None,
    task_defaults: typing.Callable[[str], dict[str, Any]] | None = None,
) -> RunConfig:
    """Build a :class:`RunConfig` from the layers above, validating every key and type.

    ``flag_values`` are typed dotted keys from dedicated CLI flags. ``task_defaults(task)``
    returns the nested defaults a task prefers (e.g. more epochs for speech).
    """
    file_values = dict(file_values or {})
    set_values = dict(set_values or {})
    flag_values = dict(flag_values or {})
    task = flag_values.get("task") or set_values.get("task") or file_values.get("task") or RunConfig.task
    config = RunConfig()
    if task_defaults is not None:
        _apply_nested(config, task_defaults(str(task)), "")
    _apply_nested(config, file_values, "")
    for key, raw in set_values.items():
        _apply_dotted(config, key, raw)
    for key, value in flag_values.items():
        _apply_dotted(config, key, str(value) if not isinstance(value, str) else value)
    validate(config)
    return config


def validate(config: RunConfig) -> None:
    """Cross-field checks that types alone cannot express."""
    for mode in config.export.modes:
        if mode not in EXPORT_MODES:
            raise ConfigError(f"--export: unknown mode {mode!r}; choose from {', '.join(EXPORT_MODES)}")
    if config.export.int8_weights not in INT8_WEIGHTS:
        raise ConfigError(f"export.int8_weights: unknown value {config.export.int8_weights!r}; "
                          f"choose from {', '.join(INT8_WEIGHTS)}")
    if config.train.strategy not in STRATEGIES:
        raise ConfigError(f"--strategy: unknown strategy {config.train.strategy!r}; choose from {', '.join(STRATEGIES)}")
    positive = {
        "train.epochs": config.train.epochs,
        "train.batch_size": config.train.batch_size,
        "train.steps_per_execution": config.train.steps_per_execution,
        "export.representative_batches": config.export.representative_batches,
    }
    for key, value in positive.items():
        if value < 1:
            raise ConfigError(f"{key}: must be at least 1, got {value}")
    for key, value in (
        ("data.validation_fraction", config.data.validation_fraction),
        ("data.test_fraction", config.data.test_fraction),
    ):
        if not 0.0 <= value < 1.0:
            raise ConfigError(f"{key}: must be in [0, 1), got {value}")
    if config.train.learning_rate <= 0:
        raise ConfigError(f"train.learning_rate: must be positive, got {config.train.learning_rate}")


def save(config: RunConfig, path: str | Path) -> None:
    from kerasuite.io_utils import write_json_atomic

    write_json_atomic(path, to_dict(config))
