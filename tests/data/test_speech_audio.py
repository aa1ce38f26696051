"""Audio input for keyword spotting: WAV reading, resampling, pad/crop, augmentation, sources."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from helpers import load_tool, tone, write_pcm
from kerasuite import config as cfg
from kerasuite.data import audio as audio_sources
from kerasuite.errors import UserError
from kerasuite.runtime import audio as device_audio

REPO = Path(__file__).resolve().parents[2]


def write_float_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    """IEEE float32 mono WAV (format tag 3), which the ``wave`` module refuses to read."""
    payload = np.asarray(samples, "<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, rate, rate * 4, 4, 32)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(payload)) + payload
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def amplitude_at(signal: np.ndarray, freq: float, rate: int) -> float:
    windowed = signal * np.hanning(len(signal))
    spectrum = np.abs(np.fft.rfft(windowed)) / (np.hanning(len(signal)).sum() / 2)
    return float(spectrum[round(freq * len(signal) / rate)])


# ------------------------------------------------------------------------ reading / resampling


def test_stereo_44k_file_becomes_16k_mono_without_aliasing(tmp_path):
    rate = 44100
    left = tone(1000, 1.0, rate, 0.4) + tone(9000, 1.0, rate, 0.4)  # 9 kHz is above the new Nyquist
    right = tone(3000, 1.0, rate, 0.4) + tone(9000, 1.0, rate, 0.4)
    path = write_pcm(tmp_path / "stereo.wav", np.stack([left, right]), rate)
    clip = device_audio.load_clip(path, 16000, 16000)
    assert clip.shape == (16000,) and clip.dtype == np.float32
    assert amplitude_at(clip, 1000, 16000) == pytest.approx(0.2, rel=0.02)  # mono = channel mean
    assert amplitude_at(clip, 3000, 16000) == pytest.approx(0.2, rel=0.02)
    # without a low-pass, 9 kHz would fold to 16 - 9 = 7 kHz at 0.4 amplitude
    assert amplitude_at(clip, 7000, 16000) < 0.4 * 10 ** (-40 / 20)
    # away from the edges the samples match the tones rendered directly at 16 kHz
    expected = tone(1000, 1.0, 16000, 0.2) + tone(3000, 1.0, 16000, 0.2)
    assert np.abs(clip[500:-500] - expected[500:-500]).max() < 0.01


@pytest.mark.parametrize("width", [1, 3])
def test_8_and_24_bit_files_and_upsampling(tmp_path, width):
    path = write_pcm(tmp_path / f"w{width}.wav", tone(440, 0.5, 8000, 0.5)[None], 8000, width=width)
    samples, rate = device_audio.read_wav(path)
    assert rate == 8000 and samples.shape == (4000, 1)
    quantum = 1 / 127 if width == 1 else 1 / 2**22
    np.testing.assert_allclose(samples[:, 0], tone(440, 0.5, 8000, 0.5), atol=quantum)
    clip = device_audio.load_clip(path, 16000, 16000)  # 0.5 s upsampled, padded to 1 s
    assert amplitude_at(clip[4000:12000], 440, 16000) == pytest.approx(0.5, rel=0.03)


def test_float_wav_is_read_by_the_riff_fallback(tmp_path):
    path = write_float_wav(tmp_path / "float.wav", tone(500, 0.25, 16000, 0.3), 16000)
    samples, rate = device_audio.read_wav(path)
    assert rate == 16000
    np.testing.assert_allclose(samples[:, 0], tone(500, 0.25, 16000, 0.3), atol=1e-7)


def test_fit_length_pads_centred_and_crops_the_loudest_window_in_numpy_and_tf():
    short = np.arange(1, 6, dtype=np.float32)
    np.testing.assert_array_equal(device_audio.fit_length(short, 9), [0, 0, 1, 2, 3, 4, 5, 0, 0])
    long = np.full(100, 0.01, np.float32)
    long[70:80] = 1.0
    cropped = device_audio.fit_length(long, 20)
    assert cropped.sum() == pytest.approx(10 * 1.0 + 10 * 0.01)  # the burst is inside the window
    for signal, length in ((short, 9), (long, 20), (long, 100)):
        np.testing.assert_array_equal(
            audio_sources.fit_length_tf(tf.constant(signal), length).numpy(), device_audio.fit_length(signal, length)
        )


def test_peak_normalisation_is_the_same_in_numpy_tf_and_the_model_and_idempotent():
    from kerasuite.models.layers.mfcc import normalize_peak

    clips = np.stack([tone(300, 1.0, 16000, level) for level in (0.9, 0.2, 0.05, 0.01)]).astype(np.float32)
    model_side = np.asarray(normalize_peak(clips, 0.05))
    device_side = np.stack([device_audio.normalize_peak(clip, 0.05) for clip in clips])
    np.testing.assert_allclose(model_side, device_side, atol=1e-6)
    np.testing.assert_allclose(np.abs(device_side).max(axis=1), [1.0, 1.0, 1.0, 0.01], atol=1e-4)
    np.testing.assert_allclose(np.asarray(normalize_peak(model_side, 0.05)), model_side, atol=1e-6)
    np.testing.assert_array_equal(device_audio.normalize_peak(clips[1], None), clips[1])


def test_edge_reader_returns_a_batch_of_one(tmp_path):
    path = write_pcm(tmp_path / "long.wav", np.stack([tone(700, 2.0, 22050)] * 2), 22050)
    arrays = device_audio.read_audio(str(path), {"sample_rate": 16000, "samples": 16000, "input": "waveform",
                                                 "peak_floor": 0.05}, tmp_path)
    assert list(arrays) == ["waveform"] and arrays["waveform"].shape == (1, 16000)
    assert np.abs(arrays["waveform"]).max() == pytest.approx(1.0, abs=1e-6)  # 0.5 peak normalised


def test_runtime_audio_module_imports_no_tensorflow():
    code = "import sys, kerasuite.runtime.audio, kerasuite.runtime.inputs; print('tensorflow' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, check=False)
    assert done.stdout.strip() == "False", done.stderr


@pytest.mark.parametrize("content,message", [
    (b"just some text, not audio", "not a WAV file"),
    (b"RIFF\x24\x00\x00\x00WAVEfmt ", "broken WAV"),
    (None, "empty WAV"),
])
def test_bad_wav_files_are_one_line_user_errors_naming_the_file(tmp_path, content, message):
    path = tmp_path / "bad.wav"
    if content is None:
        write_pcm(path, np.zeros((1, 0)), 16000)
    else:
        path.write_bytes(content)
    with pytest.raises(UserError, match=message) as error:
        device_audio.load_clip(path, 16000, 16000)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


# ----------------------------------------------------------------------------- augmentation


def _config(**audio) -> cfg.RunConfig:
    config = cfg.defaults("keyword_spotting")
    for key, value in audio.items():
        setattr(config.data.audio, key, value)
    return config


def _augment_one(clip: np.ndarray, seed: int = 0, **audio) -> np.ndarray:
    config = _config(**audio)
    noise = audio_sources.colored_noise(2, 32000, seed=1)
    augment = audio_sources.batch_augmenter(config.data.audio, noise, len(clip), seed)
    out, _ = augment({"waveform": tf.constant(clip[None])}, tf.constant([0], tf.int64))
    return out["waveform"].numpy()[0]


def test_each_augmentation_does_what_it_says():
    clip = (0.3 * np.sin(np.arange(16000) / 7.0) * (np.arange(16000) > 4000)).astype(np.float32)
    only_gain = _augment_one(clip, time_shift_seconds=0.0, noise_probability=0.0, gain_db_range=6.0)
    ratio = only_gain[clip != 0] / clip[clip != 0]
    assert np.ptp(ratio) < 1e-5 and 10 ** (-6 / 20) <= ratio[0] <= 10 ** (6 / 20) and abs(ratio[0] - 1) > 1e-4
    shifted = _augment_one(clip, seed=3, time_shift_seconds=0.1, noise_probability=0.0, gain_db_range=0.0)
    shift = int(np.flatnonzero(shifted)[0]) - int(np.flatnonzero(clip)[0])
    assert 0 < abs(shift) <= 1600
    np.testing.assert_array_equal(np.roll(clip, shift)[2000:-2000], shifted[2000:-2000])
    noisy = _augment_one(clip, time_shift_seconds=0.0, noise_probability=1.0, gain_db_range=0.0,
                         noise_snr_db_min=10.0, noise_snr_db_max=10.0)
    added = noisy - clip
    snr = 20 * np.log10(np.sqrt(np.mean(clip**2)) / np.sqrt(np.mean(added**2)))
    assert snr == pytest.approx(10.0, abs=0.05)


def test_every_row_of_a_batch_gets_its_own_draws():
    # Eight copies of one clip in one batch: each row must come out shifted, scaled and noised
    # by its own amounts, not all by one draw shared by the batch.
    clip = (0.3 * np.sin(np.arange(16000) / 7.0) * (np.arange(16000) > 4000)).astype(np.float32)
    batch = np.repeat(clip[None], 8, axis=0)
    noise = audio_sources.colored_noise(2, 32000, seed=1)

    def augment(**audio) -> np.ndarray:
        config = _config(**audio)
        run = audio_sources.batch_augmenter(config.data.audio, noise, len(clip), seed=0)
        return run({"waveform": tf.constant(batch)}, tf.zeros([8], tf.int64))[0]["waveform"].numpy()

    shifted = augment(time_shift_seconds=0.1, noise_probability=0.0, gain_db_range=0.0)
    shifts = [int(np.flatnonzero(row)[0]) - int(np.flatnonzero(clip)[0]) for row in shifted]
    assert len(set(shifts)) >= 6 and all(abs(s) <= 1600 for s in shifts), shifts
    for row, shift in zip(shifted, shifts):  # each row is the clip moved by its own shift
        np.testing.assert_array_equal(np.roll(clip, shift)[2000:-2000], row[2000:-2000])
    gains = augment(time_shift_seconds=0.0, noise_probability=0.0, gain_db_range=6.0)[:, clip != 0] / clip[clip != 0]
    assert np.ptp(gains, axis=1).max() < 1e-5 and len(np.unique(np.round(gains[:, 0], 5))) == 8
    noisy = augment(time_shift_seconds=0.0, noise_probability=1.0, gain_db_range=0.0) - clip
    assert min(np.abs(a - b).max() for i, a in enumerate(noisy) for b in noisy[i + 1:]) > 1e-3
    snr = 20 * np.log10(np.sqrt(np.mean(clip**2)) / np.sqrt(np.mean(noisy**2, axis=1)))
    assert np.all((snr > 5.0 - 0.05) & (snr < 30.0 + 0.05)) and np.ptp(snr) > 1.0, snr
    # With noise_probability 0.5 some rows get noise and some do not.
    half = np.abs(augment(time_shift_seconds=0.0, noise_probability=0.5, gain_db_range=0.0) - clip).max(axis=1)
    assert 0 < np.sum(half > 1e-6) < 8, half


def test_augmentation_is_applied_in_training_and_never_in_evaluation():
    from kerasuite.tasks.keyword_spotting import KeywordSpotting

    config = cfg.resolve({}, {"task": "keyword_spotting", "data.source": "synthetic:tones-3", "train.batch_size": "16"})
    raw = audio_sources.load(config.data.source, config)
    floor = config.model.mfcc.peak_floor

    def decode(dataset):  # what evaluation must see: the clip, peak-normalised, nothing else
        return np.stack([device_audio.normalize_peak(x / 32768.0, floor) for x, _ in dataset.as_numpy_iterator()])

    raw_train, raw_test = decode(raw.train), decode(raw.test)
    data = KeywordSpotting().load_data(config)
    test_clips = np.concatenate([batch["waveform"].numpy() for batch, _ in data.test])
    np.testing.assert_allclose(test_clips, raw_test, atol=1e-6)  # same clips, same order
    np.testing.assert_array_equal(np.concatenate([b["waveform"].numpy() for b, _ in data.test]), test_clips)
    train_clips = np.concatenate([batch["waveform"].numpy() for batch, _ in data.train])
    assert len(train_clips) == len(raw_train)
    nearest = [np.abs(raw_train - clip).max(axis=1).min() for clip in train_clips]
    assert min(nearest) > 1e-3, "some training clip came through unaugmented"
    config.data.audio.augment = False
    plain = KeywordSpotting().load_data(config)
    plain_clips = np.concatenate([batch["waveform"].numpy() for batch, _ in plain.train])
    assert max(np.abs(raw_train - clip).max(axis=1).min() for clip in plain_clips) < 1e-6


# ---------------------------------------------------------------------------------- sources


def make_keywords(out: Path, *extra: str) -> Path:
    # A failure, not a skip: CI must have them (.ci/run: apt-get install espeak-ng sox).
    assert shutil.which("espeak-ng") and shutil.which("sox"), "install Debian packages espeak-ng and sox"
    done = subprocess.run(
        [sys.executable, str(REPO / "tools" / "make_keywords.py"), "--out", str(out), "--per-class", "3",
         "--words", "yes,no", "--noise-clips", "2", "--noise-seconds", "1.5", *extra],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    return out


def test_make_keywords_writes_the_folder_layout_with_held_out_voices(tmp_path):
    out = make_keywords(tmp_path / "kw", "--test-fraction", "0.34")
    classes = sorted(p.name for p in (out / "train").iterdir())
    assert classes == ["_silence_", "_unknown_", "no", "yes"]
    for split, count in (("train", 2), ("test", 1)):
        for name in classes:
            files = sorted((out / split / name).glob("*.wav"))
            assert len(files) == count, (split, name)
            samples, rate = device_audio.read_wav(files[0])
            assert rate == 16000 and samples.shape == (16000, 1)
    voice = lambda path: "_".join(path.stem.split("_")[1:-1])
    train_voices = {voice(p) for p in (out / "train").glob("[ny]*/*.wav")}
    test_voices = {voice(p) for p in (out / "test").glob("[ny]*/*.wav")}
    assert train_voices and test_voices and not train_voices & test_voices
    assert len(list((out / "_background_noise_").glob("*.wav"))) == 2
    again = make_keywords(tmp_path / "again", "--test-fraction", "0.34")  # same seed, same bytes
    for path in sorted(out.rglob("*.wav")):
        assert path.read_bytes() == (again / path.relative_to(out)).read_bytes(), path


def test_make_keywords_draws_voices_from_the_variants_asked_for_and_refuses_unknown_ones(tmp_path):
    out = make_keywords(tmp_path / "kw", "--test-fraction", "0.34", "--variants", "Alex,f1")
    variants = {p.stem.split("_")[-2] for p in out.rglob("[ny]*/*.wav")}
    assert variants == {"Alex", "f1"}, variants
    assert {p.stem.split("_")[-2] for p in (out / "test").rglob("*.wav") if "silence" not in p.stem} == {"f1"}
    # espeak-ng speaks the base voice for a name it does not know, so the tool must refuse it
    done = subprocess.run([sys.executable, str(REPO / "tools" / "make_keywords.py"), "--out", str(tmp_path / "bad"),
                           "--variants", "f1,Adam"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and "--variants" in done.stderr and "Adam" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "bad").exists()
    done = subprocess.run([sys.executable, str(REPO / "tools" / "make_keywords.py"), "--out", str(tmp_path / "bad"),
                           "--variants", "Alex,Andy"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and "test voices come from the default variants" in done.stderr, done.stderr


def test_make_keywords_replaces_its_own_folder_whole_and_refuses_anyone_elses(tmp_path):
    out = make_keywords(tmp_path / "kw", "--test-fraction", "0.34")
    manifest = json.loads((out / "make_keywords.json").read_text())
    assert manifest["settings"]["seed"] == 0 and manifest["clips_written"] == 12
    stray = out / "train" / "yes" / "from_an_older_build.wav"
    shutil.copy(next((out / "train" / "yes").glob("*.wav")), stray)
    make_keywords(out, "--test-fraction", "0", "--words", "yes")  # a rebuild, with other settings
    assert not stray.exists() and not (out / "test").exists() and not (out / "train" / "no").exists()
    assert json.loads((out / "make_keywords.json").read_text())["settings"]["test_fraction"] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kw"]  # no temporary folder left beside it

    theirs = tmp_path / "theirs"
    (theirs / "train").mkdir(parents=True)
    (theirs / "notes.txt").write_text("not a keyword set")
    done = subprocess.run([sys.executable, str(REPO / "tools" / "make_keywords.py"), "--out", str(theirs),
                           "--per-class", "1"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and "--out" in done.stderr and "make_keywords.json" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in theirs.iterdir()) == ["notes.txt", "train"]


def test_make_keywords_that_fails_midway_leaves_the_previous_set_untouched(tmp_path, monkeypatch):
    out = make_keywords(tmp_path / "kw", "--test-fraction", "0.34")
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    tool = load_tool("make_keywords")
    rendered = []

    def render_then_fail(job):
        if len(rendered) == 3:
            raise RuntimeError("sox died")
        rendered.append(job["path"])
        return tool.make_clip(job)

    monkeypatch.setattr(tool, "make_clip", render_then_fail)
    with pytest.raises(RuntimeError, match="sox died"):
        tool.main(["--out", str(out), "--per-class", "3", "--words", "yes,no", "--noise-clips", "2",
                   "--noise-seconds", "1.5", "--seed", "5", "--workers", "1"])
    assert len(rendered) == 3 and all(not str(path).startswith(str(out) + "/") for path in rendered)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kw"]


def test_folder_source_uses_splits_and_background_noise(tmp_path):
    out = make_keywords(tmp_path / "kw", "--test-fraction", "0")
    (out / "train").rename(out / "flat")  # no train/test: a flat folder of classes
    flat = out / "flat"
    shutil.move(str(out / "_background_noise_"), str(flat / "_background_noise_"))
    config = cfg.resolve({}, {"task": "keyword_spotting", "data.test_fraction": "0.3"})
    raw = audio_sources.load(f"folder:{flat}", config)
    assert raw.class_names == ["_silence_", "_unknown_", "no", "yes"]  # noise folder is no class
    assert raw.noise_source == str(flat / "_background_noise_") and raw.noise.shape[1] >= 16000
    total = raw.num_train + len(list(raw.validation or [])) + len(list(raw.test))
    assert total == 12
    again = audio_sources.load(f"folder:{flat}", config)
    assert [int(y) for _, y in raw.test] == [int(y) for _, y in again.test]  # deterministic


def test_a_val_folder_is_the_validation_split_and_train_is_used_whole(tmp_path):
    for split, count in (("train", 4), ("val", 2), ("test", 1)):
        for word, freq in (("no", 300), ("yes", 900)):
            for i in range(count):
                write_pcm(tmp_path / split / word / f"{i}.wav", tone(freq + 10 * i, 0.2, 16000)[None], 16000)
    write_pcm(tmp_path / "train" / "_background_noise_" / "hum.wav", tone(50, 1.5, 16000)[None], 16000)
    write_pcm(tmp_path / "val" / "_background_noise_" / "hum.wav", tone(50, 1.5, 16000)[None], 16000)
    config = cfg.resolve({}, {"task": "keyword_spotting", "data.validation_fraction": "0.5"})  # the folder wins
    raw = audio_sources.load(f"folder:{tmp_path}", config)
    assert raw.class_names == ["no", "yes"] and raw.num_train == 8
    assert [int(y) for _, y in raw.validation] == [0, 0, 1, 1]
    assert raw.validation_source == str(tmp_path / "val")
    assert raw.noise_source == str(tmp_path / "train" / "_background_noise_")
    expected = device_audio.load_clip(str(tmp_path / "val" / "yes" / "1.wav"), 16000, 16000)
    last = [x for x, _ in raw.validation][-1].numpy()
    np.testing.assert_allclose(last / 32768.0, expected, atol=1 / 32768)


def test_background_noise_folder_reads_upper_case_wav_and_skips_hidden_files(tmp_path):
    for name in ("yes", "no"):
        write_pcm(tmp_path / name / "a.wav", tone(300, 1.0, 16000)[None], 16000)
    noise = tmp_path / "_background_noise_"
    write_pcm(noise / "HUM.WAV", tone(50, 2.0, 16000)[None], 16000)
    (noise / "._HUM.WAV").write_bytes(b"\x00\x05\x16\x07 macOS resource fork")
    bank, source = audio_sources._noise_folder(tmp_path, _config().data.audio, seed=0)
    assert source == str(noise) and bank.shape == (1, 32000)


def test_folder_source_refuses_one_class_and_unreadable_files(tmp_path):
    write_pcm(tmp_path / "one" / "yes" / "a.wav", tone(300, 1.0, 16000)[None], 16000)
    write_pcm(tmp_path / "one" / "yes" / "b.wav", tone(300, 1.0, 16000)[None], 16000)
    with pytest.raises(UserError, match="single class"):
        audio_sources.load(f"folder:{tmp_path / 'one'}", cfg.resolve({}, {"task": "keyword_spotting"}))
    for name in ("yes", "no"):
        for clip in ("a", "b", "c"):  # enough files that the 50% split holds some out
            write_pcm(tmp_path / "two" / name / f"{clip}.wav", tone(300, 1.0, 16000)[None], 16000)
    bad = tmp_path / "two" / "no" / "broken.wav"
    bad.write_bytes(b"not audio at all")
    config = cfg.resolve({}, {"task": "keyword_spotting", "data.test_fraction": "0.5"})
    with pytest.raises(UserError, match="not a WAV file") as error:
        audio_sources.load(f"folder:{tmp_path / 'two'}", config)
    assert str(bad) in str(error.value) and "skip_bad_files" in str(error.value)


def test_tfds_speech_commands_loads_offline_through_mock_data():
    import tensorflow_datasets as tfds

    config = cfg.resolve({}, {"task": "keyword_spotting"})
    with tfds.testing.mock_data(num_examples=6):
        raw = audio_sources.load("tfds:speech_commands", config)
        assert raw.class_names == ["down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes",
                                   "_silence_", "_unknown_"]
        decode = audio_sources.decoder(16000)
        examples = [decode(x, y) for x, y in raw.test.take(3)]
    assert len(examples) == 3
    for inputs, label in examples:
        assert inputs["waveform"].shape == (16000,) and inputs["waveform"].dtype == tf.float32
        assert 0 <= int(label) < 12


def test_training_cli_refuses_a_one_class_folder_in_one_line(tmp_path):
    from helpers import assert_one_line_error, run_cli

    for name in ("a.wav", "b.wav"):
        write_pcm(tmp_path / "data" / "yes" / name, tone(300, 1.0, 16000)[None], 16000)
    done = run_cli("kerasuite.train", "--task", "keyword_spotting", "--data", f"folder:{tmp_path / 'data'}",
                   "--run-dir", str(tmp_path / "run"))
    assert_one_line_error(done, 2, str(tmp_path / "data"), "single class")


def test_make_keywords_hard_preset_adds_low_snr_noise_and_speaker_disjoint_test(tmp_path):
    """--preset sc12-hard: explicit flags win over the preset (--per-class, --noisy-fraction); test
    voices stay out of training; the low-SNR colored noise really is mixed in; a bad --low-snr-db
    is a usage error."""
    clean = make_keywords(tmp_path / "clean", "--per-class", "5", "--noisy-fraction", "0")
    noisy = make_keywords(tmp_path / "noisy", "--per-class", "5", "--preset", "sc12-hard", "--noisy-fraction", "1",
                          "--low-snr-db", "0:0")
    for split, count in (("train", 4), ("test", 1)):
        assert len(list((noisy / split / "yes").glob("*.wav"))) == count
    voice = lambda path: "_".join(path.stem.split("_")[1:-1])  # noqa: E731
    train_voices = {voice(p) for p in (noisy / "train").glob("[ny]*/*.wav")}
    assert not train_voices & {voice(p) for p in (noisy / "test").glob("[ny]*/*.wav")}

    def quiet_share(path: Path) -> float:
        # share of samples near zero: a clean clip is mostly silence around the word, a 0 dB noisy one is not
        samples, _ = device_audio.read_wav(path)
        return float(np.mean(np.abs(samples[:, 0]) < 0.01 * np.abs(samples).max()))

    word = lambda root: sorted((root / "train" / "yes").glob("*.wav"))  # noqa: E731
    assert np.mean([quiet_share(p) for p in word(clean)]) > np.mean([quiet_share(p) for p in word(noisy)]) + 0.2
    done = subprocess.run([sys.executable, str(REPO / "tools" / "make_keywords.py"), "--out", str(tmp_path / "x"),
                           "--low-snr-db", "10"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--low-snr-db" in done.stderr


def test_partial_word_cuts_move_half_a_keyword_out_of_the_window_and_relabel_it_unknown():
    """data.audio.partial_word_probability: a keyword row is shifted so its energy centre sits
    within 0.1 s of a window edge (about half the word heard) and becomes _unknown_; _unknown_
    and _silence_ rows are never cut; data without an _unknown_ class is refused in one line."""
    word = np.zeros(16000, np.float32)
    word[6000:10000] = 0.3 * np.sin(np.arange(4000) / 5.0)  # a 0.25 s "word", centred at 8000
    names = ["yes", "_unknown_", "_silence_"]
    config = _config(time_shift_seconds=0.0, noise_probability=0.0, gain_db_range=0.0, partial_word_probability=1.0)
    augment = audio_sources.batch_augmenter(config.data.audio, audio_sources.colored_noise(2, 32000, seed=1), 16000,
                                            seed=0, class_names=names)
    batch = np.repeat(word[None], 6, axis=0)
    out, labels = augment({"waveform": tf.constant(batch)}, tf.constant([0, 0, 0, 0, 1, 2], tf.int64))
    out = out["waveform"].numpy()
    assert labels.numpy().tolist() == [1, 1, 1, 1, 1, 2]
    for row in out[:4]:
        heard = np.count_nonzero(row) / 4000
        assert 0.05 <= heard <= 0.95, heard  # part of the word (centre 2000 +- 1600 samples in), not all, not none
    np.testing.assert_array_equal(out[4:], batch[4:])  # non-keywords untouched
    with pytest.raises(UserError, match="partial_word_probability.*no such class"):
        audio_sources.batch_augmenter(config.data.audio, audio_sources.colored_noise(2, 32000, seed=1), 16000,
                                      seed=0, class_names=["yes", "no"])


def _dataset_ops(dataset) -> set[str]:
    from tensorflow.core.framework import graph_pb2

    graph = graph_pb2.GraphDef.FromString(tf.raw_ops.DatasetToGraphV2(input_dataset=dataset._variant_tensor).numpy())
    return {node.op for node in graph.node} | {node.op for function in graph.library.function for node in function.node_def}


def test_clips_held_in_memory_are_not_cached_again_decoded_and_tfds_records_are():
    from kerasuite.tasks.keyword_spotting import KeywordSpotting
    import tensorflow_datasets as tfds

    in_memory = KeywordSpotting().load_data(cfg.resolve({}, {"task": "keyword_spotting", "data.source": "synthetic:tones-3"}))
    # a float32 copy of every clip beside the int16 ones: 6.8 GB more for Speech Commands' folder
    assert not any(op.startswith("CacheDataset") for op in _dataset_ops(in_memory.train))
    with tfds.testing.mock_data(num_examples=6):
        records = KeywordSpotting().load_data(cfg.resolve({}, {"task": "keyword_spotting", "data.source": "tfds:speech_commands"}))
        assert any(op.startswith("CacheDataset") for op in _dataset_ops(records.train))
