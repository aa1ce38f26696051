"""The task registry: task name -> the module holding its :class:`~kerasuite.config.TaskSpec`.

Adding a domain = a task module, its ``<task>_config.py`` and one registration line: a line
here for a built-in task; for a task that lives outside this package, either a
``kerasuite.tasks`` entry point in the defining package's metadata
(``tabular = "mypkg.tabular_config:SPEC"``, found by every process, so the CLI, ``kerasuite.export``
reruns and benchmarks see it) or ``kerasuite.tasks.register(SPEC)`` in the running process.
Specs are imported lazily and never import TensorFlow, so listing tasks, ``--help`` and every
config check answer before TensorFlow loads; the implementation the spec names is imported only
to run the task.
"""

from __future__ import annotations

import functools
import importlib
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    from kerasuite.config import TaskSpec
    from kerasuite.tasks.base import Task

ENTRY_POINT_GROUP = "kerasuite.tasks"

# "module" (its SPEC) or "module:ATTRIBUTE", or a spec registered in this process
_REGISTRY: dict[str, Union[str, "TaskSpec"]] = {
    "image_classification": "kerasuite.tasks.image_classification_config",
    "text_classification": "kerasuite.tasks.text_classification_config",
    "retrieval": "kerasuite.tasks.retrieval_config",
    "ranking": "kerasuite.tasks.ranking_config",
    "keyword_spotting": "kerasuite.tasks.keyword_spotting_config",
}
_BUILT_IN = tuple(_REGISTRY)


@functools.cache
def _entry_points() -> dict[str, str]:
    """Installed packages' tasks, by name; read once per process (a scan of the installed
    distributions' metadata, ~50 ms), and never shadowing a built-in task."""
    from importlib.metadata import entry_points

    return {point.name: point.value for point in entry_points(group=ENTRY_POINT_GROUP) if point.name not in _BUILT_IN}


def _entries() -> dict[str, Union[str, "TaskSpec"]]:
    return {**_entry_points(), **_REGISTRY}


def task_names() -> tuple[str, ...]:
    """Every registered task: built-in first, then entry points, then ``register``ed ones."""
    return tuple(_entries())


def __getattr__(name: str):
    # TASK_NAMES is computed on access so a task registered after this module was imported is
    # listed by every ``from kerasuite.tasks import TASK_NAMES`` that runs later.
    if name == "TASK_NAMES":
        return task_names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def register(spec: "TaskSpec") -> None:
    """Register a task defined outside this package, under ``spec.name``, in this process.

    Re-registering the same spec is a no-op; another spec under a taken name is refused."""
    current = _entries().get(spec.name)
    if current is not None and current is not spec:
        raise ValueError(f"task {spec.name!r} is already registered ({current!r})")
    _REGISTRY[spec.name] = spec


def unregister(name: str) -> None:
    """Forget a task added with :func:`register` (built-in tasks stay)."""
    if name in _BUILT_IN:
        raise ValueError(f"task {name!r} is built in")
    _REGISTRY.pop(name, None)


def task_spec(name: str) -> "TaskSpec":
    """The config spec registered as ``name`` (no TensorFlow); ``KeyError`` if there is none."""
    entry = _entries()[name]
    if not isinstance(entry, str):
        return entry
    module_name, _, attribute = entry.partition(":")
    if name in _BUILT_IN:
        return getattr(importlib.import_module(module_name), attribute or "SPEC")
    # An installed package's entry point: its failure is that package's, named in one line.
    from kerasuite.schema import ConfigError

    try:
        spec = getattr(importlib.import_module(module_name), attribute or "SPEC")
    except (ImportError, AttributeError) as error:
        raise ConfigError(f"task {name!r}: its entry point {entry} cannot be loaded ({error})") from None
    if getattr(spec, "name", None) != name:
        raise ConfigError(f"task {name!r}: its entry point {entry} holds a spec named {getattr(spec, 'name', None)!r}")
    return spec


def get_task(name: str) -> "Task":
    """The task registered as ``name``; ``KeyError`` if there is none."""
    module_name, _, class_name = task_spec(name).implementation.partition(":")
    return getattr(importlib.import_module(module_name), class_name)()
