"""``keras.ops.argmax`` / ``argmin`` traced as TFLite's builtin ARG_MAX / ARG_MIN.

Keras' TensorFlow backend guards float argmax and argmin against flush-to-zero (jax-ml/jax#24280):
it first replaces -0.0 by the smallest negative float, found with ``signbit``, a bitcast and
``BitwiseAnd``. TFLite has no builtin for ``BitwiseAnd``, so a user's model ending in
``keras.ops.argmax`` (a class index, a segmentation map) was refused as needing Flex. While the
export traces the model the guard is left out: the files take ARG_MAX / ARG_MIN of the values as
they are, which differs from Keras only where -0.0 ties with 0.0 for the extreme.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

GUARDED_OPS = ("Argmax", "Argmin")


def guarded_ops(model) -> list[str]:
    """The argmax/argmin operations of a functional model, as ``conversions`` names them."""
    return [f"{type(op).__name__.lower()} '{op.name}'" for op in getattr(model, "operations", [])
            if type(op).__name__ in GUARDED_OPS]


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
