import numpy as np
import tensorflow as tf

from kerasuite.data.pipeline import make_pipeline


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
