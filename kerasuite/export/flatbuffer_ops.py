"""Small helpers shared by the post-conversion .tflite rewrites (float LOG, stateless LSTM)."""

from __future__ import annotations


def opcode_index(model, schema, builtin: int) -> int:
    """Index of ``builtin`` in the object-API model's operator codes, added if absent."""
    for index, code in enumerate(model.operatorCodes):
        if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
            return index
    code = schema.OperatorCodeT()
    code.builtinCode = builtin
    code.deprecatedBuiltinCode = min(builtin, schema.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES)
    code.version = 1
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1
