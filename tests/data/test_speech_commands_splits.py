"""A Speech Commands download as ``folder:`` data: its own split lists are honoured, and without
them a seeded split never puts one speaker (the name before ``_nohash_``) in two splits."""

from __future__ import annotations

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
# (recorded from the per-file split): train in its training order, validation, test.
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
    assert raw.validation_source is None and not raw.split_by_speaker


def test_a_name_without_the_marker_is_its_own_group():
    assert split_group("/d/yes/bb05582b_nohash_3.wav") == "bb05582b"
    assert split_group("/d/yes/take_3.wav") == "take_3.wav"
    assert speaker_groups(["/d/yes/a.wav", "/d/no/b.wav"]) is None  # the per-file split stays
    assert speaker_groups(["/d/yes/a.wav", "/d/no/c1_nohash_0.wav"]) == ["a.wav", "c1"]
    files = LabelledFiles([f"/d/x/{i}.wav" for i in range(40)], np.zeros(40, np.int64))
    for before, after in zip(split_files(files, 0.3, seed=5), split_files(files, 0.3, seed=5, by_speaker=True)):
        assert before.paths == after.paths


# ---------------------------------------------------------------------- speakers kept whole


def speech_commands_names(words=("no", "up", "yes"), speakers=20, repetitions=3) -> list[str]:
    """Speech Commands' naming: not every speaker says every word, nor as often."""
    names = []
    for w, word in enumerate(words):
        for s in range(speakers):
            for n in range((s + w) % repetitions + 1):
                names.append(f"{word}/{s:04x}beef_nohash_{n}.wav")
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
    assert raw.split_by_speaker and raw.validation_source is None
