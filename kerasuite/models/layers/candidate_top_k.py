"""Brute-force top-k over a constant candidate matrix that survives a ``.keras`` round trip."""

from __future__ import annotations

from typing import Any

import keras
import keras_rs
from keras import layers, ops

from kerasuite.models.layers.in_batch_logits import interest_scores
from kerasuite.runtime.device_spec import EXCLUDED_SCORE  # an excluded candidate's score, a device contract


@keras.saving.register_keras_serializable(package="kerasuite")
class CandidateTopK(keras_rs.layers.BruteForceRetrieval):
    """keras-rs ``BruteForceRetrieval`` that survives a ``.keras`` round trip.

    The keras-rs 0.4 layer creates its candidate variable only in ``update_candidates`` (so a
    reloaded layer has nowhere to put the saved matrix) and its ``get_config`` stores a bound
    method under ``return_scores``. Here the matrix shape is a constructor argument, the variable
    is created in ``build`` and saved with the model, and the config is plain values. The output
    is ``(scores, candidate rows)`` of the top ``k`` by dot product; in TFLite that is
    FULLY_CONNECTED + TOPK_V2 with the matrix as a constant. A query of several interests
    ``[batch, interests, d]`` scores each candidate by its best interest (REDUCE_MAX before TOPK_V2).
    """

    def __init__(self, num_candidates: int, embedding_dim: int, k: int = 10, **kwargs: Any) -> None:
        if not 1 <= k <= num_candidates:
            raise ValueError(f"k must be in [1, num_candidates={num_candidates}], got {k}")
        super().__init__(k=k, return_scores=True, **kwargs)
        self.num_candidates = num_candidates
        self.embedding_dim = embedding_dim

    def build(self, input_shape=None):
        if self.candidate_embeddings is None:
            self.candidate_embeddings = self.add_weight(
                shape=(self.num_candidates, self.embedding_dim), initializer="zeros",
                trainable=False, name="candidate_embeddings")
        self.built = True

    def update_candidates(self, candidate_embeddings, candidate_ids=None) -> None:
        if candidate_ids is not None:
            raise ValueError("CandidateTopK returns candidate rows; map rows to ids outside the graph")
        if not self.built:
            self.build()
        super().update_candidates(candidate_embeddings)

    def call(self, inputs, exclude_rows=None):
        """``exclude_rows``: int ``[batch, n]`` candidate rows never to return (a user's history:
        already seen), -1 for none. Arithmetic, not a select: in TFLite ONE_HOT + REDUCE_MAX + MUL
        + ADD before TOPK_V2 (no SELECT, which some runtimes lack for some types)."""
        scores = self.compute_score(inputs, self.candidate_embeddings)
        if exclude_rows is not None:
            excluded = ops.max(ops.one_hot(exclude_rows, self.num_candidates), axis=1)  # 1 or 0; row -1: none
            scores = scores + excluded * EXCLUDED_SCORE  # float32: -1e30 + a real score is -1e30
        return ops.top_k(scores, k=self.k)

    def compute_score(self, query_embedding, candidate_embedding):
        # Several interests per query: a candidate's score is its best interest's.
        return interest_scores(query_embedding, candidate_embedding)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.k), (input_shape[0], self.k)

    def get_config(self) -> dict[str, Any]:
        config = layers.Layer.get_config(self)  # skips keras-rs's unserializable entry
        config.update(num_candidates=self.num_candidates, embedding_dim=self.embedding_dim, k=self.k)
        return config
