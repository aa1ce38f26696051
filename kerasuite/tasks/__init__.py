"""The task registry: task name -> "module:Class". Adding a domain = one module + one line here.

Entries are resolved lazily so that listing tasks (``--help``, config validation) does not
import TensorFlow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kerasuite.tasks.base import Task

_REGISTRY: dict[str, str] = {
    "image_classification": "kerasuite.tasks.image_classification:ImageClassification",
    "text_classification": "kerasuite.tasks.text_classification:TextClassification",
    "retrieval": "kerasuite.tasks.retrieval:Retrieval",
    "ranking": "kerasuite.tasks.ranking:Ranking",
    "keyword_spotting": "kerasuite.tasks.keyword_spotting:KeywordSpotting",
}

TASK_NAMES: tuple[str, ...] = tuple(_REGISTRY)


def get_task(name: str) -> "Task":
    """The task registered as ``name``; ``KeyError`` if there is none."""
    module_name, _, class_name = _REGISTRY[name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)()
