"""Keyword spotting over a long recording: a one-second window slid at a hop, numpy + LiteRT only.

``python -m kerasuite.edge MODEL.tflite --input LONG.wav --stream [--hop 0.25]``.

Choices (the usual small-footprint KWS post-processing, e.g. Chen et al. 2014, "Small-footprint
keyword spotting using deep neural networks"):

- every window is prepared exactly like a single clip (mono, resampled, peak-normalised with the
  bundle's ``peak_floor``), so the model sees what it was trained on;
- posteriors are **smoothed** by a moving average over the last ``smooth_seconds`` (0.75 s: 3
  windows at the default 250 ms hop, 6 at 125 ms), which removes single-window flickers at word
  edges; the span is in seconds so that another hop keeps the same behaviour;
- a **detection** is a keyword (any class but ``_unknown_`` / ``_silence_``) whose smoothed posterior
  is the top class and at least ``threshold``;
- after a detection, **suppression** (a refractory period of ``refractory_seconds``) reports no
  other detection, since one spoken word stays in several overlapping windows.

The reported time is the centre of the window that fired (in seconds from the start), so it
runs a little after the word's own centre while the smoothing fills. The last window ends at the
recording's end even when the hops do not divide it: a word that ends a file is heard.
The recording is read, resampled and classified a block at a time, so an hour of audio
needs no more memory than a minute.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np

from kerasuite.errors import UserError
from kerasuite.runtime.audio import normalize_peak, resample_blocks, to_mono, wav_blocks
from kerasuite.runtime.device_spec import AudioSpec

NON_KEYWORDS = ("_unknown_", "_silence_")


@dataclass(frozen=True)
class StreamSettings:
    hop_seconds: float = 0.25
    smooth_seconds: float = 0.75
    smooth_windows: int | None = None  # overrides smooth_seconds with a count of windows
    threshold: float = 0.7
    refractory_seconds: float = 1.0

    def windows_to_smooth(self) -> int:
        if self.smooth_windows is not None:
            return self.smooth_windows
        return max(1, round(self.smooth_seconds / self.hop_seconds))

    def check(self, window_seconds: float | None = None) -> None:
        """``window_seconds``: the model's window, once known; a longer hop would skip audio
        between windows. Before the model is read, the hop is held to 10 s."""
        if window_seconds is None:
            if not 0.01 <= self.hop_seconds <= 10:
                raise UserError(f"--hop: must be from 0.01 to 10 seconds, got {self.hop_seconds}")
        elif not 0.01 <= self.hop_seconds <= window_seconds:
            raise UserError(f"--hop: must be from 0.01 s to the model's window ({window_seconds:g} s; a longer "
                            f"hop never hears the audio between windows), got {self.hop_seconds}")
        if self.smooth_windows is not None and self.smooth_windows < 1:
            raise UserError(f"--smooth: must be >= 1 window, got {self.smooth_windows}")
        if not 0 < self.threshold <= 1:
            raise UserError(f"--threshold: must be in (0, 1], got {self.threshold}")
        if self.refractory_seconds < 0:
            raise UserError(f"--refractory: must be >= 0 seconds, got {self.refractory_seconds}")


@dataclass(frozen=True)
class Detection:
    seconds: float
    label: str
    score: float


def windows(signal: np.ndarray, window: int, starts: np.ndarray, peak_floor: float | None,
            chunk: int = 256):
    """Yields ``windows float32 [<= chunk, window]`` starting at ``starts``, in order, each
    prepared like a single clip. Chunks bound memory (an hour at a 250 ms hop is 14,400 windows,
    0.9 GB at once)."""
    for first in range(0, len(starts), chunk):
        yield np.stack([normalize_peak(signal[s:s + window], peak_floor) for s in starts[first:first + chunk]])


def window_starts(length: int, window: int, hop: int) -> np.ndarray:
    """Every ``hop`` samples, and one more window ending at the last sample when the hops fall
    short of it (a word at the very end of a file is heard)."""
    starts = np.arange(0, max(length - window, 0) + 1, hop)
    if starts[-1] + window < length:
        starts = np.append(starts, length - window)
    return starts


def smooth(posteriors: np.ndarray, count: int) -> np.ndarray:
    """Moving average over the last ``count`` rows; before the recording the scores count as 0,
    so the first window's flicker is damped like any other (an average over fewer rows let a
    one-window flicker at the start of a file fire)."""
    cumulative = np.cumsum(np.concatenate([np.zeros((1, posteriors.shape[1])), posteriors]), axis=0)
    ends = np.arange(1, len(posteriors) + 1)
    begins = np.maximum(0, ends - count)
    return (cumulative[ends] - cumulative[begins]) / count


def detect(posteriors: np.ndarray, labels: list[str], window_seconds: float, settings: StreamSettings,
           centres: np.ndarray | None = None) -> list[Detection]:
    """Smoothed, thresholded, suppressed detections from per-window posteriors ``[n, classes]``;
    ``centres``: each window's centre in seconds (default: one hop apart from half a window)."""
    posteriors = np.asarray(posteriors, np.float64)
    if posteriors.shape[1] != len(labels):
        raise UserError(f"labels.txt has {len(labels)} labels but the model gives {posteriors.shape[1]} scores "
                        "per window: the labels are not this model's")
    smoothed = smooth(posteriors, settings.windows_to_smooth())
    if centres is None:
        centres = np.arange(len(smoothed)) * settings.hop_seconds + window_seconds / 2
    keyword = np.array([label not in NON_KEYWORDS for label in labels])
    found: list[Detection] = []
    quiet_until = -np.inf
    for index, row in enumerate(smoothed):
        best = int(np.argmax(row))
        seconds = float(centres[index])
        if keyword[best] and row[best] >= settings.threshold and seconds >= quiet_until:
            found.append(Detection(round(seconds, 3), labels[best], float(row[best])))
            quiet_until = seconds + settings.refractory_seconds
    return found


def stream(predict: Callable[[dict[str, np.ndarray]], np.ndarray], signal: np.ndarray, spec: AudioSpec | dict,
           labels: list[str], settings: StreamSettings) -> list[Detection]:
    """Detections in ``signal`` (float32 mono at the model's sample rate)."""
    return stream_blocks(predict, [signal], spec, labels, settings)[0]


def stream_blocks(predict: Callable[[dict[str, np.ndarray]], np.ndarray], blocks: Iterable[np.ndarray],
                  spec: AudioSpec | dict, labels: list[str], settings: StreamSettings) -> tuple[list[Detection], int]:
    """``(detections, samples heard)`` in a recording given as float32 mono blocks at the model's
    sample rate."""
    spec = AudioSpec.coerce(spec)
    settings.check(spec.samples / spec.sample_rate)
    posteriors, centres, heard = window_posteriors(predict, blocks, spec, settings.hop_seconds)
    return detect(posteriors, labels, spec.samples / spec.sample_rate, settings, centres), heard


def window_posteriors(predict: Callable[[dict[str, np.ndarray]], np.ndarray], blocks: Iterable[np.ndarray],
                      spec: AudioSpec | dict, hop_seconds: float) -> tuple[np.ndarray, np.ndarray, int]:
    """``(posteriors [windows, classes], window centres in seconds, samples heard)``: the model on
    every window of the recording. Each window is classified as soon as its samples have arrived
    and only the samples later windows still read are kept, so memory does not grow with the
    recording; the detector's settings only read the posteriors."""
    spec = AudioSpec.coerce(spec)
    rate, window = spec.sample_rate, spec.samples
    hop = max(1, round(hop_seconds * rate))
    held, base = np.zeros(0, np.float32), 0  # held[0] is sample ``base`` of the recording
    done_starts: list[np.ndarray] = []
    posteriors: list[np.ndarray] = []

    def classify(starts: np.ndarray) -> None:
        for frames in windows(held, window, starts - base, spec.peak_floor):
            posteriors.append(predict({spec.input: frames}))
        done_starts.append(starts)

    next_start = 0
    for block in blocks:
        held = np.concatenate([held, np.asarray(block, np.float32)])
        ready = np.arange(next_start, base + len(held) - window + 1, hop)
        if len(ready):
            classify(ready)
            next_start = int(ready[-1]) + hop
        # keep from the last window classified: the window that ends at the recording's end may
        # start before the next hop
        keep_from = max(base, next_start - hop)
        held, base = held[keep_from - base:], keep_from
    total = base + len(held)
    if total < window:  # a recording shorter than one window is zero-padded to one
        held = np.pad(held, (0, window - total))
    starts = window_starts(max(total, window), window, hop)
    rest = starts[starts > next_start - hop]
    if len(rest):
        classify(rest)
    # times from the samples actually hopped, not from the hop as typed
    return np.concatenate(posteriors), (np.concatenate(done_starts) + window / 2) / rate, total


def recording_blocks(path: str, sample_rate: int) -> Iterator[np.ndarray]:
    """A WAV file as mono float32 blocks at ``sample_rate``, read and resampled a block at a time;
    a file without samples is a ``UserError`` naming it (checked after its last block)."""
    rate, blocks = wav_blocks(path)
    heard = 0
    for block in resample_blocks((to_mono(b) for b in blocks), rate, sample_rate):
        heard += len(block)
        yield block
    if not heard:
        raise UserError(f"{path}: empty WAV file (zero samples)")
