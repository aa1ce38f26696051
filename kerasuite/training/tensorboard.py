"""TensorBoard writing that Keras 3's own callback gets wrong for TensorBoard's dashboards.

- Keras 3 stores its model config under the ``keras`` tag, in a format TensorBoard's graph plugin
  reads as Keras 2's: the Graphs tab opened on "Malformed GraphDef". Keras 3.15's train-graph
  writer looks for ``function_spec`` on the train function, which TensorFlow 2.21's functions no
  longer have, so no op graph was written at all. :class:`RunTensorBoard` writes neither of those
  and instead the op graph of one inference call, traced from the model's input signature.
- The hparams dashboard compares runs by the scalars in the session's folder, and epoch scalars
  are all Keras writes: :func:`write_final_scalars` adds the test metrics and, per export mode,
  its metric, agreement and file size, so runs can be compared on what ships.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf


class RunTensorBoard(keras.callbacks.TensorBoard):
    def _write_keras_model_summary(self):
        """Skipped: Keras 3's config under the ``keras`` tag shows as a malformed graph."""

    def _write_keras_model_train_graph(self):
        graph = inference_graph(self.model)
        if graph is None:
            return
        with self._train_writer.as_default():
            tf.summary.graph(graph)


def inference_graph(model: keras.Model) -> tf.Graph | None:
    """The TensorFlow graph of ``model(inputs, training=False)``; ``None`` (with a note on stderr)
    for a model without a symbolic input signature, e.g. a subclassed one."""
    inputs = getattr(model, "inputs", None)
    if not inputs:
        print("note: TensorBoard graph not written (the model has no symbolic inputs)", file=sys.stderr)
        return None
    specs = [tf.TensorSpec(tensor.shape, tensor.dtype) for tensor in inputs]
    names = [tensor.name for tensor in inputs]

    @tf.function
    def forward(*values):
        return model(dict(zip(names, values)) if len(values) > 1 else values[0], training=False)

    return forward.get_concrete_function(*specs).graph


def write_final_scalars(log_dir: Path, report: dict[str, Any]) -> None:
    """Test and export results as scalars beside the hparams session (``logs/validation``)."""
    step = int(report.get("train", {}).get("epochs", 0))
    writer = tf.summary.create_file_writer(str(log_dir))
    with writer.as_default():
        for name, value in report.get("eval", {}).items():
            if isinstance(value, (int, float)):
                tf.summary.scalar(f"test/{name}", float(value), step=step)
        for mode, result in report.get("exports", {}).items():
            for name, value in result.get("eval", {}).items():
                if isinstance(value, (int, float)):
                    tf.summary.scalar(f"export_{mode}/{name}", float(value), step=step)
            parity = result.get("parity", {})
            if isinstance(parity.get("agreement"), (int, float)):
                tf.summary.scalar(f"export_{mode}/agreement", float(parity["agreement"]), step=step)
            tf.summary.scalar(f"export_{mode}/passed", float(bool(parity.get("passed"))), step=step)
            if "size_bytes" in result:
                tf.summary.scalar(f"export_{mode}/size_bytes", float(result["size_bytes"]), step=step)
    writer.close()
