"""Audio input on a device: WAV reading, mono mix-down, resampling and pad/crop in numpy.

Standard library and numpy only (the ``wave`` module, plus a few lines of RIFF parsing for the
IEEE-float and WAVE_FORMAT_EXTENSIBLE files that ``wave`` refuses). Training reads folders of
.wav files through these same functions (``kerasuite.data.audio``), so a clip reaches the model
identically in training and on a device.
"""

from __future__ import annotations

import math
import struct
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from kerasuite.errors import UserError
from kerasuite.runtime.device_spec import AudioSpec

_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """``(samples float32 [frames, channels] in [-1, 1], sample_rate)``; ``UserError`` naming the
    file if it is not a readable, non-empty WAV."""
    rate, blocks = wav_blocks(path)
    parts = [block for block in blocks if len(block)]
    if not parts:
        raise UserError(f"{path}: empty WAV file (zero samples)")
    return np.concatenate(parts), rate


def wav_blocks(path: str | Path, frames_per_block: int = 1 << 16) -> tuple[int, Iterator[np.ndarray]]:
    """``(sample_rate, blocks)``: the samples as float32 ``[frames, channels]`` blocks in [-1, 1],
    read a block at a time, so an hour-long recording never sits in memory whole. The header is
    checked before this returns; anything unreadable is a ``UserError`` naming the file. A file
    with no samples yields no block (``read_wav`` and the stream reader say so)."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(12)
    except OSError as error:
        raise UserError(f"{path}: cannot read ({error.strerror})") from None
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise UserError(f"{path}: not a WAV file (no RIFF/WAVE header)")
    try:
        with wave.open(str(path), "rb") as handle:
            channels, width, rate = handle.getnchannels(), handle.getsampwidth(), handle.getframerate()
        if channels < 1:
            raise UserError(f"{path}: WAV header says {channels} channels")
        blocks = _pcm_blocks(path, channels, width, frames_per_block)
    except (wave.Error, EOFError, RuntimeError, struct.error, ValueError) as error:
        if "unknown format" not in str(error):
            raise _broken(path, error) from None
        layout = _riff_layout(path)  # IEEE float or WAVE_FORMAT_EXTENSIBLE
        rate = layout.rate
        blocks = _riff_blocks(path, layout, frames_per_block)
    if rate <= 0:
        raise UserError(f"{path}: invalid sample rate {rate}")
    return int(rate), blocks


def _broken(path: Path, error: Exception) -> UserError:
    # wave raises EOFError with no message for a file cut short, and a bare RuntimeError for
    # chunks that are random bytes: say what is wrong instead of printing "()".
    reason = str(error) if isinstance(error, wave.Error) and str(error) else (
        "the file ends before its header does" if isinstance(error, EOFError)
        else "its chunks are not valid RIFF (random or damaged bytes after the header)")
    return UserError(f"{path}: broken WAV file ({reason})")


def _pcm_blocks(path: Path, channels: int, width: int, frames_per_block: int) -> Iterator[np.ndarray]:
    try:
        with wave.open(str(path), "rb") as handle:
            while raw := handle.readframes(frames_per_block):
                yield _pcm_to_float(raw, width, channels, path)
    except (wave.Error, EOFError, RuntimeError, struct.error, ValueError) as error:
        raise _broken(path, error) from None


def _pcm_to_float(raw: bytes, width: int, channels: int, path: Path) -> np.ndarray:
    usable = len(raw) - len(raw) % (width * channels)
    raw = raw[:usable]
    if width == 1:  # 8-bit WAV is unsigned
        values = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        values = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    elif width == 3:
        bytes3 = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        ints = bytes3[:, 0] | (bytes3[:, 1] << 8) | (bytes3[:, 2] << 16)
        ints = np.where(ints >= 1 << 23, ints - (1 << 24), ints)
        values = ints.astype(np.float32) / float(1 << 23)
    elif width == 4:
        values = (np.frombuffer(raw, "<i4").astype(np.float64) / float(1 << 31)).astype(np.float32)
    else:
        raise UserError(f"{path}: unsupported WAV sample width of {width} bytes")
    return values.reshape(-1, channels)


@dataclass(frozen=True)
class _RiffLayout:
    tag: int  # _PCM or _FLOAT
    channels: int
    width: int  # bytes per sample
    rate: int
    data_offset: int
    data_bytes: int


def _riff_layout(path: Path) -> _RiffLayout:
    """Minimal RIFF walk for the formats ``wave`` refuses: float32/float64 and EXTENSIBLE PCM.
    Reads the chunk headers only; the samples are read block by block."""
    size_on_disk = path.stat().st_size
    position, fmt, data = 12, None, None
    with open(path, "rb") as handle:
        while position + 8 <= size_on_disk:
            handle.seek(position)
            kind, size = struct.unpack("<4sI", handle.read(8))
            if kind == b"fmt ":
                fmt = handle.read(size)
            elif kind == b"data":
                data = (position + 8, max(0, min(size, size_on_disk - position - 8)))
            position += 8 + size + (size & 1)
    if fmt is None or data is None or len(fmt) < 16:
        raise UserError(f"{path}: broken WAV file (missing fmt or data chunk)")
    tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == _EXTENSIBLE and len(fmt) >= 26:
        tag = struct.unpack("<H", fmt[24:26])[0]  # first two bytes of the sub-format GUID
    width = bits // 8
    if not (tag == _PCM or (tag == _FLOAT and width in (4, 8))):
        raise UserError(f"{path}: unsupported WAV encoding (format tag {tag}, {bits} bits); use PCM or float")
    if channels < 1:
        raise UserError(f"{path}: WAV header says {channels} channels")
    return _RiffLayout(tag, channels, width, rate, *data)


def _riff_blocks(path: Path, layout: _RiffLayout, frames_per_block: int) -> Iterator[np.ndarray]:
    frame_bytes = layout.width * layout.channels
    first_frame, remaining = 0, layout.data_bytes
    with open(path, "rb") as handle:
        handle.seek(layout.data_offset)
        while remaining >= frame_bytes:
            raw = handle.read(min(remaining, frames_per_block * frame_bytes))
            if not raw:
                break
            remaining -= len(raw)
            if layout.tag == _PCM:
                yield _pcm_to_float(raw, layout.width, layout.channels, path)
            else:
                yield _float_to_samples(raw, layout, first_frame, path)
            first_frame += len(raw) // frame_bytes


def _float_to_samples(raw: bytes, layout: _RiffLayout, first_frame: int, path: Path) -> np.ndarray:
    usable = len(raw) - len(raw) % (layout.width * layout.channels)
    values = np.frombuffer(raw[:usable], "<f4" if layout.width == 4 else "<f8").astype(np.float32)
    if not np.isfinite(values).all():  # clipping would keep NaN and poison every feature
        bad = first_frame + int(np.flatnonzero(~np.isfinite(values))[0]) // layout.channels
        raise UserError(f"{path}: WAV holds NaN or infinite samples (first at frame {bad})")
    return np.clip(values, -1.0, 1.0).reshape(-1, layout.channels)


def to_mono(samples: np.ndarray) -> np.ndarray:
    return samples.mean(axis=1).astype(np.float32) if samples.ndim == 2 else samples.astype(np.float32)


def resample(signal: np.ndarray, source_rate: int, target_rate: int, zero_crossings: int = 16) -> np.ndarray:
    """Band-limited resampling: a Hann-windowed sinc low-passed at the lower Nyquist frequency,
    so downsampling (e.g. 44.1 kHz -> 16 kHz) does not alias."""
    signal = np.asarray(signal, np.float32)
    if source_rate == target_rate or len(signal) == 0:
        return signal
    out_length = math.ceil(len(signal) * target_rate / source_rate)
    return _resampled(signal, 0, len(signal), 0, out_length, source_rate, target_rate, zero_crossings)


def _kernel_reach(source_rate: int, target_rate: int, zero_crossings: int) -> tuple[float, float, int]:
    """(cutoff in units of the source Nyquist rate, kernel half-width and tap count - 1 in source samples)."""
    cutoff = min(1.0, target_rate / source_rate)
    half_width = zero_crossings / cutoff
    return cutoff, half_width, int(2 * half_width)


def _first_tap(outputs: np.ndarray, source_rate: int, target_rate: int, half_width: float) -> np.ndarray:
    """The first source sample each output index reads."""
    return np.floor(outputs * (source_rate / target_rate) - half_width).astype(np.int64) + 1


def _resampled(source: np.ndarray, base: int, total: int, first_output: int, end_output: int,
               source_rate: int, target_rate: int, zero_crossings: int) -> np.ndarray:
    """Outputs ``first_output`` to ``end_output`` of the resampled signal, from ``source`` holding
    the signal's samples ``base`` onwards (every sample those outputs read; ``total`` samples in
    all, the rest read as zero). One body for the whole-signal and the block-wise resampler, so
    the two give the same numbers."""
    cutoff, half_width, span = _kernel_reach(source_rate, target_rate, zero_crossings)
    out = np.empty(end_output - first_output, np.float32)
    step = 4096  # bound the [outputs, taps] matrix
    taps = np.arange(span + 1)
    for start in range(first_output, end_output, step):
        outputs = np.arange(start, min(start + step, end_output))
        times = outputs * (source_rate / target_rate)  # output times, source samples
        index = _first_tap(outputs, source_rate, target_rate, half_width)[:, None] + taps[None, :]
        distance = times[:, None] - index
        window = 0.5 + 0.5 * np.cos(np.pi * np.clip(distance / half_width, -1.0, 1.0))
        kernel = cutoff * np.sinc(cutoff * distance) * window
        valid = (index >= 0) & (index < total)
        values = source[np.clip(index - base, 0, len(source) - 1)] * valid
        out[start - first_output:start - first_output + len(outputs)] = np.sum(values * kernel, axis=1)
    return out


def resample_blocks(blocks: Iterable[np.ndarray], source_rate: int, target_rate: int,
                    zero_crossings: int = 16) -> Iterator[np.ndarray]:
    """:func:`resample` over a signal given in blocks, with the same numbers, keeping only the
    source samples the next outputs still read (about one kernel width beside the new block)."""
    if source_rate == target_rate:
        yield from (np.asarray(block, np.float32) for block in blocks)
        return
    _, half_width, span = _kernel_reach(source_rate, target_rate, zero_crossings)
    held, base, total, next_output = np.zeros(0, np.float32), 0, 0, 0
    for block in blocks:
        held = np.concatenate([held, np.asarray(block, np.float32)])
        total += len(block)
        # outputs whose last tap is a sample already read (the tap reach grows with the index)
        candidates = np.arange(next_output, math.ceil(total * target_rate / source_rate) + 1)
        ready = int(np.sum(_first_tap(candidates, source_rate, target_rate, half_width) + span < total))
        if ready:
            yield _resampled(held, base, total, next_output, next_output + ready, source_rate, target_rate,
                             zero_crossings)
            next_output += ready
        keep_from = int(_first_tap(np.array([next_output]), source_rate, target_rate, half_width)[0])
        if keep_from > base:
            held, base = held[keep_from - base:], keep_from
    out_length = math.ceil(total * target_rate / source_rate)
    if out_length > next_output and total:
        yield _resampled(held, base, total, next_output, out_length, source_rate, target_rate, zero_crossings)


def fit_length(signal: np.ndarray, length: int) -> np.ndarray:
    """Pad a short clip with zeros on both sides (centred), or crop a long one to its loudest
    ``length``-sample window, so a keyword anywhere in a longer recording is kept."""
    signal = np.asarray(signal, np.float32)
    count = len(signal)
    if count == length:
        return signal
    if count < length:
        before = (length - count) // 2
        return np.pad(signal, (before, length - count - before))
    energy = np.concatenate([[0.0], np.cumsum(signal.astype(np.float64) ** 2)])
    start = int(np.argmax(energy[length:] - energy[:-length]))
    return signal[start:start + length]


def normalize_peak(signal: np.ndarray, peak_floor: float | None) -> np.ndarray:
    """numpy twin of the model's first step (``kerasuite.models.layers.mfcc.normalize_peak``):
    a clip whose peak is at least ``peak_floor`` is scaled to peak 1, a quieter one is left as
    is. Idempotent; doing it before an int8 model quantizes its input keeps 8 bits of resolution
    for quiet recordings instead of a handful of levels."""
    signal = np.asarray(signal, np.float32)
    if peak_floor is None:
        return signal
    peak = float(np.max(np.abs(signal))) if signal.size else 0.0
    return (signal / peak).astype(np.float32) if peak >= peak_floor else signal


def load_clip(path: str | Path, sample_rate: int, length: int) -> np.ndarray:
    """A WAV file as the model's input: mono, ``sample_rate``, exactly ``length`` samples."""
    samples, rate = read_wav(path)
    return fit_length(resample(to_mono(samples), rate, sample_rate), length)


def read_audio(path: str, spec: AudioSpec | dict, bundle_dir: Path) -> dict[str, np.ndarray]:
    """``AudioSpec.reader``: a .wav file -> ``{input: float32 [1, samples]}``."""
    spec = AudioSpec.coerce(spec)
    clip = load_clip(path, spec.sample_rate, spec.samples)
    clip = normalize_peak(clip, spec.peak_floor)
    return {spec.input: clip[None]}
