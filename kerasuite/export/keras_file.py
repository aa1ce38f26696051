"""A user's ``.keras`` file: checked before TensorFlow loads, then loaded with ``safe_mode=True``.

A ``.keras`` file is a zip holding ``config.json`` (the layer graph) and the weights. Reading the
config with the standard library names a Lambda layer before any TensorFlow start-up; once the
``--custom-objects`` modules are imported, every custom class the config names must be
registered, or the file is refused naming the class and the layer that uses it.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any, Iterator

from kerasuite.errors import UserError


def read_config(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, OSError):
        raise UserError(f"{path}: not a Keras 3 .keras file (a zip with config.json)") from None


def serialized_objects(node: Any, layer: str | None = None) -> Iterator[tuple[dict[str, Any], str | None]]:
    """Every serialized Keras object in a config, with the name of the layer it belongs to."""
    if isinstance(node, dict):
        if "class_name" in node and isinstance(node.get("config"), dict):
            layer = node["config"].get("name", layer) if isinstance(node["config"].get("name"), str) else layer
            yield node, layer
        for value in node.values():
            yield from serialized_objects(value, layer)
    elif isinstance(node, list):
        for value in node:
            yield from serialized_objects(value, layer)


def refuse_lambda(path: Path, config: dict[str, Any]) -> None:
    for node, layer in serialized_objects(config):
        if node["class_name"] == "Lambda":
            raise UserError(f"{path}: layer '{layer}' is a Lambda layer (Python code that safe_mode will not load "
                            "and a device cannot run); replace it with a registered custom layer")


def refuse_unknown_classes(path: Path, config: dict[str, Any]) -> None:
    """After the custom-object modules are imported: every custom class must be registered."""
    import keras

    for node, layer in serialized_objects(config):
        registered = node.get("registered_name")
        # Keras' own classes serialize with registered_name None (or their class name); custom ones
        # as "package>Name", which must resolve in the registry the imported modules filled.
        if registered and registered != node["class_name"] and keras.saving.get_registered_object(registered) is None:
            raise UserError(f"{path}: layer '{layer}' uses class {node['class_name']} (registered as {registered!r}), "
                            "which no imported module registers; pass --custom-objects MODULE that defines it")


def load_keras_file(path: Path):
    import keras

    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as error:  # Keras raises ValueError/TypeError/OSError here
        text = " ".join(str(error).split())
        raise UserError(f"{path}: cannot load it with safe_mode=True ({type(error).__name__}: {text[:200]})") from None
