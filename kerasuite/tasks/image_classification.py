"""Image classification: builtin digits, TFDS image sets, class folders of .png/.jpg, synthetic."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

import numpy as np
import tensorflow as tf

from kerasuite.config import RunConfig
from kerasuite.data import images as image_sources
from kerasuite.data.pipeline import make_split_pipelines
from kerasuite.models.vision import build_conv_stack
from kerasuite.tasks.base import Heldout, Task, TaskData
from kerasuite.tasks.classification import ClassificationMixin


def _build_cnn(config: RunConfig, data: TaskData):
    shape = tuple(data.info["input_shape"])
    return build_conv_stack(config.model.cnn, shape, len(data.labels), input_name="image")


class ImageClassification(ClassificationMixin, Task):
    name = "image_classification"
    families = {"cnn": _build_cnn}

    def load_data(self, config: RunConfig) -> TaskData:
        raw = image_sources.load(config.data.source, config)
        height, width = config.data.image.height, config.data.image.width
        decode = image_sources.decoder(raw.kind, height, width, raw.channels)
        train, validation, test = make_split_pipelines(
            raw.train, raw.validation, raw.test, config, map_fn=decode, auto_shard=raw.auto_shard
        )
        return TaskData(
            train=train,
            validation=validation,
            test=test,
            num_train_examples=raw.num_train,
            labels=raw.class_names,
            info={"input_shape": [height, width, raw.channels], "skipped_files": raw.skipped_files},
        )

    def heldout(self, data: TaskData, limit: int) -> Heldout:
        return self.collect_heldout(data.test, limit)

    def device_preprocessing(self, data: TaskData, config: RunConfig) -> dict[str, Any]:
        height, width, channels = data.info["input_shape"]
        return {
            "kind": "image",
            "input": "image",
            "height": height,
            "width": width,
            "channels": channels,
            "resize": "bilinear",
            "scale": 1.0 / 255.0,
            "note": "decode to uint8, resize to height x width, multiply by scale (pixels in [0, 1])",
        }

    def callbacks(self, model, data: TaskData, log_dir: Path, config: RunConfig) -> list:
        from kerasuite.tensorboard_images import ConfusionMatrixCallback, SampleGridCallback

        sample = self.collect_heldout(data.test, 16)
        return [
            ConfusionMatrixCallback(data.validation or data.test, data.labels, log_dir),
            SampleGridCallback(sample.inputs["image"], sample.targets, data.labels, log_dir),
        ]
