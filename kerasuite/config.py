"""Typed run configuration: the task's own config plus the shared train and export sections.

Each task registers a :class:`TaskSpec` (``kerasuite/tasks/<task>_config.py``): its ``data`` and
``model`` sections (its source kind's settings, its families' hyperparameters) and its presets.
A run config is that task's sections + :class:`TrainConfig` + :class:`ExportConfig` + the
top-level ``task``/``preset``/``name``/``run_dir``/``seed``, so an image run's config.json holds
no text or audio settings and ``--set model.lstm.units=8`` on the image task is an unknown key.

Precedence, lowest first: dataclass defaults <- the task's ``default`` preset <- the named preset
(``quick``, ``tiny``) <- ``--config FILE`` (JSON or YAML) <- ``--set key=value`` <- dedicated CLI
flags (``--epochs`` ...). Every key, type and value is checked (rules in :mod:`kerasuite.schema`)
before TensorFlow loads. The resolved configuration is saved as ``RUN_DIR/config.json`` and can
be fed back with ``--config``.

This module must stay importable without TensorFlow.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping, Optional

from kerasuite.schema import ConfigError, check, setting

# int8: integer kernels and int8 input/output (microcontrollers, NPUs). int8_float_io: the same
# integer kernels with the types apps and MediaPipe Tasks take: uint8 pixels (0..255), float32
# audio, int32 token ids in; float32 scores out. int16x8: TFLite's 16x8 scheme, int16 activations
# and int8 weights with float32 in and out, for graphs whose activations need more than 256 levels
# (a keyword front end with a low mel floor, issue 21); about twice int8's arena.
EXPORT_MODES = ("float32", "float16", "dynamic", "int8", "int8_float_io", "int16x8")
CALIBRATED_MODES = ("int8", "int8_float_io", "int16x8")  # activation ranges from representative data
INT8_WEIGHTS = ("per_channel", "per_tensor")
LSTM_GRAPHS = ("fused", "unrolled")
TFLM_CHOICES = ("auto", "on", "off")
STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker")
OPTIMIZERS = ("adam", "adamw", "sgd")
LR_SCHEDULES = ("constant", "cosine")
PRESETS = ("default", "quick", "tiny")
DEFAULT_TASK = "image_classification"
SEED_MAX = 2**32 - 1  # numpy's and Keras' seeds are 32-bit
# A run name becomes a folder name, and the atomic writers add a prefix and a suffix to names in
# it; file systems allow 255 bytes per name.
MAX_NAME_BYTES = 200


# ------------------------------------------------------------------- the task-owned sections


@dataclass
class DataConfig:
    """What every task's data section has; a task subclasses it to add its source kind's section
    and to name the source schemes it reads."""

    schemes: ClassVar[tuple[str, ...]] = ("tfds", "folder", "csv", "builtin", "synthetic")
    synthetic_generator: ClassVar[str] = ""  # the synthetic: generator the task's loader knows (data/spec.py)
    builtin_sets: ClassVar[tuple[str, ...]] = ()

    source: str = ""
    # carved from the training split; not used when the source has its own validation split
    # (a tfds set's validation split, as beans' or speech_commands', a folder's val/ beside
    # train/ and test/, an audio folder's validation_list.txt)
    validation_fraction: float = setting(0.1, min=0.0, below=1.0)
    # used only when the source has no test split of its own (a held-out split is always needed)
    test_fraction: float = setting(0.2, above=0.0, below=1.0)
    cache: bool = True
    shuffle_buffer: int = setting(10000, min=1)
    limit: int = setting(0, min=0)  # cap on training examples, 0 = all (handy for smoke runs)
    skip_bad_files: bool = False

    def validate(self, prefix: str) -> None:
        from kerasuite.data.spec import parse_source

        spec = parse_source(self.source, allowed=self.schemes)
        if spec.scheme == "folder" and not Path(spec.target).is_dir():
            raise ConfigError(f"--data {self.source}: no such folder {spec.target}")
        if spec.scheme == "csv" and not Path(spec.target).exists():
            raise ConfigError(f"--data {self.source}: no such file or folder {spec.target}")
        if spec.scheme in ("synthetic", "builtin"):
            self.check_generated(spec)

    def check_generated(self, spec) -> None:
        """A ``synthetic:`` or ``builtin:`` name the task's loader knows (each task's data section
        names its own), so a mistyped one is refused before TensorFlow loads."""
        from kerasuite.data.spec import check_synthetic

        if spec.scheme == "builtin" and spec.target not in self.builtin_sets:
            raise ConfigError(f"--data {spec}: unknown builtin data set; available: "
                              + ", ".join(f"builtin:{name}" for name in self.builtin_sets))
        if spec.scheme == "synthetic":
            check_synthetic(spec.target, self.synthetic_generator)


@dataclass
class ModelConfig:
    """What every task's model section has; a task subclasses it with its families' sections.

    ``families`` maps each family to the sections holding its hyperparameters: the ones its
    builder reads and TensorBoard's hparams log."""

    families: ClassVar[Mapping[str, tuple[str, ...]]] = {}

    family: str = ""  # checked against ``families`` by :func:`validate`, which knows the task

    def family_sections(self) -> dict[str, Any]:
        """The hyperparameter sections the chosen family reads, by name."""
        return {name: getattr(self, name) for name in self.families[self.family]}


@dataclass(frozen=True)
class TaskSpec:
    """A task's typed config, registered with the task (``kerasuite/tasks/__init__.py``).

    ``presets`` map a preset name to dotted keys with typed values. ``default`` applies to every
    run; ``quick`` (small models for benchmarks and smoke runs) and ``tiny`` (the smallest
    settings that still run the real code, for tests) apply over it, after
    :data:`COMMON_PRESETS`. ``family_presets`` map a family to dotted keys applied over ``default``
    when that family is chosen (before ``quick``/``tiny``, so those still shrink it). ``check``
    holds rules that span sections."""

    name: str
    implementation: str  # "module:Class", imported only when the task runs (it needs TensorFlow)
    data: type[DataConfig]
    model: type[ModelConfig]
    presets: Mapping[str, Mapping[str, Any]]
    check: Optional[Callable[["RunConfig"], None]] = None
    family_presets: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    integer_inputs: bool = False  # its models take integer ids (tokens, users, items): no int16x8 file

    def new_config(self) -> "RunConfig":
        return RunConfig(task=self.name, data=self.data(), model=self.model())


# ----------------------------------------------------------------------------- shared sections


@dataclass
class TrainConfig:
    epochs: int = setting(12, min=1)
    batch_size: int = setting(64, min=1)  # global batch: split across replicas by tf.distribute
    learning_rate: float = setting(2e-3, above=0.0)
    lr_schedule: str = setting("constant", choices=LR_SCHEDULES)  # cosine decays to 0 over the planned steps
    optimizer: str = setting("adam", choices=OPTIMIZERS)
    weight_decay: float = setting(0.0, min=0.0)
    # Exponential moving average of the weights (Keras' use_ema), swapped in when training ends;
    # 0 = off. 0.99 averages over about the last 100 steps.
    ema_momentum: float = setting(0.0, min=0.0, max=0.9999)
    strategy: str = setting("auto", choices=STRATEGIES)
    # Split the CPU into N logical devices so MirroredStrategy can be run without GPUs (tests,
    # debugging); 0 = off. Must be set before TensorFlow starts, i.e. once per process.
    logical_cpus: int = setting(0, min=0)
    steps_per_epoch: int = setting(0, min=0)  # 0 = one pass over the training split
    # Training steps per call into the TF runtime (Keras' compile argument). Keras spends a few
    # milliseconds of Python per call; on millisecond steps (the recommenders) that is most of
    # the time (tools/benchmarking/steps_per_execution.py). Callbacks see a batch boundary every
    # N steps; results are the same.
    steps_per_execution: int = setting(1, min=1)
    early_stopping_patience: int = setting(0, min=0)  # 0 = off
    # What early stopping watches, on the validation split when there is one: "loss" or a compiled
    # metric such as "accuracy" (small text sets: val_loss rises while val accuracy still improves).
    early_stopping_metric: str = "loss"
    restore_best_weights: bool = True
    mixed_precision: bool = False
    # Exit 1 when the model does not beat its task's trivial baseline (majority class, popularity,
    # training mean) on the held-out split; false accepts such a run (e.g. smoke tests).
    check_baseline: bool = True
    verbose: int = setting(1, min=0, max=2)  # 0 silent, 1 progress bar, 2 one line per epoch

    def validate(self, prefix: str) -> None:
        if self.ema_momentum and self.early_stopping_patience and self.restore_best_weights:
            # Keras swaps the average in when fit ends, then early stopping puts back the best
            # epoch's raw weights: the run would ship neither what it validated nor the average.
            raise ConfigError(f"{prefix}ema_momentum={self.ema_momentum:g} with {prefix}early_stopping_patience="
                              f"{self.early_stopping_patience}: early stopping would restore raw weights, not their "
                              f"average; set {prefix}restore_best_weights=false or one of the two to 0")


@dataclass
class ModeTolerance:
    """Pass criteria for one export mode; ``None`` disables a criterion."""

    max_abs_diff: Optional[float] = setting(None, min=0.0)
    min_agreement: Optional[float] = setting(None, min=0.0, max=1.0)  # top-1, or top-k overlap for retrieval
    max_metric_drop: Optional[float] = setting(None, min=0.0)  # in the task metric's own units (0.01 = 1 point)
    # RMS of the output difference over the spread of Keras' outputs across examples; judged only
    # where neither an agreement nor a metric applies (an embedding or a regression without
    # targets), which a lossy mode would otherwise pass on no evidence. 0.2 for the lossy modes:
    # healthy user models measure 0.017-0.097 in int8, a collapsed attention 0.26-1.32
    # (tools/benchmarking/plain_output_sweep.py, interest_padding_before_after.py).
    max_relative_error: Optional[float] = setting(None, min=0.0)
    # The worst single example's RMS difference over the same spread; judged wherever no
    # agreement applies, so that a file far off on a few examples cannot hide in an average (one
    # example of 100 off by 1.9 spreads is a relative error of 0.19, under 0.2). Healthy int8
    # files measure up to ~0.4 (tools/benchmarking/plain_output_sweep.py).
    max_example_error: Optional[float] = setting(None, min=0.0)
    # Each output column's RMS difference over that column's own spread, where no agreement
    # applies: a column in other units than the rest (rooms beside a price) is lost to the tensor's
    # one scale without moving the pooled figure. Healthy int8 files measure up to ~0.4 (a sorted
    # signal's narrow end columns, plain_output_sweep.py).
    max_column_error: Optional[float] = setting(None, min=0.0)


def lossy_tolerance() -> ModeTolerance:
    """The modes that quantize: decisions and metrics within a point, plain values within 0.2 of
    their spread on average and 1.0 on any one example or output column."""
    return ModeTolerance(min_agreement=0.98, max_metric_drop=0.01, max_relative_error=0.2, max_example_error=1.0,
                         max_column_error=1.0)


@dataclass
class ParityConfig:
    float32: ModeTolerance = field(default_factory=lambda: ModeTolerance(max_abs_diff=1e-4, min_agreement=0.99))
    float16: ModeTolerance = field(default_factory=lambda: ModeTolerance(max_abs_diff=1e-2, min_agreement=0.98))
    dynamic: ModeTolerance = field(default_factory=lossy_tolerance)
    int8: ModeTolerance = field(default_factory=lossy_tolerance)
    int8_float_io: ModeTolerance = field(default_factory=lossy_tolerance)
    int16x8: ModeTolerance = field(default_factory=lossy_tolerance)
    max_examples: int = setting(2000, min=1)  # held-out examples compared per mode


@dataclass
class ExportConfig:
    modes: tuple[str, ...] = setting(("float32", "int8"), choices=EXPORT_MODES)
    dir: str = ""  # "" = exports/<run-name>
    representative_batches: int = setting(20, min=1)
    allow_flex: bool = False
    custom_layer_modules: tuple[str, ...] = ()  # imported before loading, for your own layers
    golden_examples: int = setting(8, min=1)
    latency_runs: int = setting(50, min=1)
    threads: int = setting(1, min=1)
    # Drop the converter's intermediate tensor names and empty buffers (outputs bit-identical,
    # input/output/signature names kept); false keeps them for reading the graph in a viewer.
    compact: bool = True
    # per_channel | per_tensor: int8 weight scales per output channel (the converter's default)
    # or one per tensor (smaller file, less precise weights; measured in README "Performance").
    int8_weights: str = setting("per_channel", choices=INT8_WEIGHTS)
    # How an LSTM reaches the file. fused: one UNIDIRECTIONAL_SEQUENCE_LSTM op per layer and
    # direction (smallest file, fastest float32; its state lives in variable tensors, which
    # MediaPipe and LiteRT's CompiledModel cannot take). unrolled: one chain of builtin ops per
    # time step, no state at all, so it runs in every runtime; bigger files and slower float32,
    # faster int8 (tools/benchmark_lstm_graph.py; README "LSTM graphs").
    lstm: str = setting("fused", choices=LSTM_GRAPHS)
    # Judge the files on TensorFlow Lite Micro too (all but dynamic and float16). auto: for the tasks whose
    # models are meant for microcontrollers (image, keyword, text); on: for any file, a user's own
    # model or a recommender's tower included; off: never (the verdict says it was turned off).
    tflm: str = setting("auto", choices=TFLM_CHOICES)
    parity: ParityConfig = field(default_factory=ParityConfig)

    def validate(self, prefix: str) -> None:
        if len(set(self.modes)) != len(self.modes):
            raise ConfigError(f"--export {','.join(self.modes)}: a mode is listed twice")


@dataclass
class RunConfig:
    task: str = DEFAULT_TASK
    preset: str = setting("default", choices=PRESETS)  # already applied; kept as a record
    name: str = setting("", max_length=MAX_NAME_BYTES)  # "" = derived from task, model and data
    run_dir: str = ""  # "" = runs/<name>
    seed: int = setting(42, min=0, max=SEED_MAX)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    export: ExportConfig = field(default_factory=ExportConfig)


# Presets every task shares, applied before the task's own preset of the same name.
COMMON_PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "quick": {},
    "tiny": {
        "train.epochs": 2, "train.verbose": 0, "export.latency_runs": 3, "export.representative_batches": 2,
        "export.parity.max_examples": 200, "export.golden_examples": 4,
        # Barely trained tiny models: float modes stay strict; quantized modes are loosened only
        # on agreement and metric, because near-uniform outputs flip argmax under rounding.
        "export.parity.int8.min_agreement": 0.8, "export.parity.int8.max_metric_drop": 0.1,
        "export.parity.dynamic.min_agreement": 0.8, "export.parity.dynamic.max_metric_drop": 0.1,
        "export.parity.int8_float_io.min_agreement": 0.8, "export.parity.int8_float_io.max_metric_drop": 0.1,
        "export.parity.int16x8.min_agreement": 0.8, "export.parity.int16x8.max_metric_drop": 0.1,
    },
}


# ------------------------------------------------------------------------- resolution


def to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def load_config_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"--config {path}: a folder, not a config file")
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


@functools.lru_cache(maxsize=None)  # evaluating string annotations is most of a resolve's time
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
        if from_string and len(args) == 2 and args[1] is Ellipsis and str(value).strip().lower() == "none":
            items = []  # an empty list, as --export none means no export
        elif from_string:
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


def _apply_dotted(config: Any, key: str, value: Any, typed: bool = False) -> None:
    """Set one dotted key; ``value`` is a ``--set`` string unless ``typed`` (presets, flags)."""
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
            setattr(target, name, _coerce(value, tp, f"--set {key}", from_string=not typed))
        else:
            if not _is_dataclass_type(tp):
                raise ConfigError(f"--set: unknown config key {key!r} ({'.'.join(parts[: depth + 1])} is not a section)")
            target = getattr(target, name)


def _suggest(cls: type, name: str, prefix: str) -> str:
    """A close match if there is one, and always the keys that do exist at that level."""
    import difflib

    names = [f.name for f in dataclasses.fields(cls)]
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" (did you mean {prefix + close[0]!r}?)" if close else ""
    where = prefix.rstrip(".") or "the top level"
    return f"{hint}; {where} has: {', '.join(names)}"


def task_spec(name: str) -> TaskSpec:
    """The registered task's config spec, without importing its (TensorFlow) implementation."""
    from kerasuite.tasks import TASK_NAMES, task_spec as registered

    if name not in TASK_NAMES:
        raise ConfigError(f"--task {name!r}: unknown task; choose from {', '.join(TASK_NAMES)}")
    return registered(name)


def _apply_preset(config: RunConfig, spec: TaskSpec, preset: str, family: str | None = None) -> None:
    if preset not in PRESETS:
        raise ConfigError(f"--preset {preset!r}: unknown preset; choose from {', '.join(PRESETS)}")
    named = [COMMON_PRESETS[preset], spec.presets.get(preset, {})] if preset != "default" else []
    base = [spec.presets.get("default", {}), *named]
    # the family the run will have: the user's, else the last preset layer's (tiny: lstm), else the default
    family = family or next((str(layer["model.family"]) for layer in reversed(base) if "model.family" in layer),
                            config.model.family)
    layers = [base[0], spec.family_presets.get(family, {}), *named]
    for layer in layers:
        for key, value in layer.items():
            _apply_dotted(config, key, value, typed=True)
    config.preset = preset


def _foreign_sections(task: str) -> dict[str, dict[str, Any]]:
    """Sections that other registered tasks own, at their defaults, by section path."""
    from kerasuite.tasks import TASK_NAMES

    sections: dict[str, dict[str, Any]] = {}
    for other in TASK_NAMES:
        if other == task:
            continue
        config = task_spec(other).new_config()
        for part in ("data", "model"):
            section = getattr(config, part)
            for item in dataclasses.fields(section):
                value = getattr(section, item.name)
                if dataclasses.is_dataclass(value):
                    sections.setdefault(f"{part}.{item.name}", to_dict(value))
    return sections


def _drop_legacy_sections(file_values: dict[str, Any], config: RunConfig) -> dict[str, Any]:
    """config.json files written before the config was split per task hold every domain's
    sections at their defaults; drop those (and only those) so such runs can still be resumed."""
    foreign = None
    cleaned = dict(file_values)
    for part in ("data", "model"):
        values = cleaned.get(part)
        if not isinstance(values, dict):
            continue
        own = {f.name for f in dataclasses.fields(getattr(config, part))}
        for name, value in list(values.items()):
            if name in own or not isinstance(value, dict):
                continue
            foreign = foreign if foreign is not None else _foreign_sections(config.task)
            defaults_now = foreign.get(f"{part}.{name}")
            # key by key: fields added to that section since the file was written are not in it
            if defaults_now is not None and all(key in defaults_now and defaults_now[key] == item
                                                for key, item in value.items()):
                values = {k: v for k, v in values.items() if k != name}
        cleaned[part] = values
    return cleaned


def resolve(
    file_values: dict[str, Any] | None = None,
    set_values: dict[str, str] | None = None,
    flag_values: dict[str, Any] | None = None,
) -> RunConfig:
    """Build the :class:`RunConfig` of the task named in the layers (``task``; default
    image_classification) from its presets and the layers above, checking every key, type and
    value. ``flag_values`` are dotted keys from dedicated CLI flags (``task`` and ``preset`` too)."""
    file_values = dict(file_values or {})
    set_values = dict(set_values or {})
    flag_values = dict(flag_values or {})
    layers = (flag_values, set_values, file_values)
    task = next((str(layer["task"]) for layer in layers if layer.get("task")), DEFAULT_TASK)
    preset = next((str(layer["preset"]) for layer in layers if layer.get("preset")), "default")
    spec = task_spec(task)
    config = spec.new_config()
    model_file = file_values.get("model")
    family = next((str(value) for value in (flag_values.get("model.family"), set_values.get("model.family"),
                                            model_file.get("family") if isinstance(model_file, dict) else None)
                   if value), None)
    _apply_preset(config, spec, preset, family)
    _apply_nested(config, _drop_legacy_sections(file_values, config), "")
    for key, raw in set_values.items():
        _apply_dotted(config, key, raw)
    for key, value in flag_values.items():
        _apply_dotted(config, key, value, typed=not isinstance(value, str))
    config.task, config.preset = task, preset
    validate(config)
    return config


def resolve_saved(path: str | Path) -> RunConfig:
    """A finished run's ``config.json`` as the run had it. The file holds every key the run had,
    already through its presets, so no preset is applied again: a preset changed since (a family's
    new default) would otherwise fill the keys added since the run with today's values, and a key
    added since takes its class default, the behaviour from before it existed."""
    values = load_config_file(path)
    task = str(values.get("task") or DEFAULT_TASK)
    config = task_spec(task).new_config()
    _apply_nested(config, _drop_legacy_sections(values, config), "")
    config.task = task
    validate(config)
    return config


def defaults(task: str, preset: str = "default") -> RunConfig:
    """A task's config at one of its presets, e.g. ``defaults("ranking", "tiny")``."""
    return resolve({}, {}, {"task": task, "preset": preset})


def validate(config: RunConfig) -> None:
    """The family, every value rule of every section, then the task's rules that span sections."""
    families = type(config.model).families
    if config.model.family not in families:
        raise ConfigError(f"--model {config.model.family!r}: not a family of {config.task}; "
                          f"choose from {', '.join(families)}")
    check(config)
    spec = task_spec(config.task)
    if spec.integer_inputs and "int16x8" in config.export.modes:
        raise ConfigError(f"export.modes: int16x8 needs float inputs, and {config.task}'s models take integer ids; "
                          f"{INT16X8_INTEGER_INPUTS}")
    if spec.check is not None:
        spec.check(config)


# Measured on the tiny tasks (2026-12-06, TensorFlow 2.21): text_classification's and ranking's
# conversions stop with this message; retrieval's converts, and its file agrees with Keras on 0 queries.
INT16X8_INTEGER_INPUTS = ("TensorFlow's 16x8 quantizer fails on integer inputs ('Max and min for dynamic tensors "
                          "should be recorded during calibration', tensorflow/tensorflow#60799) or gives wrong "
                          "numbers; use int8")


# Section classes that moved out of this module when the config was split per task. Code written
# against the old layout (``from kerasuite.config import LstmConfig``) keeps working; new code
# imports them from where they live.
_MOVED = {name: "kerasuite.hparams" for name in (
    "CnnConfig", "LstmConfig", "TransformerConfig", "TwoTowerConfig", "RankingConfig", "MfccConfig", "DsCnnConfig")}
_MOVED.update({name: "kerasuite.data.settings" for name in (
    "ImageDataConfig", "TextDataConfig", "AudioDataConfig", "RecsysDataConfig")})


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def save(config: RunConfig, path: str | Path) -> None:
    from kerasuite.io_utils import write_json_atomic

    write_json_atomic(path, to_dict(config))
