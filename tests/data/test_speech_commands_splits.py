"""A Speech Commands download as ``folder:`` data: its own split lists are honoured, and without
them a seeded split never puts one speaker (the name before ``_nohash_``) in two splits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from helpers import write_pcm
from kerasuite import config as cfg
from kerasuite.data import audio as audio_sources
from kerasuite.data.sources import LabelledFiles, speaker_groups, split_files, split_group

CLIP_STEP = 100  # clip k holds the constant sample k * CLIP_STEP, so a loaded clip says which file it was


def write_numbered_clips(root: Path, relative_paths: list[str]) -> dict[int, str]:
    """One short constant clip per path, numbered from 1; {number: relative path}."""
    numbered = {}
    for number, relative in enumerate(relative_paths, 1):
        write_pcm(root / relative, np.full((1, 1600), number * CLIP_STEP / 32767), 16000)
        numbered[number] = relative
    return numbered


def clip_numbers(dataset) -> list[int]:
    """The numbers of the clips in a split, in its order (the sample at the centre of the padded clip)."""
    return [int(samples.numpy()[8000]) // CLIP_STEP for samples, _ in dataset] if dataset is not None else []


def load(root: Path, **settings: str):
    config = cfg.resolve({}, {"task": "keyword_spotting", **settings})
    return audio_sources.load(f"folder:{root}", config)


# ------------------------------------------------------------------- without the marker


# A folder without Speech Commands names, and the splits it had before speakers were grouped
# (recorded from the per-file split at commit 1ab4031): train in its training order, validation, test.
PLAIN_NAMES = [f"{word}/{i}.wav" if i < 4 else f"{word}/{word}{i}.wav" for word in ("down", "go", "up") for i in range(8)]
PLAIN_SPLITS = {
    3: ([15, 21, 5, 24, 16, 11, 18, 23, 3, 4, 22, 2, 12, 6, 9, 8, 7], [1, 10, 14, 17, 19, 20], [13]),
    11: ([5, 21, 10, 16, 3, 15, 8, 19, 7, 22, 6, 18, 13, 2], [4, 11, 12, 20, 23], [1, 9, 14, 17, 24]),
}


@pytest.mark.parametrize("seed", sorted(PLAIN_SPLITS))
def test_a_folder_without_speaker_names_splits_exactly_as_before(tmp_path, seed):
    write_numbered_clips(tmp_path, PLAIN_NAMES)
    raw = load(tmp_path, **{"data.test_fraction": "0.25", "data.validation_fraction": "0.25", "seed": str(seed)})
    assert (clip_numbers(raw.train), clip_numbers(raw.validation), clip_numbers(raw.test)) == PLAIN_SPLITS[seed]
    assert raw.test_source is None and raw.validation_source is None and not raw.split_by_speaker


def test_a_name_without_the_marker_is_its_own_group():
    assert split_group("/d/yes/bb05582b_nohash_3.wav") == "bb05582b"
    assert split_group("/d/yes/take_3.wav") == "take_3.wav"
    assert speaker_groups(["/d/yes/a.wav", "/d/no/b.wav"]) is None  # the per-file split stays
    assert speaker_groups(["/d/yes/a.wav", "/d/no/c1_nohash_0.wav"]) == ["a.wav", "c1"]
    files = LabelledFiles([f"/d/x/{i}.wav" for i in range(40)], np.zeros(40, np.int64))
    for before, after in zip(split_files(files, 0.3, seed=5), split_files(files, 0.3, seed=5, by_speaker=True)):
        assert before.paths == after.paths


# ---------------------------------------------------------------------- speakers kept whole


def speaker_name(number: int) -> str:
    return f"{number:04x}beef"  # Speech Commands' are 8 hex digits


def speech_commands_names(words=("no", "up", "yes"), speakers=20, repetitions=3) -> list[str]:
    """Speech Commands' naming: a speaker says a word one or more times."""
    names = []
    for w, word in enumerate(words):
        for s in range(speakers):
            for n in range((s + w) % repetitions + 1):
                names.append(f"{word}/{speaker_name(s)}_nohash_{n}.wav")
    return names


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_without_lists_no_speaker_is_in_two_splits(tmp_path, seed):
    numbered = write_numbered_clips(tmp_path, speech_commands_names())
    write_pcm(tmp_path / "_background_noise_" / "hum.wav", np.full((1, 20000), 0.1), 16000)
    raw = load(tmp_path, **{"data.test_fraction": "0.25", "data.validation_fraction": "0.25", "seed": str(seed)})
    splits = {"train": clip_numbers(raw.train), "validation": clip_numbers(raw.validation),
              "test": clip_numbers(raw.test)}
    assert sorted(sum(splits.values(), [])) == sorted(numbered)  # every clip once
    speakers = {split: {split_group(numbered[n]) for n in numbers} for split, numbers in splits.items()}
    assert all(speakers.values()), speakers  # 20 speakers: each split gets some
    assert not speakers["train"] & speakers["test"]
    assert not speakers["train"] & speakers["validation"]
    assert not speakers["validation"] & speakers["test"]
    assert raw.split_by_speaker and raw.test_source is None and raw.validation_source is None


# ------------------------------------------------------------------------ the data set's lists


def speech_commands_folder(root: Path, test: list[str] | None, validation: list[str] | None) -> dict[int, str]:
    """Speech Commands' layout: class folders of ``<speaker>_nohash_<n>.wav``, background noise,
    the README and LICENSE, and the lists given (None: no such file)."""
    numbered = write_numbered_clips(root, speech_commands_names(speakers=8))
    write_pcm(root / "_background_noise_" / "white_noise.wav", np.full((1, 20000), 0.1), 16000)
    (root / "_background_noise_" / "README.md").write_text("noise\n")
    (root / "README.md").write_text("Speech Commands\n")
    (root / "LICENSE").write_text("CC BY 4.0\n")
    for name, entries in (("testing_list.txt", test), ("validation_list.txt", validation)):
        if entries is not None:
            (root / name).write_text("".join(f"{entry}\n" for entry in entries))
    return numbered


def by_speaker(numbered: dict[int, str], *speakers: int) -> list[str]:
    return [path for path in numbered.values() if split_group(path) in {speaker_name(s) for s in speakers}]


def numbers_of(numbered: dict[int, str], paths: list[str]) -> list[int]:
    return sorted(number for number, path in numbered.items() if path in paths)


def test_the_lists_are_the_test_and_validation_splits_and_every_other_clip_trains(tmp_path):
    names = speech_commands_names(speakers=8)
    test, validation = by_speaker(dict(enumerate(names)), 0, 5), by_speaker(dict(enumerate(names)), 3)
    # as the download has them, but with a blank line, a Windows line end and a "./" to forgive
    numbered = speech_commands_folder(tmp_path, ["", *test[:-1], f"./{test[-1]}\r"], validation)
    raw = load(tmp_path, **{"data.test_fraction": "0.5", "data.validation_fraction": "0.5"})  # the lists win
    assert sorted(clip_numbers(raw.test)) == numbers_of(numbered, test)
    assert sorted(clip_numbers(raw.validation)) == numbers_of(numbered, validation)
    assert sorted(clip_numbers(raw.train)) == numbers_of(numbered, [p for p in names if p not in test + validation])
    assert raw.class_names == ["no", "up", "yes"] and raw.noise_source == str(tmp_path / "_background_noise_")
    assert raw.test_source == str(tmp_path / "testing_list.txt")
    assert raw.validation_source == str(tmp_path / "validation_list.txt")
    assert not raw.split_by_speaker  # nothing was split at random


def test_lists_saved_with_a_byte_order_mark_are_read(tmp_path):
    """Windows editors (Notepad) start a UTF-8 file with a byte order mark: the first entry is
    still the clip it names, not "no such file"."""
    names = speech_commands_names(speakers=8)
    test, validation = by_speaker(dict(enumerate(names)), 0, 5), by_speaker(dict(enumerate(names)), 3)
    numbered = speech_commands_folder(tmp_path, None, None)
    for list_name, entries in (("testing_list.txt", test), ("validation_list.txt", validation)):
        (tmp_path / list_name).write_text("\ufeff" + "".join(f"{entry}\r\n" for entry in entries), encoding="utf-8")
    raw = load(tmp_path)
    assert sorted(clip_numbers(raw.test)) == numbers_of(numbered, test)
    assert sorted(clip_numbers(raw.validation)) == numbers_of(numbered, validation)

def test_a_testing_list_alone_leaves_validation_to_a_split_by_speaker(tmp_path):
    names = speech_commands_names(speakers=8)
    test = by_speaker(dict(enumerate(names)), 1, 6)
    numbered = speech_commands_folder(tmp_path, test, None)
    raw = load(tmp_path, **{"data.validation_fraction": "0.4"})
    assert sorted(clip_numbers(raw.test)) == numbers_of(numbered, test)
    train, validation = ({split_group(numbered[n]) for n in clip_numbers(split)} for split in (raw.train, raw.validation))
    assert validation and not train & validation
    assert not (train | validation) & {split_group(path) for path in test}
    assert raw.test_source == str(tmp_path / "testing_list.txt") and raw.validation_source is None
    assert raw.split_by_speaker


def test_a_validation_list_alone_leaves_test_to_a_split_by_speaker(tmp_path):
    names = speech_commands_names(speakers=8)
    validation = by_speaker(dict(enumerate(names)), 2)
    numbered = speech_commands_folder(tmp_path, None, validation)
    raw = load(tmp_path, **{"data.test_fraction": "0.4"})
    assert sorted(clip_numbers(raw.validation)) == numbers_of(numbered, validation)
    train, test = ({split_group(numbered[n]) for n in clip_numbers(split)} for split in (raw.train, raw.test))
    assert test and not train & test and speaker_name(2) not in train | test
    assert raw.test_source is None and raw.validation_source == str(tmp_path / "validation_list.txt")
    assert raw.split_by_speaker


@pytest.mark.parametrize("layout,culprits", [
    ("test_folder_too", ("train/ and test/ folders", "testing_list.txt")),
    ("every_clip_listed", ("every clip of up/", "testing_list.txt")),
    ("empty_list", ("testing_list.txt", "names no clips")),
    ("not_text", ("testing_list.txt", "UTF-8")),
])
def test_lists_that_cannot_be_the_splits_are_refused_in_one_line(tmp_path, layout, culprits):
    from kerasuite.errors import UserError

    names = speech_commands_names(speakers=8)
    speech_commands_folder(tmp_path, [names[0]], None)
    if layout == "test_folder_too":  # then train/ and test/ are the splits, and the lists would be ignored
        for split in ("train", "test"):
            for word in ("no", "yes"):
                write_pcm(tmp_path / split / word / "a.wav", np.zeros((1, 160)), 16000)
    elif layout == "every_clip_listed":
        (tmp_path / "testing_list.txt").write_text("\n".join(p for p in names if p.startswith("up/")))
    elif layout == "empty_list":
        (tmp_path / "testing_list.txt").write_text("\n \n")
    else:
        (tmp_path / "testing_list.txt").write_bytes(b"RIFF\xff\xfe\x00WAVE")
    with pytest.raises(UserError) as error:
        load(tmp_path)
    message = str(error.value)
    assert "\n" not in message and all(culprit in message for culprit in culprits), message


# ------------------------------------------------------------------------------ through the CLI


@pytest.mark.parametrize("case,entry,culprits", [
    ("missing", "yes/ffffbeef_nohash_0.wav", ("no such file",)),
    ("outside", "stray.wav", ("not a .wav clip in a class folder",)),
    ("parent", "../elsewhere/yes.wav", ("not a .wav clip in a class folder",)),
    ("folder", ".", ("not a .wav clip in a class folder",)),
    ("noise", "_background_noise_/white_noise.wav", ("background noise",)),
])
def test_a_bad_list_entry_is_one_line_naming_the_list_line_and_entry(tmp_path, capsys, case, entry, culprits):
    from helpers import assert_one_line_error, run_main

    data = tmp_path / "data"
    names = speech_commands_names(speakers=8)
    speech_commands_folder(data, [names[0], entry, names[1]], [names[2]])
    write_pcm(data / "stray.wav", np.zeros((1, 160)), 16000)
    write_pcm(tmp_path / "elsewhere" / "yes.wav", np.zeros((1, 160)), 16000)
    run_dir = tmp_path / "run"
    done = run_main(capsys, "--task", "keyword_spotting", "--data", f"folder:{data}", "--run-dir", str(run_dir),
                    "--export", "none")
    assert_one_line_error(done, 2, f"{data / 'testing_list.txt'} line 2: {entry}", *culprits)
    assert not run_dir.exists()


def test_a_clip_in_both_lists_is_one_line_naming_both(tmp_path, capsys):
    from helpers import assert_one_line_error, run_main

    names = speech_commands_names(speakers=8)
    speech_commands_folder(tmp_path / "data", [names[0], names[5]], [names[1], names[2], names[5]])
    done = run_main(capsys, "--task", "keyword_spotting", "--data", f"folder:{tmp_path / 'data'}",
                    "--run-dir", str(tmp_path / "run"), "--export", "none")
    assert_one_line_error(done, 2, f"{tmp_path / 'data' / 'validation_list.txt'} line 3: {names[5]}: also in",
                          f"{tmp_path / 'data' / 'testing_list.txt'} (line 2)")


def test_a_run_names_the_list_it_tested_on_and_its_speaker_split(tmp_path, capsys):
    from helpers import run_main

    data = tmp_path / "data"
    names = speech_commands_names(speakers=8)
    speech_commands_folder(data, by_speaker(dict(enumerate(names)), 0, 4), None)
    run_dir = tmp_path / "run"
    done = run_main(capsys, "--task", "keyword_spotting", "--data", f"folder:{data}", "--run-dir", str(run_dir),
                    "--export", "none", "--epochs", "1", "--set", "preset=tiny", "train.check_baseline=false")
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((run_dir / "metrics.json").read_text())
    assert report["test_source"] == str(data / "testing_list.txt") and report["split_by_speaker"] is True
    assert "validation_source" not in report  # carved from training, by speaker
    assert f"test split read from {data / 'testing_list.txt'}" in done.stdout
    assert "seeded splits keep each speaker's clips together" in done.stdout


# ------------------------------------------------------------------------- few speakers


def _seed_where(condition) -> int:
    from kerasuite.data.sources import stable_fraction

    return next(seed for seed in range(1000) if condition(lambda key: stable_fraction(key, seed)))


@pytest.mark.parametrize("case", ["validation_takes_the_rest", "test_takes_all"])
def test_a_split_by_speaker_that_leaves_no_training_speaker_is_refused(tmp_path, case):
    """Two speakers (one's own recordings, named as Speech Commands names them): a seeded split by
    speaker can hold every one of them out. The validation carve then left training empty and the
    run 'trained' 0 epochs on 0 examples; the test split named it unreadable files."""
    from kerasuite.errors import UserError

    write_numbered_clips(tmp_path, [f"{word}/{who}_nohash_{n}.wav" for word in ("no", "yes")
                                    for who in ("alice", "bob") for n in range(3)])
    if case == "validation_takes_the_rest":  # one speaker tested, the other drawn for validation
        seed = _seed_where(lambda h: (h("alice") < 0.2) != (h("bob") < 0.2)
                           and h("validation:bob" if h("alice") < 0.2 else "validation:alice") < 0.1)
    else:
        seed = _seed_where(lambda h: h("alice") < 0.2 and h("bob") < 0.2)
    with pytest.raises(UserError) as error:
        load(tmp_path, seed=str(seed))
    message = str(error.value)
    held = "validation" if case == "validation_takes_the_rest" else "test"
    assert "too few speakers" in message and held in message and "\n" not in message, message
