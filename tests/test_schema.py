"""The declarative value rules of config fields (kerasuite.schema) on a toy section."""

from dataclasses import dataclass, field
from typing import Optional

import pytest

from kerasuite.schema import ConfigError, check, setting


@dataclass
class Inner:
    rate: float = setting(0.5, min=0.0, below=1.0)

    def validate(self, prefix: str) -> None:
        if self.rate == 0.25:
            raise ConfigError(f"{prefix}rate: 0.25 is reserved")


@dataclass
class Toy:
    count: int = setting(1, min=1, max=10)
    scale: float = setting(1.0, above=0.0)
    mode: str = setting("a", choices=("a", "b"))
    sizes: tuple[int, ...] = setting((4,), min=1, nonempty=True)
    cap: Optional[float] = setting(None, above=0.0)
    label: str = setting("", max_length=5)
    column: str = setting("text", nonempty=True)
    free: float = 0.0  # no rules, but still finite
    inner: Inner = field(default_factory=Inner)


@pytest.mark.parametrize("changes,message", [
    ({"count": 0}, "count: must be in [1, 10], got 0"),
    ({"count": 11}, "count: must be in [1, 10], got 11"),
    ({"scale": 0.0}, "scale: must be above 0.0, got 0.0"),
    ({"mode": "c"}, "mode: unknown value 'c'; choose from a, b"),
    ({"sizes": ()}, "sizes: needs at least one value"),
    ({"sizes": (4, 0)}, "sizes: must be at least 1, got 0"),
    ({"cap": -1.0}, "cap: must be above 0.0, got -1.0"),
    ({"label": "toolong"}, "label: at most 5 characters, got 7"),
    ({"column": ""}, "column: must not be empty"),
    ({"column": "  "}, "column: must not be empty"),
    ({"free": float("nan")}, "free: must be a finite number, got nan"),
    ({"inner": Inner(rate=1.0)}, "inner.rate: must be in [0.0, 1.0), got 1.0"),
    ({"inner": Inner(rate=0.25)}, "inner.rate: 0.25 is reserved"),
])
def test_each_rule_refuses_with_the_key_path(changes, message):
    with pytest.raises(ConfigError) as error:
        check(Toy(**changes), "section.")
    assert str(error.value) == f"section.{message}"


def test_values_inside_the_rules_pass():
    check(Toy(count=10, scale=1e-9, mode="b", sizes=(1, 2), cap=None, label="five!", inner=Inner(rate=0.0)))
