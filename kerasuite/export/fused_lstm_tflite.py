"""Repairs for TFLite files holding the fused ``UNIDIRECTIONAL_SEQUENCE_LSTM``.

**Cell clipping (every mode).** The converter gives the fused op ``cell_clip=10``; a Keras LSTM
never clips its cell state. Long texts drive cells past 10, and there the TFLite model stops
computing the Keras model: on the fortunes corpus 4 of 986 test texts (60-96 tokens) differed by
up to 6.4e-3 in float32 with max pooling, while Keras in float32 and float64 agree to 2e-7 on
them. ``cell_clip=0`` means "no clipping" to every LSTM kernel, float and integer.

**Small cell scales (int8).** The int8 LSTM kernel keeps the cell state in int16 with a power-of-two scale taken from
calibration, and computes ``tanh(cell)`` with ``15 + log2(scale)`` integer bits. Its dispatch
(``PortableApplyTanh`` in ``tensor_utils``) handles 0..6 integer bits and silently does nothing
otherwise, so when calibration saw cell values below about 1.0 (scale < 2^-15: small or young
models) the output gate multiplies stale memory and the LSTM output is noise. Measured here: a
2-epoch text model had cell scale 2^-18, int8 max |diff| 0.029 and 54 % top-1 agreement; with the
scale raised to 2^-15 the same file gives max |diff| 0.0022.

Raising the scale is exact in intent: the kernel derives every cell-related multiplier from the
tensor's scale when it prepares the op, and 2^-15 still resolves 3e-5 on a +-1 range.

**An output scale that is not the hidden state's (int8).** The int8 kernel computes each step's
hidden state in the hidden-state tensor's scale and copies those int8 values to the output as
they are. The converter can give the output another scale (the range of a Concatenate the output
feeds, shared back to its inputs), and then every output value is read on the wrong scale: an
LSTM beside the cell state of another in one Concatenate had an int8 error of tens of
quantization steps RMS at the LSTM (``tests/export/test_export_user_models.py``). The LSTM now writes a tensor
on the hidden state's scale, and a QUANTIZE requantizes it to the tensor the graph reads.
"""

from __future__ import annotations

MIN_CELL_STATE_SCALE = 2.0 ** -15
CELL_STATE_INPUT = 19  # operand index of the cell state in UNIDIRECTIONAL_SEQUENCE_LSTM
HIDDEN_STATE_INPUT = 18


def _lstm_operators(model):
    from tensorflow.lite.python import schema_py_generated as schema

    lstm = schema.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM
    for subgraph in model.subgraphs or []:
        for operator in subgraph.operators or []:
            code = model.operatorCodes[operator.opcodeIndex]
            if max(code.builtinCode, code.deprecatedBuiltinCode) == lstm:
                yield subgraph, operator


def repair_fused_lstms(model_content: bytes) -> tuple[bytes, dict[str, int]]:
    """Returns the model with the LSTM cell clip removed and, in integer models, every int16
    cell-state scale below 2^-15 set to 2^-15; and how many of each were changed (none: the
    bytes come back untouched)."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(model_content))
    changed = {"cell_clip_removed": 0, "cell_scale_raised": 0, "output_requantized": 0}
    for subgraph, operator in list(_lstm_operators(model)):
        changed["output_requantized"] += _output_on_hidden_state_scale(model, schema, subgraph, operator)
        options = operator.builtinOptions
        if options is not None and getattr(options, "cellClip", 0.0) > 0.0:
            options.cellClip = 0.0
            changed["cell_clip_removed"] += 1
        if len(operator.inputs) <= CELL_STATE_INPUT or operator.inputs[CELL_STATE_INPUT] < 0:
            continue
        cell = subgraph.tensors[operator.inputs[CELL_STATE_INPUT]]
        quantization = cell.quantization
        if cell.type != schema.TensorType.INT16 or quantization is None or quantization.scale is None:
            continue
        if len(quantization.scale) == 1 and 0.0 < quantization.scale[0] < MIN_CELL_STATE_SCALE:
            quantization.scale = [MIN_CELL_STATE_SCALE]
            changed["cell_scale_raised"] += 1
    if not any(changed.values()):
        return model_content, changed
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)), changed


def _quantization_of(tensor) -> tuple | None:
    quantization = tensor.quantization
    if quantization is None or quantization.scale is None or len(quantization.scale) != 1:
        return None
    return float(quantization.scale[0]), int(quantization.zeroPoint[0])


def _output_on_hidden_state_scale(model, schema, subgraph, operator) -> int:
    """1 when the LSTM's int8 output had a scale other than its hidden state's and now goes
    through a requantizing QUANTIZE; else 0."""
    import copy

    from kerasuite.export.flatbuffer_ops import opcode_index

    if len(operator.inputs) <= HIDDEN_STATE_INPUT or operator.inputs[HIDDEN_STATE_INPUT] < 0:
        return 0
    state = subgraph.tensors[operator.inputs[HIDDEN_STATE_INPUT]]
    target = operator.outputs[0]
    output = subgraph.tensors[target]
    if state.type != schema.TensorType.INT8 or output.type != schema.TensorType.INT8:
        return 0
    wanted, given = _quantization_of(state), _quantization_of(output)
    if wanted is None or given is None or wanted == given:
        return 0
    on_state_scale = copy.deepcopy(output)
    on_state_scale.name = (output.name or b"lstm_output") + b"_on_hidden_state_scale"
    on_state_scale.quantization = copy.deepcopy(state.quantization)
    subgraph.tensors.append(on_state_scale)
    operator.outputs = [len(subgraph.tensors) - 1, *list(operator.outputs)[1:]]
    requantize = schema.OperatorT()
    requantize.opcodeIndex = opcode_index(model, schema, schema.BuiltinOperator.QUANTIZE)
    requantize.inputs = [len(subgraph.tensors) - 1]
    requantize.outputs = [target]
    position = subgraph.operators.index(operator)
    subgraph.operators.insert(position + 1, requantize)
    return 1
