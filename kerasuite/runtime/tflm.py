"""Run a .tflite file on TensorFlow Lite Micro's reference interpreter (numpy only).

TFLM is what a microcontroller runs: no dynamic shapes, batch 1, a fixed tensor arena, only the
kernels the firmware registers. Its Python interpreter (the ``tflite-micro`` package) runs the
same C++ kernels on the host, so a file that runs and matches here runs on the device.

The arena bytes reported are measured by TFLM's recording allocator after an invocation
(``print_allocations``), not estimated. They are measured on this 64-bit host: arena
bookkeeping holds pointers, so a 32-bit microcontroller needs slightly less.

A file TFLM cannot load or run raises :class:`TFLMError` with one line naming the op and the
kernel's own reason (TFLM writes both to the native stderr, which is captured for it).
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kerasuite.errors import UserError
from kerasuite.quiet import captured_native_stderr
from kerasuite.runtime.file_ops import builtin_op_names, tensor_writers

# Generous: a file's own need is what ``arena_bytes`` reports, whatever is offered here.
DEFAULT_ARENA_BYTES = 16 * 1024 * 1024
ARENA_TOTAL = re.compile(r"Arena allocation total (\d+) bytes")
# The lines of TFLM's native log that explain a failure (the rest is allocation chatter).
REASON_LINE = re.compile(r"(Didn't find op|not supported|was not true|failed to|!=|Unsupported|"
                         r"Only .* supported|Does not support|Type .* not|Failed)", re.IGNORECASE)
FAILED_NODE = re.compile(r"Node (\w+) \(number (\d+)\) failed to (prepare|invoke)")
MISSING_OP = re.compile(r"Didn't find op for builtin opcode '(\w+)'")
# One op running a whole recurrence (state in variable tensors, error built up inside the op).
FUSED_SEQUENCE_OPS = ("UNIDIRECTIONAL_SEQUENCE_LSTM", "BIDIRECTIONAL_SEQUENCE_LSTM", "UNIDIRECTIONAL_SEQUENCE_RNN",
                      "BIDIRECTIONAL_SEQUENCE_RNN")
STATEFUL_OPS = (*FUSED_SEQUENCE_OPS, "VAR_HANDLE", "ASSIGN_VARIABLE", "READ_VARIABLE")
# Ops a graph with a batch unknown until run time uses to compute shapes; with a batch baked in
# (TFLM runs batch 1 anyway) the converter folds them away.
SHAPE_ARITHMETIC_OPS = ("SHAPE", "REDUCE_PROD", "FILL", "BROADCAST_ARGS", "RANGE")
SHAPE_ARITHMETIC_HINT = ("; it computes shapes for a batch unknown until run time: a file converted with a "
                         "fixed batch (--batch-size 1, export_model(batch_size=1)) has none")
# MicroMutableOpResolver method names that do not follow CamelCase of the builtin name (checked
# against TFLM's header by tests/runtime/test_tflm.py: a wrong name is a firmware that fails to compile).
RESOLVER_EXCEPTIONS = {
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM",
    "BATCH_MATMUL": "AddBatchMatMul",
    "CUMSUM": "AddCumSum",
    "L2_NORMALIZATION": "AddL2Normalization",
    "L2_POOL_2D": "AddL2Pool2D",
    "LOG_SOFTMAX": "AddLogSoftmax",
    "PADV2": "AddPadV2",
    "SELECT_V2": "AddSelectV2",
}


# Tasks whose models are meant for microcontrollers: TFLM judges their files by default.
MICROCONTROLLER_TASKS = ("image_classification", "keyword_spotting", "text_classification")
NOT_TFLM_MODES = {
    "dynamic": "TFLM has no hybrid kernels (int8 weights with float activations): where it loads such a "
               "file it silently returns wrong numbers, so a dynamic file is never judged on TFLM; use int8",
    "float16": "TFLM cannot dequantize float16 weights (DEQUANTIZE takes int8/int16/uint8 only); use float32 or int8",
}


def applicability(mode: str, description: dict) -> str | None:
    """None when TFLM judges this mode's file, else why not (recorded as ``not_applicable``).
    ``description["tflm"]`` is ``export.tflm``: auto (the microcontroller tasks' files), on, off."""
    if mode in NOT_TFLM_MODES:
        return NOT_TFLM_MODES[mode]
    wanted = description.get("tflm", "auto")
    if wanted == "off":
        return "turned off (export.tflm=off; --tflm off)"
    task = description.get("task")
    if wanted == "auto" and task not in MICROCONTROLLER_TASKS:
        return (f"tflm judges the microcontroller tasks ({', '.join(MICROCONTROLLER_TASKS)}) unless asked; "
                f"this file is from {task or 'no named task'}: export.tflm=on (--tflm on) judges it on TFLM too")
    return None


class TFLMError(UserError):
    """TFLM cannot load or run a file; the message is one line naming the op and the reason."""


# Loads the file and runs one zero input in a fresh interpreter process: TFLM's kernels stop the
# program on a failed check (abort), which in this process would end the caller with no verdict.
PROBE_SCRIPT = """
import sys
import numpy as np
from tflite_micro.python.tflite_micro import runtime
content = open(sys.argv[1], "rb").read()
try:
    interpreter = runtime.Interpreter.from_bytes(content, arena_size=int(sys.argv[2]))
except (RuntimeError, ValueError):
    sys.exit(0)  # an error TFLM reports: the caller's own load explains it
print("loaded", flush=True)
index = 0
while True:
    try:
        detail = interpreter.get_input_details(index)
    except Exception:
        break
    interpreter.set_input(np.zeros(detail["shape"], detail["dtype"]), index)
    index += 1
try:
    interpreter.invoke()
except RuntimeError:
    pass
"""


# Every parity example, run in a child that reports each one done: a kernel that loops forever
# (TFLM's WHILE with a Keras LSTM loop, on some inputs only) would hang the caller's process, in C,
# where no Python timeout reaches it. The child also saves its outputs, so the caller need not run
# every example a second time; examples TFLM refused are listed for the caller to explain.
ROWS_SCRIPT = """
import os
import sys
import numpy as np
from tflite_micro.python.tflite_micro import runtime
interpreter = runtime.Interpreter.from_bytes(open(sys.argv[1], "rb").read(), arena_size=int(sys.argv[2]))
reset = sys.argv[4] == "1"
with np.load(sys.argv[3]) as saved:
    arrays = [saved[f"input_{index}"] for index in range(len(saved.files))]
print("loaded", flush=True)
outputs, refused = [], []
for row in range(len(arrays[0])):
    if reset:
        interpreter.reset()
    for index, array in enumerate(arrays):
        interpreter.set_input(array[row], index)
    try:
        interpreter.invoke()
        outputs.append(np.array(interpreter.get_output(0)))
    except RuntimeError:
        refused.append(row)  # an error TFLM reports: the caller's own run explains it
    print(row, flush=True)
if outputs and not refused:
    with open(sys.argv[5] + ".partial", "wb") as handle:
        np.save(handle, np.stack(outputs))
    os.replace(sys.argv[5] + ".partial", sys.argv[5])
"""
FIRST_ROW_SECONDS = 120.0  # import, load and one invocation
ROW_SECONDS_FLOOR = 10.0
SLOWEST_ROW_FACTOR = 50.0  # a later example may take this many times the slowest one so far


@dataclass
class ChildRun:
    """What the child made of the parity examples: ``problem`` (one line) when it hung or was
    stopped; else ``outputs``, output 0 of every example as TFLM wrote it (quantized, with its
    batch dimension), or None when TFLM refused an example, which the caller reruns to explain."""

    problem: str | None = None
    outputs: np.ndarray | None = None


def run_in_child(path: Path, arena: int, rows: list[np.ndarray], reset: bool) -> ChildRun:
    """Every example (``rows``: one array per input, examples first, each ``[count, *input
    shape]`` already in the input's type) run by TFLM in a child; a ``problem`` names the example
    it did not finish, or the signal that stopped it."""
    import queue
    import tempfile
    import threading

    count = len(rows[0]) if rows else 0
    with tempfile.TemporaryDirectory(prefix="kerasuite-tflm-") as folder:
        saved, written = Path(folder) / "rows.npz", Path(folder) / "outputs.npy"
        np.savez(saved, **{f"input_{index}": array for index, array in enumerate(rows)})
        child = subprocess.Popen([sys.executable, "-c", ROWS_SCRIPT, str(path), str(arena), str(saved),
                                  "1" if reset else "0", str(written)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        said: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [said.put(line) for line in child.stdout] + [said.put(None)],
                         daemon=True).start()
        done, slowest, last = 0, 0.0, time.monotonic()
        loaded = False
        while True:
            limit = FIRST_ROW_SECONDS if not loaded or done == 0 else max(ROW_SECONDS_FLOOR, SLOWEST_ROW_FACTOR * slowest)
            try:
                line = said.get(timeout=max(0.01, limit - (time.monotonic() - last)))
            except queue.Empty:
                child.kill()
                child.wait()
                earlier = f", where each earlier one took at most {slowest * 1000:.3g} ms" if done else ""
                return ChildRun(problem=f"TFLM did not finish example {done + 1} of {count} within {limit:.0f} s"
                                f"{earlier}: a kernel loops on this input, and a device would hang there too")
            if line is None:
                break
            now = time.monotonic()
            if line.strip() == "loaded":
                loaded, last = True, now
                continue
            if done:
                slowest = max(slowest, now - last)
            done, last = done + 1, now
        if child.wait() < 0 and done < count:
            try:
                name = signal.Signals(-child.returncode).name
            except ValueError:
                name = f"signal {-child.returncode}"
            return ChildRun(problem=f"TFLM stopped the program ({name}) while running example {done + 1} of "
                                    f"{count}; on a device the firmware would stop there too")
        outputs = np.load(written) if written.exists() else None
    return ChildRun(outputs=outputs if outputs is not None and len(outputs) == count else None)


# TFLM's int8 SOFTMAX scales its input by beta * scale * 2**26 and checks that this is above 1
# (softmax.cc, QuantizeMultiplierGreaterThanOne): an input whose calibrated range is nearly empty
# (constant logits) fails the check, which aborts.
SOFTMAX_INPUT_SHIFT = 2 ** 26


def known_abort_cause(content: bytes) -> str | None:
    """The op behind an abort TFLM gives no message for, where the file shows it; else None."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(content, 0)
    subgraph = model.Subgraphs(0)
    for index in range(subgraph.OperatorsLength()):
        operator = subgraph.Operators(index)
        code = model.OperatorCodes(operator.OpcodeIndex())
        if max(code.BuiltinCode(), code.DeprecatedBuiltinCode()) != schema.BuiltinOperator.SOFTMAX:
            continue
        tensor = subgraph.Tensors(operator.Inputs(0))
        quantization = tensor.Quantization()
        if tensor.Type() != schema.TensorType.INT8 or quantization is None or not quantization.ScaleLength():
            continue
        options = schema.SoftmaxOptions()
        table = operator.BuiltinOptions()
        beta = 1.0
        if table is not None:
            options.Init(table.Bytes, table.Pos)
            beta = options.Beta()
        scale = quantization.Scale(0)
        if beta * scale * SOFTMAX_INPUT_SHIFT <= 1.0:
            return (f"op SOFTMAX (node {index}): its int8 input scale {scale:.3g} is below what TFLM's softmax "
                    "takes (its calibrated range is nearly empty: the scores before the softmax are almost "
                    "constant on the representative inputs)")
    return None


def input_shapes(content: bytes) -> list[tuple[list[int], list[int]]]:
    """Subgraph 0's inputs as (written shape, shape signature; -1 = any size), read from the file
    without loading it; empty when the schema cannot walk it."""
    from ai_edge_litert import schema_py_generated as schema

    try:
        subgraph = schema.Model.GetRootAs(content, 0).Subgraphs(0)
        shapes = []
        for position in range(subgraph.InputsLength()):
            tensor = subgraph.Tensors(subgraph.Inputs(position))
            written = [int(size) for size in tensor.ShapeAsNumpy()] if tensor.ShapeLength() else []
            signature = [int(size) for size in tensor.ShapeSignatureAsNumpy()] if tensor.ShapeSignatureLength() else written
            shapes.append((written, signature))
        return shapes
    except Exception:  # noqa: BLE001 - a file the schema cannot walk: the runtime's own load says why
        return []


def dynamic_length_inputs(content: bytes) -> str | None:
    """None when every input's shape is fixed but for the batch; else which input is not. TFLM
    runs the shape a file writes (a dynamic length is written as 1) and cannot resize inputs."""
    for (written, signature), name in zip(input_shapes(content), input_names(content)):
        if -1 in signature[1:]:
            dynamic = [position for position, size in enumerate(signature[1:]) if size == -1]
            placeholders = (["LENGTH"] if len(dynamic) == 1 else ["HEIGHT", "WIDTH"] if len(dynamic) == 2
                            else [f"SIZE{n + 1}" for n in range(len(dynamic))])
            named = dict(zip(dynamic, placeholders))
            fixed = ", ".join(named.get(position, str(size)) for position, size in enumerate(signature[1:]))
            fixed += "," if len(signature) == 2 else ""
            return (f"input {name!r} has a dynamic dimension (shape {signature}); TFLM runs only the written "
                    f"shape {written} and cannot resize inputs: give the "
                    f"model a fixed {'length' if len(dynamic) == 1 else 'shape'} (keras.Input(({fixed})))")
    return None


def understated_shapes(content: bytes) -> str | None:
    """None when every tensor at batch 1 fits the shape the file writes for it; else which one
    does not. TFLM plans its arena from those written shapes, while a file converted with a
    dynamic batch writes batch 1 even where an op moves data into the batch dimension
    (SPACE_TO_BATCH_ND, a dilated convolution's), so TFLM would write past the tensor: NaNs, or
    right answers by luck that corrupt a device's memory. LiteRT, which computes shapes at run
    time, gives the true ones."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    try:  # no default delegate: only shapes are wanted, and XNNPACK announces itself on stderr
        interpreter = Interpreter(model_content=content,
                                  experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    except (RuntimeError, ValueError):
        return None
    for detail in interpreter.get_input_details():
        signature = [int(size) for size in detail["shape_signature"]]
        if -1 in signature:
            interpreter.resize_tensor_input(detail["index"], [1 if size == -1 else size for size in signature])
    try:
        interpreter.allocate_tensors()
    except (RuntimeError, ValueError):  # LiteRT cannot size it either: TFLM's own load says why
        return None
    subgraph = schema.Model.GetRootAs(content, 0).Subgraphs(0)
    producer = {tensor: f"{name} (node {node})" for tensor, (name, node) in tensor_writers(content).items()}
    for detail in interpreter.get_tensor_details():
        index = detail["index"]
        if index >= subgraph.TensorsLength() or not subgraph.Tensors(index).ShapeLength():
            continue
        written = [int(size) for size in subgraph.Tensors(index).ShapeAsNumpy()]
        real = [int(size) for size in detail["shape"]]
        if len(real) == len(written) and int(np.prod(real)) > int(np.prod(written)):
            return (f"{producer.get(index, f'tensor {index}')} outputs {real} at batch 1 where the file writes "
                    f"{written} (a dynamic batch), and TFLM sizes its memory from the written shapes; convert "
                    "with a fixed batch (--batch-size 1)")
    return None


def abort_in_child(path: Path, arena: int, timeout: float = 600.0) -> str | None:
    """None when TFLM loads ``path`` and runs it once without stopping the process; else one line
    saying where it stopped and the kernel's last words."""
    try:
        probe = subprocess.run([sys.executable, "-c", PROBE_SCRIPT, str(path), str(arena)], capture_output=True,
                               text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"TFLM did not finish loading and running it once within {timeout:.0f} s"
    if probe.returncode >= 0:
        return None
    try:
        name = signal.Signals(-probe.returncode).name
    except ValueError:
        name = f"signal {-probe.returncode}"
    stage = "running it" if "loaded" in probe.stdout else "preparing its ops (loading)"
    native = [line.strip() for line in probe.stderr.splitlines() if line.strip()]
    silent = "(no reason printed)"
    said = failure_reason(native, RuntimeError(silent)) if native else silent  # lines that explain nothing: silent
    said = known_abort_cause(path.read_bytes()) if said == silent else said
    words = f": {said}" if said else " (a kernel check failed without a message)"
    return (f"TFLM stopped the program ({name}) while {stage}{words}; on a device the firmware would stop "
            "there too")


def failure_reason(native_lines: list[str], error: Exception, content: bytes | None = None) -> str:
    """One line: the failing op first, then the kernel's own words; when the kernel gave none,
    the types and shapes it was given (from ``content``, the file), which usually say why."""
    text = [re.sub(r"^\S*tensorflow/lite/micro/(kernels/)?", "", line) for line in native_lines]
    op = node = None
    for line in text:
        match = MISSING_OP.search(line)
        if match:
            folds = match.group(1) in SHAPE_ARITHMETIC_OPS and (content is None or has_dynamic_batch(content))
            hint = SHAPE_ARITHMETIC_HINT if folds else ""
            others = [name for name in ops_outside_tflm(content) if name != match.group(1)] if content else []
            also = f"; the file also uses {', '.join(others)}, which TFLM has no kernel for either" if others else ""
            return f"op {match.group(1)} is not a TFLM builtin (\"{line}\"){hint}{also}"
        match = FAILED_NODE.search(line)
        if match:
            op, node = f"op {match.group(1)} (node {match.group(2)}) failed to {match.group(3)}", int(match.group(2))
    details = [line for line in text if REASON_LINE.search(line) and not FAILED_NODE.search(line)]
    fallback = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    cause = "; ".join(details[:2]) or fallback
    if op and not details and content is not None:
        given = node_inputs(content, node)
        if given:
            cause = f"the kernel gave no reason; its inputs are {given} (a type or shape this kernel may not take)"
            # Only an op on shape or mask values (a masked pooling's EXPAND_DIMS on BOOL) is one a
            # fixed batch folds away; a RESIZE_BILINEAR on int16 pixels stays whatever the batch.
            if has_dynamic_batch(content) and given.split()[0] in SHAPE_VALUE_TYPES:
                cause += ("; a file converted with a fixed batch (--batch-size 1) often has no such op: "
                          "the converter folds what the batch was needed for")
    if op and op.startswith("op CAST ") and "UINT8" in cause:
        cause += UINT8_CAST_HINT
    if op and op.startswith("op UNPACK ") and "BOOL" in cause:
        cause += BOOL_UNPACK_HINT
    return f"{op}: {cause}" if op else cause


# A uint8 pixel input cast to float inside the model (keras.Input(dtype="uint8")): TFLM's CAST
# takes no uint8 ("Input type UINT8 (3) not supported"), in every mode.
UINT8_CAST_HINT = ("; TFLM's CAST takes no uint8: declare that input float32 (pixels as 0-255 floats; the int8 "
                   "files quantize it anyway), or export with --tflm off for phones")


# An RNN unrolled over a Keras mask (Embedding(mask_zero=True) into a GRU, LSTM or SimpleRNN)
# unstacks the boolean mask per step; TFLM's UNPACK takes no BOOL ("Type 'BOOL' is not supported").
BOOL_UNPACK_HINT = ("; an RNN unrolled over a Keras mask unstacks it per step, which TFLM cannot: build the "
                    "model without the mask (Embedding mask_zero=False, so pad ids reach the RNN: pad on the "
                    "left), or export with --tflm off for phones")

SHAPE_VALUE_TYPES = ("BOOL", "INT32", "INT64")


def ops_outside_tflm(content: bytes) -> list[str]:
    """The builtin ops of a file that TFLM's op resolver cannot register, in file order."""
    from ai_edge_litert import schema_py_generated as schema

    from kerasuite.runtime.tflm_ops import TFLM_OPS

    names = {value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    try:
        model = schema.Model.GetRootAs(content, 0)
        used = [names.get(max(model.OperatorCodes(i).BuiltinCode(), model.OperatorCodes(i).DeprecatedBuiltinCode()))
                for i in range(model.OperatorCodesLength())]
    except Exception:  # a file the schema cannot walk: the kernel's own words stay the reason
        return []
    return [name for name in dict.fromkeys(used) if name and name not in TFLM_OPS and name != "CUSTOM"]


def has_dynamic_batch(content: bytes) -> bool:
    return any(signature[:1] == [-1] for _, signature in input_shapes(content))


def node_inputs(content: bytes, node: int) -> str | None:
    """'BOOL [1, 16], INT32 []': the types and written shapes of one operator's inputs."""
    from ai_edge_litert import schema_py_generated as schema

    try:
        subgraph = schema.Model.GetRootAs(content, 0).Subgraphs(0)
        operator = subgraph.Operators(node)
        types = {value: name for name, value in vars(schema.TensorType).items() if not name.startswith("_")}
        described = []
        for position in range(operator.InputsLength()):
            index = operator.Inputs(position)
            if index < 0:
                continue
            tensor = subgraph.Tensors(index)
            shape = [int(size) for size in tensor.ShapeAsNumpy()] if tensor.ShapeLength() else []
            described.append(f"{types.get(tensor.Type(), tensor.Type())} {shape}")
        return ", ".join(described) or None
    except Exception:  # a file the schema cannot walk: the reason stays the kernel's
        return None


def needs_reset(content: bytes) -> bool:
    """Whether state survives from one invocation to the next, so a device must reset variable
    tensors between calls: a stateful op whose state is not rewritten inside the file first
    (kerasuite's exports zero a fused LSTM's h/c before it runs: kerasuite.export.stateless_lstm)."""
    from ai_edge_litert import schema_py_generated as schema

    lstm_states = {schema.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM: (18, 19)}
    other_stateful = {getattr(schema.BuiltinOperator, name) for name in STATEFUL_OPS
                      if hasattr(schema.BuiltinOperator, name)} - set(lstm_states)
    model = schema.Model.GetRootAs(content, 0)
    codes = [max(model.OperatorCodes(i).BuiltinCode(), model.OperatorCodes(i).DeprecatedBuiltinCode())
             for i in range(model.OperatorCodesLength())]
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)
        written: set[int] = set()
        for o in range(subgraph.OperatorsLength()):
            operator = subgraph.Operators(o)
            code = codes[operator.OpcodeIndex()]
            if code in other_stateful:
                return True
            for operand in lstm_states.get(code, ()):
                if operand < operator.InputsLength():
                    state = operator.Inputs(operand)
                    if state >= 0 and subgraph.Tensors(state).IsVariable() and state not in written:
                        return True
            written.update(operator.Outputs(i) for i in range(operator.OutputsLength()))
    return False


def resolver_method(op_name: str) -> str:
    """``CONV_2D`` -> ``AddConv2D``: the MicroMutableOpResolver call that registers the op."""
    if op_name in RESOLVER_EXCEPTIONS:
        return RESOLVER_EXCEPTIONS[op_name]
    parts = []
    for part in op_name.split("_"):
        parts.append(part if re.fullmatch(r"\d+D", part) else part.capitalize())
    return "Add" + "".join(parts)


def input_names(content: bytes) -> list[str]:
    """Subgraph 0's input names in TFLM's input order: the SignatureDef's names where the file
    has one, else the tensor names (``serving_default_tokens:0`` -> ``tokens``)."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(content, 0)
    subgraph = model.Subgraphs(0)
    by_tensor: dict[int, str] = {}
    for s in range(model.SignatureDefsLength()):
        signature = model.SignatureDefs(s)
        if signature.SubgraphIndex() == 0:
            for i in range(signature.InputsLength()):
                entry = signature.Inputs(i)
                by_tensor.setdefault(entry.TensorIndex(), (entry.Name() or b"").decode())
    names = []
    for i in range(subgraph.InputsLength()):
        index = subgraph.Inputs(i)
        raw = (subgraph.Tensors(index).Name() or b"").decode()
        names.append(by_tensor.get(index) or re.sub(r"^serving_default_|:\d+$", "", raw))
    return names


def _quantize(values: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    dtype = np.dtype(detail["dtype"])
    scales = detail["quantization_parameters"]["scales"]
    if np.issubdtype(dtype, np.integer) and len(scales):
        zero_point = int(detail["quantization_parameters"]["zero_points"][0])
        info = np.iinfo(dtype)
        quantized = np.round(np.asarray(values, np.float32) / float(scales[0]) + zero_point)
        return np.clip(quantized, info.min, info.max).astype(dtype)
    return np.asarray(values).astype(dtype)


def _dequantize(values: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    scales = detail["quantization_parameters"]["scales"]
    if np.issubdtype(np.dtype(detail["dtype"]), np.integer) and len(scales):
        zero_point = int(detail["quantization_parameters"]["zero_points"][0])
        return (values.astype(np.float32) - zero_point) * float(scales[0])
    return values.astype(np.float32)


def _without_batch(output: np.ndarray) -> np.ndarray:
    """One example's output without its batch dimension of 1 (a [1, H, W, C] map stays [H, W, C])."""
    return output[0] if output.ndim >= 1 and output.shape[0] == 1 else output.reshape(-1)


class TFLMModel:
    """A .tflite file loaded in TFLM: float-in, float-out ``predict`` one example at a time.

    ``reset_between_calls`` (default) resets variable tensors before every example: a fused LSTM
    keeps its h/c state in them across invocations, and TFLM (like LiteRT) never clears them on
    its own. kerasuite's files zero that state themselves (``needs_reset`` is False for them); the
    reset keeps other files honest. Pass False to see what a device that never resets gets.
    """

    def __init__(self, path: str | Path, arena_size: int | None = None, reset_between_calls: bool = True):
        from kerasuite.runtime.interpreter import check_tflite_file

        self.path = Path(path)
        self.content = check_tflite_file(self.path)
        self.ops = builtin_op_names(self.content)
        self.reset_between_calls = reset_between_calls
        self.names = input_names(self.content)
        try:
            from tflite_micro.python.tflite_micro import runtime
        except ImportError:
            raise UserError("TFLM runtime: the tflite-micro package is not installed "
                            "(pip install -e . installs the pinned version)") from None
        arena = self.arena = arena_size or max(DEFAULT_ARENA_BYTES, 10 * len(self.content))
        dynamic = dynamic_length_inputs(self.content)
        if dynamic:
            raise TFLMError(f"{self.path}: TFLM cannot run it: {dynamic}")
        aborted = abort_in_child(self.path, arena)
        if aborted:
            raise TFLMError(f"{self.path}: {aborted}")
        with captured_native_stderr() as native:
            try:
                self.interpreter = runtime.Interpreter.from_bytes(self.content, arena_size=arena)
                self.load_error: str | None = None
            except (RuntimeError, ValueError) as error:
                self.interpreter = None
                self.load_error = str(error)
        if self.interpreter is None:
            raise TFLMError(f"{self.path}: TFLM cannot load it: "
                            f"{failure_reason(native, RuntimeError(self.load_error), self.content)}")
        understated = understated_shapes(self.content)
        if understated:
            raise TFLMError(f"{self.path}: TFLM cannot run it safely: {understated}")
        self.inputs = [self.interpreter.get_input_details(i) for i in range(len(self.names))]
        self.output = self.interpreter.get_output_details(0)
        self._arena_bytes: int | None = None

    @property
    def input_names(self) -> list[str]:
        return list(self.names)

    def describe(self) -> dict[str, Any]:
        def tensor(detail: dict[str, Any], name: str) -> dict[str, Any]:
            return {"name": name, "shape": [int(s) for s in detail["shape"]], "dtype": np.dtype(detail["dtype"]).name}

        return {"inputs": [tensor(d, n) for d, n in zip(self.inputs, self.names)],
                "outputs": [tensor(self.output, "output")]}

    def _invoke(self, example: dict[str, np.ndarray]) -> np.ndarray:
        for index, (name, detail) in enumerate(zip(self.names, self.inputs)):
            value = np.asarray(example[name]).reshape(detail["shape"])
            self.interpreter.set_input(_quantize(value, detail), index)
        with captured_native_stderr() as native:
            try:
                self.interpreter.invoke()
                failed = None
            except RuntimeError as error:
                failed = error
        if failed is not None:
            raise TFLMError(f"{self.path}: TFLM cannot run it: {failure_reason(native, failed, self.content)}")
        return _dequantize(np.array(self.interpreter.get_output(0)), self.output)

    def run_one(self, example: dict[str, np.ndarray]) -> np.ndarray:
        """One example (leading batch dimension of 1 or none) -> its output without the batch
        dimension, in the output's own shape (a [1, H, W, C] map stays [H, W, C])."""
        if self.reset_between_calls:
            self.interpreter.reset()
        return _without_batch(self._invoke(example))

    def predict(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        missing = sorted(set(self.names) - set(inputs)) if len(self.names) > 1 else []
        if missing:
            raise UserError(f"{self.path}: inputs missing: {', '.join(missing)}")
        if len(self.names) == 1 and self.names[0] not in inputs:
            inputs = {self.names[0]: next(iter(inputs.values()))}
        count = len(next(iter(inputs.values())))
        quantized = [_quantize(np.asarray(inputs[name]).reshape(count, *detail["shape"][1:]), detail)[:, None]
                     for name, detail in zip(self.names, self.inputs)]
        child = run_in_child(self.path, self.arena, quantized, self.reset_between_calls) if count else ChildRun()
        if child.problem:
            raise TFLMError(f"{self.path}: {child.problem}")
        if child.outputs is None or not self.reset_between_calls:
            # Without resets each example's output depends on the interpreter's state, which is
            # this process' own; a refused example is rerun here for TFLM's explanation.
            rows = [self.run_one({name: inputs[name][i:i + 1] for name in self.names}) for i in range(count)]
            return np.stack(rows) if rows else np.zeros((0, *self.output["shape"][1:]), np.float32)
        # The first example also runs here: the arena is measured on this interpreter, and the
        # child's file must give what this process gives.
        first = self.run_one({name: inputs[name][:1] for name in self.names})
        outputs = np.stack([_without_batch(row) for row in _dequantize(child.outputs, self.output)])
        if not np.array_equal(outputs[0], first):
            raise TFLMError(f"{self.path}: TFLM gave example 1 different outputs in a child process and in this one, "
                            "so its outputs cannot be trusted")
        return outputs

    def arena_bytes(self) -> int:
        """Tensor arena bytes TFLM's recording allocator used (after at least one invocation)."""
        if self._arena_bytes is None:
            with captured_native_stderr() as native:
                self.interpreter.print_allocations()
            totals = [int(m.group(1)) for line in native for m in [ARENA_TOTAL.search(line)] if m]
            if not totals:
                raise RuntimeError("TFLM printed no arena total; the tflite-micro version may have changed")
            self._arena_bytes = totals[-1]
        return self._arena_bytes

    def latency_ms(self, example: dict[str, np.ndarray], runs: int = 20, warmup: int = 2) -> dict[str, float]:
        one = {name: example[name][:1] for name in self.names}
        for _ in range(warmup):
            self.run_one(one)
        timings = []
        for _ in range(max(1, runs)):
            started = time.perf_counter()
            self.run_one(one)
            timings.append((time.perf_counter() - started) * 1000.0)
        return {"p50": float(np.percentile(timings, 50)), "p90": float(np.percentile(timings, 90))}

    def details(self) -> dict[str, Any]:
        return {
            "api": "tflite_micro",
            "arena_bytes": self.arena_bytes(),
            "ops": self.ops,
            "op_resolver": [resolver_method(op) for op in self.ops],
            "needs_reset": needs_reset(self.content),
            "reset_between_calls": self.reset_between_calls,
        }
