"""Keras functions replaced while the export traces a model, where Keras' own formulation cannot
reach the files: each replacement computes the same function (a difference is named below).

- ``keras.ops.argmax`` / ``argmin``: Keras' TensorFlow backend guards float argmax and argmin
  against flush-to-zero (jax-ml/jax#24280): it first replaces -0.0 by the smallest negative float,
  found with ``signbit``, a bitcast and ``BitwiseAnd``. TFLite has no builtin for ``BitwiseAnd``,
  so a user's model ending in ``keras.ops.argmax`` (a class index, a segmentation map) was refused
  as needing Flex. Traced without the guard, the files take ARG_MAX / ARG_MIN of the values as
  they are, which differs from Keras only where -0.0 ties with 0.0 for the extreme.
- L2 normalisation (``keras.ops.normalize``: ``UnitNormalization``, ``Dot(normalize=True)``), in
  the int16x8 file only. Keras computes ``x * minimum(rsqrt(sum(x**2)), 1 / epsilon)``. With 16-bit
  activations TFLite's quantizer gives SUM the scale of its input, so the sum of squares saturates,
  and writes the constant 1 / epsilon (1e12) on the int16 scale of the rsqrt without clamping, so
  it wraps to a negative number: every int16x8 embedding came out wrong on LiteRT and TFLM alike
  (``tests/export/test_export_user_models.py``: a 16-wide UnitNormalization, relative error over 3
  where the int8 file passed). Traced as ``x * rsqrt(maximum(mean(x**2),
  epsilon**2 / n)) / sqrt(n)`` (n the normalised size; the same function): a mean stays within
  its input's range, and the small floor cannot wrap.
- A sum of float values (``keras.ops.sum``: attention pooling, a masked average), in the int16x8
  file only, for the same reason: the 16-bit SUM's output has its input's scale, so any sum larger
  than its largest input saturated (``ops.sum(x, axis=-1, keepdims=True) + x`` over 8 values:
  errors of 3.9 on LiteRT and TFLM where the int8 file's were 0.1). Traced as ``mean(x) * n`` (n the
  summed count; the same function): the mean stays within its input's range and the MUL gets a
  scale of its own.
- Keras' unrolled recurrence (``backend.rnn(unroll=True)``) with ``go_backwards`` and a mask
  zeroes the outputs of masked steps by the mask in its original order, not in the order it
  processes the steps (Keras' own loop does it right). ``Bidirectional`` with
  ``return_sequences`` sets ``zero_output_for_mask``, so the backward half of every masked
  Bidirectional GRU, LSTM or SimpleRNN the exporter unrolls came out wrong, and its float32 file
  failed parity (``tests/export/test_export_user_models.py``). Traced with
  the sequence and the mask reversed and ``go_backwards`` off, which is what going backwards is.
"""

from __future__ import annotations

import contextlib
import math
from typing import Iterator

BUILTIN_EXTREMES = {"Argmax": "ARG_MAX", "Argmin": "ARG_MIN"}


def conversions(model, modes) -> list[str]:
    """What the rewrites below change in the files of ``modes``, one line per layer or op, for
    ``signature.json``'s ``conversions``. (The reversed masked unroll is left out: it is Keras' own
    function, computed right.)"""
    said = [f"{type(op).__name__.lower()} '{op.name}' -> builtin {BUILTIN_EXTREMES[type(op).__name__]} (Keras' "
            "guard against -0.0 is a bitcast and BitwiseAnd, which need Flex; it changes only a tie of -0.0 with 0.0)"
            for op in getattr(model, "operations", []) if type(op).__name__ in BUILTIN_EXTREMES]
    if "int16x8" in modes:
        said += [f"int16x8 file only: {name} -> x * rsqrt(maximum(mean(x^2), epsilon^2 / n)) / sqrt(n), the same "
                 "L2 normalisation (16-bit SUM keeps its input's scale and saturates; the 1/epsilon bound wraps "
                 "in int16)" for name in normalizing_layers(model)]
    return said


def normalizing_layers(model) -> list[str]:
    """The model's L2 normalisations Keras writes with ``keras.ops.normalize``, by name."""
    import keras

    from kerasuite.export.prepare import all_layers

    named = []
    # nested models' layers too (a tower inside a two-input model); ops only at the top level
    for op in dict.fromkeys([*all_layers(model), *getattr(model, "operations", [])]):
        if isinstance(op, keras.layers.UnitNormalization) or type(op).__name__ == "Normalize" \
                or (isinstance(op, keras.layers.Dot) and op.normalize):
            named.append(f"{type(op).__name__} '{op.name}'")
    return named


@contextlib.contextmanager
def unguarded_argmax() -> Iterator[None]:
    import tensorflow as tf
    from keras.src.backend.tensorflow import numpy as backend_numpy

    def plain(reduce):
        def extreme(x, axis=None, keepdims=False):
            x = tf.convert_to_tensor(x)
            flat = tf.reshape(x, [-1]) if axis is None else x
            index = reduce(flat, axis=0 if axis is None else axis, output_type=tf.int32)
            if keepdims:
                index = tf.expand_dims(index, axis) if axis is not None else tf.reshape(index, [1] * x.shape.rank)
            return index
        return extreme

    saved = backend_numpy.argmax, backend_numpy.argmin
    backend_numpy.argmax, backend_numpy.argmin = plain(tf.argmax), plain(tf.argmin)
    try:
        yield
    finally:
        backend_numpy.argmax, backend_numpy.argmin = saved


@contextlib.contextmanager
def sixteen_bit_safe_normalize() -> Iterator[None]:
    from keras.src import backend
    from keras.src.ops import nn

    keras_normalize = nn._normalize

    def normalize(x, axis=-1, order=2, epsilon=None):
        x = backend.convert_to_tensor(x)
        if order != 2 or len(x.shape) == 0:
            return keras_normalize(x, axis=axis, order=order, epsilon=epsilon)
        epsilon = backend.epsilon() if epsilon is None else epsilon
        axes = (axis,) if isinstance(axis, int) else tuple(axis)
        sizes = [x.shape[a] for a in axes]
        if any(size is None for size in sizes):  # a dynamic normalised size: Keras' own formula
            return keras_normalize(x, axis=axis, order=order, epsilon=epsilon)
        count = math.prod(sizes)
        mean_square = backend.numpy.mean(backend.numpy.square(x), axis=axis, keepdims=True)
        inverse = backend.math.rsqrt(backend.numpy.maximum(mean_square, epsilon ** 2 / count))
        return x * inverse * (1.0 / math.sqrt(count))

    nn._normalize = normalize
    try:
        yield
    finally:
        nn._normalize = keras_normalize


@contextlib.contextmanager
def sixteen_bit_safe_sum(rewritten: list[str]) -> Iterator[None]:
    """Float sums over axes of known size traced as ``mean * count``; each one appends its shape
    and axes to ``rewritten`` (the export says how many it changed)."""
    from keras.src import backend

    keras_sum = backend.numpy.sum

    def total(x, axis=None, keepdims=False):
        x = backend.convert_to_tensor(x)
        if backend.standardize_dtype(x.dtype) not in ("float16", "bfloat16", "float32", "float64") or len(x.shape) == 0:
            return keras_sum(x, axis=axis, keepdims=keepdims)
        axes = tuple(range(len(x.shape))) if axis is None else (axis,) if isinstance(axis, int) else tuple(axis)
        sizes = [x.shape[a] for a in axes]
        if any(size is None for size in sizes):  # a dynamic count (the batch): Keras' own SUM
            return keras_sum(x, axis=axis, keepdims=keepdims)
        rewritten.append(f"{list(x.shape)} over axes {list(axes)}")
        return backend.numpy.mean(x, axis=axis, keepdims=keepdims) * float(math.prod(sizes))

    backend.numpy.sum = total
    try:
        yield
    finally:
        backend.numpy.sum = keras_sum


@contextlib.contextmanager
def masked_backward_unroll_reversed() -> Iterator[None]:
    from keras import ops, tree
    from keras.src import backend

    keras_rnn = backend.rnn

    def rnn(step_function, inputs, initial_states, go_backwards=False, mask=None, constants=None, unroll=False,
            input_length=None, time_major=False, zero_output_for_mask=False, return_all_outputs=True):
        if unroll and go_backwards and mask is not None:
            time = 0 if time_major else 1
            inputs = tree.map_structure(lambda sequence: ops.flip(sequence, axis=time), inputs)
            mask, go_backwards = ops.flip(mask, axis=time), False
        return keras_rnn(step_function, inputs, initial_states, go_backwards=go_backwards, mask=mask,
                         constants=constants, unroll=unroll, input_length=input_length, time_major=time_major,
                         zero_output_for_mask=zero_output_for_mask, return_all_outputs=return_all_outputs)

    backend.rnn = rnn
    try:
        yield
    finally:
        backend.rnn = keras_rnn
