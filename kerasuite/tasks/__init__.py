"""The task registry: task name -> the module holding its :class:`~kerasuite.config.TaskSpec`.

Adding a domain = a task module, its ``<task>_config.py`` and one line here. Specs are imported
lazily and never import TensorFlow, so listing tasks, ``--help`` and every config check answer
before TensorFlow loads; the implementation the spec names is imported only to run the task.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kerasuite.config import TaskSpec
    from kerasuite.tasks.base import Task

_REGISTRY: dict[str, str] = {
    "image_classification": "kerasuite.tasks.image_classification_config",
    "text_classification": "kerasuite.tasks.text_classification_config",
    "retrieval": "kerasuite.tasks.retrieval_config",
    "ranking": "kerasuite.tasks.ranking_config",
    "keyword_spotting": "kerasuite.tasks.keyword_spotting_config",
}

TASK_NAMES: tuple[str, ...] = tuple(_REGISTRY)


def task_spec(name: str) -> "TaskSpec":
    """The config spec registered as ``name`` (no TensorFlow); ``KeyError`` if there is none."""
    return importlib.import_module(_REGISTRY[name]).SPEC


def get_task(name: str) -> "Task":
    """The task registered as ``name``; ``KeyError`` if there is none."""
    module_name, _, class_name = task_spec(name).implementation.partition(":")
    return getattr(importlib.import_module(module_name), class_name)()
