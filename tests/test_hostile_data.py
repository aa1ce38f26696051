"""Data that used to crash mid-run (issue 18 item 6), grouped per data source: each is refused
before training in one line naming the file (and line), exit 2, nothing written."""

import struct

import numpy as np
import pytest

from test_hostile_input import refuse, write_wav


# ------------------------------------------------------------------------------ audio folders

def _float_wav(path, samples) -> None:
    payload = np.asarray(samples, "<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, 16000, 64000, 4, 32)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(payload)) + payload
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


AUDIO = {  # name -> (writer, culprit in the message)
    "random_bytes_after_header": (lambda p: p.write_bytes(b"RIFF\x00\x10\x00\x00WAVE" + np.random.default_rng(1).bytes(600)), "RIFF"),
    "nan_float_samples": (lambda p: _float_wav(p, [0.1, np.nan] * 2000), "NaN"),
}


@pytest.mark.parametrize("case", sorted(AUDIO))
def test_audio_folder_with_a_crashing_clip(tmp_path, capsys, case):
    data = tmp_path / "data"
    for word in ("yes", "no"):
        for i in range(10):  # enough that the default split holds some out for testing
            write_wav(data / word / f"{i}.wav", freq=300 + 50 * i)
    write, culprit = AUDIO[case]
    bad = data / "no" / "bad.wav"
    write(bad)
    refuse(capsys, tmp_path, "--task", "keyword_spotting", "--data", f"folder:{data}", culprits=(str(bad), culprit))


# ------------------------------------------------------------------------------- text folders

@pytest.mark.parametrize("content", ["", "   \n\n"])
def test_text_folder_of_empty_files(tmp_path, capsys, content):
    data = tmp_path / "data"
    for label in ("a", "b"):
        (data / label).mkdir(parents=True)
        for i in range(6):
            (data / label / f"{i}.txt").write_text(content)
    refuse(capsys, tmp_path, "--task", "text_classification", "--data", f"folder:{data}", culprits=(str(data), "empty"))


# -------------------------------------------------------------------------------- recommender CSV

def _rows(users=8, items=6):
    return [f"u{u},i{i},{(u + i) % 5 + 1},{1000 + u * 10 + i}" for u in range(users) for i in range(items)]


def _csv(path, rows, header="user_id,item_id,rating,timestamp"):
    path.write_text(header + "\n" + "\n".join(rows) + "\n")


def _huge_timestamp(path):
    rows = _rows()
    rows[3] = "u0,i3,4,99999999999999999999999"
    _csv(path, rows)


def _huge_field(path):
    rows = [f"{row},title" for row in _rows()]
    rows[4] = f"u0,i4,3,1004,\"{'x' * 200_000}\""
    _csv(path, rows, header="user_id,item_id,rating,timestamp,title")


def _one_interaction_each(path):
    _csv(path, [f"u{u},i{u % 5},4,{u}" for u in range(20)])


def _id_with_line_break(path):
    rows = _rows()
    rows[2] = '"u0\nu9",i2,3,1002'
    _csv(path, rows)


RECSYS = {  # name -> (writer, culprit beside the file name)
    "timestamp_beyond_int64": (_huge_timestamp, "line 5"),
    "field_over_128kB": (_huge_field, "not readable as CSV"),
    "every_user_one_interaction": (_one_interaction_each, "single interaction"),
    "id_with_line_break": (_id_with_line_break, "line break"),
}


@pytest.mark.parametrize("task", ["ranking", "retrieval"])
@pytest.mark.parametrize("case", sorted(RECSYS))
def test_recommender_csv_that_crashed(tmp_path, capsys, case, task):
    path = tmp_path / "ratings.csv"
    write, culprit = RECSYS[case]
    write(path)
    refuse(capsys, tmp_path, "--task", task, "--data", f"csv:{path}", culprits=(str(path), culprit))
