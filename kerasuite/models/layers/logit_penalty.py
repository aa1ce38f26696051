"""Spectral decoupling's penalty on the logits (Pezeshki et al., NeurIPS 2021).

Cross-entropy stops pushing once one feature separates the training examples; the features
learnt later get little gradient ("gradient starvation"). Adding ``penalty / 2 * mean ||z||^2``
over the batch's logits ``z`` keeps any one feature from driving the logits far, which
decouples their learning. The layer passes its input through unchanged and adds the term as a
loss in training only; the exported graph has none of it.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasuite")
class LogitPenalty(keras.layers.Layer):
    def __init__(self, penalty: float, **kwargs):
        super().__init__(**kwargs)
        if penalty < 0:
            raise ValueError(f"LogitPenalty: penalty must be >= 0, got {penalty}")
        self.penalty = float(penalty)

    def call(self, logits, training=None):
        if training and self.penalty:
            self.add_loss(0.5 * self.penalty * ops.mean(ops.sum(ops.square(logits), axis=-1)))
        return logits

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"penalty": self.penalty})
        return config
