"""MediaPipe Tasks for the web: an exported image classifier in ``@mediapipe/tasks-vision``
inside headless Chromium scores like the LiteRT Interpreter (tools/check_mediapipe_web.py).

Marked ``web`` (deselected by the README's test command, which installs no browser); ``.ci/run``
installs Chromium and runs ``python -m pytest -m web``."""

from __future__ import annotations

import json
import sys

import pytest

from helpers import REPO, run_tiny

pytestmark = pytest.mark.web


def test_the_web_image_classifier_scores_like_the_interpreter_and_the_check_can_fail(tmp_path):
    sys.path.insert(0, str(REPO / "tools"))
    import check_mediapipe_web

    run_tiny("image_classification", tmp_path, modes="float32,int8_float_io")
    bundle = tmp_path / "bundle"
    verdicts_file = tmp_path / "web.json"
    work = tmp_path / "web"
    assert check_mediapipe_web.main([str(bundle), "--work", str(work), "--json", str(verdicts_file)]) == 0
    verdicts = json.loads(verdicts_file.read_text())
    assert set(verdicts) == {"float32", "int8_float_io"}
    for verdict in verdicts.values():
        assert verdict["passed"] and verdict["examples"] > 0 and verdict["top1_agreement"] == 1.0
        assert verdict["max_abs_diff_vs_interpreter"] <= 1e-4
    # the same comparison with no tolerance left fails, exit 1
    assert check_mediapipe_web.main([str(bundle), "--work", str(work), "--tolerance", "-1"]) == 1
