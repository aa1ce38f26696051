"""The one canonical tf.data pipeline every task feeds through.

decode/map (parallel, deterministic) -> cache -> shuffle (training only) -> augment (training
only, after the cache so every epoch sees fresh augmentation) -> batch -> batch augment
(training only) -> prefetch.

Per-element maps cost a fixed overhead per example that dwarfs cheap ops: an augmentation that
only flips a few values (e.g. the recommenders' OOV-user dropout) made the input pipeline 20x
slower than the same pipeline without it, and slower than the model it fed. Such augmentations
go in ``batch_augment_fn``: one vectorized call per batch (tf.data's "vectorize the map" advice).

Sharding is left to tf.distribute: the auto-shard policy is set per source (``"DATA"`` for
in-memory and record sources, ``"FILE"`` for file lists with at least as many files as workers).
"""

from __future__ import annotations

from typing import Callable, Optional

import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE
_SHARD_POLICIES = {
    "AUTO": tf.data.experimental.AutoShardPolicy.AUTO,
    "DATA": tf.data.experimental.AutoShardPolicy.DATA,
    "FILE": tf.data.experimental.AutoShardPolicy.FILE,
    "OFF": tf.data.experimental.AutoShardPolicy.OFF,
}


def make_pipeline(
    dataset: tf.data.Dataset,
    *,
    training: bool,
    batch_size: int,
    map_fn: Optional[Callable] = None,
    augment_fn: Optional[Callable] = None,
    batch_augment_fn: Optional[Callable] = None,
    cache: bool = True,
    shuffle_buffer: int = 10000,
    seed: int = 0,
    auto_shard: str = "DATA",
    drop_remainder: bool = False,
) -> tf.data.Dataset:
    """Turn a dataset of raw elements into batched ``(inputs, targets)`` ready for ``fit``.

    ``map_fn`` decodes one element; ``augment_fn`` perturbs one decoded element and is applied
    only when ``training`` is true, so evaluation and export never see augmentation.
    ``batch_augment_fn`` is the same for a whole batch ``(inputs, targets)`` at once: it must act
    per row (independent draws per example), and is much cheaper for light element-wise ops.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = _SHARD_POLICIES[auto_shard]
    options.deterministic = True
    dataset = dataset.with_options(options)
    if map_fn is not None:
        dataset = dataset.map(map_fn, num_parallel_calls=AUTOTUNE, deterministic=True)
    if cache:
        dataset = dataset.cache()
    if training:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        if augment_fn is not None:
            dataset = dataset.map(augment_fn, num_parallel_calls=AUTOTUNE, deterministic=True)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    if training and batch_augment_fn is not None:
        dataset = dataset.map(batch_augment_fn, num_parallel_calls=AUTOTUNE, deterministic=True)
    return dataset.prefetch(AUTOTUNE)


def make_split_pipelines(
    train: tf.data.Dataset,
    validation: Optional[tf.data.Dataset],
    test: tf.data.Dataset,
    config,
    map_fn: Optional[Callable] = None,
    augment_fn: Optional[Callable] = None,
    auto_shard: str = "DATA",
) -> tuple[tf.data.Dataset, Optional[tf.data.Dataset], tf.data.Dataset]:
    """The three splits through :func:`make_pipeline` with the run's batch, cache, shuffle and
    seed settings; only the training split shuffles and augments."""

    def pipeline(dataset: tf.data.Dataset, training: bool) -> tf.data.Dataset:
        return make_pipeline(
            dataset, training=training, batch_size=config.train.batch_size, map_fn=map_fn,
            augment_fn=augment_fn, cache=config.data.cache, shuffle_buffer=config.data.shuffle_buffer,
            seed=config.seed, auto_shard=auto_shard,
        )

    return pipeline(train, True), pipeline(validation, False) if validation is not None else None, pipeline(test, False)
