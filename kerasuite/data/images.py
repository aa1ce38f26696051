"""Image sources: raw (image-or-path, label) datasets plus the decoder the canonical pipeline maps.

In-memory sources (digits, synthetic) hold uint8 arrays; ``folder:`` holds file paths that are
checked up front (an unreadable file is named before training starts, or skipped and counted
with ``data.skip_bad_files``), or the uint8 arrays of a data set shipped as arrays (MNIST's IDX
files, CIFAR's batches: ``image_arrays``); ``csv:`` holds the uint8 arrays of a CSV table of
pixels (Kaggle's MNIST-like CSVs, FER2013: ``image_csv``); ``tfds:`` streams TFDS records.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable, NamedTuple

import numpy as np
import tensorflow as tf

from kerasuite.config import RunConfig
from kerasuite.data import image_arrays, image_csv_pixels
from kerasuite.data.sources import (
    LabelledFiles,
    folder_splits,
    parse_source,
    synthetic_class_count,
    scan_class_folder,
    split_indices,
    tfds_builder,
    train_and_validation,
    training_order,
)
from kerasuite.data.tfds_splits import plan_splits
from kerasuite.errors import UserError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


@dataclasses.dataclass
class RawImages:
    kind: str  # "array": elements are uint8 images; "file": elements are paths
    train: tf.data.Dataset
    validation: tf.data.Dataset | None
    test: tf.data.Dataset
    class_names: list[str]
    channels: int
    num_train: int
    auto_shard: str = "DATA"
    skipped_files: int = 0
    validation_source: str | None = None  # the folder the validation split was read from, if the source has one
    notes: list[str] = dataclasses.field(default_factory=list)  # the folder scan's notes (sources.ClassFolder)
    # Paths TensorFlow reads whose EXIF orientation (2-8) the decoder applies: phones store a
    # portrait photo turned and say so in the tag, which TensorFlow's decoders ignore.
    orientations: dict[str, int] = dataclasses.field(default_factory=dict)
    # A downloaded array set is held as uint8 already (CIFAR-10: 180 MB); caching it decoded would
    # hold it again as float32 at the model's size (at 32x32, four times that), for a map that
    # only resizes.
    in_memory: bool = False


def load(spec_text: str, config: RunConfig) -> RawImages:
    spec = parse_source(spec_text, allowed=("builtin", "tfds", "folder", "csv", "synthetic"))
    loader = {"builtin": _builtin, "tfds": _tfds, "folder": _folder, "csv": _csv, "synthetic": _synthetic}[spec.scheme]
    return loader(spec.target, config)


def decoder(kind: str, height: int, width: int, channels: int, orientations: dict[str, int] | None = None) -> Callable:
    """Element -> ({"image": float32 [H, W, C] in [0, 1]}, label); a path in ``orientations`` is
    turned upright by its EXIF orientation first, as PIL's ``ImageOps.exif_transpose`` shows it."""

    def to_float(image: tf.Tensor) -> tf.Tensor:
        # MediaPipe Tasks' resize, so a phone app that hands MediaPipe any size of picture feeds
        # the model what training saw: bilinear with source = target * scale (no half-pixel
        # shift; TensorFlow's legacy ResizeBilinear), then whole pixels rounded half up. Measured
        # against mediapipe 1.2.3's ImageClassifier: equal on 40 images from 5x5 to 60x60
        # (tests/runtime/test_mediapipe.py). Whole pixels also make float32 and uint8-input files agree.
        resized = tf.raw_ops.ResizeBilinear(images=tf.cast(image, tf.float32)[None], size=[height, width],
                                            align_corners=False, half_pixel_centers=False)[0]
        return tf.clip_by_value(tf.floor(resized + 0.5) / 255.0, 0.0, 1.0)

    if kind == "file":

        upright = _upright_by_orientation(orientations) if orientations else None

        def decode_file(path, label):
            raw = tf.io.read_file(path)
            image = tf.cond(tf.io.is_jpeg(raw), lambda: _decode_jpeg(raw, channels),
                            lambda: tf.io.decode_image(raw, channels=channels, expand_animations=False))
            image.set_shape([None, None, channels])
            if upright is not None:
                image = upright(path, image)
            return {"image": to_float(image)}, label

        return decode_file

    def decode_array(image, label):
        return {"image": to_float(image)}, label

    return decode_array


def _decode_jpeg(raw: tf.Tensor, channels: int) -> tf.Tensor:
    """libjpeg's accurate integer IDCT, which PIL, phones' decoders and the device's reader use:
    TensorFlow's default (its fast IDCT) differs from them by up to several levels at edges, so
    the model would train on pixels no device shows it."""
    return tf.io.decode_jpeg(raw, channels=channels, dct_method="INTEGER_ACCURATE")


# ----------------------------------------------------------------------------- in memory


def _from_arrays(images: np.ndarray, labels: np.ndarray, names: list[str], config: RunConfig) -> RawImages:
    """A small in-memory set (digits, synthetic) with no test split of its own: held out from it,
    stratified, and cached decoded as other small sources are."""
    arrays = image_arrays.ArraySet(image_arrays.ArraySplit(images, labels.astype(np.int64)), None, names, [])
    return _from_array_set(arrays, config, in_memory=False)


@dataclasses.dataclass
class _Rows:
    """Row numbers of an in-memory split, as ``train_and_validation`` splits them."""

    indices: np.ndarray

    def __len__(self) -> int:
        return len(self.indices)

    def subset(self, indices: np.ndarray) -> "_Rows":
        return _Rows(self.indices[indices])


def _from_array_set(arrays: image_arrays.ArraySet, config: RunConfig, in_memory: bool = True) -> RawImages:
    """A set read into uint8 arrays (a download of MNIST's or CIFAR's files, an image CSV): its
    own test and validation splits where it has them, else held out from its training split as
    a folder's are when it has no test/ or val/. ``in_memory``: not cached again decoded (a large
    download held as uint8 would be held again as float32)."""
    train, validation, test = _array_set_rows(arrays, config)
    # One TensorFlow copy of the training images serves every split drawn from them, each a list
    # of rows gathered per element: a numpy subset per split, then TensorFlow's copy of each, held
    # CIFAR-10's training images about four times over while it loaded.
    images, labels = tf.constant(arrays.train.images), tf.constant(arrays.train.labels)

    def rows(split: _Rows) -> tf.data.Dataset:
        return tf.data.Dataset.from_tensor_slices(split.indices).map(
            lambda row: (tf.gather(images, row), tf.gather(labels, row)))

    def own(split: image_arrays.ArraySplit | None) -> tf.data.Dataset | None:
        return None if split is None else tf.data.Dataset.from_tensor_slices((split.images, split.labels))

    return RawImages(
        kind="array",
        train=rows(train),
        validation=rows(validation) if validation is not None else own(arrays.validation),
        test=rows(test) if test is not None else own(arrays.test),
        class_names=arrays.class_names,
        channels=arrays.train.images.shape[-1],
        num_train=len(train),
        validation_source=arrays.validation_source,
        notes=arrays.notes,
        in_memory=in_memory,
    )


def _array_set_rows(arrays: image_arrays.ArraySet, config: RunConfig) -> tuple[_Rows, _Rows | None, _Rows | None]:
    """The training split's rows that train, validate (None: none, or the set's own) and test
    (None: the set's own)."""
    everything = _Rows(np.arange(len(arrays.train)))
    validation_fraction = 0.0 if arrays.validation is not None else config.data.validation_fraction
    if arrays.test is not None:
        train, validation = train_and_validation(everything, None, validation_fraction, config.seed, config.data.limit)
        return train, validation, None
    # stratified: a class of a few rows keeps some in each split
    train_idx, val_idx, test_idx = split_indices(arrays.train.labels, config.data.test_fraction, validation_fraction,
                                                 config.seed)
    if not len(test_idx):
        raise UserError("--data: too few images to hold out a test split; add data or raise data.test_fraction")
    return (everything.subset(training_order(train_idx, config.data.limit, config.seed)),
            everything.subset(val_idx) if len(val_idx) else None, everything.subset(test_idx))


def _builtin(name: str, config: RunConfig) -> RawImages:
    if name != "digits":
        raise UserError(f"--data builtin:{name}: unknown builtin data set; available: builtin:digits")
    from sklearn.datasets import load_digits

    digits = load_digits()
    # 8x8 intensities 0..16 -> uint8 0..255, one channel; upscaled to the model size by the decoder.
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    return _from_arrays(images, digits.target.astype(np.int64), [str(d) for d in range(10)], config)


def synthetic_images(num_classes: int, per_class: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A learnable, not trivial set: each class is a bright blob at its own place, with jitter
    and noise, so a small CNN must learn position, not brightness."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    grid = int(np.ceil(np.sqrt(num_classes)))
    cell = size / grid
    yy, xx = np.mgrid[0:size, 0:size]
    for label in range(num_classes):
        cy, cx = (label // grid + 0.5) * cell, (label % grid + 0.5) * cell
        for _ in range(per_class):
            jy, jx = rng.normal(0, cell / 6, 2)
            blob = np.exp(-(((yy - cy - jy) ** 2 + (xx - cx - jx) ** 2) / (2 * (cell / 4) ** 2)))
            image = 0.8 * blob + rng.uniform(0, 0.35, (size, size))
            images.append(np.clip(image * 255, 0, 255).astype(np.uint8)[..., None])
            labels.append(label)
    return np.stack(images), np.array(labels, dtype=np.int64)


def _synthetic(name: str, config: RunConfig) -> RawImages:
    num_classes = synthetic_class_count(name, "blobs")
    images, labels = synthetic_images(num_classes, 40, 16, config.seed)
    return _from_arrays(images, labels, [f"class_{i}" for i in range(num_classes)], config)


def _csv(target: str, config: RunConfig) -> RawImages:
    return _from_array_set(image_csv_pixels.read_pixel_csv(target), config)


# ----------------------------------------------------------------------------------- tfds


def _tfds(name: str, config: RunConfig) -> RawImages:
    builder = tfds_builder(name)
    features = builder.info.features
    if "image" not in features or "label" not in features:
        raise UserError(f"--data tfds:{name}: needs 'image' and 'label' features for image_classification")
    try:
        builder.download_and_prepare()
        plan = plan_splits(set(builder.info.splits.keys()) or {"train", "test"},
                           config.data.test_fraction, config.data.validation_fraction)
        decoders = _tfds_image_decoders(features["image"])
        train, test = (builder.as_dataset(split=split, as_supervised=True, shuffle_files=False, decoders=decoders)
                       for split in (plan.train, plan.test))
        validation = (builder.as_dataset(split=plan.validation, as_supervised=True, shuffle_files=False,
                                         decoders=decoders)
                      if plan.validation else None)
    except Exception as error:  # not found, not downloadable offline, no such split, ...
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"--data tfds:{name}: could not load ({first})") from None
    num_train = int(train.cardinality())
    if num_train < 0:
        num_train = sum(1 for _ in train)
    if config.data.limit:
        train = train.take(config.data.limit)
        num_train = min(num_train, config.data.limit)
    as_int64 = lambda image, label: (image, tf.cast(label, tf.int64))  # noqa: E731
    return RawImages(
        kind="array",
        train=train.map(as_int64),
        validation=validation.map(as_int64) if validation is not None else None,
        test=test.map(as_int64),
        class_names=list(features["label"].names),
        channels=int(features["image"].shape[-1]),
        num_train=num_train,
        auto_shard="DATA",
    )


def _tfds_image_decoders(feature) -> dict | None:
    """TFDS decodes its JPEG records with TensorFlow's default fast IDCT; these decoders use the
    accurate one, as the folder source and every device do (``_decode_jpeg``). PNG records (and
    images that are not uint8 with 1 or 3 channels) keep TFDS's own decoding."""
    import tensorflow_datasets as tfds

    shape, dtype = getattr(feature, "shape", None), getattr(feature, "dtype", None)
    if not shape or shape[-1] not in (1, 3) or tf.dtypes.as_dtype(dtype) != tf.uint8:
        return None
    channels = shape[-1]

    @tfds.decode.make_decoder()
    def accurate_jpeg(serialized, image_feature):
        def decoded_jpeg():
            image = _decode_jpeg(serialized, channels)
            image.set_shape(image_feature.shape)
            return image

        return tf.cond(tf.io.is_jpeg(serialized), decoded_jpeg, lambda: image_feature.decode_example(serialized))

    return {"image": accurate_jpeg()}


# --------------------------------------------------------------------------------- folder


# A 20000 x 20000 PNG is a few kB on disk and 400 MB decoded (a decompression bomb): refuse
# images above this many pixels, named, before anything decodes them.
MAX_IMAGE_PIXELS = 50_000_000
# What TensorFlow's decode_image reads, by PIL format, for the channel count the model uses.
# Anything else (TIFF or WebP named .png, grayscale BMP/GIF, CMYK JPEG, 1-bit BMP) would crash
# mid-epoch inside IteratorGetNext, so it is converted to PNG up front instead.
_TF_DECODES = {1: {"PNG": None, "JPEG": ("L", "RGB")},
               3: {"PNG": None, "JPEG": ("L", "RGB"), "BMP": ("RGB", "RGBA", "L", "P"), "GIF": None}}


class ImageKind(NamedTuple):
    format: str  # PIL's name for it: "PNG", "JPEG", ...
    mode: str
    orientation: int  # EXIF orientation, 1 (as stored) to 8; 2-8 turn or mirror the stored pixels


def _image_channels(kinds: list[ImageKind]) -> int:
    """1 when every image is grayscale, else 3: a folder of colour photos whose first file happens
    to be grey must not train a grayscale model."""
    return 1 if all(kind.mode in ("L", "1", "I", "I;16", "F") for kind in kinds) else 3


def _inspect(path: str) -> ImageKind:
    """Open and fully decode one image with PIL (refusing a pixel bomb first)."""
    from PIL import ExifTags, Image

    with Image.open(path) as image:
        width, height = image.size
        if width <= 0 or height <= 0:
            raise ValueError(f"{width}x{height} pixels")
        if width * height > MAX_IMAGE_PIXELS:
            raise ValueError(f"{width}x{height} pixels, over the limit of {MAX_IMAGE_PIXELS:,} pixels")
        image.load()
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
        # the values ImageOps.exif_transpose acts on; anything else (1, none, junk) is as stored
        return ImageKind(image.format or "", image.mode, orientation if orientation in range(2, 9) else 1)


def _check_readable(paths: list[str], labels: np.ndarray, skip: bool) -> tuple[list[str], np.ndarray, int, list[ImageKind]]:
    """Verify every file decodes; name the first bad one, or drop and count them with ``skip``.
    Also returns each kept file's ``ImageKind``."""
    import warnings

    from PIL import Image

    keep = np.ones(len(paths), dtype=bool)
    kinds: list[ImageKind] = []
    for i, path in enumerate(paths):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                kinds.append(_inspect(path))
            continue
        except Exception as error:
            if not skip:
                reason = str(error).splitlines()[0] if str(error) else type(error).__name__
                raise UserError(
                    f"{path}: unreadable image ({reason}); fix or remove it, or --set data.skip_bad_files=true"
                ) from None
        keep[i] = False
    return [p for p, k in zip(paths, keep) if k], labels[keep], int((~keep).sum()), kinds


def _tf_decodes(kind: ImageKind, channels: int) -> bool:
    modes = _TF_DECODES.get(channels, {}).get(kind.format, ())
    return modes is None or kind.mode in modes


# EXIF orientation -> the TensorFlow ops that show stored pixels upright, as PIL's
# ImageOps.exif_transpose (and kerasuite.runtime.image on a device) does: [H, W, C] images.
_UPRIGHT_OPS = {
    2: lambda image: tf.reverse(image, [1]),
    3: lambda image: tf.reverse(image, [0, 1]),
    4: lambda image: tf.reverse(image, [0]),
    5: lambda image: tf.transpose(image, [1, 0, 2]),
    6: lambda image: tf.image.rot90(image, k=3),
    7: lambda image: tf.transpose(tf.reverse(image, [0, 1]), [1, 0, 2]),
    8: lambda image: tf.image.rot90(image, k=1),
}


def _upright_by_orientation(orientations: dict[str, int]) -> Callable:
    """``(path, image) -> image`` turned by the path's orientation (1 for paths not listed).
    Turning in the decoder costs nothing up front; re-encoding each turned phone photo as a
    full-size PNG cost time and disk per picture before training could start."""
    # constants, not a lookup table: a table is a resource that distributed input pipelines
    # would have to copy to every worker and device; one vectorised compare per image is cheap
    paths = tf.constant(list(orientations))
    codes = tf.constant(list(orientations.values()), tf.int32)

    def upright(path, image):
        code = tf.reduce_max(tf.where(tf.equal(paths, path), codes, 1))
        turns = [lambda: image] + [lambda turn=_UPRIGHT_OPS[orientation]: turn(image) for orientation in range(2, 9)]
        return tf.switch_case(code - 1, turns)

    return upright


def _convert_for_tensorflow(paths: list[str], kinds: list[ImageKind], channels: int) -> tuple[list[str], int]:
    """Re-encode, as upright PNG in a temporary folder, the files TensorFlow cannot decode; returns
    the paths to read (converted ones swapped in) and how many were converted."""
    todo = [i for i, kind in enumerate(kinds) if not _tf_decodes(kind, channels)]
    if not todo:
        return paths, 0
    import atexit
    import shutil
    import tempfile
    from pathlib import Path

    from PIL import Image, ImageOps

    from kerasuite.locations import remove_orphans

    remove_orphans(Path(tempfile.gettempdir()), "kerasuite-images-")
    cache = Path(tempfile.mkdtemp(prefix=f"kerasuite-images-{os.getpid()}-"))
    atexit.register(shutil.rmtree, cache, True)
    converted = list(paths)
    for n, i in enumerate(todo):
        with Image.open(paths[i]) as image:
            image.seek(0)  # the first frame of an animation, as TensorFlow's GIF decoder takes
            image = ImageOps.exif_transpose(image)
            if image.mode == "CMYK" or channels == 3:
                image = image.convert("RGB")
            if channels == 1:
                image = image.convert("L")
            target = cache / f"{n}.png"
            image.save(target, "PNG")
        converted[i] = str(target)
    return converted, len(todo)


def _readable_split(files: LabelledFiles, split: str, path: str, skip: bool) -> tuple[LabelledFiles, int, list[ImageKind]]:
    """``_check_readable`` on one split, refusing a split left with no image; also how many
    files were skipped and each kept file's ``ImageKind``."""
    paths, labels, bad, kinds = _check_readable(files.paths, files.labels, skip)
    if not paths:
        raise UserError(f"--data folder:{path}: no readable images left in the {split} split")
    return LabelledFiles(paths, labels), bad, kinds


def _folder(path: str, config: RunConfig) -> RawImages:
    arrays = image_arrays.read_array_set(path, config.data.image.cifar100_labels)
    if arrays is not None:
        return _from_array_set(arrays, config)
    scanned = scan_class_folder(path, IMAGE_EXTENSIONS)
    splits = folder_splits(scanned, path, config.data.test_fraction, config.seed)
    checked = {split: _readable_split(files, split, path, config.data.skip_bad_files) for split, files in splits.items()}
    channels = config.data.image.channels or _image_channels(checked["train"][2])
    decodable = {split: LabelledFiles(_convert_for_tensorflow(files.paths, kinds, channels)[0], files.labels)
                 for split, (files, _, kinds) in checked.items()}
    train, validation = train_and_validation(decodable["train"], decodable.get("validation"),
                                             config.data.validation_fraction, config.seed, config.data.limit)

    def files(split: LabelledFiles) -> tf.data.Dataset:
        return tf.data.Dataset.from_tensor_slices((np.array(split.paths, dtype=str), split.labels.astype(np.int64)))

    return RawImages(
        kind="file",
        train=files(train),
        validation=files(validation) if validation is not None else None,
        test=files(decodable["test"]),
        class_names=scanned.class_names,
        channels=channels,
        num_train=len(train),
        auto_shard="DATA",
        skipped_files=sum(bad for _, bad, _ in checked.values()),
        validation_source=scanned.validation_source,
        notes=scanned.notes,
        orientations={path: kind.orientation for (files, _, kinds) in checked.values()
                      for path, kind in zip(files.paths, kinds) if kind.orientation != 1 and _tf_decodes(kind, channels)},
    )
