"""The two-tower retrieval losses: softmax cross-entropy over the batch or the catalogue.

Losses, not layers, so they live beside the models, not in ``models/layers/``; their registered
names (``kerasuite>InBatchSoftmaxLoss``, ``kerasuite>CatalogueSoftmaxLoss``) are the ones saved
``.keras`` files carry."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasuite")
class InBatchSoftmaxLoss(keras.losses.Loss):
    """Softmax cross-entropy of ``[batch, batch]`` logits whose positives are the diagonal.

    ``y_true`` is ignored: the label of row i is column i by construction of the batch. Logits
    ``[batch, members * batch]`` (an ensemble's blocks side by side) get one softmax per block,
    and the loss is the members' mean, so each member trains on its own softmax.
    """

    def call(self, y_true, y_pred):
        batch = ops.shape(y_pred)[0]
        blocks = ops.reshape(y_pred, (batch, -1, batch))  # [batch, members, batch]
        labels = ops.broadcast_to(ops.expand_dims(ops.arange(batch), 1), ops.shape(blocks)[:2])
        member_losses = keras.losses.sparse_categorical_crossentropy(labels, blocks, from_logits=True)
        return ops.mean(member_losses, axis=1)


@keras.saving.register_keras_serializable(package="kerasuite")
class CatalogueSoftmaxLoss(keras.losses.Loss):
    """Softmax cross-entropy over the catalogue; ``y_true`` is the positive item's row."""

    def call(self, y_true, y_pred):
        return keras.losses.sparse_categorical_crossentropy(ops.cast(y_true, "int32"), y_pred, from_logits=True)
