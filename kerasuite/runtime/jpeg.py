"""JPEG input on a device, decoded by Pillow when it is installed.

Pillow is imported only when a JPEG is read, so the runtime itself still needs only numpy and the
standard library; without Pillow a JPEG is refused in one line saying how to fix it. The picture
is shown upright by its EXIF orientation (PIL's ``ImageOps.exif_transpose``, as training turns
such files) and refused, unread, above the pixel limit PNG has.

Pillow decodes with libjpeg's accurate integer DCT, as training does (``tf.io.decode_jpeg`` with
``dct_method="INTEGER_ACCURATE"``), so the same file gives training's pixels; for a greyscale
model a colour JPEG is decoded to its luma (libjpeg's own conversion, as TensorFlow's
``channels=1``), not converted from RGB afterwards. ``tools/benchmarking/jpeg_decoders_difference.py``
measures both.
"""

from __future__ import annotations

import io

import numpy as np

from kerasuite.errors import UserError

JPEG_SIGNATURE = b"\xff\xd8\xff"  # start of image, then the first marker


def is_jpeg(data: bytes) -> bool:
    return data.startswith(JPEG_SIGNATURE)


def decode_jpeg(data: bytes, source: str, max_pixels: int, grey: bool = False) -> np.ndarray:
    """A JPEG file's bytes -> uint8 [H, W, 1] (greyscale, or ``grey``) or [H, W, 3], upright by its
    EXIF orientation; refused by name when Pillow is missing, above ``max_pixels`` or undecodable."""
    try:
        from PIL import Image, ImageOps
    except ImportError:
        raise UserError(f"{source}: a JPEG file, and reading JPEG needs Pillow, which is not installed here: "
                        "pip install Pillow, or convert the file to PNG (upright: PIL's ImageOps.exif_transpose)") from None
    import warnings

    try:
        with warnings.catch_warnings():
            # Pillow warns from 89 megapixels; the limit below refuses such files in one line
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=["JPEG"]) as image:
                width, height = image.size  # from the header: nothing is decoded yet
                if width * height > max_pixels:
                    raise UserError(f"{source}: {width}x{height} pixels, over the limit of {max_pixels:,}")
                if grey and image.mode == "RGB":
                    # libjpeg's luma straight from YCbCr, as TensorFlow's channels=1 decodes; RGB
                    # converted afterwards rounds differently (up to 11 levels on sharp edges)
                    image.draft("L", image.size)
                return _upright_pixels(image, ImageOps)
    except UserError:
        raise
    except Image.DecompressionBombError:  # over twice Pillow's own limit: Pillow refuses it inside open
        raise UserError(f"{source}: over the limit of {max_pixels:,} pixels (and Pillow's)") from None
    except Image.UnidentifiedImageError:  # its message names an in-memory file object, not the file
        raise UserError(f"{source}: unreadable JPEG (Pillow cannot read its header)") from None
    except Exception as error:  # truncated, corrupt, or a kind libjpeg here cannot decode (12-bit, ...)
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UserError(f"{source}: unreadable JPEG ({reason})") from None


def _upright_pixels(image, image_ops) -> np.ndarray:
    upright = image_ops.exif_transpose(image)
    if upright.mode not in ("L", "RGB"):  # CMYK (Adobe files): converted as training converts it
        upright = upright.convert("RGB")
    pixels = np.asarray(upright)
    return pixels[..., None] if pixels.ndim == 2 else pixels
