"""Device runners on tampered bundles and odd input files (issue 18 items 6-8): every case is one
line naming the file or flag, exit 2, no traceback. Cases are grouped per runner; each copies a
real tiny bundle (trained once per session by the ``tiny_run`` fixture) and damages one thing."""

import json
import os
import shutil
import struct
import subprocess
import wave
import zlib
from pathlib import Path

import numpy as np
import pytest

from helpers import assert_one_line_error


def _call(capsys, main, argv) -> subprocess.CompletedProcess:
    capsys.readouterr()
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(argv, code, captured.out, captured.err)


def _bundle_copy(tiny_run, task: str, tmp_path: Path) -> Path:
    folder, _ = tiny_run(task)
    copy = tmp_path / "bundle"
    shutil.copytree(folder / "bundle", copy)
    return copy


def _png(width: int, height: int, pixels: bytes | None = None, ihdr: bytes | None = None) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = ihdr if ihdr is not None else struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    if pixels is None:
        pixels = b"".join(b"\x00" + bytes(range(width)) for _ in range(height))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(pixels)) + chunk(b"IEND", b"")


def _write_wav(path: Path) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\x01\x00" * 800)


# ------------------------------------------------------------------- kerasuite.edge --input (image)

def _npy_object(path):
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)


IMAGE_INPUTS = {  # name -> (file name, writer, what the message must name)
    "png_ihdr_lies": ("lie.png", lambda p: p.write_bytes(_png(8, 8, ihdr=struct.pack(">IIBBBBB", 300, 300, 8, 0, 0, 0, 0))), "header"),
    "png_short_ihdr": ("short.png", lambda p: p.write_bytes(_png(8, 8, ihdr=b"\x00\x00\x00\x08")), "IHDR"),
    "png_zero_width": ("zero.png", lambda p: p.write_bytes(_png(0, 8, pixels=b"\x00" * 8)), "0x8"),
    "png_pixel_bomb": ("bomb.png", lambda p: p.write_bytes(_png(8, 8, ihdr=struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0))), "limit"),
    "npy_wrong_shape": ("wrong.npy", lambda p: np.save(p, np.zeros((5, 5), np.float32)), "shape"),
    "npy_object_dtype": ("object.npy", _npy_object, "numeric"),
    "npy_random_bytes": ("random.npy", lambda p: p.write_bytes(os.urandom(200)), "numeric"),
    "npy_strings": ("strings.npy", lambda p: np.save(p, np.array(["a", "b"])), "numeric"),
}


@pytest.mark.parametrize("case", sorted(IMAGE_INPUTS))
def test_edge_image_input_refused(tiny_run, tmp_path, capsys, case):
    from kerasuite.edge import main

    bundle = _bundle_copy(tiny_run, "image_classification", tmp_path)
    name, write, culprit = IMAGE_INPUTS[case]
    path = tmp_path / name
    write(path)
    done = _call(capsys, main, [bundle / "model_float32.tflite", "--input", path, "--runs", "1"])
    assert_one_line_error(done, 2, str(path), culprit)


FLAGS = {"threads_zero": ["--threads", "0"], "top_negative": ["--top", "-1"], "runs_zero": ["--runs", "0"]}


@pytest.mark.parametrize("case", sorted(FLAGS))
def test_edge_bad_flag_blames_the_flag(tiny_run, tmp_path, capsys, case):
    from kerasuite.edge import main

    bundle = _bundle_copy(tiny_run, "image_classification", tmp_path)
    done = _call(capsys, main, [bundle / "model_float32.tflite", "--check", bundle / "golden.npz", *FLAGS[case]])
    assert_one_line_error(done, 2, FLAGS[case][0])


def _golden(bundle: Path, change) -> None:
    with np.load(bundle / "golden.npz") as golden:
        arrays = {k: golden[k] for k in golden.files}
    change(arrays)
    np.savez(bundle / "golden.npz", **arrays)


GOLDEN = {
    "wrong_rank": (lambda a: a.update({k: v[0] for k, v in a.items() if k.startswith("input__")}), "shape"),
    "wrong_output_shape": (lambda a: a.update(keras_output=a["keras_output"][:, :3]), "keras_output"),
    "zero_examples": (lambda a: a.update({k: v[:0] for k, v in a.items()}), "zero examples"),
    "no_inputs": (lambda a: [a.pop(k) for k in list(a) if k.startswith("input__")], "no input"),
}


@pytest.mark.parametrize("case", sorted(GOLDEN))
def test_edge_check_with_a_bad_golden_file(tiny_run, tmp_path, capsys, case):
    from kerasuite.edge import main

    bundle = _bundle_copy(tiny_run, "image_classification", tmp_path)
    change, culprit = GOLDEN[case]
    _golden(bundle, change)
    done = _call(capsys, main, [bundle / "model_float32.tflite", "--check", bundle / "golden.npz", "--runs", "1"])
    assert_one_line_error(done, 2, str(bundle / "golden.npz"), culprit)


@pytest.mark.parametrize("wrong_file", ["golden_as.npy", "parity.json"])
def test_edge_check_given_another_file_than_a_golden_npz(tiny_run, tmp_path, capsys, wrong_file):
    """A bare .npy was a traceback; other files were blamed on pickled data, which they do not hold."""
    from kerasuite.edge import main

    bundle = _bundle_copy(tiny_run, "image_classification", tmp_path)
    np.save(bundle / "golden_as.npy", np.zeros((2, 10), np.float32))
    done = _call(capsys, main, [bundle / "model_float32.tflite", "--check", bundle / wrong_file, "--runs", "1"])
    assert_one_line_error(done, 2, str(bundle / wrong_file), "not an .npz archive")
    assert "pickle" not in done.stderr


def test_edge_npy_input_for_a_model_of_several_inputs(tiny_run, tmp_path, capsys):
    """The array went to the first input and the refusal blamed that input's shape."""
    from kerasuite.edge import main

    bundle = _bundle_copy(tiny_run, "ranking", tmp_path)
    np.save(tmp_path / "user.npy", np.array([3], np.int32))
    done = _call(capsys, main, [bundle / "model_float32.tflite", "--input", tmp_path / "user.npy", "--runs", "1"])
    assert_one_line_error(done, 2, str(tmp_path / "user.npy"), "takes 4 inputs", "user_index", "--check")


def test_edge_given_the_bundle_folder_or_a_file_copied_out_of_it(tiny_run, tmp_path, capsys):
    """The folder was 'no such file', and a file without its bundle was blamed on a signature.json
    that did not exist."""
    from kerasuite.edge import main

    bundle = _bundle_copy(tiny_run, "image_classification", tmp_path)
    done = _call(capsys, main, [bundle])
    assert_one_line_error(done, 2, str(bundle), "a folder", "model_float32.tflite")
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(bundle / "model_float32.tflite", alone / "model_float32.tflite")
    done = _call(capsys, main, [alone / "model_float32.tflite", "--check", bundle / "golden.npz", "--runs", "1"])
    assert_one_line_error(done, 2, "--check", "no signature.json beside", "bundle folder")


def _edit_signature(bundle: Path, change) -> None:
    path = bundle / "signature.json"
    path.write_text(json.dumps(change(json.loads(path.read_text()))))


SIGNATURES = {
    "a_list": (lambda s: [s], "JSON object"),
    "missing_preprocessing_height": (lambda s: {**s, "preprocessing": {k: v for k, v in s["preprocessing"].items() if k != "height"}}, "height"),
    "negative_height": (lambda s: {**s, "preprocessing": {**s["preprocessing"], "height": -4}}, "height"),
    "modes_a_string": (lambda s: {**s, "modes": "float32"}, "modes"),
    "no_kind": (lambda s: {**s, "preprocessing": {k: v for k, v in s["preprocessing"].items() if k != "kind"}}, "kind"),
}


@pytest.mark.parametrize("case", sorted(SIGNATURES))
def test_edge_tampered_signature(tiny_run, tmp_path, capsys, case):
    from kerasuite.edge import main

    bundle = _bundle_copy(tiny_run, "image_classification", tmp_path)
    change, culprit = SIGNATURES[case]
    _edit_signature(bundle, change)
    image = tmp_path / "ok.png"
    image.write_bytes(_png(8, 8))
    done = _call(capsys, main, [bundle / "model_float32.tflite", "--input", image, "--runs", "1"])
    assert_one_line_error(done, 2, str(bundle / "signature.json"), culprit)


# -------------------------------------------------------------------- kerasuite.edge --input (text)

TEXT_INPUTS = {
    "wav_file": ("clip.wav", _write_wav),
    "png_file": ("image.png", lambda p: p.write_bytes(_png(8, 8))),
    "nul_bytes": ("notes.txt", lambda p: p.write_bytes(b"hello\x00\x00world")),
}


@pytest.mark.parametrize("case", sorted(TEXT_INPUTS))
def test_edge_text_model_refuses_binary_input(tiny_run, tmp_path, capsys, case):
    from kerasuite.edge import main

    bundle = _bundle_copy(tiny_run, "text_classification", tmp_path)
    name, write = TEXT_INPUTS[case]
    path = tmp_path / name
    write(path)
    done = _call(capsys, main, [bundle / "model_float32.tflite", "--input", path, "--runs", "1"])
    assert_one_line_error(done, 2, str(path), "not a text file")


# ------------------------------------------------------------------------- WAV reader (train + edge)

def _float_wav(path: Path, samples: np.ndarray) -> None:
    payload = samples.astype("<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, 16000, 64000, 4, 32)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(payload)) + payload
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def _truncated(path: Path) -> None:
    _write_wav(path)
    path.write_bytes(path.read_bytes()[:30])


WAVS = {
    "truncated": (_truncated, "ends before"),
    "random_after_header": (lambda p: p.write_bytes(b"RIFF\x00\x10\x00\x00WAVE" + np.random.default_rng(0).bytes(400)), "RIFF"),
    "nan_float_samples": (lambda p: _float_wav(p, np.array([0.1, np.nan, 0.2] * 100)), "NaN"),
    "inf_float_samples": (lambda p: _float_wav(p, np.array([0.1, np.inf] * 100)), "NaN or infinite"),
}


@pytest.mark.parametrize("case", sorted(WAVS))
def test_wav_reader_names_the_problem(tmp_path, case):
    from kerasuite.errors import UserError
    from kerasuite.runtime.audio import read_wav

    write, culprit = WAVS[case]
    path = tmp_path / "clip.wav"
    write(path)
    with pytest.raises(UserError) as refused:
        read_wav(path)
    message = str(refused.value)
    assert str(path) in message and culprit in message and "()" not in message and "\n" not in message


# ----------------------------------------------------------------------- kerasuite.runtime.recsys

def _pickled(path: Path) -> None:
    np.save(path, np.array([object()], dtype=object), allow_pickle=True)


def _wrong_width(path: Path) -> None:
    np.save(path, np.zeros((len(np.load(path)), 3), np.float32))


def _short_items(bundle: Path) -> None:
    lines = (bundle / "items.txt").read_text().splitlines()
    (bundle / "items.txt").write_text("\n".join(lines[: len(lines) // 2]) + "\n")


RECSYS = {  # name -> (damage(bundle), extra args, culprit file or flag)
    "candidates_missing": (lambda b: (b / "candidates.npy").unlink(), [], "candidates.npy"),
    "candidates_pickled": (lambda b: _pickled(b / "candidates.npy"), [], "candidates.npy"),
    "candidates_random_bytes": (lambda b: (b / "candidates.npy").write_bytes(os.urandom(300)), [], "candidates.npy"),
    "candidates_wrong_width": (lambda b: _wrong_width(b / "candidates.npy"), [], "candidates.npy"),
    "items_shorter_than_candidates": (_short_items, [], "candidates.npy"),
    "items_not_utf8": (lambda b: (b / "items.txt").write_bytes(b"ok\n\xff\xfe\xfa\n"), [], "items.txt"),
    "k_zero": (lambda b: None, ["--k", "0"], "--k 0"),
    "k_negative": (lambda b: None, ["--k", "-3"], "--k -3"),
    "signature_a_list": (lambda b: (b / "signature.json").write_text("[1]"), [], "signature.json"),
    "mode_missing": (lambda b: None, ["--mode", "float64"], "--mode float64"),
}


@pytest.mark.parametrize("case", sorted(RECSYS))
def test_recsys_runner_on_a_tampered_bundle(tiny_run, tmp_path, capsys, case):
    from kerasuite.runtime.recsys import main

    bundle = _bundle_copy(tiny_run, "retrieval", tmp_path)
    damage, extra, culprit = RECSYS[case]
    damage(bundle)
    user = (bundle / "users.txt").read_text().splitlines()[0]
    done = _call(capsys, main, [bundle, "--user", user, *extra])
    assert_one_line_error(done, 2, culprit)


def test_recsys_runner_still_answers_on_an_intact_bundle(tiny_run, tmp_path, capsys):
    from kerasuite.runtime.recsys import main

    bundle = _bundle_copy(tiny_run, "retrieval", tmp_path)
    user = (bundle / "users.txt").read_text().splitlines()[0]
    done = _call(capsys, main, [bundle, "--user", user, "--k", "3"])
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.strip().splitlines()) == 3


# ------------------------------------------------------------------------ python -m kerasuite.parity

def test_parity_rerun_with_a_model_of_another_architecture(tiny_run, tmp_path, capsys):
    import keras

    from kerasuite.export.rerun import main

    folder, _ = tiny_run("image_classification")
    run_dir = tmp_path / "run"
    shutil.copytree(folder / "run", run_dir)
    parity_before = (folder / "bundle" / "parity.json").read_bytes()
    tokens = keras.Input((24,), name="tokens", dtype="int32")
    other = keras.Model({"tokens": tokens}, keras.layers.Dense(3)(keras.layers.Embedding(50, 4)(tokens)))
    other.save(run_dir / "model.keras")
    done = _call(capsys, main, [run_dir])
    assert_one_line_error(done, 2, str(run_dir / "model.keras"), "does not fit")
    assert (folder / "bundle" / "parity.json").read_bytes() == parity_before


def test_recsys_runner_given_another_tasks_bundle_or_a_file_in_the_bundle(tiny_run, tmp_path, capsys):
    """A ranking bundle failed on the model's missing inputs (item_genres, ...), an image bundle on
    a missing users.txt, and a bundle's .tflite as 'not an export bundle (no signature.json)'."""
    from kerasuite.runtime.recsys import main

    ranking = _bundle_copy(tiny_run, "ranking", tmp_path / "ranking")
    for topk in ([], ["--topk-model"]):
        done = _call(capsys, main, [ranking, "--user", "u1", *topk])
        assert_one_line_error(done, 2, str(ranking), "not a retrieval bundle", "'ranking'", "kerasuite.edge")
    retrieval = _bundle_copy(tiny_run, "retrieval", tmp_path / "retrieval")
    done = _call(capsys, main, [retrieval / "model_float32.tflite", "--user", "u1"])
    assert_one_line_error(done, 2, "pass the bundle folder", str(retrieval))


def test_parity_rerun_prints_its_table_and_nothing_of_keras(tiny_run, tmp_path):
    """Keras' UserWarning on the input structure ('The structure of `inputs` doesn't match ...')
    went to stderr under the verdicts; the train command filters Keras' warnings, this one did not."""
    import json

    from helpers import run_cli

    folder, _ = tiny_run("image_classification")
    run_dir, bundle = tmp_path / "run", tmp_path / "bundle"
    shutil.copytree(folder / "run", run_dir)
    shutil.copytree(folder / "bundle", bundle)
    config = json.loads((run_dir / "config.json").read_text())
    config["export"]["dir"] = str(bundle)
    (run_dir / "config.json").write_text(json.dumps(config))
    done = run_cli("kerasuite.parity", str(run_dir))
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and "float32  passed" in done.stdout


def test_parity_rerun_answers_ctrl_c_in_one_line(tiny_run, tmp_path, capsys, monkeypatch):
    """It was a KeyboardInterrupt traceback from wherever the check was (loading the data, often)."""
    from kerasuite.export import rerun

    folder, _ = tiny_run("image_classification")

    def interrupted(run_dir):
        raise KeyboardInterrupt

    monkeypatch.setattr(rerun, "recheck", interrupted)
    done = _call(capsys, rerun.main, [folder / "run"])
    assert_one_line_error(done, 130, "interrupted", "rerun the same command")
