"""The one canonical tf.data pipeline every task feeds through.

decode/map (parallel, deterministic) -> cache -> shuffle (training only) -> augment (training
only, after the cache so every epoch sees fresh augmentation) -> batch -> batch map -> batch
augment (training only) -> prefetch.

Per-element maps cost a fixed overhead per example that dwarfs cheap ops: an augmentation that
only flips a few values (e.g. the recommenders' OOV-user dropout) made the input pipeline 20x
slower than the same pipeline without it, and slower than the model it fed. Such work goes after
``batch``: ``batch_map_fn`` (every split) and ``batch_augment_fn`` (training only) are one
vectorized call per batch (tf.data's "vectorize the map" advice).

In-memory arrays (:func:`array_rows`) go one step further: the pipeline shuffles and batches
row *indices* and ``batch_map_fn`` gathers the rows of a batch in one op, so no per-example
tensor of features is ever built, cached or copied. Tabular rows are tiny, so that per-example
bookkeeping, not the data, was what limited the recommenders' input.

Sharding is left to tf.distribute: the auto-shard policy is set per source (``"DATA"`` for
in-memory and record sources, ``"FILE"`` for file lists with at least as many files as workers).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

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
    batch_map_fn: Optional[Callable] = None,
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
    ``batch_map_fn`` turns each batch into ``(inputs, targets)`` in every split (a vectorized
    decode, e.g. :func:`array_rows`' gather). ``batch_augment_fn`` is ``augment_fn`` for a whole
    batch ``(inputs, targets)`` at once: it must act per row (independent draws per example), and
    is much cheaper for light element-wise ops.
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
    if batch_map_fn is not None:
        dataset = dataset.map(batch_map_fn, num_parallel_calls=AUTOTUNE, deterministic=True)
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
    batch_augment_fn: Optional[Callable] = None,
    auto_shard: str = "DATA",
) -> tuple[tf.data.Dataset, Optional[tf.data.Dataset], tf.data.Dataset]:
    """The three splits through :func:`make_pipeline` with the run's batch, cache, shuffle and
    seed settings; only the training split shuffles and augments."""

    def pipeline(dataset: tf.data.Dataset, training: bool) -> tf.data.Dataset:
        return make_pipeline(
            dataset, training=training, batch_size=config.train.batch_size, map_fn=map_fn,
            augment_fn=augment_fn, batch_augment_fn=batch_augment_fn, cache=config.data.cache,
            shuffle_buffer=config.data.shuffle_buffer, seed=config.seed, auto_shard=auto_shard,
        )

    return pipeline(train, True), pipeline(validation, False) if validation is not None else None, pipeline(test, False)


@dataclasses.dataclass
class ArrayRows:
    """In-memory rows as :func:`make_pipeline` input: ``indices`` (a dataset of row numbers) and
    ``gather`` (a ``batch_map_fn``: a batch of row numbers -> those rows of every array)."""

    indices: tf.data.Dataset
    gather: Callable


def array_rows(arrays: Any) -> ArrayRows:
    """Wrap a nested structure of equally long arrays (e.g. ``(features dict, targets)``) whose
    first axis is the example. Shuffling and batching then move one int64 per example; with the
    same seed and buffer the order is the one ``from_tensor_slices(arrays)`` would give, since
    shuffle and batch never look at the values. No ``cache`` is needed: the rows are in memory."""
    tensors = tf.nest.map_structure(tf.convert_to_tensor, arrays)
    counts = {int(t.shape[0]) for t in tf.nest.flatten(tensors)}
    if len(counts) != 1:
        raise ValueError(f"array_rows: every array needs the same number of rows, got {sorted(counts)}")
    count = counts.pop()

    def gather(rows):
        return tf.nest.map_structure(lambda t: tf.gather(t, rows), tensors)

    return ArrayRows(tf.data.Dataset.range(count), gather)
