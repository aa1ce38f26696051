"""Vocal tract length perturbation (VTLP, Jaitly and Hinton, 2013) of in-graph MFCCs, in training only.

A longer or shorter vocal tract moves every formant by about the same factor. VTLP imitates a new
speaker by warping the frequency axis of the spectral envelope by a random factor ``alpha`` per
example. Here the warp acts on the MFCCs the front end already produced: the coefficients are the
cepstrally smoothed log-mel envelope, so ``inverse DCT -> resample the mel bands at f / alpha ->
DCT`` is one fixed ``coefficients x coefficients`` matrix per ``alpha``. The layer keeps a bank of
them and multiplies each example by one drawn at random. Unlike speed perturbation it leaves the
timing and the waveform alone. Outside training the layer returns its input object unchanged, so
no op of it reaches an exported graph.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from kerasuite.models.layers.mfcc import mel_edges_hz


def band_centres_hz(num_mel_bins: int, lower_hz: float, upper_hz: float) -> np.ndarray:
    """Centre frequencies of the front end's triangular mel filters (``mfcc.mel_filterbank``)."""
    return mel_edges_hz(num_mel_bins, lower_hz, upper_hz)[1:-1]


def band_warp(centres_hz: np.ndarray, alpha: float) -> np.ndarray:
    """``[bands, bands]`` matrix ``P`` with ``warped = log_mel @ P``: band ``m`` of the warped
    envelope reads the original at ``centre_m / alpha`` (linear interpolation between band
    centres, held at the edge bands), so ``alpha > 1`` moves formants up."""
    bands = len(centres_hz)
    positions = np.interp(centres_hz / alpha, centres_hz, np.arange(bands, dtype=np.float64))
    low = np.floor(positions).astype(int)
    high = np.minimum(low + 1, bands - 1)
    share = positions - low
    matrix = np.zeros((bands, bands))
    matrix[low, np.arange(bands)] += 1.0 - share
    matrix[high, np.arange(bands)] += share
    return matrix


def cepstral_warp_bank(dct: np.ndarray, centres_hz: np.ndarray, max_warp: float, steps: int = 9) -> np.ndarray:
    """``[steps, coefficients, coefficients]``: for each ``alpha`` in ``linspace(1 - max_warp, 1 +
    max_warp, steps)``, ``pinv(dct) @ band_warp(alpha) @ dct``. ``dct`` is the front end's
    ``[bands, coefficients]`` matrix (lifter gains included), so ``mfcc @ pinv(dct)`` is the
    smoothed log-mel; at ``alpha = 1`` the matrix is the identity."""
    inverse = np.linalg.pinv(dct)  # [coefficients, bands]
    alphas = np.linspace(1.0 - max_warp, 1.0 + max_warp, steps)
    return np.stack([inverse @ band_warp(centres_hz, a) @ dct for a in alphas]).astype(np.float32)


@keras.saving.register_keras_serializable(package="kerasuite")
class CepstralWarp(keras.layers.Layer):
    """``[batch, frames, coefficients]`` MFCCs -> the same, each example warped by a random
    ``alpha`` from the bank (``cepstral_warp_bank``) in training only."""

    def __init__(self, bank, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.bank = np.asarray(bank, np.float32)
        if self.bank.ndim != 3 or self.bank.shape[1] != self.bank.shape[2]:
            raise ValueError(f"CepstralWarp: bank must be [steps, coefficients, coefficients], got {self.bank.shape}")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        steps = self.bank.shape[0]
        pick = keras.random.randint((ops.shape(inputs)[0],), 0, steps, seed=self.seed_generator)
        matrices = ops.take(ops.convert_to_tensor(self.bank), pick, axis=0)  # [batch, c, c]
        return ops.einsum("btc,bcd->btd", inputs, ops.cast(matrices, inputs.dtype))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"bank": self.bank.tolist(), "seed": self.seed})
        return config
