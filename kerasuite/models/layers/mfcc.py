"""MFCC front end as a Keras layer, built only from ops that convert to TFLite builtins.

The exported keyword-spotting model takes the raw 16 kHz waveform, so a device needs no DSP
library. ``tf.signal.stft``/``mfccs_from_log_mel_spectrograms`` do not convert to builtin ops
(and a plain DFT matrix for 640-sample frames would be ~330k constants, too big for a <100 kB
int8 model), so the layer spells the pipeline out with reshapes, slices and small matmuls:

1. optional peak normalisation (clips with a peak of at least ``peak_floor`` -> peak 1);
2. centre padding (``frame_length // 2`` zeros each side, like librosa's ``center=True``);
3. framing: the padded signal is cut into chunks of ``gcd(frame_length, frame_step)`` samples
   and each frame is the concatenation of a few strided slices of those chunks (no gather
   index tables);
4. periodic Hann window;
5. a two-stage Cooley-Tukey DFT (``fft_length = N1 * N2``): a length-N1 DFT as a matmul,
   a twiddle-factor multiply, and a length-N2 DFT as a matmul. Only the bins the mel filterbank
   uses are computed. With the mel matrix and the DCT the defaults need 16k constants
   (23k for ``power=1``) instead of ~330k for the DFT alone;
6. power (``power=2``, exact) or magnitude (``power=1``, see below) spectrum, optionally
   capped, and a Slaney mel filterbank (as ``librosa.filters.mel``) as a matmul, optionally capped;
7. ``10 * log10(max(mel, amin))``, optionally clipped to ``top_db`` below the clip's maximum
   (as ``librosa.power_to_db``);
8. an orthonormal DCT-II matrix keeps the first ``num_coefficients``, optionally liftered
   (``lifter``, librosa's sinusoidal lifter) and with ``db_offset`` added to every dB value
   first (0 in librosa).

With the same parameters the output equals ``librosa.feature.mfcc`` (``tests/models/test_mfcc.py``).
All constants derive from the constructor arguments, so nothing but the config is saved.

int8 numerics. Every int8 tensor is linear with 256 levels: ~48 dB of amplitude below the
largest value seen in calibration. What keeps the front end usable there (measured with
``tests/models/test_mfcc.py`` and ``tools/benchmark_speech.py`` on the espeak-ng keyword set):
- ``power=1``: the magnitude is computed without squares, as the largest of 16 projections
  ``relu(Re cos a + Im sin a)`` folded into the second DFT matmul (within +-0.97% of ``|X|``).
  A squared (power) tensor keeps only 24 dB; the magnitude keeps 48 dB;
- ``peak_floor``: each clip fills the full range of every tensor instead of losing its level
  difference to the loudest calibration clip. The step is idempotent, so
  the data pipeline and devices apply it before the int8 input is quantized (the largest single
  error source in simulation: an int8 waveform of a quiet clip has only a few levels);
- ``magnitude_cap`` / ``mel_cap``: relu6 fused into the two matmuls bounds their int8 ranges
  at about the 99th percentile of speech, so rare peaks (up to 2.4x higher) do not cost every
  other clip resolution; float and int8 saturate alike;
- ``amin`` a few int8 steps of ``mel_cap`` above zero: int8 cannot resolve mel values near its
  step (they come out 1-2 dB off), so float and int8 clamp them to the same floor;
- ``lifter`` and ``db_offset``: the MFCC tensor is one int8 tensor, so its step is set by its
  widest coefficient. Without them c0 (the mean level, always negative: -107..-42 on the
  sc12-hard set) sets a range of ~150 units while c9 has a standard deviation of ~2: one step is a
  quarter of c9's spread. Adding ``db_offset`` dB centres c0 on zero; liftering (x2.6 for c0 up to
  x12 for c9 with ``lifter=22``) evens out the coefficients' spreads. The normalisation layer
  after the front end rescales each coefficient anyway, so the float model computes the same
  function; only the int8 resolution changes (``tools/benchmarking/speech_int8_frontend.py``).
  On the sc12-hard set this did not change int8 agreement: the error that reaches the output
  is made earlier;
- ``mel_low_gain``: the int8 mel tensor before LOG is linear over [0, mel_cap], and amin sat
  1.6 steps above zero, so near the floor one int8 step (or one rounding difference between
  LiteRT's and TFLM's kernels, which differ in ~0.1-1% of elements) became ~2 dB after LOG; on
  real keyword clips a 5-epoch model's int8 agreement with Keras was 0.950 (LiteRT) / 0.958
  (TFLM), failing parity. With a gain G the mel FULLY_CONNECTED is also computed G times larger
  (same relu6 cap, the converter shares the int8 weights) and small values take their log from
  that copy (``_log``): G times finer steps near the floor, the float function unchanged. Same
  weights, G=16: agreement 0.981 / 0.978;
- ``magnitude_directions`` and ``frames_per_group`` trade accuracy and flash for TFLM arena:
  the projections tensor is ``directions x bins`` per frame, the largest in the graph, and
  transforming frames in groups keeps one group's FFT intermediates alive instead of the whole
  clip's (``tools/benchmark_kws_budget.py`` measures them);
- ``pairwise_max``: the magnitude's maximum over directions as halving rounds of MAXIMUM instead
  of one REDUCE_MAX (same values). Off by default (the int8 file keeps its measured arena); for
  int16 activations, where TFLM has no REDUCE_MAX kernel.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from kerasuite.hparams import MAX_FRAME_PIECES as _MAX_FRAME_PIECES  # the config checks it up front too

# Projection directions for the square-free magnitude (power=1.0); see _make_constants.
_MAGNITUDE_DIRECTIONS = 16
# relu6 is the bounded activation TFLite fuses into FULLY_CONNECTED; a cap maps to its top.
_RELU6_TOP = 6.0


def _max_over_directions(projections):
    """``max(projections, axis=2)`` as halving rounds of elementwise MAXIMUM: the same values, but
    no REDUCE_MAX, which TFLM has for float32 and int8 only; with int16 activations (16x8) a float
    REDUCE_MAX would hold the projections, the graph's largest tensor, in float
    (tools/benchmarking/kws_int16_front_end.py --pairwise-max)."""
    while projections.shape[2] > 1:
        half = projections.shape[2] // 2
        paired = ops.maximum(projections[:, :, :half], projections[:, :, half : 2 * half])
        if projections.shape[2] % 2:
            paired = ops.concatenate([paired, projections[:, :, 2 * half :]], axis=2)
        projections = paired
    return projections[:, :, 0]


def hz_to_mel_slaney(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's default, ``htk=False``): linear below 1 kHz, log above."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / (200.0 / 3.0)
    log_step = math.log(6.4) / 27.0
    logarithmic = 15.0 + np.log(np.maximum(hz, 1e-12) / 1000.0) / log_step
    return np.where(hz >= 1000.0, logarithmic, linear)


def mel_to_hz_slaney(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    log_step = math.log(6.4) / 27.0
    return np.where(mel >= 15.0, 1000.0 * np.exp(log_step * (mel - 15.0)), mel * (200.0 / 3.0))


def mel_edges_hz(num_mel_bins: int, lower_hz: float, upper_hz: float) -> np.ndarray:
    """The ``num_mel_bins + 2`` corner frequencies of the triangular filters, evenly spaced in mel:
    filter ``i`` rises from edge ``i``, peaks at edge ``i + 1`` (its centre) and falls to ``i + 2``."""
    return mel_to_hz_slaney(np.linspace(hz_to_mel_slaney(lower_hz), hz_to_mel_slaney(upper_hz), num_mel_bins + 2))


def mel_filterbank(sample_rate: int, fft_length: int, num_mel_bins: int, lower_hz: float, upper_hz: float) -> np.ndarray:
    """Slaney-normalised triangular filters, shape ``[fft_length // 2 + 1, num_mel_bins]``."""
    bin_hz = np.arange(fft_length // 2 + 1) * sample_rate / fft_length
    edges_hz = mel_edges_hz(num_mel_bins, lower_hz, upper_hz)
    widths = np.diff(edges_hz)
    ramps = edges_hz[:, None] - bin_hz[None, :]
    weights = np.zeros((num_mel_bins, len(bin_hz)))
    for i in range(num_mel_bins):
        rising = -ramps[i] / widths[i]
        falling = ramps[i + 2] / widths[i + 1]
        weights[i] = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]  # constant energy per band
    return weights.T


def dct2_orthonormal(num_inputs: int, num_outputs: int) -> np.ndarray:
    """DCT-II with ``norm="ortho"`` (scipy's, as librosa uses), shape ``[num_inputs, num_outputs]``."""
    n = np.arange(num_inputs)[:, None]
    k = np.arange(num_outputs)[None, :]
    basis = np.cos(np.pi * k * (2 * n + 1) / (2 * num_inputs)) * math.sqrt(2.0 / num_inputs)
    basis[:, 0] /= math.sqrt(2.0)
    return basis


def periodic_hann(length: int) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / length)


def normalize_peak(waveform, peak_floor: float):
    """Scale each clip ``[batch, samples]`` to peak 1 if its peak is at least ``peak_floor``;
    quieter clips (near-silence) pass unchanged instead of being blown up to full scale.

    Every normalised clip then fills the same range, so an int8 model spends its 256 levels on
    the clip's own dynamics, not on level differences between clips. Idempotent, so a device
    can apply it before quantizing the input (``kerasuite.runtime.audio.normalize_peak``) and
    the model applying it again changes nothing.

    Spelled for int8 speed (``tools/benchmarking/speech_int8_before_after.py``): TFLite's int8
    DIV and ABS have only slow per-element kernels that XNNPACK does not take, and
    ``waveform / peak`` plus ``abs(waveform)`` over 16000 samples cost ~1 ms, more than the
    whole float32 model. ``max(max(relu(x)), max(relu(-x)))`` is ``max(abs(x))`` exactly, and
    dividing becomes one reciprocal of a single value and a broadcast MUL, fast in every mode.
    The relus matter: a REDUCE_MAX/MIN straight on the input must share the input's int8 scale,
    and through MAXIMUM the converter gave the input the peak's [0, 1] range, cutting off every
    negative sample. In int8 the gain's range is calibrated like any tensor's: on peak-normalised
    calibration clips (what the training pipeline feeds) it is [0, 1] with 1 exact, so the int8
    graph's own normalisation is a no-op and the device must normalise before quantizing, as
    ``signature.json`` says.
    """
    # "* -1.0", not a unary minus: TFLite's NEG has no int8 kernel (it would leave a float island).
    positive = ops.max(ops.relu(waveform), axis=-1, keepdims=True)
    negative = ops.max(ops.relu(waveform * -1.0), axis=-1, keepdims=True)
    peak = ops.maximum(positive, negative)
    return waveform * (1.0 / ops.where(peak >= peak_floor, peak, 1.0))


def matmul_last(x, w):
    """``x [batch, d1, ..., k] @ w [k, m]`` as one 2-D matmul between two reshapes whose targets
    are constants (every dimension but the batch is static here). Keras' N-D ``matmul`` traces
    ``tf.tensordot``, which computes its reshape targets at run time: 26 SHAPE, GATHER,
    REDUCE_PROD and PACK ops and ~50 tensors of the default keyword-spotting model's TFLite
    graph (~5.5 kB of either file), for the same matrix product
    (``tools/benchmarking/speech_size_before_after.py``)."""
    inner = tuple(int(d) for d in x.shape[1:-1])
    product = ops.matmul(ops.reshape(x, (-1, int(x.shape[-1]))), w)
    return ops.reshape(product, (-1, *inner, int(w.shape[-1])))


def _balanced_factor(n: int) -> int:
    """The divisor of ``n`` closest to (and not above) ``sqrt(n)``; 1 when ``n`` is prime."""
    for candidate in range(math.isqrt(n), 0, -1):
        if n % candidate == 0:
            return candidate
    return 1


@keras.saving.register_keras_serializable(package="kerasuite")
class Mfcc(keras.layers.Layer):
    """Waveform ``[batch, samples]`` -> MFCCs ``[batch, frames, num_coefficients]``.

    ``frames = 1 + samples // frame_step`` (centred frames, like librosa). Parameters mirror
    ``librosa.feature.mfcc(y, sr=sample_rate, n_mfcc=num_coefficients, n_fft=fft_length,
    win_length=frame_length, hop_length=frame_step, n_mels=num_mel_bins, fmin=lower_hz,
    fmax=upper_hz)`` with ``power_to_db(amin=amin, top_db=top_db)``; ``top_db=None`` disables the clip.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        frame_length: int = 640,
        frame_step: int = 320,
        fft_length: int = 1024,
        num_mel_bins: int = 40,
        num_coefficients: int = 10,
        lower_hz: float = 20.0,
        upper_hz: float = 4000.0,
        power: float = 2.0,
        peak_floor: float | None = None,
        magnitude_cap: float | None = None,
        mel_cap: float | None = None,
        amin: float = 1e-10,
        top_db: float | None = 80.0,
        lifter: float = 0.0,
        db_offset: float = 0.0,
        mel_low_gain: float = 1.0,
        magnitude_directions: int = _MAGNITUDE_DIRECTIONS,
        frames_per_group: int = 0,
        pairwise_max: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not 0 < frame_step <= frame_length <= fft_length:
            raise ValueError(
                f"Mfcc: need 0 < frame_step <= frame_length <= fft_length, got "
                f"{frame_step}, {frame_length}, {fft_length}"
            )
        if not 0 <= lower_hz < upper_hz <= sample_rate / 2:
            raise ValueError(f"Mfcc: need 0 <= lower_hz < upper_hz <= sample_rate/2, got {lower_hz}, {upper_hz}")
        if not 0 < num_coefficients <= num_mel_bins:
            raise ValueError(f"Mfcc: need 0 < num_coefficients <= num_mel_bins, got {num_coefficients}, {num_mel_bins}")
        if power not in (1.0, 2.0):
            raise ValueError(f"Mfcc: power must be 1.0 (magnitude) or 2.0 (power), got {power}")
        if peak_floor is not None and peak_floor <= 0:
            raise ValueError(f"Mfcc: peak_floor must be positive or None, got {peak_floor}")
        if magnitude_cap is not None and (power != 1.0 or magnitude_cap <= 0):
            raise ValueError(f"Mfcc: magnitude_cap needs power=1.0 and a positive value, got {magnitude_cap}")
        if mel_cap is not None and mel_cap <= amin:
            raise ValueError(f"Mfcc: mel_cap must be above amin, got {mel_cap}")
        if amin <= 0:
            raise ValueError(f"Mfcc: amin must be positive, got {amin}")
        if lifter < 0:
            raise ValueError(f"Mfcc: lifter must be >= 0 (0 = off), got {lifter}")
        if mel_low_gain < 1.0:
            raise ValueError(f"Mfcc: mel_low_gain must be >= 1 (1 = off), got {mel_low_gain}")
        if mel_low_gain > 1.0 and (mel_cap is None or amin * mel_low_gain >= mel_cap):
            raise ValueError(f"Mfcc: mel_low_gain {mel_low_gain} needs mel_cap set and amin * mel_low_gain below "
                             f"mel_cap, got mel_cap {mel_cap}, amin {amin}")
        if magnitude_directions < 4:
            raise ValueError(f"Mfcc: magnitude_directions must be >= 4, got {magnitude_directions}")
        if frames_per_group < 0:
            raise ValueError(f"Mfcc: frames_per_group must be >= 0 (0 = all frames at once), got {frames_per_group}")
        chunk = math.gcd(frame_length, frame_step)
        if frame_length // chunk > _MAX_FRAME_PIECES:
            raise ValueError(
                f"Mfcc: frame_length {frame_length} / gcd(frame_length, frame_step) {chunk} is above "
                f"{_MAX_FRAME_PIECES}; pick a frame_step that divides frame_length more evenly"
            )
        self.sample_rate = int(sample_rate)
        self.frame_length = int(frame_length)
        self.frame_step = int(frame_step)
        self.fft_length = int(fft_length)
        self.num_mel_bins = int(num_mel_bins)
        self.num_coefficients = int(num_coefficients)
        self.lower_hz = float(lower_hz)
        self.upper_hz = float(upper_hz)
        self.power = float(power)
        self.peak_floor = None if peak_floor is None else float(peak_floor)
        self.magnitude_cap = None if magnitude_cap is None else float(magnitude_cap)
        self.mel_cap = None if mel_cap is None else float(mel_cap)
        # Capped tensors are carried in units of cap / 6 so relu6 does the capping.
        self._magnitude_unit = 1.0 if magnitude_cap is None else self.magnitude_cap / _RELU6_TOP
        self._mel_unit = 1.0 if mel_cap is None else self.mel_cap / _RELU6_TOP
        self.amin = float(amin)
        self.top_db = None if top_db is None else float(top_db)
        self.lifter = float(lifter)
        self.db_offset = float(db_offset)
        self.mel_low_gain = float(mel_low_gain)
        self.magnitude_directions = int(magnitude_directions)
        self.frames_per_group = int(frames_per_group)
        self.pairwise_max = bool(pairwise_max)
        self._chunk = chunk
        self._constants = self._make_constants()

    # -- constants ---------------------------------------------------------------------------
    def _make_constants(self) -> dict[str, np.ndarray]:
        mel = mel_filterbank(self.sample_rate, self.fft_length, self.num_mel_bins, self.lower_hz, self.upper_hz)
        used = np.nonzero(mel.any(axis=1))[0]
        num_bins = int(used[-1]) + 1 if len(used) else 1  # bins above the top filter are never needed
        n2 = _balanced_factor(self.fft_length)  # inner (stride) size of the Cooley-Tukey split
        n1 = self.fft_length // n2
        rows = -(-self.frame_length // n2)  # frame reshaped to [rows, n2]; rows <= n1
        k2_count = (num_bins - 1) // n1 + 1  # bin k = k1 + n1 * k2, only k < num_bins is used
        self._n1, self._n2, self._rows, self._k2_count = n1, n2, rows, k2_count

        angle1 = -2.0 * np.pi * np.outer(np.arange(rows), np.arange(n1)) / n1  # [rows(n1 idx), k1]
        stage1 = np.concatenate([np.cos(angle1), np.sin(angle1)], axis=1)  # [rows, 2*n1]
        twiddle = -2.0 * np.pi * np.outer(np.arange(n2), np.arange(n1)) / self.fft_length  # [n2, k1]
        angle2 = -2.0 * np.pi * np.outer(np.arange(n2), np.arange(k2_count)) / n2  # [n2, k2]
        cos2, sin2 = np.cos(angle2), np.sin(angle2)
        # (Br + i Bi)(c + i s) = (Br c - Bi s) + i (Br s + Bi c), as one matmul of [Br | Bi]
        if self.power == 2.0:
            stage2 = np.block([[cos2, sin2], [-sin2, cos2]])  # [2*n2, 2*k2]: real | imag
        else:
            # |z| = max over directions a of relu(Re(z) cos a + Im(z) sin a); with J directions
            # around the circle the max lies within cos(pi / J) of |z|, and the scale below
            # centres the error (+-0.97% for J=16). Folded into the matmul, the magnitude needs
            # no square: an int8 tensor keeps 48 dB of magnitude where a power tensor keeps 24.
            directions = self.magnitude_directions
            angles = 2.0 * np.pi * np.arange(directions) / directions
            scale = 2.0 / (1.0 + math.cos(np.pi / directions)) / self._magnitude_unit
            real = np.concatenate([cos2 * np.cos(a) + sin2 * np.sin(a) for a in angles], axis=1)
            imag = np.concatenate([-sin2 * np.cos(a) + cos2 * np.sin(a) for a in angles], axis=1)
            stage2 = np.concatenate([real, imag], axis=0) * scale  # [2*n2, J*k2]
        # Power arrives ordered (k1, k2); reorder the filterbank rows to match, zero for k >= num_bins.
        k_of = np.arange(n1)[:, None] + n1 * np.arange(k2_count)[None, :]
        mel_rows = np.zeros((n1, k2_count, self.num_mel_bins))
        valid = k_of < num_bins
        mel_rows[valid] = mel[k_of[valid]]
        mel_rows *= self._magnitude_unit / self._mel_unit  # input and output in their carried units
        f32 = np.float32
        return {
            "window": periodic_hann(self.frame_length).astype(f32),
            "stage1": stage1.astype(f32),
            "twiddle_cos": np.cos(twiddle).astype(f32),
            "twiddle_sin": np.sin(twiddle).astype(f32),
            "stage2": stage2.astype(f32),
            "mel": mel_rows.reshape(n1 * k2_count, self.num_mel_bins).astype(f32),
            "dct": (dct2_orthonormal(self.num_mel_bins, self.num_coefficients) * self._lifter_gains()).astype(f32),
        }

    @property
    def dct_matrix(self) -> np.ndarray:
        """``[num_mel_bins, num_coefficients]``: log-mel (dB) -> MFCCs, lifter gains included."""
        return self._constants["dct"].copy()

    def _lifter_gains(self) -> np.ndarray:
        """librosa's ``mfcc(lifter=L)``: coefficient k times ``1 + L/2 sin(pi (k+1) / L)``."""
        if not self.lifter:
            return np.ones(self.num_coefficients)
        return 1.0 + (self.lifter / 2.0) * np.sin(np.pi * np.arange(1, self.num_coefficients + 1) / self.lifter)

    def num_frames(self, num_samples: int) -> int:
        return 1 + int(num_samples) // self.frame_step

    # -- graph -------------------------------------------------------------------------------
    def _frame_chunks(self, waveform):
        """``[batch, samples]`` -> the centre-padded signal as ``[batch, chunks, gcd]``."""
        num_samples = int(waveform.shape[-1])
        frames = self.num_frames(num_samples)
        pad = self.frame_length // 2
        chunk = self._chunk
        stride = self.frame_step // chunk
        num_chunks = (frames - 1) * stride + self.frame_length // chunk
        tail = num_chunks * chunk - (num_samples + pad)  # may be negative: crop instead of pad
        padded = ops.pad(waveform, [[0, 0], [pad, max(tail, 0)]])
        if tail < 0:
            padded = padded[:, : num_chunks * chunk]
        return ops.reshape(padded, (-1, num_chunks, chunk))

    def _frames(self, chunks, first: int, count: int):
        """Frames ``first .. first + count - 1`` as ``[batch, count, frame_length]``: each frame
        is the concatenation of ``frame_length / gcd`` strided slices of the chunks."""
        stride = self.frame_step // self._chunk
        pieces = self.frame_length // self._chunk
        start, span = first * stride, (count - 1) * stride + 1
        parts = [chunks[:, start + i : start + i + span : stride, :] for i in range(pieces)]
        return parts[0] if pieces == 1 else ops.concatenate(parts, axis=-1)

    def _mel(self, frames, c):
        """Frames ``[batch, t, frame_length]`` -> mel ``[batch, t, num_mel_bins]`` in carried
        units (relu6-capped when ``mel_cap`` is set), and the ``mel_low_gain`` times larger copy
        (None when the gain is off)."""
        frames = frames * c["window"]
        n1, n2, rows, k2 = self._n1, self._n2, self._rows, self._k2_count
        if rows * n2 != self.frame_length:
            frames = ops.pad(frames, [[0, 0], [0, 0], [0, rows * n2 - self.frame_length]])
        num_frames = int(frames.shape[1])
        grid = ops.transpose(ops.reshape(frames, (-1, num_frames, rows, n2)), (0, 1, 3, 2))  # [b,t,n2,rows]
        stage1 = matmul_last(grid, c["stage1"])  # [b, t, n2, 2*n1]
        real, imag = stage1[..., :n1], stage1[..., n1:]
        twisted_real = real * c["twiddle_cos"] - imag * c["twiddle_sin"]
        twisted_imag = real * c["twiddle_sin"] + imag * c["twiddle_cos"]
        twisted = ops.concatenate(
            [ops.transpose(twisted_real, (0, 1, 3, 2)), ops.transpose(twisted_imag, (0, 1, 3, 2))], axis=-1
        )  # [b, t, k1, 2*n2]
        spectrum = matmul_last(twisted, c["stage2"])  # [b, t, k1, 2*k2] or [b, t, k1, J*k2]
        if self.power == 2.0:
            real, imag = spectrum[..., :k2], spectrum[..., k2:]
            magnitude = real * real + imag * imag  # MUL, not SQUARE: SQUARE has no int8 kernel
        else:
            # relu/relu6 fuse into the matmul; relu6 bounds the int8 range at magnitude_cap, so
            # rare loud peaks do not take resolution from every other clip.
            projections = ops.relu6(spectrum) if self.magnitude_cap is not None else ops.relu(spectrum)
            projections = ops.reshape(projections, (-1, n1, self.magnitude_directions, k2))
            magnitude = _max_over_directions(projections) if self.pairwise_max else ops.max(projections, axis=2)
        magnitude = ops.reshape(magnitude, (-1, num_frames, n1 * k2))
        mel = matmul_last(magnitude, c["mel"])
        low = matmul_last(magnitude, c["mel"] * self.mel_low_gain) if self.mel_low_gain > 1.0 else None
        if self.mel_cap is not None:
            mel = ops.relu6(mel)
            low = None if low is None else ops.relu6(low)
        return mel, low

    def _log(self, mel, low):
        """``log(max(mel, floor))``. With ``mel_low_gain`` G the small values come from ``low``
        (``min(G * mel, 6)``): ``a = log(max(low, G floor)) - log G`` is exact below 6/G, ``b =
        log(max(mel, floor))`` above, and ``a + relu(b - log(6/G))`` equals ``log(max(mel, floor))``
        in float for every value. In int8 each LOG reads its own int8 tensor (kept in float on the
        device), so values near the floor get G times finer steps than one linear int8 tensor
        gives them (one step at the default floor: 2 dB with one tensor, 0.13 dB with G=16)."""
        floor = self.amin / self._mel_unit
        high = ops.log(ops.maximum(mel, floor))
        if low is None:
            return high
        gain = self.mel_low_gain
        fine = ops.log(ops.maximum(low, floor * gain)) - math.log(gain)
        return fine + ops.relu(high - math.log(_RELU6_TOP / gain))

    def log_mel(self, waveform):
        """Log-mel power in dB, ``[batch, frames, num_mel_bins]`` (the MFCCs before the DCT)."""
        c = {name: ops.convert_to_tensor(value) for name, value in self._constants.items()}
        waveform = ops.cast(waveform, "float32")
        if self.peak_floor is not None:
            waveform = normalize_peak(waveform, self.peak_floor)
        chunks = self._frame_chunks(waveform)
        total = self.num_frames(int(waveform.shape[-1]))
        group = self.frames_per_group or total
        # Frame groups run one after the other: the FFT's large intermediates of one group are
        # dead before the next group starts, so the arena holds one group's, not all frames'.
        pieces = [self._mel(self._frames(chunks, first, min(group, total - first)), c)
                  for first in range(0, total, group)]
        mel = ops.concatenate([m for m, _ in pieces], axis=1) if len(pieces) > 1 else pieces[0][0]
        low = None
        if pieces[0][1] is not None:
            low = ops.concatenate([l for _, l in pieces], axis=1) if len(pieces) > 1 else pieces[0][1]
        # 10*log10 via the natural log: LOG is a builtin, LOG10 is not.
        # The offset rides on the ADD that is there anyway (in natural-log units).
        offset = math.log(self._mel_unit) + self.db_offset * math.log(10.0) / 10.0
        decibels = (self._log(mel, low) + offset) * (10.0 / math.log(10.0))
        if self.top_db is not None:
            loudest = ops.max(decibels, axis=(1, 2), keepdims=True)
            decibels = ops.maximum(decibels, loudest - self.top_db)
        return decibels

    def call(self, waveform):
        return matmul_last(self.log_mel(waveform), ops.convert_to_tensor(self._constants["dct"]))

    def compute_output_shape(self, input_shape):
        samples = input_shape[-1]
        frames = None if samples is None else self.num_frames(samples)
        return (input_shape[0], frames, self.num_coefficients)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sample_rate": self.sample_rate,
                "frame_length": self.frame_length,
                "frame_step": self.frame_step,
                "fft_length": self.fft_length,
                "num_mel_bins": self.num_mel_bins,
                "num_coefficients": self.num_coefficients,
                "lower_hz": self.lower_hz,
                "upper_hz": self.upper_hz,
                "power": self.power,
                "peak_floor": self.peak_floor,
                "magnitude_cap": self.magnitude_cap,
                "mel_cap": self.mel_cap,
                "amin": self.amin,
                "top_db": self.top_db,
                "lifter": self.lifter,
                "db_offset": self.db_offset,
                "mel_low_gain": self.mel_low_gain,
                "magnitude_directions": self.magnitude_directions,
                "frames_per_group": self.frames_per_group,
                "pairwise_max": self.pairwise_max,
            }
        )
        return config
