"""Training-only dropout of history items, drawn inside the model.

Inside the model rather than in the data pipeline (where it was until 2026-12-06) because an
ensemble of towers in one graph (``model.two_tower.members``) needs each member to see its own
draw: with one shared draw the members train on identical inputs and agree more than independent
runs do. Dropped slots become the padding index 0 and the rest keep their positions (the pooling
ignores padding). Outside training the layer returns its input unchanged, so no op of it reaches an
exported graph.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasuite")
class HistoryDropout(keras.layers.Layer):
    """``int [batch, length]`` item indices -> the same with each slot set to the padding index 0
    with probability ``rate``, in training only."""

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"HistoryDropout: rate must be in [0, 1), got {rate}")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, history, training=None):
        if not training or self.rate == 0.0:
            return history
        keep = keras.random.uniform(ops.shape(history), seed=self.seed_generator) >= self.rate
        return history * ops.cast(keep, history.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config
