"""Training-only dropout of history items, drawn inside the model.

The data pipeline's ``history_dropout_augment`` empties the same slots for every consumer of a
batch; an ensemble of towers in one graph (``model.two_tower.members``) needs each member to see
its own draw, or the members train on identical inputs and agree more than independent runs do.
Outside training the layer returns its input object unchanged, so no op of it reaches an exported
graph.
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
