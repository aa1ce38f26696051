"""A mode that failed parity looks failed everywhere it travels, per runtime; the bundle records
where it came from, is readable by others, and its golden examples cover the classes."""

import json
import os
import stat

from pathlib import Path

import numpy as np
import pytest

from kerasuite.config import ModeTolerance, ParityConfig


class ZeroRuntime:
    """A runtime that gets everything wrong, to prove one failing runtime fails the mode."""

    def __init__(self, path):
        self.path = path

    def predict(self, inputs):
        return np.zeros((len(next(iter(inputs.values()))), 4), np.float32)

    def details(self):
        return {"api": "zeros"}


def only_float16(mode, description):
    return None if mode == "float16" else "zeros runs float16 files only"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    import keras

    from kerasuite.export import export_model, runtimes

    folder = tmp_path_factory.mktemp("verdicts")
    keras.utils.set_random_seed(8)
    features = keras.Input((6,), name="features")
    model = keras.Model(features, keras.layers.Dense(4, activation="softmax")(keras.layers.Dense(8)(features)))
    rng = np.random.default_rng(8)
    values = rng.normal(size=(80, 6)).astype("float32")
    targets = np.argmax(values[:, :4], -1)
    order = np.argsort(targets != 0, kind="stable")  # every class-0 example first: a naive pick sees one class
    values, targets = values[order], targets[order]
    registry = {
        "litert_interpreter": runtimes.RUNTIMES["litert_interpreter"],
        "zeros": runtimes.RuntimeEntry(f"{__name__}:ZeroRuntime", only_float16),
        "elsewhere": runtimes.RuntimeEntry("no.such.module:Nothing", lambda mode, d: "needs hardware this machine lacks"),
    }
    tolerances = ParityConfig(int8=ModeTolerance(max_abs_diff=1e-9))  # int8 cannot meet this
    saved = dict(runtimes.RUNTIMES)
    runtimes.RUNTIMES.clear()
    runtimes.RUNTIMES.update(registry)
    steps = []
    try:
        report = export_model(model, representative={"features": values}, heldout={"features": values, "target": targets},
                              modes=("float32", "float16", "int8"), tolerances=tolerances, out=folder / "bundle",
                              progress=steps.append)
    finally:
        runtimes.RUNTIMES.clear()
        runtimes.RUNTIMES.update(saved)
    return report, folder / "bundle", targets, steps


def test_each_long_step_is_announced_as_it_starts(bundle):
    # Minutes can pass between the export's start and its verdict (conversion, three runtimes, a
    # per-layer diagnosis): each step is said when it starts, so a slow one is not a silent one.
    *_, steps = bundle
    assert steps == [
        "converting to float32, float16, int8",
        "checking float32 against Keras on 80 examples",
        "checking float16 against Keras on 80 examples",
        "checking int8 against Keras on 80 examples",
        "int8 failed parity: measuring each layer's int8 error (QuantizationDebugger)",
    ], steps


def test_failed_modes_are_kept_apart_and_marked_failed(bundle):
    report, out, _, _ = bundle
    assert report.failed_modes == ["float16", "int8"] and not report.passed
    assert (out / "model_float32.tflite").is_file()
    assert not (out / "model_int8.tflite").exists() and not (out / "model_float16.tflite").exists()
    assert (out / "failed" / "model_int8.tflite").is_file() and (out / "failed" / "model_float16.tflite").is_file()
    signature = json.loads((out / "signature.json").read_text())
    assert signature["failed_modes"] == ["float16", "int8"]
    assert signature["modes"]["int8"]["verdict"] == "failed" and signature["modes"]["int8"]["file"] == "failed/model_int8.tflite"
    assert any("max_abs_diff" in f for f in signature["modes"]["int8"]["parity"]["failures"])
    assert signature["modes"]["float32"]["verdict"] == "passed"
    assert report.exports["int8"]["verdict"] == "failed" and report.exports["int8"]["path"].endswith("failed/model_int8.tflite")
    card = (out / "MODEL_CARD.md").read_text()
    assert "Do not ship float16, int8" in card and "| int8 | failed/model_int8.tflite |" in card


def test_every_runtime_has_a_verdict_and_any_failure_fails_the_mode(bundle):
    _, out, _, _ = bundle
    parity = json.loads((out / "parity.json").read_text())
    float32, float16 = parity["float32"]["runtimes"], parity["float16"]["runtimes"]
    assert float32["litert_interpreter"]["status"] == "passed" and parity["float32"]["passed"]
    assert float32["zeros"] == {"status": "not_applicable", "reason": "zeros runs float16 files only", "agreement": None}
    assert float32["elsewhere"]["status"] == "not_applicable" and "hardware" in float32["elsewhere"]["reason"]
    # LiteRT agrees on float16, the other applicable runtime does not: the mode fails
    assert float16["litert_interpreter"]["status"] == "passed" and float16["zeros"]["status"] == "failed"
    assert not parity["float16"]["passed"] and float16["zeros"]["api"] == "zeros"
    assert any(f.startswith("zeros:") for f in parity["float16"]["failures"])
    int8 = parity["int8"]["runtimes"]["litert_interpreter"]
    assert int8["status"] == "failed" and "max_abs_diff" in int8["reason"] and int8["api"].endswith("Interpreter")


def test_device_check_of_a_failed_file_exits_1_naming_the_verdict(bundle):
    from helpers import run_cli

    _, out, _, _ = bundle
    done = run_cli("kerasuite.edge", str(out / "failed" / "model_int8.tflite"), "--check", str(out / "golden.npz"),
                   "--runs", "2")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "export verdict FAILED for int8" in done.stdout and "max_abs_diff" in done.stdout
    # float16 failed on another runtime: LiteRT's numbers alone look fine, the verdict does not
    done = run_cli("kerasuite.edge", str(out / "failed" / "model_float16.tflite"), "--check", str(out / "golden.npz"),
                   "--runs", "2")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "golden check passed" in done.stdout and "export verdict FAILED for float16" in done.stdout
    done = run_cli("kerasuite.edge", str(out / "model_float32.tflite"), "--check", str(out / "golden.npz"), "--runs", "2")
    assert done.returncode == 0 and "FAILED" not in done.stdout, done.stdout + done.stderr


def test_golden_examples_cover_every_class(bundle):
    _, out, targets, _ = bundle
    golden = np.load(out / "golden.npz")
    assert (targets[:8] == 0).all()  # the first examples are all one class
    assert set(golden["target"].tolist()) == {0, 1, 2, 3}
    assert len(golden["target"]) == 8 and golden["keras_output"].shape == (8, 4)


def test_bundle_is_readable_by_others_and_records_provenance(bundle):
    _, out, _, _ = bundle
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~umask
    for path in out.rglob("*"):
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path
    record = json.loads((out / "provenance.json").read_text())
    assert set(record["versions"]) >= {"kerasuite", "tensorflow", "keras", "litert"}
    assert record["versions"]["tensorflow"] and record["versions"]["litert"] and record["created_utc"]
    assert record["data"]["parity_on"] == "heldout" and record["data"]["parity_examples"] == 80


class UnloadableRuntime:
    """A runtime that cannot load any file, as LiteRT could not load a dynamic-length file."""

    def __init__(self, path):
        raise RuntimeError("cannot load this file")


def test_a_file_no_runtime_ran_has_no_headline_numbers_and_says_why(tmp_path):
    """When the reference runtime could not run a file, its headline was computed from NaN
    placeholders: max |diff| 0.0, an agreement of whatever class NaN argmaxes to, and "non-finite
    outputs" as the first reason. Now another runtime's numbers head the verdict (and say so), or
    none do, and the first reason is the runtime that could not run it."""
    import keras

    from kerasuite.export import export_model, runtimes

    keras.utils.set_random_seed(9)
    features = keras.Input((6,), name="features")
    model = keras.Model(features, keras.layers.Dense(3, activation="softmax")(features))
    values = np.random.default_rng(9).normal(size=(40, 6)).astype("float32")
    heldout = {"features": values, "target": np.argmax(values[:, :3], -1)}
    unloadable = runtimes.RuntimeEntry(f"{__name__}:UnloadableRuntime")
    saved = dict(runtimes.RUNTIMES)
    reports = {}
    try:
        for case, registry in {
            "none ran": {"litert_interpreter": unloadable},
            "another ran": {"litert_interpreter": unloadable, "litert_compiled": saved["litert_compiled"]},
        }.items():
            runtimes.RUNTIMES.clear()
            runtimes.RUNTIMES.update(registry)
            reports[case] = export_model(model, representative={"features": values}, heldout=heldout,
                                         modes=("float32",), out=tmp_path / case.replace(" ", "_"))
    finally:
        runtimes.RUNTIMES.clear()
        runtimes.RUNTIMES.update(saved)
    nothing = reports["none ran"].exports["float32"]["parity"]
    assert nothing["max_abs_diff"] is None and nothing["agreement"] is None and not nothing["passed"]
    assert nothing["failures"] == ["litert_interpreter: litert_interpreter could not run the file: cannot load this file"]
    other = reports["another ran"].exports["float32"]["parity"]
    assert other["headline_runtime"] == "litert_compiled" and other["agreement"] == 1.0
    assert other["max_abs_diff"] < 1e-5 and not other["passed"]
    assert other["failures"][0].startswith("litert_interpreter: ") and "non-finite" not in " ".join(other["failures"])


def test_the_narrow_feature_note_speaks_only_of_tabular_columns_that_vary():
    """The note must not blame a constant column (it loses nothing) or a waveform's sample positions
    (a quiet onset is not a feature), and must name the narrow column of a tabular input."""
    from kerasuite.export.parity import narrow_input_features

    rng = np.random.default_rng(0)
    house = np.stack([rng.normal(1500, 400, 64), rng.normal(3, 1, 64), np.zeros(64)], 1).astype("float32")
    notes = narrow_input_features({"house": house})
    assert len(notes) == 1 and "feature 1 spans" in notes[0]
    balanced = np.stack([rng.normal(0, 1, 64), rng.normal(0, 2, 64), np.ones(64)], 1).astype("float32")
    assert narrow_input_features({"x": balanced}) == []
    waveform = rng.normal(0, 1, (8, 16000)).astype("float32")
    waveform[:, :400] *= 1e-3
    assert narrow_input_features({"audio": waveform}) == []
    assert narrow_input_features({"tokens": rng.integers(0, 100, (8, 20))}) == []


class LoudFailingRuntime:
    """Fails the way CompiledModel and MediaPipe do: the kernel's reason on fd 2, a vague exception."""

    def __init__(self, path):
        self.path = path

    def predict(self, inputs):
        os.write(2, b"ERROR: SquaredDifference only supports FLOAT32 and INT32 now, got 7.\n"
                    b"ERROR: Node number 4 (SQUARED_DIFFERENCE) failed to invoke.\n"
                    b"    @     0x7f1db4edeca1  mediapipe::InferenceInterpreterDelegateRunner::Run()\n")
        raise RuntimeError("CompiledModel error: code=3, message=Failed to invoke the compiled model")

    def details(self):
        return {}


def test_a_runtimes_native_error_lines_go_into_its_verdict_and_not_to_the_terminal(capfd, monkeypatch):
    from kerasuite.export import runtimes

    monkeypatch.delenv("KERASUITE_VERBOSE", raising=False)
    loud = {"loud": runtimes.RuntimeEntry(f"{__name__}:LoudFailingRuntime")}
    inputs = {"x": np.zeros((2, 3), np.float32)}
    verdicts, outputs = runtimes.judge(Path("model_int16x8.tflite"), "int16x8", {}, inputs,
                                       np.zeros((2, 4), np.float32), lambda got: {}, loud)
    reason = verdicts["loud"]["reason"]
    assert verdicts["loud"]["status"] == "failed" and not outputs
    assert reason.startswith("loud could not run the file: SquaredDifference only supports FLOAT32 and INT32 "
                             "now, got 7. Node number 4 (SQUARED_DIFFERENCE) failed to invoke.; CompiledModel "
                             "error"), reason
    assert "0x7f1db4edeca1" not in reason
    assert capfd.readouterr().err == ""


def test_native_cause_takes_the_kernels_own_error_lines_once():
    from kerasuite.export.runtimes import native_cause

    lines = ["INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
             "ERROR: SquaredDifference only supports FLOAT32 and INT32 now, got 7.",
             "ERROR: Node number 10 (SQUARED_DIFFERENCE) failed to invoke.",
             "ERROR: [litert_compiled_model.cc:164] Failed to invoke",
             "ERROR: SquaredDifference only supports FLOAT32 and INT32 now, got 7.",
             "    @     0x7f1db4edeca1  mediapipe::regular_tflite::InferenceInterpreterDelegateRunner::Run()"]
    assert native_cause(lines, "CompiledModel error: code=3") == (
        "SquaredDifference only supports FLOAT32 and INT32 now, got 7. "
        "Node number 10 (SQUARED_DIFFERENCE) failed to invoke.; ")
    # what the exception already says is not repeated
    assert native_cause(lines[:3], "SquaredDifference only supports FLOAT32 and INT32 now, got 7. "
                                   "Node number 10 (SQUARED_DIFFERENCE) failed to invoke.") == ""
    assert native_cause([], "anything") == ""


def test_an_int8_file_wrong_on_one_example_beyond_calibration_fails_and_names_the_row(tmp_path):
    """A regression's held-out row beyond the representative range is off by 2.4 spreads in int8
    while the file's average error (0.12 of the spread) passed the relative bound: the worst
    example fails the mode, and the failure says the row's input lies outside the calibrated range."""
    import keras

    from kerasuite.export import export_model

    rng = np.random.default_rng(3)
    keras.utils.set_random_seed(3)
    values = rng.normal(size=(600, 4)).astype("float32")
    model = keras.Sequential([keras.Input((4,), name="features"), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile("adam", "mse")
    model.fit(values, np.sin(values[:, :1]) + 0.3 * values[:, 1:2], epochs=20, verbose=0)
    heldout = rng.normal(size=(400, 4)).astype("float32")
    heldout[17] = [4.0, 4.0, 0.0, 0.0]  # the representative inputs stay within about +-3.3
    report = export_model(model, representative={"features": values[:300]}, heldout={"features": heldout},
                          modes=("int8",), out=tmp_path / "bundle")
    parity = report.exports["int8"]["parity"]
    assert parity["relative_error"] < ParityConfig().int8.max_relative_error, parity
    assert not report.passed and parity["worst_example"]["index"] == 17, parity
    assert parity["failures"][0].startswith("example (row) 17 is off by"), parity["failures"]
    assert any(failure.startswith("example (row) 17's input 'features' reaches 4, outside the range")
               for failure in parity["failures"]), parity["failures"]


class StoppedRuntime:
    """What a Ctrl-C does while a runtime works in the trainer: its signal handler raises there."""

    def __init__(self, path):
        self.path = path

    def predict(self, inputs):
        import signal

        from kerasuite.errors import Interrupted

        raise Interrupted("stopped by SIGINT before the run finished; rerun the same command to continue",
                          signal.SIGINT)


def test_a_signal_while_a_runtime_works_stops_the_run_and_fails_no_file():
    """The interruption became the runtime's verdict: the file went to failed/ as 'do not ship',
    metrics.json recorded it and the run ended with exit 1, a finished run a rerun refused."""
    from kerasuite.errors import Interrupted
    from kerasuite.export import runtimes

    stopped = {"stopped": runtimes.RuntimeEntry(f"{__name__}:StoppedRuntime")}
    with pytest.raises(Interrupted):
        runtimes.judge(Path("model_int8.tflite"), "int8", {}, {"x": np.zeros((2, 3), np.float32)},
                       np.zeros((2, 4), np.float32), lambda got: {}, stopped)


def test_ctrl_c_in_a_command_without_its_own_handler_is_one_line_exit_130(capsys):
    from kerasuite.errors import one_line_exit

    def export_interrupted():
        raise KeyboardInterrupt

    assert one_line_exit(export_interrupted) == 130
    err = capsys.readouterr().err
    assert err.startswith("interrupted: ") and err.count("\n") == 1 and "Traceback" not in err


def test_the_device_golden_bound_is_what_the_file_showed_not_a_loose_configured_bound():
    """Ranking's int8 max_abs_diff of 1.0 (its metric judges) made the device's golden bound 4.4
    rating points, so edge --check passed a golden file shifted by 3."""
    from kerasuite.export.api import golden_tolerance

    assert golden_tolerance(ModeTolerance(max_abs_diff=1.0), measured=0.3, scale=4.4) == pytest.approx(0.6)
    # a tight configured bound still caps it (float32), and without one the floor holds
    assert golden_tolerance(ModeTolerance(max_abs_diff=1e-4), measured=1e-6, scale=4.4) == pytest.approx(4.4e-4)
    assert golden_tolerance(ModeTolerance(), measured=0.001) == pytest.approx(0.02)
