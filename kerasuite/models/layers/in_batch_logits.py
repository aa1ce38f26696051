"""Every query of a batch scored against every candidate of the batch (two-tower training)."""

from __future__ import annotations

from typing import Any

import keras
import keras_rs
from keras import layers, ops

from kerasuite.models.layers.accidental_hit_removal import MASKED_LOGIT, AccidentalHitRemoval


def interest_scores(query, candidate):
    """``query [batch, d] or [batch, interests, d]`` against ``candidate [n, d]`` -> ``[batch, n]``:
    the dot product, or with several interests per query the best interest's."""
    if len(query.shape) == 3:
        batch, interests, dim = ops.shape(query)
        flat = ops.matmul(ops.reshape(query, (-1, dim)), ops.transpose(candidate))
        return ops.max(ops.reshape(flat, (batch, interests, -1)), axis=1)
    return ops.matmul(query, ops.transpose(candidate))


@keras.saving.register_keras_serializable(package="kerasuite")
class InBatchLogits(layers.Layer):
    """Scores every query in the batch against every candidate in the batch.

    ``logits[i, j] = <query_i, candidate_j> / temperature``; the positives sit on the diagonal.
    Optionally removes accidental hits (the same item appearing twice in a batch) and applies the
    logQ sampling-probability correction, both with keras-rs layers.
    """

    def __init__(self, temperature: float = 0.05, remove_accidental_hits: bool = True,
                 sampling_correction: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature = temperature
        self.remove_accidental_hits = remove_accidental_hits
        self.sampling_correction = sampling_correction
        self._hits = AccidentalHitRemoval() if remove_accidental_hits else None
        self._correction = keras_rs.layers.SamplingProbabilityCorrection() if sampling_correction else None

    def build(self, *input_shapes):  # no weights of its own or in its keras-rs sub-layers
        self.built = True

    def call(self, query, candidate, candidate_ids, sampling_probability=None, query_history=None):
        logits = interest_scores(query, candidate) / self.temperature
        if self._correction is not None:
            if sampling_probability is None:
                raise ValueError("sampling_correction=True needs the candidates' sampling probability")
            probability = ops.broadcast_to(ops.expand_dims(sampling_probability, 0), ops.shape(logits))
            logits = self._correction(logits, probability)
        if self._hits is not None:
            labels = ops.eye(ops.shape(logits)[0], dtype=logits.dtype)
            logits = self._hits(logits, labels, candidate_ids)
        if query_history is not None:
            # A candidate in the query's own history is a known positive of that user, not a
            # negative (and evaluation removes seen items anyway): mask it like an accidental hit.
            in_history = ops.any(ops.equal(ops.expand_dims(query_history, -1),
                                           ops.reshape(candidate_ids, (1, 1, -1))), axis=1)
            in_history = ops.logical_and(in_history, ops.expand_dims(ops.not_equal(candidate_ids, 0), 0))
            keep_positive = ops.logical_not(ops.cast(ops.eye(ops.shape(logits)[0]), "bool"))
            logits = ops.where(ops.logical_and(in_history, keep_positive),
                               ops.cast(MASKED_LOGIT, logits.dtype), logits)
        return logits

    def compute_output_shape(self, query_shape, candidate_shape, *args):
        return (query_shape[0], candidate_shape[0])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(temperature=self.temperature, remove_accidental_hits=self.remove_accidental_hits,
                      sampling_correction=self.sampling_correction)
        return config
