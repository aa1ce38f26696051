"""The one canonical tf.data pipeline every task feeds through.

decode/map (parallel, deterministic) -> cache -> shuffle (training only) -> augment (training
only, after the cache so every epoch sees fresh augmentation) -> batch -> batch map -> batch
augment (training only) -> prefetch.

Per-element maps cost a fixed overhead per example that dwarfs cheap ops: an augmentation that
only flips a few values (e.g. the recommenders' OOV-user dropout) made the input pipeline 20x
slower than the same pipeline without it, and slower than the model it fed. Such work goes after
``batch``: ``batch_map_fn`` (every split) and ``batch_augment_fn`` (training only) are one
vectorized call per batch (tf.data's "vectorize the map" advice).

In-memory arrays (:class:`ArrayRows`, from :func:`array_rows`) go one step further: the source
is batches of row *indices*, cut from one permutation per epoch (one op, where a shuffle buffer
and ``batch`` do per-element work), and each batch's rows are gathered in one op. No
per-example tensor of features is ever built, cached or copied. Tabular rows are tiny, so that
per-example bookkeeping, not the data, was what limited the recommenders' input.

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
    dataset: "tf.data.Dataset | ArrayRows",
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

    ``dataset`` may be :class:`ArrayRows`: its rows are then permuted per epoch (training, in
    place of the shuffle buffer) and gathered per batch, before ``batch_map_fn``; there is nothing
    to decode, cache or shuffle per element.
    """
    shuffle, batched = training, False
    if isinstance(dataset, ArrayRows):
        if map_fn is not None or augment_fn is not None:
            raise ValueError("ArrayRows take batch_map_fn / batch_augment_fn, not per-element functions")
        rows = dataset
        dataset = rows.index_batches(batch_size, shuffle=training, seed=seed, drop_remainder=drop_remainder)
        shuffle, cache, batched = False, False, True
        batch_map_fn = _chain(*[fn for fn in (rows.gather, batch_map_fn) if fn is not None])
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = _SHARD_POLICIES[auto_shard]
    options.deterministic = True
    dataset = dataset.with_options(options)
    if map_fn is not None:
        dataset = dataset.map(map_fn, num_parallel_calls=AUTOTUNE, deterministic=True)
    if cache:
        dataset = dataset.cache()
    if shuffle:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        if augment_fn is not None:
            dataset = dataset.map(augment_fn, num_parallel_calls=AUTOTUNE, deterministic=True)
    if not batched:
        dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    # One map for all per-batch work: each map stage costs a function call and a hand-over
    # between threads per batch, which on light batches (recommender rows) is most of the cost.
    batch_fns = [fn for fn in (batch_map_fn, batch_augment_fn if training else None) if fn is not None]
    if batch_fns:
        dataset = dataset.map(_chain(*batch_fns), num_parallel_calls=AUTOTUNE, deterministic=True)
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
    cache: Optional[bool] = None,
) -> tuple[tf.data.Dataset, Optional[tf.data.Dataset], tf.data.Dataset]:
    """The three splits through :func:`make_pipeline` with the run's batch, cache, shuffle and
    seed settings; only the training split shuffles and augments. ``cache`` overrides
    ``data.cache`` (False for a source already in memory whose map is cheap)."""
    cache = config.data.cache if cache is None else cache

    def pipeline(dataset: tf.data.Dataset, training: bool) -> tf.data.Dataset:
        return make_pipeline(
            dataset, training=training, batch_size=config.train.batch_size, map_fn=map_fn,
            augment_fn=augment_fn, batch_augment_fn=batch_augment_fn, cache=cache,
            shuffle_buffer=config.data.shuffle_buffer, seed=config.seed, auto_shard=auto_shard,
        )

    return pipeline(train, True), pipeline(validation, False) if validation is not None else None, pipeline(test, False)


def _chain(*fns: Callable) -> Callable:
    """``fns`` applied in order; each takes the previous one's ``(inputs, targets)``."""
    if len(fns) == 1:
        return fns[0]

    def chained(*batch):
        for fn in fns:
            batch = fn(*batch)
        return batch

    return chained


@dataclasses.dataclass
class ArrayRows:
    """In-memory rows (a nested structure of equally long tensors; the first axis is the example)
    as :func:`make_pipeline` input."""

    tensors: Any
    count: int

    def index_batches(self, batch_size: int, shuffle: bool, seed: int, drop_remainder: bool) -> tf.data.Dataset:
        """Batches of row numbers: in order, or (``shuffle``) from a new permutation each epoch.
        The permutation is one op per epoch, cut into batches by one reshape, so no stage sees
        single rows; ``Dataset.random`` seeds it with a fresh, seed-determined draw every time
        the dataset is iterated, as ``reshuffle_each_iteration`` does."""
        count = self.count
        full = count // batch_size
        keep_rest = bool(count % batch_size) and not drop_remainder

        def batches(order):
            cut = tf.data.Dataset.from_tensor_slices(tf.reshape(order[:full * batch_size], [full, batch_size]))
            return cut.concatenate(tf.data.Dataset.from_tensors(order[full * batch_size:])) if keep_rest else cut

        if not shuffle:
            return batches(tf.range(count, dtype=tf.int64))

        def permuted(draw):
            return batches(tf.random.experimental.stateless_shuffle(tf.range(count, dtype=tf.int64),
                                                                    tf.stack([draw, seed])))

        draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)
        return draws.flat_map(permuted).apply(tf.data.experimental.assert_cardinality(full + keep_rest))

    def gather(self, rows):
        """A batch of row numbers -> those rows of every tensor (a ``batch_map_fn``)."""
        return tf.nest.map_structure(lambda t: tf.gather(t, rows), self.tensors)


def array_rows(arrays: Any) -> ArrayRows:
    """Wrap a nested structure of equally long arrays (e.g. ``(features dict, targets)``)."""
    tensors = tf.nest.map_structure(tf.convert_to_tensor, arrays)
    counts = {int(t.shape[0]) for t in tf.nest.flatten(tensors)}
    if len(counts) != 1:
        raise ValueError(f"array_rows: every array needs the same number of rows, got {sorted(counts)}")
    return ArrayRows(tensors, counts.pop())
