"""What TensorBoard shows for a finished run: an op graph (not Keras 3's config, which the Graphs
tab reads as a malformed GraphDef), and the test and export results beside the hparams session."""

from __future__ import annotations

import io

from kerasuite.training.fit import progress_verbosity


def _events(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"tensors": 0, "scalars": 0})
    events.Reload()
    return events


def test_graphs_tab_gets_an_op_graph_and_no_keras_config(tiny_run):
    folder, _ = tiny_run("image_classification")
    events = _events(folder / "run" / "logs" / "train")
    graph = events.Graph()
    op_types = {node.op for node in graph.node}
    assert "Conv2D" in op_types and "Softmax" in op_types, sorted(op_types)
    assert "keras" not in events.Tags()["tensors"]


def test_hparams_session_folder_holds_test_and_export_results(tiny_run):
    folder, report = tiny_run("image_classification")
    events = _events(folder / "run" / "logs" / "validation")
    tags = set(events.Tags()["tensors"]) | set(events.Tags()["scalars"])
    for mode in report["exports"]:
        assert {f"export_{mode}/accuracy", f"export_{mode}/size_bytes", f"export_{mode}/passed"} <= tags, tags
    assert "test/accuracy" in tags
    values = events.Tensors(f"export_{next(iter(report['exports']))}/size_bytes")
    import tensorflow as tf

    written = float(tf.make_ndarray(values[-1].tensor_proto))
    assert written == float(next(iter(report["exports"].values()))["size_bytes"])


class _Stream(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


def test_progress_bar_becomes_plain_lines_off_a_terminal():
    assert progress_verbosity(1, _Stream(tty=False)) == 2
    assert progress_verbosity(1, _Stream(tty=True)) == 1
    assert progress_verbosity(0, _Stream(tty=False)) == 0
