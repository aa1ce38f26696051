"""Before/after record of the ISSUE 8 bottleneck fix. Side by side in one process: the recsys training pipeline with the OOV-user augmentation as a
per-element map (before) and as a batch map (after), same data, interleaved repeats."""
import os, sys, statistics, json
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import benchmark as b
import tensorflow as tf
from kerasuite.tasks import get_task
from kerasuite.tasks import retrieval as r
from kerasuite.data.pipeline import make_pipeline

def per_element(rate):  # the augmentation as it was before (per element, one draw per example)
    def augment(features, target):
        features = dict(features)
        drop = tf.random.uniform([]) < rate
        features["user_index"] = tf.where(drop, tf.zeros_like(features["user_index"]), features["user_index"])
        return features, target
    return augment

out = {}
for task_name in ("ranking", "retrieval"):
    config = b._config(task_name, b.SETTINGS["quick"][task_name])
    task = get_task(task_name)
    data = task.load_data(config)
    # Rebuild the raw training features from the cached pipeline, then time both variants.
    feats, targets = {}, []
    for x, y in data.train.unbatch().take(100000):
        for k, v in x.items(): feats.setdefault(k, []).append(v.numpy())
        targets.append(y.numpy())
    import numpy as np
    feats = {k: np.stack(v) for k, v in feats.items()}; targets = np.stack(targets)
    rate = config.data.recsys.oov_user_rate
    def before():
        return make_pipeline(tf.data.Dataset.from_tensor_slices((feats, targets)), training=True, batch_size=config.train.batch_size,
                             augment_fn=per_element(rate), seed=0, drop_remainder=True)
    def after():
        return make_pipeline(tf.data.Dataset.from_tensor_slices((feats, targets)), training=True, batch_size=config.train.batch_size,
                             batch_augment_fn=r.oov_user_augment(rate), seed=0, drop_remainder=True)
    def none():
        return make_pipeline(tf.data.Dataset.from_tensor_slices((feats, targets)), training=True, batch_size=config.train.batch_size,
                             seed=0, drop_remainder=True)
    rows = {"before_per_element": [], "after_batched": [], "no_augmentation": []}
    for _ in range(3):
        for key, fn in (("before_per_element", before), ("after_batched", after), ("no_augmentation", none)):
            rows[key].append(b.pipeline_rates(fn, 3)["warm_examples_per_second"])
    out[task_name] = {k: statistics.median(v) for k, v in rows.items()}
    out[task_name]["speedup"] = out[task_name]["after_batched"] / out[task_name]["before_per_element"]
print(json.dumps(out, indent=1))
