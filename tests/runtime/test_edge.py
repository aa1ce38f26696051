"""The device runner: no TensorFlow, golden checks that can fail, clean refusals."""

import os
import subprocess
import sys

import numpy as np
import pytest

from helpers import REPO, assert_one_line_error, write_camera_image

BLOCK_TENSORFLOW = """
import os, sys
blocked = {'tensorflow', 'keras', 'tf_keras', 'tensorflow_datasets', *os.environ.get('ALSO_BLOCKED', '').split()}
class _NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in blocked:
            raise ImportError('blocked on this simulated device: ' + name)
sys.meta_path.insert(0, _NoTensorFlow())
from kerasuite.edge import main
code = main(sys.argv[1:])
loaded = sorted(m for m in sys.modules if m.split('.')[0] in blocked)
assert not loaded, loaded
sys.exit(code)
"""


def run_without_tensorflow(*args, also_blocked: tuple[str, ...] = ()):
    """The edge runner on a simulated device without TensorFlow (nor the modules ``also_blocked``)."""
    environment = dict(os.environ, ALSO_BLOCKED=" ".join(also_blocked))
    return subprocess.run([sys.executable, "-c", BLOCK_TENSORFLOW, *args], capture_output=True, text=True,
                          cwd=str(REPO), timeout=120, env=environment)


def test_check_passes_where_tensorflow_cannot_be_imported(tiny_run):
    folder, _ = tiny_run("image_classification")
    bundle = folder / "bundle"
    for mode in ("float32", "int8"):
        done = run_without_tensorflow(str(bundle / f"model_{mode}.tflite"), "--check", str(bundle / "golden.npz"), "--runs", "3")
        assert done.returncode == 0, done.stderr
        assert "golden check passed" in done.stdout and "p50" in done.stdout


def test_altered_golden_outputs_fail_with_exit_1(tiny_run, tmp_path):
    folder, _ = tiny_run("image_classification")
    bundle = folder / "bundle"
    golden = dict(np.load(bundle / "golden.npz"))
    golden["keras_output"] = golden["keras_output"].copy()
    golden["keras_output"][0, 0] += 0.5  # one recorded probability off by half
    np.savez(tmp_path / "altered.npz", **golden)
    done = run_without_tensorflow(str(bundle / "model_int8.tflite"), "--check", str(tmp_path / "altered.npz"), "--runs", "1")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "golden check FAILED" in done.stdout


def test_truncated_or_foreign_file_is_one_line_exit_2(tiny_run, tmp_path):
    folder, _ = tiny_run("image_classification")
    content = (folder / "bundle" / "model_float32.tflite").read_bytes()
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(content[: len(content) // 3])
    foreign = tmp_path / "notes.tflite"
    foreign.write_text("hello, I am not a model")
    for path in (truncated, foreign):
        done = run_without_tensorflow(str(path), "--runs", "1")
        assert_one_line_error(done, 2, str(path))


def test_png_input_is_classified_like_the_training_decoder(tiny_run, tmp_path):
    from PIL import Image
    from sklearn.datasets import load_digits

    folder, _ = tiny_run("image_classification")
    digit = load_digits()
    image = np.uint8(np.round(digit.images[0] * 255 / 16))
    Image.fromarray(image).save(tmp_path / "digit.png")
    done = run_without_tensorflow(str(folder / "bundle" / "model_float32.tflite"), "--input", str(tmp_path / "digit.png"), "--runs", "1")
    assert done.returncode == 0, done.stderr
    assert "digit.png:" in done.stdout


def _digit_picture(tmp_path, name: str, **save) -> str:
    from PIL import Image
    from sklearn.datasets import load_digits

    Image.fromarray(np.uint8(np.round(load_digits().images[0] * 255 / 16))).save(tmp_path / name, **save)
    return str(tmp_path / name)


def test_jpeg_input_is_classified(tiny_run, tmp_path):
    folder, _ = tiny_run("image_classification")
    photo = _digit_picture(tmp_path, "digit.jpg", quality=95)
    done = run_without_tensorflow(str(folder / "bundle" / "model_float32.tflite"), "--input", photo, "--runs", "1")
    assert done.returncode == 0, done.stderr
    assert f"{photo}:" in done.stdout


def test_without_pillow_png_is_read_and_jpeg_refused_in_one_line(tiny_run, tmp_path):
    folder, _ = tiny_run("image_classification")
    model = str(folder / "bundle" / "model_float32.tflite")
    png = _digit_picture(tmp_path, "digit.png")
    done = run_without_tensorflow(model, "--input", png, "--runs", "1", also_blocked=("PIL",))
    assert done.returncode == 0, done.stderr  # and PIL was never imported (the script checks)
    photo = _digit_picture(tmp_path, "digit.jpg")
    done = run_without_tensorflow(model, "--input", png, photo, "--runs", "1", also_blocked=("PIL",))
    assert_one_line_error(done, 2, photo, "pip install Pillow", "PNG")


def test_numpy_png_decoder_and_resize_match_tensorflow(tmp_path):
    import tensorflow as tf
    from PIL import Image

    from kerasuite.runtime.image import decode_png, resize_bilinear

    rng = np.random.default_rng(0)
    for mode, shape in (("L", (13, 9)), ("RGB", (7, 11, 3)), ("RGBA", (6, 5, 4))):
        pixels = rng.integers(0, 256, shape, dtype=np.uint8)
        Image.fromarray(pixels, mode).save(tmp_path / "x.png", optimize=True)
        decoded = decode_png((tmp_path / "x.png").read_bytes())
        np.testing.assert_array_equal(decoded.reshape(pixels.shape), pixels)
        expected = tf.raw_ops.ResizeBilinear(images=tf.cast(decoded, tf.float32)[None], size=[16, 16],
                                             align_corners=False, half_pixel_centers=False)[0].numpy()
        np.testing.assert_allclose(resize_bilinear(decoded, 16, 16), expected, atol=1e-3)


@pytest.mark.parametrize("byte_order", [">", "<"])
@pytest.mark.parametrize("orientation", [None, 1, 2, 3, 4, 5, 6, 7, 8])
def test_png_exif_orientation_is_shown_upright_as_pil_shows_it(tmp_path, orientation, byte_order):
    from PIL import Image, ImageOps

    from kerasuite.runtime.image import decode_png

    upright = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    path = write_camera_image(tmp_path / "photo.png", upright, orientation, byte_order)
    with Image.open(path) as image:
        shown = np.asarray(ImageOps.exif_transpose(image))
    np.testing.assert_array_equal(shown, upright)  # the file is what the test means it to be
    np.testing.assert_array_equal(decode_png(path.read_bytes()), upright)


@pytest.mark.parametrize("orientation", [2, 3, 6, 8])
def test_device_reads_a_camera_png_as_its_upright_copy(tmp_path, orientation):
    """The edge runner's image reader: one bright quadrant, top left when shown upright."""
    from kerasuite.runtime.device_spec import ImageSpec
    from kerasuite.runtime.image import read_image

    upright = np.full((8, 12, 3), 40, np.uint8)
    upright[:4, :6] = 230
    spec = ImageSpec(height=8, width=12, channels=3)
    plain = read_image(str(write_camera_image(tmp_path / "plain.png", upright, None)), spec, tmp_path)["image"]
    turned = read_image(str(write_camera_image(tmp_path / "turned.png", upright, orientation)), spec, tmp_path)["image"]
    np.testing.assert_array_equal(turned, plain)
    assert turned[0, :4, :6].min() > 0.8 and turned[0, 4:].max() < 0.2 and turned[0, :, 6:].max() < 0.2


def test_compiled_model_and_interpreter_run_the_same_file(tiny_run):
    """Both LiteRT APIs on one file, int8 and float32: the same outputs, and each says which ran."""
    from kerasuite.runtime.compiled import CompiledTFLiteModel, open_model

    folder, _ = tiny_run("image_classification")
    bundle = folder / "bundle"
    golden = np.load(bundle / "golden.npz")
    inputs = {"image": golden["input__image"]}
    for mode in ("float32", "int8"):
        compiled = open_model(bundle / f"model_{mode}.tflite", "compiled")
        interpreter = open_model(bundle / f"model_{mode}.tflite", "interpreter")
        assert isinstance(compiled, CompiledTFLiteModel) and compiled.details()["api"] == "ai_edge_litert.CompiledModel"
        assert interpreter.details()["api"] == "ai_edge_litert.Interpreter" and "fallback_reason" not in interpreter.details()
        np.testing.assert_array_equal(compiled.predict(inputs), interpreter.predict(inputs))
        compiled.close()
    done = run_without_tensorflow(str(bundle / "model_int8.tflite"), "--check", str(bundle / "golden.npz"),
                                  "--runs", "3", "--api", "compiled")
    assert done.returncode == 0, done.stderr
    assert "LiteRT API ai_edge_litert.CompiledModel" in done.stdout and "golden check passed" in done.stdout
    assert "INFO" not in done.stderr, done.stderr  # LiteRT's native chatter stays muted


def test_compiled_model_runs_a_file_with_a_dynamic_sequence_length(tmp_path):
    """CompiledModel keeps the file's written shape ([1, 1, 4] for a dynamic length) and its output
    buffer sizes; the runner resizes both per example, as the Interpreter does, and still refuses
    a dimension the file fixes."""
    import keras
    import tensorflow as tf

    from kerasuite.errors import UserError
    from kerasuite.runtime.compiled import CompiledTFLiteModel
    from kerasuite.runtime.interpreter import TFLiteModel

    keras.utils.set_random_seed(3)
    sequence = keras.Input((None, 4), batch_size=1, name="sequence")
    model = keras.Model(sequence, keras.layers.Dense(3)(keras.layers.Dense(5, activation="relu")(sequence)))
    path = tmp_path / "sequence.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    compiled, interpreter = CompiledTFLiteModel(path), TFLiteModel(path)
    values = np.random.default_rng(3).normal(size=(2, 9, 4)).astype("float32")
    for length in (9, 4, 9):  # growing, shrinking and back
        inputs = {"sequence": values[:, :length]}
        outputs = compiled.predict(inputs)
        assert outputs.shape == (2, length, 3)
        np.testing.assert_allclose(outputs, interpreter.predict(inputs, batch_size=1), atol=1e-6)
    try:
        compiled.predict({"sequence": values[:, :, :3]})
        raise AssertionError("a width of 3 against the file's 4 ran")
    except UserError as error:
        assert "takes [1, -1, 4]" in str(error) and "has shape [1, 9, 3]" in str(error), error
    compiled.close()


def test_the_compiled_model_api_prints_nothing_while_it_runs(tiny_run):
    """LiteRT sets up its accelerators at the first buffer write and logs that natively; a caller
    (the parity harness inside a training run) must not see those lines mid-run."""
    import subprocess
    import sys

    from helpers import REPO

    folder, _ = tiny_run("image_classification")
    bundle = folder / "bundle"
    script = ("import sys, numpy as np\n"
              "from kerasuite.runtime.compiled import CompiledTFLiteModel\n"
              "golden = np.load(sys.argv[2])\n"
              "model = CompiledTFLiteModel(sys.argv[1])\n"
              "model.predict({'image': golden['input__image']})\n"
              "sys.stderr.write('ran\\n'); sys.stderr.flush()\n"
              "import os; os._exit(0)\n")  # no exit handlers: only what was printed while running
    done = subprocess.run([sys.executable, "-c", script, str(bundle / "model_float32.tflite"),
                           str(bundle / "golden.npz")], capture_output=True, text=True, cwd=str(REPO), timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr.strip() == "ran", done.stderr[-2000:]


def test_compiled_api_falls_back_to_the_interpreter_with_the_reason(tiny_run, monkeypatch):
    from kerasuite.runtime import compiled

    folder, _ = tiny_run("image_classification")
    monkeypatch.setattr(compiled, "compiled_model_class", lambda: None)
    runner = compiled.open_model(folder / "bundle" / "model_float32.tflite", "compiled")
    assert runner.details()["api"] == "ai_edge_litert.Interpreter"
    assert "not installed" in runner.details()["fallback_reason"]


def test_flag_mistakes_are_refused_before_the_model_is_opened(tmp_path):
    """A wrong flag or a missing file is named in one line (exit 2) with nothing printed on stdout
    first: the model file given here does not exist, so any answer about it means the flags were
    checked too late."""
    wav = tmp_path / "clip.wav"
    wav.write_bytes(b"")
    missing_model = str(tmp_path / "absent.tflite")
    cases = [
        (("--input", str(wav), "--stream", "--hop", "0"), "--hop"),
        (("--input", str(wav), "--stream", "--threshold", "2"), "--threshold"),
        (("--stream",), "--stream"),
        (("--input", str(wav), "--stream", "--hop", "20"), "--hop"),
        (("--input", str(wav), "--stream", "--check", str(wav)), "--check"),  # --check judges single clips
        (("--runtime", "tflm", "--api", "compiled", "--input", str(wav)), "--api compiled"),
        (("--input", str(tmp_path / "absent.wav")), "--input"),
        (("--check", str(tmp_path / "absent.npz")), "--check"),
    ]
    for args, culprit in cases:
        done = run_without_tensorflow(missing_model, *args)
        assert_one_line_error(done, 2, culprit)
        assert done.stdout == "", (args, done.stdout)


def test_a_missing_array_of_a_two_input_model_is_named_not_paired_with_the_other():
    from kerasuite.edge import check_input_arrays
    from kerasuite.errors import UserError

    class TwoInputs:
        def describe(self):
            return {"inputs": [{"name": "history", "shape": [1, 6], "dtype": "int32"},
                               {"name": "user_index", "shape": [1], "dtype": "int32"}]}

    try:
        check_input_arrays(TwoInputs(), {"user_index": np.array([3], np.int32)}, "--input u.txt")
    except UserError as error:
        assert "'history'" in str(error) and "has user_index" in str(error), error
    else:
        raise AssertionError("a missing input was not refused")


def test_a_runtime_refusing_an_input_at_invoke_is_one_line_exit_1(tmp_path):
    """An int8 DIV by zero (calibrated on values in [1, 2]): LiteRT refuses the invoke. The runner
    says so in one line (exit 1), not with a traceback."""
    import keras

    from kerasuite.export import tflite

    values = keras.Input((3,), name="values")
    keras.Model(values, 1.0 / values).save(tmp_path / "reciprocal.keras")
    np.savez(tmp_path / "representative.npz",
             input__values=np.random.default_rng(0).uniform(1, 2, (16, 3)).astype("float32"))
    tflite.convert(tmp_path / "reciprocal.keras", "int8", tmp_path / "reciprocal.tflite",
                   tmp_path / "representative.npz", batch_size=1)
    np.save(tmp_path / "zeros.npy", np.zeros(3, "float32"))
    done = run_without_tensorflow(str(tmp_path / "reciprocal.tflite"), "--input", str(tmp_path / "zeros.npy"))
    assert_one_line_error(done, 1, "reciprocal.tflite", "failed to run it")
