"""Every command the README quotes still runs as written: its script exists, each flag is one the
script's parser knows, and every `python -m kerasuite.train` command with concrete settings
resolves to a valid config. The README cites these commands as the way to rerun its figures, so a
renamed flag or config key must fail here, not in a reader's terminal."""

from __future__ import annotations

import functools
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO

COMMAND = re.compile(r"`((?:PYTHONPATH=\. )?python (?:tools/[\w/]+\.py|-m kerasuite(?:\.\w+)+)\b[^`]*)`")
# Words the README puts where a reader fills in a value: RUN, DATA, S, 0.1,0.2 ... and "...".
PLACEHOLDER = re.compile(r"^(\.\.\.|\[?[A-Z][A-Z0-9_.]*\]?|.*=[A-Z]+|.*[:/][A-Z][A-Z0-9_]+|.*\.\.\.)$")
# Quoted as what a usage mistake looks like: these must stay refused.
REFUSED_ON_PURPOSE = {"python -m kerasuite.train --task keyword_spotting --set model.mfcc.num_mel_bins=0"}


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    commands = {" ".join(match.split()) for match in COMMAND.findall(text)}
    # "A ; B" quotes several runs of one tool (a benchmark's merged runs)
    return sorted({part.strip() for command in commands for part in command.split(";") if part.strip()})


def script_of(tokens: list[str]) -> tuple[str, list[str]]:
    """(``tools/x.py`` or ``kerasuite.module``, the arguments after it)."""
    tokens = tokens[1:] if tokens[0] == "PYTHONPATH=." else tokens
    assert tokens[0] == "python", tokens
    if tokens[1] == "-m":
        return tokens[2], tokens[3:]
    return tokens[1], tokens[2:]


@functools.cache
def known_flags(script: str) -> frozenset[str]:
    command = [sys.executable, "-m", script] if not script.endswith(".py") else [sys.executable, script]
    done = subprocess.run([*command, "--help"], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, f"{script} --help exited {done.returncode}: {done.stderr[-500:]}"
    return frozenset(re.findall(r"(?<![\w-])(--[a-z][\w-]*)", done.stdout))


COMMANDS = readme_commands()


def test_the_readme_quotes_commands():
    # the pattern above must keep finding them: an empty list would pass every test below
    assert len(COMMANDS) > 50
    assert any(c.startswith("python -m kerasuite.train") for c in COMMANDS)
    assert any("tools/benchmarking/" in c for c in COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_quoted_command_names_a_script_and_flags_it_knows(command):
    tokens = shlex.split(command)
    script, arguments = script_of(tokens)
    if script.endswith(".py"):
        assert (REPO / script).is_file(), f"README quotes {script}, which does not exist"
    else:
        module = REPO / (script.replace(".", "/") + ".py")
        assert module.is_file() or (REPO / script.replace(".", "/") / "__main__.py").is_file(), \
            f"README quotes python -m {script}, which is no module here"
    own = arguments[:arguments.index("--")] if "--" in arguments else arguments  # after "--": another command's
    flags = [token.split("=", 1)[0] for token in own if token.startswith("--")]
    unknown = sorted(set(flags) - known_flags(script))
    assert not unknown, f"README: `{command}` uses {unknown}, which {script} --help does not list"


TRAIN_COMMANDS = [c for c in COMMANDS if re.match(r"(PYTHONPATH=\. )?python -m kerasuite\.train\b", c)]


def concrete(command: str) -> bool:
    return not any(PLACEHOLDER.match(token) for token in shlex.split(command)[3:])


def resolve_quoted(command: str, folder: Path):
    """The config the command would train with, resolved in ``folder``, where the data it names
    exists as an empty folder: the README's data sets are built by tools, not kept here."""
    from kerasuite import train

    _, arguments = script_of(shlex.split(command))
    args = train.build_parser().parse_args(arguments)
    if args.config:
        args.config = str(REPO / args.config)
    scheme, _, target = (args.data or "").partition(":")
    if scheme in ("folder", "csv") and target:
        (folder / target).mkdir(parents=True, exist_ok=True)
    return train.resolve_config(args)


@pytest.mark.parametrize("command", [c for c in TRAIN_COMMANDS if concrete(c) and c not in REFUSED_ON_PURPOSE
                                     and "--help" not in c])
def test_quoted_training_command_resolves_to_a_valid_config(command, tmp_path, monkeypatch):
    from kerasuite.errors import UserError

    monkeypatch.chdir(tmp_path)
    try:
        resolve_quoted(command, tmp_path)
    except UserError as error:
        pytest.fail(f"README: `{command}` is refused: {error}")


@pytest.mark.parametrize("command", sorted(REFUSED_ON_PURPOSE))
def test_commands_quoted_as_usage_mistakes_are_refused(command, tmp_path, monkeypatch):
    from kerasuite.errors import UserError

    assert command in TRAIN_COMMANDS, "the README no longer quotes it: drop it here"
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError):
        resolve_quoted(command, tmp_path)


# Tools that train keyword models pass their --set on to kerasuite.train's config.
SET_FOR_TASK = {"tools/benchmark_speech.py": "keyword_spotting", "tools/benchmark_kws_budget.py": "keyword_spotting"}


def set_values_of(arguments: list[str]) -> list[str]:
    values, taking = [], False
    for token in arguments:
        if token.startswith("--"):
            taking = token == "--set"
        elif taking:
            values.append(token)
    return values


TOOL_SETTINGS = sorted({(script_of(shlex.split(c))[0], " ".join(set_values_of(script_of(shlex.split(c))[1])))
                        for c in COMMANDS if script_of(shlex.split(c))[0] in SET_FOR_TASK} - {(s, "") for s in SET_FOR_TASK})


@pytest.mark.parametrize("script, settings", TOOL_SETTINGS)
def test_quoted_tool_settings_are_valid_config(script, settings):
    from kerasuite import config as cfg
    from kerasuite.errors import UserError

    try:
        cfg.resolve(set_values=cfg.parse_set(settings.split()), flag_values={"task": SET_FOR_TASK[script]})
    except UserError as error:
        pytest.fail(f"README: {script} --set {settings} is refused: {error}")


def test_most_training_commands_are_checked_in_full():
    # placeholders (RUN, S, ...) excuse a command from the config check; a dozen must still get it
    checked = [c for c in TRAIN_COMMANDS if concrete(c)]
    assert len(checked) >= 12, (len(checked), len(TRAIN_COMMANDS))
    assert len(TOOL_SETTINGS) >= 5, TOOL_SETTINGS


def test_placeholder_and_flag_checks_can_fail():
    assert not concrete("python -m kerasuite.train --task keyword_spotting --seed S")
    assert not concrete("python -m kerasuite.train --task keyword_spotting --set ...")
    assert not concrete("python -m kerasuite.train --data csv:data/CORPUS --set train.epochs=1 [SETTINGS]")
    assert concrete("python -m kerasuite.train --task keyword_spotting --seed 1 --set model.mfcc.amin=0.002")
    assert "--no-such-flag" not in known_flags("kerasuite.train")
    assert "--seed" in known_flags("kerasuite.train")
