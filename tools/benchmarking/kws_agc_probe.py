"""Does a compressor in front of the MFCCs let a keyword model hear the quiet consonant? (issue 21)

    PYTHONPATH=. python tools/benchmarking/kws_agc_probe.py --data data/keywords \
        --out data/keywords_agc30 --range-db 30
    python -m kerasuite.train --task keyword_spotting --data folder:data/keywords_agc30 \
        --seed 1 --export none

Writes a copy of a ``folder:`` keyword set with every clip (not ``_background_noise_``) passed
through an automatic gain control: the clip's RMS envelope (20 ms Hann window) is lifted to its
peak wherever it lies within ``--range-db`` of it, so a consonant 30 dB under the vowel reaches
the vowel's level before the front end's floor and its int8 tensors see it. The compressed
waveform is what training and the test see; a device would compress before the model the same
way. Only a probe: the training noise is mixed after the compressor, not before as on a device.
"""

from __future__ import annotations

import argparse
import shutil
import wave
from pathlib import Path

import numpy as np

from kerasuite.runtime.audio import read_wav

ENVELOPE_SECONDS = 0.02


def compress(samples: np.ndarray, rate: int, range_db: float) -> np.ndarray:
    """Mono float samples -> the same with their envelope flattened over ``range_db``, peak 0.9."""
    half = int(rate * ENVELOPE_SECONDS)
    window = np.hanning(2 * half + 1)
    envelope = np.sqrt(np.convolve(samples * samples, window / window.sum(), mode="same"))
    peak = envelope.max()
    if peak <= 0:
        return samples
    gain = peak / np.maximum(envelope, peak * 10 ** (-range_db / 20))
    lifted = samples * gain
    return lifted / max(float(np.abs(lifted).max()), 1e-9) * 0.9


def write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a folder: keyword set")
    parser.add_argument("--out", type=Path, required=True, help="where the compressed copy goes (must not exist)")
    parser.add_argument("--range-db", type=float, default=30.0, help="how far under the peak the envelope is lifted")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        parser.error(f"--data {args.data}: no such folder")
    if args.out.exists():
        parser.error(f"--out {args.out}: already exists")
    if args.range_db <= 0:
        parser.error(f"--range-db {args.range_db}: must be above 0")
    for source in sorted(args.data.rglob("*")):
        target = args.out / source.relative_to(args.data)
        if source.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif source.suffix.lower() == ".wav" and "_background_noise_" not in source.parts:
            samples, rate = read_wav(source)
            write_wav(target, compress(samples.mean(axis=1), rate, args.range_db), rate)
        else:
            shutil.copy(source, target)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
