import numpy as np
import pytest
import tensorflow as tf

from kerasuite.data.pipeline import array_rows, make_pipeline


def _source(n=50):
    return tf.data.Dataset.from_tensor_slices((np.arange(n, dtype=np.float32), np.arange(n) % 3))


def _decode(x, y):
    return {"x": tf.stack([x, x * 2])}, y


def _order(dataset):
    return [int(v) for batch, _ in dataset for v in batch["x"][:, 0].numpy()]


def test_evaluation_pipeline_keeps_order_and_batch_shapes():
    dataset = make_pipeline(_source(), training=False, batch_size=16, map_fn=_decode)
    shapes = [batch["x"].shape.as_list() for batch, _ in dataset]
    assert shapes == [[16, 2], [16, 2], [16, 2], [2, 2]]
    assert _order(dataset) == list(range(50))


def test_training_pipeline_shuffles_deterministically_per_seed():
    first = _order(make_pipeline(_source(), training=True, batch_size=8, map_fn=_decode, seed=5))
    second = _order(make_pipeline(_source(), training=True, batch_size=8, map_fn=_decode, seed=5))
    other = _order(make_pipeline(_source(), training=True, batch_size=8, map_fn=_decode, seed=6))
    assert first == second
    assert first != other
    assert sorted(first) == list(range(50))
    assert first != list(range(50))


def test_augmentation_runs_only_for_training():
    def add_one_thousand(inputs, y):
        return {"x": inputs["x"] + 1000.0}, y

    train = make_pipeline(_source(), training=True, batch_size=50, map_fn=_decode, augment_fn=add_one_thousand)
    evaluation = make_pipeline(_source(), training=False, batch_size=50, map_fn=_decode, augment_fn=add_one_thousand)
    assert min(_order(train)) >= 1000
    assert max(_order(evaluation)) < 1000


def test_batch_map_runs_on_every_split_and_batch_augment_on_training_only():
    def decode_batch(x, y):  # vectorized twin of _decode
        return {"x": tf.stack([x, x * 2], axis=1)}, y

    def add_one_thousand(inputs, y):
        return {"x": inputs["x"] + 1000.0}, y

    train = make_pipeline(_source(), training=True, batch_size=16, batch_map_fn=decode_batch,
                          batch_augment_fn=add_one_thousand)
    evaluation = make_pipeline(_source(), training=False, batch_size=16, batch_map_fn=decode_batch,
                               batch_augment_fn=add_one_thousand)
    assert _order(evaluation) == list(range(50))
    assert sorted(_order(train)) == [v + 1000 for v in range(50)]
    batch, _ = next(iter(evaluation))
    np.testing.assert_array_equal(batch["x"][:, 1].numpy(), 2 * batch["x"][:, 0].numpy())


def _rows(n=50):
    features = {"x": np.arange(n, dtype=np.float32), "pair": np.stack([np.arange(n), -np.arange(n)], axis=1)}
    return features, np.arange(n) % 3


def _batches(dataset):
    return [(tf.nest.map_structure(lambda t: t.numpy(), x), y.numpy()) for x, y in dataset]


def test_array_rows_give_the_same_batches_as_slicing_the_arrays():
    # Shuffling and batching row indices, then gathering, must reproduce exactly what shuffling
    # and batching the rows themselves gives: same seed, same order, same remainder handling.
    for training, drop in ((True, True), (True, False), (False, False)):
        rows = array_rows(_rows())
        gathered = _batches(make_pipeline(rows.indices, training=training, batch_size=8, batch_map_fn=rows.gather,
                                          cache=False, seed=5, shuffle_buffer=20, drop_remainder=drop))
        sliced = _batches(make_pipeline(tf.data.Dataset.from_tensor_slices(_rows()), training=training,
                                        batch_size=8, seed=5, shuffle_buffer=20, drop_remainder=drop))
        assert len(gathered) == len(sliced) == (6 if drop else 7)
        for (gx, gy), (sx, sy) in zip(gathered, sliced):
            np.testing.assert_array_equal(gy, sy)
            for key in ("x", "pair"):
                np.testing.assert_array_equal(gx[key], sx[key])
        order = [int(v) for x, _ in gathered for v in x["x"]]
        assert (order != list(range(len(order)))) == training


def test_array_rows_refuses_arrays_of_different_lengths():
    with pytest.raises(ValueError, match="same number of rows"):
        array_rows(({"x": np.zeros(5)}, np.zeros(4)))
