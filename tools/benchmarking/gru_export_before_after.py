"""A user's GRU exported with Keras' own unrolled loop (before) and as ``HoistedGRU`` (after), in one run.

    PYTHONPATH=. python tools/benchmarking/gru_export_before_after.py [--units 96] [--steps 30] [--features 32]

Builds one GRU classifier (seeded weights, non-zero biases), exports it through the exporter's own
path (``kerasuite.export.api.export_model``: prepare, convert in a child process, parity on the
LiteRT Interpreter) twice: ``before`` with the swap the exporter made until 2026-12-04 (Keras'
``GRU(unroll=True)``), ``after`` with the current one. Prints one JSON line per variant and mode:
file size, the size breakdown of ``tflite_size_breakdown.py``, FULLY_CONNECTED ops, int32 bias
tensors, parity max |diff| and agreement, and LiteRT Interpreter latency p50 (1 thread, 200 runs)
measured in this process one variant after the other.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools" / "benchmarking"))


def keras_unrolled(rnn):
    """The swap as it was: Keras' own ``unroll=True`` for a GRU."""
    from kerasuite.export import prepare

    return type(rnn).from_config({**prepare._float_config(rnn), "unroll": True})


def structure(path: Path) -> dict:
    from ai_edge_litert import schema_py_generated as schema

    parsed = schema.ModelT.InitFromPackedBuf(bytearray(path.read_bytes()), 0)
    graph = parsed.subgraphs[0]
    codes = [parsed.operatorCodes[op.opcodeIndex] for op in graph.operators]
    fully_connected = sum(max(c.builtinCode, c.deprecatedBuiltinCode) == schema.BuiltinOperator.FULLY_CONNECTED
                          for c in codes)
    biases = sum(1 for t in graph.tensors if t.type == schema.TensorType.INT32 and len(t.shape) == 1
                 and parsed.buffers[t.buffer].data is not None and len(parsed.buffers[t.buffer].data) > 64)
    return {"fully_connected_ops": fully_connected, "int32_bias_tensors": biases}


def main(argv=None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=96)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--features", type=int, default=32)
    args = parser.parse_args(argv)

    import keras
    import numpy as np
    from tflite_size_breakdown import breakdown

    from kerasuite.export import prepare
    from kerasuite.export.api import export_model
    from kerasuite.runtime.interpreter import TFLiteModel

    keras.utils.set_random_seed(0)
    sequence = keras.Input((args.steps, args.features), name="sequence")
    gru = keras.layers.GRU(args.units)
    model = keras.Model(sequence, keras.layers.Dense(3, activation="softmax")(gru(sequence)))
    gru.cell.bias.assign(np.random.default_rng(1).normal(scale=0.3, size=gru.cell.bias.shape))
    values = np.random.default_rng(2).normal(size=(256, args.steps, args.features)).astype("float32")
    current = prepare._unrolled
    with tempfile.TemporaryDirectory(prefix="gru-before-after-") as scratch:
        for variant, swap in (("before", keras_unrolled), ("after", current)):
            prepare._unrolled = swap
            try:
                out = Path(scratch) / variant
                report = export_model(model, representative={"sequence": values[:128]},
                                      heldout={"sequence": values[128:]}, out=out, modes=("float32", "int8"))
            finally:
                prepare._unrolled = current
            for mode in ("float32", "int8"):
                path = out / f"model_{mode}.tflite"
                parity = json.loads((out / "parity.json").read_text())[mode]
                example = {"sequence": values[:1]}
                latency = TFLiteModel(path).latency_ms(example, runs=200)
                print(json.dumps({"variant": variant, "mode": mode, "units": args.units, "steps": args.steps,
                                  "bytes": path.stat().st_size, **breakdown(path), **structure(path),
                                  "max_abs_diff": parity.get("max_abs_diff"), "agreement": parity.get("agreement"),
                                  "passed": bool(report.passed), "p50_ms": round(latency["p50"], 4)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
