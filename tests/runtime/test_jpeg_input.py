"""JPEG on a device (kerasuite/runtime/jpeg.py): read as Pillow shows it upright, told by its first
bytes, every kind Pillow decodes, and refused in one line naming the file when it is too big,
broken, or Pillow is missing."""

import sys
import warnings

import numpy as np
import pytest
from PIL import Image, ImageOps

from helpers import write_camera_image
from kerasuite.errors import UserError
from kerasuite.runtime.device_spec import ImageSpec
from kerasuite.runtime.image import decode_image, read_image


def _photo(height: int = 24, width: int = 40) -> np.ndarray:
    rows, columns = np.mgrid[0:height, 0:width]
    picture = np.stack([rows * 9, columns * 6, (rows + columns) * 4], axis=-1) % 256
    picture[:height // 2, :width // 3] = (240, 200, 30)  # a sharp-edged block
    return picture.astype(np.uint8)


def _shown_by_pillow(path, mode: str | None = None) -> np.ndarray:
    with Image.open(path) as image:
        upright = ImageOps.exif_transpose(image)
        return np.asarray(upright.convert(mode) if mode else upright)


@pytest.mark.parametrize("orientation", [None, 1, 2, 3, 4, 5, 6, 7, 8])
def test_a_camera_jpeg_is_read_upright_as_pillow_shows_it(tmp_path, orientation):
    path = write_camera_image(tmp_path / "photo.jpg", _photo(), orientation, quality=95)
    decoded = decode_image(path.read_bytes(), str(path))
    assert decoded.shape == (24, 40, 3)  # upright: the stored pixels of 5-8 are 40 high
    np.testing.assert_array_equal(decoded, _shown_by_pillow(path))


# name -> how the test saves the RGB photo, and the Pillow mode whose pixels the device must give
JPEG_KINDS = {
    "baseline_subsampled": (lambda image, path: image.save(path, "JPEG"), "RGB"),
    "progressive": (lambda image, path: image.save(path, "JPEG", progressive=True, quality=80), "RGB"),
    "greyscale": (lambda image, path: image.convert("L").save(path, "JPEG"), "L"),
    "cmyk": (lambda image, path: image.convert("CMYK").save(path, "JPEG"), "RGB"),  # as training converts it
    # a phone's JPEG holding more than one picture (depth, a second camera): the first is the photo
    "mpo": (lambda image, path: image.save(path, "MPO", save_all=True, append_images=[image.rotate(90)]), "RGB"),
}


@pytest.mark.parametrize("kind", sorted(JPEG_KINDS))
def test_every_kind_of_jpeg_pillow_reads_is_read(tmp_path, kind):
    save, mode = JPEG_KINDS[kind]
    path = tmp_path / "photo.jpg"
    save(Image.fromarray(_photo()), path)
    decoded = decode_image(path.read_bytes(), str(path))
    expected = _shown_by_pillow(path, mode)
    np.testing.assert_array_equal(decoded, expected if expected.ndim == 3 else expected[..., None])


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_a_jpeg_becomes_the_models_channels_as_the_same_png_does(tmp_path, mode, channels):
    picture = Image.fromarray(_photo()).convert(mode)
    picture.save(tmp_path / "photo.jpg", quality=90)
    Image.fromarray(_shown_by_pillow(tmp_path / "photo.jpg")).save(tmp_path / "same.png")
    spec = ImageSpec(height=12, width=20, channels=channels)
    from_jpeg = read_image(str(tmp_path / "photo.jpg"), spec, tmp_path)["image"]
    assert from_jpeg.shape == (1, 12, 20, channels)
    np.testing.assert_array_equal(from_jpeg, read_image(str(tmp_path / "same.png"), spec, tmp_path)["image"])


def test_a_file_is_told_by_its_first_bytes_not_its_name(tmp_path):
    Image.fromarray(_photo()).save(tmp_path / "really_a_jpeg.png", "JPEG")
    Image.fromarray(_photo()).save(tmp_path / "really_a_png.jpg", "PNG")
    as_jpeg = decode_image((tmp_path / "really_a_jpeg.png").read_bytes(), "really_a_jpeg.png")
    np.testing.assert_array_equal(as_jpeg, _shown_by_pillow(tmp_path / "really_a_jpeg.png"))
    np.testing.assert_array_equal(decode_image((tmp_path / "really_a_png.jpg").read_bytes()), _photo())


def _with_header_size(jpeg: bytes, width: int, height: int) -> bytes:
    """The same file with its frame header (SOF0) claiming another size: tiny, yet huge decoded."""
    frame = jpeg.index(b"\xff\xc0")
    size = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return jpeg[:frame + 5] + size + jpeg[frame + 9:]


@pytest.mark.parametrize("width,height", [(8000, 7000), (10000, 10000), (20000, 20000)])
def test_a_jpeg_over_the_pixel_limit_is_refused_before_it_is_decoded(tmp_path, width, height):
    # 56 MP is over this limit only; 100 MP Pillow warns about; 400 MP Pillow refuses itself
    Image.fromarray(_photo()).save(tmp_path / "small.jpg")
    bomb = _with_header_size((tmp_path / "small.jpg").read_bytes(), width, height)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(UserError, match=r"^bomb\.jpg: .*over the limit of 50,000,000"):
            decode_image(bomb, "bomb.jpg")
    assert not caught, [str(w.message) for w in caught]  # nothing printed beside the one line


# name -> the damage done to a JPEG's bytes, and what the refusal says
BROKEN_JPEGS = {
    "truncated": (lambda data: data[:len(data) // 2], ".+"),  # Pillow's words, which vary by version
    "junk_after_its_first_bytes": (lambda data: data[:20] + bytes(range(256)) * 4, "Pillow cannot read its header"),
    "zero_pixels": (lambda data: _with_header_size(data, 0, 0), "Pillow cannot read its header"),
}


@pytest.mark.parametrize("damage", sorted(BROKEN_JPEGS))
def test_a_broken_jpeg_is_refused_by_name(tmp_path, damage):
    Image.fromarray(_photo()).save(tmp_path / "photo.jpg", quality=90)
    spoil, reason = BROKEN_JPEGS[damage]
    with pytest.raises(UserError, match=rf"^broken\.jpg: unreadable JPEG \({reason}\)$"):
        decode_image(spoil((tmp_path / "photo.jpg").read_bytes()), "broken.jpg")


def test_without_pillow_a_jpeg_is_refused_saying_how_to_fix_it(tmp_path, monkeypatch):
    Image.fromarray(_photo()).save(tmp_path / "photo.jpg")
    monkeypatch.setitem(sys.modules, "PIL", None)  # import PIL now raises ImportError
    with pytest.raises(UserError, match=r"^photo\.jpg: .*needs Pillow.*pip install Pillow.*convert .*PNG") as refused:
        decode_image((tmp_path / "photo.jpg").read_bytes(), "photo.jpg")
    assert "\n" not in str(refused.value)


def test_a_file_neither_png_nor_jpeg_is_refused_by_name(tmp_path):
    Image.fromarray(_photo()).save(tmp_path / "photo.bmp")
    with pytest.raises(UserError, match=r"^photo\.bmp: not a PNG or JPEG file"):
        decode_image((tmp_path / "photo.bmp").read_bytes(), "photo.bmp")
