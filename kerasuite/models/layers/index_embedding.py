"""An embedding lookup that converts to a bare TFLite GATHER (two-tower id inputs)."""

from __future__ import annotations

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="kerasuite")
class IndexEmbedding(layers.Embedding):
    """``keras.layers.Embedding`` whose lookup converts to a bare TFLite GATHER.

    Keras' TensorFlow ``take`` wraps the indices in a negative-index fix-up (LESS, ADD and a
    SELECT_V2 on int32, which TFLM has no kernel for). Indices here are never negative (0 is the
    unknown/padding row), so the fix-up is dead weight in the exported query tower.
    """

    def call(self, inputs):
        if keras.backend.backend() != "tensorflow":
            return super().call(inputs)
        import tensorflow as tf

        return tf.gather(ops.convert_to_tensor(self.embeddings), ops.cast(inputs, "int32"))
