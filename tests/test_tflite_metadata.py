"""TFLite Model Metadata written by kerasuite.export.metadata reads back as the schema says, matches
the checked-in golden files, and leaves the model computing exactly what it did."""

import json
from pathlib import Path

import numpy as np
import pytest

from kerasuite.export import metadata
from kerasuite.export.mediapipe_text import regex_tokenizer

GOLDEN = Path(__file__).parent / "data" / "metadata"
LABELS = ("cat", "dog", "bird")


@pytest.fixture(scope="module")
def tiny_tflite(tmp_path_factory):
    """A float32 .tflite with one image input and one 3-class output, converted in a child."""
    import keras

    from kerasuite.export import tflite

    folder = tmp_path_factory.mktemp("metadata")
    inputs = keras.Input((4, 4, 3), name="image")
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(inputs))
    keras.Model({"image": inputs}, outputs).save(folder / "tiny.keras")
    path = folder / "tiny.tflite"
    tflite.convert(folder / "tiny.keras", "float32", path)
    return path


def spec_for(content) -> metadata.MetadataSpec:
    return metadata.MetadataSpec(
        name="tiny", description="a test classifier", version="1.2.3", author="kerasuite tests", license="Apache-2.0",
        inputs=(metadata.TensorSpec("image", "pixels", content),),
        outputs=(metadata.TensorSpec("output", "class probabilities", labels=LABELS),),
    )


SPECS = {
    "image_classifier": metadata.ImageInput(),
    "audio_classifier": metadata.AudioInput(sample_rate=16000, channels=1),
    "text_classifier": regex_tokenizer(["", "[UNK]", "the", "cat"], "lower_and_split_punctuation").input,
}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_metadata_reads_back_as_the_golden_file(tiny_tflite, tmp_path, name):
    path = tmp_path / "model.tflite"
    path.write_bytes(tiny_tflite.read_bytes())
    metadata.write(path, spec_for(SPECS[name]))
    found = metadata.read(path)
    golden = json.loads((GOLDEN / f"{name}.json").read_text())
    assert found == golden, json.dumps(found, indent=1)


def test_labels_normalization_and_version_by_hand(tiny_tflite, tmp_path):
    path = tmp_path / "model.tflite"
    path.write_bytes(tiny_tflite.read_bytes())
    metadata.write(path, spec_for(metadata.ImageInput(mean=(127.5,), std=(127.5,))))
    found = metadata.read(path)
    image = found["subgraphMetadata"][0]["inputTensorMetadata"][0]
    assert image["processUnits"][0]["options"] == {"mean": [127.5], "std": [127.5]}
    assert image["stats"] == {"min": [-1.0], "max": [1.0]}  # (0 - 127.5) / 127.5, (255 - 127.5) / 127.5
    output = found["subgraphMetadata"][0]["outputTensorMetadata"][0]
    assert output["associatedFiles"][0]["name"] == "labels.txt"
    assert found["files"]["labels.txt"] == {"compress_type": 0, "text": "cat\ndog\nbird\n"}  # stored, not deflated
    assert found["minParserVersion"] == "1.0.0"
    audio = tmp_path / "audio.tflite"
    audio.write_bytes(tiny_tflite.read_bytes())
    metadata.write(audio, spec_for(SPECS["audio_classifier"]))
    assert metadata.read(audio)["minParserVersion"] == "1.3.0"  # AudioProperties came with 1.3.0


def test_model_computes_the_same_and_rewriting_replaces(tiny_tflite, tmp_path):
    from ai_edge_litert import schema_py_generated as schema

    from kerasuite.runtime.interpreter import TFLiteModel

    x = {"image": np.random.default_rng(0).random((5, 4, 4, 3), dtype=np.float32)}
    before = TFLiteModel(tiny_tflite).predict(x)
    assert metadata.read(tiny_tflite) is None
    path = tmp_path / "model.tflite"
    path.write_bytes(tiny_tflite.read_bytes())
    metadata.write(path, spec_for(SPECS["image_classifier"]))
    metadata.write(path, spec_for(SPECS["text_classifier"]))  # again, with other files
    np.testing.assert_array_equal(TFLiteModel(path).predict(x), before)
    content = path.read_bytes()
    model = schema.Model.GetRootAs(metadata.model_flatbuffer(content), 0)
    names = [model.Metadata(i).Name().decode() for i in range(model.MetadataLength())]
    assert names.count(metadata.METADATA_NAME) == 1
    assert sorted(metadata.read(path)["files"]) == ["labels.txt", "vocab.txt"]  # the image run's zip is gone


def test_a_spec_that_does_not_fit_the_model_is_refused(tiny_tflite, tmp_path):
    path = tmp_path / "model.tflite"
    path.write_bytes(tiny_tflite.read_bytes())
    spec = spec_for(None)
    two_inputs = metadata.MetadataSpec(spec.name, spec.description, spec.version,
                                       inputs=spec.inputs * 2, outputs=spec.outputs)
    with pytest.raises(ValueError, match="2 inputs"):
        metadata.write(path, two_inputs)
    assert path.read_bytes() == tiny_tflite.read_bytes()  # untouched
