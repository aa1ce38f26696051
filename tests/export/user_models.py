"""Small models written the way a user writes them (plain Keras, no kerasuite builders), their
data as .npz files, and a runner for ``python -m kerasuite.export``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

RNG = np.random.default_rng(0)


def save_case(folder: Path, model, inputs: dict[str, np.ndarray], targets: np.ndarray | None = None,
              train: bool = True) -> dict[str, Path]:
    """Fit briefly (so outputs are not uniform: int8 argmax flips on near-ties prove nothing),
    save the model and split the inputs into representative and held-out .npz files."""
    count = len(next(iter(inputs.values())))
    if train and targets is not None:
        model.compile("adam", "sparse_categorical_crossentropy")
        model.fit(list(inputs.values())[0] if len(inputs) == 1 else inputs, targets, epochs=8, batch_size=16,
                  verbose=0)
    half = count // 2
    paths = {"model": folder / "model.keras", "representative": folder / "representative.npz",
             "heldout": folder / "heldout.npz"}
    model.save(paths["model"])
    np.savez(paths["representative"], **{k: v[:half] for k, v in inputs.items()})
    heldout = {k: v[half:] for k, v in inputs.items()}
    if targets is not None:
        heldout["target"] = targets[half:]
    np.savez(paths["heldout"], **heldout)
    return paths


def export_arguments(paths: dict[str, Path], out: Path, *extra: str, modes: str = "float32,int8") -> list[str]:
    return [str(paths["model"]), "--representative", str(paths["representative"]), "--heldout",
            str(paths["heldout"]), "--modes", modes, "--out", str(out), *extra]


def export_cli(paths: dict[str, Path], out: Path, *extra: str, modes: str = "float32,int8", env=None):
    from helpers import run_cli

    return run_cli("kerasuite.export", *export_arguments(paths, out, *extra, modes=modes), env=env)


def export_here(paths: dict[str, Path], out: Path, *extra: str, modes: str = "float32,int8"):
    """``export_cli`` in this process: the CLI's ``main`` with file descriptors 1 and 2 captured
    (native writes included, as a child's pipes would take them), without a second TensorFlow
    start-up (about 7 s of CPU per export on a CI core). The converter still runs in its own child.
    Meant for tests that judge the bundle; a test of the CLI's one-line errors runs ``export_cli``,
    whose stderr also carries what Python warns on the way."""
    import io
    import os
    import subprocess
    import sys
    import tempfile

    from kerasuite.export.cli import main
    from kerasuite.quiet import flush_native_stdio

    argv = export_arguments(paths, out, *extra, modes=modes)
    streams, saved = (sys.stdout, sys.stderr), (os.dup(1), os.dup(2))
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        for stream in streams:
            stream.flush()
        os.dup2(stdout.fileno(), 1)
        os.dup2(stderr.fileno(), 2)
        sys.stdout, sys.stderr = (io.TextIOWrapper(io.FileIO(os.dup(fd), "w"), write_through=True) for fd in (1, 2))
        try:
            code = main(argv)
        finally:
            for stream in (sys.stdout, sys.stderr):
                stream.close()
            flush_native_stdio()
            sys.stdout, sys.stderr = streams
            for fd, copy in zip((1, 2), saved):
                os.dup2(copy, fd)
                os.close(copy)
        texts = []
        for handle in (stdout, stderr):
            handle.seek(0)
            texts.append(handle.read().decode("utf-8", "replace"))
    return subprocess.CompletedProcess(["kerasuite.export", *argv], code, *texts)


def read_bundle(out: Path) -> tuple[dict, dict]:
    return json.loads((out / "signature.json").read_text()), json.loads((out / "parity.json").read_text())


def ops_of(path: Path) -> list[str]:
    from kerasuite.runtime.interpreter import TFLiteModel

    return [op["op_name"] for op in TFLiteModel(path).interpreter._get_ops_details()]


def assert_builtin_only(path: Path) -> list[str]:
    ops = ops_of(path)
    assert not [op for op in ops if op.startswith("Flex") or op == "CUSTOM"], ops
    return ops


def tokens(count: int, length: int, vocabulary: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocabulary, (count, length)).astype("int32")
    for row, used in enumerate(rng.integers(2, length + 1, count)):
        ids[row, used:] = 0  # right padding
    return ids


BLOCK_TENSORFLOW = """
import sys
class _NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('tensorflow', 'keras', 'tf_keras'):
            raise ImportError('TensorFlow is blocked in this test: ' + name)
sys.meta_path.insert(0, _NoTensorFlow())
from kerasuite.export.cli import main
sys.exit(main(sys.argv[1:]))
"""


def export_cli_without_tensorflow(*args: str):
    """The CLI in a process where importing TensorFlow or Keras fails: a usage error must be
    reported before either is needed."""
    import os
    import subprocess
    import sys

    from helpers import REPO

    return subprocess.run([sys.executable, "-c", BLOCK_TENSORFLOW, *args], capture_output=True, text=True,
                          cwd=str(REPO), timeout=120, env=dict(os.environ, PYTHONPATH=str(REPO)))


# A hand-written attention pooling whose padding mask is a constant (``penalty``) subtracted
# from the scores, as users often write it; -1e9 leaves int8 nothing of the real scores.
MASKED_POOLING_MODULE = """
import keras


@keras.saving.register_keras_serializable(package="kerasuite_tests")
class MaskedAttentionPooling(keras.layers.Layer):
    '''Attention pooling over the non-zero ids, masked the way users often write it.'''

    def __init__(self, penalty=1e9, **kwargs):
        super().__init__(**kwargs)
        self.penalty = penalty

    def build(self, input_shape):
        sequence_shape, _ = input_shape
        self.score = self.add_weight(shape=(sequence_shape[-1], 1), name="score",
                                     initializer=keras.initializers.RandomNormal(stddev=2.0, seed=1))

    def call(self, inputs):
        sequence, ids = inputs
        real = keras.ops.expand_dims(keras.ops.cast(keras.ops.not_equal(ids, 0), sequence.dtype), -1)
        scores = keras.ops.matmul(sequence, self.score) - (1.0 - real) * self.penalty
        return keras.ops.sum(keras.ops.softmax(scores, axis=1) * sequence, axis=1)

    def get_config(self):
        return {**super().get_config(), "penalty": self.penalty}
"""
