"""Keras' ``IntegerLookup`` as constant tables looked up by GATHER.

Keras looks integer keys up in a TensorFlow hash table (``LookupTableFindV2``), which is no TFLite
builtin: a model with an ``IntegerLookup`` inside (Keras' structured-data examples put one there)
converted only with Flex ops, which ai-edge-litert, CompiledModel and TFLM cannot run. Its
vocabulary is fixed once adapted, so the lookup is a table over the key range: keys are clipped
one past each end of the vocabulary's range (both ends then read the out-of-vocabulary entry),
shifted to start at 0 and looked up in an index table (int8 when every index fits: TFLM's
GATHER takes no int32 table; a CAST makes the indices int32). With ``num_oov_indices=0`` Keras
raises on a key outside the vocabulary; a device file cannot raise, so such keys read index -1
(the encoded modes: a row of zeros). The encoded modes then look the
index up in a table of rows, each row what Keras encodes for one key (one float GATHER by key
when the rows per key fit in MOST_ROW_ENTRIES), and take the maximum
(``multi_hot``) or the sum (``count``, ``tf_idf``) over a row's keys, as Keras does.

The tables are built by running the adapted Keras layer itself over every key in the range, so
mask tokens, the out-of-vocabulary index and idf weights come out as Keras computes them.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

# Key range the index table may span (int32 entries: 4 MB), and rows x tokens the row table may hold.
MOST_KEYS = 1 << 20
MOST_ROW_ENTRIES = 1 << 22
ENCODED_MODES = ("one_hot", "multi_hot", "count", "tf_idf")


@keras.saving.register_keras_serializable(package="kerasuite")
class GatherIntegerLookup(keras.layers.Layer):
    """Keys -> ``index_table[clip(key, low - 1, low + len - 2) - (low - 1)]``; encoded modes then
    gather ``row_table`` by that index and reduce over the last key axis (not for one_hot)."""

    def __init__(self, first_key: int, index_table: list[int], output_mode: str = "int",
                 row_table: list[list[float]] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.first_key = int(first_key)
        self.index_table = [int(index) for index in index_table]
        self.output_mode = output_mode
        self.row_table = row_table
        # the graph's constants, made once (config keeps the lists): call() runs at every trace
        indices = np.asarray(self.index_table, "int32")
        if output_mode == "int":
            # TFLM's GATHER takes no int32 table; int8 entries are exact and CAST back
            self._index_constant = indices.astype("int8") if np.all((indices >= -128) & (indices <= 127)) else indices
            self._row_constant = None
        else:
            rows = np.asarray(row_table, "float32")
            by_key = indices.size * rows.shape[1] <= MOST_ROW_ENTRIES
            self._index_constant = None if by_key else indices
            self._row_constant = rows[indices] if by_key else rows  # by key: one float GATHER

    def build(self, input_shape=None):
        self.built = True  # no weights: the tables are constants, as IntegerLookup holds no Keras weights

    def call(self, inputs):
        keys = ops.cast(inputs, "int32")
        if self.output_mode == "one_hot" and len(keys.shape) >= 2 and keys.shape[-1] == 1:
            keys = ops.squeeze(keys, -1)  # Keras one-hot encodes [batch, 1] keys as [batch, tokens]
        last = self.first_key + len(self.index_table) - 1
        position = ops.clip(keys, self.first_key, last) - self.first_key
        if self.output_mode == "int":
            return ops.cast(_gather(ops.convert_to_tensor(self._index_constant), position), "int32")
        if self._index_constant is not None:
            position = _gather(ops.convert_to_tensor(self._index_constant), position)
        rows = _gather(ops.convert_to_tensor(self._row_constant), position)
        if self.output_mode == "one_hot":
            return rows
        return ops.max(rows, axis=-2) if self.output_mode == "multi_hot" else ops.sum(rows, axis=-2)

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return input_shape
        tokens = len(self.row_table[0])
        if self.output_mode == "one_hot":
            kept = input_shape[:-1] if len(input_shape) >= 2 and input_shape[-1] == 1 else input_shape
            return (*kept, tokens)
        return (*input_shape[:-1], tokens)

    def compute_output_spec(self, inputs):
        dtype = "int32" if self.output_mode == "int" else self.compute_dtype
        return keras.KerasTensor(self.compute_output_shape(inputs.shape), dtype=dtype)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(first_key=self.first_key, index_table=self.index_table, output_mode=self.output_mode,
                      row_table=self.row_table)
        return config


def _gather(table, ids):
    if keras.backend.backend() != "tensorflow":
        return ops.take(table, ids, axis=0)
    import tensorflow as tf

    return tf.gather(table, ids)  # one GATHER: ops.take adds a negative-id wrap (int32 SELECT_V2)


def why_not_swappable(layer) -> str | None:
    """None when :func:`from_integer_lookup` reproduces ``layer`` exactly, else why not."""
    if type(layer) is not keras.layers.IntegerLookup:
        return "not an IntegerLookup"
    if layer.invert:
        return "it inverts (index -> key)"
    if getattr(layer, "sparse", False):
        return "its output is sparse"
    if layer.num_oov_indices > 1:
        return f"it hashes out-of-vocabulary keys into {layer.num_oov_indices} buckets (num_oov_indices=1 or 0 exports)"
    if layer.output_mode not in ("int", *ENCODED_MODES):
        return f"output_mode {layer.output_mode!r}"
    if layer.vocabulary_size() <= layer.num_oov_indices + (layer.mask_token is not None):
        return "it has no vocabulary (adapt it or pass vocabulary=)"
    rank = len(layer.input.shape)
    if layer.output_mode in ("multi_hot", "count", "tf_idf") and rank != 2:
        return f"{layer.output_mode} of rank-{rank} keys (rank 2, [batch, keys], exports)"
    low, high = key_range(layer)
    if high - low + 3 > MOST_KEYS:
        return f"its keys span {low}..{high}, a table of more than {MOST_KEYS:,} entries"
    return None


def key_range(layer) -> tuple[int, int]:
    keys = [int(key) for key in layer.get_vocabulary(include_special_tokens=False)]
    if layer.mask_token is not None:
        keys.append(int(layer.mask_token))
    return min(keys), max(keys)


def from_integer_lookup(layer) -> GatherIntegerLookup:
    """The table layer computing what ``layer`` (an adapted IntegerLookup) computes."""
    low, high = key_range(layer)
    first_key = low - 1  # clipped keys below the vocabulary land here: out of vocabulary
    keys = np.arange(first_key, high + 2, dtype="int64")  # ... and one past the top
    twin = keras.layers.IntegerLookup(  # an adapted layer's config holds no vocabulary: pass it
        vocabulary=layer.get_vocabulary(include_special_tokens=False), num_oov_indices=layer.num_oov_indices,
        mask_token=layer.mask_token, oov_token=layer.oov_token, output_mode="int")
    known = np.isin(keys, [int(key) for key in twin.get_vocabulary()])
    if layer.num_oov_indices == 0:  # Keras raises on such keys; a device file cannot, so they read -1
        index = np.full(keys.shape, -1, "int64")
        index[known] = np.asarray(twin(keys[known]))
    else:
        index = np.asarray(twin(keys)).astype("int64")
    config = {"name": layer.name, "dtype": layer.dtype_policy.name}
    if layer.output_mode == "int":
        return GatherIntegerLookup(first_key, index.tolist(), "int", **config)
    # one row per index, encoded by the layer itself from a key that maps to it; an index no key in
    # the range reaches (none, or -1 with no OOV slot, Keras' failure) keeps a zero row
    distinct = np.unique(index)
    shift = 1 if distinct.min() < 0 else 0  # -1 (num_oov_indices=0) gets row 0, of zeros
    representative = {int(value): int(keys[np.flatnonzero(index == value)[0]]) for value in distinct if value >= 0}
    encoded = np.asarray(layer(np.asarray([[representative[value]] for value in sorted(representative)], "int64")),
                         "float32").reshape(len(representative), -1)
    tokens = encoded.shape[1]
    rows = np.zeros((int(distinct.max()) + 1 + shift, tokens), "float32")
    if rows.size > MOST_ROW_ENTRIES:
        raise ValueError(f"{rows.shape[0]} x {tokens} rows exceed {MOST_ROW_ENTRIES:,} entries")
    for place, value in enumerate(sorted(representative)):
        rows[value + shift] = encoded[place]
    return GatherIntegerLookup(first_key, (index + shift).tolist(), layer.output_mode, rows.tolist(), **config)
