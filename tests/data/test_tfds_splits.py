"""TFDS data sets with other splits than train and test: each one's own held-out splits are
used, what it lacks is carved from train, and GLUE's unlabelled test split is not tested on."""

from __future__ import annotations

import types

import numpy as np
import pytest

from kerasuite import config as cfg
from kerasuite.data.tfds_splits import held_out_splits, plan_splits


def test_plans_follow_the_splits_a_data_set_has():
    standard = plan_splits({"train", "test"}, 0.2, 0.1)  # mnist, cifar10: as before
    assert (standard.train, standard.validation, standard.test) == ("train[10%:]", "train[0%:10%]", "test")
    only_train = plan_splits({"train"}, 0.2, 0.1)  # tf_flowers, eurosat, cats_vs_dogs
    assert (only_train.train, only_train.validation, only_train.test) == ("train[28%:]", "train[20%:28%]", "train[:20%]")
    validation_only = plan_splits({"train", "validation"}, 0.2, 0.1)  # imagenette, food101
    assert (validation_only.train, validation_only.validation, validation_only.test) == ("train[10%:]", "train[0%:10%]", "validation")
    all_three = plan_splits({"train", "validation", "test"}, 0.2, 0.1)  # beans, speech_commands
    assert (all_three.train, all_three.validation, all_three.test) == ("train", "validation", "test")
    no_validation = plan_splits({"train"}, 0.2, 0.0)
    assert (no_validation.train, no_validation.validation, no_validation.test) == ("train[20%:]", None, "train[:20%]")


def test_hidden_test_labels_move_the_test_to_validation():
    assert held_out_splits({"train", "validation", "test"}) == ("test", "validation")
    assert held_out_splits({"train", "validation", "test"}, hidden_test_labels=True) == ("validation", None)
    with pytest.raises(ValueError, match="no 'train' split"):
        held_out_splits({"test"})


class _SplitsOf:
    """A mocked TFDS builder that reports ``splits`` as its data set's and records what is read."""

    def __init__(self, builder, splits):
        self._builder, self.read = builder, []
        info = builder.info
        self.info = types.SimpleNamespace(features=info.features, supervised_keys=info.supervised_keys,
                                          splits={name: types.SimpleNamespace(num_examples=8) for name in splits})

    def download_and_prepare(self):
        return None

    def as_dataset(self, split, **kwargs):
        self.read.append(split)
        return self._builder.as_dataset(split=split, **kwargs)


def test_an_image_set_with_a_train_split_alone_is_split_three_ways(monkeypatch):
    import tensorflow_datasets as tfds

    from kerasuite.data import images
    from kerasuite.data.sources import tfds_builder

    builders = []

    def builder_with_train_only(name):
        builders.append(_SplitsOf(tfds_builder(name), {"train"}))
        return builders[-1]

    monkeypatch.setattr(images, "tfds_builder", builder_with_train_only)
    config = cfg.resolve({}, {"data.source": "tfds:mnist", "data.image.height": "8", "data.image.width": "8"})
    with tfds.testing.mock_data(num_examples=20):
        raw = images.load("tfds:mnist", config)  # tf_flowers-like: the old loader asked for 'test'
    assert sorted(builders[0].read) == sorted(["train[28%:]", "train[20%:28%]", "train[:20%]"])
    assert raw.validation is not None and raw.test is not None


def test_glue_sst2_reads_its_sentence_and_tests_on_validation(monkeypatch):
    import tensorflow as tf
    import tensorflow_datasets as tfds

    from kerasuite.data import text as text_data
    from kerasuite.data.sources import tfds_builder

    labels = {"train": [0, 1] * 5, "validation": [1, 1, 0], "test": [-1, -1, -1, -1]}

    def as_dataset(self, split, **kwargs):
        def examples():
            for n, label in enumerate(labels[split]):
                yield {"sentence": f"{split} sentence {n}", "label": label, "idx": n}

        return tf.data.Dataset.from_generator(examples, output_signature=self.info.features.get_tensor_spec())

    monkeypatch.setattr(text_data, "tfds_builder", lambda name: _SplitsOf(tfds_builder(name), set(labels)))
    config = cfg.defaults("text_classification")
    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        raw = text_data.load("tfds:glue/sst2", config)
    assert raw.test.texts == [f"validation sentence {n}" for n in range(3)]  # not the unlabelled test
    assert raw.test.labels.tolist() == [1, 1, 0]
    assert raw.validation is not None and len(raw.train) + len(raw.validation) == 10
    assert all(text.startswith("train sentence") for text in raw.train.texts + raw.validation.texts)
    assert (np.concatenate([raw.train.labels, raw.validation.labels]) >= 0).all()


def test_an_unlabelled_split_without_a_labelled_stand_in_is_a_user_error(monkeypatch):
    import tensorflow as tf
    import tensorflow_datasets as tfds

    from kerasuite.data import text as text_data
    from kerasuite.data.sources import tfds_builder
    from kerasuite.errors import UserError

    def as_dataset(self, split, **kwargs):
        def examples():
            for n, label in enumerate([0, 1, -1, 1]):
                yield {"sentence": f"{split} {n}", "label": label, "idx": n}

        return tf.data.Dataset.from_generator(examples, output_signature=self.info.features.get_tensor_spec())

    monkeypatch.setattr(text_data, "tfds_builder", lambda name: _SplitsOf(tfds_builder(name), {"train", "test"}))
    with tfds.testing.mock_data(as_dataset_fn=as_dataset), pytest.raises(UserError, match="label -1"):
        text_data.load("tfds:glue/sst2", cfg.defaults("text_classification"))


def test_tfds_jpeg_records_are_decoded_to_the_pixels_pil_decodes():
    """TFDS's own decoding of its JPEG records uses TensorFlow's fast IDCT; phones and the edge
    runner decode them as PIL does, so training must too."""
    import io

    import tensorflow as tf
    import tensorflow_datasets as tfds
    from PIL import Image

    from kerasuite.data import images

    rng = np.random.default_rng(5)
    jpegs = []
    for _ in range(10):
        encoded = io.BytesIO()
        Image.fromarray(np.clip(rng.normal(128, 70, (24, 32, 3)), 0, 255).astype(np.uint8)).save(encoded, "JPEG", quality=90)
        jpegs.append(encoded.getvalue())
    shown = [np.asarray(Image.open(io.BytesIO(data)).convert("RGB")) for data in jpegs]

    def as_dataset(self, split, decoders=None, **kwargs):  # TFDS's records, decoded by TFDS's own code
        records = tf.data.Dataset.from_tensor_slices({"image": jpegs, "label": np.arange(10, dtype=np.int64) % 5})
        return records.map(lambda record: self.info.features.decode_example(record, decoders=decoders))

    config = cfg.resolve({}, {"data.source": "tfds:tf_flowers"})
    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        raw = images.load("tfds:tf_flowers", config)
        decoded = [image.numpy() for split in (raw.train, raw.test) for image, _ in split]
    assert decoded
    for image in decoded:
        assert min(int(np.abs(image.astype(int) - picture).max()) for picture in shown) == 0
