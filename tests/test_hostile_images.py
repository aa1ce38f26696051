"""Hostile image files (issue 18 item 4 and 6): files PIL opens but TensorFlow's decoder does not
(they used to crash mid-epoch inside IteratorGetNext) are converted up front, with or without
data.skip_bad_files, and train; a pixel bomb is refused up front naming the file. Every case
writes its own files."""

import json

import numpy as np
import pytest
from PIL import Image

from helpers import assert_one_line_error, run_main, write_digit_pngs
from test_hostile_input import assert_nothing_written

TINY_IMAGE = ["train.epochs=1", "train.steps_per_epoch=1", "train.verbose=0", "data.image.height=8",
              "data.image.width=8", "model.cnn.filters=4", "model.cnn.convs_per_block=1", "model.cnn.dense_units=8",
              "model.cnn.augment=false", "data.validation_fraction=0",
              "train.check_baseline=false"]  # these cases test decoding, not learning


def _pixels(seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random((10, 10, 3)) * 255).astype(np.uint8)


def _animated_gif(image: Image.Image, path) -> None:
    frames = [image.convert("P"), Image.fromarray(255 - np.asarray(image)).convert("P")]
    frames[0].save(path, "GIF", save_all=True, append_images=frames[1:])


# name -> (file name, writer(rgb PIL image, path)): each hostile kind, written by the test
ODD_IMAGES = {
    "grayscale_bmp": ("odd.bmp", lambda im, p: im.convert("L").save(p, "BMP")),
    "one_bit_bmp": ("odd.bmp", lambda im, p: im.convert("1").save(p, "BMP")),
    "palette_bmp": ("odd.bmp", lambda im, p: im.convert("P").save(p, "BMP")),
    "animated_gif": ("odd.gif", _animated_gif),
    "cmyk_jpeg": ("odd.jpg", lambda im, p: im.convert("CMYK").save(p, "JPEG")),
    "tiff_named_png": ("odd.png", lambda im, p: im.save(p, "TIFF")),
    "webp_named_png": ("odd.png", lambda im, p: im.save(p, "WEBP")),
}


@pytest.mark.parametrize("skip", ["false", "true"])
@pytest.mark.parametrize("kind", sorted(ODD_IMAGES))
def test_odd_image_files_train(tmp_path, capsys, kind, skip):
    data = tmp_path / "data"
    write_digit_pngs(data, per_class=6, classes=(0, 1))
    name, write = ODD_IMAGES[kind]
    for label in ("0", "1"):  # in both classes, so it lands in train and test splits alike
        for i in range(3):
            write(Image.fromarray(_pixels(i)), data / label / f"{i}-{name}")
    run_dir = tmp_path / "run"
    done = run_main(capsys, "--run-dir", str(run_dir), "--export", "none", "--data", f"folder:{data}",
                    "--set", f"data.skip_bad_files={skip}", *TINY_IMAGE)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert "skipped_files" not in json.loads((run_dir / "metrics.json").read_text())  # converted, not dropped


@pytest.mark.parametrize("channels", ["1", "3"])
def test_folder_of_grayscale_bmps_trains(tmp_path, capsys, channels):
    data = tmp_path / "data"
    for label in ("a", "b"):
        for i in range(8):
            Image.fromarray(_pixels(i + (10 if label == "b" else 0))).convert("L").save(data_dir(data, label) / f"{i}.bmp")
    run_dir = tmp_path / "run"
    done = run_main(capsys, "--run-dir", str(run_dir), "--export", "none", "--data", f"folder:{data}",
                    "--set", f"data.image.channels={channels}", *TINY_IMAGE)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (run_dir / "metrics.json").is_file()


def data_dir(root, label):
    folder = root / label
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _bomb_png(width: int, height: int) -> bytes:
    """A valid PNG of width x height black pixels: tiny on disk, huge decoded."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    compressor = zlib.compressobj(9)
    row = b"\x00" * (width + 1)
    raw = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


@pytest.mark.parametrize("skip", ["false", "true"])
def test_decompression_bomb_is_refused_or_skipped(tmp_path, capsys, skip):
    data = tmp_path / "data"
    write_digit_pngs(data, per_class=6, classes=(0, 1))
    bomb = data / "1" / "bomb.png"
    bomb.write_bytes(_bomb_png(20000, 20000))
    assert bomb.stat().st_size < 1_000_000
    run_dir = tmp_path / "run"
    done = run_main(capsys, "--run-dir", str(run_dir), "--export", "none", "--data", f"folder:{data}",
                    "--set", f"data.skip_bad_files={skip}", *TINY_IMAGE)
    if skip == "false":
        assert_one_line_error(done, 2, str(bomb), "pixels")
        assert_nothing_written(run_dir)
    else:
        assert done.returncode == 0, done.stderr[-3000:]
        assert json.loads((run_dir / "metrics.json").read_text())["skipped_files"] == 1


@pytest.mark.parametrize("task,extension,write", [
    ("image_classification", ".png", lambda p: Image.fromarray(_pixels(0)).save(p)),
    ("keyword_spotting", ".wav", None),
    ("text_classification", ".txt", lambda p: p.write_text("some words here")),
])
def test_empty_class_folder_is_refused(tmp_path, capsys, task, extension, write):
    from test_hostile_input import write_wav

    data = tmp_path / "data"
    for label in ("a", "b"):
        for i in range(6):
            path = data_dir(data, label) / f"{i}{extension}"
            write(path) if write else write_wav(path, freq=300 + 40 * i)
    (data / "c-empty").mkdir()
    run_dir = tmp_path / "run"
    done = run_main(capsys, "--task", task, "--run-dir", str(run_dir), "--export", "none", "--data", f"folder:{data}")
    assert_one_line_error(done, 2, str(data / "c-empty"))
    assert_nothing_written(run_dir)


def test_one_grayscale_image_first_in_a_colour_folder_keeps_colour(tmp_path):
    from kerasuite import config as cfg
    from kerasuite.data import images

    data = tmp_path / "data"
    for label in ("a", "b"):
        (data / label).mkdir(parents=True)
        for i in range(10):
            Image.fromarray(_pixels(i)).save(data / label / f"{label}{i}.png")
    Image.fromarray(_pixels(0)).convert("L").save(data / "a" / "a0.png")  # sorts first
    config = cfg.defaults("image_classification")
    config.data.source = f"folder:{data}"
    assert images.load(config.data.source, config).channels == 3
    for label in ("a", "b"):
        for i in range(10):
            Image.fromarray(_pixels(i)).convert("L").save(data / label / f"{label}{i}.png")
    assert images.load(config.data.source, config).channels == 1
