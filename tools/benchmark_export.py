"""Keras' own ``model.export(format="litert")`` and ``kerasuite.export`` side by side, in one run,
on the same user-style models (written here, not by kerasuite's builders), same weights, same data.

    nice -n 10 python tools/benchmark_export.py [--out DIR] [--models conv,lstm,...]

Per model and mode (float32, int8) it reports: whether ai-edge-litert can run the file (Keras'
exporter always adds SELECT_TF_OPS, so a Flex op makes it refuse to load), the op count and the
Flex ops, max |diff| against the Keras model in float32, top-1 agreement, file size and conversion
time. Keras' int8 is its documented route (``optimizations=[DEFAULT]`` plus a
``representative_dataset``, float input/output); kerasuite's is full-integer with int8 I/O.
Conversion time: Keras converts in this process; kerasuite converts both modes in one child process,
so its time includes that child's TensorFlow start-up. Writes ``export_vs_keras.json`` and ``.md``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kerasuite.io_utils import write_text_atomic  # noqa: E402  (after the path insert above)

COUNT = 160


def tokens(count, length, vocabulary, rng):
    ids = rng.integers(1, vocabulary, (count, length)).astype("int32")
    for row, used in enumerate(rng.integers(2, length + 1, count)):
        ids[row, used:] = 0
    return ids


def build_models(rng):
    """name -> (model, inputs, class targets): small but trained, so outputs are decisive."""
    import keras

    models = {}
    keras.utils.set_random_seed(0)
    images = rng.normal(size=(COUNT, 16, 16, 1)).astype("float32")
    models["conv_bn"] = (keras.Sequential([
        keras.Input((16, 16, 1), name="image"), keras.layers.Conv2D(8, 3, activation="relu"),
        keras.layers.BatchNormalization(), keras.layers.MaxPooling2D(), keras.layers.Flatten(),
        keras.layers.Dense(4, activation="softmax")]), {"image": images}, np.argmax(images[:, 4:8, 8, 0], -1))
    ids = tokens(COUNT, 20, 50, rng)
    models["embedding_lstm"] = (keras.Sequential([
        keras.Input((20,), dtype="int32", name="tokens"), keras.layers.Embedding(50, 16), keras.layers.LSTM(16),
        keras.layers.Dense(3, activation="softmax")]), {"tokens": ids}, ids[:, 0] % 3)
    sequence = keras.Input((20,), dtype="int32", name="tokens")
    hidden = keras.layers.Bidirectional(keras.layers.LSTM(8))(keras.layers.Embedding(50, 16)(sequence))
    models["bidirectional_lstm"] = (keras.Model(sequence, keras.layers.Dense(3, activation="softmax")(hidden)),
                                    {"tokens": ids}, ids[:, 1] % 3)
    text = keras.Input((20,), dtype="int32", name="tokens")
    mask = keras.ops.expand_dims(keras.ops.not_equal(text, 0), 1)
    x = keras.layers.Embedding(50, 16)(text)
    x = keras.layers.LayerNormalization()(x + keras.layers.MultiHeadAttention(2, 8)(x, x, attention_mask=mask))
    models["masked_attention"] = (keras.Model(text, keras.layers.Dense(3, activation="softmax")(
        keras.layers.GlobalAveragePooling1D()(x))), {"tokens": ids}, ids[:, 0] % 3)
    classes = rng.integers(0, 3, COUNT)
    t = np.arange(800) / 800.0
    waves = (np.sin(2 * np.pi * (5 + 20 * classes[:, None]) * t) + rng.normal(0, 0.2, (COUNT, 800)))[..., None]
    models["conv1d_audio"] = (keras.Sequential([
        keras.Input((800, 1), name="waveform"), keras.layers.Conv1D(8, 9, strides=4, activation="relu"),
        keras.layers.MaxPooling1D(4), keras.layers.Conv1D(16, 5, activation="relu"), keras.layers.GlobalMaxPooling1D(),
        keras.layers.Dense(3, activation="softmax")]), {"waveform": waves.astype("float32")}, classes)
    for model, inputs, targets in models.values():
        model.compile("adam", "sparse_categorical_crossentropy")
        model.fit(list(inputs.values())[0], targets, epochs=6, batch_size=16, verbose=0)
    return models


def runs_on_litert(path: Path):
    """(runtime or None, op names, refusal text)."""
    from kerasuite.errors import UserError
    from kerasuite.runtime.interpreter import TFLiteModel

    ops = read_ops(path)
    try:
        return TFLiteModel(path), ops, None
    except UserError as error:
        return None, ops, str(error).split(": ", 1)[-1]


def read_ops(path: Path) -> list[str]:
    """Operator names from the flatbuffer itself (a file the runtime refuses still has them)."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(path.read_bytes()), 0)
    names = {value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    ops = []
    for subgraph in model.subgraphs or []:
        for operator in subgraph.operators or []:
            code = model.operatorCodes[operator.opcodeIndex]
            builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
            ops.append(code.customCode.decode() if code.customCode else names.get(builtin, str(builtin)))
    return ops


def measure(path: Path, inputs, keras_outputs, seconds):
    runtime, ops, refusal = runs_on_litert(path)
    row = {"runs_on_litert": runtime is not None, "ops": len(ops),
           "flex_ops": sorted({op for op in ops if op.startswith("Flex")}),
           "fused_lstm": ops.count("UNIDIRECTIONAL_SEQUENCE_LSTM"), "while_loops": ops.count("WHILE"),
           "size_bytes": path.stat().st_size, "convert_seconds": seconds}
    if runtime is None:
        row["refusal"] = refusal[:200]
        return row
    got = runtime.predict(inputs)
    row["max_abs_diff"] = float(np.max(np.abs(got - keras_outputs)))
    row["top1_agreement"] = float(np.mean(np.argmax(got, -1) == np.argmax(keras_outputs, -1)))
    return row


def keras_export(model, inputs, mode, path):
    import tensorflow as tf

    options = {}
    if mode == "int8":
        name = model.inputs[0].name

        def representative():
            for row in range(0, 64):
                yield [inputs[name][row:row + 1]]

        options = {"optimizations": [tf.lite.Optimize.DEFAULT], "representative_dataset": representative}
    started = time.perf_counter()
    try:
        model.export(str(path), format="litert", verbose=False, **options)
    except Exception as error:  # reported, not fatal: that is the finding
        return None, f"{type(error).__name__}: {' '.join(str(error).split())[:160]}"
    return time.perf_counter() - started, None


def kerasuite_export(model, inputs, path_for):
    from kerasuite.export import tflite
    from kerasuite.export.api import save_arrays
    from kerasuite.export.prepare import prepare_for_export

    prepared = prepare_for_export(model)
    with tempfile.TemporaryDirectory() as scratch:
        saved = Path(scratch) / "model.keras"
        prepared.model.save(saved)
        representative = Path(scratch) / "representative.npz"
        save_arrays(representative, "input", {k: v[:64] for k, v in inputs.items()})
        started = time.perf_counter()
        tflite.convert_modes(saved, {mode: path_for(mode) for mode in ("float32", "int8")}, representative,
                             batch_size=prepared.batch_size)
        return time.perf_counter() - started


COLUMNS = ["model", "mode", "exporter", "runs on ai-edge-litert", "Flex ops", "fused LSTM / WHILE ops",
           "max abs diff vs Keras", "top-1 agreement", "size (B)", "convert s"]


def table_rows(results) -> list[list]:
    rows = []
    for name, modes in results.items():
        for mode, exporters in modes.items():
            for exporter, row in exporters.items():
                if "error" in row:
                    rows.append([name, mode, exporter, f"conversion failed: {row['error'][:80]}", None, None, None,
                                 None, None, None])
                    continue
                rows.append([name, mode, exporter, row["runs_on_litert"], ", ".join(row["flex_ops"]) or "-",
                             f"{row['fused_lstm']} / {row['while_loops']}", row.get("max_abs_diff"),
                             row.get("top1_agreement"), row["size_bytes"], round(row["convert_seconds"], 1)])
    return rows


def write_readme_results(results, command: str) -> Path:
    """results/export_vs_keras.json, the source of the README's table (tools/readme_tables.py)."""
    from readme_tables import write_results

    return write_results("export_vs_keras", command, {"table": {"columns": COLUMNS, "rows": table_rows(results)}})


def markdown(results) -> str:
    lines = ["| model | mode | exporter | runs on ai-edge-litert | Flex ops | fused LSTM / WHILE | max abs diff | "
             "top-1 agreement | size (B) | convert s |", "|---|---|---|---|---|---|---:|---:|---:|---:|"]
    for name, modes in results.items():
        for mode, exporters in modes.items():
            for exporter, row in exporters.items():
                if "error" in row:
                    lines.append(f"| {name} | {mode} | {exporter} | conversion failed: {row['error'][:80]} | | | | | | |")
                    continue
                runs = "yes" if row["runs_on_litert"] else "no"
                diff = f"{row['max_abs_diff']:.2g}" if "max_abs_diff" in row else "-"
                agreement = f"{row['top1_agreement']:.3f}" if "top1_agreement" in row else "-"
                lines.append(f"| {name} | {mode} | {exporter} | {runs} | {', '.join(row['flex_ops']) or '-'} | "
                             f"{row['fused_lstm']} / {row['while_loops']} | {diff} | {agreement} | "
                             f"{row['size_bytes']:,} | {row['convert_seconds']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmark_results")
    parser.add_argument("--models", default="", help="comma list (default: all)")
    parser.add_argument("--results", action="store_true",
                        help="also write results/export_vs_keras.json, the README table's source")
    args = parser.parse_args(argv)
    from kerasuite.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    import kerasuite.models  # noqa: F401

    rng = np.random.default_rng(0)
    models = build_models(rng)
    chosen = [m.strip() for m in args.models.split(",") if m.strip()] or list(models)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        for name in chosen:
            model, inputs, _ = models[name]
            heldout = {k: v[64:] for k, v in inputs.items()}
            keras_outputs = np.asarray(model.predict(list(heldout.values())[0], verbose=0), np.float32)
            print(f"[export benchmark] {name}", flush=True)
            rows = {mode: {} for mode in ("float32", "int8")}
            for mode in rows:
                path = scratch / f"{name}_keras_{mode}.tflite"
                seconds, error = keras_export(model, inputs, mode, path)
                rows[mode]["keras model.export"] = {"error": error} if error else measure(path, heldout, keras_outputs, seconds)
            try:
                seconds = kerasuite_export(model, inputs, lambda mode: scratch / f"{name}_kerasuite_{mode}.tflite")
                for mode in rows:
                    rows[mode]["kerasuite.export"] = measure(scratch / f"{name}_kerasuite_{mode}.tflite", heldout,
                                                             keras_outputs, seconds)
            except Exception as error:
                for mode in rows:
                    rows[mode]["kerasuite.export"] = {"error": f"{type(error).__name__}: {str(error)[:160]}"}
            results[name] = rows
            write_text_atomic(out / "export_vs_keras.json", json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    write_text_atomic(out / "export_vs_keras.md", table)
    if args.results:
        print(f"wrote {write_readme_results(results, 'nice -n 10 python tools/benchmark_export.py --results')}")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
