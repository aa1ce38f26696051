"""Image input on a device: PNG decoded with the standard library's zlib, JPEG with Pillow when it
is installed (kerasuite/runtime/jpeg.py), either shown upright by its EXIF orientation; bilinear
resize and scaling in numpy, matching the training decoder and MediaPipe Tasks (source = target *
scale, whole pixels). PNG and JPEG decode to exactly training's pixels (both sides use libjpeg's
accurate DCT; README.md, "The device side is a separate package")."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from kerasuite.errors import UserError
from kerasuite.runtime import jpeg
from kerasuite.runtime.device_spec import ImageSpec
from kerasuite.runtime.png_filters import unfilter

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # PNG colour type -> samples per pixel
MAX_PIXELS = 50_000_000  # the training side's limit too (kerasuite.data.images.MAX_IMAGE_PIXELS)


# EXIF orientation -> what shows the stored pixels upright, as PIL's ImageOps.exif_transpose does
# (training converts such files with it): [H, W, C] arrays.
_UPRIGHT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
    8: lambda a: np.rot90(a, 1),
}
_ORIENTATION_TAG = 0x0112
_EXIF_INTEGERS = {3: "H", 4: "I"}  # TIFF field types SHORT and LONG


def exif_orientation(exif: bytes) -> int:
    """The Orientation tag of a TIFF-structured EXIF block (a PNG eXIf chunk); 1 when absent or
    unreadable, as PIL reads it."""
    if exif.startswith(b"Exif\x00\x00"):  # some writers keep JPEG's APP1 prefix
        exif = exif[6:]
    order = {b"II": "<", b"MM": ">"}.get(exif[:2])
    if order is None or len(exif) < 8:
        return 1
    (directory,) = struct.unpack(order + "I", exif[4:8])
    if directory + 2 > len(exif):
        return 1
    (entries,) = struct.unpack(order + "H", exif[directory:directory + 2])
    for n in range(entries):
        entry = exif[directory + 2 + 12 * n:directory + 14 + 12 * n]
        if len(entry) < 12:
            break
        tag, kind, count = struct.unpack(order + "HHI", entry[:8])
        if tag == _ORIENTATION_TAG and count == 1 and kind in _EXIF_INTEGERS:
            return struct.unpack_from(order + _EXIF_INTEGERS[kind], entry, 8)[0]
    return 1


def decode_image(data: bytes, source: str = "image", channels: int | None = None) -> np.ndarray:
    """A PNG or JPEG file's bytes, told apart by their first bytes whatever the file is named ->
    uint8 [H, W, C], upright; anything else is refused by name. ``channels=1``: a colour JPEG is
    decoded to its luma directly, as training's decoder does."""
    if jpeg.is_jpeg(data):
        return jpeg.decode_jpeg(data, source, MAX_PIXELS, grey=channels == 1)
    if not data.startswith(PNG_SIGNATURE):
        raise UserError(f"{source}: not a PNG or JPEG file (devices read PNG, JPEG or .npy; convert other "
                        "images to PNG, upright: PIL's ImageOps.exif_transpose)")
    return decode_png(data, source)


def decode_png(data: bytes, source: str = "image") -> np.ndarray:
    """8-bit, non-interlaced PNG -> uint8 [H, W, C], upright by its eXIf orientation; anything
    else is refused by name."""
    if not data.startswith(PNG_SIGNATURE):
        raise UserError(f"{source}: not a PNG file")
    position, chunks, header, exif = 8, [], None, b""
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        if kind == b"IHDR":
            if len(body) != 13:
                raise UserError(f"{source}: broken PNG header (IHDR is {len(body)} bytes, not 13)")
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        elif kind == b"eXIf":
            exif = body
        elif kind == b"IEND":
            break
        position += 12 + length
    if header is None or not chunks:
        raise UserError(f"{source}: truncated PNG")
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or colour not in _CHANNELS or interlace:
        raise UserError(f"{source}: unsupported PNG (needs 8-bit, non-interlaced, no palette)")
    channels = _CHANNELS[colour]
    if width == 0 or height == 0:
        raise UserError(f"{source}: PNG header says {width}x{height} pixels")
    if width * height > MAX_PIXELS:
        raise UserError(f"{source}: {width}x{height} pixels, over the limit of {MAX_PIXELS:,}")
    stride = width * channels
    expected = height * (stride + 1)
    try:
        # never inflate past what the header promises: a lying header cannot make this a bomb
        inflater = zlib.decompressobj()
        raw = np.frombuffer(inflater.decompress(b"".join(chunks), expected), dtype=np.uint8)
    except zlib.error:
        raise UserError(f"{source}: corrupt PNG data") from None
    if raw.size != expected:
        raise UserError(f"{source}: PNG data holds {raw.size} bytes but its header ({width}x{height}) needs {expected}")
    rows = raw.reshape(height, stride + 1)
    kinds = rows[:, 0]
    if kinds.max() > 4:
        raise UserError(f"{source}: corrupt PNG data (row filter type {kinds.max()}; PNG has 0-4)")
    pixels = unfilter(kinds, rows[:, 1:].reshape(height, width, channels))
    upright = _UPRIGHT.get(exif_orientation(exif))
    return np.ascontiguousarray(upright(pixels)) if upright else pixels


def resize_bilinear(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """float32 bilinear resize with source = target * scale: MediaPipe Tasks' resize and
    TensorFlow's legacy ResizeBilinear (half_pixel_centers=False), which training uses."""
    in_h, in_w = image.shape[:2]

    def axis(out_size: int, in_size: int):
        source = np.arange(out_size) * (in_size / out_size)
        low = np.minimum(np.floor(source).astype(int), in_size - 1)
        high = np.minimum(low + 1, in_size - 1)
        return low, high, (source - np.floor(source)).astype(np.float32)

    y0, y1, fy = axis(height, in_h)
    x0, x1, fx = axis(width, in_w)
    image = image.astype(np.float32)
    top = image[y0][:, x0] * (1 - fx)[None, :, None] + image[y0][:, x1] * fx[None, :, None]
    bottom = image[y1][:, x0] * (1 - fx)[None, :, None] + image[y1][:, x1] * fx[None, :, None]
    return top * (1 - fy)[:, None, None] + bottom * fy[:, None, None]


def to_channels(image: np.ndarray, channels: int) -> np.ndarray:
    if image.shape[-1] in (2, 4):  # drop alpha
        image = image[..., :-1]
    if channels == 1 and image.shape[-1] == 3:
        # ITU-R 601 luma, as tf.image.rgb_to_grayscale / decode_image(channels=1)
        return np.round(image @ np.array([0.2989, 0.587, 0.114], np.float32))[..., None].astype(np.uint8)
    if channels == 3 and image.shape[-1] == 1:
        return np.repeat(image, 3, axis=-1)
    return image


def read_image(path: str, spec: ImageSpec | dict, bundle_dir: Path) -> dict[str, np.ndarray]:
    """``ImageSpec.reader``: a PNG or JPEG file -> ``{input: float32 [1, height, width, channels]}``."""
    spec = ImageSpec.coerce(spec)
    image = decode_image(Path(path).read_bytes(), path, spec.channels)
    image = to_channels(image, spec.channels)
    resized = resize_bilinear(image, spec.height, spec.width)
    # whole pixels after the resize, rounded half up, as training's decoder and MediaPipe do
    scaled = np.clip(np.floor(resized + 0.5) * spec.scale, 0.0, 1.0).astype(np.float32)
    return {spec.input: scaled[None]}
