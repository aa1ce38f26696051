"""Which TFDS splits a run trains, validates and tests on.

TFDS data sets come with different splits: ``mnist`` has train and test, ``beans`` train,
validation and test, ``imagenette`` train and validation, ``tf_flowers`` and ``eurosat`` only
train. A data set's own held-out splits are used as they are; what it lacks is carved out of its
training split with ``data.test_fraction`` / ``data.validation_fraction`` (TFDS percent slices:
deterministic, and the same in every process, so a resumed run sees the same examples).
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class SplitPlan:
    train: str
    validation: str | None  # None: no validation split (data.validation_fraction 0)
    test: str


def _percent(fraction: float) -> int:
    return int(round(fraction * 100))


def held_out_splits(available: set[str], hidden_test_labels: bool = False) -> tuple[str | None, str | None]:
    """(test, validation): the data set's own held-out split names, None where it has none.

    ``available``: the data set's split names (callers assume the standard ones when TFDS does
    not know them yet, e.g. under ``tfds.testing.mock_data`` without metadata files).
    ``hidden_test_labels``: the test split's labels are withheld (GLUE's are all -1), so the
    validation split tests instead, as papers report on GLUE."""
    if "train" not in available:
        raise ValueError(f"no 'train' split (has {', '.join(sorted(available))})")
    test = "test" if "test" in available and not hidden_test_labels else None
    validation = "validation" if "validation" in available else None
    if test is None and validation is not None:
        test, validation = validation, None
    return test, validation


def plan_splits(available: set[str], test_fraction: float, validation_fraction: float) -> SplitPlan:
    """The data set's own held-out splits, and percent slices of train for what it lacks (for
    sources read as streams; in-memory sources carve seeded, stratified subsets instead)."""
    test, validation = held_out_splits(available)
    test_pct = 0
    if test is None:
        test_pct = max(1, _percent(test_fraction))
        test = f"train[:{test_pct}%]"
    if validation is None:
        # validation_fraction is a fraction of what the test split leaves, as for folders
        validation_pct = _percent(validation_fraction * (100 - test_pct) / 100)
        if validation_pct:
            validation = f"train[{test_pct}%:{test_pct + validation_pct}%]"
            return SplitPlan(f"train[{test_pct + validation_pct}%:]", validation, test)
    return SplitPlan(f"train[{test_pct}%:]" if test_pct else "train", validation, test)
