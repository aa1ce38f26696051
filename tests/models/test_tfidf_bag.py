"""The ngram family's TF-IDF bag: the model is logistic regression on L2-normalised TF-IDF vectors,
computed by hand here; idf as scikit-learn's smoothed formula; .keras round trip."""

import numpy as np
import pytest

from harness import run_model_saving_test
from kerasuite.hparams import NgramConfig
from kerasuite.models.layers.tfidf_bag import TfidfBag, inverse_document_frequency
from kerasuite.models.ngram import LINEAR_SCALE, build_ngram_classifier

IDS = np.array([[3, 5, 2, 0, 0], [4, 0, 0, 0, 0], [0, 0, 0, 0, 0], [1, 2, 3, 4, 5]], dtype="int32")


def test_idf_matches_scikit_learn_smooth_idf():
    from sklearn.feature_extraction.text import TfidfVectorizer

    idf = inverse_document_frequency(IDS, 6)
    docs = [" ".join(f"w{i}" for i in row if i) for row in IDS]
    vectorizer = TfidfVectorizer(token_pattern=r"\S+").fit(docs)
    for word, column in vectorizer.vocabulary_.items():
        assert idf[int(word[1:])] == pytest.approx(vectorizer.idf_[column], rel=1e-6)
    assert idf[0] == 0.0  # padding weighs nothing


@pytest.mark.parametrize("split_at", [0, 3])
def test_linear_model_is_logistic_regression_on_normalised_tfidf(split_at):
    """split_at=3: ids 1-2 (words) and 3-5 (character n-grams) are each L2-normalised, as the
    concatenation of a word and a character TfidfVectorizer."""
    num_ids, classes = 6, 3
    model = build_ngram_classifier(NgramConfig(), num_ids, IDS.shape[1], classes, idf=inverse_document_frequency(IDS, num_ids),
                                   split_at=split_at)
    bag = model.get_layer("tfidf_bag")
    table = np.random.default_rng(3).normal(size=(num_ids, classes)).astype("float32")
    bias = np.array([0.1, -0.2, 0.3], "float32")
    bag.table.assign(table)
    bag.bias.assign(bias)
    idf = np.asarray(bag.idf)
    expected = []
    for row in IDS:
        vector = np.zeros(num_ids)
        vector[row[row > 0]] = idf[row[row > 0]]
        kinds = [slice(0, split_at), slice(split_at, num_ids)] if split_at else [slice(0, num_ids)]
        for kind in kinds:
            norm = np.linalg.norm(vector[kind])
            vector[kind] = vector[kind] / norm if norm else vector[kind]
        logits = LINEAR_SCALE * vector @ table + bias
        expected.append(np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum())
    np.testing.assert_allclose(model(IDS, training=False), expected, rtol=1e-5, atol=1e-6)
    assert [w.name for w in bag.non_trainable_weights] == (["idf", "second_kind"] if split_at else ["idf"])


def test_l2_penalty_is_on_the_table():
    layer = TfidfBag(6, 2, use_bias=True, l2=0.5)
    layer.build((None, 5))
    layer.table.assign(np.ones((6, 2), "float32"))
    assert float(sum(layer.losses)) == pytest.approx(0.5 * 12)


@pytest.mark.parametrize("embedding_dim", [0, 4])
def test_round_trip_with_safe_mode(tmp_path, embedding_dim):
    model = build_ngram_classifier(NgramConfig(embedding_dim=embedding_dim), 6, IDS.shape[1], 3,
                                   idf=inverse_document_frequency(IDS, 6), split_at=3)
    reloaded = run_model_saving_test(model, IDS, tmp_path)
    np.testing.assert_allclose(reloaded.get_layer("tfidf_bag").idf, model.get_layer("tfidf_bag").idf)


def test_linear_needs_tfidf():
    with pytest.raises(ValueError, match="model.ngram.embedding_dim"):
        build_ngram_classifier(NgramConfig(weighting="mean", embedding_dim=0), 6, 5, 3)


def test_regularization_c_is_scikit_learns_c_per_example():
    # C * sum(CE) + ||W||^2 / 2  ==  n C * (mean CE + ||W||^2 / (2 C n)), with W = LINEAR_SCALE * table
    model = build_ngram_classifier(NgramConfig(regularization_c=4.0), 6, 5, 3, train_examples=50)
    assert model.get_layer("tfidf_bag").l2 == pytest.approx(LINEAR_SCALE**2 / (2 * 4.0 * 50))
    unpenalised = build_ngram_classifier(NgramConfig(regularization_c=0.0), 6, 5, 3, train_examples=50)
    assert unpenalised.get_layer("tfidf_bag").l2 == 0.0


def test_int8_grid_is_the_grid_the_converter_gives_the_gathered_table(tmp_path):
    """The int8 file must read exactly the table Keras uses: convert a bag whose table is on
    int8_grid through the export's converter and compare the file's dequantized table with it."""
    import keras
    from ai_edge_litert.interpreter import Interpreter

    from kerasuite.export import tflite
    from kerasuite.models.layers.tfidf_bag import TfidfBag, int8_grid

    rng = np.random.default_rng(3)
    table = (rng.standard_t(2, size=(50, 4)) * 0.05).astype("float32")  # heavy-tailed, as NB tables
    snapped = int8_grid(table)
    assert len(np.unique(snapped)) <= 256
    assert np.abs(snapped[1:] - table[1:]).max() <= (table.max() - table.min()) / 255.0
    ids = keras.Input(shape=(6,), dtype="int32", name="tokens")
    bag = TfidfBag(50, 4, use_bias=True, scale=10.0)
    model = keras.Model(ids, bag(ids))
    bag.table.assign(snapped)
    bag.idf.assign(np.r_[0.0, rng.uniform(1, 4, 49)].astype("float32"))
    model.save(tmp_path / "bag.keras")
    np.savez(tmp_path / "representative.npz", input__tokens=rng.integers(0, 50, size=(64, 6)).astype("int32"))
    tflite.convert(tmp_path / "bag.keras", "int8", tmp_path / "bag.tflite", tmp_path / "representative.npz",
                   batch_size=1)
    interpreter = Interpreter(model_path=str(tmp_path / "bag.tflite"))
    tables = [d for d in interpreter.get_tensor_details() if list(d["shape"]) == [50, 4] and d["dtype"] == np.int8]
    assert len(tables) == 1
    scale, zero_point = tables[0]["quantization"]
    stored = (interpreter.get_tensor(tables[0]["index"]).astype(np.float64) - zero_point) * scale
    np.testing.assert_allclose(stored, snapped, atol=1e-6 * np.abs(snapped).max())


def test_logit_clip_survives_a_round_trip_and_keeps_the_argmax(tmp_path):
    from kerasuite.models.layers.tfidf_bag import TfidfBag, decision_range

    logits = np.array([[5.0, -1.0, -9.0], [0.5, 0.2, -3.0], [-2.0, -6.0, 30.0]])
    low, high = decision_range(logits, margin=1.0)
    assert (low, high) == (-0.5, 1.2)  # 1 below the lowest top-1 (0.5), 1 above the highest runner-up (0.2)
    assert (np.clip(logits, low, high).argmax(1) == logits.argmax(1)).all()
    bag = TfidfBag(10, 3, use_bias=True, logit_clip=(low, high))
    assert TfidfBag.from_config(bag.get_config()).logit_clip == (low, high)
