"""Training-only generalisation measures of keyword spotting and the streaming detector."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from kerasuite.hparams import DsCnnConfig, KwsTrainingConfig, MfccConfig
from kerasuite.runtime.streaming import StreamSettings, detect, smooth, window_starts


def test_spec_augment_masks_bands_in_training_and_is_absent_from_the_inference_graph():
    from kerasuite.models.layers.spec_augment import SpecAugment
    from kerasuite.models.speech import build_ds_cnn

    layer = SpecAugment(time_masks=2, time_mask_frames=8, frequency_masks=1, frequency_mask_coefficients=2, seed=1)
    ones = np.ones((16, 51, 10, 1), np.float32)
    masked = np.asarray(layer(ones, training=True))
    assert set(np.unique(masked)) <= {0.0, 1.0} and 0.0 < 1.0 - masked.mean() < 0.5
    zero_frames = (masked[..., 0] == 0).all(axis=2).sum(axis=1)  # whole frames masked, per example
    assert zero_frames.max() <= 16 and len(set(zero_frames.tolist())) > 1  # own draws per example
    np.testing.assert_array_equal(np.asarray(layer(ones, training=False)), ones)

    model = build_ds_cnn(DsCnnConfig(filters=4, num_blocks=1), MfccConfig(), 3,
                         training=KwsTrainingConfig(time_masks=2, frequency_masks=1))
    inference = tf.function(lambda w: model({"waveform": w}, training=False))
    graph = inference.get_concrete_function(tf.TensorSpec([1, 16000], tf.float32)).graph
    random_ops = [op.type for op in graph.get_operations() if "Random" in op.type]
    assert not random_ops, random_ops
    training = tf.function(lambda w: model({"waveform": w}, training=True))
    graph = training.get_concrete_function(tf.TensorSpec([1, 16000], tf.float32)).graph
    assert any("Random" in op.type for op in graph.get_operations())


def test_vocal_tract_warp_moves_the_envelope_by_the_factor_and_is_absent_from_inference():
    from kerasuite.models.layers.cepstral_warp import CepstralWarp, band_centres_hz, band_warp, cepstral_warp_bank
    from kerasuite.models.layers.mfcc import dct2_orthonormal
    from kerasuite.models.speech import build_ds_cnn

    cfg = MfccConfig(num_coefficients=20)
    centres = band_centres_hz(cfg.num_mel_bins, cfg.lower_hz, cfg.upper_hz)
    dct = dct2_orthonormal(cfg.num_mel_bins, cfg.num_coefficients)
    bank = cepstral_warp_bank(dct, centres, 0.2, steps=5)  # alphas 0.8, 0.9, 1.0, 1.1, 1.2
    np.testing.assert_allclose(bank[2], np.eye(cfg.num_coefficients), atol=1e-6)
    # A formant at 1.5 kHz as a smooth log-mel bump: warped by 1.2 its peak sits near 1.8 kHz.
    log_mel = 30.0 * np.exp(-0.5 * ((centres - 1500.0) / 150.0) ** 2)
    warped = (log_mel @ dct) @ bank[4] @ np.linalg.pinv(dct)
    assert abs(centres[np.argmax(warped)] - 1800.0) < 120.0, centres[np.argmax(warped)]
    assert abs(centres[np.argmax(log_mel @ band_warp(centres, 0.8))] - 1200.0) < 100.0

    layer = CepstralWarp(bank, seed=3)
    mfcc = np.random.default_rng(0).normal(size=(64, 51, cfg.num_coefficients)).astype(np.float32)
    out = np.asarray(layer(mfcc, training=True))
    unchanged = np.isclose(out, mfcc, atol=1e-4).all(axis=(1, 2))
    assert 0 < unchanged.sum() < 64  # each example draws its own factor; alpha 1 leaves it as it was
    np.testing.assert_array_equal(np.asarray(layer(mfcc, training=False)), mfcc)

    model = build_ds_cnn(DsCnnConfig(filters=4, num_blocks=1), MfccConfig(), 3,
                         training=KwsTrainingConfig(vocal_tract_warp=0.1))
    assert "vocal_tract_warp" in {layer.name for layer in model.layers}
    inference = tf.function(lambda w: model({"waveform": w}, training=False))
    graph = inference.get_concrete_function(tf.TensorSpec([1, 16000], tf.float32)).graph
    assert not [op.type for op in graph.get_operations() if "Random" in op.type or op.type == "Einsum"]


def test_nucleus_mask_zeroes_the_loudest_frames_of_chosen_examples_and_is_absent_from_inference():
    from kerasuite.models.layers.nucleus_mask import NucleusMask
    from kerasuite.models.speech import build_ds_cnn

    # c0 = 2 per dB: frames 10-14 are 0-5 dB under the peak at frame 12, the rest 20 dB under
    loudness_db = np.full((8, 51), -20.0, np.float32)
    loudness_db[:, 10:15] = [-5.0, -2.0, 0.0, -3.0, -7.0]
    mfcc = np.zeros((8, 51, 10), np.float32)
    mfcc[:, :, 0] = 2.0 * loudness_db
    ones = np.ones((8, 51, 10, 1), np.float32)
    always = NucleusMask(probability=1.0, below_db=6.0, c0_per_db=2.0, seed=1)
    zeroed = (np.asarray(always([ones, mfcc], training=True))[..., 0] == 0).all(axis=2)
    expected = np.zeros(51, bool)
    expected[10:14] = True  # within 6 dB of the peak; frame 14 (-7 dB) and the rest stay
    assert (zeroed == expected).all()
    np.testing.assert_array_equal(np.asarray(always([ones, mfcc], training=False)), ones)
    half = NucleusMask(probability=0.5, below_db=6.0, c0_per_db=2.0, seed=1)
    chosen = (np.asarray(half([np.ones((256, 51, 10, 1), np.float32), np.repeat(mfcc[:1], 256, 0)],
                              training=True))[:, 12, 0, 0] == 0)
    assert 0.35 < chosen.mean() < 0.65  # each example draws for itself

    model = build_ds_cnn(DsCnnConfig(filters=4, num_blocks=1), MfccConfig(), 3,
                         training=KwsTrainingConfig(nucleus_mask_probability=0.5))
    front_end = model.get_layer("mfcc")
    # the layer reads loudness in dB from c0: the DCT's first column sums to c0 per dB of mean log-mel
    assert model.get_layer("nucleus_mask").c0_per_db == pytest.approx(np.sqrt(MfccConfig().num_mel_bins), rel=1e-5)
    tone = np.sin(np.arange(16000) * 2 * np.pi * 440 / 16000).astype(np.float32)[None] * 0.5
    c0_db = np.asarray(front_end(tone))[0, :, 0] / model.get_layer("nucleus_mask").c0_per_db
    np.testing.assert_allclose(c0_db, np.asarray(front_end.log_mel(tone))[0].mean(axis=-1), rtol=1e-4, atol=1e-3)
    inference = tf.function(lambda w: model({"waveform": w}, training=False))
    graph = inference.get_concrete_function(tf.TensorSpec([1, 16000], tf.float32)).graph
    assert not [op.type for op in graph.get_operations() if "Random" in op.type]


def test_logit_penalty_adds_half_the_mean_squared_logit_norm_in_training_only():
    from kerasuite.models.layers.logit_penalty import LogitPenalty
    from kerasuite.models.speech import build_ds_cnn

    logits = np.array([[3.0, -1.0], [0.5, 2.0]], np.float32)
    layer = LogitPenalty(0.2)
    np.testing.assert_array_equal(np.asarray(layer(logits, training=True)), logits)
    assert float(layer.losses[0]) == pytest.approx(0.5 * 0.2 * np.mean([10.0, 4.25]), rel=1e-6)
    layer = LogitPenalty(0.2)
    layer(logits, training=False)
    assert not layer.losses

    plain = build_ds_cnn(DsCnnConfig(filters=4, num_blocks=1), MfccConfig(), 3)
    penalised = build_ds_cnn(DsCnnConfig(filters=4, num_blocks=1), MfccConfig(), 3,
                             training=KwsTrainingConfig(logit_penalty=0.1))
    penalised.set_weights(plain.get_weights())  # the same weights in the same order
    waveform = np.random.default_rng(0).normal(scale=0.1, size=(2, 16000)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(penalised({"waveform": waveform})),
                               np.asarray(plain({"waveform": waveform})), rtol=1e-5, atol=1e-6)
    penalised({"waveform": waveform}, training=True)
    assert len(penalised.losses) == 1 and float(penalised.losses[0]) > 0
    assert penalised.layers[-1].name == plain.layers[-1].name == "probabilities"  # what exports name the output


def test_speed_perturbation_is_exact_at_one_and_shifts_pitch_by_the_factor():
    from kerasuite.data.audio import perturb_speed

    tone = np.sin(2 * np.pi * 440 * np.arange(16000) / 16000).astype(np.float32)[None]
    same = perturb_speed(tf.constant(tone), tf.constant([[1.0]])).numpy()
    np.testing.assert_allclose(same, tone, atol=1e-6)
    faster = perturb_speed(tf.constant(np.repeat(tone, 2, 0)), tf.constant([[1.1], [0.9]])).numpy()
    peaks = [np.abs(np.fft.rfft(row[4000:12000])).argmax() * 16000 / 8000 for row in faster]
    assert peaks[0] == pytest.approx(484, abs=4) and peaks[1] == pytest.approx(396, abs=4)
    assert faster[0, 0] == 0.0  # reading past the clip's start gives silence, not wrap-around


def test_label_smoothing_loss_matches_the_dense_keras_loss():
    import keras

    from kerasuite.models.speech import SmoothedSparseCrossentropy

    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], np.float32)
    labels = np.array([0, 1])
    ours = float(SmoothedSparseCrossentropy(3, 0.1)(labels, probabilities))
    dense = float(keras.losses.CategoricalCrossentropy(label_smoothing=0.1)(np.eye(3)[labels], probabilities))
    plain = float(keras.losses.SparseCategoricalCrossentropy()(labels, probabilities))
    assert ours == pytest.approx(dense, rel=1e-5) and abs(ours - plain) > 1e-3


def test_a_model_compiled_with_label_smoothing_reloads_in_a_fresh_process(tmp_path):
    """The loss is saved with model.keras; the export reloads it in a child process."""
    import subprocess
    import sys

    import keras

    from kerasuite.models.speech import SmoothedSparseCrossentropy

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    model.compile(optimizer="adam", loss=SmoothedSparseCrossentropy(3, 0.1))
    model.save(tmp_path / "m.keras")
    code = ("import keras, kerasuite.models;"
            f"m = keras.saving.load_model({str(tmp_path / 'm.keras')!r}, safe_mode=True); print(type(m.loss).__name__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "SmoothedSparseCrossentropy" in done.stdout


LABELS = ["yes", "no", "_unknown_", "_silence_"]


def _posteriors(rows: list[tuple[int, float]]) -> np.ndarray:
    out = np.full((len(rows), 4), 0.0)
    for i, (cls, p) in enumerate(rows):
        out[i] = (1 - p) / 3
        out[i, cls] = p
    return out


def test_streaming_smooths_thresholds_and_suppresses_repeats():
    silence = [(3, 0.95)] * 8
    word = [(0, 0.95)] * 5  # one "yes" seen by five overlapping windows
    flicker = [(1, 0.99)]  # one window alone: smoothing over 3 keeps it below threshold
    posteriors = _posteriors(silence + word + silence + flicker + silence + [(2, 0.99)] * 6)
    found = detect(posteriors, LABELS, 1.0, StreamSettings(hop_seconds=0.25, smooth_windows=3, threshold=0.7))
    assert [d.label for d in found] == ["yes"]  # once, not five times; no flicker; unknown never fires
    assert found[0].seconds == pytest.approx(10 * 0.25 + 0.5)  # the word's third window (index 10), its centre
    no_suppression = detect(posteriors, LABELS, 1.0, StreamSettings(refractory_seconds=0.0))
    assert len(no_suppression) > 1
    np.testing.assert_allclose(smooth(np.arange(1.0, 5.0)[:, None], 2)[:, 0], [0.5, 1.5, 2.5, 3.5])
    # a flicker in the very first window is damped like one anywhere else
    assert detect(_posteriors([(1, 0.99)] + [(3, 0.95)] * 6), LABELS, 1.0, StreamSettings()) == []


def test_stream_settings_refuse_bad_values_with_the_flag_name():
    from kerasuite.errors import UserError

    for settings, flag in ((StreamSettings(hop_seconds=0), "--hop"), (StreamSettings(threshold=1.5), "--threshold")):
        with pytest.raises(UserError, match=flag):
            settings.check()


def test_the_training_augmenter_applies_speed_perturbation_per_row():
    from kerasuite import config as cfg
    from kerasuite.data import audio as audio_sources

    audio = cfg.defaults("keyword_spotting").data.audio
    audio.time_shift_seconds, audio.noise_probability, audio.gain_db_range, audio.speed_range = 0.0, 0.0, 0.0, 0.1
    tone = (0.5 * np.sin(2 * np.pi * 1000 * np.arange(16000) / 16000)).astype(np.float32)
    augment = audio_sources.batch_augmenter(audio, audio_sources.colored_noise(1, 32000, 0), 16000, seed=0)
    out, _ = augment({"waveform": tf.constant(np.repeat(tone[None], 8, 0))}, tf.zeros([8], tf.int64))
    peaks = [np.abs(np.fft.rfft(row[4000:12000])).argmax() * 2.0 for row in out["waveform"].numpy()]
    assert all(900 <= p <= 1100 for p in peaks) and len(set(peaks)) > 2, peaks  # 1 kHz x (0.9..1.1), own draw per row


def test_the_cue_probe_splits_a_word_into_nucleus_and_coda_and_refuses_bad_input(tmp_path, capsys):
    from tests.helpers import load_tool

    probe = load_tool("benchmarking/kws_cue_probe")
    c0_per_db = 2.0
    mfcc = np.zeros((20, 3), np.float32)
    mfcc[:, 0] = c0_per_db * np.array([-30] * 5 + [-4, -1, 0, -5, -9, -20, -22, -25] + [-30] * 7, np.float32)
    mfcc[:, 1] = np.arange(20)  # marks each frame
    nucleus, coda = probe.nucleus_and_coda(mfcc, c0_per_db)
    np.testing.assert_allclose(nucleus[1], np.mean([5, 6, 7, 8]))  # frames within 6 dB of the peak
    np.testing.assert_allclose(coda.reshape(6, 3)[:, 1], [9, 10, 11, 12, 13, 14])  # the 6 frames after
    late = np.roll(mfcc, 9, axis=0)  # the nucleus ends 3 frames before the clip does
    _, coda = probe.nucleus_and_coda(late, c0_per_db)
    assert (coda.reshape(6, 3)[3:] == (late - np.eye(3)[0] * late[16, 0]).min(axis=0)).all()  # padded with the floor

    (tmp_path / "train" / "up").mkdir(parents=True)
    assert probe.main(["--data", str(tmp_path), "--words", "up", "off"]) == 2
    assert "no train/off/ folder" in capsys.readouterr().err
    for split in ("train", "test"):
        for word in ("up", "off"):
            (tmp_path / split / word).mkdir(parents=True, exist_ok=True)
    assert probe.main(["--data", str(tmp_path), "--words", "up", "off", "--set", "floor=0.1"]) == 2
    assert "'floor' is not a model.mfcc key" in capsys.readouterr().err


def test_streaming_smooths_over_seconds_whatever_the_hop():
    """Smoothing counted in windows made --hop 0.5 average 1.5 s and miss most words, and --hop
    0.1 average 0.3 s and fire on flickers; it is 0.75 s at any hop."""
    assert [StreamSettings(hop_seconds=hop).windows_to_smooth() for hop in (0.25, 0.125, 0.5, 0.1, 1.0)] == [3, 6, 2, 8, 1]
    assert StreamSettings(hop_seconds=0.5, smooth_windows=4).windows_to_smooth() == 4  # an explicit count wins
    word = [(0, 0.95)] * 2  # a word seen by two windows 0.5 s apart
    posteriors = _posteriors([(3, 0.95)] * 4 + word + [(3, 0.95)] * 4)
    assert [d.label for d in detect(posteriors, LABELS, 1.0, StreamSettings(hop_seconds=0.5, threshold=0.7))] == ["yes"]


def test_a_word_that_ends_the_recording_is_heard():
    # 1 s windows at a 0.25 s hop over 2.1 s: the hops stop at 1.0 s, so a last window ends at 2.1 s
    starts = window_starts(33600, 16000, 4000)
    assert starts[-1] + 16000 == 33600 and list(starts[:-1]) == [0, 4000, 8000, 12000, 16000]
    assert list(window_starts(32000, 16000, 4000)) == [0, 4000, 8000, 12000, 16000]  # no extra when they reach it
    assert list(window_starts(16000, 16000, 4000)) == [0]


def test_streaming_refuses_labels_that_are_not_the_models_and_a_hop_past_the_window():
    from kerasuite.errors import UserError

    with pytest.raises(UserError, match="labels.txt has 4 labels but the model gives 5 scores"):
        detect(np.full((3, 5), 0.2), LABELS, 1.0, StreamSettings())
    with pytest.raises(UserError, match="--hop"):
        StreamSettings(hop_seconds=1.5).check(window_seconds=1.0)
    StreamSettings(hop_seconds=1.0).check(window_seconds=1.0)
