"""Queries scored against every catalogue row, own-history items masked (catalogue softmax)."""

from __future__ import annotations

from typing import Any

import keras
from keras import layers, ops

from kerasuite.models.layers.accidental_hit_removal import MASKED_LOGIT
from kerasuite.models.layers.in_batch_logits import interest_scores


@keras.saving.register_keras_serializable(package="kerasuite")
class CatalogueLogits(layers.Layer):
    """``logits[i, r] = <query_i, catalogue_r> / temperature`` (a query of several interests: its
    best interest's) over every catalogue row, with the
    query's own history items (its other known positives) masked out; row r is item index r + 1.
    The label of example i is its item's row (:class:`CatalogueSoftmaxLoss`)."""

    def __init__(self, temperature: float = 0.05, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature = temperature

    def build(self, *input_shapes):
        self.built = True

    def call(self, query, catalogue, positive, query_history):
        logits = interest_scores(query, catalogue) / self.temperature
        batch, rows = ops.shape(logits)[0], ops.shape(logits)[1]
        history = ops.cast(query_history, "int32")
        # count of each item in the row's history, by scatter (a one-hot would be batch x length x N);
        # padding (index 0) lands in a spare last column that is cut off
        row_ids = ops.broadcast_to(ops.expand_dims(ops.arange(batch, dtype="int32"), 1), ops.shape(history))
        columns = ops.where(ops.equal(history, 0), rows, history - 1)
        indices = ops.reshape(ops.stack([row_ids, columns], axis=-1), (-1, 2))
        counts = ops.scatter(indices, ops.ones((ops.shape(indices)[0],), logits.dtype), (batch, rows + 1))
        masked = ops.where(counts[:, :rows] > 0, ops.cast(MASKED_LOGIT, logits.dtype), logits)
        # The batch candidates' embedding enters with weight 0: it keeps the batch candidate path
        # (the one the exported candidate tower is cut from, with all its inputs) in the graph.
        return masked + 0.0 * ops.sum(positive, axis=-1, keepdims=True)

    def compute_output_shape(self, query_shape, catalogue_shape, *args):
        return (query_shape[0], catalogue_shape[0])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(temperature=self.temperature)
        return config
