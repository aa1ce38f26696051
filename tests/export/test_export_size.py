"""The exporter's size options: compaction (default) changes no output, per-tensor int8 is opt-in."""

import numpy as np
import pytest

from kerasuite import config as cfg


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """One small conv model (a conv, a depthwise conv, a dense head) converted three ways."""
    import keras

    from kerasuite.export import tflite

    folder = tmp_path_factory.mktemp("export_size")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((12, 12, 1), name="image")
    x = keras.layers.Conv2D(16, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.DepthwiseConv2D(3, activation="relu", name="depthwise")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(4, activation="softmax", name="probabilities")(x)
    keras.Model({"image": inputs}, outputs).save(folder / "tiny.keras")
    np.savez(folder / "rep.npz", input__image=np.random.default_rng(0).uniform(0, 1, (32, 12, 12, 1)).astype(np.float32))
    files = {}
    for variant, options in (("raw", {"compact": False}), ("compact", {}), ("per_tensor", {"int8_weights": "per_tensor"})):
        paths = {mode: folder / f"{variant}_{mode}.tflite" for mode in ("float32", "int8")}
        tflite.convert_modes(folder / "tiny.keras", paths, folder / "rep.npz", **options)
        files.update({(variant, mode): path for mode, path in paths.items()})
    return files


def _model(path):
    from ai_edge_litert import schema_py_generated as schema

    return schema.ModelT.InitFromPackedBuf(bytearray(path.read_bytes()), 0)


def _outputs(path, examples):
    from kerasuite.runtime.interpreter import TFLiteModel

    return TFLiteModel(path).predict({"image": examples})


@pytest.mark.parametrize("mode", ["float32", "int8"])
def test_compacted_file_is_smaller_and_computes_exactly_the_same(converted, mode):
    from kerasuite.runtime.interpreter import TFLiteModel

    raw, compact = converted[("raw", mode)], converted[("compact", mode)]
    assert compact.stat().st_size < raw.stat().st_size
    examples = np.random.default_rng(1).uniform(0, 1, (40, 12, 12, 1)).astype(np.float32)
    np.testing.assert_array_equal(_outputs(compact, examples), _outputs(raw, examples))
    # What the runner and signature.json read: the input name it feeds by, the output's name.
    assert TFLiteModel(compact).describe() == TFLiteModel(raw).describe()
    assert TFLiteModel(compact).input_names == ["image"]


def test_compaction_keeps_only_the_names_a_caller_sees_and_aligns_weights(converted):
    from ai_edge_litert import schema_py_generated as schema

    for mode in ("float32", "int8"):
        raw, compact = _model(converted[("raw", mode)]), _model(converted[("compact", mode)])
        graph = compact.subgraphs[0]
        visible = {int(i) for i in graph.inputs} | {int(i) for i in graph.outputs}
        assert all((tensor.name is None) == (i not in visible) for i, tensor in enumerate(graph.tensors))
        assert [graph.tensors[i].name for i in visible] == [raw.subgraphs[0].tensors[i].name for i in visible]
        assert len(compact.buffers) < len(raw.buffers)
        content = converted[("compact", mode)].read_bytes()
        packed = schema.Model.GetRootAsModel(content, 0)
        with_data = [packed.Buffers(i) for i in range(packed.BuffersLength()) if packed.Buffers(i).DataLength()]
        assert with_data
        for buffer in with_data:  # the converter's force_align: 16, which kernels may rely on
            assert buffer._tab.Vector(buffer._tab.Offset(4)) % 16 == 0


def test_compaction_keeps_signature_names(converted):
    """Converted files carry no SignatureDef today; one added by hand must survive compaction."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.interpreter import Interpreter

    from kerasuite.export.compact import compact

    model = _model(converted[("raw", "float32")])
    graph = model.subgraphs[0]
    signature = schema.SignatureDefT()
    signature.signatureKey, signature.subgraphIndex = "serving_default", 0
    signature.inputs, signature.outputs = [schema.TensorMapT(), schema.TensorMapT()], [schema.TensorMapT()]
    signature.inputs[0].name, signature.inputs[0].tensorIndex = "image", int(graph.inputs[0])
    middle = next(i for i, t in enumerate(graph.tensors) if i not in graph.inputs and i not in graph.outputs
                  and model.buffers[t.buffer].data is None)
    signature.inputs[1].name, signature.inputs[1].tensorIndex = "features", middle  # a named inner tensor
    signature.outputs[0].name, signature.outputs[0].tensorIndex = "output", int(graph.outputs[0])
    model.signatureDefs = [signature]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    before = bytes(builder.Output())
    after, report = compact(before)
    assert report["names_dropped"] > 0 and len(after) < len(before)
    kept = schema.ModelT.InitFromPackedBuf(bytearray(after), 0)
    assert kept.subgraphs[0].tensors[middle].name == graph.tensors[middle].name
    assert Interpreter(model_content=after).get_signature_list() == Interpreter(model_content=before).get_signature_list()


def test_per_tensor_int8_has_one_scale_per_weight_tensor_and_a_smaller_file(converted):
    from ai_edge_litert import schema_py_generated as schema

    def weight_scales(path):
        model = _model(path)
        counts = []
        for tensor in model.subgraphs[0].tensors:
            data = model.buffers[tensor.buffer].data
            if tensor.type == schema.TensorType.INT8 and data is not None and len(data) > 1:
                counts.append(len(tensor.quantization.scale))
        return counts

    per_channel, per_tensor = weight_scales(converted[("compact", "int8")]), weight_scales(converted[("per_tensor", "int8")])
    assert max(per_channel) == 16 and len(per_tensor) == len(per_channel) and set(per_tensor) == {1}
    assert converted[("per_tensor", "int8")].stat().st_size < converted[("compact", "int8")].stat().st_size
    examples = np.random.default_rng(2).uniform(0, 1, (40, 12, 12, 1)).astype(np.float32)
    assert np.all(np.isfinite(_outputs(converted[("per_tensor", "int8")], examples)))


def test_unknown_int8_weights_value_is_a_one_line_error():
    with pytest.raises(cfg.ConfigError, match=r"^export\.int8_weights: unknown value 'per_row'; choose from per_channel, per_tensor$"):
        cfg.resolve(set_values={"export.int8_weights": "per_row"})
    assert cfg.resolve(set_values={"export.int8_weights": "per_tensor"}).export.int8_weights == "per_tensor"
    assert cfg.resolve().export.compact is True


def test_a_dynamic_file_with_nothing_to_quantize_says_it_is_the_float32_model(tmp_path):
    """TFLite's dynamic-range quantization leaves weight tensors under 1,024 values in float32.
    A small model's dynamic file was byte for byte its float32 file, and passed with no word that
    nothing shrank; now its verdict carries a note. A model with a large weight gets none."""
    import keras

    from kerasuite.export.api import export_model

    values = np.random.default_rng(1).normal(size=(40, 6)).astype(np.float32)
    notes = {}
    for name, width in (("small", 8), ("large", 256)):
        keras.utils.set_random_seed(1)
        features = keras.Input((6,), name="features")
        hidden = keras.layers.Dense(width, activation="relu")(features)
        model = keras.Model(features, keras.layers.Dense(3, activation="softmax")(keras.layers.Dense(8)(hidden)))
        report = export_model(model, representative={"features": values}, modes=("float32", "dynamic"),
                              out=tmp_path / name)
        notes[name] = report.exports["dynamic"].get("notes", [])
    assert len(notes["small"]) == 1 and "is the float32 model" in notes["small"][0], notes
    assert notes["large"] == [], notes
