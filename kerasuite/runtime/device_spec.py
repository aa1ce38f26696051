"""One typed device spec per input kind: what a device does to raw input before ``invoke``.

A task builds its spec (``Task.device_spec``); :meth:`DeviceSpec.to_json` is signature.json's
``preprocessing`` object; the TFLite metadata writer (``kerasuite.export.metadata``) reads the
same object's fields; and the numpy/LiteRT runtime parses signature.json back with :func:`parse`
and reads raw files with :meth:`DeviceSpec.read`. The three cannot drift: they share these
classes, and ``tests/runtime/test_device_spec.py`` round-trips every registered task's spec.

Subclasses register themselves by ``kind`` (the JSON key a device dispatches on), so a task
defined outside this package adds its own kind by subclassing. numpy-free and TensorFlow-free:
``kerasuite.edge`` imports it.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable, ClassVar

# retrieve_topk.tflite's score for a candidate it must not return (the history's items): below any
# real score and finite, so TOPK_V2 needs no special case; a device drops rows at or below it.
EXCLUDED_SCORE = -1e30

_KINDS: dict[str, type["DeviceSpec"]] = {}


def _spec_field(default: Any = dataclasses.MISSING, *, parse: Callable[[Any], Any] | None = None,
                omit_none: bool = False, json: bool = True) -> Any:
    """A spec field: ``parse`` converts its JSON value; ``omit_none`` leaves it out of the JSON
    when None; ``json=False`` keeps it out of signature.json (an exporter-only companion)."""
    metadata = {"parse": parse, "omit_none": omit_none, "json": json}
    if json is False:
        return dataclasses.field(default=default, metadata=metadata, compare=False, repr=False)
    return dataclasses.field(default=default, metadata=metadata)


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"{value!r} is not a whole number")
    return int(value)


def _real(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"{value!r} is not a number")
    return float(value)


def _optional(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else parse(value)


def _plain(value: Any) -> Any:
    if isinstance(value, DeviceSpecPart):
        return value.to_json()
    if hasattr(value, "as_dict"):  # NgramSpec
        return value.as_dict()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


class DeviceSpecPart:
    """A typed sub-object of a spec (history input, MediaPipe tokenizer note): dataclass fields
    in JSON order, parsed like the spec itself."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.metadata.get("json", True) and not (value is None and field.metadata.get("omit_none")):
                out[field.name] = _plain(value)
        return out

    @classmethod
    def from_json(cls, value: Any):
        if not isinstance(value, dict):
            raise TypeError(f"expected an object, found {type(value).__name__}")
        kwargs = {}
        for field in dataclasses.fields(cls):
            if field.name in value and field.metadata.get("json", True):
                parse = field.metadata.get("parse")
                kwargs[field.name] = parse(value[field.name]) if parse else value[field.name]
        return cls(**kwargs)  # a missing required field: TypeError naming it


@dataclasses.dataclass(frozen=True, kw_only=True)
class DeviceSpec(DeviceSpecPart):
    """Base of every kind. ``kind`` dispatches; ``reader`` ("module:function", called with
    ``(path, spec, bundle_dir)``) turns one raw file into batch-1 model inputs."""

    kind: ClassVar[str] = ""
    reader: ClassVar[str | None] = None
    # fields written before "kind" in signature.json (kept where earlier bundles had them)
    before_kind: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("kind"):
            _KINDS[cls.kind] = cls

    def to_json(self) -> dict[str, Any]:
        fields = super().to_json()
        head = {name: fields.pop(name) for name in self.before_kind if name in fields}
        return {**head, "kind": self.kind, **fields}

    @classmethod
    def coerce(cls, value: "DeviceSpec | dict[str, Any]"):
        """``value`` as this class: a spec passes through, a signature.json object is parsed."""
        if isinstance(value, cls):
            return value
        if isinstance(value, DeviceSpec):
            raise TypeError(f"a {value.kind!r} device spec where {cls.kind!r} is needed")
        return cls.from_json(value)

    @property
    def model_input(self) -> str | None:
        """The model input this spec describes (None: several, e.g. a ranking pair)."""
        return getattr(self, "input", None)

    @property
    def uint8_inputs(self) -> tuple[str, ...]:
        """Inputs an integer export may take as uint8 (pixels)."""
        return ()

    def read(self, path: str, bundle_dir) -> dict[str, Any]:
        if not self.reader:
            raise LookupError(f"no reader for preprocessing kind {self.kind!r}")
        module_name, _, function_name = self.reader.partition(":")
        return getattr(importlib.import_module(module_name), function_name)(path, self, bundle_dir)


@dataclasses.dataclass(frozen=True, kw_only=True)
class UnknownDeviceSpec(DeviceSpec):
    """A kind this process has no class for (a task from another package): kept as written,
    so signature.json round-trips, but raw files cannot be read (``.npy`` inputs still work)."""

    name: str = ""
    fields: dict[str, Any] = dataclasses.field(default_factory=dict)  # the whole object, "kind" too

    def to_json(self) -> dict[str, Any]:
        return dict(self.fields)

    @property
    def model_input(self) -> str | None:
        return self.fields.get("input")


def parse(section: Any) -> DeviceSpec | None:
    """signature.json's ``preprocessing`` object -> its typed spec (None for an empty one).

    Raises ``TypeError``/``ValueError`` naming a missing or mistyped field; the caller names
    the file."""
    if isinstance(section, DeviceSpec) or section is None:
        return section
    if not isinstance(section, dict):
        raise TypeError(f"preprocessing must be an object, found {type(section).__name__}")
    if not section:
        return None
    kind = section.get("kind")
    if not isinstance(kind, str):
        raise ValueError("preprocessing has no 'kind'")
    cls = _KINDS.get(kind)
    if cls is None:
        return UnknownDeviceSpec(name=kind, fields=dict(section))
    return cls.from_json(section)


def kinds() -> dict[str, type[DeviceSpec]]:
    """Every registered kind (built-in ones and those subclassed in this process)."""
    return dict(_KINDS)


# ------------------------------------------------------------------------------------- image

@dataclasses.dataclass(frozen=True, kw_only=True)
class ImageSpec(DeviceSpec):
    kind: ClassVar[str] = "image"
    reader: ClassVar[str] = "kerasuite.runtime.image:read_image"

    input: str = _spec_field("image", parse=str)
    height: int = _spec_field(parse=_whole)
    width: int = _spec_field(parse=_whole)
    channels: int = _spec_field(parse=_whole)  # what the shipped model takes (3 for a grayscale model)
    trained_channels: int | None = _spec_field(None, parse=_optional(_whole), omit_none=True)
    resize: str = _spec_field("bilinear", parse=str)
    scale: float = _spec_field(1.0 / 255.0, parse=_real)
    note: str = _spec_field("decode to uint8, resize to height x width, multiply by scale (pixels in [0, 1])", parse=str)

    @property
    def uint8_inputs(self) -> tuple[str, ...]:
        # a uint8 file input is fixed at value = pixel / 255 (export.convert_worker.PIXEL_SCALE)
        return (self.input,) if abs(self.scale * 255.0 - 1.0) < 1e-6 else ()


# ------------------------------------------------------------------------------------- audio

@dataclasses.dataclass(frozen=True, kw_only=True)
class AudioSpec(DeviceSpec):
    kind: ClassVar[str] = "audio"
    reader: ClassVar[str] = "kerasuite.runtime.audio:read_audio"

    input: str = _spec_field("waveform", parse=str)
    sample_rate: int = _spec_field(parse=_whole)
    samples: int = _spec_field(parse=_whole)  # clip length, the model's waveform input
    channels: str = _spec_field("mono: mean of all channels", parse=str)
    resample: str = _spec_field("Hann-windowed sinc, 16 zero crossings", parse=str)
    fit: str = _spec_field("shorter: zero-pad both sides equally; longer: the loudest window", parse=str)
    scale: str = _spec_field("PCM full scale -> [-1, 1]", parse=str)
    peak_floor: float | None = _spec_field(None, parse=_optional(_real))
    normalize: str = _spec_field(
        "if the clip's peak >= peak_floor, divide by the peak (the model does it too; "
        "doing it first keeps int8 input precision); null: no normalisation", parse=str)
    note: str = _spec_field("the MFCC front end is inside the model: feed the waveform, float32 [1, samples]", parse=str)


# -------------------------------------------------------------------------------------- text

@dataclasses.dataclass(frozen=True, kw_only=True)
class MediaPipeTokenization(DeviceSpecPart):
    """What MediaPipe Tasks' TextClassifier reproduces from the file's RegexTokenizer metadata,
    and what an app must still do to the text itself."""

    tokenizer: str = _spec_field("RegexTokenizer", parse=str)
    delimiter: str = _spec_field(parse=str)
    exact: bool = _spec_field(parse=bool)
    app_must: str = _spec_field(parse=str)


def _ngram_spec(value: Any):
    from kerasuite.runtime.text_ngrams import NgramSpec

    return NgramSpec.from_dict(value)


@dataclasses.dataclass(frozen=True, kw_only=True)
class TextSpec(DeviceSpec):
    """Token ids (lstm, transformer) or, with ``ngrams``, hashed n-gram ids (the ngram family)."""

    kind: ClassVar[str] = "text"
    reader: ClassVar[str] = "kerasuite.runtime.text:read_text"
    before_kind: ClassVar[tuple[str, ...]] = ("mediapipe",)

    mediapipe: MediaPipeTokenization | None = _spec_field(None, parse=_optional(MediaPipeTokenization.from_json),
                                                          omit_none=True)
    vocabulary: str = _spec_field("vocab.txt", parse=str)  # file in the bundle, one token per line
    sequence_length: int = _spec_field(parse=_whole)
    standardize: str = _spec_field(parse=str)
    split: str = _spec_field("whitespace", parse=str)
    pad_id: int = _spec_field(0, parse=_whole)
    oov_id: int = _spec_field(1, parse=_whole)
    input: str = _spec_field("tokens", parse=str)
    ngrams: Any = _spec_field(None, parse=_optional(_ngram_spec), omit_none=True)  # NgramSpec
    note: str = _spec_field("", parse=str)
    # the exporter's copy of the tokens, for the RegexTokenizer metadata (not in signature.json)
    tokens: tuple[str, ...] | None = _spec_field(None, json=False)


# ------------------------------------------------------------------------------------ recsys

@dataclasses.dataclass(frozen=True, kw_only=True)
class HistorySpec(DeviceSpecPart):
    """The ``history`` input of a history_two_tower query tower."""

    input: str = _spec_field("history", parse=str)
    dtype: str = _spec_field("int32", parse=str)
    length: int = _spec_field(parse=_whole)
    padding_index: int = _spec_field(0, parse=_whole)
    order: str = _spec_field("", parse=str)
    truncation: str = _spec_field("", parse=str)
    duplicates: str = _spec_field("", parse=str)
    unknown_items: str = _spec_field("", parse=str)
    table: str = _spec_field("histories.npy", parse=str)
    note: str = _spec_field("", parse=str)


@dataclasses.dataclass(frozen=True, kw_only=True)
class RecsysQuerySpec(DeviceSpec):
    """A retrieval query tower: user id (and history) -> embedding, scored against candidates."""

    kind: ClassVar[str] = "recsys_user"
    reader: ClassVar[str] = "kerasuite.runtime.recsys:read_user"

    input: str = _spec_field("user_index", parse=str)
    users: str = _spec_field("users.txt", parse=str)
    items: str = _spec_field("items.txt", parse=str)
    oov_index: int = _spec_field(0, parse=_whole)
    candidates: str = _spec_field("candidates.npy", parse=str)
    topk_model: str = _spec_field("retrieve_topk.tflite", parse=str)
    top_k: int | None = _spec_field(None, parse=_optional(_whole))
    # query vectors per user: absent (one) -> [1, d], a candidate's score is the dot product;
    # K > 1 -> [1, K, d], a candidate's score is the largest of its K dot products. Absent for one
    # vector, so single-vector bundles keep the signature.json they had before.
    interests: int | None = _spec_field(None, parse=_optional(_whole), omit_none=True)
    note: str = _spec_field("", parse=str)
    history: HistorySpec | None = _spec_field(None, parse=_optional(HistorySpec.from_json), omit_none=True)


@dataclasses.dataclass(frozen=True, kw_only=True)
class RecsysPairSpec(DeviceSpec):
    """A ranking model: one (user id, item id) pair and the item's side features -> a score."""

    kind: ClassVar[str] = "recsys_pair"
    reader: ClassVar[str] = "kerasuite.runtime.recsys:read_pair"

    users: str = _spec_field("users.txt", parse=str)
    items: str = _spec_field("items.txt", parse=str)
    oov_index: int = _spec_field(0, parse=_whole)
    item_features: str | None = _spec_field(None, parse=_optional(str))
    output: str = _spec_field("", parse=str)
    note: str = _spec_field("", parse=str)
