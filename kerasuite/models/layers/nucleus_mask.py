"""Masking of a clip's loudest frames (the vowel nucleus of a short word), in training only.

A keyword model can tell most words apart by their vowel alone, and then learns nothing else:
where an accent moves a word's vowel onto another word's (espeak-ng's Caribbean "up" sounds like
the British "off"), only the consonants still decide, and a model that never needed them fails.
With probability ``probability`` an example's frames whose mean log-mel lies within
``below_db`` of the clip's loudest frame are set to zero (the mean of the normalised map), so
the model must also classify from the onset and coda around them. Outside training the layer
returns its input object unchanged, so no op of it reaches an exported graph.

The loudness is read from the front end's c0 (``c0_per_db`` = c0 per dB of mean log-mel, the
sum of the DCT's first column; a lifter leaves c0 unchanged), the mask is applied to the
normalised map.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasuite")
class NucleusMask(keras.layers.Layer):
    """``[normalised map [batch, frames, coefficients, 1], MFCCs [batch, frames, coefficients]]``
    -> the map, its loudest frames zeroed for a random share of examples in training."""

    def __init__(self, probability: float = 0.5, below_db: float = 6.0, c0_per_db: float = 1.0,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= probability <= 1.0 or below_db < 0 or c0_per_db <= 0:
            raise ValueError("NucleusMask: probability in [0, 1], below_db >= 0 and c0_per_db > 0")
        self.probability, self.below_db, self.c0_per_db = float(probability), float(below_db), float(c0_per_db)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        normalised, mfcc = inputs
        if not training:
            return normalised
        loudness_db = mfcc[:, :, 0] / self.c0_per_db  # [batch, frames]
        nucleus = loudness_db >= ops.max(loudness_db, axis=1, keepdims=True) - self.below_db
        chosen = keras.random.uniform((ops.shape(mfcc)[0], 1), seed=self.seed_generator) < self.probability
        keep = 1.0 - ops.cast(ops.logical_and(nucleus, chosen), normalised.dtype)
        return normalised * keep[:, :, None, None]

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        config = super().get_config()
        config.update({"probability": self.probability, "below_db": self.below_db,
                       "c0_per_db": self.c0_per_db, "seed": self.seed})
        return config
