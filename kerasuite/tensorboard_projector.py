"""Embeddings for TensorBoard's Embedding Projector: one writer for every task that has a table."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from kerasuite.io_utils import write_text_atomic


def _tsv_field(value) -> str:
    return " ".join(str(value).split())  # tabs and newlines would break the TSV


def write_embedding_projector(folder: Path, name: str, matrix: np.ndarray, rows: Sequence[Sequence[str]],
                              header: Optional[Sequence[str]] = None) -> None:
    """A checkpoint of ``matrix`` (one row per entry of ``rows``), ``metadata.tsv`` (with
    ``header`` when there are several columns) and ``projector_config.pbtxt`` in ``folder``.

    ``folder`` should be a run TensorBoard already lists (``logs/validation``): the Projector reads
    the config from any run, and a folder of its own showed up as a "projector" pseudo-run in
    every run list."""
    import tensorflow as tf
    from tensorboard.plugins import projector

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lines = (["\t".join(header)] if header else []) + ["\t".join(_tsv_field(v) for v in row) for row in rows]
    write_text_atomic(folder / "metadata.tsv", "\n".join(lines) + "\n")
    tf.train.Checkpoint(**{name: tf.Variable(matrix, name=name)}).save(str(folder / "embedding.ckpt"))
    settings = projector.ProjectorConfig()
    entry = settings.embeddings.add()
    entry.tensor_name = f"{name}/.ATTRIBUTES/VARIABLE_VALUE"
    entry.metadata_path = "metadata.tsv"
    projector.visualize_embeddings(str(folder), settings)
