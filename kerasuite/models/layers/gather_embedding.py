"""An Embedding whose TFLite export is one builtin GATHER on the int32 ids.

Keras 3's ``Embedding`` looks ids up with ``ops.take``, which on TensorFlow first wraps negative
ids (``LESS``, ``ADD`` and ``SELECT`` on int32). TensorFlow Lite Micro has no ``SELECT`` and no
int32 ``SELECT_V2``, so every text model was refused at load ("Didn't find op for builtin opcode
'SELECT'"). Token ids are never negative (the vectorizer emits 0..vocabulary-1), so the wrap
does nothing here; this subclass looks ids up with a plain ``tf.gather`` on the TensorFlow
backend and is Keras' own ``Embedding`` everywhere else (same arguments, weights and config, so a
``.keras`` file round-trips with ``safe_mode=True``).
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasuite")
class GatherEmbedding(keras.layers.Embedding):
    def call(self, inputs):
        if keras.backend.backend() != "tensorflow" or getattr(self, "lora_enabled", False) \
                or getattr(self, "quantization_mode", None):
            return super().call(inputs)
        import tensorflow as tf

        if inputs.dtype not in ("int32", "int64"):
            inputs = ops.cast(inputs, "int32")
        return ops.cast(tf.gather(self.embeddings, inputs), dtype=self.compute_dtype)
