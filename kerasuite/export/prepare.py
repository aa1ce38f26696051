"""Make any Keras model exportable the way kerasuite's own models are, or refuse it in one line.

Applied to the user's model before conversion (in the parent process, on a clone with the same
weights; the user's model is not changed):

- ``keras.layers.LSTM`` (plain, inside ``Bidirectional``, in Sequential or functional models)
  becomes :class:`~kerasuite.models.layers.fusable_lstm.FusableLSTM`: same config and weights,
  but it converts to the fused ``UNIDIRECTIONAL_SEQUENCE_LSTM`` builtin instead of a WHILE loop
  (the exporter then removes the converter's cell clip, which Keras does not have). An LSTM fed a
  Keras mask is unrolled instead when its length is fixed: the fused op takes no mask, and Keras'
  masked loop converts to a WHILE subgraph whose int8 conversion crashes the converter.
- ``keras.layers.MultiHeadAttention`` becomes
  :class:`~kerasuite.models.layers.bounded_mask_attention.BoundedMaskAttention`: identical
  without a mask; with one, masked keys get -20 instead of -1e9, which int8 can represent
  (Keras' -1e9 collapses every int8 attention score to one value). ``Attention`` and
  ``AdditiveAttention`` become the same kind of layer
  (:mod:`~kerasuite.models.layers.bounded_mask_score_attention`) for their causal or padding mask.
- ``keras.layers.Embedding`` becomes :class:`~kerasuite.models.layers.gather_embedding.GatherEmbedding`
  (same config, weights and mask): one GATHER instead of Keras' negative-id wrap, whose int32
  ``SELECT_V2`` TensorFlow Lite Micro cannot run. Ids are never negative in a valid lookup.
- ``GRU`` and ``SimpleRNN`` (plain or inside ``Bidirectional``) are unrolled over their fixed
  sequence length (Keras' own ``unroll=True``): builtin ops per time step, no state between calls.
  TFLite has no fused GRU op, and the loop Keras 3 traces otherwise converts to a WHILE subgraph
  whose int8 conversion crashes the converter (a SimpleRNN's loop needed Flex TensorList ops). One
  without a fixed length, or a stateful one, is refused.
- ``CategoryEncoding`` (one_hot, multi_hot, count) becomes
  :class:`~kerasuite.models.layers.gather_category_encoding.GatherCategoryEncoding`: rows of an
  identity table looked up by the int32 ids. Keras' float path quantized the ids in int8 files and
  truncated them back to the wrong category.
- ``IntegerLookup`` (``int``, ``one_hot``, ``multi_hot``, ``count``, ``tf_idf``; one or no OOV
  index) becomes :class:`~kerasuite.models.layers.gather_integer_lookup.GatherIntegerLookup`:
  constant tables over the vocabulary's key range, built by running the adapted layer itself. Keras'
  hash-table lookup is no TFLite builtin (only Flex, which no device runtime here runs).
- ``UpSampling2D`` (nearest, channels last) becomes
  :class:`~kerasuite.models.layers.nearest_up_sampling.NearestUpSampling2D`: one
  RESIZE_NEAREST_NEIGHBOR with the same values; Keras' repeat converts to TILE, which TFLM lacks.
- A layer computing in float16 or bfloat16 (a ``mixed_float16`` policy, common for GPU training)
  is rebuilt computing in float32: TFLite's builtins take no float16 arithmetic, so its ops would
  convert only as Flex. The weights are float32 variables under a mixed policy anyway.
- Layers Keras itself quantized to int8 or float8 (``model.quantize``) are rebuilt in float32 with
  the weights Keras multiplies by (:mod:`~kerasuite.export.keras_quantized`): the converter takes no
  raw int8 matmul and no float8 cast.
- ``Lambda`` is refused: it is Python bytecode, which a device file cannot carry and which
  ``safe_mode`` refuses to load.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from kerasuite.errors import UserError

# TensorFlow's op-name rule (tensorflow/core/framework/node_def_util.cc): an input named otherwise
# becomes a "Placeholder" in the converted file.
TF_OP_NAME = re.compile(r"[A-Za-z0-9.][A-Za-z0-9_.\-/>]*")


@dataclasses.dataclass
class PreparedModel:
    model: Any  # keras.Model: functional, inputs keyed by name, one output
    conversions: list[str]  # what was swapped, for signature.json and the model card
    batch_size: int | None  # a batch baked into the graph (LSTMs, GRUs and SimpleRNNs get 1), else None
    # What the user's model computes that the files do not (float16 compute of a mixed policy,
    # Keras' int8 input rounding): parity then judges against this float32 model, the one the
    # files compute, and says how far the user's own outputs are from it
    reference_change: str | None = None


def all_layers(model) -> list:
    return list(model._flatten_layers(include_self=False, recursive=True))


def refuse_unexportable(model) -> None:
    import keras

    layers = all_layers(model)
    # a Bidirectional's own GRUs are never called themselves: they are judged with their wrapper
    wrapped = {id(inner) for layer in layers if isinstance(layer, keras.layers.Bidirectional)
               for inner in (layer.forward_layer, layer.backward_layer)}
    for layer in layers:
        if isinstance(layer, keras.layers.Lambda):
            raise UserError(f"layer '{layer.name}' is a Lambda layer (Python code): it cannot be exported "
                            "or loaded safely; replace it with a registered custom layer")
        inner = getattr(layer, "forward_layer", None)
        if any(_is_lstm(recurrent) and recurrent.stateful for recurrent in (layer, inner) if recurrent is not None):
            # the files zero an LSTM's state on every call (stateless_lstm): a stateful one would
            # silently stop carrying its state; Keras' predict also refused the parity arrays
            raise UserError(f"layer '{layer.name}' is a stateful LSTM: the exported files run each call from a zero "
                            "state, so its state would not carry from one call to the next; rebuild it with "
                            "stateful=False (the same weights) and carry the state in the app, or feed whole "
                            "sequences")
        unrolled = _unrolled_kinds()
        if (isinstance(layer, unrolled) and id(layer) not in wrapped) or isinstance(inner, unrolled):
            recurrent = inner if isinstance(inner, unrolled) else layer
            kind = type(recurrent).__name__
            if recurrent.stateful:
                raise UserError(f"layer '{layer.name}' is a stateful {kind}: kerasuite exports a {kind} unrolled, "
                                "with no state between calls; rebuild it with stateful=False")
            if _sequence_length(layer) is None:
                raise UserError(f"layer '{layer.name}' is a {kind} over sequences of no fixed length: kerasuite "
                                f"exports a {kind} unrolled over a fixed number of steps (Keras' own loop converts "
                                "to ops TFLite lacks or the int8 converter crashes on); give the model's input a "
                                "fixed length, or use keras.layers.LSTM (the fused LSTM op)")
    strings = [tensor.name for tensor in getattr(model, "inputs", None) or [] if tensor.dtype == "string"]
    if strings:
        raise UserError(f"model '{model.name}' takes strings (input {strings[0]}): TFLite's builtin ops have no "
                        "string processing; keep TextVectorization/StringLookup outside the exported model and "
                        "export the part that takes their integer ids")
    unnamable = [tensor.name for tensor in getattr(model, "inputs", None) or [] if not TF_OP_NAME.fullmatch(tensor.name)]
    if unnamable:
        suggested = re.sub(r"[^A-Za-z0-9_.\-]", "_", unnamable[0]).lstrip("_-") or "input"
        raise UserError(f"model '{model.name}': input name {unnamable[0]!r} is not a valid TensorFlow op name, so "
                        "the converted file would name that input 'Placeholder' and nothing could feed it by name; "
                        f"rename it (keras.Input(..., name={suggested!r})) and save the model again")
    if getattr(model, "outputs", None) is None:  # a subclassed model: its call() is Python, not a graph
        raise UserError(f"model '{model.name}' is a subclassed Keras model: the exporter needs its graph of layers; "
                        "build it as a functional or Sequential model, or wrap it: "
                        "inputs = keras.Input(...); keras.Model(inputs, model(inputs))")
    if len(model.outputs) != 1:
        names = ", ".join(output_names(model))
        raise UserError(f"model '{model.name}' has {len(model.outputs)} outputs ({names}); the exporter checks one "
                        "output tensor: pick the one that ships with --output NAME (or wrap the model to return it)")


# Layers whose graphs convert only as Flex ops, and what to do about them: named beside the ops
# when a conversion is refused, since the ops alone (AsString, TensorListReserve) do not say
# which layer of the user's model to change.
FLEX_LAYERS = {
    "Hashing": "it hashes keys through their string form (FarmHash): hash them before the model",
    "ConvLSTM1D": "its loop converts to TensorList ops: TFLite has no ConvLSTM and Keras cannot unroll it",
    "ConvLSTM2D": "its loop converts to TensorList ops: TFLite has no ConvLSTM and Keras cannot unroll it",
    "ConvLSTM3D": "its loop converts to TensorList ops: TFLite has no ConvLSTM and Keras cannot unroll it",
}


# TensorFlow ops that only Flex runs, by the Keras call that makes them and what to do instead:
# named beside the ops when a conversion is refused (measured one op at a time, 2026-12-06).
FLEX_OPS = {
    "ScaleAndTranslate": "an antialiased resize (Resizing or keras.ops.image.resize with antialias=True); "
                         "TFLite's resize ops do not antialias: set antialias=False, or resize before the model",
    "ImageProjectiveTransformV3": "keras.ops.image.affine_transform (or an augmentation layer run in training "
                                  "mode): transform the image before the model",
    "Roll": "keras.ops.roll: slice and concatenate instead",
    "Cumprod": "keras.ops.cumprod: exp(cumsum(log(x))) for positive x",
    "Erf": "keras.ops.erf: keras.activations.gelu converts to the builtin GELU, erf itself does not",
    "RGBToHSV": "keras.ops.image.rgb_to_hsv: convert the colours before the model",
    "FFT": "keras.ops.fft: a DFT as a matmul (kerasuite's MFCC layer does so), or keras.ops.rfft of real "
           "values, which converts to the builtin RFFT2D (power-of-two lengths; TFLM has none)",
}


def flex_op_hints(refusal: str) -> list[str]:
    """For each Flex op named in ``refusal`` ("... tf.Roll, tf.Erf; ...") that FLEX_OPS knows, the
    Keras call behind it and what to use instead."""
    named = set(re.findall(r"tf\.([A-Za-z0-9_]+)", refusal))
    return [f"tf.{op} is {FLEX_OPS[op]}" for op in FLEX_OPS if op in named]


def flex_layers(model) -> list[str]:
    """The layers of ``model`` known to convert only as Flex ops, each with why."""
    from kerasuite.models.layers import gather_integer_lookup

    named = []
    for layer in all_layers(model):
        kind = type(layer).__name__
        if kind in FLEX_LAYERS:
            named.append(f"'{layer.name}' ({kind}: {FLEX_LAYERS[kind]})")
        elif kind == "IntegerLookup":
            named.append(f"'{layer.name}' (IntegerLookup kept as Keras' hash table: "
                         f"{gather_integer_lookup.why_not_swappable(layer)})")
    return named


def output_names(model) -> list[str]:
    names = list(getattr(model, "output_names", None) or [])
    return names if len(names) == len(model.outputs) else [str(index) for index in range(len(model.outputs))]


def select_output(model, wanted: str):
    """``model`` cut down to the output named ``wanted`` (an output name or its index)."""
    import keras

    names = output_names(model)
    if wanted in names:
        index = names.index(wanted)
    elif wanted.isdigit() and int(wanted) < len(names):
        index = int(wanted)
    else:
        raise UserError(f"--output {wanted}: model '{model.name}' has no such output (its outputs: {', '.join(names)})")
    if len(names) == 1:
        return model
    inputs = model.input if isinstance(model.input, dict) else model.inputs
    return keras.Model(inputs, model.outputs[index], name=model.name)


def _unrolled_kinds() -> tuple:
    """Recurrent layers TFLite has no fused op for: exported unrolled over their fixed length."""
    import keras

    return (keras.layers.GRU, keras.layers.SimpleRNN)


def _is_lstm(layer) -> bool:
    import keras

    from kerasuite.models.layers.fusable_lstm import FusableLSTM

    return type(layer) in (keras.layers.LSTM, FusableLSTM)


def _sequence_length(layer) -> int | None:
    received = layer.input
    # a layer fed a Keras mask (Masking, Embedding(mask_zero=True)) lists its inputs
    shape = (received[0] if isinstance(received, (list, tuple)) else received).shape
    return shape[1] if len(shape) == 3 else None


def _receives_mask(layer) -> bool:
    """Whether ``layer`` is called with a Keras mask (from Masking or Embedding(mask_zero=True)):
    its recorded input then lists the sequence and the boolean mask."""
    received = layer.input
    return isinstance(received, (list, tuple)) and any(getattr(t, "dtype", None) == "bool" for t in received)


def _unfusable_activations(lstm) -> str | None:
    """What of an LSTM's cell the fused op cannot compute (Keras 2 defaulted recurrent_activation
    to hard_sigmoid), or None."""
    import keras

    cell = lstm.cell
    wrong = [f"{role} {keras.activations.serialize(function)}" for role, function, fused in
             (("activation", cell.activation, keras.activations.tanh),
              ("recurrent_activation", cell.recurrent_activation, keras.activations.sigmoid))
             if function is not fused]
    return " and ".join(wrong) or None


def _lstm_for_export(lstm, lstm_graph: str, conversions: list[str], what: str, steps: int | None):
    from kerasuite.models.layers.fusable_lstm import FusableLSTM

    config = _float_config(lstm)
    config["unroll"] = lstm_graph == "unrolled"  # FusableLSTM then runs Keras' own loop, once per step
    if lstm_graph == "unrolled":
        if steps is None:
            raise UserError(f"{what} '{lstm.name}': export.lstm=unrolled needs a fixed sequence length; give "
                            "the model's input a fixed length or use export.lstm=fused")
        conversions.append(f"{what} '{lstm.name}' -> unrolled over {steps} steps (builtin ops, no state "
                           "between calls)")
    else:
        conversions.append(f"{what} '{lstm.name}' -> fused UNIDIRECTIONAL_SEQUENCE_LSTM (FusableLSTM)")
    return FusableLSTM.from_config(config)


def _swap(layer, conversions: list[str], lstm_graph: str):
    import keras

    from kerasuite.models.layers import (bounded_mask_score_attention, gather_category_encoding, gather_integer_lookup,
                                         nearest_up_sampling)
    from kerasuite.models.layers.bounded_mask_attention import BoundedMaskAttention
    from kerasuite.models.layers.gather_embedding import GatherEmbedding

    if _is_lstm(layer) or (isinstance(layer, keras.layers.Bidirectional) and _is_lstm(layer.forward_layer)):
        what = "LSTM" if _is_lstm(layer) else "Bidirectional LSTM"
        steps = _sequence_length(layer)  # a Bidirectional's own LSTMs have no input of their own
        graph = lstm_graph
        if _receives_mask(layer) and steps is not None and lstm_graph == "fused":
            # The fused op takes no mask, and Keras' masked loop converts to a WHILE subgraph whose
            # int8 conversion crashes TensorFlow's converter (SIGSEGV): unrolled, each step's mask
            # is builtin arithmetic, in every mode.
            conversions.append(f"{what} '{layer.name}' receives a Keras mask, which the fused LSTM op cannot "
                               "take: unrolled instead")
            graph = "unrolled"
        lstm = layer.forward_layer if what.startswith("Bidirectional") else layer
        activations = _unfusable_activations(lstm)
        unfusable = (f"has {activations}, which the fused LSTM op cannot compute (its gates are sigmoid, its "
                     "cell tanh)" if activations else
                     "returns its states (return_state=True), which the fused LSTM op does not output"
                     if lstm.return_state else None)
        if unfusable and steps is not None and graph == "fused":
            # Keras' loop instead: a WHILE subgraph, whose int8 conversion crashes the converter and
            # which TFLM ran into an endless loop on some inputs
            conversions.append(f"{what} '{layer.name}' {unfusable}: unrolled instead")
            graph = "unrolled"
        if _is_lstm(layer):
            return _lstm_for_export(layer, graph, conversions, what, steps)
        return _rewrapped(layer, lambda inner: _lstm_for_export(inner, graph, conversions, what, steps))
    wrapped = isinstance(layer, keras.layers.Bidirectional) and type(layer.forward_layer) in _unrolled_kinds()
    if type(layer) in _unrolled_kinds() or wrapped:
        kind = type(layer.forward_layer if wrapped else layer).__name__
        conversions.append(f"{'Bidirectional ' if wrapped else ''}{kind} '{layer.name}' -> unrolled over "
                           f"{_sequence_length(layer)} steps (builtin ops, no state between calls"
                           f"{'; TFLite has no fused GRU; input projection once, outside the loop' if kind == 'GRU' else ''})")
        return _rewrapped(layer, _unrolled) if wrapped else _unrolled(layer)
    if type(layer) is keras.layers.Embedding:
        conversions.append(f"Embedding '{layer.name}' -> GatherEmbedding (one GATHER; no negative-id wrap, whose "
                           "int32 SELECT_V2 TFLM lacks)")
        return GatherEmbedding.from_config(_float_config(layer))
    if gather_category_encoding.swappable(layer):
        conversions.append(f"CategoryEncoding '{layer.name}' -> GatherCategoryEncoding (identity-table GATHER: "
                           "exact int8 ids, no ONE_HOT, which TFLM lacks)")
        config = _float_config(layer)
        return gather_category_encoding.GatherCategoryEncoding(config["num_tokens"], config["output_mode"],
                                                               name=config["name"], dtype=config.get("dtype"))
    if type(layer) is keras.layers.IntegerLookup and gather_integer_lookup.why_not_swappable(layer) is None:
        low, high = gather_integer_lookup.key_range(layer)
        conversions.append(f"IntegerLookup '{layer.name}' -> GatherIntegerLookup (tables over keys {low}..{high}; "
                           "Keras' hash table is no TFLite builtin; "
                           f"{'int32 indices' if layer.output_mode == 'int' else 'float32 ' + layer.output_mode} out)")
        return gather_integer_lookup.from_integer_lookup(layer)
    if nearest_up_sampling.swappable(layer):
        conversions.append(f"UpSampling2D '{layer.name}' -> RESIZE_NEAREST_NEIGHBOR (the same values; Keras' "
                           "repeat converts to TILE, which TFLM lacks)")
        config = _float_config(layer)
        return nearest_up_sampling.NearestUpSampling2D(config["size"], name=config["name"], dtype=config.get("dtype"))
    if type(layer) in bounded_mask_score_attention.BOUNDED_FOR:
        bounded = bounded_mask_score_attention.BOUNDED_FOR[type(layer)]
        conversions.append(f"{type(layer).__name__} '{layer.name}' -> {bounded.__name__} (mask penalty 20, "
                           "int8-representable; Keras subtracts 1e9)")
        return bounded.from_config(_float_config(layer))
    if type(layer) is keras.layers.MultiHeadAttention:
        conversions.append(f"MultiHeadAttention '{layer.name}' -> BoundedMaskAttention (mask penalty 20, "
                           "int8-representable)")
        return BoundedMaskAttention.from_config(_float_config(layer))
    return layer.__class__.from_config(_float_config(layer))


def _computes_in_low_precision(layer) -> bool:
    """A layer under a mixed (or float16) dtype policy: TFLite's builtins take no float16
    arithmetic, so its ops would convert only as Flex."""
    policy = getattr(layer, "dtype_policy", None)
    return getattr(policy, "compute_dtype", "float32") in ("float16", "bfloat16")


def _float_config(layer) -> dict:
    """``layer``'s config, computing in float32 if its policy computes in float16 or bfloat16 (the
    weights are the same numbers; the float16 mode stores them in half precision anyway)."""
    config = layer.get_config()
    if _computes_in_low_precision(layer):
        config["dtype"] = "float32"
    return config


def _unrolled(rnn):
    """A GRU or SimpleRNN unrolled over its fixed length; a GRU as ``HoistedGRU`` (its input
    projection out of the loop: no per-step int32 biases in an int8 file)."""
    import keras

    from kerasuite.models.layers.hoisted_gru import HoistedGRU

    kind = HoistedGRU if type(rnn) is keras.layers.GRU else type(rnn)
    return kind.from_config({**_float_config(rnn), "unroll": True})


def _swap_is_optional(layer) -> bool:
    """A swap that only widens where the file runs (the model exports without it)."""
    import keras

    return type(layer) is keras.layers.Embedding


def _rewrapped(layer, rebuild):
    """A Bidirectional like ``layer`` with each direction's layer replaced by ``rebuild(layer)``."""
    import keras

    forward, backward = (rebuild(inner) for inner in (layer.forward_layer, layer.backward_layer))
    return keras.layers.Bidirectional(forward, backward_layer=backward, merge_mode=layer.merge_mode, name=layer.name)


def _needs_swap(layer, lstm_graph: str) -> bool:
    import keras

    from kerasuite.models.layers.fusable_lstm import FusableLSTM

    inner = getattr(layer, "forward_layer", None)
    if lstm_graph == "unrolled" and (_is_lstm(layer) or _is_lstm(inner)):
        return True
    from kerasuite.models.layers import gather_category_encoding, gather_integer_lookup, nearest_up_sampling

    if _computes_in_low_precision(layer) or gather_category_encoding.swappable(layer) \
            or nearest_up_sampling.swappable(layer):
        return True
    if type(layer) is keras.layers.IntegerLookup:
        return gather_integer_lookup.why_not_swappable(layer) is None
    return (type(layer) in (keras.layers.LSTM, keras.layers.MultiHeadAttention, keras.layers.Attention,
                            keras.layers.AdditiveAttention, *_unrolled_kinds(),
                            keras.layers.Embedding)
            or (isinstance(layer, keras.layers.Bidirectional) and type(inner) in (keras.layers.LSTM, *_unrolled_kinds()))
            or (isinstance(layer, FusableLSTM) and layer.unroll))


# Inputs no device takes, and what the exported files take instead (ids and features fit in 32
# bits; float16 values are float32 values): CompiledModel and TFLM take no 64-bit inputs, and
# TFLM's CAST takes no float16.
DEVICE_INPUT_TYPES = {"float64": "float32", "int64": "int32", "float16": "float32"}


def prepare_for_export(model, lstm_graph: str = "fused") -> PreparedModel:
    """A functional clone ready for conversion. ``lstm_graph``: ``fused`` (one LSTM op per layer
    and direction) or ``unrolled`` (builtin ops per time step, stateless; needs a fixed length)."""
    import keras

    from kerasuite.export import keras_quantized

    refuse_unexportable(model)
    conversions: list[str] = []
    model, dequantized, keras_quantization = keras_quantized.float_twin(model)
    if dequantized:
        conversions.append(dequantized)
    prepared = model
    swapped = [layer for layer in all_layers(model) if _needs_swap(layer, lstm_graph)]
    low_precision = [layer for layer in swapped if _computes_in_low_precision(layer)]
    policy = "/".join(sorted({layer.dtype_policy.name for layer in low_precision})) or None
    if low_precision:
        conversions.append(f"{len(low_precision)} layer{'s' if len(low_precision) > 1 else ''} computing in {policy} -> float32 (TFLite's builtin ops "
                           "take no float16 arithmetic; the float16 mode still halves the weights)")
    narrowed = {tensor.name: DEVICE_INPUT_TYPES[tensor.dtype] for tensor in model.inputs if tensor.dtype in DEVICE_INPUT_TYPES}
    if swapped or narrowed:
        options = {}
        if narrowed:
            options["input_tensors"] = keras.tree.map_structure(  # the structure of model.input, as clone_model wants
                lambda tensor: keras.Input(batch_shape=tensor.shape, dtype=narrowed.get(tensor.name, tensor.dtype),
                                           name=tensor.name), model.input)
            given = {tensor.name: tensor.dtype for tensor in model.inputs}
            conversions.append("inputs " + ", ".join(f"'{name}' {given[name]} -> {dtype}" for name, dtype in narrowed.items())
                               + " (CompiledModel and TFLM take no 64-bit inputs, TFLM's CAST no float16; arrays are "
                                 "cast to them)")
        try:  # a subclassed model cannot be cloned: its call() is Python, not a graph of layers
            prepared = keras.models.clone_model(model, clone_function=lambda layer: _swap(layer, conversions, lstm_graph),
                                                recursive=True, **options)
        except UserError:
            raise
        except Exception as error:
            if all(_swap_is_optional(layer) for layer in swapped):
                conversions[:] = [f"model '{model.name}' cannot be rebuilt layer by layer, so its layers and inputs are "
                                  "kept as they are: Keras' Embedding exports its negative-id wrap as int32 SELECT_V2, "
                                  "and 64-bit inputs stay 64-bit; TFLM lacks both"]
                return _functional(model, model, conversions)
            raise UserError(f"model '{model.name}': cannot rebuild it with exportable LSTM/GRU/attention/embedding layers "
                            "or float32 compute "
                            "(subclassed models cannot be cloned; build it as a functional or Sequential model): "
                            f"{type(error).__name__}: {' '.join(str(error).split())[:160]}") from None
        prepared.set_weights(model.get_weights())
    changes = [change for change in (policy, keras_quantization and f"Keras {keras_quantization}") if change]
    return dataclasses.replace(_functional(prepared, model, conversions), reference_change=" and ".join(changes) or None)


def _functional(prepared, model, conversions: list[str]) -> PreparedModel:
    """``prepared`` with its inputs keyed by name and one output; the batch its LSTMs need."""
    import keras

    from kerasuite.models.layers.fusable_lstm import FusableLSTM

    inputs = {tensor.name: tensor for tensor in prepared.inputs}
    if isinstance(prepared, keras.Sequential) or not isinstance(prepared.input, dict):
        prepared = keras.Model(inputs, prepared.outputs[0], name=model.name)
    # Recurrent layers start from a zero state shaped by the batch: a batch baked into the graph
    # makes that a constant (the fused LSTM op needs one; TFLM's FILL takes no computed shape).
    recurrent = any(isinstance(layer, (FusableLSTM, *_unrolled_kinds())) for layer in all_layers(prepared))
    return PreparedModel(prepared, conversions, 1 if recurrent else None)
