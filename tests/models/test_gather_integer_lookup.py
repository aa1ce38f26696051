"""The exporter's IntegerLookup swap gives Keras' outputs for every lookup it accepts, keys outside
the vocabulary and beyond its range included, and says why for the ones it does not reproduce."""

import keras
import numpy as np
import pytest

from kerasuite.models.layers.gather_integer_lookup import GatherIntegerLookup, from_integer_lookup, why_not_swappable

SEEN = np.array([[5], [7], [7], [12], [0], [-3]])
KEYS = [5, 7, 12, 0, -3, 3, 6, -100, 100]  # in the vocabulary, gaps inside its range, far outside it


def adapted(shape, **kwargs):
    layer = keras.layers.IntegerLookup(**kwargs)
    layer.adapt(SEEN)
    layer(keras.Input(shape, dtype="int64"))
    return layer


@pytest.mark.parametrize("kwargs, shape", [
    ({}, (4,)), ({}, ()), ({"mask_token": 0}, (4,)), ({"output_mode": "one_hot"}, (4,)),
    ({"output_mode": "one_hot"}, (1,)), ({"output_mode": "one_hot"}, ()),
    ({"output_mode": "multi_hot", "mask_token": 0}, (4,)), ({"output_mode": "count"}, (4,)),
    ({"output_mode": "tf_idf"}, (4,)), ({"num_oov_indices": 0}, (4,)),
    ({"output_mode": "multi_hot", "num_oov_indices": 0}, (4,))])
def test_matches_keras_integer_lookup(kwargs, shape):
    layer = adapted(shape, **kwargs)
    assert why_not_swappable(layer) is None
    rng = np.random.default_rng(3)
    in_vocabulary_only = kwargs.get("num_oov_indices") == 0  # Keras raises on other keys
    keys = rng.choice([5, 7, 12, 0, -3] if in_vocabulary_only else KEYS, (9, *shape)).astype("int64")
    expected = np.asarray(layer(keys))
    swapped = from_integer_lookup(layer)
    got = np.asarray(swapped(keys))
    assert got.shape == expected.shape and tuple(swapped.compute_output_shape((9, *shape))) == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    clone = GatherIntegerLookup.from_config(swapped.get_config())
    np.testing.assert_allclose(np.asarray(clone(keys)), expected, rtol=1e-6)
    assert not clone.weights


def test_a_key_outside_a_vocabulary_without_an_oov_slot_reads_minus_one():
    swapped = from_integer_lookup(adapted((2,), num_oov_indices=0))
    assert np.asarray(swapped(np.array([[6, 100]]))).tolist() == [[-1, -1]]


def test_lookups_it_cannot_reproduce_say_why():
    assert "buckets" in why_not_swappable(adapted((4,), num_oov_indices=2))
    assert "inverts" in why_not_swappable(adapted((4,), invert=True))
    wide = keras.layers.IntegerLookup(vocabulary=[0, 5_000_000])
    wide(keras.Input((2,), dtype="int64"))
    assert "table of more than" in why_not_swappable(wide)
    assert "no vocabulary" in why_not_swappable(keras.layers.IntegerLookup())
