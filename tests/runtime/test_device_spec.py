"""One typed device spec per task feeds signature.json, the TFLite metadata and the runtime.

The round trip loops over the task registry (each task's ``tiny`` preset), so a new task cannot
skip it: its spec must be a registered ``DeviceSpec`` kind that signature.json carries and the
device runtime's loader parses back to an equal spec. The golden files in
``tests/data/device_specs`` are the ``preprocessing`` objects the free-form dicts wrote before the
typed specs (captured from the code before the change): the JSON must stay byte-equal.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kerasuite import config as cfg
from kerasuite.runtime import device_spec
from kerasuite.tasks import TASK_NAMES

GOLDEN = Path(__file__).parent.parent / "data" / "device_specs"
# golden file -> extra settings over the task's tiny preset (the variants whose spec differs)
VARIANTS = {
    "image_classification": {},
    "text_classification": {},
    # the family's defaults when the golden file was captured (they have changed since; the
    # format must not have)
    "text_classification-ngram": {"model.family": "ngram", "data.text.standardize": "lower",
                                  "model.ngram.char_scope": "word", "model.ngram.bigram_buckets": "20000",
                                  "model.ngram.char_buckets": "20000", "model.ngram.char_min_df": "0",
                                  "model.ngram.max_features": "2048"},
    "retrieval": {},
    "retrieval-history_two_tower": {"model.family": "history_two_tower", "model.two_tower.interests": "1",
                                    "model.two_tower.members": "1"},
    "ranking": {},
    "ranking-implicit": {"data.recsys.implicit": "true"},
    "keyword_spotting": {},
}


def _spec(task_name: str, **sets: str):
    from kerasuite.tasks import get_task

    config = cfg.resolve({}, {"task": task_name, "preset": "tiny", **sets})
    task = get_task(task_name)
    return task.device_spec(task.load_data(config), config)


def _signature_json(spec) -> str:
    """The bytes kerasuite.io_utils.write_json_atomic writes for the preprocessing object."""
    return json.dumps(spec.to_json(), indent=2, sort_keys=False) + "\n"


@pytest.mark.parametrize("task_name", TASK_NAMES)
def test_every_task_spec_round_trips_through_signature_json_and_the_runtime(task_name, tmp_path):
    from kerasuite.edge import load_signature
    from kerasuite.runtime.inputs import READERS

    spec = _spec(task_name)
    assert isinstance(spec, device_spec.DeviceSpec), f"{task_name}: device_spec() must return a typed DeviceSpec"
    assert type(spec) in device_spec.kinds().values(), f"{task_name}: its spec class is not a registered kind"
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "signature.json").write_text(json.dumps({"task": task_name, "preprocessing": spec.to_json(), "modes": {}}))
    parsed = device_spec.parse(load_signature(bundle / "model_float32.tflite")["preprocessing"])
    assert type(parsed) is type(spec) and parsed == spec
    assert parsed.to_json() == spec.to_json()
    assert _signature_json(parsed) == _signature_json(spec)
    if spec.reader:  # the runtime's reader table is the specs' own
        assert READERS[spec.kind] == spec.reader


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_signature_preprocessing_is_byte_equal_to_the_free_form_dicts_it_replaced(variant):
    spec = _spec(variant.split("-")[0], **VARIANTS[variant])
    assert _signature_json(spec) == (GOLDEN / f"{variant}.json").read_text(), variant


def test_every_built_in_task_has_a_golden_spec():
    from kerasuite.tasks import _BUILT_IN

    assert set(_BUILT_IN) <= set(VARIANTS)


def test_metadata_writer_reads_the_typed_fields():
    from kerasuite.export import metadata

    image = device_spec.ImageSpec(height=24, width=32, channels=3, trained_channels=1)
    audio = device_spec.AudioSpec(sample_rate=8000, samples=4000, peak_floor=None)
    text = device_spec.TextSpec(sequence_length=6, standardize="lower_and_split_punctuation",
                                tokens=("", "[UNK]", "cat"), note="ids")
    described = {}
    for spec in (image, audio, text):
        found = metadata.bundle_spec(name="m", task="t", family="f", source="s", version="1", mode="float32",
                                     input_names=[spec.input, "other"], output_count=1, preprocessing=spec, labels=None)
        assert found.inputs[1].content is None and found.inputs[1].description == ""  # only the spec's input
        described[spec.kind] = found.inputs[0]
    assert described["image"].description == "RGB image, 24x32, pixel / 255"
    assert described["image"].content.std == (255.0,)
    assert described["audio"].content.sample_rate == 8000 and "4000 samples at 8000 Hz" in described["audio"].description
    assert described["text"].description == "token ids, 6 per text" and described["text"].content is not None


def test_parse_names_what_is_wrong_and_keeps_unknown_kinds():
    with pytest.raises(TypeError, match="height"):
        device_spec.parse({"kind": "image", "width": 4, "channels": 3})
    with pytest.raises(ValueError):
        device_spec.parse({"kind": "audio", "sample_rate": "fast", "samples": 16000})
    with pytest.raises(ValueError, match="kind"):
        device_spec.parse({"height": 4})
    assert device_spec.parse({}) is None
    other = {"kind": "lidar", "input": "points", "beams": 64}
    parsed = device_spec.parse(other)
    assert isinstance(parsed, device_spec.UnknownDeviceSpec) and parsed.to_json() == other
    assert parsed.model_input == "points" and not parsed.reader


@pytest.mark.parametrize("task_name", sorted(t for t in VARIANTS if "-" not in t))
def test_a_tiny_runs_bundle_carries_the_same_preprocessing_as_before(tiny_run, task_name):
    folder, _ = tiny_run(task_name)
    signature = json.loads((folder / "bundle" / "signature.json").read_text())
    written = json.dumps(signature["preprocessing"], indent=2, sort_keys=False) + "\n"  # key order too
    assert written == (GOLDEN / f"{task_name}.json").read_text()
