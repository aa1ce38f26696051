"""Make a fused LSTM forget its state between invocations, inside the file.

TFLite's ``UNIDIRECTIONAL_SEQUENCE_LSTM`` takes its initial hidden and cell state from two
*variable* tensors (operands 18 and 19) and leaves the final state in them: both LiteRT
(``unidirectional_sequence_lstm.cc`` takes them with ``GetVariableInput``) and TFLM keep variable
tensors for the interpreter's lifetime, so the next ``invoke`` starts where the last text ended
unless the caller resets them (``reset_all_variables()`` / ``Reset()``), which MediaPipe and most
firmware never do. The kernels require the operands to be variable tensors, so they cannot
simply become constant zeros.

This rewrite puts one ``MUL`` of two zeros in front of every fused LSTM state, whose output is
the state tensor itself: each invocation zeroes the state before the LSTM reads it (in an integer
model the zeros' scale 1 / zero point 0 make the product the state's own zero point), so the file
answers every call like a fresh interpreter. The state cannot be the MUL's input too (LiteRT
refuses a tensor that is both input and output of one node), and two constant inputs would let
LiteRT fold the MUL once at prepare time (it did, in int8): one input is a variable tensor that
nothing writes, which every runtime zeroes when it allocates it.
"""

from __future__ import annotations

from kerasuite.export.flatbuffer_ops import opcode_index

STATE_OPERANDS = (18, 19)  # output_state (h) and cell_state (c) of UNIDIRECTIONAL_SEQUENCE_LSTM


def _zero_tensor(model, schema, subgraph, like, shape, variable: bool) -> int:
    """A zero of the state's type: a constant, or a variable tensor nothing writes (runtimes
    zero variables when they allocate them and on every reset)."""
    import numpy as np

    dtype = {schema.TensorType.FLOAT32: np.float32, schema.TensorType.INT8: np.int8,
             schema.TensorType.INT16: np.int16}[like.type]
    tensor = schema.TensorT()
    tensor.shape = list(shape)
    tensor.type = like.type
    tensor.name = b"lstm_state_zeros" if variable else b"lstm_state_zero"
    if variable:
        tensor.isVariable = True
        tensor.buffer = 0
    else:
        buffer = schema.BufferT()
        buffer.data = np.zeros(int(np.prod(shape)), dtype).tobytes()
        model.buffers.append(buffer)
        tensor.buffer = len(model.buffers) - 1
    if like.type != schema.TensorType.FLOAT32:
        quantization = schema.QuantizationParametersT()
        quantization.scale = [1.0]
        quantization.zeroPoint = [0]
        tensor.quantization = quantization
    subgraph.tensors.append(tensor)
    return len(subgraph.tensors) - 1


def zero_lstm_state_each_call(content: bytes) -> tuple[bytes, int]:
    """Returns the rewritten file and how many state tensors get zeroed (0: bytes unchanged)."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    lstm = schema.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM
    zeroed = 0
    for subgraph in model.subgraphs or []:
        rebuilt = []
        for operator in subgraph.operators or []:
            code = model.operatorCodes[operator.opcodeIndex]
            if max(code.builtinCode, code.deprecatedBuiltinCode) == lstm:
                for operand in STATE_OPERANDS:
                    state = operator.inputs[operand] if len(operator.inputs) > operand else -1
                    if state < 0 or not subgraph.tensors[state].isVariable:
                        continue
                    like = subgraph.tensors[state]
                    zeros = _zero_tensor(model, schema, subgraph, like, like.shape, variable=True)
                    zero = _zero_tensor(model, schema, subgraph, like, [1], variable=False)
                    mul = schema.OperatorT()
                    mul.opcodeIndex = opcode_index(model, schema, schema.BuiltinOperator.MUL)
                    mul.inputs, mul.outputs = [zeros, zero], [state]
                    mul.builtinOptionsType = schema.BuiltinOptions.MulOptions
                    mul.builtinOptions = schema.MulOptionsT()
                    rebuilt.append(mul)
                    zeroed += 1
            rebuilt.append(operator)
        subgraph.operators = rebuilt
    if not zeroed:
        return content, 0
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)), zeroed
