"""Per-op int8 error measured on the int8 model's own tensors, for ops the QuantizationDebugger
misreports.

TensorFlow's QuantizationDebugger reports BATCH_MATMUL's output error as tens of quantization
steps RMS where the op is within one step: on the fortunes NB text model (README, "Why its int8
file fails on fortunes") it reported 82 steps for the bag's BATCH_MATMUL and 27 for the ADD after
it, where both are at 0.29, and the parity report blamed the wrong layer. The report keeps the
debugger's figure beside ours (``debugger_rmse_over_scale``); ``tests/export/test_op_error.py``
fails if either figure stops being what it is. Here the op's float result is
recomputed from its own dequantized int8 inputs and compared with its dequantized int8 output:
the debugger's definition, measured directly, for BATCH_MATMUL and the elementwise ADD, SUB and
MUL (cheap to recompute, and where an error the debugger carried over would land).

A float result beyond the range its output tensor can hold is clamped to that range first: that
is the range's choice (a clip after the op shares its scale, as the NB text model's decision-range
clip does), not the op's rounding, and counting it made a clipped bias ADD read 26 steps RMS.
How often that happens is reported apart, as ``saturated_share``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

ELEMENTWISE = {"ADD": np.add, "SUB": np.subtract, "MUL": np.multiply}


def _rsqrt(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > 0, 1.0 / np.sqrt(np.maximum(x, 0.0)), np.inf)  # clamped to the output's range


# The TF-IDF bag's RSQRTs read 173 steps RMS in the debugger where the op is within one
# (tests/export/test_op_error.py)
UNARY = {"RSQRT": _rsqrt}
MEASURED_OPS = ("BATCH_MATMUL", *ELEMENTWISE, *UNARY)
# TFLite's fused activations, by ActivationFunctionType value
ACTIVATIONS = {0: lambda x: x, 1: lambda x: np.maximum(x, 0.0), 2: lambda x: np.clip(x, -1.0, 1.0),
               3: lambda x: np.clip(x, 0.0, 6.0)}


def _measured_ops(content: bytes) -> list[tuple]:
    """``(op name, input indices, output index, options)`` of every op measured here."""
    from ai_edge_litert import schema_py_generated as schema

    from kerasuite.runtime.file_ops import builtin_names

    names = builtin_names()
    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    found = []
    for op in model.subgraphs[0].operators or []:
        code = model.operatorCodes[op.opcodeIndex]
        name = names.get(max(code.builtinCode, code.deprecatedBuiltinCode))
        if name in MEASURED_OPS and len(op.inputs) == (1 if name in UNARY else 2):
            found.append((name, [int(i) for i in op.inputs], int(op.outputs[0]), op.builtinOptions))
    return found


def _float_result(name: str, a: np.ndarray, b: np.ndarray | None, options) -> np.ndarray:
    if name in UNARY:
        return UNARY[name](a)
    if name == "BATCH_MATMUL":
        if getattr(options, "adjX", False):
            a = np.swapaxes(a, -1, -2)
        if getattr(options, "adjY", False):
            b = np.swapaxes(b, -1, -2)
        return np.matmul(a, b)
    activation = ACTIVATIONS.get(int(getattr(options, "fusedActivationFunction", 0) or 0))
    if activation is None:
        raise ValueError(f"{name}: fused activation {options.fusedActivationFunction} is not measured here")
    return activation(ELEMENTWISE[name](a, b))


def measure(content: bytes, dataset: Callable[[], Iterable[list[np.ndarray]]]) -> dict[str, dict]:
    """``{output tensor name: {"rmse_over_scale", "max_abs_error"}}`` for every measured op of the
    int8 model ``content``, over the samples ``dataset()`` yields (lists in input order)."""
    targets = [target for target in _measured_ops(content)
               if int(getattr(target[3], "fusedActivationFunction", 0) or 0) in ACTIVATIONS]
    if not targets:
        return {}
    from ai_edge_litert.interpreter import Interpreter

    from kerasuite.runtime.interpreter import dequantize, quantize

    interpreter = Interpreter(model_content=content, experimental_preserve_all_tensors=True)
    interpreter.allocate_tensors()
    details = {detail["index"]: detail for detail in interpreter.get_tensor_details()}
    inputs = interpreter.get_input_details()
    squared = {output: 0.0 for _, _, output, _ in targets}
    counts = dict.fromkeys(squared, 0)
    largest = dict.fromkeys(squared, 0.0)
    saturated = dict.fromkeys(squared, 0)
    for sample in dataset():
        for detail, value in zip(inputs, sample):
            interpreter.set_tensor(detail["index"], quantize(value, detail))
        interpreter.invoke()
        for name, operands, output, options in targets:
            values = [dequantize(interpreter.get_tensor(index), details[index]) for index in operands]
            expected = _float_result(name, values[0], values[1] if len(values) > 1 else None, options)
            low, high = _representable(details[output])
            saturated[output] += int(np.sum((expected < low) | (expected > high)))
            error = dequantize(interpreter.get_tensor(output), details[output]) - np.clip(expected, low, high)
            squared[output] += float(np.sum(error * error))
            counts[output] += error.size
            largest[output] = max(largest[output], float(np.max(np.abs(error))))
    measured = {}
    for _, _, output, _ in targets:
        scales = details[output]["quantization_parameters"]["scales"]
        if not counts[output] or not scales.size:
            continue
        rmse = (squared[output] / counts[output]) ** 0.5
        measured[details[output]["name"]] = {"rmse_over_scale": rmse / float(scales[0]),
                                             "max_abs_error": largest[output],
                                             "saturated_share": saturated[output] / counts[output]}
    return measured


def _representable(detail: dict) -> tuple[float, float]:
    """The float range an int8 (or int16) tensor can hold; unbounded when it is not quantized."""
    parameters = detail["quantization_parameters"]
    if not parameters["scales"].size or parameters["scales"].size > 1:
        return -np.inf, np.inf
    info = np.iinfo(detail["dtype"]) if np.issubdtype(detail["dtype"], np.integer) else None
    if info is None:
        return -np.inf, np.inf
    scale, zero_point = float(parameters["scales"][0]), int(parameters["zero_points"][0])
    return (info.min - zero_point) * scale, (info.max - zero_point) * scale
