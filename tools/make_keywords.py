"""Synthesize an offline keyword-spotting data set with espeak-ng and sox.

    python tools/make_keywords.py --out data/keywords              # ~12 classes x 150 clips
    python tools/make_keywords.py --out /tmp/kw --per-class 4 --words yes,no,up --noise-seconds 2
    python tools/make_keywords.py --out data/keywords_hard --preset sc12-hard   # the harder set

Layout (``folder:`` source of kerasuite, the same shape as Speech Commands)::

    OUT/train/<class>/*.wav   16 kHz mono 16-bit, exactly --clip-seconds long
    OUT/test/<class>/*.wav    spoken by voices that never occur in train/
    OUT/_background_noise_/*.wav   long noise clips for augmentation (not a class)
    OUT/make_keywords.json    the command and settings that made the set

The set is built in a hidden sibling folder and renamed onto OUT when complete, so OUT is never
half-written and a rebuild replaces it whole (no clips left from the earlier settings); a
non-empty OUT that this tool did not write is refused.

Classes: one per keyword, plus ``_unknown_`` (other words) and ``_silence_`` (quiet noise) unless
``--no-unknown`` / ``--no-silence``. Variety: espeak-ng accents x voice variants, speed, pitch,
random placement in the clip, peak level, optional room reverb or telephone band, and a little
background noise. The test split holds out whole voices (accent+variant), so accuracy measures
generalisation to unseen speakers, not to a re-synthesis of a training voice.

``--preset sc12-hard`` builds the Speech Commands v2 12-class setup closer to real use: 10
command words, ``_unknown_`` drawn from 20 other words, ``_silence_`` (noise only), 120 clips per
class (96 train + 24 test: 1,152 / 288 clips), test voices never used in training, and half of the
word clips mixed with white, pink or brown noise at a low SNR drawn from ``--low-snr-db``
(default 0..10 dB) on top of the usual random onset, speed, pitch and level.

``--variants wide`` adds 40 more espeak-ng variants per accent to the training voices (55 instead
of 15: more speakers, fewer clips each) and keeps the test voices and test clips of the default
variants, so the same test set measures how much the number of training voices matters.

Requires the Debian packages ``espeak-ng`` and ``sox``. Deterministic for a given ``--seed``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import itertools
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np

KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
UNKNOWN_WORDS = ("bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow", "zero", "learn")
# Speech Commands v2's non-command words (the --preset sc12-hard unknown class).
HARD_UNKNOWN_WORDS = ("bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow",
                      "zero", "one", "two", "three", "four", "five", "backward", "forward", "follow", "learn")
PRESETS = {
    "sc12-hard": {"per_class": 120, "test_fraction": 0.2, "noisy_fraction": 0.5, "unknown_words": HARD_UNKNOWN_WORDS},
}
ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2", "klatt4")
# More of espeak-ng's variants that sound like people (its novelty voices -- whisper, robots,
# announcers -- left out): ``--variants wide`` draws from these and VARIANTS.
MORE_VARIANTS = ("adam", "Alex", "Alicia", "Andrea", "Andy", "Annie", "antonio", "aunty", "belinda", "benjamin",
                 "boris", "david", "Denis", "ed", "edward", "Gene", "Henrique", "Hugo", "iven", "Jacky", "john", "Lee",
                 "linda", "max", "Michael", "Mike", "paul", "pedro", "quincy", "rob", "robert", "steph", "zac",
                 "anika", "grandma", "grandpa", "norbert", "shelby", "travis", "victor")
NOISE_KINDS = ("pink", "white", "brown", "hum", "babble")
BABBLE_TEXT = (
    "the quick brown fox jumps over the lazy dog",
    "please call stella and ask her to bring these things with her from the store",
    "six spoons of fresh snow peas five thick slabs of blue cheese",
    "we also need a small plastic snake and a big toy frog for the kids",
)
SAMPLE_RATE = 16000


def require_tools() -> None:
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        sys.exit(f"make_keywords: missing {' and '.join(missing)}; install with: apt-get install espeak-ng sox")


def espeak_variants() -> set[str]:
    """The variant names ``-v ACCENT+NAME`` accepts: the File column of ``espeak-ng --voices=variant``
    without its ``!v/`` (an unknown name is not an error there: espeak-ng speaks the base voice)."""
    listing = subprocess.run(["espeak-ng", "--voices=variant"], check=True, capture_output=True, text=True).stdout
    return {line.split()[4].removeprefix("!v/") for line in listing.splitlines()[1:] if len(line.split()) >= 5}


def speak(text: str, voice: str, speed: int, pitch: int, effects: list[str]) -> np.ndarray:
    """espeak-ng -> sox (resample to 16 kHz mono, extra effects) -> float32 samples."""
    spoken = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", text],
        check=True, capture_output=True,
    ).stdout
    raw = subprocess.run(
        ["sox", "-R", "-q", "-t", "wav", "-", "-t", "raw", "-e", "floating-point", "-b", "32", "-c", "1",
         "-r", str(SAMPLE_RATE), "-", *effects],
        input=spoken, check=True, capture_output=True,
    ).stdout
    return np.frombuffer(raw, dtype="<f4").astype(np.float32)


def trim_silence(audio: np.ndarray, threshold: float = 0.02) -> np.ndarray:
    loud = np.nonzero(np.abs(audio) > threshold * (np.abs(audio).max() + 1e-9))[0]
    return audio[loud[0] : loud[-1] + 1] if len(loud) else audio[:0]


def place(audio: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """Put ``audio`` at a random offset inside ``length`` samples (centre-crop if longer)."""
    out = np.zeros(length, dtype=np.float32)
    if len(audio) >= length:
        start = (len(audio) - length) // 2
        return audio[start : start + length].astype(np.float32)
    offset = int(rng.integers(0, length - len(audio) + 1))
    out[offset : offset + len(audio)] = audio
    return out


def synth_noise(kind: str, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """One background-noise clip, peak-normalised to 0.5."""
    n = int(seconds * SAMPLE_RATE)
    if kind == "babble":
        out = np.zeros(n, dtype=np.float32)
        for _ in range(4):  # overlapping talkers
            voice = f"{rng.choice(ACCENTS)}+{rng.choice(VARIANTS)}"
            speech = speak(str(rng.choice(BABBLE_TEXT)), voice, int(rng.integers(140, 200)), int(rng.integers(20, 80)), [])
            speech = np.resize(speech, n)  # loop to fill
            out += np.roll(speech, int(rng.integers(0, n)))
    elif kind == "hum":
        t = np.arange(n) / SAMPLE_RATE
        mains = float(rng.choice([50.0, 60.0]))
        out = sum(np.sin(2 * np.pi * mains * h * t + rng.uniform(0, 2 * np.pi)) / h for h in (1, 2, 3, 5))
        out = out + 0.3 * rng.standard_normal(n)
    else:  # sox's own generators, with a slow tremolo so the level is not flat
        raw = subprocess.run(
            ["sox", "-R", "-q", "-n", "-t", "raw", "-e", "floating-point", "-b", "32", "-c", "1", "-r", str(SAMPLE_RATE), "-",
             "synth", f"{seconds}", f"{kind}noise", "tremolo", f"{rng.uniform(0.1, 0.5):.2f}", f"{rng.uniform(20, 60):.0f}"],
            check=True, capture_output=True,
        ).stdout
        out = np.frombuffer(raw, dtype="<f4")[:n]
        out = np.pad(out, (0, n - len(out)))
    out = np.asarray(out, dtype=np.float32)
    return out * (0.5 / (np.abs(out).max() + 1e-9))


def colored_noise(length: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """White (0), pink (0.5: 1/f power) or brown (1: 1/f^2 power) Gaussian noise, unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(length))
    spectrum /= np.maximum(np.fft.rfftfreq(length), 1.0 / length) ** exponent
    clip = np.fft.irfft(spectrum, n=length)
    return (clip / (np.sqrt(np.mean(clip**2)) + 1e-12)).astype(np.float32)


COLORS = {"white": 0.0, "pink": 0.5, "brown": 1.0}


def write_wav(path: Path, audio: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = np.clip(np.round(audio * 32767.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(SAMPLE_RATE)
        handle.writeframes(pcm.tobytes())


def random_effects(rng: np.random.Generator) -> list[str]:
    effects: list[str] = []
    if rng.random() < 0.3:
        effects += ["reverb", f"{rng.uniform(10, 50):.0f}", "50", f"{rng.uniform(20, 80):.0f}"]
    if rng.random() < 0.2:
        effects += ["sinc", "300-3400"]  # telephone band
    return effects


def make_clip(job: dict) -> tuple[str, bool]:
    """Render one clip; returns (path, ok). Runs in a worker thread (the work is in subprocesses)."""
    rng = np.random.default_rng(job["seed"])
    length = job["length"]
    noise_bank: list[np.ndarray] = job["noise_bank"]
    noise = noise_bank[int(rng.integers(len(noise_bank)))]
    start = int(rng.integers(0, max(1, len(noise) - length)))
    noise = np.resize(noise[start : start + length], length)
    if job["label"] == "_silence_":
        level = 10 ** (rng.uniform(-50, -20) / 20) if rng.random() > 0.1 else 0.0
        write_wav(job["path"], noise / (np.abs(noise).max() + 1e-9) * level)
        return str(job["path"]), True
    speech = speak(job["text"], job["voice"], job["speed"], job["pitch"], random_effects(rng))
    speech = trim_silence(speech)
    if len(speech) == 0:
        return str(job["path"]), False
    clip = place(speech, length, rng)
    clip *= 10 ** (rng.uniform(-12, -1) / 20) / (np.abs(clip).max() + 1e-9)  # peak level
    speech_rms = np.sqrt(np.mean(clip**2)) + 1e-9
    snr_db = rng.uniform(20, 40)
    clip += noise * speech_rms / (np.sqrt(np.mean(noise**2)) + 1e-9) * 10 ** (-snr_db / 20)
    if rng.random() < job["noisy_fraction"]:  # the harder set: a low-SNR colored noise on top
        color = str(rng.choice(list(COLORS)))
        low_snr = rng.uniform(*job["low_snr_db"])
        clip += colored_noise(length, COLORS[color], rng) * speech_rms * 10 ** (-low_snr / 20)
    clip *= min(1.0, 0.99 / (np.abs(clip).max() + 1e-9))  # no clipping after the noise
    write_wav(job["path"], clip)
    return str(job["path"]), True


def voice_pools(seed: int, test_fraction: float, variants: tuple[str, ...] = VARIANTS) -> tuple[list[str], list[str]]:
    """All accent+variant voices, split so test voices never appear in training. Variants beyond
    VARIANTS only add training voices: the test voices, and so the test clips, are those of the
    default variants for the same seed, which keeps test sets comparable across ``--variants``."""
    voices = [f"{a}+{v}" for a, v in itertools.product(ACCENTS, [v for v in variants if v in VARIANTS])]
    order = np.random.default_rng(seed).permutation(len(voices))
    voices = [voices[i] for i in order]
    n_test = round(len(voices) * test_fraction) if test_fraction > 0 else 0
    extra = [f"{a}+{v}" for a, v in itertools.product(ACCENTS, [v for v in variants if v not in VARIANTS])]
    return voices[n_test:] + extra, voices[:n_test]


def plan_jobs(args: argparse.Namespace, noise_bank: list[np.ndarray], root: Path) -> list[dict]:
    words = [w.strip() for w in args.words.split(",") if w.strip()]
    classes = list(words) + (["_unknown_"] if args.unknown else []) + (["_silence_"] if args.silence else [])
    train_voices, test_voices = voice_pools(args.seed, args.test_fraction, args.variants)
    n_test = round(args.per_class * args.test_fraction) if test_voices else 0
    length = round(args.clip_seconds * SAMPLE_RATE)
    jobs = []
    for class_index, label in enumerate(classes):
        for i in range(args.per_class):
            split, pool = ("test", test_voices) if i < n_test else ("train", train_voices)
            rng = np.random.default_rng([args.seed, class_index, i])
            text = str(rng.choice(args.unknown_words)) if label == "_unknown_" else label
            voice = str(pool[int(rng.integers(len(pool)))])
            stem = f"{text}_{voice.replace('+', '_')}_{i:04d}" if label != "_silence_" else f"silence_{i:04d}"
            jobs.append(
                {
                    "label": label, "text": text, "voice": voice, "length": length, "noise_bank": noise_bank,
                    "noisy_fraction": args.noisy_fraction, "low_snr_db": args.low_snr_db,
                    "speed": int(rng.integers(110, 200)), "pitch": int(rng.integers(20, 80)),
                    "seed": [args.seed, class_index, i, 1],
                    "path": root / split / label / f"{stem}.wav",
                }
            )
    return jobs


MANIFEST = "make_keywords.json"


def write_manifest(path: Path, args: argparse.Namespace, argv: list[str] | None, written: int,
                   skipped: list[str]) -> None:
    """How the set was made (the command and the settings it resolved to), and the mark that lets a
    later run replace the folder."""
    import json

    settings = {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(args).items()}
    record = {"command": ["tools/make_keywords.py", *(argv if argv is not None else sys.argv[1:])],
              "settings": settings, "clips_written": written, "clips_skipped_silent": skipped}
    path.write_text(json.dumps(record, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser
    from kerasuite.io_utils import atomic_folder, folder_not_ours

    parser = OneLineArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="output folder: created, or replaced as a whole if an earlier "
                        f"run of this tool wrote it ({MANIFEST} in it); any other non-empty folder is refused")
    parser.add_argument("--preset", choices=sorted(PRESETS), help="a named setup (its values replace the defaults "
                        "of --per-class, --test-fraction, --noisy-fraction and the unknown words)")
    parser.add_argument("--per-class", type=int, default=150, help="clips per class, train+test (default 150)")
    parser.add_argument("--words", default=",".join(KEYWORDS), help="comma-separated keywords")
    parser.add_argument("--unknown", action=argparse.BooleanOptionalAction, default=True, help="add an _unknown_ class")
    parser.add_argument("--silence", action=argparse.BooleanOptionalAction, default=True, help="add a _silence_ class")
    parser.add_argument("--test-fraction", type=float, default=0.2, help="share of clips (and voices) in test/; 0 = no split")
    parser.add_argument("--clip-seconds", type=float, default=1.0)
    parser.add_argument("--noise-clips", type=int, default=5, help="clips in _background_noise_")
    parser.add_argument("--noise-seconds", type=float, default=10.0, help="length of each noise clip")
    parser.add_argument("--noisy-fraction", type=float, default=0.0,
                        help="share of word clips mixed with white/pink/brown noise at --low-snr-db")
    parser.add_argument("--low-snr-db", default="0:10", help="MIN:MAX SNR in dB of that noise (default 0:10)")
    parser.add_argument("--variants", default="default",
                        help="espeak-ng voice variants: 'default' (15: m1-m7, f1-f5, klatt, klatt2, klatt4), "
                             "'wide' (those and 40 more that sound like people), or a comma-separated list")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    args.unknown_words = UNKNOWN_WORDS
    named = {"default": VARIANTS, "wide": VARIANTS + MORE_VARIANTS}
    args.variants = named.get(args.variants) or tuple(v.strip() for v in args.variants.split(",") if v.strip())
    if not args.variants:
        parser.error("--variants: give 'default', 'wide' or a comma-separated list of espeak-ng variants")
    if args.test_fraction > 0 and not set(args.variants) & set(VARIANTS):
        parser.error(f"--variants: test voices come from the default variants ({', '.join(VARIANTS)}); "
                     "name at least one, or pass --test-fraction 0")
    if args.preset:
        explicit = {a.split("=")[0] for a in (argv if argv is not None else sys.argv[1:]) if a.startswith("--")}
        for key, value in PRESETS[args.preset].items():
            if f"--{key.replace('_', '-')}" not in explicit:
                setattr(args, key, value)
    try:
        low, high = (float(v) for v in args.low_snr_db.split(":"))
    except ValueError:
        parser.error(f"--low-snr-db: expected MIN:MAX in dB, got {args.low_snr_db!r}")
    if low > high or not 0 <= args.noisy_fraction <= 1:
        parser.error("--low-snr-db needs MIN <= MAX and --noisy-fraction must be in [0, 1]")
    args.low_snr_db = (low, high)
    if args.per_class < 1 or not 0 <= args.test_fraction < 1 or args.noise_clips < 1:
        parser.error("--per-class and --noise-clips must be >= 1 and --test-fraction in [0, 1)")
    require_tools()
    unknown = sorted(set(args.variants) - espeak_variants())
    if unknown:  # espeak-ng would speak the base voice for them without a word
        parser.error(f"--variants: espeak-ng has no variant {', '.join(unknown)} (see espeak-ng --voices=variant, "
                     "column File without '!v/')")
    out = Path(args.out)
    refusal = folder_not_ours(out, MANIFEST)
    if refusal:
        parser.error(f"--out: {refusal}")
    with atomic_folder(out, MANIFEST) as building:
        rng = np.random.default_rng([args.seed, 10**6])
        noise_bank = []
        for i in range(args.noise_clips):
            kind = NOISE_KINDS[i % len(NOISE_KINDS)]
            noise = synth_noise(kind, args.noise_seconds, rng)
            write_wav(building / "_background_noise_" / f"{kind}_{i:02d}.wav", noise)
            noise_bank.append(noise)
        jobs = plan_jobs(args, noise_bank, building)
        failed = []
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.workers)) as pool:
            for path, ok in pool.map(make_clip, jobs):
                if not ok:
                    failed.append(str(out / Path(path).relative_to(building)))
        written = len(jobs) - len(failed)
        write_manifest(building / MANIFEST, args, argv, written, failed)
    print(f"make_keywords: wrote {written} clips and {args.noise_clips} noise clips to {out}")
    if failed:
        print(f"make_keywords: {len(failed)} clips came out silent and were skipped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
