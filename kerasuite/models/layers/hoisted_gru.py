"""A GRU unrolled for export with its input projection out of the loop and no bias inside it.

Keras' ``unroll=True`` GRU computes, at every step, ``x_t @ kernel + input_bias`` and
``h @ recurrent_kernel + recurrent_bias``: two FULLY_CONNECTED ops with a bias each. In a
full-integer file every FULLY_CONNECTED gets its own int32 bias tensor (its scale is the input's
scale times the weights', and each step's state has its own scale) with a scale and zero point per
output channel, so a 96-unit GRU over 30 steps carried 59 copies of a 288-wide bias: its int8 file
was 1.76x the float32 one (357 kB vs 203 kB), where int8 should be about a quarter.

Here the input projection runs once, over all steps (one FULLY_CONNECTED), and takes both biases
that add before a gate (the input bias, and the recurrent bias of the update and reset gates);
each step's recurrent product has no bias, and the candidate's recurrent bias (which the reset gate
multiplies, so it cannot move) is added after the split, where the converter does not fold it into
a per-step int32 tensor. The arithmetic is Keras' GRU, so the float outputs agree to rounding.

A mask, an initial state, ``return_state``, ``stateful`` or dropout in training take Keras' own
unrolled loop.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasuite")
class HoistedGRU(keras.layers.GRU):
    """``keras.layers.GRU`` with the export graph above; same config, weights and outputs."""

    def call(self, sequences, initial_state=None, mask=None, training=False):
        dropout = training and (self.cell.dropout > 0 or self.cell.recurrent_dropout > 0)
        if mask is not None or initial_state is not None or self.return_state or self.stateful or dropout \
                or sequences.shape[1] is None:
            return super().call(sequences, initial_state=initial_state, mask=mask, training=training)
        cell, units = self.cell, self.units
        steps, features = sequences.shape[1], sequences.shape[2]
        projection_bias = recurrent_bias = None
        if cell.use_bias:
            projection_bias = cell.bias if not cell.reset_after else cell.bias[0]
            recurrent_bias = cell.bias[1] if cell.reset_after else None
        if recurrent_bias is not None:  # z's and r's recurrent biases add like the input bias: join it
            projection_bias = projection_bias + ops.concatenate(
                [recurrent_bias[: 2 * units], ops.zeros((units,), projection_bias.dtype)])
        flat = ops.matmul(ops.reshape(sequences, (-1, features)), cell.kernel)
        if projection_bias is not None:
            flat = flat + projection_bias
        projected = ops.unstack(ops.reshape(flat, (-1, steps, 3 * units)), axis=1)
        candidate_bias = recurrent_bias[2 * units:] if recurrent_bias is not None else None
        state = None
        outputs = []
        for step in (reversed(range(steps)) if self.go_backwards else range(steps)):
            x_z, x_r, x_h = ops.split(projected[step], 3, axis=-1)
            if state is None:  # the zero initial state: its products vanish
                z = cell.recurrent_activation(x_z)
                r = cell.recurrent_activation(x_r)
                recurrent_h = None if candidate_bias is None or not cell.reset_after else r * candidate_bias
                hh = cell.activation(x_h if recurrent_h is None else x_h + recurrent_h)
                state = (1.0 - z) * hh
            else:
                if cell.reset_after:
                    h_z, h_r, h_h = ops.split(ops.matmul(state, cell.recurrent_kernel), 3, axis=-1)
                else:
                    h_z, h_r = ops.split(ops.matmul(state, cell.recurrent_kernel[:, : 2 * units]), 2, axis=-1)
                z = cell.recurrent_activation(x_z + h_z)
                r = cell.recurrent_activation(x_r + h_r)
                if cell.reset_after:
                    recurrent_h = r * (h_h if candidate_bias is None else h_h + candidate_bias)
                else:
                    recurrent_h = ops.matmul(r * state, cell.recurrent_kernel[:, 2 * units:])
                hh = cell.activation(x_h + recurrent_h)
                state = z * state + (1.0 - z) * hh
            outputs.append(state)
        return ops.stack(outputs, axis=1) if self.return_sequences else state
