"""MediaPipe Tasks for the web: exported image and keyword classifiers in ``@mediapipe/tasks-vision``
and ``tasks-audio`` inside headless Chromium score like the LiteRT Interpreter
(tools/check_mediapipe_web.py).

The browser tests are marked ``web`` (deselected by the README's test command, which installs no
browser); ``.ci/run`` installs Chromium and runs ``python -m pytest -m web``."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from helpers import REPO, run_tiny


def _tool():
    sys.path.insert(0, str(REPO / "tools"))
    import check_mediapipe_web

    return check_mediapipe_web


def test_bad_input_is_one_line_and_exit_2_before_any_browser_or_npm(tmp_path, capsys):
    tool = _tool()
    assert tool.main([str(tmp_path / "nope"), "--chromium", sys.executable]) == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'nope'}: not a bundle folder"
    assert tool.main([str(tmp_path), "--chromium", str(tmp_path / "no-chromium")]) == 2
    assert "--chromium: no Chromium found" in capsys.readouterr().err
    assert tool.main([str(tmp_path), "--chromium", sys.executable, "--tolerance", "-1"]) == 2
    assert capsys.readouterr().err.strip() == "error: --tolerance -1.0: must be above 0"
    np.savez(tmp_path / "golden.npz", input__token_ids=np.zeros((2, 8), np.int32), keras_output=np.zeros((2, 3)))
    assert tool.main([str(tmp_path), "--chromium", sys.executable, "--work", str(tmp_path / "web")]) == 2
    assert "not an image, keyword or word-id text classifier's golden file" in capsys.readouterr().err
    assert not (tmp_path / "web").exists()  # refused before npm ran
    (tmp_path / "golden.npz").write_bytes(b"not a zip")
    assert tool.main([str(tmp_path), "--chromium", sys.executable]) == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'golden.npz'}: not a readable .npz (ValueError)"
    np.savez(tmp_path / "golden.npz", input__image=np.zeros((2, 4, 4, 3), np.float32))
    (tmp_path / "model_float32.tflite").write_bytes(b"garbage")
    assert tool.main([str(tmp_path), "--chromium", sys.executable, "--work", str(tmp_path / "web")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "model_float32.tflite" in err[0] and "Traceback" not in err[0]
    assert not (tmp_path / "web").exists()


def _web_verdicts(tmp_path, *extra_args: str) -> tuple[int, dict]:
    """(exit code, verdicts) of the web check on ``tmp_path / "bundle"``."""
    verdicts_file = tmp_path / "web.json"
    verdicts_file.unlink(missing_ok=True)
    code = _tool().main([str(tmp_path / "bundle"), "--work", str(tmp_path / "web"), "--json", str(verdicts_file),
                         *extra_args])
    return code, json.loads(verdicts_file.read_text())


def _assert_both_files_pass(tmp_path) -> None:
    code, verdicts = _web_verdicts(tmp_path)
    assert code == 0 and set(verdicts) == {"float32", "int8_float_io"}, verdicts
    for verdict in verdicts.values():
        assert verdict["passed"] and verdict["examples"] > 0 and verdict["top1_agreement"] == 1.0, verdict
        assert verdict["max_abs_diff_vs_interpreter"] <= 1e-4, verdict


@pytest.mark.web
def test_the_web_image_classifier_scores_like_the_interpreter_and_the_check_can_fail(tmp_path, monkeypatch):
    from kerasuite.runtime.interpreter import TFLiteModel

    run_tiny("image_classification", tmp_path, modes="float32,int8_float_io")
    _assert_both_files_pass(tmp_path)
    # the same browser run against a reference off by 0.01 (100x the tolerance) fails, exit 1
    predict = TFLiteModel.predict
    monkeypatch.setattr(TFLiteModel, "predict", lambda self, *args, **kwargs: predict(self, *args, **kwargs) + 0.01)
    code, verdicts = _web_verdicts(tmp_path)
    assert code == 1 and not any(verdict["passed"] for verdict in verdicts.values())
    assert all(verdict["max_abs_diff_vs_interpreter"] >= 0.009 for verdict in verdicts.values()), verdicts


@pytest.mark.web
def test_the_web_audio_classifier_scores_keyword_clips_like_the_interpreter(tmp_path):
    # parity with the browser is the point, not learning: a few epochs on tones may not beat the majority
    run_tiny("keyword_spotting", tmp_path, modes="float32,int8_float_io", extra={"train.check_baseline": "false"})
    _assert_both_files_pass(tmp_path)


@pytest.mark.web
def test_the_web_text_classifier_tokenizes_like_the_bundle_and_scores_like_the_interpreter(tmp_path):
    run_tiny("text_classification", tmp_path, modes="float32,int8_float_io", family="transformer",
             extra={"model.transformer.embedding_dim": "8", "model.transformer.num_heads": "1",
                    "model.transformer.ff_dim": "8", "model.transformer.num_blocks": "1",
                    "train.check_baseline": "false"})
    _assert_both_files_pass(tmp_path)
