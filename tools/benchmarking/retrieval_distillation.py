"""Study: does distilling EASE into ``history_two_tower`` close its recall@10 gap to EASE?

A training-only loss ``(1 - alpha) * in-batch softmax CE + alpha * soft CE`` against a teacher:
EASE's scores of the batch's candidates, ``sum over the history of B[history_item, candidate]``,
divided by ``--teacher-temperature``, with the student's logQ correction, and masked where the
student's logits are masked (accidental hits, in-history candidates). B is fitted on the run's
training pairs (lambda ``--lam``). Nothing changes in the exported query tower. Prints one JSON
line with the held-out recall, as the task's evaluation computes it.

    PYTHONPATH=. python tools/benchmarking/retrieval_distillation.py data/debian-deps-5-val --alpha 0.5

Not merged (README, retrieval, "Distilling EASE into the two-tower"): the gain stays within a
seed's noise. Run one setting per process (the training seeds TensorFlow's global state).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main(argv=None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="a csv folder (train.csv, test.csv), e.g. a validation copy")
    parser.add_argument("--alpha", type=float, default=0.5, help="weight of the teacher term (0: off)")
    parser.add_argument("--teacher-temperature", type=float, default=0.05)
    parser.add_argument("--lam", type=float, default=20.0, help="EASE's lambda for the teacher")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="as python -m kerasuite.train")
    args = parser.parse_args(argv)

    from kerasuite import config as cfg

    sets = {"data.recsys.implicit": "true", **dict(item.split("=", 1) for item in args.set)}
    config = cfg.resolve({}, sets, {"task": "retrieval", "model.family": "history_two_tower",
                                    "data.source": f"csv:{args.data}", "seed": args.seed})

    import keras
    import numpy as np
    import tensorflow as tf
    from keras import ops

    import kerasuite.tasks.retrieval as retrieval
    from kerasuite.data import recsys
    from kerasuite.metrics import ease
    from kerasuite.training.optimizers import make_optimizer

    keras.utils.set_random_seed(args.seed)
    num_items = recsys.load_arrays(config).num_items
    make_datasets = retrieval.make_datasets

    def with_teacher(config, splits, augment=None):
        features = splits["train"][0]
        users = features["user_index"]
        b = tf.constant(ease.fit(ease.interaction_matrix(users, features["item_index"], int(users.max()) + 1,
                                                         num_items), args.lam))

        def teacher_then_augment(features, target):
            # teacher from the whole (truncated) history, before history dropout
            columns = tf.gather(b, features["item_index"], axis=1)  # [items, batch]
            teacher = tf.reduce_sum(tf.gather(columns, features["history"]), axis=1) / args.teacher_temperature
            if "item_sampling_probability" in features:
                teacher -= tf.math.log(features["item_sampling_probability"])[None, :]
            return augment(features, teacher) if augment is not None else (features, teacher)

        return make_datasets(config, splits, teacher_then_augment)

    class DistilledLoss(keras.losses.Loss):
        def call(self, y_true, y_pred):
            hard = keras.losses.sparse_categorical_crossentropy(ops.arange(ops.shape(y_pred)[0]), y_pred,
                                                                from_logits=True)
            masked = y_pred < -1e8
            teacher = ops.softmax(ops.where(masked, -1e9, y_true), axis=-1)
            soft = -ops.sum(teacher * ops.where(masked, 0.0, ops.log_softmax(y_pred, axis=-1)), axis=-1)
            return (1 - args.alpha) * hard + args.alpha * soft

    retrieval.make_datasets = with_teacher
    task = retrieval.Retrieval()
    data = task.load_data(config)
    model = retrieval.build_history_model(config, data)
    model.compile(optimizer=make_optimizer(config.train), loss=DistilledLoss())
    started = time.perf_counter()
    model.fit(data.train, epochs=config.train.epochs, verbose=0)
    seconds = time.perf_counter() - started
    candidates = task.candidate_embeddings(model, data.arrays)
    query_tower, _ = retrieval.towers(model)
    queries = np.asarray(query_tower.predict(task.query_features(data), batch_size=1024, verbose=0), np.float32)
    test = data.test_split
    recall = task.recall(queries, test.users, test.items - 1, candidates, data.seen)
    print(json.dumps({"alpha": args.alpha, "teacher_temperature": args.teacher_temperature, "lambda": args.lam,
                      "seed": args.seed, "set": args.set, "train_seconds": round(seconds, 1), **recall}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
