"""Keyword spotting: one-second clips of speech -> which keyword (or silence / unknown word).

The model takes the raw 16 kHz waveform; its MFCC front end is part of the graph
(``kerasuite.models.layers.mfcc``), so the exported .tflite needs only WAV reading on a device
(``kerasuite.runtime.audio``). Families: ``ds_cnn`` (default), ``cnn`` and ``bc_resnet``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from kerasuite.config import RunConfig
from kerasuite.data import audio as audio_sources
from kerasuite.data.pipeline import make_split_pipelines
from kerasuite.models.speech import (
    SmoothedSparseCrossentropy,
    batch_norm_momentum,
    build_bc_resnet,
    build_ds_cnn,
    build_speech_cnn,
    set_batch_norm_momentum,
)
from kerasuite.runtime.device_spec import AudioSpec
from kerasuite.tasks.base import Heldout, Task, TaskData, steps_per_execution
from kerasuite.tasks.classification import ClassificationMixin
from kerasuite.training.optimizers import make_optimizer, planned_steps


@dataclasses.dataclass(kw_only=True)
class KeywordSpottingData(TaskData):
    """keyword spotting's data as typed fields: what the builders, the device spec and the
    TensorBoard audio samples read."""

    sample_rate: int
    samples: int  # clip length in samples, the model's waveform input
    peak_floor: float | None  # peak normalisation floor (None: no normalisation)
    noise_source: Any = None  # where background noise for augmentation came from, if any


def _for_run(model: keras.Model, config: RunConfig, data: KeywordSpottingData) -> keras.Model:
    # Small sets give few optimizer steps: the BatchNormalization moving statistics must still
    # forget their initial values, or the trained model is at chance at inference (issue 17).
    set_batch_norm_momentum(model, batch_norm_momentum(planned_steps(config.train, data.num_train_examples)))
    return model


def _build_ds_cnn(config: RunConfig, data: KeywordSpottingData) -> keras.Model:
    return _for_run(build_ds_cnn(config.model.ds_cnn, config.model.mfcc, len(data.labels),
                                 sample_rate=data.sample_rate, num_samples=data.samples,
                                 training=config.model.kws_training), config, data)


def _build_cnn(config: RunConfig, data: KeywordSpottingData) -> keras.Model:
    return _for_run(build_speech_cnn(config.model.cnn, config.model.mfcc, len(data.labels),
                                     sample_rate=data.sample_rate, num_samples=data.samples,
                                     training=config.model.kws_training), config, data)


def _build_bc_resnet(config: RunConfig, data: KeywordSpottingData) -> keras.Model:
    return _for_run(build_bc_resnet(config.model.bc_resnet, config.model.mfcc, len(data.labels),
                                    sample_rate=data.sample_rate, num_samples=data.samples,
                                    training=config.model.kws_training), config, data)


class KeywordSpotting(ClassificationMixin, Task):
    name = "keyword_spotting"
    families = {"ds_cnn": _build_ds_cnn, "cnn": _build_cnn, "bc_resnet": _build_bc_resnet}
    # Batch 1 baked into the export: with a dynamic batch the front end's RESHAPE keeps a -1 that
    # TFLM cannot resolve ("num_input_elements != num_output_elements"). A device hears one clip
    # at a time; LiteRT runs the file example by example (kerasuite.runtime.interpreter).
    export_batch_size = 1

    def compile_model(self, model: keras.Model, config: RunConfig, data: KeywordSpottingData) -> None:
        smoothing = config.model.kws_training.label_smoothing
        if not smoothing:
            return super().compile_model(model, config, data)
        model.compile(
            optimizer=make_optimizer(config.train, planned_steps(config.train, data.num_train_examples)),
            loss=SmoothedSparseCrossentropy(len(data.labels), smoothing),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
            steps_per_execution=steps_per_execution(config),
        )

    def load_data(self, config: RunConfig) -> KeywordSpottingData:
        raw = audio_sources.load(config.data.source, config)
        length = audio_sources.clip_samples(config.data.audio)
        # The model's first step (peak normalisation) is repeated here and on devices: it is
        # idempotent, and doing it before the int8 input quantization keeps quiet clips precise.
        peak_floor = config.model.mfcc.peak_floor
        decode = audio_sources.decoder(length, peak_floor)
        augment = (audio_sources.batch_augmenter(config.data.audio, raw.noise, length, config.seed, peak_floor,
                                                 raw.class_names)
                   if config.data.audio.augment else None)

        train, validation, test = make_split_pipelines(
            raw.train, raw.validation, raw.test, config, map_fn=decode, batch_augment_fn=augment,
            auto_shard=raw.auto_shard, cache=config.data.cache and not raw.in_memory,
        )
        return KeywordSpottingData(
            train=train,
            validation=validation,
            test=test,
            num_train_examples=raw.num_train,
            labels=raw.class_names,
            skipped_files=raw.skipped_files,
            validation_source=raw.validation_source,
            data_notes=raw.notes,
            test_source=raw.test_source,
            split_by_speaker=raw.split_by_speaker,
            sample_rate=config.data.audio.sample_rate,
            samples=length,
            peak_floor=peak_floor,
            noise_source=raw.noise_source,
        )

    def heldout(self, data: KeywordSpottingData, limit: int) -> Heldout:
        return self.collect_heldout(data.test, limit)

    def device_spec(self, data: KeywordSpottingData, config: RunConfig) -> AudioSpec:
        # the descriptions of resampling, fitting and scaling are AudioSpec's defaults:
        # kerasuite.runtime.audio does exactly that
        return AudioSpec(input=audio_sources.INPUT_NAME, sample_rate=data.sample_rate, samples=data.samples,
                         peak_floor=data.peak_floor)

    def callbacks(self, model, data: KeywordSpottingData, log_dir: Path, config: RunConfig) -> list:
        from kerasuite.tensorboard_images import ConfusionMatrixCallback

        return [
            ConfusionMatrixCallback(data.validation or data.test, data.labels, log_dir),
            AudioSamplesCallback(data.test, data.labels, data.sample_rate, log_dir),
        ]


class AudioSamplesCallback(keras.callbacks.Callback):
    """Writes a few held-out clips per class (``tf.summary.audio``) and their MFCC maps as seen by
    the model's own front end, once, when training starts."""

    def __init__(self, dataset: tf.data.Dataset, class_names: list[str], sample_rate: int, log_dir: Path,
                 per_class: int = 2):
        super().__init__()
        self.dataset, self.class_names = dataset, list(class_names)
        self.sample_rate, self.per_class = sample_rate, per_class
        self.writer = tf.summary.create_file_writer(str(Path(log_dir) / "validation"))

    def _pick(self) -> tuple[np.ndarray, np.ndarray]:
        chosen: dict[int, list[np.ndarray]] = {}
        for inputs, targets in self.dataset:
            for waveform, label in zip(inputs[audio_sources.INPUT_NAME].numpy(), targets.numpy()):
                bucket = chosen.setdefault(int(label), [])
                if len(bucket) < self.per_class:
                    bucket.append(waveform)
            if len(chosen) == len(self.class_names) and all(len(v) >= self.per_class for v in chosen.values()):
                break
        labels = sorted(chosen)
        waves = [w for label in labels for w in chosen[label]]
        names = [label for label in labels for _ in chosen[label]]
        return np.stack(waves), np.asarray(names)

    def on_train_begin(self, logs=None):
        from kerasuite.tensorboard_images import _figure_to_image

        waves, labels = self._pick()
        front_end = self.model.get_layer("mfcc")
        mfccs = np.asarray(front_end(waves))
        with self.writer.as_default():
            for label in np.unique(labels):
                name = self.class_names[label]
                clips = waves[labels == label]
                tf.summary.audio(f"audio/{name}", clips[..., None], self.sample_rate, step=0,
                                 max_outputs=self.per_class)
            tf.summary.image("mfcc_maps", _figure_to_image(_plot_mfccs(mfccs, labels, self.class_names)), step=0)
        self.writer.flush()


def _plot_mfccs(mfccs: np.ndarray, labels: np.ndarray, class_names: list[str]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # c0 (overall level) spans a far larger range than the other coefficients; standardise each
    # coefficient over the batch so the picture shows the shapes the network sees after its
    # per-coefficient normalisation layer.
    mfccs = (mfccs - mfccs.mean(axis=(0, 1))) / (mfccs.std(axis=(0, 1)) + 1e-6)
    count = len(mfccs)
    columns = min(6, count)
    rows = int(np.ceil(count / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(2.0 * columns, 1.6 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, mfcc, label in zip(axes.ravel(), mfccs, labels):
        ax.imshow(mfcc.T, origin="lower", aspect="auto", cmap="magma", vmin=-2.5, vmax=2.5)
        ax.set_title(class_names[label], fontsize=7)
    return figure
