"""The shared harness can fail: it catches a layer that forgets a setting on save, and a split
that is not ``({input: tensor}, target)`` or changes between passes."""

import numpy as np
import pytest

from harness import run_dataset_test, run_model_saving_test


def test_model_saving_test_catches_a_setting_lost_on_save(tmp_path):
    import keras

    @keras.saving.register_keras_serializable(package="kerasuite_harness_test")
    class Scale(keras.layers.Layer):
        def __init__(self, factor=1.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):  # the bug: factor is not saved, so the reloaded layer scales by 1.0
            config = super().get_config()
            config.pop("factor", None)
            return config

    inputs = keras.Input((3,), name="x")
    model = keras.Model(inputs, Scale(3.0)(inputs))
    with pytest.raises(AssertionError):
        run_model_saving_test(model, {"x": np.ones((2, 3), "float32")}, tmp_path)


def test_dataset_test_catches_bad_splits():
    import tensorflow as tf

    x = np.arange(12, dtype="float32").reshape(6, 2)
    good = tf.data.Dataset.from_tensor_slices(({"x": x}, np.zeros(6))).batch(4)
    assert run_dataset_test(good, ["x"], 4) == 6
    with pytest.raises(AssertionError, match="pairs"):
        run_dataset_test(tf.data.Dataset.from_tensor_slices((x, np.zeros(6))).batch(4), ["x"], 4)
    with pytest.raises(AssertionError):
        run_dataset_test(good, ["features"], 4)  # not the model's input name
    rows = np.arange(100, dtype="float32")[:, None]
    shuffled = tf.data.Dataset.from_tensor_slices(({"x": rows}, np.zeros(100))).shuffle(100).batch(10)
    with pytest.raises(AssertionError):
        run_dataset_test(shuffled, ["x"], 10)  # a held-out split must read the same on every pass
    assert run_dataset_test(shuffled, ["x"], 10, repeatable=False) == 100
