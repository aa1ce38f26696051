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


def test_array_rows_evaluate_in_order_and_train_on_a_new_permutation_each_epoch():
    def epochs(training, seed=5, drop=False, count=2):
        dataset = make_pipeline(array_rows(_rows()), training=training, batch_size=8, seed=seed, drop_remainder=drop)
        return [_batches(dataset) for _ in range(count)]

    def order(batches):
        return [int(v) for x, _ in batches for v in x["x"]]

    evaluation = epochs(False)[0]
    sliced = _batches(make_pipeline(tf.data.Dataset.from_tensor_slices(_rows()), training=False, batch_size=8))
    assert len(evaluation) == len(sliced) == 7
    for (gx, gy), (sx, sy) in zip(evaluation, sliced):  # the same batches as slicing the arrays
        np.testing.assert_array_equal(gy, sy)
        np.testing.assert_array_equal(gx["pair"], sx["pair"])
    first, second = epochs(True)
    for epoch in (first, second):
        assert sorted(order(epoch)) == list(range(50)) and [len(y) for _, y in epoch] == [8] * 6 + [2]
        for x, y in epoch:  # every row stays whole: features and target of the same example
            np.testing.assert_array_equal(x["pair"][:, 0], x["x"])
            np.testing.assert_array_equal(y, x["x"].astype(int) % 3)
    assert order(first) != list(range(50)) and order(first) != order(second)
    assert [order(e) for e in epochs(True)] == [order(first), order(second)]  # same seed, same epochs
    assert order(epochs(True, seed=6)[0]) != order(first)
    dropped = epochs(True, drop=True, count=1)[0]
    assert [len(y) for _, y in dropped] == [8] * 6 and len(set(order(dropped))) == 48


def test_array_rows_refuses_arrays_of_different_lengths():
    with pytest.raises(ValueError, match="same number of rows"):
        array_rows(({"x": np.zeros(5)}, np.zeros(4)))


def test_array_rows_refuse_per_element_functions():
    with pytest.raises(ValueError, match="batch_map_fn"):
        make_pipeline(array_rows(_rows()), training=True, batch_size=8, augment_fn=lambda x, y: (x, y))
