"""A user's ``.keras`` (or legacy ``.h5``) file: checked before TensorFlow loads, then loaded with
``safe_mode=True``.

A ``.keras`` file is a zip holding ``config.json`` (the layer graph) and the weights; a legacy
HDF5 file holds the same graph in its ``model_config`` attribute. Reading the config without
TensorFlow names a Lambda layer before any TensorFlow start-up; once the
``--custom-objects`` modules are imported, every custom class the config names must be
registered, or the file is refused naming the class and the layer that uses it.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any, Iterator

from kerasuite.errors import UserError


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
HDF5_SUFFIXES = (".h5", ".hdf5")  # what Keras' load_model takes as the legacy format


def read_config(path: Path) -> dict[str, Any]:
    if path.is_dir() and (path / "saved_model.pb").is_file():
        raise UserError(f"{path}: a TensorFlow SavedModel, not a Keras model file; Keras 3 loads only .keras and "
                        "legacy .h5 models: load it in the Keras that saved it and save it with "
                        "model.save('model.keras')")
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    with open(path, "rb") as handle:
        legacy = handle.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE
    return _read_hdf5_config(path) if legacy else _read_zip_config(path)


def _read_zip_config(path: Path) -> dict[str, Any]:
    try:
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, OSError):
        raise UserError(f"{path}: not a Keras model file (a Keras 3 .keras zip with config.json, or a legacy "
                        ".h5)") from None


def _read_hdf5_config(path: Path) -> dict[str, Any]:
    """A legacy HDF5 model (``model.save('model.h5')``, tf.keras 2's default): its layer graph is
    the file's ``model_config`` attribute, read with h5py (no TensorFlow)."""
    import h5py

    if path.suffix.lower() not in HDF5_SUFFIXES:
        raise UserError(f"{path}: a legacy HDF5 Keras file, which Keras loads only under a .h5 or .hdf5 name; "
                        "rename it")
    try:
        with h5py.File(path, "r") as handle:
            raw = handle.attrs.get("model_config")
    except OSError as error:
        raise UserError(f"{path}: cannot read it as HDF5 ({' '.join(str(error).split())[:160]})") from None
    if raw is None:
        raise UserError(f"{path}: an HDF5 file with weights only (no model_config): save the whole model, "
                        "model.save('model.keras')")
    try:
        return json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UserError(f"{path}: its model_config is not JSON") from None


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


def refuse_string_inputs(path: Path, config: dict[str, Any]) -> None:
    """A model whose file declares a string input (TextVectorization or StringLookup inside):
    refused before TensorFlow, in the words the loaded model's check uses (prepare.py)."""
    for node, _ in serialized_objects(config):
        settings = node.get("config") if isinstance(node.get("config"), dict) else {}
        if node.get("class_name") == "InputLayer" and settings.get("dtype") == "string":
            raise UserError(f"{path}: the model takes strings (input {settings.get('name')}): TFLite's builtin ops "
                            "have no string processing; keep TextVectorization/StringLookup outside the exported "
                            "model and export the part that takes their integer ids")


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


def declared_inputs(config: dict[str, Any]) -> dict[str, list[int | None]] | None:
    """A functional or Sequential model's inputs as its config declares them: name -> shape per
    example (None for a dimension of any size), in input order; None when the config does not
    say (a subclassed model, a form not seen here): TensorFlow's own check then applies."""
    try:
        body = config["config"]
        inputs = [layer["config"] for layer in body["layers"] if layer.get("class_name") == "InputLayer"]
        shapes = {spec["name"]: spec.get("batch_shape") or spec.get("batch_input_shape") for spec in inputs}
        if config.get("class_name") in ("Functional", "Model"):
            wanted = body["input_layers"]
            names = [wanted[0]] if wanted and isinstance(wanted[0], str) else [entry[0] for entry in wanted]
        elif config.get("class_name") == "Sequential" and len(inputs) == 1:
            names = [inputs[0]["name"]]
        else:
            return None
        declared = {name: list(shapes[name])[1:] for name in names}
    except (KeyError, IndexError, TypeError):
        return None
    if any(not all(size is None or isinstance(size, int) for size in shape) for shape in declared.values()):
        return None
    return declared
