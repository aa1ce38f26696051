"""What fills a .tflite file's TFLM arena: the activation tensors alive at each operator.

    python tools/benchmarking/tflm_arena_breakdown.py MODEL.tflite [--top 8]

TFLM plans every non-constant tensor of subgraph 0 into one arena, from the operator that writes
it to the last operator that reads it (the graph inputs from the start, the outputs to the end).
The arena's planned part is at least the largest sum of tensors alive at one operator; this
script finds that operator from the flatbuffer and names the tensors that make it up, beside the
total TFLM's recording allocator measured (``print_allocations``; the difference is fragmentation,
kernel scratch buffers and TFLM's own structs). Output: JSON on stdout.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

ITEM_BYTES = {"FLOAT32": 4, "INT32": 4, "INT8": 1, "UINT8": 1, "INT16": 2, "INT64": 8, "BOOL": 1, "FLOAT16": 2}


def live_tensors(content: bytes) -> dict:
    from ai_edge_litert import schema_py_generated as schema

    type_names = {value: key for key, value in vars(schema.TensorType).items() if not key.startswith("_")}
    op_names = {value: key for key, value in vars(schema.BuiltinOperator).items() if not key.startswith("_")}
    model = schema.Model.GetRootAs(content, 0)
    codes = [max(model.OperatorCodes(i).BuiltinCode(), model.OperatorCodes(i).DeprecatedBuiltinCode())
             for i in range(model.OperatorCodesLength())]
    graph = model.Subgraphs(0)

    def has_data(index: int) -> bool:
        buffer = model.Buffers(graph.Tensors(index).Buffer())
        return buffer is not None and (buffer.DataLength() > 0 or buffer.Size() > 0)

    sizes, names = {}, {}
    for index in range(graph.TensorsLength()):
        tensor = graph.Tensors(index)
        if has_data(index):
            continue
        shape = tensor.ShapeAsNumpy() if tensor.ShapeLength() else np.array([], np.int32)
        sizes[index] = int(np.prod(shape)) * ITEM_BYTES.get(type_names.get(tensor.Type(), ""), 4)
        names[index] = f"{type_names.get(tensor.Type())}{list(int(s) for s in shape)}"
    count = graph.OperatorsLength()
    first = {graph.Inputs(i): 0 for i in range(graph.InputsLength())}
    last = {graph.Outputs(i): count - 1 for i in range(graph.OutputsLength())}
    operators = []
    for position in range(count):
        operator = graph.Operators(position)
        operators.append(op_names.get(codes[operator.OpcodeIndex()], "?"))
        for i in range(operator.InputsLength()):
            index = operator.Inputs(i)
            if index in sizes:
                last[index] = max(last.get(index, position), position)
                first.setdefault(index, position)
        for i in range(operator.OutputsLength()):
            index = operator.Outputs(i)
            if index in sizes:
                first.setdefault(index, position)
                last.setdefault(index, position)
    live = []
    for position in range(count):
        alive = [index for index in sizes if first.get(index, count) <= position <= last.get(index, -1)]
        live.append((sum(sizes[i] for i in alive), position, alive))
    peak_bytes, peak_at, alive = max(live)
    return {
        "operators": count,
        "activation_tensors": len(sizes),
        "peak_live_bytes": peak_bytes,
        "peak_at_operator": f"{peak_at} {operators[peak_at]}",
        "peak_tensors": [{"tensor": names[i], "bytes": sizes[i]}
                         for i in sorted(alive, key=lambda i: -sizes[i])],
        "live_bytes_by_operator": [[f"{p} {operators[p]}", b] for b, p, _ in live],
    }


def main(argv: list[str] | None = None) -> int:

    from kerasuite.runtime.tflm import TFLMModel

    from kerasuite.argparsing import OneLineArgumentParser


    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--top", type=int, default=8)
    parser.add_argument("--per-operator", action="store_true", help="also list the live bytes at every operator")
    args = parser.parse_args(argv)
    content = Path(args.model).read_bytes()
    report = live_tensors(content)
    report["peak_tensors"] = report["peak_tensors"][:args.top]
    if not args.per_operator:
        report.pop("live_bytes_by_operator")
    runner = TFLMModel(args.model)
    detail = runner.inputs[0]
    runner.run_one({runner.names[0]: np.zeros(detail["shape"], np.float32)})
    report = {"file_bytes": len(content), "tflm_arena_bytes": runner.arena_bytes(), **report}
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
