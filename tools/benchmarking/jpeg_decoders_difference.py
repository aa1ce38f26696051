"""How far the device's JPEG pixels (Pillow) are from training's (``kerasuite.data.images``).

    PYTHONPATH=. python tools/benchmarking/jpeg_decoders_difference.py [FILE.jpg ...]

Files: scikit-learn's two sample photos (china.jpg, flower.jpg, as they ship), a picture of sharp
black-and-white and coloured edges saved by Pillow at quality 95 and 75, and any FILE given. Each
is read for 3 and 1 channels both ways: training's decoder (``kerasuite.data.images.decoder``,
TensorFlow, at the picture's own size and at the model's) and the edge runner's
(``kerasuite.runtime.image``). The report gives, in levels of 0-255, the largest difference of the
decoded pixels, the share of samples that differ at all and by more than 2, the largest
difference in the model's input at 16x16 (the image task's default), 96x96 and 224x224, and, for
reference, the largest difference from TensorFlow's default JPEG decoding (``decode_image``:
libjpeg's fast DCT), which training used until 2026-12-07.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402

MODEL_SIZES = (16, 96, 224)


def sharp_edges_picture() -> np.ndarray:
    """480x640: black-and-white bars 1-8 pixels wide, a 3-pixel checkerboard, coloured blocks."""
    picture = np.zeros((480, 640, 3), np.uint8)
    x = 0
    for width in (1, 2, 3, 4, 6, 8) * 6:
        picture[:160, x:x + width] = 255
        x += 2 * width
    rows, columns = np.mgrid[0:160, 0:640]
    picture[160:320] = np.where(((rows // 3 + columns // 3) % 2)[..., None] == 1, 255, 0)
    colours = np.array([(230, 20, 30), (20, 200, 40), (30, 40, 220), (250, 240, 20), (240, 240, 240), (10, 10, 10)])
    blocks = colours[(np.arange(640) // 40 + np.arange(160)[:, None] // 40) % len(colours)]
    picture[320:] = blocks.astype(np.uint8)
    return picture


def main() -> None:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, metavar="FILE.jpg")
    args = parser.parse_args()
    for path in args.files:
        if not path.is_file():
            parser.error(f"{path}: no such file")

    import sklearn.datasets
    from PIL import Image

    from kerasuite.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    import tensorflow as tf

    from kerasuite.data import images
    from kerasuite.runtime.device_spec import ImageSpec
    from kerasuite.runtime.image import decode_image, read_image, to_channels

    samples = Path(sklearn.datasets.__file__).parent / "images"
    scratch = Path(tempfile.mkdtemp(prefix="jpeg-decoders-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)  # the synthetic pictures are scratch
    files = [samples / "china.jpg", samples / "flower.jpg"]
    for quality in (95, 75):
        files.append(scratch / f"sharp_edges_q{quality}.jpg")
        Image.fromarray(sharp_edges_picture()).save(files[-1], quality=quality)
    files += args.files

    sizes = " ".join(f"{f'at {s}x{s}':>10}" for s in MODEL_SIZES)
    print(f"{'file':22} {'ch':>2} {'max':>4} {'differ':>7} {'>2 lv':>6} {sizes} {'vs TF fast':>10}")
    for path in files:
        data = path.read_bytes()
        for channels in (3, 1):
            fast = tf.io.decode_image(data, channels=channels, expand_animations=False).numpy().astype(int)
            device = to_channels(decode_image(data, str(path), channels), channels).astype(int)
            own_size = images.decoder("file", device.shape[0], device.shape[1], channels)
            training = np.rint(own_size(tf.constant(str(path)), 0)[0]["image"].numpy() * 255).astype(int)
            difference = np.abs(training - device)
            at_size = []
            for size in MODEL_SIZES:
                decode = images.decoder("file", size, size, channels)
                trained_on = decode(tf.constant(str(path)), 0)[0]["image"].numpy()
                on_device = read_image(str(path), ImageSpec(height=size, width=size, channels=channels), path.parent)
                at_size.append(float(np.abs(trained_on - on_device["image"][0]).max()) * 255)
            print(f"{path.name:22} {channels:2d} {difference.max():4d} {(difference > 0).mean():7.1%} "
                  f"{(difference > 2).mean():6.1%} " + " ".join(f"{value:10.1f}" for value in at_size)
                  + f" {np.abs(fast - device).max():10d}")


if __name__ == "__main__":
    main()
