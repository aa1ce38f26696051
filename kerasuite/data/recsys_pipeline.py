"""tf.data pipelines and training-only augmentations shared by the recsys tasks (retrieval and
ranking): neither task imports the other."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import tensorflow as tf

from kerasuite.data.pipeline import array_rows, make_pipeline

if TYPE_CHECKING:
    from kerasuite.config import RunConfig


def _zero_at_random(key: str, rate: float):
    """A batch augmentation setting each value of ``features[key]`` to 0 with probability ``rate``."""

    def augment(features, target):
        features = dict(features)
        values = features[key]
        drop = tf.random.uniform(tf.shape(values)) < rate
        features[key] = tf.where(drop, tf.zeros_like(values), values)
        return features, target

    return augment


def oov_user_augment(rate: float):
    """Training-only: replace a share of user indices by the OOV index (0) so its embedding learns
    what an unknown user should get (close to the popular items).

    Vectorized: it takes a whole batch (one draw per row) and goes to the pipeline's
    ``batch_augment_fn``; as a per-element map it made the input 20x slower than the model."""
    return _zero_at_random("user_index", rate)


def make_datasets(config: RunConfig, splits: dict[str, tuple[dict, np.ndarray]],
                  augment=None) -> dict[str, tf.data.Dataset]:
    """Each ``(features, targets)`` split through the canonical pipeline (training: shuffled)."""
    out = {}
    for name, (features, targets) in splits.items():
        training = name == "train"
        # In-memory rows: training draws a full permutation per epoch (files are often sorted by
        # user, or positives before sampled negatives, which a bounded shuffle buffer would not mix).
        out[name] = make_pipeline(
            array_rows((features, targets)), training=training, batch_size=config.train.batch_size,
            batch_augment_fn=augment if training else None, seed=config.seed, auto_shard="DATA",
            # The in-batch softmax treats a 1-example last batch as a trivial (zero-loss) problem.
            drop_remainder=training and len(targets) > config.train.batch_size,
        )
    return out
