"""Text layers and builders: exact values by hand, equivalence with Keras' own layers, config and
.keras round trips with safe_mode=True."""

import keras
import numpy as np
import pytest

from harness import run_model_saving_test
from kerasuite.hparams import LstmConfig, TransformerConfig
from kerasuite.models.attention import build_transformer_classifier
from kerasuite.models.layers.bounded_mask_attention import BoundedMaskAttention
from kerasuite.models.layers.fusable_lstm import FusableLSTM
from kerasuite.models.layers.masked_max_pooling import MaskedMaxPooling
from kerasuite.models.layers.masked_mean_pooling import MaskedMeanPooling
from kerasuite.models.layers.masked_sqrt_pooling import MaskedSqrtPooling
from kerasuite.models.layers.padding_mask import PaddingMask
from kerasuite.models.layers.token_and_position_embedding import (
    TokenAndPositionEmbedding,
)
from kerasuite.models.layers.transformer_encoder_block import TransformerEncoderBlock
from kerasuite.models.sequence import build_sequence_classifier

RNG = np.random.default_rng(7)
TOKENS = np.array([[5, 3, 9, 0, 0, 0], [1, 2, 3, 4, 5, 6], [0, 0, 0, 0, 0, 0]], dtype="int32")


def _round_trip(layer):
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    return clone


def test_padding_mask_marks_real_tokens():
    mask = PaddingMask()(TOKENS)
    np.testing.assert_array_equal(mask, [[1, 1, 1, 0, 0, 0], [1] * 6, [0] * 6])
    assert _round_trip(PaddingMask(pad_id=3)).pad_id == 3


def test_masked_mean_pooling_ignores_padding_and_empty_rows():
    sequence = np.array([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]],
                         [[7.0, 7.0], [7.0, 7.0], [7.0, 7.0]]], dtype="float32")
    mask = np.array([[1, 1, 0], [0, 0, 0]], dtype="float32")
    pooled = MaskedMeanPooling()([sequence, mask])
    np.testing.assert_allclose(pooled, [[2.0, 3.0], [0.0, 0.0]])
    _round_trip(MaskedMeanPooling())


def test_masked_sqrt_pooling_divides_the_sum_by_the_root_of_the_real_count():
    sequence = np.array([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0], [5.0, 0.0], [0.0, 6.0]],
                         [[7.0, 7.0]] * 5], dtype="float32")
    mask = np.array([[1, 1, 0, 1, 1], [0, 0, 0, 0, 0]], dtype="float32")
    pooled = MaskedSqrtPooling()([sequence, mask])
    np.testing.assert_allclose(pooled, [[9.0 / 2.0, 12.0 / 2.0], [0.0, 0.0]], rtol=1e-6)
    _round_trip(MaskedSqrtPooling())


def test_masked_max_pooling_ignores_padding_and_empty_rows():
    sequence = np.array([[[-0.5, 0.2], [-0.9, 0.4], [0.99, 0.99]],
                         [[0.7, 0.7], [0.7, 0.7], [0.7, 0.7]]], dtype="float32")
    mask = np.array([[1, 1, 0], [0, 0, 0]], dtype="float32")
    pooled = MaskedMaxPooling(floor=-1.0)([sequence, mask])
    np.testing.assert_allclose(pooled, [[-0.5, 0.4], [-1.0, -1.0]])
    assert _round_trip(MaskedMaxPooling(floor=-2.0)).floor == -2.0


def test_token_and_position_embedding_adds_both_tables():
    layer = TokenAndPositionEmbedding(10, 6, 4)
    out = np.asarray(layer(TOKENS))
    tokens_table = np.asarray(layer.token_embedding.embeddings)
    positions_table = np.asarray(layer.position_embedding.embeddings)
    np.testing.assert_allclose(out[1, 2], tokens_table[3] + positions_table[2], rtol=1e-6)
    np.testing.assert_allclose(out[2, 5], tokens_table[0] + positions_table[5], rtol=1e-6)
    clone = _round_trip(layer)
    assert (clone.vocabulary_size, clone.sequence_length, clone.embedding_dim) == (10, 6, 4)
    with pytest.raises(ValueError, match="positive"):
        TokenAndPositionEmbedding(0, 6, 4)


@pytest.mark.parametrize("go_backwards", [False, True])
def test_fusable_lstm_equals_keras_lstm(go_backwards):
    x = RNG.normal(size=(3, 5, 4)).astype("float32")
    reference = keras.layers.LSTM(6, return_sequences=True, go_backwards=go_backwards)
    fusable = FusableLSTM(6, return_sequences=True, go_backwards=go_backwards)
    expected = np.asarray(reference(x))
    fusable.build(x.shape)
    fusable.set_weights(reference.get_weights())
    assert fusable.can_fuse(mask=None, training=False)
    np.testing.assert_allclose(fusable(x), expected, atol=1e-6)
    # a Keras mask forces Keras' own loop: still the LSTM's answer
    mask = np.array([[1, 1, 1, 0, 0]] * 3, dtype=bool)
    assert not fusable.can_fuse(mask=mask, training=False)
    np.testing.assert_allclose(fusable(x, mask=mask), reference(x, mask=mask), atol=1e-6)
    assert isinstance(_round_trip(fusable), FusableLSTM)


def test_fusable_lstm_trains_through_its_function():
    tokens = keras.Input((5, 3))
    model = keras.Model(tokens, keras.layers.Dense(1)(FusableLSTM(4)(tokens)))
    model.compile(keras.optimizers.Adam(0.05), "mse")
    x, y = RNG.normal(size=(16, 5, 3)).astype("float32"), RNG.normal(size=(16, 1)).astype("float32")
    history = model.fit(x, y, epochs=6, batch_size=16, verbose=0).history["loss"]
    assert history[-1] < 0.9 * history[0]


def test_encoder_block_keeps_attention_off_padding():
    block = TransformerEncoderBlock(num_heads=2, ff_dim=8)
    x = RNG.normal(size=(1, 6, 4)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0, 0]], dtype="float32")
    changed = x.copy()
    changed[:, 3:] = RNG.normal(size=(1, 3, 4))  # different padding content
    a = np.asarray(block(x, padding_mask=mask))[:, :3]
    b = np.asarray(block(changed, padding_mask=mask))[:, :3]
    np.testing.assert_allclose(a, b, atol=1e-5)
    unmasked = np.asarray(block(changed))[:, :3]
    assert np.abs(unmasked - a).max() > 1e-3  # without the mask, padding leaks in
    clone = _round_trip(block)
    assert (clone.num_heads, clone.ff_dim) == (2, 8)
    with pytest.raises(ValueError, match="divisible"):
        TransformerEncoderBlock(num_heads=3, ff_dim=8)(x)


MODELS = {
    "lstm": lambda: build_sequence_classifier(LstmConfig(embedding_dim=8, units=(6, 4)), 12, 6, 3),
    "bilstm": lambda: build_sequence_classifier(LstmConfig(embedding_dim=8, units=(4,), bidirectional=True), 12, 6, 3),
    "bilstm_max": lambda: build_sequence_classifier(
        LstmConfig(embedding_dim=8, units=(4,), bidirectional=True, pooling="max"), 12, 6, 3),
    "gru": lambda: build_sequence_classifier(LstmConfig(embedding_dim=8, units=(4,), cell="gru"), 12, 6, 3),
    "transformer": lambda: build_transformer_classifier(TransformerConfig(embedding_dim=8, num_heads=2, ff_dim=8, num_blocks=2), 12, 6, 3),
    "transformer_first": lambda: build_transformer_classifier(
        TransformerConfig(embedding_dim=8, num_heads=2, ff_dim=8, num_blocks=1, pooling="first", attention_mask=False), 12, 6, 3),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_builders_round_trip_through_keras_files(tmp_path, name):
    model = MODELS[name]()
    tokens = TOKENS % 12
    expected = np.asarray(model(tokens))
    assert expected.shape == (3, 3)
    np.testing.assert_allclose(expected.sum(axis=1), 1.0, rtol=1e-5)
    reloaded = run_model_saving_test(model, tokens, tmp_path)
    assert reloaded.inputs[0].dtype == "int32" and reloaded.inputs[0].name == "tokens"


@pytest.mark.parametrize("pooling", ["mean", "max"])
def test_padding_does_not_change_the_lstm_prediction(pooling):
    config = LstmConfig(embedding_dim=8, units=(6, 4), pooling=pooling)
    model = build_sequence_classifier(config, 12, 6, 3)
    short = np.array([[4, 7, 2, 0, 0, 0]], dtype="int32")
    model_long = build_sequence_classifier(config, 12, 9, 3)
    model_long.set_weights(model.get_weights())
    padded = np.array([[4, 7, 2, 0, 0, 0, 0, 0, 0]], dtype="int32")
    np.testing.assert_allclose(model(short), model_long(padded), atol=1e-6)


@pytest.mark.parametrize("builder, cfg, key", [
    (build_sequence_classifier, LstmConfig(cell="rnn"), "model.lstm.cell"),
    (build_sequence_classifier, LstmConfig(units=()), "model.lstm.units"),
    (build_sequence_classifier, LstmConfig(dropout=1.5), "model.lstm.dropout"),
    (build_sequence_classifier, LstmConfig(pooling="last"), "model.lstm.pooling"),
    (build_transformer_classifier, TransformerConfig(pooling="max"), "model.transformer.pooling"),
    (build_transformer_classifier, TransformerConfig(embedding_dim=10, num_heads=4), "model.transformer.embedding_dim"),
    (build_transformer_classifier, TransformerConfig(num_blocks=0), "model.transformer.num_blocks"),
])
def test_builders_name_the_bad_config_key(builder, cfg, key):
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        builder(cfg, 12, 6, 3)


def test_bounded_mask_attention_equals_keras_attention_with_the_same_weights():
    x = RNG.normal(size=(2, 6, 8)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=bool)[:, None, :]
    ours = BoundedMaskAttention(num_heads=2, key_dim=4, dropout=0.1)
    reference = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)
    ours(x, x)
    reference(x, x)
    reference.set_weights(ours.get_weights())
    np.testing.assert_allclose(np.asarray(ours(x, x)), np.asarray(reference(x, x)), atol=1e-5)
    # exp(-20) instead of exactly 0 on masked keys: equal to float32 precision on these scores
    np.testing.assert_allclose(np.asarray(ours(x, x, attention_mask=mask)),
                               np.asarray(reference(x, x, attention_mask=mask)), atol=1e-5)
    clone = _round_trip(BoundedMaskAttention(num_heads=2, key_dim=4, mask_penalty=12.0))
    assert clone.mask_penalty == 12.0
    with pytest.raises(ValueError, match="mask_penalty"):
        BoundedMaskAttention(num_heads=2, key_dim=4, mask_penalty=0.0)
