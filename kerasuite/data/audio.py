"""Audio sources and augmentation for keyword spotting.

Sources yield ``(int16 samples, int64 label)``; ``decoder`` turns that into the model input
``{"waveform": float32 [samples]}`` and ``batch_augmenter`` perturbs batches of it in training only
(the canonical pipeline applies ``batch_augment_fn`` to the training split alone, after the cache).

- ``folder:PATH``: one subfolder of .wav files per class (any rate/channels/length; read, mixed to
  mono, resampled and padded/cropped by ``kerasuite.runtime.audio``, the same code a device runs).
  ``train/`` + ``test/`` (+ ``val/``) are the splits when present; else Speech Commands'
  ``testing_list.txt`` / ``validation_list.txt`` beside the class folders name the test and
  validation clips; else a deterministic split by file name, or by speaker for Speech Commands'
  ``<speaker>_nohash_<n>.wav`` names, so no speaker is in two splits.
  ``_background_noise_/`` (at the top or inside ``train/``) is not a class: its clips feed the
  noise augmentation.
- ``tfds:speech_commands``: the 12-class setup as the data set defines it (10 words,
  ``_silence_`` cut from background noise, ``_unknown_`` for every other word), with its own
  train/validation/test splits.
- ``synthetic:tones`` / ``synthetic:tones-N``: N classes of short tone patterns in noise, for
  tests that must not depend on espeak-ng.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tensorflow as tf

from kerasuite.config import RunConfig
from kerasuite.data.settings import AudioDataConfig
from kerasuite.data.sources import (
    LabelledFiles,
    folder_splits,
    parse_source,
    synthetic_class_count,
    scan_class_folder,
    speaker_groups,
    split_indices,
    tfds_builder,
    train_and_validation,
    training_order,
    with_split_lists,
)
from kerasuite.data.tfds_splits import plan_splits
from kerasuite.errors import UserError
from kerasuite.models.layers.mfcc import normalize_peak
from kerasuite.runtime.audio import load_clip
from kerasuite.runtime.streaming import NON_KEYWORDS

AUDIO_EXTENSIONS = (".wav",)
NOISE_FOLDER = "_background_noise_"
INPUT_NAME = "waveform"


@dataclasses.dataclass
class RawAudio:
    train: tf.data.Dataset  # (int16 [n] samples, int64 label)
    validation: tf.data.Dataset | None
    test: tf.data.Dataset
    class_names: list[str]
    num_train: int
    noise: np.ndarray  # float32 [clips, samples >= clip length]: background noise for augmentation
    noise_source: str
    auto_shard: str = "DATA"
    skipped_files: int = 0
    validation_source: str | None = None  # the folder or list the validation split was read from, if the source has one
    test_source: str | None = None  # the list the test split was read from (Speech Commands' testing_list.txt)
    notes: list[str] = dataclasses.field(default_factory=list)  # the folder scan's notes (sources.ClassFolder)
    split_by_speaker: bool = False  # a seeded split kept each speaker's clips (Speech Commands' _nohash_ names) together
    # The clips sit in memory as int16 (a folder, synthetic tones), so caching them decoded would
    # hold them a second time as float32, twice the size (Speech Commands: 105,829 clips x 16,000
    # samples x 4 B = 6.8 GB). False for records read from disk (TFDS), which the cache spares
    # re-reading.
    in_memory: bool = True


def clip_samples(audio: AudioDataConfig) -> int:
    return round(audio.sample_rate * audio.clip_seconds)


def load(spec_text: str, config: RunConfig) -> RawAudio:
    if config.data.audio.sample_rate <= 0 or config.data.audio.clip_seconds <= 0:
        raise UserError("data.audio.sample_rate and data.audio.clip_seconds must be positive")
    spec = parse_source(spec_text, allowed=("folder", "tfds", "synthetic"))
    loader = {"folder": _folder, "tfds": _tfds, "synthetic": _synthetic}[spec.scheme]
    return loader(spec.target, config)


# ------------------------------------------------------------------------ decode / augment


def fit_length_tf(signal: tf.Tensor, length: int) -> tf.Tensor:
    """TF twin of ``kerasuite.runtime.audio.fit_length``: centred zero-padding for short clips,
    the loudest window for long ones."""
    count = tf.shape(signal)[0]

    def pad():
        before = (length - count) // 2
        return tf.pad(signal, [[before, length - count - before]])

    def crop():
        energy = tf.concat([[0.0], tf.cumsum(tf.cast(signal, tf.float64) ** 2)], axis=0)
        start = tf.argmax(energy[length:] - energy[:-length], output_type=tf.int32)
        return signal[start:start + length]

    fitted = tf.cond(count <= length, pad, crop)
    return tf.ensure_shape(fitted, [length])


def decoder(length: int, peak_floor: float | None = None) -> Callable:
    """``(int16 samples, label)`` -> ``({"waveform": float32 [length]}, label)``.

    With ``peak_floor`` the clip is peak-normalised exactly as the model's own first step does
    (idempotent), so the int8 model's input quantization sees full-scale audio; a device does
    the same (``signature.json`` preprocessing, ``kerasuite.runtime.audio.normalize_peak``).
    """

    def decode(samples, label):
        waveform = fit_length_tf(tf.cast(samples, tf.float32) / 32768.0, length)
        if peak_floor is not None:
            waveform = normalize_peak(waveform, peak_floor)
        return {INPUT_NAME: waveform}, label

    return decode


def crop_rows(rows: tf.Tensor, starts: tf.Tensor, length: int) -> tf.Tensor:
    """``rows [n, width]`` -> ``[n, length]``, row ``i`` read from ``starts[i]`` on (any integer,
    zero where the window leaves the row). One op for the whole batch: ``extract_glimpse`` copies
    each row's window in C++, where an element-wise ``gather`` was 10-20x slower."""
    offsets = tf.stack([tf.zeros_like(starts), starts], axis=1)
    windows = tf.image.extract_glimpse(rows[:, None, :, None], [1, length], tf.cast(offsets, tf.float32),
                                       centered=False, normalized=False, noise="zero")
    return windows[:, 0, :, 0]


def perturb_speed(x: tf.Tensor, factors: tf.Tensor) -> tf.Tensor:
    """Each row ``x[i]`` resampled about its centre by ``factors[i]`` (> 1: faster and higher, as
    Kaldi's speed perturbation), linear interpolation, zero where the read leaves the clip."""
    length = int(x.shape[-1])
    centre = (length - 1) / 2.0
    positions = centre + (tf.range(length, dtype=tf.float32)[None, :] - centre) * factors
    inside = tf.cast(tf.logical_and(positions >= 0.0, positions <= length - 1.0), x.dtype)
    left = tf.clip_by_value(tf.floor(positions), 0.0, length - 2.0)
    fraction = positions - left
    left = tf.cast(left, tf.int32)
    a = tf.gather(x, left, batch_dims=1)
    b = tf.gather(x, left + 1, batch_dims=1)
    return (a + (b - a) * fraction) * inside


UNKNOWN_CLASS = "_unknown_"


def partial_word_cut(x: tf.Tensor, rng: tf.random.Generator, length: int, jitter: int) -> tf.Tensor:
    """Each row shifted so its energy centre lands within ``jitter`` samples of a window edge
    (which edge at random): about half of the word stays in the window, zero filled."""
    rows = tf.shape(x)[0]
    energy = tf.square(x)
    times = tf.range(length, dtype=tf.float32)
    centre = tf.reduce_sum(energy * times, axis=-1) / (tf.reduce_sum(energy, axis=-1) + 1e-12)
    edge = tf.cast(rng.uniform([rows], 0, 2, dtype=tf.int32) * length, tf.float32)
    offset = tf.cast(rng.uniform([rows], -jitter, jitter + 1, dtype=tf.int32), tf.float32)
    shift = tf.cast(tf.round(edge + offset - centre), tf.int32)
    return crop_rows(x, -shift, length)  # out[t] = x[t - shift]


def batch_augmenter(audio: AudioDataConfig, noise: np.ndarray, length: int, seed: int,
                    peak_floor: float | None = None, class_names: list[str] | None = None) -> Callable:
    """Training-only perturbation of a batch of decoded clips, each row with its own random
    draws: speed perturbation (``speed_range``), time shift (zero fill), background noise at a random SNR (with probability
    ``noise_probability``), a random gain, then the same peak normalisation as the decoder
    (after which the gain matters only for clips near the floor).

    It acts on whole batches (the pipeline's ``batch_augment_fn``), a few vectorized ops per
    batch instead of a tf.data function call and a dozen small ops per clip."""
    max_shift = round(audio.time_shift_seconds * audio.sample_rate)
    noise_clips, noise_length = noise.shape
    # The bank cut into blocks of ``length`` (zero-padded, plus one zero block): a segment at
    # ``offset`` lies in blocks ``offset // length`` and the next, so one gather of two whole
    # blocks per row and one crop give it, without copying the bank into overlapping frames.
    blocks_per_clip = -(-noise_length // length) + 1
    blocks = np.zeros((noise_clips, blocks_per_clip * length), np.float32)
    blocks[:, :noise_length] = noise
    noise_blocks = tf.constant(blocks.reshape(noise_clips, blocks_per_clip, length))
    rng = tf.random.Generator.from_seed(seed)
    names = list(class_names or [])
    cutting = audio.partial_word_probability > 0
    if cutting and UNKNOWN_CLASS not in names:
        raise UserError(f"data.audio.partial_word_probability={audio.partial_word_probability} relabels cut words "
                        f"as {UNKNOWN_CLASS}, but the data has no such class (classes: {', '.join(names) or 'none'})")
    keyword_ids = tf.constant([index for index, name in enumerate(names) if name not in NON_KEYWORDS] or [-1],
                              tf.int64)

    def augment(inputs, labels):
        x = inputs[INPUT_NAME]  # [rows, length]
        rows = tf.shape(x)[0]
        if cutting:
            # before the other draws: the cut word then gets shifts, noise and gain like any clip
            is_keyword = tf.reduce_any(tf.equal(tf.cast(labels, tf.int64)[:, None], keyword_ids[None]), axis=1)
            cut = is_keyword & (rng.uniform([rows]) < audio.partial_word_probability)
            x = tf.where(cut[:, None], partial_word_cut(x, rng, length, round(0.1 * audio.sample_rate)), x)
            labels = tf.where(cut, tf.cast(names.index(UNKNOWN_CLASS), labels.dtype), labels)
        if audio.speed_range > 0:
            factors = rng.uniform([rows, 1], 1.0 - audio.speed_range, 1.0 + audio.speed_range)
            x = perturb_speed(x, factors)
        if max_shift > 0:
            shift = rng.uniform([rows], -max_shift, max_shift + 1, dtype=tf.int32)
            x = crop_rows(x, -shift, length)  # out[t] = x[t - shift]
        if audio.noise_probability > 0:
            clip = rng.uniform([rows], 0, noise_clips, dtype=tf.int32)
            offset = rng.uniform([rows], 0, noise_length - length + 1, dtype=tf.int32)
            first = offset // length
            pair = tf.stack([tf.stack([clip, first], 1), tf.stack([clip, first + 1], 1)], axis=1)
            two_blocks = tf.reshape(tf.gather_nd(noise_blocks, pair), [rows, 2 * length])
            segment = crop_rows(two_blocks, offset - first * length, length)
            snr_db = rng.uniform([rows, 1], audio.noise_snr_db_min, audio.noise_snr_db_max)
            signal_rms = tf.sqrt(tf.reduce_mean(tf.square(x), axis=-1, keepdims=True) + 1e-12)
            noise_rms = tf.sqrt(tf.reduce_mean(tf.square(segment), axis=-1, keepdims=True) + 1e-12)
            scale = signal_rms / noise_rms * 10.0 ** (-snr_db / 20.0)
            use = tf.cast(rng.uniform([rows, 1]) < audio.noise_probability, tf.float32)
            x = x + use * scale * segment
        if audio.gain_db_range > 0:
            gain_db = rng.uniform([rows, 1], -audio.gain_db_range, audio.gain_db_range)
            x = x * 10.0 ** (gain_db / 20.0)
        x = tf.ensure_shape(x, [None, length])
        if peak_floor is not None:  # back to peak 1 before the clip below can distort anything
            x = normalize_peak(x, peak_floor)
        return {**inputs, INPUT_NAME: tf.clip_by_value(x, -1.0, 1.0)}, labels

    return augment


def colored_noise(clips: int, length: int, seed: int) -> np.ndarray:
    """White, pink and brown noise (peak 0.5): the noise bank when a source brings none."""
    rng = np.random.default_rng(seed)
    bank = []
    for i in range(clips):
        spectrum = np.fft.rfft(rng.standard_normal(length))
        frequencies = np.maximum(np.fft.rfftfreq(length), 1.0 / length)
        exponent = (0.0, 0.5, 1.0)[i % 3]  # white, pink (1/f power), brown (1/f^2 power)
        clip = np.fft.irfft(spectrum / frequencies**exponent, n=length)
        bank.append(0.5 * clip / np.abs(clip).max())
    return np.stack(bank).astype(np.float32)


# --------------------------------------------------------------------------------- folder


@dataclasses.dataclass
class Clips:
    samples: np.ndarray  # int16 [clips, clip samples]
    labels: np.ndarray  # int64 index into class_names

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: np.ndarray) -> "Clips":
        return Clips(self.samples[indices], self.labels[indices])


def _read_clips(files: LabelledFiles, split: str, source_path: str, audio: AudioDataConfig,
                skip: bool) -> tuple[Clips, list[str]]:
    """Every file read up front, so a bad one is named before training starts (or skipped with
    ``data.skip_bad_files``); also the paths of the clips read, in order."""
    length = clip_samples(audio)
    clips, labels, kept = [], [], []
    for path, label in zip(files.paths, files.labels):
        try:
            clip = load_clip(path, audio.sample_rate, length)
        except UserError as error:
            if not skip:
                raise UserError(f"{error}; fix or remove it, or --set data.skip_bad_files=true") from None
            continue
        clips.append(np.round(np.clip(clip, -1.0, 32767 / 32768) * 32768.0).astype(np.int16))
        labels.append(label)
        kept.append(path)
    if not clips:
        raise UserError(f"--data folder:{source_path}: no readable .wav files left in the {split} split")
    return Clips(np.stack(clips), np.asarray(labels, np.int64)), kept


def _noise_folder(root: Path, audio: AudioDataConfig, seed: int) -> tuple[np.ndarray, str]:
    length = clip_samples(audio)
    for folder in (root / NOISE_FOLDER, root / "train" / NOISE_FOLDER):
        # the class folders' rule: any case of .wav, hidden files (macOS "._" forks) left out
        files = sorted(str(p) for p in folder.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS
                       and not p.name.startswith(".")) if folder.is_dir() else []
        if files:
            from kerasuite.runtime.audio import read_wav, resample, to_mono

            clips = []
            for path in files:
                samples, rate = read_wav(path)
                clip = resample(to_mono(samples), rate, audio.sample_rate)
                if len(clip) < length:
                    clip = np.resize(clip, length)  # loop a short noise clip
                clips.append(clip)
            longest = max(len(c) for c in clips)
            bank = np.stack([np.resize(c, longest) for c in clips]).astype(np.float32)
            return bank, str(folder)
    return colored_noise(6, 4 * length, seed), "synthetic colored noise"


def _folder(path: str, config: RunConfig) -> RawAudio:
    scanned = with_split_lists(scan_class_folder(path, AUDIO_EXTENSIONS, ignore=(NOISE_FOLDER,)), path,
                               ignore=(NOISE_FOLDER,))
    splits = folder_splits(scanned, path, config.data.test_fraction, config.seed, by_speaker=True)
    read = {split: _read_clips(files, split, path, config.data.audio, config.data.skip_bad_files)
            for split, files in splits.items()}
    clips = {split: split_clips for split, (split_clips, _) in read.items()}
    groups = speaker_groups(read["train"][1])
    train, validation = train_and_validation(clips["train"], clips.get("validation"),
                                             config.data.validation_fraction, config.seed, config.data.limit, groups)
    carved_validation = "validation" not in clips and validation is not None
    noise, noise_source = _noise_folder(Path(path), config.data.audio, config.seed)

    def arrays(clips: Clips) -> tf.data.Dataset:
        return tf.data.Dataset.from_tensor_slices((clips.samples, clips.labels))

    return RawAudio(
        train=arrays(train),
        validation=arrays(validation) if validation is not None else None,
        test=arrays(clips["test"]),
        class_names=scanned.class_names,
        num_train=len(train),
        noise=noise,
        noise_source=noise_source,
        skipped_files=sum(len(splits[split]) - len(kept) for split, (_, kept) in read.items()),
        validation_source=scanned.validation_source,
        test_source=scanned.test_source,
        notes=scanned.notes,
        split_by_speaker=groups is not None and (scanned.test is None or carved_validation),
    )


# ----------------------------------------------------------------------------------- tfds


def _tfds(name: str, config: RunConfig) -> RawAudio:
    builder = tfds_builder(name)
    features = builder.info.features
    if "audio" not in features or "label" not in features:
        raise UserError(f"--data tfds:{name}: needs 'audio' and 'label' features for keyword_spotting")
    rate = getattr(features["audio"], "sample_rate", None)
    if rate and int(rate) != config.data.audio.sample_rate:
        raise UserError(
            f"--data tfds:{name}: audio is {rate} Hz; set data.audio.sample_rate={rate} (no resampling in the TFDS path)"
        )
    try:
        builder.download_and_prepare()
    except Exception as error:
        raise UserError(f"--data tfds:{name}: could not load: {str(error).splitlines()[0]}") from None
    # An empty split list means TFDS does not know it yet (e.g. tfds.testing.mock_data without
    # metadata files): assume speech_commands' names and let reading fail with a UserError.
    try:
        plan = plan_splits(set(builder.info.splits.keys()) or {"train", "validation", "test"},
                           config.data.test_fraction, config.data.validation_fraction)
    except ValueError as error:
        raise UserError(f"--data tfds:{name}: {error}") from None
    train_split, validation_split = plan.train, plan.validation

    def read(split: str) -> tf.data.Dataset:
        try:
            dataset = builder.as_dataset(split=split, as_supervised=True, shuffle_files=False)
        except Exception as error:
            raise UserError(f"--data tfds:{name}: could not read split {split}: {str(error).splitlines()[0]}") from None
        return dataset.map(lambda samples, label: (tf.cast(samples, tf.int16), tf.cast(label, tf.int64)))

    train = read(train_split)
    try:
        num_train = int(builder.info.splits[train_split].num_examples)
    except (KeyError, ValueError):
        num_train = 0  # unknown until read; only the throughput report uses it
    if config.data.limit:
        train = train.take(config.data.limit)
        num_train = min(num_train, config.data.limit) if num_train else config.data.limit
    length = clip_samples(config.data.audio)
    return RawAudio(
        train=train,
        validation=read(validation_split) if validation_split else None,
        test=read(plan.test),
        class_names=list(features["label"].names),
        num_train=num_train,
        # TFDS already cut _background_noise_ into _silence_ examples; the augmentation gets
        # synthetic colored noise instead of a scan of the whole training split.
        noise=colored_noise(6, 4 * length, config.seed),
        noise_source="synthetic colored noise",
        in_memory=False,
    )


# ------------------------------------------------------------------------------ synthetic


def synthetic_tones(num_classes: int, per_class: int, length: int, sample_rate: int, seed: int):
    """Class k: a short two-tone pattern (its own pitches and order) at a random time and level,
    in noise. Learnable from MFCCs, not from loudness."""
    rng = np.random.default_rng(seed)
    t = np.arange(length // 4) / sample_rate
    clips, labels = [], []
    for label in range(num_classes):
        low, high = 300.0 * 1.35**label, 500.0 * 1.35**label
        for _ in range(per_class):
            first, second = (low, high) if label % 2 == 0 else (high, low)
            pattern = np.concatenate([np.sin(2 * np.pi * first * t), np.sin(2 * np.pi * second * t)])
            pattern *= np.hanning(len(pattern))
            clip = 0.01 * rng.standard_normal(length)
            start = int(rng.integers(0, length - len(pattern)))
            clip[start:start + len(pattern)] += pattern * rng.uniform(0.2, 0.8)
            clips.append(np.round(np.clip(clip, -1, 1) * 32767).astype(np.int16))
            labels.append(label)
    return np.stack(clips), np.asarray(labels, np.int64)


def _synthetic(name: str, config: RunConfig) -> RawAudio:
    num_classes = synthetic_class_count(name, "tones")
    length = clip_samples(config.data.audio)
    clips, labels = synthetic_tones(num_classes, 30, length, config.data.audio.sample_rate, config.seed)
    train_idx, val_idx, test_idx = split_indices(labels, config.data.test_fraction, config.data.validation_fraction, config.seed)
    train_idx = training_order(train_idx, config.data.limit, config.seed)

    def subset(idx: np.ndarray) -> tf.data.Dataset:
        return tf.data.Dataset.from_tensor_slices((clips[idx], labels[idx]))

    return RawAudio(
        train=subset(train_idx),
        validation=subset(val_idx) if len(val_idx) else None,
        test=subset(test_idx),
        class_names=[f"tones_{i}" for i in range(num_classes)],
        num_train=len(train_idx),
        noise=colored_noise(3, 2 * length, config.seed),
        noise_source="synthetic colored noise",
    )
