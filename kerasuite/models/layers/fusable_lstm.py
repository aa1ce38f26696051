"""An LSTM whose TFLite export becomes the fused ``UNIDIRECTIONAL_SEQUENCE_LSTM`` builtin op.

Why this layer exists: the TFLite converter replaces a whole LSTM with one fused kernel only when
it finds a function carrying the attributes tf_keras used to set (``api_implements="lstm_<id>"``,
``time_major``, ``go_backwards``; see ``prepare_composite_functions_tf.cc`` and
``ConvertKerasLSTMLayer`` in ``lstm_utils.cc``). Keras 3's LSTM traces a plain loop instead, which
converts to a ``WHILE`` subgraph (and not at all with a dynamic batch). This subclass keeps the
Keras 3 layer, its weights and its config exactly as they are and only changes how the TensorFlow
backend runs the recurrence: through a ``tf.function`` with those attributes and tf_keras's
argument/result layout.

What the converter needs, and therefore what a caller must respect:
- the function takes ``(inputs, init_h, init_c, kernel, recurrent_kernel, bias)`` as tensors and
  returns ``(last_output, outputs, new_h, new_c, runtime)``; only the first two may be used;
- ``init_h``/``init_c`` have a static shape, i.e. the exported graph has a fixed batch size;
- no mask argument (the fused op has none): pad ids are handled after the LSTM (see
  ``MaskedMeanPooling``), so the embedding in front of this layer must not emit a Keras mask;
- the conversion goes through the SavedModel importer (``from_concrete_functions`` with a
  trackable object); the frozen-graph path strips ``api_implements``.

Everything else (dropout while training, a mask, a non-TensorFlow backend, non-default
activations) falls back to Keras' own loop, so the layer is always correct, only not always fused (the
exporter unrolls such an LSTM instead: kerasuite.export.prepare). An LSTM without a bias is fused with
a zero one.
"""

from __future__ import annotations

import uuid

import keras


def _standard_lstm(inputs, init_h, init_c, kernel, recurrent_kernel, bias, go_backwards: bool):
    """The Keras LSTM recurrence (gate order i, f, c, o) with tf_keras's arguments and results."""
    import tensorflow as tf

    sequence = tf.transpose(inputs, [1, 0, 2])  # time major for the scan
    if go_backwards:
        sequence = tf.reverse(sequence, [0])
    # The input projection of every step in one matmul; only h @ recurrent_kernel stays in the loop.
    projected = tf.einsum("tbi,ij->tbj", sequence, kernel) + bias

    def step(carry, z_input):
        h, c = carry
        z = z_input + tf.matmul(h, recurrent_kernel)
        z_i, z_f, z_c, z_o = tf.split(z, 4, axis=-1)
        c = tf.sigmoid(z_f) * c + tf.sigmoid(z_i) * tf.tanh(z_c)
        h = tf.sigmoid(z_o) * tf.tanh(c)
        return h, c

    # tf.scan (not tf.while_loop by hand): it trains about 5x faster here under XLA.
    all_h, all_c = tf.scan(step, projected, initializer=(init_h, init_c))
    outputs = tf.transpose(all_h, [1, 0, 2])
    runtime = tf.constant(0.0)  # tf_keras returned the implementation used; the converter drops it
    return outputs[:, -1], outputs, all_h[-1], all_c[-1], runtime


def _fusable_function(go_backwards: bool):
    """A new tf.function per trace: tf.function would otherwise serve a batch-1 export call with
    an earlier dynamic-batch trace, and the converter cannot fuse that one."""
    import tensorflow as tf

    def standard_lstm(inputs, init_h, init_c, kernel, recurrent_kernel, bias):
        return _standard_lstm(inputs, init_h, init_c, kernel, recurrent_kernel, bias, go_backwards)

    return tf.function(
        standard_lstm,
        autograph=False,
        experimental_attributes={
            "api_implements": f"lstm_{uuid.uuid4().hex}",
            "api_preferred_device": "CPU",
            "time_major": False,
            "go_backwards": go_backwards,
        },
    )


@keras.saving.register_keras_serializable(package="kerasuite")
class FusableLSTM(keras.layers.LSTM):
    """``keras.layers.LSTM`` (same arguments, weights and outputs) that TFLite fuses into one op.

    No new constructor arguments, so ``get_config`` is LSTM's own and a ``.keras`` file round-trips
    with ``safe_mode=True``.
    """

    def can_fuse(self, mask, training) -> bool:
        """Whether this call can run through the fusable function (else Keras' own loop)."""
        if keras.backend.backend() != "tensorflow" or mask is not None or self.unroll:
            return False
        if training and (self.dropout or self.recurrent_dropout):
            return False
        cell = self.cell
        return cell.activation is keras.activations.tanh and cell.recurrent_activation is keras.activations.sigmoid

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        if not self.can_fuse(mask, training):
            return super().inner_loop(sequences, initial_state, mask, training=training)
        import tensorflow as tf

        # Tensors, not variables: a resource argument has no shape the converter can check.
        kernel = tf.convert_to_tensor(self.cell.kernel)
        recurrent_kernel = tf.convert_to_tensor(self.cell.recurrent_kernel)
        # no bias is a zero bias: the fused op always takes one
        bias = tf.convert_to_tensor(self.cell.bias) if self.cell.use_bias else tf.zeros([4 * self.cell.units])
        last_output, outputs, h, c, _ = _fusable_function(self.go_backwards)(
            sequences, initial_state[0], initial_state[1], kernel, recurrent_kernel, bias
        )
        return last_output, outputs, [h, c]
