"""Camera pictures in a ``folder:`` set: files with an EXIF orientation train upright, as a viewer
(and a phone handing MediaPipe its upright camera frame) shows them, and as the device's reader
sees them; files stored upright are read as they are, not converted."""

import numpy as np
import pytest
from PIL import Image, ImageOps

from helpers import write_camera_image

# the upright size, so the decoder's resize changes nothing; the bright quadrant shows which way up
# each decoded image is
HEIGHT, WIDTH = 16, 32
JPEG = {"quality": 100, "subsampling": 0}
# (file name, orientation or None for no EXIF); each class folder holds all of them
CAMERA_FILES = [("turned_180.jpg", 3), ("turned_right.jpg", 6), ("turned_left.jpg", 8), ("mirrored.jpg", 2),
                ("transverse.jpg", 7), ("upside_down_mirror.jpg", 4), ("transposed.jpg", 5), ("turned_right.png", 6), ("as_stored.jpg", 1), ("no_exif.jpg", None),
                ("no_exif.png", None)]


def _upright_picture(index: int) -> np.ndarray:
    """One bright quadrant, top left, on a background of the file's own level (so each decoded
    image is told apart by its pixels: converted files lose their names)."""
    picture = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    picture[...] = (10 + 8 * index, 60, 120)
    picture[:HEIGHT // 2, :WIDTH // 2] = (250, 230, 40)
    return picture


@pytest.fixture
def camera_folder(tmp_path):
    data = tmp_path / "data"
    index = 0
    for label in ("a", "b"):
        (data / label).mkdir(parents=True)
        for name, orientation in CAMERA_FILES:
            save = JPEG if name.endswith(".jpg") else {}
            write_camera_image(data / label / name, _upright_picture(index), orientation, **save)
            index += 1
    return data


def _load_and_decode(data):
    """Every (path read, decoded image) of the folder, through the task's own loader and decoder."""
    from kerasuite import config as cfg
    from kerasuite.data import images

    config = cfg.defaults("image_classification")
    config.data.source = f"folder:{data}"
    config.data.image.height, config.data.image.width, config.data.image.channels = HEIGHT, WIDTH, 3
    raw = images.load(config.data.source, config)
    decode = images.decoder(raw.kind, HEIGHT, WIDTH, raw.channels, raw.orientations)
    found = []
    for split in (raw.train, raw.validation, raw.test):
        for path, label in split if split is not None else ():
            features, _ = decode(path, label)
            found.append((path.numpy().decode(), features["image"].numpy()))
    return found


def _shown_by_a_viewer(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(ImageOps.exif_transpose(image).convert("RGB"), np.float32) / 255.0


def test_camera_pictures_train_upright(camera_folder):
    sources = sorted(camera_folder.glob("*/*"))
    shown = {str(path): _shown_by_a_viewer(path) for path in sources}
    decoded = _load_and_decode(camera_folder)
    assert len(decoded) == len(sources)
    matched = []
    for _, image in decoded:
        assert image.shape == (HEIGHT, WIDTH, 3)
        differences = {path: float(np.abs(image - expected).max()) for path, expected in shown.items()}
        closest = min(differences, key=differences.get)
        assert differences[closest] < 1e-6, f"no source looks like a decoded image; closest {closest}"
        matched.append(closest)
        assert image[:HEIGHT // 2, :WIDTH // 2, 0].min() > 0.9  # the bright quadrant is top left
    assert sorted(matched) == sorted(shown)


def test_turned_files_are_read_where_they_are_and_turned_by_the_decoder(camera_folder):
    # no full-size PNG copy of each turned camera photo before training
    read = {path for path, _ in _load_and_decode(camera_folder)}
    assert read == {str(path) for path in camera_folder.glob("*/*")}


def test_training_and_the_device_see_the_same_camera_pictures(camera_folder):
    from kerasuite.runtime.device_spec import ImageSpec
    from kerasuite.runtime.image import read_image

    spec = ImageSpec(height=HEIGHT, width=WIDTH, channels=3)
    decoded = [image for _, image in _load_and_decode(camera_folder)]
    for path in camera_folder.glob("*/*"):
        on_device = read_image(str(path), spec, camera_folder)["image"][0]
        assert min(float(np.abs(on_device - image).max()) for image in decoded) < 1e-6, path


def test_the_task_pipeline_turns_camera_pictures_inside_tf_data(camera_folder):
    from kerasuite import config as cfg
    from kerasuite.tasks import get_task

    config = cfg.resolve({}, {"data.source": f"folder:{camera_folder}", "data.image.height": str(HEIGHT),
                              "data.image.width": str(WIDTH), "data.validation_fraction": "0", "data.test_fraction": "0.5",
                              "train.batch_size": "64"})
    data = get_task("image_classification").load_data(config)
    images = np.concatenate([inputs["image"].numpy() for split in (data.train, data.test) for inputs, _ in split])
    assert len(images) == 2 * len(CAMERA_FILES)
    assert (images[:, :HEIGHT // 2, :WIDTH // 2, 0].min(axis=(1, 2)) > 0.9).all()  # every bright quadrant top left


def test_jpeg_photos_train_on_the_pixels_pil_decodes(tmp_path):
    """Sharp, noisy photos: TensorFlow's default fast IDCT decodes them up to several levels away
    from PIL (libjpeg's accurate IDCT, as phones decode); training must see what they show."""
    rng = np.random.default_rng(7)
    data = tmp_path / "data"
    for label, subsampling in (("a", 0), ("b", 2)):  # 4:4:4 and 4:2:0 chroma
        (data / label).mkdir(parents=True)
        for n, orientation in enumerate((None, 6, None, 3)):
            noisy = np.clip(rng.normal(128, 70, (HEIGHT, WIDTH, 3)), 0, 255).astype(np.uint8)
            write_camera_image(data / label / f"photo_{n}.jpg", noisy, orientation, quality=90, subsampling=subsampling)
    from kerasuite.runtime.device_spec import ImageSpec
    from kerasuite.runtime.image import read_image

    shown = [_shown_by_a_viewer(path) for path in sorted(data.glob("*/*.jpg"))]
    decoded = _load_and_decode(data)
    assert len(decoded) == len(shown) == 8
    for path, image in decoded:
        assert min(float(np.abs(image - expected).max()) for expected in shown) < 1e-6, path
    spec = ImageSpec(height=HEIGHT, width=WIDTH, channels=3)
    for path in data.glob("*/*.jpg"):  # and the device's reader, whatever picture it is
        on_device = read_image(str(path), spec, data)["image"][0]
        assert min(float(np.abs(on_device - image).max()) for _, image in decoded) < 1e-6, path


def test_a_greyscale_model_reads_a_colour_jpeg_as_training_does(tmp_path):
    """Luma decoded by libjpeg on both sides; converting the device's RGB afterwards rounds
    differently on sharp edges."""
    import tensorflow as tf

    from kerasuite.data import images
    from kerasuite.runtime.device_spec import ImageSpec
    from kerasuite.runtime.image import read_image

    rng = np.random.default_rng(3)
    path = tmp_path / "photo.jpg"
    Image.fromarray(np.clip(rng.normal(128, 70, (HEIGHT, WIDTH, 3)), 0, 255).astype(np.uint8)).save(path, quality=90)
    trained_on = images.decoder("file", HEIGHT, WIDTH, 1)(tf.constant(str(path)), 0)[0]["image"].numpy()
    on_device = read_image(str(path), ImageSpec(height=HEIGHT, width=WIDTH, channels=1), tmp_path)["image"][0]
    assert trained_on.shape == on_device.shape == (HEIGHT, WIDTH, 1)
    np.testing.assert_allclose(on_device, trained_on, rtol=0, atol=1e-6)  # x / 255 against x * (1 / 255)
