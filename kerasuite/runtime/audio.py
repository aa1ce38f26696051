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
from pathlib import Path

import numpy as np

from kerasuite.errors import UserError
from kerasuite.runtime.device_spec import AudioSpec

_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """``(samples float32 [frames, channels] in [-1, 1], sample_rate)``; ``UserError`` naming the
    file if it is not a readable, non-empty WAV."""
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
            raw = handle.readframes(handle.getnframes())
        samples = _pcm_to_float(raw, width, channels, path)
    except (wave.Error, EOFError, RuntimeError, struct.error, ValueError) as error:
        # wave raises EOFError with no message for a file cut short, and a bare RuntimeError for
        # chunks that are random bytes: say what is wrong instead of printing "()".
        if "unknown format" not in str(error):
            reason = str(error) if isinstance(error, wave.Error) and str(error) else (
                "the file ends before its header does" if isinstance(error, EOFError)
                else "its chunks are not valid RIFF (random or damaged bytes after the header)")
            raise UserError(f"{path}: broken WAV file ({reason})") from None
        samples, rate = _read_riff(path)  # IEEE float or WAVE_FORMAT_EXTENSIBLE
    if samples.shape[0] == 0:
        raise UserError(f"{path}: empty WAV file (zero samples)")
    if rate <= 0:
        raise UserError(f"{path}: invalid sample rate {rate}")
    return samples, int(rate)


def _pcm_to_float(raw: bytes, width: int, channels: int, path: Path) -> np.ndarray:
    if channels < 1:
        raise UserError(f"{path}: WAV header says {channels} channels")
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


def _read_riff(path: Path) -> tuple[np.ndarray, int]:
    """Minimal RIFF walk for the formats ``wave`` refuses: float32/float64 and EXTENSIBLE PCM."""
    data = path.read_bytes()
    position, fmt, payload = 12, None, None
    while position + 8 <= len(data):
        kind, size = struct.unpack("<4sI", data[position:position + 8])
        body = data[position + 8:position + 8 + size]
        if kind == b"fmt ":
            fmt = body
        elif kind == b"data":
            payload = body
        position += 8 + size + (size & 1)
    if fmt is None or payload is None or len(fmt) < 16:
        raise UserError(f"{path}: broken WAV file (missing fmt or data chunk)")
    tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == _EXTENSIBLE and len(fmt) >= 26:
        tag = struct.unpack("<H", fmt[24:26])[0]  # first two bytes of the sub-format GUID
    width = bits // 8
    if tag == _PCM:
        return _pcm_to_float(payload, width, channels, path), rate
    if tag == _FLOAT and width in (4, 8):
        usable = len(payload) - len(payload) % (width * channels)
        values = np.frombuffer(payload[:usable], "<f4" if width == 4 else "<f8").astype(np.float32)
        if not np.isfinite(values).all():  # clipping would keep NaN and poison every feature
            bad = int(np.flatnonzero(~np.isfinite(values))[0]) // max(channels, 1)
            raise UserError(f"{path}: WAV holds NaN or infinite samples (first at frame {bad})")
        return np.clip(values, -1.0, 1.0).reshape(-1, channels), rate
    raise UserError(f"{path}: unsupported WAV encoding (format tag {tag}, {bits} bits); use PCM or float")


def to_mono(samples: np.ndarray) -> np.ndarray:
    return samples.mean(axis=1).astype(np.float32) if samples.ndim == 2 else samples.astype(np.float32)


def resample(signal: np.ndarray, source_rate: int, target_rate: int, zero_crossings: int = 16) -> np.ndarray:
    """Band-limited resampling: a Hann-windowed sinc low-passed at the lower Nyquist frequency,
    so downsampling (e.g. 44.1 kHz -> 16 kHz) does not alias."""
    signal = np.asarray(signal, np.float32)
    if source_rate == target_rate or len(signal) == 0:
        return signal
    out_length = math.ceil(len(signal) * target_rate / source_rate)
    cutoff = min(1.0, target_rate / source_rate)  # in units of the source Nyquist rate
    half_width = zero_crossings / cutoff  # kernel half-width in source samples
    positions = np.arange(out_length) * (source_rate / target_rate)  # output times, source samples
    out = np.empty(out_length, np.float32)
    step = 4096  # bound the [outputs, taps] matrix
    for start in range(0, out_length, step):
        times = positions[start:start + step]
        first = np.floor(times - half_width).astype(np.int64) + 1
        taps = np.arange(int(2 * half_width) + 1)
        index = first[:, None] + taps[None, :]
        distance = times[:, None] - index
        window = 0.5 + 0.5 * np.cos(np.pi * np.clip(distance / half_width, -1.0, 1.0))
        kernel = cutoff * np.sinc(cutoff * distance) * window
        valid = (index >= 0) & (index < len(signal))
        values = signal[np.clip(index, 0, len(signal) - 1)] * valid
        out[start:start + step] = np.sum(values * kernel, axis=1)
    return out


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
