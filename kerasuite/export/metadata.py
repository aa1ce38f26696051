"""TFLite Model Metadata inside a .tflite file, as MediaPipe Tasks and the TFLite Task Library read it.

Layout (what tflite-support's ``MetadataPopulator`` produces, without tflite-support):

- a ``ModelMetadata`` flatbuffer (schema ``metadata_schema.fbs``, file identifier ``M001``) stored
  in a new model buffer and named ``TFLITE_METADATA`` in the model's ``metadata`` list;
- the associated files it names (labels, vocabulary) appended to the .tflite as an uncompressed
  zip archive: the flatbuffer ignores trailing bytes and a zip is read from its end, so the file
  stays one loadable model. MediaPipe's zip reader takes stored (uncompressed) members only.

``write(path, spec)`` adds both to a converted file (atomically); ``read(path)`` parses them back
into plain JSON-ready data, which the tests compare with golden files. The generated schema code
is vendored in ``metadata_schema_py_generated.py`` (flatbuffers only; no TensorFlow).

MediaPipe needs, per task (measured with mediapipe 1.2.3): images, ``NormalizationOptions`` on a
float32 input and an RGB input of depth 3; audio, ``AudioProperties``; text with an int32 input,
a ``RegexTokenizerOptions`` process unit whose vocabulary file holds ``token id`` lines and the
special tokens ``<PAD>`` and ``<UNKNOWN>``; classifiers, the labels file on the output.
"""

from __future__ import annotations

import dataclasses
import io
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

if TYPE_CHECKING:
    from kerasuite.runtime.device_spec import DeviceSpec

METADATA_NAME = "TFLITE_METADATA"
METADATA_IDENTIFIER = b"M001"
# The schema version that introduced each feature (metadata_schema.fbs "History"): the file's
# min_parser_version is the largest one used, as the populator computes it.
_BASE_VERSION = (1, 0, 0)
_REGEX_TOKENIZER_VERSION = (1, 2, 1)
_AUDIO_PROPERTIES_VERSION = (1, 3, 0)


@dataclasses.dataclass(frozen=True)
class ImageInput:
    """Pixels arrive as 0..255; a float32 input sees ``(pixel - mean) / std``. A uint8 input takes
    the pixels as they are (MediaPipe ignores the normalization then)."""

    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (255.0,)
    color_space: str = "RGB"  # the only one MediaPipe accepts


@dataclasses.dataclass(frozen=True)
class AudioInput:
    sample_rate: int
    channels: int = 1


@dataclasses.dataclass(frozen=True)
class RegexTokenizerInput:
    """Split on ``delim_regex`` (RE2), look every piece up in ``vocabulary`` (``token id`` lines)."""

    delim_regex: str
    vocabulary: bytes
    vocabulary_file: str = "vocab.txt"


Content = Union[ImageInput, AudioInput, RegexTokenizerInput, None]


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    name: str
    description: str = ""
    content: Content = None
    labels: Optional[tuple[str, ...]] = None  # output class names, in output order
    labels_file: str = "labels.txt"


@dataclasses.dataclass(frozen=True)
class MetadataSpec:
    name: str
    description: str
    version: str
    author: str = "kerasuite"
    license: str = ""
    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()


def _version_text(version: tuple[int, int, int]) -> str:
    return ".".join(str(part) for part in version)


def build(spec: MetadataSpec) -> tuple[bytes, dict[str, bytes]]:
    """The metadata flatbuffer and the associated files (name -> content) it refers to."""
    import flatbuffers

    from kerasuite.export import metadata_schema_py_generated as fb

    files: dict[str, bytes] = {}
    version = _BASE_VERSION

    def associated(name: str, content: bytes, kind: int, description: str) -> Any:
        if name in files and files[name] != content:
            raise ValueError(f"two different associated files are both named {name!r}")
        files[name] = content
        entry = fb.AssociatedFileT()
        entry.name, entry.description, entry.type = name, description, kind
        return entry

    def tensor(spec_: TensorSpec) -> Any:
        nonlocal version
        meta = fb.TensorMetadataT()
        meta.name, meta.description = spec_.name, spec_.description or None
        content = fb.ContentT()
        content.contentProperties = None
        content.contentPropertiesType = fb.ContentProperties.NONE
        units = []
        item = spec_.content
        if isinstance(item, ImageInput):
            properties = fb.ImagePropertiesT()
            properties.colorSpace = getattr(fb.ColorSpaceType, item.color_space)
            content.contentPropertiesType = fb.ContentProperties.ImageProperties
            content.contentProperties = properties
            options = fb.NormalizationOptionsT()
            options.mean, options.std = list(item.mean), list(item.std)
            units.append(_unit(fb, fb.ProcessUnitOptions.NormalizationOptions, options))
            stats = fb.StatsT()
            stats.min = [(0.0 - m) / s for m, s in zip(item.mean, item.std)]
            stats.max = [(255.0 - m) / s for m, s in zip(item.mean, item.std)]
            meta.stats = stats
        elif isinstance(item, AudioInput):
            properties = fb.AudioPropertiesT()
            properties.sampleRate, properties.channels = int(item.sample_rate), int(item.channels)
            content.contentPropertiesType = fb.ContentProperties.AudioProperties
            content.contentProperties = properties
            version = max(version, _AUDIO_PROPERTIES_VERSION)
        elif isinstance(item, RegexTokenizerInput):
            options = fb.RegexTokenizerOptionsT()
            options.delimRegexPattern = item.delim_regex
            options.vocabFile = [associated(item.vocabulary_file, item.vocabulary, fb.AssociatedFileType.VOCABULARY,
                                            "token and id per line, for the regex tokenizer")]
            units.append(_unit(fb, fb.ProcessUnitOptions.RegexTokenizerOptions, options))
            content.contentPropertiesType = fb.ContentProperties.FeatureProperties
            content.contentProperties = fb.FeaturePropertiesT()
            version = max(version, _REGEX_TOKENIZER_VERSION)
        elif spec_.labels is not None:
            content.contentPropertiesType = fb.ContentProperties.FeatureProperties
            content.contentProperties = fb.FeaturePropertiesT()
        meta.content = content if content.contentProperties is not None else None
        meta.processUnits = units or None
        if spec_.labels is not None:
            text = ("\n".join(spec_.labels) + "\n").encode("utf-8")
            meta.associatedFiles = [associated(spec_.labels_file, text, fb.AssociatedFileType.TENSOR_AXIS_LABELS,
                                               "class names, one per line, in output order")]
        return meta

    subgraph = fb.SubGraphMetadataT()
    subgraph.inputTensorMetadata = [tensor(t) for t in spec.inputs]
    subgraph.outputTensorMetadata = [tensor(t) for t in spec.outputs]
    model = fb.ModelMetadataT()
    model.name, model.description, model.version = spec.name, spec.description, spec.version
    model.author, model.license = spec.author or None, spec.license or None
    model.subgraphMetadata = [subgraph]
    model.minParserVersion = _version_text(version)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=METADATA_IDENTIFIER)
    return bytes(builder.Output()), files


def _unit(fb, kind: int, options: Any) -> Any:
    unit = fb.ProcessUnitT()
    unit.optionsType, unit.options = kind, options
    return unit


def model_flatbuffer(content: bytes) -> bytes:
    """The .tflite flatbuffer without an appended archive (associated files)."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            starts = [info.header_offset for info in archive.infolist()]
    except zipfile.BadZipFile:
        return content
    return content[: min(starts)] if starts else content


def embed(content: bytes, spec: MetadataSpec) -> bytes:
    """``content`` (a .tflite) with ``spec``'s metadata; metadata already there is replaced."""
    from ai_edge_litert import schema_py_generated as schema

    from kerasuite.export.compact import pack_aligned

    metadata, files = build(spec)
    model = schema.ModelT.InitFromPackedBuf(bytearray(model_flatbuffer(content)), 0)
    inputs, outputs = model.subgraphs[0].inputs, model.subgraphs[0].outputs
    if len(spec.inputs) != len(inputs) or len(spec.outputs) != len(outputs):
        raise ValueError(f"metadata describes {len(spec.inputs)} inputs and {len(spec.outputs)} outputs; "
                         f"the model has {len(inputs)} and {len(outputs)}")
    buffers = list(model.buffers or [])
    entry = next((m for m in model.metadata or [] if _text(m.name) == METADATA_NAME), None)
    new_buffer = schema.BufferT()
    new_buffer.data, new_buffer.offset, new_buffer.size = bytearray(metadata), 0, 0
    if entry is None:
        buffers.append(new_buffer)
        entry = schema.MetadataT()
        entry.name, entry.buffer = METADATA_NAME, len(buffers) - 1
        model.metadata = [*(model.metadata or []), entry]
    else:
        buffers[entry.buffer] = new_buffer
    model.buffers = buffers
    packed = io.BytesIO(pack_aligned(model, len(content) + len(metadata) + 1024))  # 16-byte aligned
    packed.seek(0, io.SEEK_END)
    with zipfile.ZipFile(packed, "a", compression=zipfile.ZIP_STORED) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # reproducible bytes
            archive.writestr(info, data, compress_type=zipfile.ZIP_STORED)
    return packed.getvalue()


def write(path: str | Path, spec: MetadataSpec) -> int:
    """Embed ``spec`` into the .tflite at ``path`` in place (atomically); returns the new size."""
    from kerasuite.io_utils import write_bytes_atomic

    path = Path(path)
    content = embed(path.read_bytes(), spec)
    write_bytes_atomic(path, content)
    return len(content)


def _text(value) -> str | None:
    return value.decode("utf-8") if isinstance(value, (bytes, bytearray)) else value


def read(path_or_content: str | Path | bytes) -> dict[str, Any] | None:
    """The embedded metadata as plain data (``None`` when the file has none), with the
    associated files' content under ``"files"``."""
    from ai_edge_litert import schema_py_generated as schema

    from kerasuite.export import metadata_schema_py_generated as fb

    content = path_or_content if isinstance(path_or_content, bytes) else Path(path_or_content).read_bytes()
    model = schema.Model.GetRootAs(content, 0)
    buffer_index = None
    for i in range(model.MetadataLength()):
        if _text(model.Metadata(i).Name()) == METADATA_NAME:
            buffer_index = model.Metadata(i).Buffer()
    if buffer_index is None:
        return None
    raw = model.Buffers(buffer_index).DataAsNumpy().tobytes()
    if raw[4:8] != METADATA_IDENTIFIER:
        raise ValueError(f"the {METADATA_NAME} buffer is not a metadata flatbuffer (no M001 identifier)")
    parsed = fb.ModelMetadataT.InitFromPackedBuf(bytearray(raw), 0)
    result = _plain(parsed)
    files = {}
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            for info in archive.infolist():
                files[info.filename] = {"compress_type": info.compress_type,
                                        "text": archive.read(info).decode("utf-8")}
    except zipfile.BadZipFile:
        pass
    result["files"] = files
    return result


def _plain(value: Any) -> Any:
    """Object-API tables -> dicts (None fields dropped), enum-typed unions kept as numbers."""
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8")
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return [round(float(v), 6) for v in value.tolist()]
    if isinstance(value, float):
        return round(value, 6)
    if hasattr(value, "__dict__"):
        return {k: _plain(v) for k, v in vars(value).items() if v is not None}
    return value


def bundle_spec(*, name: str, task: str, family: str, source: str, version: str, mode: str,
                input_names: list[str], output_count: int, preprocessing: "DeviceSpec | None",
                labels: list[str] | None, vocabulary: list[str] | None = None) -> MetadataSpec:
    """The metadata of one exported file, from what the bundle already records.

    The input's content follows the device spec's type (image, audio, text; others get names
    only): the same spec signature.json gives a device, in the schema MediaPipe reads.
    """
    from kerasuite.runtime.device_spec import AudioSpec, ImageSpec, TextSpec

    inputs = []
    for input_name in input_names:
        content: Content = None
        description = ""
        if preprocessing is not None and input_name == preprocessing.model_input:
            if isinstance(preprocessing, ImageSpec):
                content = ImageInput(mean=(0.0,), std=(1.0 / preprocessing.scale,))
                scaled = "pixel / 255" if abs(preprocessing.scale * 255.0 - 1.0) < 1e-6 else f"pixel x {preprocessing.scale:g}"
                description = f"RGB image, {preprocessing.height}x{preprocessing.width}, {scaled}"
            elif isinstance(preprocessing, AudioSpec):
                content = AudioInput(sample_rate=preprocessing.sample_rate, channels=1)
                description = f"mono waveform, {preprocessing.samples} samples at {preprocessing.sample_rate} Hz"
            elif isinstance(preprocessing, TextSpec) and preprocessing.ngrams is not None:
                # hashed n-gram ids: no MediaPipe tokenizer makes them
                description = f"n-gram ids (kerasuite/runtime/text_ngrams.py), {preprocessing.sequence_length} per text"
            elif isinstance(preprocessing, TextSpec) and (preprocessing.tokens or vocabulary) is not None:
                from kerasuite.export.mediapipe_text import regex_tokenizer

                tokens = list(preprocessing.tokens) if preprocessing.tokens is not None else vocabulary
                content = regex_tokenizer(tokens, preprocessing.standardize).input
                description = f"token ids, {preprocessing.sequence_length} per text"
        inputs.append(TensorSpec(input_name, description, content))
    outputs = [TensorSpec("output" if i == 0 else f"output_{i}",
                          "class probabilities" if labels else "model output",
                          labels=tuple(labels) if labels and i == 0 else None)
               for i in range(output_count)]
    return MetadataSpec(
        name=name,
        description=f"{task} ({family}) trained on {source}; export mode {mode}; made with kerasuite",
        version=version,
        inputs=tuple(inputs),
        outputs=tuple(outputs),
    )
