"""The device's PNG decoder undoes every row filter byte for byte as Pillow does: each filter type
alone and mixed row by row, for every channel count, on pictures with noise (sums that wrap past
255), a flat area (Paeth's ties) and a gradient."""

import io

import numpy as np
import pytest
from PIL import Image

from helpers import png_of_rows, png_with_filters
from kerasuite.errors import UserError
from kerasuite.runtime.image import decode_png

# name -> the filter types its rows cycle through
ROW_FILTERS = {"none": (0,), "sub": (1,), "up": (2,), "average": (3,), "paeth": (4,),
               "mixed": (3, 1, 4, 0, 2, 4, 4, 3, 1, 2), "mixed_without_average_or_paeth": (1, 0, 2, 2, 1)}
PILLOW_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def _picture(height: int, width: int, channels: int) -> np.ndarray:
    picture = np.random.default_rng(height * width + channels).integers(0, 256, (height, width, channels), np.uint8)
    picture[:height // 2, :width // 2] = 200
    picture[height // 2:, width // 2:] = (37 * np.arange(width - width // 2) % 256)[None, :, None]
    return picture


@pytest.mark.parametrize("shape", [(17, 23), (40, 7), (1, 9), (9, 1), (1, 1)])
@pytest.mark.parametrize("filters", sorted(ROW_FILTERS))
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_every_row_filter_decodes_as_pillow_decodes_it(channels, filters, shape):
    picture = _picture(*shape, channels)
    data = png_with_filters(picture, np.resize(ROW_FILTERS[filters], shape[0]))
    with Image.open(io.BytesIO(data)) as image:
        assert image.mode == PILLOW_MODES[channels]
        by_pillow = np.asarray(image).reshape(picture.shape)
    np.testing.assert_array_equal(by_pillow, picture)  # the file holds what the test meant to write
    np.testing.assert_array_equal(decode_png(data), by_pillow)


def test_a_row_filter_png_does_not_have_is_refused_by_name():
    picture = _picture(4, 5, 3)
    rows = [bytes([kind]) + picture[y].tobytes() for y, kind in enumerate([0, 1, 5, 2])]
    with pytest.raises(UserError, match=r"odd\.png: corrupt PNG data \(row filter type 5"):
        decode_png(png_of_rows(picture.shape, rows), "odd.png")
