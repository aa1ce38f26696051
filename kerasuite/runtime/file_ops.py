"""What a .tflite file holds, read from its flatbuffer (not from an interpreter, whose node list
shows ``DELEGATE`` in place of the ops a delegate such as XNNPACK took over)."""

from __future__ import annotations


def builtin_names() -> dict[int, str]:
    """BuiltinOperator code -> name (``BATCH_MATMUL``, ...)."""
    from ai_edge_litert import schema_py_generated as schema

    return {value: key for key, value in vars(schema.BuiltinOperator).items() if not key.startswith("_")}


def builtin_op_names(content: bytes) -> list[str]:
    """The builtin op names a file's operators use, sorted (what the firmware must register)."""
    from ai_edge_litert import schema_py_generated as schema

    names = builtin_names()
    model = schema.Model.GetRootAs(content, 0)
    used = set()
    for code_index in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(code_index)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == schema.BuiltinOperator.CUSTOM:
            used.add(f"CUSTOM:{(code.CustomCode() or b'').decode()}")
        else:
            used.add(names.get(builtin, str(builtin)))
    return sorted(used)


def tensor_writers(content: bytes) -> dict[int, tuple[str, int]]:
    """Main-graph tensor index -> (builtin op name, node index) of the operator that writes it."""
    from ai_edge_litert import schema_py_generated as schema

    names = builtin_names()
    model = schema.Model.GetRootAs(content, 0)
    graph = model.Subgraphs(0)
    writers = {}
    for index in range(graph.OperatorsLength()):
        operator = graph.Operators(index)
        code = model.OperatorCodes(operator.OpcodeIndex())
        name = names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM")
        for position in range(operator.OutputsLength()):
            writers[operator.Outputs(position)] = (name, index)
    return writers


def output_producers(content: bytes) -> list[str]:
    """The builtin op that writes each of the main graph's outputs (``SLICE``), in output order;
    an output no op writes (an input passed through) is left out."""
    from ai_edge_litert import schema_py_generated as schema

    graph = schema.Model.GetRootAs(content, 0).Subgraphs(0)
    writers = tensor_writers(content)
    return [writers[graph.Outputs(i)][0] for i in range(graph.OutputsLength()) if graph.Outputs(i) in writers]
