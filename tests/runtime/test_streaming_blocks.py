"""The stream reader reads, resamples and classifies a recording a block at a time: the same
numbers as reading it whole, in memory that does not grow with the recording."""

from __future__ import annotations

import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from helpers import write_pcm
from kerasuite.runtime.audio import read_wav, resample, resample_blocks, to_mono, wav_blocks
from kerasuite.runtime.device_spec import AudioSpec
from kerasuite.runtime.streaming import StreamSettings, recording_blocks, stream, stream_blocks

LABELS = ["_silence_", "_unknown_", "yes"]


def _blocks(signal: np.ndarray, size: int) -> list[np.ndarray]:
    return [signal[start:start + size] for start in range(0, len(signal), size)]


@pytest.mark.parametrize("source_rate", [8000, 22050, 44100, 48000])
@pytest.mark.parametrize("block", [1, 7, 1000, 65536])
def test_resampling_block_by_block_gives_the_whole_signals_numbers(source_rate, block):
    signal = np.random.default_rng(source_rate + block).uniform(-1, 1, 3 * source_rate // 2 + 11).astype(np.float32)
    if block == 1:
        signal = signal[:900]  # one block per sample is slow; a short signal still crosses many
    whole = resample(signal, source_rate, 16000)
    pieces = list(resample_blocks(_blocks(signal, block), source_rate, 16000))
    assert np.array_equal(np.concatenate(pieces), whole)


def _write_float(path: Path, frames: np.ndarray, rate: int, extensible: bool = False) -> Path:
    channels = frames.shape[1]
    payload = frames.astype("<f4").tobytes()
    if extensible:  # WAVE_FORMAT_EXTENSIBLE with the IEEE-float sub-format
        fmt = struct.pack("<HHIIHHHHI", 0xFFFE, channels, rate, rate * 4 * channels, 4 * channels, 32, 22, 32, 0)
        fmt += struct.pack("<H", 3) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    else:
        fmt = struct.pack("<HHIIHH", 3, channels, rate, rate * 4 * channels, 4 * channels, 32)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(payload)) + payload
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


@pytest.mark.parametrize("kind", ["pcm8", "pcm16", "pcm24", "pcm32", "float", "float_extensible"])
def test_a_wav_read_in_small_blocks_is_the_wav_read_whole(tmp_path, kind):
    frames = np.random.default_rng(3).uniform(-0.9, 0.9, (5003, 2)).astype(np.float32)
    path = tmp_path / f"{kind}.wav"
    if kind.startswith("pcm"):
        write_pcm(path, frames.T, 11025, int(kind[3:]) // 8)
    else:
        _write_float(path, frames, 11025, extensible=kind == "float_extensible")
    whole, rate = read_wav(path)
    block_rate, blocks = wav_blocks(path, frames_per_block=97)
    pieces = list(blocks)
    assert block_rate == rate == 11025 and len(pieces) == -(-5003 // 97)
    assert np.array_equal(np.concatenate(pieces), whole)
    assert np.abs(whole - frames).max() < 0.02  # and it is the signal written (8 bits: steps of 1/128)


def _energy_model(spec: AudioSpec, seen: list[np.ndarray]):
    """A stand-in for LiteRT: 'yes' as loud as the window's peak, and every window it was given."""
    def predict(inputs):
        frames = inputs[spec.input]
        seen.append(frames.copy())
        loud = np.clip(np.abs(frames).max(axis=1) * 3.0, 0.0, 1.0)
        return np.stack([(1 - loud) / 2, (1 - loud) / 2, loud], axis=1)
    return predict


@pytest.mark.parametrize("seconds", [0.4, 3.0, 7.3])
@pytest.mark.parametrize("hop", [0.25, 0.1])
def test_streaming_block_by_block_classifies_the_windows_the_whole_recording_gives(seconds, hop):
    spec = AudioSpec(sample_rate=1000, samples=1000, peak_floor=0.05)
    rng = np.random.default_rng(int(seconds * 10))
    signal = (0.01 * rng.standard_normal(int(seconds * 1000))).astype(np.float32)
    for word_at in range(500, len(signal) - 300, 2000):  # loud 'words' among quiet noise
        signal[word_at:word_at + 300] += 0.5 * np.sin(np.arange(300) / 3.0).astype(np.float32)
    settings = StreamSettings(hop_seconds=hop, threshold=0.5)
    whole_windows: list[np.ndarray] = []
    whole = stream(_energy_model(spec, whole_windows), signal, spec, LABELS, settings)
    for block in (1, 333, 1000, 4096):
        windows: list[np.ndarray] = []
        found, heard = stream_blocks(_energy_model(spec, windows), _blocks(signal, block), spec, LABELS, settings)
        assert heard == len(signal)
        assert found == whole
        assert np.array_equal(np.concatenate(windows), np.concatenate(whole_windows))
    if seconds > 1:
        assert whole, "the loud words must be heard, or the comparison proves little"


def _peak_bytes(run) -> int:
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_long_recording_streams_in_memory_that_does_not_grow_with_it(tmp_path):
    """One and four minutes of 8 kHz stereo: streamed, the peak stays the same (blocks, one
    resampling batch, one batch of windows); read whole it grows with the recording."""
    spec = AudioSpec(sample_rate=16000, samples=4000, peak_floor=0.05)

    def predict(inputs):
        return np.tile([[0.5, 0.5, 0.0]], (len(inputs[spec.input]), 1))

    peaks = {}
    for minutes in (1, 4):
        t = np.arange(8000 * 60 * minutes)
        signal = 0.3 * np.sin(t / 5.0) * (t % 16000 < 4000)
        path = write_pcm(tmp_path / f"{minutes}.wav", np.stack([signal, signal]), 8000)
        heard = []

        def streamed():
            found, samples = stream_blocks(predict, recording_blocks(str(path), 16000), spec, LABELS, StreamSettings())
            heard.append((found, samples))

        def whole():
            samples, rate = read_wav(path)
            resample(to_mono(samples), rate, 16000)

        peaks[minutes] = (_peak_bytes(streamed), _peak_bytes(whole))
        assert heard == [([], 16000 * 60 * minutes)]
    (streamed_1, whole_1), (streamed_4, whole_4) = peaks[1], peaks[4]
    # the control: read whole, three more minutes cost about 29 MB more (samples, mix, resampled)
    assert whole_4 - whole_1 > 20e6
    assert streamed_4 - streamed_1 < 1e6, f"streaming peaked at {streamed_1 / 1e6:.1f} / {streamed_4 / 1e6:.1f} MB"


def test_a_recording_without_samples_is_one_line_naming_it(tmp_path):
    from kerasuite.errors import UserError

    path = write_pcm(tmp_path / "empty.wav", np.zeros((1, 0)), 16000)
    with pytest.raises(UserError, match=f"{path}: empty WAV"):
        list(recording_blocks(str(path), 16000))
