"""Keras' ``CategoryEncoding`` (one_hot, multi_hot, count) as rows of an identity table.

Keras encodes categories through a float tensor and a cast back to integers. In a full-integer
int8 file that float id is quantized (ids 0..9 become steps of 9/255), and the cast back
truncates: id 3 dequantizes to 2.9999 and becomes 2, so the int8 file one-hot encoded the wrong
category for most ids (a user model's top-1 agreement with Keras: 0.59). Here the int32 ids look
up rows of a constant identity matrix (one GATHER, which TFLM runs; Keras' path also needs
ONE_HOT, which TFLM lacks), then take the maximum (multi_hot) or the sum (count) over the ids of a
row. Rows of 0s and 1s are exact in int8, so every mode gives Keras' outputs.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="kerasuite")
class GatherCategoryEncoding(keras.layers.Layer):
    """``CategoryEncoding(num_tokens, output_mode)`` for ``one_hot``, ``multi_hot`` and ``count``
    on dense ids ``[batch]`` or ``[batch, ids]`` (multi_hot and count: ``[batch, ids]``), without
    count weights: the inputs :func:`swappable` lets through."""

    MODES = ("one_hot", "multi_hot", "count")

    def __init__(self, num_tokens: int, output_mode: str = "multi_hot", **kwargs: Any) -> None:
        kwargs.pop("sparse", None)
        super().__init__(**kwargs)
        if output_mode not in self.MODES:
            raise ValueError(f"output_mode must be one of {self.MODES}, got {output_mode!r}")
        self.num_tokens = int(num_tokens)
        self.output_mode = output_mode

    def build(self, input_shape=None):
        self.built = True  # no weights: the table is a constant, so the clone keeps the model's weight list

    def call(self, inputs):
        ids = ops.cast(inputs, "int32") if inputs.dtype not in ("int32", "int64") else inputs
        if self.output_mode == "one_hot" and len(ids.shape) >= 2 and ids.shape[-1] == 1:
            ids = ops.squeeze(ids, -1)
        table = ops.convert_to_tensor(np.eye(self.num_tokens, dtype="float32"))
        rows = ops.cast(_gather(table, ids), self.compute_dtype)
        if self.output_mode == "one_hot":
            return rows
        return ops.max(rows, axis=-2) if self.output_mode == "multi_hot" else ops.sum(rows, axis=-2)

    def compute_output_shape(self, input_shape):
        if self.output_mode == "one_hot":
            kept = input_shape[:-1] if len(input_shape) >= 2 and input_shape[-1] == 1 else input_shape
            return (*kept, self.num_tokens)
        return (*input_shape[:-1], self.num_tokens)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(num_tokens=self.num_tokens, output_mode=self.output_mode)
        return config


def _gather(table, ids):
    if keras.backend.backend() != "tensorflow":
        return ops.take(table, ids, axis=0)
    import tensorflow as tf

    return tf.gather(table, ids)  # one GATHER: ops.take adds a negative-id wrap (int32 SELECT_V2)


def swappable(layer) -> bool:
    """A ``CategoryEncoding`` this layer reproduces exactly."""
    if type(layer) is not keras.layers.CategoryEncoding or getattr(layer, "sparse", False):
        return False
    rank = len(layer.input.shape)
    return layer.output_mode in GatherCategoryEncoding.MODES and (rank == 2 or (rank == 1 and layer.output_mode == "one_hot"))
