"""Declarative value rules for config dataclasses, and the checker that enforces them.

A rule sits next to the field it guards (``filters: tuple[int, ...] = setting((16,), min=1,
nonempty=True)``), so a new hyperparameter carries its own range and every range is checked in
one place, before TensorFlow loads. Rules a single field cannot express (``upper_hz >
lower_hz``) go in the dataclass's ``validate(prefix)`` method. Pure Python: no TensorFlow here.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

from kerasuite.errors import UserError


class ConfigError(UserError, ValueError):
    """A user-facing configuration problem; its message is one line naming the key or file."""


def setting(default: Any, *, min: float | None = None, max: float | None = None, above: float | None = None,
            below: float | None = None, choices: Sequence[str] | None = None, nonempty: bool = False,
            max_length: int | None = None) -> Any:
    """A dataclass field with value rules: ``min``/``max`` inclusive, ``above``/``below``
    exclusive, ``choices`` for strings, ``nonempty`` for tuples and strings (more than spaces),
    ``max_length`` for strings.
    Numeric rules apply to every item of a tuple. Floats must always be finite."""
    rules = {name: value for name, value in (("min", min), ("max", max), ("above", above), ("below", below),
                                            ("choices", tuple(choices) if choices else None),
                                            ("nonempty", nonempty or None), ("max_length", max_length))
             if value is not None}
    return dataclasses.field(default=default, metadata={"rules": rules})


def describe_rules(rules: dict[str, Any]) -> str:
    """``{"min": 0, "below": 1}`` -> ``in [0, 1)``; ``{"min": 1}`` -> ``at least 1``."""
    if "choices" in rules:
        return "one of " + ", ".join(rules["choices"])
    low = f"[{rules['min']}" if "min" in rules else f"({rules['above']}" if "above" in rules else None
    high = f"{rules['max']}]" if "max" in rules else f"{rules['below']})" if "below" in rules else None
    if low and high:
        return f"in {low}, {high}"
    if low:
        return f"at least {rules['min']}" if "min" in rules else f"above {rules['above']}"
    return f"at most {rules['max']}" if "max" in rules else f"below {rules['below']}"


def _check_scalar(key: str, value: Any, rules: dict[str, Any]) -> None:
    if value is None:
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{key}: must be a finite number, got {value}")
    if isinstance(value, str):
        if "choices" in rules and value not in rules["choices"]:
            raise ConfigError(f"{key}: unknown value {value!r}; choose from {', '.join(rules['choices'])}")
        if "max_length" in rules and len(value) > rules["max_length"]:
            raise ConfigError(f"{key}: at most {rules['max_length']} characters, got {len(value)}")
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    bad = (("min" in rules and value < rules["min"]) or ("max" in rules and value > rules["max"])
           or ("above" in rules and value <= rules["above"]) or ("below" in rules and value >= rules["below"]))
    if bad:
        raise ConfigError(f"{key}: must be {describe_rules(rules)}, got {value}")


def check(section: Any, prefix: str = "") -> None:
    """Every field's rules, depth first, then each section's own ``validate(prefix)``."""
    for item in dataclasses.fields(section):
        key, value = f"{prefix}{item.name}", getattr(section, item.name)
        if dataclasses.is_dataclass(value):
            check(value, f"{key}.")
            continue
        rules = item.metadata.get("rules", {})
        if isinstance(value, tuple):
            if rules.get("nonempty") and not value:
                raise ConfigError(f"{key}: needs at least one value")
            for element in value:
                _check_scalar(key, element, rules)
        else:
            if rules.get("nonempty") and isinstance(value, str) and not value.strip():
                raise ConfigError(f"{key}: must not be empty")
            _check_scalar(key, value, rules)
    validate = getattr(section, "validate", None)
    if callable(validate):
        validate(prefix)
