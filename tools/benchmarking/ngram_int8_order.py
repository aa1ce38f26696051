"""Where should the linear ngram model normalise, for int8? (issue 20: fortunes seed 2 failed parity)

    PYTHONPATH=. python tools/benchmarking/ngram_int8_order.py --run runs/.../ngram

The same trained weights, two graphs that are equal in float:

- ``per_position`` (TfidfBag until this study): each position's weight ``idf / ||idf||`` is formed
  first, then multiplies its table row. On a long text every weight is a few int8 steps of [0, 1].
- ``after_sum``: the rows are summed weighted by plain ``idf``, and the sum is scaled by
  ``1 / ||idf||`` once.
- ``matmul`` / ``matmul_after_sum``: the same two, with the weighted sum over positions as one
  BATCH_MATMUL instead of MUL then SUM, so int8 products accumulate in int32 before one rounding.
- ``matmul_split_table``: the table's largest entries in a second table reached through an int32
  id map (TFLM's GATHER refuses that map).
- ``matmul_centered``: ``matmul`` with each table row minus its mean over classes (the same
  softmax in float; narrower int8 ranges for the table and the logits).
- ``matmul_two_level``: the table as a coarse part plus its residual at a 255x finer step, two
  GATHERs and two BATCH_MATMULs: if the table's int8 step were what loses decisions, this would
  keep them.

What TfidfBag does now (2026-12-03), one step at a time; these graphs' float results are the
model with a snapped table and clipped logits, and ``int8_agreement_with_float_graph`` compares
each file with its own float graph (the Keras model such a run has):

- ``snapped``: the table on the converter's own int8 grid for it (``int8_grid``), so GATHER reads
  it exactly; ``snapped_clip``: and the logits clipped to the decision range (``--clip``).
- ``snapped_clip_two_rsqrt``: and each kind's norm as two RSQRTs, the second undoing the first's
  rounding; ``snapped_clip_renorm``: normalised twice with the sums of squares as BATCH_MATMULs
  (the exported graph); ``clip_renorm``: the same on the table as solved (what the grid adds).
- ``rowscale_clip``: instead of the grid, each table row divided by its largest entry to
  ``--row-scale-power``, that scale gathered into the position weights.

Run it on a run trained with ``--set model.ngram.int8_grid=false`` to start from the table as
solved; on a default run the table is on its grid already (snapping it again changes nothing).

The run's own options (kept hashed ids, ``normalize=apart``) are honoured, so ``matmul`` is the
exported graph. ``keras_top2_gap_below`` is the share of test texts on which Keras's own top two
probabilities are that close: decisions the int8 logits (about 0.16-0.19 apart per step on the
fortunes NB runs) cannot be expected to keep.

All graphs are converted to int8 with the same calibration rows (the run's training split) and compared
with Keras on the test split, side by side in one run: top-1 agreement and accuracy.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a text_classification ngram run folder")
    parser.add_argument("--calibration-rows", type=int, default=640)
    parser.add_argument("--calibrate-on", choices=("train", "validation"), default="train")
    parser.add_argument("--graphs", default="matmul,snapped,snapped_clip,snapped_clip_two_rsqrt,snapped_clip_renorm")
    parser.add_argument("--tail-percentile", type=float, default=99.5)
    parser.add_argument("--activations", choices=("int8", "int16"), default="int8",
                        help="int16: TFLite's 16x8 mode (int16 activations, int8 weights)")

    parser.add_argument("--clip", default="auto", help="LOW,HIGH for the clipped graphs' logits; auto: as the "
                        "solver chooses them (decision_range of the validation logits)")
    parser.add_argument("--row-scale-power", type=float, default=0.5)
    args = parser.parse_args(argv)

    import keras
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    from kerasuite import config as cfg
    from kerasuite.data import text as text_data
    from kerasuite.models.layers.tfidf_bag import TfidfBag
    from kerasuite.runtime.text_ngrams import NgramFeaturizer
    from kerasuite.tasks.text_classification import ngram_spec

    run = Path(args.run)
    config = cfg.resolve_saved(run / "config.json")
    raw = text_data.load(config.data.source, config)
    vocabulary = (run / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]
    spec = ngram_spec(config)
    kept = np.load(run / spec.kept_ids) if spec.kept_ids else None  # char_min_df runs keep some hashed ids
    featurizer = NgramFeaturizer(vocabulary, spec, config.data.text.standardize, kept)
    train_ids = featurizer.encode_batch(raw.train.texts)
    test_ids = featurizer.encode_batch(raw.test.texts)
    test_labels = np.asarray(raw.test.labels)
    model = keras.saving.load_model(run / "model.keras")
    bag = next(layer for layer in model.layers if isinstance(layer, TfidfBag))

    # constants, as the export's frozen graph has them (the calibrator cannot read variables)
    idf, table = tf.constant(np.asarray(bag.idf)), tf.constant(np.asarray(bag.table))
    bias, scale = tf.constant(np.asarray(bag.bias)), float(bag.scale)

    second_kind = tf.constant(np.asarray(bag.second_kind)) if bag.split_at else None

    def norm_of(squares):
        return tf.math.rsqrt(tf.maximum(tf.reduce_sum(squares, axis=-1, keepdims=True), 1e-12))

    def inverse_norm(weights, ids):
        # as TfidfBag: with normalize=apart, word and character ids each have their own norm
        squares = weights * weights
        if second_kind is None:
            return norm_of(squares)
        second = tf.gather(second_kind, ids)
        return (1.0 - second) * norm_of(squares * (1.0 - second)) + second * norm_of(squares * second)

    def per_position(ids):
        weights = tf.gather(idf, ids)
        weights = weights * (scale * inverse_norm(weights, ids))
        return tf.nn.softmax(tf.reduce_sum(tf.gather(table, ids) * weights[..., None], axis=1) + bias)

    def after_sum(ids):
        weights = tf.gather(idf, ids)
        summed = tf.reduce_sum(tf.gather(table, ids) * weights[..., None], axis=1)
        return tf.nn.softmax(summed * (scale * inverse_norm(weights, ids)) + bias)

    def matmul(ids):
        # the weighted sum as one BATCH_MATMUL: int8 products accumulate in int32, unrounded
        weights = tf.gather(idf, ids)
        weights = weights * (scale * inverse_norm(weights, ids))
        return tf.nn.softmax(tf.squeeze(tf.matmul(weights[:, None, :], tf.gather(table, ids)), 1) + bias)

    def matmul_after_sum(ids):
        weights = tf.gather(idf, ids)
        summed = tf.squeeze(tf.matmul(weights[:, None, :], tf.gather(table, ids)), 1)
        return tf.nn.softmax(summed * (scale * inverse_norm(weights, ids)) + bias)

    # the table's largest entries (NB solver: heavy-tailed) in a compact second table, reached
    # through an int32 id -> row map, so the main table's int8 step follows the 99.5th percentile
    stored = np.asarray(bag.table)
    limit = float(np.percentile(np.abs(stored), args.tail_percentile))
    main_part = np.clip(stored, -limit, limit)
    tail_ids = np.flatnonzero(np.abs(stored).max(axis=1) > limit)
    tail_rows = np.zeros(len(stored), np.int32)
    tail_rows[tail_ids] = np.arange(1, len(tail_ids) + 1)
    tail = np.concatenate([np.zeros((1, stored.shape[1]), np.float32), (stored - main_part)[tail_ids]])
    main_table, tail_table, tail_map = tf.constant(main_part), tf.constant(tail), tf.constant(tail_rows)

    def matmul_split_table(ids):
        weights = tf.gather(idf, ids)
        weights = (weights * (scale * inverse_norm(weights, ids)))[:, None, :]
        main = tf.matmul(weights, tf.gather(main_table, ids))
        rest = tf.matmul(weights, tf.gather(tail_table, tf.gather(tail_map, ids)))
        return tf.nn.softmax(tf.squeeze(main + rest, 1) + bias)

    # the table as a coarse part on its own int8 grid plus the residual at a 255x finer step:
    # every entry keeps ~15 bits through GATHER, and both sums accumulate in int32
    coarse_step = float(np.abs(stored).max()) / 127.0
    coarse_part = np.clip(np.round(stored / coarse_step), -128, 127) * coarse_step
    # one row no id reaches pins the converter's range to [-128, 127] coarse steps (zero point 0)
    anchor = np.zeros((1, stored.shape[1]), np.float32)
    anchor[0, 0], anchor[0, -1] = -128 * coarse_step, 127 * coarse_step
    coarse_table = tf.constant(np.concatenate([coarse_part, anchor]).astype(np.float32))
    fine_table = tf.constant((stored - coarse_part).astype(np.float32))

    def matmul_two_level(ids):
        weights = tf.gather(idf, ids)
        weights = (weights * (scale * inverse_norm(weights, ids)))[:, None, :]
        coarse = tf.matmul(weights, tf.gather(coarse_table, ids))
        fine = tf.matmul(weights, tf.gather(fine_table, ids))
        return tf.nn.softmax(tf.squeeze(coarse + fine, 1) + bias)

    # each row minus its mean over classes: every text's logits move by one constant, so softmax
    # and argmax are unchanged in float, but the common part no longer widens the int8 ranges
    centered_table = tf.constant((stored - stored.mean(axis=1, keepdims=True)).astype(np.float32))

    def matmul_centered(ids):
        weights = tf.gather(idf, ids)
        weights = weights * (scale * inverse_norm(weights, ids))
        return tf.nn.softmax(tf.squeeze(tf.matmul(weights[:, None, :], tf.gather(centered_table, ids)), 1) + bias)

    # -- the int8 grid and the decision-range clip (what the solver now does, int8_grid=true) --
    from kerasuite.models.layers.tfidf_bag import decision_range, int8_grid
    from kerasuite.models.tfidf_solver import tfidf_matrix

    bias_values = np.asarray(bag.bias)
    snapped_values = int8_grid(stored)
    snapped_table = tf.constant(snapped_values)
    if args.clip == "auto":  # as the solver: from the validation texts' logits on the snapped table
        validation_ids = featurizer.encode_batch(raw.validation.texts)
        low, high = decision_range(tfidf_matrix(validation_ids, np.asarray(bag.idf), bag.split_at)
                                   @ (snapped_values.astype(np.float64) * scale) + bias_values)
    else:
        low, high = (float(v) for v in args.clip.split(","))
    print(f"logit clip [{low:.3f}, {high:.3f}]")

    def clipped(summed):
        # before the bias too, so the sum's own int8 range is about the decision range
        summed = tf.clip_by_value(summed, low - float(bias_values.max()), high - float(bias_values.min()))
        return tf.nn.softmax(tf.clip_by_value(summed + bias, low, high))

    def weighted_sum(weights, rows):
        return tf.squeeze(tf.matmul(weights[:, None, :], rows), 1)

    def snapped(ids):
        weights = tf.gather(idf, ids)
        weights = weights * (scale * inverse_norm(weights, ids))
        return tf.nn.softmax(weighted_sum(weights, tf.gather(snapped_table, ids)) + bias)

    def snapped_clip(ids):
        weights = tf.gather(idf, ids)
        weights = weights * (scale * inverse_norm(weights, ids))
        return clipped(weighted_sum(weights, tf.gather(snapped_table, ids)))

    kinds = np.asarray(bag.second_kind) if bag.split_at else np.zeros(len(stored), np.float32)
    first_kind, second_kinds = tf.constant(1.0 - kinds), tf.constant(kinds)

    def two_rsqrt_part(weights):
        # rsqrt, then rsqrt of the sum times the first result squared (1 in float): the second
        # factor undoes the first's int8 rounding, but the sum of squares is still rounded once
        total = tf.maximum(tf.reduce_sum(weights * weights, axis=-1, keepdims=True), 1e-12)
        coarse = tf.math.rsqrt(total)
        return (weights * coarse) * tf.math.rsqrt(total * coarse * coarse) * scale

    def snapped_clip_two_rsqrt(ids):
        weights = tf.gather(idf, ids)
        words = two_rsqrt_part(weights * tf.gather(first_kind, ids))
        chars = two_rsqrt_part(weights * tf.gather(second_kinds, ids))
        return clipped(weighted_sum(words + chars, tf.gather(snapped_table, ids)))

    def squared_norm(weights):
        return tf.squeeze(tf.matmul(weights[:, None, :], weights[:, :, None]), -1)

    def renorm_part(weights):
        # TfidfBag's _unit_norm: normalise twice, sums of squares as BATCH_MATMULs
        coarse = weights * tf.math.rsqrt(tf.maximum(squared_norm(weights), 1e-12))
        return coarse * (tf.math.rsqrt(tf.maximum(squared_norm(coarse), 1e-12)) * scale)

    def snapped_clip_renorm(ids):
        weights = tf.gather(idf, ids)
        words = renorm_part(weights * tf.gather(first_kind, ids))
        chars = renorm_part(weights * tf.gather(second_kinds, ids))
        return clipped(weighted_sum(words + chars, tf.gather(snapped_table, ids)))

    def clip_renorm(ids):  # the same without the grid: what the grid adds to the rest
        weights = tf.gather(idf, ids)
        words = renorm_part(weights * tf.gather(first_kind, ids))
        chars = renorm_part(weights * tf.gather(second_kinds, ids))
        return clipped(weighted_sum(words + chars, tf.gather(table, ids)))

    # the alternative to the grid tried first: each table row scaled by its largest entry to a
    # power (gathered on its own int8 grid, multiplied into the position weights)
    row_scale = np.abs(stored).max(axis=1) ** args.row_scale_power
    row_scale[row_scale == 0] = 1.0
    step = row_scale.max() / 127.0
    row_scale = (np.maximum(np.ceil(row_scale / step), 1.0) * step).astype(np.float32)
    scaled_table, row_scales = tf.constant((stored / row_scale[:, None]).astype(np.float32)), tf.constant(row_scale)

    def rowscale_clip(ids):
        weights = tf.gather(idf, ids)
        weights = weights * (scale * inverse_norm(weights, ids)) * tf.gather(row_scales, ids)
        return clipped(weighted_sum(weights, tf.gather(scaled_table, ids)))

    graphs = {"matmul_centered": matmul_centered, "per_position": per_position, "after_sum": after_sum, "matmul": matmul,
              "matmul_after_sum": matmul_after_sum, "matmul_split_table": matmul_split_table,
              "matmul_two_level": matmul_two_level, "snapped": snapped, "snapped_clip": snapped_clip,
              "snapped_clip_two_rsqrt": snapped_clip_two_rsqrt, "snapped_clip_renorm": snapped_clip_renorm,
              "rowscale_clip": rowscale_clip, "clip_renorm": clip_renorm}
    graphs = {name: graphs[name] for name in args.graphs.split(",")}
    keras_probabilities = np.asarray(model.predict(test_ids, batch_size=256, verbose=0))
    rng = np.random.default_rng(0)
    pool = train_ids if args.calibrate_on == "train" else featurizer.encode_batch(raw.validation.texts)
    calibration = pool[rng.permutation(len(pool))[: args.calibration_rows]]
    ranked = np.sort(keras_probabilities, axis=1)
    gaps = ranked[:, -1] - ranked[:, -2]
    results = {"run": str(run), "test_texts": len(test_ids),
               "keras_accuracy": float((keras_probabilities.argmax(1) == test_labels).mean()),
               # how many decisions are near ties for Keras itself: no int8 graph keeps all of those
               "keras_top2_gap_below": {str(limit): float((gaps < limit).mean()) for limit in (0.005, 0.01, 0.02, 0.05)}}
    for name, graph in graphs.items():
        function = tf.function(graph, input_signature=[tf.TensorSpec([1, test_ids.shape[1]], tf.int32)])
        converter = tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()])
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS_INT8 if args.activations == "int8"
            else tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        converter.representative_dataset = lambda: ([row[None]] for row in calibration)
        flat = converter.convert()
        interpreter = Interpreter(model_content=flat)
        interpreter.allocate_tensors()
        inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
        predictions = []
        for row in test_ids:
            interpreter.set_tensor(inp["index"], row[None])
            interpreter.invoke()
            predictions.append(interpreter.get_tensor(out["index"])[0])
        predictions = np.asarray(predictions)
        float_check = np.asarray(graph(tf.constant(test_ids[:64])))
        own = np.concatenate([np.asarray(graph(tf.constant(test_ids[i:i + 128]))) for i in range(0, len(test_ids), 128)])
        results[name] = {
            "float_max_abs_diff_vs_keras": float(np.abs(float_check - keras_probabilities[:64]).max()),
            "int8_top1_agreement": float((predictions.argmax(1) == keras_probabilities.argmax(1)).mean()),
            "int8_accuracy": float((predictions.argmax(1) == test_labels).mean()),
            "float_graph_accuracy": float((own.argmax(1) == test_labels).mean()),
            "int8_agreement_with_float_graph": float((predictions.argmax(1) == own.argmax(1)).mean()),
        }
        print(name, json.dumps(results[name]), flush=True)
        for detail in interpreter.get_tensor_details():
            if detail["quantization_parameters"]["scales"].size:
                print("  ", detail["name"], detail["dtype"].__name__, detail["shape"].tolist(),
                      detail["quantization_parameters"]["scales"][:2], detail["quantization_parameters"]["zero_points"][:2])
    print(json.dumps({key: results[key] for key in ("keras_accuracy", "keras_top2_gap_below")}))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
