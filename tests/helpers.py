"""Shared test helpers: tiny per-task settings and one export+parity runner every task reuses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:  # for annotations only: each helper imports numpy itself, so importing this module stays cheap
    import numpy as np

REPO = Path(__file__).resolve().parents[1]


def load_tool(name: str):
    """``tools/<name>.py`` as a module (tools are scripts, not a package), for its functions."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"kerasuite_tool_{name}", REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

# Deterministic image training: no shuffle, dropout, augmentation or batch norm (per-replica
# randomness and statistics), so one device, several replicas, several workers, and an
# interrupted-then-resumed run all repeat the same computation and can be compared tightly.
DETERMINISTIC_IMAGE = {
    "data.source": "builtin:digits",
    "data.image.height": "8",
    "data.image.width": "8",
    "data.shuffle_buffer": "1",
    "model.cnn.filters": "16,32",
    "model.cnn.convs_per_block": "1",
    "model.cnn.dense_units": "32",
    "model.cnn.augment": "false",
    "model.cnn.batch_norm": "false",
    "model.cnn.dropout": "0",
    "train.learning_rate": "0.01",
    "train.batch_size": "32",
    "train.verbose": "0",
}
def tiny_sets(task: str, tmp_path: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """``--set`` values for a tiny run of ``task``: the task's ``tiny`` preset (its config module
    holds it), a bundle folder under ``tmp_path``, and ``extra``."""
    return {"preset": "tiny", "export.dir": str(tmp_path / "bundle"), **(extra or {})}


def run_tiny(task: str, tmp_path: Path, extra: dict[str, str] | None = None, modes: str = "float32,int8",
             family: str | None = None) -> dict[str, Any]:
    """Train, export and parity-check ``task`` in-process through the real CLI entry point."""
    import json

    from kerasuite.train import main

    sets = tiny_sets(task, tmp_path, extra)
    argv = ["--task", task, "--run-dir", str(tmp_path / "run"), "--export", modes]
    if family:
        argv += ["--model", family]
    argv += ["--set", *[f"{k}={v}" for k, v in sets.items()]]
    code = main(argv)
    assert code == 0, f"kerasuite.train exited {code} for {task}"
    return json.loads((tmp_path / "run" / "metrics.json").read_text())


def run_cli(module: str, *args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO))
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          env=environment, timeout=timeout, cwd=str(REPO))


def assert_one_line_error(done: subprocess.CompletedProcess, code: int, *culprits: str) -> None:
    stderr = done.stderr.strip()
    assert done.returncode == code, f"exit {done.returncode}, stderr: {stderr[-2000:]}"
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got: {stderr}"
    for culprit in culprits:
        assert culprit in lines[0], f"{culprit!r} not named in: {lines[0]}"


def run_main(capsys, *argv: str) -> subprocess.CompletedProcess:
    """Run ``kerasuite.train.main`` in-process (no TensorFlow start-up per case) and capture it
    like a subprocess, so the same one-line-error assertions apply."""
    from kerasuite.train import main

    capsys.readouterr()
    code = main(list(argv))
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(list(argv), code, captured.out, captured.err)


def write_digit_pngs(root, per_class=12, classes=(0, 1, 2), split=None):
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for label in classes:
        folder = root / (split or "") / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        images = digits.images[digits.target == label][:per_class]
        for i, image in enumerate(images):
            Image.fromarray(np.uint8(image * 255 / 16)).save(folder / f"{label}_{i}.png")


def write_camera_image(path: Path, upright: np.ndarray, orientation: int | None, byte_order: str = ">", **save) -> Path:
    """Write ``upright`` (uint8 [H, W] or [H, W, 3]) the way a camera does: pixels stored turned or
    mirrored and an EXIF Orientation tag saying how to show them (None: no EXIF at all), so
    ``ImageOps.exif_transpose`` of the file is ``upright`` again. The format follows the suffix;
    ``save`` goes to PIL (quality=100, ...)."""
    import struct

    from PIL import Image

    image = Image.fromarray(upright)
    if orientation is None:
        image.save(path, **save)
        return path
    # the inverse of what exif_transpose applies for each orientation
    stored = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
              5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_270}.get(orientation)
    if stored is not None:
        image = image.transpose(stored)
    # "Exif\0\0", a TIFF header in either byte order, one directory holding only Orientation (SHORT)
    mark = b"MM" if byte_order == ">" else b"II"
    tiff = (mark + struct.pack(byte_order + "HIH", 42, 8, 1)
            + struct.pack(byte_order + "HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(byte_order + "I", 0))
    image.save(path, exif=b"Exif\x00\x00" + tiff, **save)
    return path


def write_pcm(path: Path, channels_by_samples: np.ndarray, rate: int, width: int = 2) -> Path:
    """``[channels, samples]`` floats in [-1, 1] -> a PCM WAV written with the ``wave`` module."""
    import wave

    import numpy as np

    data = np.asarray(channels_by_samples, np.float64).T  # interleave
    if width == 1:
        raw = np.round(data * 127 + 128).astype(np.uint8).tobytes()
    elif width == 2:
        raw = np.round(data * 32767).astype("<i2").tobytes()
    elif width == 3:
        ints = np.round(data * (2**23 - 1)).astype(np.int32).ravel()
        raw = b"".join(int(v & 0xFFFFFF).to_bytes(3, "little") for v in ints)
    else:  # 32-bit
        raw = np.round(data * (2**31 - 1)).astype("<i4").tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(data.shape[1])
        handle.setsampwidth(width)
        handle.setframerate(rate)
        handle.writeframes(raw)
    return path


def tone(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    import numpy as np

    return amplitude * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)


def png_with_filters(image: np.ndarray, filter_types: Sequence[int]) -> bytes:
    """An 8-bit PNG of ``image`` (uint8 [H, W, C], C = 1-4) whose row y is stored with PNG filter
    ``filter_types[y]`` (0 None, 1 Sub, 2 Up, 3 Average, 4 Paeth): encoders pick filters by their
    own rules, so this is how a test makes sure every one is read."""
    import numpy as np

    pixels = image.astype(np.int16)
    # each byte's neighbours in the image (0 outside it), from which the filters predict it
    left, up, upper_left = np.zeros_like(pixels), np.zeros_like(pixels), np.zeros_like(pixels)
    left[:, 1:], up[1:], upper_left[1:, 1:] = pixels[:, :-1], pixels[:-1], pixels[:-1, :-1]
    estimate = left + up - upper_left
    from_left, from_up, from_upper_left = (np.abs(estimate - near) for near in (left, up, upper_left))
    paeth = np.where((from_left <= from_up) & (from_left <= from_upper_left), left,
                     np.where(from_up <= from_upper_left, up, upper_left))
    predictions = (np.zeros_like(pixels), left, up, (left + up) // 2, paeth)
    rows = [bytes([kind]) + ((pixels[y] - predictions[kind][y]) % 256).astype(np.uint8).tobytes()
            for y, kind in enumerate(filter_types)]
    return png_of_rows(image.shape, rows)


def png_of_rows(shape: tuple[int, int, int], rows: Sequence[bytes]) -> bytes:
    """An 8-bit PNG of ``shape`` ([H, W, C], C = 1-4) from its stored rows, each its filter type
    byte and then its filtered samples."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    height, width, channels = shape
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]  # grey, grey + alpha, RGB, RGBA
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows)))
            + chunk(b"IEND", b""))


# MovieLens downloads in GroupLens' own layouts, written here independently of the reader: no
# header rows; ml-100k tab- and pipe-separated in ISO-8859-1, ml-1m "::"-separated in ISO-8859-1,
# ml-10m "::"-separated in UTF-8. ``ratings`` are (user, item, rating, timestamp) rows and
# ``movies`` (movie id, title, genre names).
ML_100K_U_GENRE = ("unknown|0\nAction|1\nAdventure|2\nAnimation|3\nChildren's|4\nComedy|5\nCrime|6\nDocumentary|7\n"
                   "Drama|8\nFantasy|9\nFilm-Noir|10\nHorror|11\nMusical|12\nMystery|13\nRomance|14\nSci-Fi|15\n"
                   "Thriller|16\nWar|17\nWestern|18\n\n")  # the download's file ends in a blank line


def ml_100k_ratings(rows) -> str:
    return "".join(f"{user}\t{item}\t{rating}\t{stamp}\n" for user, item, rating, stamp in rows)


def write_ml_100k(folder: Path, ratings, movies, splits: dict | None = None) -> Path:
    """``folder`` as the extracted ml-100k.zip: u.data, u.item, u.genre, u.user, and each of
    ``splits`` ({"u1": (base rows, test rows)}) as u1.base and u1.test."""
    from urllib.parse import quote

    genre_names = [line.split("|")[0] for line in ML_100K_U_GENRE.split()]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "u.data").write_text(ml_100k_ratings(ratings), encoding="latin-1")
    (folder / "u.genre").write_text(ML_100K_U_GENRE, encoding="latin-1")
    (folder / "u.item").write_text("".join(
        f"{movie}|{title}|01-Jan-1995||http://us.imdb.com/M/title-exact?{quote(title.encode('latin-1'))}|"
        + "|".join("1" if name in genres else "0" for name in genre_names) + "\n"
        for movie, title, genres in movies), encoding="latin-1")
    (folder / "u.user").write_text("1|24|M|technician|85711\n2|53|F|other|94043\n", encoding="latin-1")
    for stem, (base, test) in (splits or {}).items():
        (folder / f"{stem}.base").write_text(ml_100k_ratings(base), encoding="latin-1")
        (folder / f"{stem}.test").write_text(ml_100k_ratings(test), encoding="latin-1")
    return folder


def dat_ratings(rows) -> str:
    return "".join(f"{user}::{item}::{rating}::{stamp}\n" for user, item, rating, stamp in rows)


def write_ml_1m(folder: Path, ratings, movies, encoding: str = "latin-1") -> Path:
    """``folder`` as the extracted ml-1m.zip (ratings.dat, movies.dat, users.dat); with UTF-8,
    as ml-10m's ml-10M100K (which has tags.dat instead of users.dat)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ratings.dat").write_text(dat_ratings(ratings), encoding=encoding)
    (folder / "movies.dat").write_text("".join(f"{movie}::{title}::{'|'.join(genres)}\n"
                                               for movie, title, genres in movies), encoding=encoding)
    if encoding == "latin-1":
        (folder / "users.dat").write_text("1::F::1::10::48067\n2::M::56::16::70072\n", encoding=encoding)
    else:
        (folder / "tags.dat").write_text("15::4973::excellent!::1215184630\n", encoding=encoding)
    return folder


def split_arrays(split) -> tuple[np.ndarray, np.ndarray] | None:
    """A tf.data split of (image, label) pairs as (stacked images, labels); None for no split."""
    import numpy as np

    if split is None:
        return None
    pairs = [(image.numpy(), int(label)) for image, label in split]
    return np.stack([image for image, _ in pairs]), np.array([label for _, label in pairs])
