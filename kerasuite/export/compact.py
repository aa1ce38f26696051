"""Shrink a converted .tflite file without touching what it computes.

The converter names every tensor after the TensorFlow ops it came from
(``ds_cnn_1/block3_pointwise_relu_1/Relu;ds_cnn_1/block3_pointwise_bn_1/batchnorm/add_1;...``) and
gives every activation tensor its own empty buffer. Neither is read by the runtime: names of
intermediate tensors are for debugging, and buffer 0 is the schema's shared "no data" buffer. On
the default keyword-spotting model they were 10.5 kB of the float32 file and 10.7 kB of the int8
one (``tools/benchmarking/speech_size_before_after.py``).

``compact`` drops both and keeps every name a caller can see: the subgraphs' input and output
tensors and every SignatureDef tensor (``kerasuite.runtime.interpreter`` feeds inputs by those
names, and ``signature.json`` reports the output's). Operators, weights, quantization parameters
and shapes are copied unchanged, so outputs are bit-identical. Weight buffers are written
16-byte aligned, as the schema asks (``force_align: 16``, which the Python object API ignores);
the converter's own files align them to 4 bytes only, so no kernel sees less alignment than before.

Reads and writes with the schema shipped in ai-edge-litert (no TensorFlow), which is a superset
of the converter's: no field the converter writes is dropped by the round trip.
"""

from __future__ import annotations

BUFFER_ALIGNMENT = 16
TFLITE_IDENTIFIER = b"TFL3"


def _aligned_buffer_type():
    import numpy as np
    from ai_edge_litert import schema_py_generated as schema

    class AlignedBuffer(schema.BufferT):
        def Pack(self, builder):
            data = None
            if self.data is not None and len(self.data):
                payload = np.asarray(self.data, np.uint8).tobytes()
                builder.StartVector(1, len(payload), BUFFER_ALIGNMENT)
                builder.head -= len(payload)
                builder.Bytes[builder.head:builder.head + len(payload)] = payload
                data = builder.EndVector()
            schema.BufferStart(builder)
            if data is not None:
                schema.BufferAddData(builder, data)
            schema.BufferAddOffset(builder, self.offset)
            schema.BufferAddSize(builder, self.size)
            return schema.BufferEnd(builder)

    return AlignedBuffer


def pack_aligned(model, size_hint: int) -> bytes:
    """Serialize a ModelT with every weight buffer 16-byte aligned."""
    import flatbuffers

    aligned_type = _aligned_buffer_type()
    aligned_buffers = []
    for buffer in model.buffers or []:
        aligned = aligned_type()
        aligned.data, aligned.offset, aligned.size = buffer.data, buffer.offset, buffer.size
        aligned_buffers.append(aligned)
    model.buffers = aligned_buffers
    builder = flatbuffers.Builder(size_hint)
    builder.Finish(model.Pack(builder), file_identifier=TFLITE_IDENTIFIER)
    return bytes(builder.Output())


SIGNATURE_KEY = "serving_default"
OUTPUT_NAME = "output"


def add_serving_signature(content: bytes, input_names: list[str]) -> bytes:
    """Give a file converted from a concrete function (which has no SignatureDef) the serving
    signature ``serving_default``: inputs named as the Keras inputs, the one output ``output``,
    the names signature.json uses, so a runtime can call the model by name. Files that already
    have a signature, several subgraph outputs, inputs whose names cannot be matched, or weights
    stored outside the flatbuffer come back unchanged."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    if model.signatureDefs or not model.subgraphs or any(b.offset for b in model.buffers or []):
        return content
    graph = model.subgraphs[0]
    inputs = [int(i) for i in (graph.inputs if graph.inputs is not None else [])]
    outputs = [int(i) for i in (graph.outputs if graph.outputs is not None else [])]
    if len(outputs) != 1 or len(inputs) != len(input_names):
        return content
    by_name = {}
    for index in inputs:
        name = (graph.tensors[index].name or b"").decode()
        name = name.split(":")[0].removeprefix("serving_default_")
        by_name[name] = index
    if set(by_name) != set(input_names):
        return content

    def tensor_map(name: str, index: int):
        entry = schema.TensorMapT()
        entry.name, entry.tensorIndex = name, index
        return entry

    signature = schema.SignatureDefT()
    signature.signatureKey = SIGNATURE_KEY
    signature.subgraphIndex = 0
    signature.inputs = [tensor_map(name, by_name[name]) for name in input_names]
    signature.outputs = [tensor_map(OUTPUT_NAME, outputs[0])]
    model.signatureDefs = [signature]
    return pack_aligned(model, len(content) + 256)


def visible_tensors(model, subgraph_index: int) -> set[int]:
    """Tensor indices whose names a caller can see: subgraph inputs, outputs, signature tensors."""
    subgraph = model.subgraphs[subgraph_index]
    keep = {int(i) for i in (subgraph.inputs if subgraph.inputs is not None else [])}
    keep |= {int(i) for i in (subgraph.outputs if subgraph.outputs is not None else [])}
    for signature in model.signatureDefs or []:
        if signature.subgraphIndex == subgraph_index:
            keep |= {int(t.tensorIndex) for t in [*(signature.inputs or []), *(signature.outputs or [])]}
    return keep


def _is_empty(buffer) -> bool:
    return (buffer.data is None or len(buffer.data) == 0) and not buffer.offset


def compact(content: bytes) -> tuple[bytes, dict[str, int]]:
    """Returns the smaller model and what was removed: ``names_dropped`` (tensor names),
    ``buffers_dropped`` (empty buffers folded into buffer 0) and ``bytes_saved``. A model this
    cannot handle safely (data stored outside the flatbuffer, a non-empty buffer 0) comes back
    unchanged."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    unchanged = {"names_dropped": 0, "buffers_dropped": 0, "bytes_saved": 0}
    buffers = model.buffers or []
    # Weights past the 2 GB flatbuffer limit live after it, addressed by offset: repacking would
    # move them. Buffer 0 must be the empty sentinel for the folding below to be meaningful.
    if not buffers or not _is_empty(buffers[0]) or any(b.offset for b in buffers):
        return content, unchanged
    names_dropped = 0
    for index, subgraph in enumerate(model.subgraphs or []):
        keep = visible_tensors(model, index)
        for position, tensor in enumerate(subgraph.tensors or []):
            if position not in keep and tensor.name:
                tensor.name = None
                names_dropped += 1
    used = {0} | {int(m.buffer) for m in model.metadata or []}
    used |= {int(b) for b in (model.metadataBuffer if model.metadataBuffer is not None else [])}
    for subgraph in model.subgraphs or []:
        for tensor in subgraph.tensors or []:
            if _is_empty(buffers[tensor.buffer]):
                tensor.buffer = 0
            used.add(int(tensor.buffer))
    order = sorted(used)
    renumber = {old: new for new, old in enumerate(order)}
    for subgraph in model.subgraphs or []:
        for tensor in subgraph.tensors or []:
            tensor.buffer = renumber[int(tensor.buffer)]
    for entry in model.metadata or []:
        entry.buffer = renumber[int(entry.buffer)]
    if model.metadataBuffer is not None:
        model.metadataBuffer = [renumber[int(b)] for b in model.metadataBuffer]
    model.buffers = [buffers[old] for old in order]
    packed = pack_aligned(model, len(content))
    if len(packed) >= len(content):
        return content, unchanged
    return packed, {"names_dropped": names_dropped, "buffers_dropped": len(buffers) - len(order),
                    "bytes_saved": len(content) - len(packed)}
