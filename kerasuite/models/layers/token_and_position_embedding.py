"""Token embedding plus a learned embedding of each position."""

from __future__ import annotations

import keras
from keras import ops

from kerasuite.models.layers.gather_embedding import GatherEmbedding


@keras.saving.register_keras_serializable(package="kerasuite")
class TokenAndPositionEmbedding(keras.layers.Layer):
    """``token_ids [batch, length]`` -> ``[batch, length, embedding_dim]``.

    The token table is an ordinary ``Embedding`` (a :class:`GatherEmbedding`, which exports as
    one GATHER) (its weights are what the TensorBoard projector
    shows); positions ``0 .. sequence_length - 1`` have a second, learned table.
    """

    def __init__(self, vocabulary_size: int, sequence_length: int, embedding_dim: int,
                 embeddings_initializer="uniform", **kwargs):
        super().__init__(**kwargs)
        if vocabulary_size < 1 or sequence_length < 1 or embedding_dim < 1:
            raise ValueError(
                "TokenAndPositionEmbedding: vocabulary_size, sequence_length and embedding_dim must be "
                f"positive, got {vocabulary_size}, {sequence_length}, {embedding_dim}"
            )
        self.vocabulary_size = int(vocabulary_size)
        self.sequence_length = int(sequence_length)
        self.embedding_dim = int(embedding_dim)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.token_embedding = GatherEmbedding(
            self.vocabulary_size, self.embedding_dim,
            embeddings_initializer=self.embeddings_initializer, name="token_embedding",
        )
        self.position_embedding = GatherEmbedding(
            self.sequence_length, self.embedding_dim,
            embeddings_initializer=self.embeddings_initializer, name="position_embedding",
        )

    def build(self, input_shape):
        self.token_embedding.build(input_shape)
        self.position_embedding.build((self.sequence_length,))
        self.built = True

    def call(self, token_ids):
        length = ops.shape(token_ids)[-1]
        positions = self.position_embedding(ops.arange(length))
        return self.token_embedding(token_ids) + ops.expand_dims(positions, 0)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.embedding_dim)

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary_size": self.vocabulary_size,
            "sequence_length": self.sequence_length,
            "embedding_dim": self.embedding_dim,
            "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
        }
