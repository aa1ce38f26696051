"""SpecAugment-style masking (Park et al., 2019) of the in-graph MFCC map, in training only.

Each example gets ``time_masks`` bands of up to ``time_mask_frames`` consecutive frames and
``frequency_masks`` bands of up to ``frequency_mask_coefficients`` consecutive coefficients set
to zero (the mean, as the layer sits after the per-coefficient normalisation). Outside training
the layer returns its input object unchanged, so no op of it reaches an exported graph.
"""

from __future__ import annotations

import keras
from keras import ops


def _band_keep(batch, size: int, bands: int, max_width: int, seed_generator):
    """``[batch, size]`` float: 0 inside ``bands`` random bands of width 0..max_width, else 1."""
    keep = ops.ones((batch, size))
    positions = ops.cast(ops.arange(size), "float32")[None, :]
    for _ in range(bands):
        width = ops.floor(keras.random.uniform((batch, 1), seed=seed_generator) * (max_width + 1))
        start = ops.floor(keras.random.uniform((batch, 1), seed=seed_generator) * (size - width + 1))
        inside = ops.logical_and(positions >= start, positions < start + width)
        keep = keep * (1.0 - ops.cast(inside, "float32"))
    return keep


@keras.saving.register_keras_serializable(package="kerasuite")
class SpecAugment(keras.layers.Layer):
    """``[batch, frames, coefficients, channels]`` -> the same, masked in training only."""

    def __init__(self, time_masks: int = 2, time_mask_frames: int = 8, frequency_masks: int = 1,
                 frequency_mask_coefficients: int = 2, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if min(time_masks, time_mask_frames, frequency_masks, frequency_mask_coefficients) < 0:
            raise ValueError("SpecAugment: mask counts and widths must be >= 0")
        self.time_masks, self.time_mask_frames = int(time_masks), int(time_mask_frames)
        self.frequency_masks, self.frequency_mask_coefficients = int(frequency_masks), int(frequency_mask_coefficients)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        batch = ops.shape(inputs)[0]
        frames, coefficients = int(inputs.shape[1]), int(inputs.shape[2])
        keep_time = _band_keep(batch, frames, self.time_masks, min(self.time_mask_frames, frames), self.seed_generator)
        keep_coefficients = _band_keep(batch, coefficients, self.frequency_masks,
                                       min(self.frequency_mask_coefficients, coefficients), self.seed_generator)
        keep = keep_time[:, :, None, None] * keep_coefficients[:, None, :, None]
        return inputs * ops.cast(keep, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"time_masks": self.time_masks, "time_mask_frames": self.time_mask_frames,
                       "frequency_masks": self.frequency_masks,
                       "frequency_mask_coefficients": self.frequency_mask_coefficients, "seed": self.seed})
        return config
