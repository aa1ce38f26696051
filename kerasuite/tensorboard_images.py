"""Pictures for TensorBoard that every classification task wants: a confusion matrix per epoch
and a grid of sample inputs with their predictions."""

from __future__ import annotations

import io
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf


def _figure_to_image(figure) -> tf.Tensor:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(figure)
    return tf.expand_dims(tf.image.decode_png(buffer.getvalue(), channels=4), 0)


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels.astype(np.int64), predictions.astype(np.int64)), 1)
    return matrix


def plot_confusion_matrix(matrix: np.ndarray, class_names: list[str]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = max(4.0, 0.45 * len(class_names) + 2)
    figure, axes = plt.subplots(figsize=(size, size))
    axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(class_names)), class_names, rotation=90)
    axes.set_yticks(range(len(class_names)), class_names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    if len(class_names) <= 20:
        for (i, j), count in np.ndenumerate(matrix):
            axes.text(j, i, str(count), ha="center", va="center", fontsize=7,
                      color="white" if count > matrix.max() / 2 else "black")
    return figure


class ConfusionMatrixCallback(keras.callbacks.Callback):
    """Writes ``confusion_matrix`` under ``logs/validation`` at the end of every epoch."""

    def __init__(self, dataset: tf.data.Dataset, class_names: list[str], log_dir: Path):
        super().__init__()
        self.dataset = dataset
        self.class_names = list(class_names)
        self.writer = tf.summary.create_file_writer(str(Path(log_dir) / "validation"))

    def on_epoch_end(self, epoch, logs=None):
        labels, predictions = [], []
        for inputs, targets in self.dataset:
            predictions.append(np.argmax(self.model(inputs, training=False), axis=-1))
            labels.append(np.asarray(targets))
        matrix = confusion_matrix(np.concatenate(labels), np.concatenate(predictions), len(self.class_names))
        with self.writer.as_default():
            tf.summary.image("confusion_matrix", _figure_to_image(plot_confusion_matrix(matrix, self.class_names)), step=epoch)
        self.writer.flush()


class SampleGridCallback(keras.callbacks.Callback):
    """Writes ``samples`` (inputs titled with true -> predicted labels) when training ends."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, class_names: list[str], log_dir: Path,
                 input_name: str = "image"):
        super().__init__()
        self.images, self.labels, self.class_names = images, labels, list(class_names)
        self.input_name = input_name
        self.writer = tf.summary.create_file_writer(str(Path(log_dir) / "validation"))

    def on_train_end(self, logs=None):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        predictions = np.argmax(self.model({self.input_name: self.images}, training=False), axis=-1)
        count = len(self.images)
        columns = min(8, count)
        rows = int(np.ceil(count / columns))
        figure, axes = plt.subplots(rows, columns, figsize=(1.4 * columns, 1.6 * rows), squeeze=False)
        for ax in axes.ravel():
            ax.axis("off")
        for i, ax in enumerate(axes.ravel()[:count]):
            image = self.images[i]
            ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray" if image.shape[-1] == 1 else None)
            ok = predictions[i] == self.labels[i]
            ax.set_title(f"{self.class_names[self.labels[i]]}->{self.class_names[predictions[i]]}",
                         fontsize=7, color="green" if ok else "red")
        with self.writer.as_default():
            tf.summary.image("samples_true_to_predicted", _figure_to_image(figure), step=0)
        self.writer.flush()
