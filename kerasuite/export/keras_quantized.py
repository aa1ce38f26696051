"""Keras' own int8 and float8 quantization (``model.quantize("int8")``, ``"float8"``) undone
before export.

A Keras-quantized ``Dense``, ``EinsumDense`` or ``Embedding`` keeps int8 weights with a float
scale per output channel (per row for an embedding) and, for the matmuls, quantizes its inputs per
example on the fly, then multiplies int8 by int8. TensorFlow's converter refuses that matmul
(FULLY_CONNECTED takes no raw int8 operand), so such a model did not convert in any mode. The
exporter instead builds its float twin: the same layers computing in float32 with the weights
Keras itself multiplies by (int8 values divided by their scale), which the files then quantize
the runtimes' way (int8 weights in the dynamic and int8 files). Only the on-the-fly input
rounding is gone; parity judges the files against the twin and ``conversions`` says how far the
user's own outputs are from it, as for a ``mixed_float16`` model.

``float8`` (Keras' float8 training: every matmul rounds its inputs and kernel to float8 with a
stored scale) converted only with Flex casts; its twin computes with the float8-rounded kernel.

``int4`` layers convert as Keras computes them and are kept.
"""

from __future__ import annotations

import copy

from kerasuite.errors import UserError

FLOAT8_MAX = 448.0  # float8_e4m3fn, Keras' float8 for the forward pass


def _dequantized_dense(layer) -> dict:
    return {"kernel": layer._kernel.numpy().astype("float32") / layer.kernel_scale.numpy()}


def _dequantized_einsum(layer) -> dict:
    import numpy as np

    scale = np.asarray(layer._adjust_scale_for_dequant(layer.kernel_scale))
    return {"kernel": layer._kernel.numpy().astype("float32") / scale}


def _dequantized_embedding(layer) -> dict:
    return {"embeddings": layer._embeddings.numpy().astype("float32") / layer.embeddings_scale.numpy()[:, None]}


def _float8_rounded_kernel(layer) -> dict:
    """The kernel as Keras' float8 call uses it: divided by its scale, rounded to float8_e4m3fn,
    multiplied back (``keras.quantizers.quantize_and_dequantize``)."""
    import ml_dtypes
    import numpy as np

    scale = np.float32(layer.kernel_scale.numpy())
    rounded = np.clip(layer.kernel.numpy() / scale, -FLOAT8_MAX, FLOAT8_MAX).astype(ml_dtypes.float8_e4m3fn)
    return {"kernel": rounded.astype("float32") * scale}


def _float_weights() -> dict:
    """Keras quantization mode -> layer class -> the float weights its twin takes."""
    import keras

    return {"int8": {keras.layers.Dense: _dequantized_dense, keras.layers.EinsumDense: _dequantized_einsum,
                     keras.layers.Embedding: _dequantized_embedding},
            "float8": {keras.layers.Dense: _float8_rounded_kernel, keras.layers.EinsumDense: _float8_rounded_kernel}}


def quantized_layers(model) -> list:
    """The layers of ``model`` that Keras quantized to int8 or float8."""
    from kerasuite.export.prepare import all_layers

    return [layer for layer in all_layers(model) if getattr(layer, "quantization_mode", None) in ("int8", "float8")]


def _float_policies(config):
    """``config`` with every int8 or float8 quantized dtype policy replaced by its source dtype."""
    if isinstance(config, dict):
        if str(config.get("class_name", "")).startswith("Quantized") \
                and config.get("config", {}).get("mode") in ("int8", "float8"):
            return config["config"].get("source_name", "float32")
        return {key: _float_policies(value) for key, value in config.items()}
    if isinstance(config, list):
        return [_float_policies(value) for value in config]
    return config


def float_twin(model):
    """``(twin, conversion line, modes)``: ``model`` rebuilt in float32 with the weights its
    Keras-quantized layers multiply by, or ``(model, None, None)`` when Keras quantized no layer
    to int8 or float8."""
    import keras

    quantized = quantized_layers(model)
    if not quantized:
        return model, None, None
    weights_for = _float_weights()
    replaced = {}
    for layer in quantized:
        mode = layer.quantization_mode
        dequantize = weights_for[mode].get(type(layer))
        if dequantize is None or getattr(layer, "lora_enabled", False):
            what = "with LoRA enabled" if dequantize else f"a {type(layer).__name__}"
            raise UserError(f"layer '{layer.name}' is quantized by Keras (model.quantize('{mode}')), {what}, which "
                            "the exporter cannot turn back into float weights; export the model from before "
                            "model.quantize (the dynamic and int8 files quantize the weights for the runtimes)")
        for name, value in dequantize(layer).items():
            replaced[f"{layer.path}/{name}"] = value
    try:
        twin = keras.saving.deserialize_keras_object(_float_policies(copy.deepcopy(
            keras.saving.serialize_keras_object(model))))
    except Exception as error:
        raise UserError(f"model '{model.name}' has layers quantized by Keras (model.quantize) and cannot be "
                        "rebuilt in float32 to export: "
                        f"{type(error).__name__}: {' '.join(str(error).split())[:160]}") from None
    given = {variable.path: variable for variable in model.weights}
    for variable in twin.weights:
        value = replaced.get(variable.path)
        if value is None:
            source = given.get(variable.path)
            if source is None or tuple(source.shape) != tuple(variable.shape):
                raise UserError(f"model '{model.name}': the float32 rebuild of its Keras-quantized layers has a "
                                f"weight '{variable.path}' the model does not; export the model from before "
                                "model.quantize")
            value = source.numpy()
        variable.assign(value)
    names = ", ".join(f"'{layer.name}'" for layer in quantized[:4]) + (" ..." if len(quantized) > 4 else "")
    modes = "/".join(sorted({layer.quantization_mode for layer in quantized}))
    line = (f"{len(quantized)} layer{'s' if len(quantized) > 1 else ''} quantized by Keras to {modes} ({names}) -> "
            "float32 with the weights Keras multiplies by (TFLite's converter takes no raw int8 matmul and no float8 "
            "cast; the dynamic and int8 files quantize them again)")
    return twin, line, modes
