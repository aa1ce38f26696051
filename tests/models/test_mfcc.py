"""The MFCC front end: librosa parity, save/load, and TFLite (float32 and int8) parity.

Tolerances are relative to the coefficient range of the reference (max - min over the clip):
- float graph vs librosa, ``power=2``: 1e-4 (float32 arithmetic; measured ~1e-7);
- float graph vs librosa, ``power=1`` (square-free magnitude, +-0.24% by construction): 2e-3;
- TFLite float32 vs Keras: 1e-4;
- TFLite int8 (waveform in, MFCC out, everything int8) vs Keras, with the MfccConfig defaults:
  mean error < 1.5% and 95th percentile < 5% of the range. Measured on these signals (levels
  0.02-0.9): mean 0.5%, p95 2.4%; the quietest clips (below peak_floor) are the worst.
"""

from __future__ import annotations

import keras
import librosa  # a test dependency only: the layer itself never imports it
import numpy as np
import pytest

from harness import run_model_saving_test
from kerasuite.models.layers.mfcc import Mfcc, dct2_orthonormal, mel_filterbank

SR = 16000


def speechlike(seed: int, samples: int = SR, level: float = 0.5) -> np.ndarray:
    """Voiced segments (harmonics with moving formants), a noise burst and silence: the dynamic
    range of real speech without needing a recording."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / SR
    f0 = rng.uniform(90, 220) * (1 + 0.2 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t))
    phase = 2 * np.pi * np.cumsum(f0) / SR
    formant = rng.uniform(400, 900) + 600 * t
    voiced = sum(np.sin(h * phase) * np.exp(-(((h * f0) - formant) / 500.0) ** 2) for h in range(1, 30))
    envelope = np.exp(-(((t - rng.uniform(0.3, 0.7)) / 0.15) ** 2))
    burst = rng.standard_normal(samples) * np.exp(-(((t - 0.15) / 0.03) ** 2)) * 0.3
    signal = voiced * envelope + burst + 0.002 * rng.standard_normal(samples)
    return (signal * level / np.abs(signal).max()).astype(np.float32)


def librosa_mfcc(y: np.ndarray, layer: Mfcc, lifter: float = 0.0) -> np.ndarray:
    mel = librosa.feature.melspectrogram(
        y=y, sr=layer.sample_rate, n_fft=layer.fft_length, win_length=layer.frame_length,
        hop_length=layer.frame_step, n_mels=layer.num_mel_bins, fmin=layer.lower_hz, fmax=layer.upper_hz,
        power=layer.power,
    )
    db = librosa.power_to_db(mel, amin=layer.amin, top_db=layer.top_db)
    return librosa.feature.mfcc(S=db, n_mfcc=layer.num_coefficients, lifter=lifter).T  # [frames, coefficients]


def relative_error(actual: np.ndarray, reference: np.ndarray) -> float:
    return float(np.abs(actual - reference).max() / (reference.max() - reference.min()))


def test_filterbank_and_dct_match_librosa_and_scipy():
    import scipy.fft

    ours = mel_filterbank(SR, 1024, 40, 20.0, 4000.0)
    theirs = librosa.filters.mel(sr=SR, n_fft=1024, n_mels=40, fmin=20.0, fmax=4000.0)
    np.testing.assert_allclose(ours.T, theirs, atol=1e-7)
    # column k of dct2_orthonormal is the k-th DCT-II basis vector: dct(x) @ e_k
    expected = scipy.fft.dct(np.eye(40), norm="ortho", axis=0)[:10].T
    np.testing.assert_allclose(dct2_orthonormal(40, 10), expected, atol=1e-12)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},  # librosa-style defaults: power 2, 80 dB top_db clip (active: the clip has silence)
        {"frame_length": 400, "frame_step": 160, "fft_length": 512, "num_mel_bins": 64, "num_coefficients": 13,
         "lower_hz": 0.0, "upper_hz": 8000.0, "top_db": None},  # 5-piece framing, 16x32 DFT split
        {"frame_length": 480, "frame_step": 480, "fft_length": 480, "num_mel_bins": 20, "num_coefficients": 12},
    ],
)
def test_mfcc_matches_librosa(kwargs):
    layer = Mfcc(**kwargs)
    clip = speechlike(0)
    clip[: SR // 4] = 0.0  # digital silence: exercises amin and top_db
    ours = np.asarray(layer(clip[None]))[0]
    reference = librosa_mfcc(clip, layer)
    assert ours.shape == reference.shape == (layer.num_frames(SR), layer.num_coefficients)
    assert relative_error(ours, reference) < 1e-4


def test_lifter_matches_librosa_and_db_offset_moves_only_c0():
    clip = speechlike(5)
    plain = Mfcc(top_db=None)
    liftered = Mfcc(top_db=None, lifter=22.0)
    ours = np.asarray(liftered(clip[None]))[0]
    assert relative_error(ours, librosa_mfcc(clip, liftered, lifter=22.0)) < 1e-4
    assert np.abs(ours[:, 9]).max() > 5 * np.abs(np.asarray(plain(clip[None]))[0][:, 9]).max()
    shifted = np.asarray(Mfcc(top_db=None, lifter=22.0, db_offset=12.0)(clip[None]))[0]
    c0_gain = 1.0 + 11.0 * np.sin(np.pi / 22.0)
    np.testing.assert_allclose(shifted[:, 0] - ours[:, 0], 12.0 * np.sqrt(40) * c0_gain, rtol=1e-4)
    np.testing.assert_allclose(shifted[:, 1:], ours[:, 1:], atol=1e-3)


def test_magnitude_mode_and_peak_floor_match_librosa():
    layer = Mfcc(power=1.0, peak_floor=0.05, amin=0.01, top_db=None)
    loud, quiet = speechlike(1, level=0.6), speechlike(2, level=0.01)
    ours = np.asarray(layer(np.stack([loud, quiet])))
    # clips peaking above the floor are scaled to peak 1; quieter ones pass unchanged
    assert relative_error(ours[0], librosa_mfcc(loud / 0.6, layer)) < 2e-3
    assert relative_error(ours[1], librosa_mfcc(quiet, layer)) < 2e-3
    np.testing.assert_allclose(np.asarray(layer(3 * loud[None] / 2))[0], ours[0], atol=1e-3)
    assert np.abs(np.asarray(layer(2 * quiet[None]))[0] - ours[1]).max() > 1.0


def test_low_gain_and_frame_groups_keep_the_function_and_fewer_directions_stay_close():
    """``mel_low_gain`` and ``frames_per_group`` change the int8 graph only: in float the output
    is the same; 8 magnitude directions (+-3.9% magnitude error) stay close to librosa."""
    common = dict(power=1.0, peak_floor=0.05, magnitude_cap=96.0, mel_cap=3.2, amin=0.02, top_db=None)
    clips = np.stack([speechlike(1, level=0.6), speechlike(2, level=0.01)])
    base = np.asarray(Mfcc(**common)(clips))
    for variant in ({"mel_low_gain": 16.0}, {"frames_per_group": 8}, {"frames_per_group": 13, "mel_low_gain": 16.0}):
        assert relative_error(np.asarray(Mfcc(**common, **variant)(clips)), base) < 1e-5, variant
    coarse = Mfcc(**common, magnitude_directions=8, frame_length=480, fft_length=512)
    reference = librosa_mfcc(np.minimum(speechlike(1, level=0.6) / 0.6, 1.0), coarse)
    error = relative_error(np.asarray(coarse(clips[:1]))[0], reference)
    assert 2e-3 < error < 1e-2  # above the 16-direction bound, as the coarser max predicts


def test_pairwise_max_is_the_same_function_without_a_reduce_max():
    """``pairwise_max`` (for int16 activations: TFLM has no int16 REDUCE_MAX) takes the same
    maximum over directions, also for a count that is not a power of two, and its graph has
    MAXIMUM ops where the default has REDUCE_MAX."""
    import tensorflow as tf

    common = {"power": 1.0, "peak_floor": 0.05, "magnitude_cap": 96.0, "mel_cap": 3.2, "amin": 0.02, "top_db": None}
    clips = np.stack([speechlike(1, level=0.6), speechlike(2, level=0.01)])
    for directions in (16, 6):
        base = np.asarray(Mfcc(**common, magnitude_directions=directions)(clips))
        paired = np.asarray(Mfcc(**common, magnitude_directions=directions, pairwise_max=True)(clips))
        assert np.array_equal(base, paired), directions

    def op_types(layer):
        graph = tf.function(lambda x: layer(x)).get_concrete_function(tf.TensorSpec([1, 16000], tf.float32)).graph
        return {op.type for op in graph.get_operations()}

    assert "Max" in op_types(Mfcc(**common))
    assert "Maximum" in op_types(Mfcc(**common, pairwise_max=True))
    assert "Max" not in op_types(Mfcc(**{**common, "peak_floor": None}, pairwise_max=True))


def test_caps_saturate_magnitude_and_mel_like_clipping_in_librosa():
    layer = Mfcc(power=1.0, magnitude_cap=40.0, mel_cap=0.5, amin=0.01, top_db=None)
    clip = speechlike(4, level=0.9) + 0.5 * np.sin(2 * np.pi * 700 * np.arange(SR) / SR).astype(np.float32)
    stft = np.abs(librosa.stft(clip, n_fft=1024, win_length=640, hop_length=320))
    assert stft.max() > 40.0  # the caps really bite on this clip
    mel = librosa.feature.melspectrogram(S=np.minimum(stft, 40.0), sr=SR, n_mels=40, fmin=20.0, fmax=4000.0, power=1.0)
    db = librosa.power_to_db(np.minimum(mel, 0.5), amin=0.01, top_db=None)
    reference = librosa.feature.mfcc(S=db, n_mfcc=10).T
    assert relative_error(np.asarray(layer(clip[None]))[0], reference) < 2e-3


def test_bad_arguments_are_value_errors():
    with pytest.raises(ValueError, match="frame_step"):
        Mfcc(frame_length=640, frame_step=700)
    with pytest.raises(ValueError, match="upper_hz"):
        Mfcc(upper_hz=9000.0)
    with pytest.raises(ValueError, match="power"):
        Mfcc(power=3.0)
    with pytest.raises(ValueError, match="magnitude_cap"):
        Mfcc(power=2.0, magnitude_cap=10.0)
    with pytest.raises(ValueError, match="gcd"):
        Mfcc(frame_length=641, frame_step=320, fft_length=1024)
    with pytest.raises(ValueError, match="mel_low_gain"):
        Mfcc(power=1.0, mel_cap=None, mel_low_gain=16.0)
    with pytest.raises(ValueError, match="magnitude_directions"):
        Mfcc(power=1.0, magnitude_directions=2)
    with pytest.raises(ValueError, match="frames_per_group"):
        Mfcc(frames_per_group=-1)


def _front_end_model(**kwargs) -> keras.Model:
    waveform = keras.Input((SR,), name="waveform")
    return keras.Model({"waveform": waveform}, Mfcc(name="mfcc", **kwargs)(waveform))


def test_save_load_round_trip_with_safe_mode(tmp_path):
    model = _front_end_model(power=1.0, peak_floor=0.05, magnitude_cap=50.0, mel_cap=2.0, amin=0.01, top_db=50.0,
                             num_coefficients=8)
    loaded = run_model_saving_test(model, {"waveform": speechlike(3)[None]}, tmp_path, atol=1e-5)
    config = loaded.get_layer("mfcc").get_config()
    assert (config["power"], config["peak_floor"], config["magnitude_cap"], config["mel_cap"], config["top_db"],
            config["num_coefficients"]) == (1.0, 0.05, 50.0, 2.0, 50.0, 8)


def test_tflite_front_end_matches_keras_in_float32_and_int8(tmp_path):
    """The whole front end converts to builtins only and stays faithful in float32 and int8."""
    from kerasuite.hparams import MfccConfig
    from kerasuite.export import tflite
    from kerasuite.runtime.interpreter import TFLiteModel

    defaults = MfccConfig()
    model = _front_end_model(power=defaults.power, peak_floor=defaults.peak_floor, magnitude_cap=defaults.magnitude_cap,
                             mel_cap=defaults.mel_cap, amin=defaults.amin, top_db=defaults.top_db,
                             lifter=defaults.lifter, db_offset=defaults.db_offset)
    model.save(tmp_path / "front_end.keras")
    clips = np.stack([speechlike(seed, level=level) for seed, level in zip(range(40), np.geomspace(0.02, 0.9, 40))])
    # calibration and evaluation interleave so both cover the whole level range (calibrating on
    # quiet clips only would clip louder ones at the int8 input)
    np.savez(tmp_path / "rep.npz", input__waveform=clips[0::2])
    evaluation = clips[1::2]
    reference = np.asarray(model.predict({"waveform": evaluation}, verbose=0))
    coefficient_range = reference.max() - reference.min()
    errors = {}
    for mode in ("float32", "int8"):
        out = tmp_path / f"front_end_{mode}.tflite"
        tflite.convert(tmp_path / "front_end.keras", mode, out, tmp_path / "rep.npz" if mode == "int8" else None)
        runner = TFLiteModel(out)
        ops = set(runner.op_names())
        assert {"FULLY_CONNECTED", "LOG"} <= ops
        assert not [op for op in ops if op.startswith("Flex") or op == "CUSTOM"], sorted(ops)
        if mode == "int8":  # int8 in and out: the only float island is the LOG, which TFLM runs in
            # float only (kerasuite.export.float_log): every DEQUANTIZE feeds a LOG
            details = runner.interpreter._get_ops_details()
            log_inputs = {op["inputs"][0] for op in details if op["op_name"] == "LOG"}
            dequantized = [op["outputs"][0] for op in details if op["op_name"] == "DEQUANTIZE"]
            assert set(dequantized) <= log_inputs, sorted(ops)
        # matmul_last: reshape targets are constants, not shape arithmetic computed per invoke
        assert not ops & {"SHAPE", "GATHER", "REDUCE_PROD"}, sorted(ops)
        got = runner.predict({"waveform": evaluation})
        errors[mode] = np.abs(got - reference) / coefficient_range
        print(f"{mode}: {out.stat().st_size} bytes, mean error {errors[mode].mean():.2e}, "
              f"max {errors[mode].max():.2e} of the coefficient range {coefficient_range:.1f}; ops {sorted(ops)}")
    assert errors["float32"].max() < 1e-4
    assert errors["int8"].mean() < 0.015
    assert np.percentile(errors["int8"], 95) < 0.05


def test_int8_front_end_resolves_the_mel_floor_on_litert_and_tflm(tmp_path):
    """The int8 weak point that failed TFLM parity on real keywords: one linear int8 mel tensor
    puts the amin floor ~1.6 steps above zero, so LOG turns one step (or one rounding difference
    between LiteRT's and TFLM's kernels) into ~2 dB. ``mel_low_gain`` takes small values' log
    from a 16x finer copy; measured on quiet, noisy speech here, on both runtimes."""
    from kerasuite.export import tflite
    from kerasuite.hparams import MfccConfig
    from kerasuite.models.speech import mfcc_layer
    from kerasuite.runtime.interpreter import TFLiteModel
    from kerasuite.runtime.tflm import TFLMModel

    rng = np.random.default_rng(7)
    clips = np.stack([speechlike(seed, level=0.5) + rng.normal(0, 0.5 * 10 ** (-snr / 20), SR).astype(np.float32)
                      for seed, snr in zip(range(24), np.tile([40.0, 30.0, 20.0], 8))])
    clips /= np.abs(clips).max(axis=1, keepdims=True)  # the peak normalisation devices apply first
    np.savez(tmp_path / "rep.npz", input__waveform=clips[0::2])
    evaluation = clips[1::2]
    errors = {}
    for gain in (1.0, MfccConfig().mel_low_gain):
        waveform = keras.Input((SR,), name="waveform")
        model = keras.Model({"waveform": waveform}, mfcc_layer(MfccConfig(mel_low_gain=gain), SR)(waveform))
        model.save(tmp_path / f"gain{gain:g}.keras")
        reference = np.asarray(model.predict({"waveform": evaluation}, verbose=0))
        out = tmp_path / f"gain{gain:g}.tflite"
        tflite.convert(tmp_path / f"gain{gain:g}.keras", "int8", out, tmp_path / "rep.npz", batch_size=1)
        spread = reference.std(axis=(0, 1))  # per coefficient: c0's range would hide c9's error
        for runtime, runner in (("litert", TFLiteModel(out)), ("tflm", TFLMModel(out))):
            got = runner.predict({"waveform": evaluation}).reshape(reference.shape)
            errors[gain, runtime] = float(np.sqrt((((got - reference) / spread) ** 2).mean()))
    print({f"gain {g:g} {r}": round(e, 4) for (g, r), e in errors.items()})
    # measured: gain 1 0.179 (LiteRT) / 0.174 (TFLM), gain 16 0.155 / 0.156 of each coefficient's
    # spread; on real keyword clips the log-mel's relative RMS error went from ~0.18 to 0.06
    default = MfccConfig().mel_low_gain
    assert default > 1.0
    for runtime in ("litert", "tflm"):
        assert errors[default, runtime] < 0.92 * errors[1.0, runtime], errors
        assert errors[default, runtime] < 0.165, errors
