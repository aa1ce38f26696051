"""The whole catalogue's candidate-tower inputs, held as weights (catalogue softmax)."""

from __future__ import annotations

from typing import Any

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="kerasuite")
class CatalogueFeatures(layers.Layer):
    """The candidate-tower inputs of every catalogue item (rows = item index 1..N), held as
    non-trainable weights so they are saved with the model. The call input only anchors the
    layer in the functional graph; its values are ignored."""

    def __init__(self, num_items: int, num_genres: int = 0, title_length: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_items = num_items
        self.num_genres = num_genres
        self.title_length = title_length

    def build(self, input_shape=None):
        rows = self.num_items - 1
        self.item_index = self.add_weight(shape=(rows,), dtype="int32", initializer="zeros",
                                          trainable=False, name="item_index")
        self.item_genres = (self.add_weight(shape=(rows, self.num_genres), initializer="zeros", trainable=False,
                                            name="item_genres") if self.num_genres else None)
        self.item_title = (self.add_weight(shape=(rows, self.title_length), dtype="int32", initializer="zeros",
                                           trainable=False, name="item_title") if self.title_length else None)
        self.built = True

    def set_catalogue(self, features: dict) -> None:
        if not self.built:
            self.build()
        self.item_index.assign(features["item_index"])
        if self.item_genres is not None:
            self.item_genres.assign(features["item_genres"])
        if self.item_title is not None:
            self.item_title.assign(features["item_title"])

    def call(self, anchor):
        out = [ops.convert_to_tensor(self.item_index)]
        out.append(ops.convert_to_tensor(self.item_genres) if self.item_genres is not None else ops.zeros((1,)))
        out.append(ops.convert_to_tensor(self.item_title) if self.item_title is not None else ops.zeros((1,), "int32"))
        return out

    def compute_output_shape(self, input_shape):
        rows = self.num_items - 1
        return [(rows,), (rows, self.num_genres) if self.num_genres else (1,),
                (rows, self.title_length) if self.title_length else (1,)]

    def compute_output_spec(self, anchor):
        shapes = self.compute_output_shape(None)
        dtypes = ["int32", "float32", "int32"]
        return [keras.KerasTensor(shape, dtype=dtype) for shape, dtype in zip(shapes, dtypes)]

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(num_items=self.num_items, num_genres=self.num_genres, title_length=self.title_length)
        return config
