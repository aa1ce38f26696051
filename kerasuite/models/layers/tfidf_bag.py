"""A TF-IDF-weighted, L2-normalised bag of id embeddings: a linear model on TF-IDF features, on device.

For a row of ids (0 = padding) the layer computes ``sum_i w_i * table[id_i]`` over positions
with ``w = idf[ids] / ||idf[ids]||``. With each id at most once that is exactly the product of an
L2-normalised binary-tf TF-IDF vector with ``table``; an id repeated ``r`` times (the featurizer's
``log2`` repeats, ``r = 1 + floor(log2 count)``) weighs ``r * idf``, a sublinear term frequency,
normalised by ``sqrt(sum r * idf^2)`` (kerasuite/models/tfidf_solver.py builds the same matrix). With ``units`` = number of classes and a
bias, that is logistic regression on TF-IDF features (the scikit-learn peer's model); with fewer
units it is a low-rank bag (fastText) feeding a head.

``scale`` multiplies the bag: Adam moves each stored weight by about the learning rate per step,
so a scale of 10 lets a linear model's logits grow 10x faster at the task's learning rate (manpages,
seed 42: learning rate 0.02 unscaled reached test accuracy 0.858 in 10 epochs, 2e-3 0.832 in 15).

``split_at`` > 0 normalises two kinds of ids apart: ids below it (words and word bigrams) and from
it on (character n-grams) each get unit L2 norm, as the peer's union of a word and a character
``TfidfVectorizer`` does. Normalised together, the many character n-grams drown the words: the
peer itself lost 0.6-1.1 points that way (tools/benchmarking/text_peer_variants.py).

``idf`` is a non-trainable weight computed from the training split (``idf[0] = 0``, so padding
contributes nothing and needs no mask); so is ``second_kind`` (1.0 for ids from ``split_at`` on),
a table rather than a comparison on the ids so the graph stays GATHER/MUL/SUM. The export is
GATHER (idf, second_kind and table), the L2 normalisation (MUL, SUM, RSQRT), MUL and one
BATCH_MATMUL for the weighted sum over positions: builtins in every mode (TFLM included).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


def inverse_document_frequency(id_rows: np.ndarray, num_ids: int) -> np.ndarray:
    """Smoothed idf as scikit-learn's ``TfidfVectorizer``: ``ln((1 + n) / (1 + df)) + 1``; id 0 -> 0."""
    rows = np.asarray(id_rows)
    frequency = np.zeros(num_ids, np.float64)
    for row in rows:
        frequency[np.unique(row)] += 1
    idf = np.log((1.0 + len(rows)) / (1.0 + frequency)) + 1.0
    idf[0] = 0.0
    return idf.astype(np.float32)


@keras.saving.register_keras_serializable(package="kerasuite")
class TfidfBag(keras.layers.Layer):
    """``int32 ids [batch, length]`` -> ``[batch, units]`` (module docstring)."""

    def __init__(self, num_ids: int, units: int, use_bias: bool = False, l2: float = 0.0, scale: float = 1.0,
                 split_at: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.num_ids, self.units, self.use_bias, self.l2 = int(num_ids), int(units), bool(use_bias), float(l2)
        self.scale = float(scale)
        self.split_at = int(split_at)
        if not 0 <= self.split_at < self.num_ids:
            raise ValueError(f"TfidfBag: split_at must be in [0, num_ids={self.num_ids}), got {self.split_at}")

    def build(self, input_shape):
        self.idf = self.add_weight(name="idf", shape=(self.num_ids,), initializer="ones", trainable=False)
        if self.split_at:
            second = np.zeros(self.num_ids, np.float32)
            second[self.split_at:] = 1.0
            self.second_kind = self.add_weight(name="second_kind", shape=(self.num_ids,), trainable=False,
                                               initializer=keras.initializers.Constant(second))
        regularizer = keras.regularizers.L2(self.l2) if self.l2 else None
        # zeros for the linear model (logistic regression starts there); small random for a bag
        initializer = "zeros" if self.use_bias else keras.initializers.RandomUniform(-0.05, 0.05)
        self.table = self.add_weight(name="table", shape=(self.num_ids, self.units), initializer=initializer,
                                     regularizer=regularizer)
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros") if self.use_bias else None

    def call(self, ids):
        ids = ops.cast(ids, "int32")
        weights = _gather(self.idf, ids)
        squares = weights * weights
        if self.split_at:
            second = _gather(self.second_kind, ids)
            first = 1.0 - second
            inverse_norm = (first * _inverse_norm(squares * first) + second * _inverse_norm(squares * second))
        else:
            inverse_norm = _inverse_norm(squares)
        weights = weights * (self.scale * inverse_norm)
        # one BATCH_MATMUL, not MUL then SUM: int8 products accumulate in int32 before one rounding
        # (tools/benchmarking/ngram_int8_order.py: fortunes, NB solver, agreement 0.910 -> 0.949)
        bag = ops.squeeze(ops.matmul(ops.expand_dims(weights, 1), _gather(self.table, ids)), axis=1)
        return bag + self.bias if self.use_bias else bag

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def get_config(self):
        return {**super().get_config(), "num_ids": self.num_ids, "units": self.units,
                "use_bias": self.use_bias, "l2": self.l2, "scale": self.scale, "split_at": self.split_at}


def _inverse_norm(squares):
    return ops.rsqrt(ops.maximum(ops.sum(squares, axis=-1, keepdims=True), 1e-12))


def _gather(table, ids):
    # a plain tf.gather exports as one GATHER (ops.take adds the SELECT TFLM lacks; GatherEmbedding)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.gather(table, ids)
    return ops.take(table, ids, axis=0)
