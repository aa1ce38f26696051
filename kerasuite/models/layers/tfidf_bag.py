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
a table rather than a comparison on the ids so the graph stays GATHER/MUL. The export is
GATHER (idf, second_kind and table), the L2 normalisation (BATCH_MATMUL for each sum of squares,
RSQRT, MUL), and one BATCH_MATMUL for the weighted sum over positions: builtins in every mode
(TFLM included).

``logit_clip`` (linear model only): ``(low, high)`` bounds for the logits, chosen by the solver so
that no validation text's decision changes (:func:`decision_range`). Softmax and argmax only need
the logits near the top; without the clip int8 spreads its 256 steps over every logit calibration
saw (fortunes, NB solver: 43 wide, 0.17 a step, where 3% of test texts have a top-2 gap under
0.03). A confident text's top probability is lower with the clip (its logit stops at ``high``).
Together with :func:`int8_grid` (the solver puts a frozen table on the grid int8 will store it on)
this makes the Keras model one its int8 file computes closely (README, "int8 on near ties").
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
                 split_at: int = 0, logit_clip=None, **kwargs):
        super().__init__(**kwargs)
        self.num_ids, self.units, self.use_bias, self.l2 = int(num_ids), int(units), bool(use_bias), float(l2)
        self.scale = float(scale)
        self.split_at = int(split_at)
        self.logit_clip = None if logit_clip is None else (float(logit_clip[0]), float(logit_clip[1]))
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
        if self.split_at:
            second = _gather(self.second_kind, ids)
            # each kind scaled before the sum: one int8 rounding at the bag's range, not two
            weights = _unit_norm(weights * (1.0 - second), self.scale) + _unit_norm(weights * second, self.scale)
        else:
            weights = _unit_norm(weights, self.scale)
        # one BATCH_MATMUL, not MUL then SUM: int8 products accumulate in int32 before one rounding
        # (tools/benchmarking/ngram_int8_order.py: fortunes, NB solver, agreement 0.910 -> 0.949)
        bag = ops.squeeze(ops.matmul(ops.expand_dims(weights, 1), _gather(self.table, ids)), axis=1)
        if not self.use_bias:
            return bag
        if self.logit_clip is None:
            return bag + self.bias
        low, high = self.logit_clip
        # clipped before the bias too, so the int8 sum's own range is the decision range, not the
        # widest logit calibration saw (fortunes, NB: 43 logits wide, 0.17 per int8 step)
        bag = ops.clip(bag, low - ops.max(self.bias), high - ops.min(self.bias))
        return ops.clip(bag + self.bias, low, high)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def get_config(self):
        return {**super().get_config(), "num_ids": self.num_ids, "units": self.units,
                "use_bias": self.use_bias, "l2": self.l2, "scale": self.scale, "split_at": self.split_at,
                "logit_clip": None if self.logit_clip is None else list(self.logit_clip)}


def _unit_norm(weights, scale: float):
    """``scale * weights / ||weights||`` over the last axis, normalised twice: the second norm is
    about 1 for every text, so its int8 step is a fixed small share of it and it undoes the first's
    rounding. One int8 RSQRT is a step of an absolute range shared by every text, so a long text's
    inverse norm was off by a few per cent, the same for all its positions: a systematic error that
    does not average out over the sum. Each sum of squares is one BATCH_MATMUL of the row with
    itself, so a long text's many small squares are not each rounded (to zero) first.
    tools/benchmarking/ngram_int8_order.py, ``snapped_clip_renorm``."""
    coarse = weights * ops.rsqrt(ops.maximum(_squared_norm(weights), 1e-12))
    return coarse * (ops.rsqrt(ops.maximum(_squared_norm(coarse), 1e-12)) * scale)


def _squared_norm(weights):
    return ops.squeeze(ops.matmul(ops.expand_dims(weights, 1), ops.expand_dims(weights, -1)), axis=-1)


def int8_grid(table: np.ndarray) -> np.ndarray:
    """``table`` on the asymmetric int8 grid the TFLite converter gives a GATHER's constant table,
    its range pinned by row 0 (the padding id: idf 0, so no text weighs it). The int8 file then
    reads the same table Keras uses; rounding twice (to this grid, then to the converter's own
    from the rounded values) would not."""
    values = np.asarray(table, np.float64)
    low, high = min(float(values.min()), 0.0), max(float(values.max()), 0.0)
    if high == low:
        return np.asarray(table, np.float32)
    step = (high - low) / 255.0
    zero_point = int(np.round(-128 - low / step))
    levels = np.clip(np.round(values / step) + zero_point, -128, 127)
    snapped = ((levels - zero_point) * step).astype(np.float32)
    snapped[0] = 0.0
    snapped[0, 0], snapped[0, -1] = (-128 - zero_point) * step, (127 - zero_point) * step
    return snapped


def decision_range(logits: np.ndarray, margin: float = 1.0) -> tuple[float, float]:
    """Clip bounds for a linear model's logits that keep every row's argmax: from ``margin`` below
    the lowest top-1 logit to ``margin`` above the highest runner-up (validation rows)."""
    ranked = np.sort(np.asarray(logits, np.float64), axis=1)
    low, high = float(ranked[:, -1].min()) - margin, float(ranked[:, -2].max()) + margin
    return (low, max(high, low + margin))


def _gather(table, ids):
    # a plain tf.gather exports as one GATHER (ops.take adds the SELECT TFLM lacks; GatherEmbedding)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.gather(table, ids)
    return ops.take(table, ids, axis=0)
