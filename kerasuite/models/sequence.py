"""Recurrent text classifier: token embedding -> stack of (bi)LSTM/GRU -> masked mean or max -> softmax.

LSTMs are :class:`FusableLSTM`, so the exported TFLite graph holds one fused
``UNIDIRECTIONAL_SEQUENCE_LSTM`` op per direction and layer (with a fixed export batch size).
GRUs are Keras' own: TFLite has no fused GRU, so the exporter unrolls them over the sequence length
(builtin ops per step, kerasuite/export/prepare.py).

Padding is handled after the recurrence (the fused op takes no mask): the embedding emits no
Keras mask, and the pooled average (or maximum) covers real tokens only. Because the sequences are padded at
the end, forward outputs at real positions never see padding.
"""

from __future__ import annotations

import keras
from keras import layers

from kerasuite.hparams import LstmConfig
from kerasuite.models.layers.fusable_lstm import FusableLSTM
from kerasuite.models.layers.gather_embedding import GatherEmbedding
from kerasuite.models.layers.masked_max_pooling import MaskedMaxPooling
from kerasuite.models.layers.masked_mean_pooling import MaskedMeanPooling
from kerasuite.models.layers.padding_mask import PaddingMask

CELLS = ("lstm", "gru")
POOLINGS = ("mean", "max")


def _recurrent_layer(cell: str, units: int, name: str) -> layers.Layer:
    if cell == "lstm":
        return FusableLSTM(units, return_sequences=True, name=name)
    return layers.GRU(units, return_sequences=True, name=name)


def build_sequence_classifier(
    cfg: LstmConfig,
    vocabulary_size: int,
    sequence_length: int,
    num_classes: int,
    input_name: str = "tokens",
    name: str = "lstm",
) -> keras.Model:
    """``int32 token ids [batch, sequence_length]`` -> class probabilities ``[batch, num_classes]``."""
    if cfg.cell not in CELLS:
        raise ValueError(f"model.lstm.cell: expected one of {', '.join(CELLS)}, got {cfg.cell!r}")
    if not cfg.units or any(u < 1 for u in cfg.units):
        raise ValueError(f"model.lstm.units: needs one or more positive sizes, got {list(cfg.units)}")
    if not 0.0 <= cfg.dropout < 1.0:
        raise ValueError(f"model.lstm.dropout: must be in [0, 1), got {cfg.dropout}")
    if cfg.pooling not in POOLINGS:
        raise ValueError(f"model.lstm.pooling: expected one of {', '.join(POOLINGS)}, got {cfg.pooling!r}")
    if num_classes < 2:
        raise ValueError(f"num_classes: need at least 2, got {num_classes}")

    tokens = keras.Input(shape=(sequence_length,), dtype="int32", name=input_name)
    mask = PaddingMask(name="padding_mask")(tokens)
    x = GatherEmbedding(vocabulary_size, cfg.embedding_dim, name="token_embedding")(tokens)
    # Dropout between layers rather than inside the cell: in-cell dropout would make training
    # fall back to Keras' slower loop, and the exported graph is the same either way.
    x = layers.Dropout(cfg.dropout, name="embedding_dropout")(x)
    for index, units in enumerate(cfg.units):
        recurrent = _recurrent_layer(cfg.cell, units, f"{cfg.cell}_{index}")
        if cfg.bidirectional:
            recurrent = layers.Bidirectional(recurrent, name=f"bi{cfg.cell}_{index}")
        x = recurrent(x)
        if index < len(cfg.units) - 1:
            x = layers.Dropout(cfg.dropout, name=f"{cfg.cell}_{index}_dropout")(x)
    if cfg.pooling == "mean":
        x = MaskedMeanPooling(name="masked_mean")([x, mask])
    else:  # LSTM and GRU outputs lie in (-1, 1): -1 is a floor padding can take without winning
        x = MaskedMaxPooling(floor=-1.0, name="masked_max")([x, mask])
    # After pooling, so the max sees the recurrent outputs' own range, not dropout-scaled ones
    x = layers.Dropout(cfg.dropout, name=f"{cfg.cell}_{len(cfg.units) - 1}_dropout")(x)
    probabilities = layers.Dense(num_classes, activation="softmax", name="classifier")(x)
    return keras.Model(tokens, probabilities, name=name)
