"""Source specs (``tfds:NAME``, ``folder:PATH``, ``csv:PATH``, ``builtin:NAME``,
``synthetic:NAME``). Standard library only: config checks parse them before anything heavy loads."""

from __future__ import annotations

import dataclasses
from typing import Sequence

from kerasuite.errors import UserError

SCHEMES = ("tfds", "folder", "csv", "builtin", "synthetic")


@dataclasses.dataclass(frozen=True)
class SourceSpec:
    scheme: str
    target: str  # dataset name, path, or generator name

    def __str__(self) -> str:
        return f"{self.scheme}:{self.target}"


def parse_source(spec: str, allowed: Sequence[str] = SCHEMES) -> SourceSpec:
    scheme, sep, target = spec.partition(":")
    if not sep or scheme not in SCHEMES:
        raise UserError(
            f"--data {spec!r}: expected SCHEME:TARGET with SCHEME one of {', '.join(SCHEMES)}"
            " (e.g. builtin:digits, folder:path/to/images)"
        )
    if scheme not in allowed:
        raise UserError(f"--data {spec!r}: this task reads {', '.join(s + ':' for s in allowed)} sources")
    if not target:
        raise UserError(f"--data {spec!r}: missing the part after '{scheme}:'")
    return SourceSpec(scheme, target)


def synthetic_class_count(target: str, generator: str, default: int = 4) -> int:
    """``synthetic:GENERATOR`` or ``synthetic:GENERATOR-N`` -> its class count N (``default``
    without one); any other name is refused in one line. Standard library only, so the task's
    config check refuses a mistyped generator before TensorFlow loads."""
    base, _, count = target.partition("-")
    if base != generator or (count and not count.isdigit()) or (count and int(count) < 2):
        raise UserError(f"--data synthetic:{target}: unknown generator; use synthetic:{generator} "
                        f"or synthetic:{generator}-N (N >= 2)")
    return int(count or default)


SYNTHETIC_DEFAULTS = {"users": 300, "items": 200, "clusters": 8, "per_user": 20, "noise": 0.1, "features": 1}


def parse_synthetic(target: str) -> dict[str, float]:
    """The recommender generator's settings from
    ``clusters[,users=N][,items=N][,clusters=N][,per_user=N][,noise=F][,features=0|1]``."""
    name, *assignments = [part.strip() for part in target.split(",")]
    if name != "clusters":
        raise UserError(f"--data synthetic:{target}: the recommender generator is 'synthetic:clusters[,key=value...]'")
    params: dict[str, float] = dict(SYNTHETIC_DEFAULTS)
    for assignment in assignments:
        key, sep, value = assignment.partition("=")
        if not sep or key not in SYNTHETIC_DEFAULTS:
            raise UserError(f"--data synthetic:{target}: unknown setting {assignment!r}; use {', '.join(SYNTHETIC_DEFAULTS)}")
        try:
            params[key] = float(value)
        except ValueError:
            raise UserError(f"--data synthetic:{target}: {key} must be a number, got {value!r}") from None
    if params["users"] < 2 or params["items"] < params["clusters"] or params["clusters"] < 1 or params["per_user"] < 2:
        raise UserError(f"--data synthetic:{target}: need users >= 2, per_user >= 2, 1 <= clusters <= items")
    if not 0.0 <= params["noise"] <= 1.0:
        raise UserError(f"--data synthetic:{target}: noise must be in [0, 1]")
    return params


def check_synthetic(target: str, generator: str) -> None:
    """Refuse, in one line, a ``synthetic:`` target that ``generator``'s grammar does not take:
    the recommender's ``clusters[,key=value...]``, or a classifier's ``NAME[-N]``."""
    if generator == "clusters":
        parse_synthetic(target)
    else:
        synthetic_class_count(target, generator)
