"""Image classification: builtin digits, TFDS image sets, class folders of .png/.jpg (or a download of
MNIST-format IDX files or CIFAR batches), CSV tables of pixels (Kaggle's MNIST-like CSVs, FER2013),
synthetic."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from kerasuite.config import RunConfig
from kerasuite.data import images as image_sources
from kerasuite.data.pipeline import make_split_pipelines
from kerasuite.models.vision import build_conv_stack
from kerasuite.runtime.device_spec import ImageSpec
from kerasuite.tasks.base import Heldout, Task, TaskData
from kerasuite.tasks.classification import ClassificationMixin


@dataclasses.dataclass(kw_only=True)
class ImageTaskData(TaskData):
    """image classification's data as typed fields: the size the model was trained at."""

    height: int
    width: int
    channels: int  # 1 (grayscale) or 3, as trained; a grayscale model still ships an RGB input

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.height, self.width, self.channels)

    @property
    def grayscale(self) -> bool:
        return self.channels == 1


def _build_cnn(config: RunConfig, data: ImageTaskData):
    return build_conv_stack(config.model.cnn, data.input_shape, len(data.labels), input_name="image")


# tf.image.rgb_to_grayscale's weights; kerasuite.runtime.image uses the same for 3 -> 1 channels.
LUMA = (0.2989, 0.587, 0.114)


class ImageClassification(ClassificationMixin, Task):
    name = "image_classification"
    families = {"cnn": _build_cnn}

    def load_data(self, config: RunConfig) -> ImageTaskData:
        raw = image_sources.load(config.data.source, config)
        height, width = config.data.image.height, config.data.image.width
        decode = image_sources.decoder(raw.kind, height, width, raw.channels, raw.orientations)
        train, validation, test = make_split_pipelines(
            raw.train, raw.validation, raw.test, config, map_fn=decode, auto_shard=raw.auto_shard,
            cache=config.data.cache and not raw.in_memory,
        )
        return ImageTaskData(
            train=train,
            validation=validation,
            test=test,
            num_train_examples=raw.num_train,
            labels=raw.class_names,
            skipped_files=raw.skipped_files,
            validation_source=raw.validation_source,
            data_notes=raw.notes,
            height=height,
            width=width,
            channels=raw.channels,
        )

    def export_model(self, model, data: ImageTaskData):
        """A grayscale model ships with an RGB input and converts inside the graph (ITU-R 601
        luma, as tf.image.rgb_to_grayscale): phone cameras and MediaPipe's ImageClassifier give
        3 channels, and MediaPipe refuses a model whose input depth is 1."""
        if not data.grayscale:
            return model
        import keras

        rgb = keras.Input((data.height, data.width, 3), name="image")
        to_gray = keras.layers.Conv2D(1, 1, use_bias=False, trainable=False, name="rgb_to_gray")
        gray = to_gray(rgb)
        to_gray.set_weights([np.asarray(LUMA, np.float32).reshape(1, 1, 3, 1)])
        return keras.Model({"image": rgb}, model(gray), name=f"{model.name}_rgb")

    def heldout(self, data: ImageTaskData, limit: int) -> Heldout:
        heldout = self.collect_heldout(data.test, limit)
        return Heldout(self._as_export_inputs(heldout.inputs, data), heldout.targets)

    def representative_inputs(self, data: ImageTaskData, config: RunConfig):
        for batch in super().representative_inputs(data, config):
            yield self._as_export_inputs(batch, data)

    @staticmethod
    def _as_export_inputs(inputs: dict, data: ImageTaskData) -> dict:
        if not data.grayscale:
            return inputs
        return {name: np.repeat(value, 3, axis=-1) for name, value in inputs.items()}

    def device_spec(self, data: ImageTaskData, config: RunConfig) -> ImageSpec:
        return ImageSpec(input="image", height=data.height, width=data.width,
                         channels=3 if data.grayscale else data.channels, trained_channels=data.channels,
                         resize="bilinear", scale=1.0 / 255.0)

    def callbacks(self, model, data: ImageTaskData, log_dir: Path, config: RunConfig) -> list:
        from kerasuite.tensorboard_images import ConfusionMatrixCallback, SampleGridCallback

        sample = self.collect_heldout(data.test, 16)
        return [
            ConfusionMatrixCallback(data.validation or data.test, data.labels, log_dir),
            SampleGridCallback(sample.inputs["image"], sample.targets, data.labels, log_dir),
        ]
