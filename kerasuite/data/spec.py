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
