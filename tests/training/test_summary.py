"""The summary table ``python -m kerasuite.train`` prints at the end of a run."""


def test_a_modes_notes_are_printed_after_the_table(capsys):
    """A dynamic file that is the float32 model under another name passed with no word of it in the
    train command's summary; metrics.json and ``kerasuite.export``'s table said so."""
    from kerasuite.training.runner import print_summary

    note = "no weight tensor is large enough for dynamic-range quantization: this file is the float32 model"
    mode = {"size_bytes": 4874, "eval": {"accuracy": 0.9}, "latency_ms": {"p50": 0.01},
            "parity": {"agreement": 1.0, "max_abs_diff": 3e-8, "passed": True}, "path": "/tmp/b/model_dynamic.tflite"}
    report = {"task": "image_classification", "model": "cnn", "data": "builtin:digits", "run_dir": "/tmp/run",
              "eval": {"accuracy": 0.9}, "train": {"epochs": 1, "seconds": 1.0, "examples_per_second": 10.0},
              "exports": {"float32": dict(mode, path="/tmp/b/model_float32.tflite"), "dynamic": dict(mode, notes=[note])}}
    print_summary(report)
    lines = capsys.readouterr().out.splitlines()
    assert f"  note (dynamic): {note}" in lines
    assert lines.index(f"  note (dynamic): {note}") > next(i for i, line in enumerate(lines) if "dynamic " in line)
