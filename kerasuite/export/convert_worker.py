"""Subprocess entry point: convert one saved export model to one or more TFLite modes.

Run by :func:`kerasuite.export.tflite.convert_modes` as ``python -m kerasuite.export.convert_worker``,
because the TFLite converter leaks memory on every call; one child converts every requested mode,
so TensorFlow is imported once (with ``--serve`` one child takes export after export, and the
parent retires it after a few). Each .tflite is written atomically. ``--report`` gets a JSON
object per mode: ``{"size_bytes": N}``, ``{"refused": one line naming the non-builtin ops, or the
integer tensor the quantizer cannot calibrate}`` or
``{"error": the traceback's tail}``; a failing mode does not stop the others. Exit code: 0 all
converted, 2 a mode was refused, 1 another failure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys

from kerasuite.config import CALIBRATED_MODES, EXPORT_MODES, INT8_WEIGHTS

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def serving_function(model, batch_size):
    """A tf.function whose named arguments are the Keras input names and whose one output is
    named ``output``: the signature a device sees."""
    import tensorflow as tf

    names = [tensor.name for tensor in model.inputs]
    specs = [
        tf.TensorSpec([batch_size, *tensor.shape[1:]], tensor.dtype, name=name)
        for tensor, name in zip(model.inputs, names)
    ]

    @tf.function(input_signature=specs)
    def serve(*args):
        inputs = dict(zip(names, args))
        outputs = model(inputs, training=False)
        # A model with named outputs (a dict) keeps its names; a single tensor is "output".
        return outputs if isinstance(outputs, dict) else {"output": outputs}

    return serve


NON_BUILTIN = re.compile(r"\btf\.([A-Z][A-Za-z0-9_]+)")
# TensorFlow's 16x8 calibrator on an integer input it records no range for (tensorflow/tensorflow#60799),
# e.g. padded ids compared for a mask; integer pixels cast to float, and ids into a plain Embedding,
# calibrate and convert (tests/export/test_export_user_models.py).
UNCALIBRATED_TENSOR = re.compile(r"Max and min for dynamic tensors should be recorded during calibration: "
                                 r"Failed for tensor (\S+)")


def fusable_trackable(concrete, serve, model):
    """A trackable for graphs holding a composite function the converter fuses into one op
    (``api_implements``, e.g. an LSTM -> UNIDIRECTIONAL_SEQUENCE_LSTM), else None.

    The frozen-graph path strips ``api_implements``; only the SavedModel import keeps it. A bare
    tf.Module holding the function and the raw tf.Variables takes that path with every weight
    still frozen (with the Keras model as trackable this graph kept VAR_HANDLE/READ_VARIABLE ops
    that the runtime never initialises).
    """
    library = concrete.graph.as_graph_def().library.function
    if not any("api_implements" in function.attr for function in library):
        return None
    import tensorflow as tf

    holder = tf.Module()
    holder.serve = serve
    holder.model_variables = [getattr(v, "value", v) for v in model.variables]
    return holder


INTEGER_MODES = ("int8", "int8_float_io")  # int8 activations
PIXEL_SCALE = 1.0 / 255.0  # a uint8 pixel input: float value = pixel / 255 (task preprocessing "scale")


def calibration_batches(representative: str, names: list[str], step: int):
    """The converter's representative dataset: a factory of ``step``-example batches, each a list
    in argument order (a model built from concrete functions has no SignatureDef, so the
    calibrator cannot match dict keys). The file is read once: indexing an npz file reads and
    decompresses the whole array again, which every calibration example used to do."""
    import numpy as np

    with np.load(representative) as samples:
        arrays = [samples[f"input__{name}"] for name in names]
    count = len(arrays[0])

    def representative_dataset():
        for start in range(0, count - step + 1, step):
            yield [array[start:start + step] for array in arrays]

    return representative_dataset


def build_converter(model_path: str, mode: str, representative: str | None, batch_size, allow_flex: bool,
                    integer_io: bool = True, int8_weights: str = "per_channel", uint8_inputs: tuple[str, ...] = ()):
    import keras
    import tensorflow as tf

    import kerasuite.models  # noqa: F401  registers custom layers for safe loading
    from kerasuite.export.trace_rewrites import (masked_backward_unroll_reversed, sixteen_bit_safe_normalize,
                                                 sixteen_bit_safe_sum, unguarded_argmax)

    model = keras.saving.load_model(model_path, safe_mode=True, compile=False)
    serve = serving_function(model, batch_size)
    sums: list[str] = []
    sixteen_bit = mode == "int16x8"
    with unguarded_argmax(), masked_backward_unroll_reversed(), \
            (sixteen_bit_safe_normalize() if sixteen_bit else contextlib.nullcontext()), \
            (sixteen_bit_safe_sum(sums) if sixteen_bit else contextlib.nullcontext()):
        concrete = serve.get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [concrete], fusable_trackable(concrete, serve, model)
    )
    if mode == "int16x8":
        # TFLITE_BUILTINS beside the 16x8 set: an op with no 16x8 kernel (DIV, SELECT_V2, ...) stays
        # float between a DEQUANTIZE and a QUANTIZE instead of refusing the model.
        builtins = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8,
                    tf.lite.OpsSet.TFLITE_BUILTINS]
    elif mode in INTEGER_MODES:
        builtins = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    else:
        builtins = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if allow_flex:
        builtins.append(tf.lite.OpsSet.SELECT_TF_OPS)
    converter.target_spec.supported_ops = builtins
    representative_dataset = None
    if mode == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif mode == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif mode in CALIBRATED_MODES:
        representative_dataset = calibration_batches(representative, [tensor.name for tensor in model.inputs],
                                                     batch_size or 1)

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset
        # One scale per weight tensor instead of one per output channel: a smaller file, at an
        # accuracy cost that depends on the model (export.int8_weights explains; not the default).
        converter._experimental_disable_per_channel = int8_weights == "per_tensor"
        if integer_io and mode == "int8":
            if all(t.dtype == "float32" for t in model.inputs):
                converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
        elif integer_io and mode == "int8_float_io" and uint8_inputs:
            # The converter sets one type for every input; only single-input image models get here.
            converter.inference_input_type = tf.uint8
    # The model must outlive the converter: the traced function captures its variables.
    converter._kerasuite_model = model
    converter._kerasuite_rewrites = [f"int16x8 file only: {len(sums)} float sum{'s' if len(sums) > 1 else ''} "
                                     f"({', '.join(dict.fromkeys(sums))}) -> mean x count, the same values (a 16-bit SUM "
                                     "keeps its input's scale and saturates)"] if sums else []
    return converter, representative_dataset


def convert(model_path: str, mode: str, representative: str | None, batch_size, allow_flex: bool,
            compact: bool = True, int8_weights: str = "per_channel", uint8_inputs: tuple[str, ...] = (),
            conversions: list[str] | None = None) -> bytes:
    """The file's bytes; what the trace rewrote is appended to ``conversions``."""
    converter, _ = build_converter(model_path, mode, representative, batch_size, allow_flex,
                                   int8_weights=int8_weights, uint8_inputs=uint8_inputs)
    if conversions is not None:
        conversions.extend(converter._kerasuite_rewrites)
    try:
        content = converter.convert()
    except Exception as error:  # ConverterError carries the list of offending ops
        text = str(error)
        ops = sorted(set(NON_BUILTIN.findall(text)))
        if ops or "custom op" in text.lower() or "select tf ops" in text.lower():
            listed = ", ".join(f"tf.{op}" for op in ops) or "unknown ops"
            raise NeedsNonBuiltinOps(listed) from None
        uncalibrated = UNCALIBRATED_TENSOR.search(text)
        if uncalibrated:
            raise CannotCalibrate(uncalibrated.group(1)) from None
        raise
    # Fused LSTMs: the converter adds a cell clip Keras does not have, and the int8 kernel skips
    # tanh(cell) for cell scales below 2^-15; see kerasuite.export.fused_lstm_tflite.
    # No-op without LSTMs.
    from kerasuite.export.fused_lstm_tflite import repair_fused_lstms

    content, _ = repair_fused_lstms(content)
    if mode == "int8_float_io" and uint8_inputs:
        content = pin_pixel_quantization(content)
    # Fused LSTMs keep h/c in variable tensors across invocations: zero them inside the file so
    # every call (LiteRT, TFLM, MediaPipe, firmware without a reset) is a fresh one. No-op otherwise.
    from kerasuite.export.stateless_lstm import zero_lstm_state_each_call

    content, _ = zero_lstm_state_each_call(content)
    # ops a runtime has no kernel for at these types (the log-mel's LOG, int16 REDUCE_MAX, ...)
    if mode in CALIBRATED_MODES:
        from kerasuite.export.float_log import keep_kernel_gaps_in_float

        content, _ = keep_kernel_gaps_in_float(content)
    from kerasuite.export.compact import add_serving_signature

    # A serving signature named as signature.json says (the converter writes none for this path).
    content = add_serving_signature(content, [tensor.name for tensor in converter._kerasuite_model.inputs])
    if compact:  # intermediate tensor names and empty buffers; outputs stay bit-identical
        from kerasuite.export.compact import compact as compact_model

        content, _ = compact_model(content)
    return content


def pin_pixel_quantization(content: bytes) -> bytes:
    """Give every uint8 model input the scale 1/255 and zero point 0.

    Apps and MediaPipe feed raw pixels to a uint8 input and ignore its quantization, so pixel p
    must mean p / 255 exactly; calibration gives that only when the representative images span
    0..255. The QUANTIZE op behind the input reads the input's scale at run time, so this changes
    no weight: values are requantized into the calibrated int8 range as before.
    """
    from ai_edge_litert import schema_py_generated as schema

    from kerasuite.export.compact import pack_aligned

    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    subgraph = model.subgraphs[0]
    for index in subgraph.inputs:
        tensor = subgraph.tensors[int(index)]
        if tensor.type == schema.TensorType.UINT8:
            tensor.quantization.scale = [PIXEL_SCALE]
            tensor.quantization.zeroPoint = [0]
    return pack_aligned(model, len(content) + 1024)


# The debugger's measuring loop runs Python over every layer for every example it is given, and
# a layer ranking needs far fewer examples than calibration (a keyword model: the same worst layer
# and top five from 128 of its 1,280 clips; tools/benchmarking/int8_diagnosis_before_after.py).
# Calibration keeps every example, so the debugged model has the exported file's scales.
DIAGNOSIS_EXAMPLES = 128


def evenly_spaced(dataset, examples: int):
    """A dataset factory yielding about ``examples`` examples of ``dataset()``'s batches, spread
    over all of it (a user's calibration file may be sorted by class)."""
    import numpy as np

    batches = list(dataset())
    per_batch = max(1, len(batches[0][0])) if batches else 1
    wanted = min(len(batches), max(1, examples // per_batch))
    picked = np.unique(np.linspace(0, len(batches) - 1, wanted).round().astype(int)) if batches else []

    def spaced():
        for index in picked:
            yield batches[index]

    return spaced


def diagnose_int8(model_path: str, representative: str, batch_size, int8_weights: str = "per_channel",
                  examples: int = DIAGNOSIS_EXAMPLES) -> list[dict]:
    """Per-layer quantization error from TFLite's QuantizationDebugger, in graph order.

    ``rmse_over_scale`` is the root-mean-square error of a layer's quantized output measured in
    quantization steps: about 0.29 is ideal rounding, much larger means that layer's range is the
    problem.
    """
    import csv
    import io

    import tensorflow as tf

    from kerasuite.export import op_error

    converter, calibration = build_converter(model_path, "int8", representative, batch_size, False, integer_io=False,
                                             int8_weights=int8_weights)
    dataset = evenly_spaced(calibration, examples) if examples else calibration
    options = tf.lite.experimental.QuantizationDebugOptions(
        layer_direct_compare_metrics={"signal_rms": _signal_rms})
    debugger = tf.lite.experimental.QuantizationDebugger(converter=converter, debug_dataset=dataset,
                                                         debug_options=options)
    keep_intermediate_tensors(debugger, tf)
    debugger.run()
    buffer = io.StringIO()
    debugger.layer_statistics_dump(buffer)
    rows = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    measured = {}
    if any(row.get("op_name") in op_error.MEASURED_OPS for row in rows):
        # the debugger misreports these ops (op_error): measure them on the int8 model itself,
        # quantized from the debugger's own calibration (no second conversion)
        measured = op_error.measure(debugger.get_nondebug_quantized_model(), dataset)
    layers = []
    for row in rows:
        scale = float(row.get("scale") or 0.0)
        mse = float(row.get("mean_squared_error") or 0.0)
        signal = float(row.get("signal_rms") or 0.0)
        layer = {
            "op": row.get("op_name"),
            "tensor": row.get("tensor_name"),
            "rmse_over_scale": (mse ** 0.5) / scale if scale else None,
            "max_abs_error": float(row.get("max_abs_error") or 0.0),
            # the float values' RMS in quantization steps: under half a step, int8 rounds them away
            "signal_over_scale": signal / scale if scale and signal else None,
        }
        if row.get("op_name") in op_error.MEASURED_OPS:
            # never the debugger's figure for these: measured, or unknown when not found
            layer.update(measured.get(layer["tensor"], {"rmse_over_scale": None}), measured_on="int8 model tensors",
                         debugger_rmse_over_scale=layer["rmse_over_scale"])
        layers.append(layer)
    return layers


def keep_intermediate_tensors(debugger, tf) -> None:
    """Rebuild the debugger's interpreter so that it keeps intermediate tensors.

    Built from a converter, the debugger's interpreter does not keep them (TF 2.21 sets
    experimental_preserve_all_tensors only on its other path), so its per-layer hooks read reused
    arena memory: 1e39 where the values were 0.01. There is no public way to ask for it, so this
    replaces a private attribute, and refuses when a TensorFlow release no longer has it: setting
    it then would change nothing and the diagnosis would name a layer from garbage.
    """
    if not hasattr(debugger, "_quant_interpreter") or not hasattr(debugger, "quant_model"):
        raise RuntimeError(
            f"TensorFlow {tf.__version__}'s QuantizationDebugger has no _quant_interpreter/quant_model to rebuild "
            "with experimental_preserve_all_tensors, so its per-layer values cannot be trusted; no diagnosis")
    debugger._quant_interpreter = tf.lite.Interpreter(model_content=debugger.quant_model,
                                                      experimental_preserve_all_tensors=True)


def _signal_rms(float_values, quantized_values, scale, zero_point) -> float:
    """The QuantizationDebugger's per-layer hook: the RMS of the float model's values."""
    import numpy as np

    return float(np.sqrt(np.mean(np.square(np.asarray(float_values, np.float64)))))


class NeedsNonBuiltinOps(Exception):
    pass


class CannotCalibrate(Exception):
    """The converter's calibrator recorded no range for this tensor (an integer input)."""


def convert_and_write(model: str, mode: str, out: str, representative, batch_size, allow_flex: bool,
                      compact: bool = True, int8_weights: str = "per_channel",
                      uint8_inputs: tuple[str, ...] = ()) -> dict:
    """One mode's report entry; never raises, so the other modes still convert."""
    import traceback

    from kerasuite.io_utils import write_bytes_atomic

    try:
        rewrites: list[str] = []
        content = convert(model, mode, representative, batch_size, allow_flex, compact, int8_weights, uint8_inputs,
                          rewrites)
    except NeedsNonBuiltinOps as error:
        return {"refused": (
            f"export {mode}: the model needs ops that are not TFLite builtins: {error}; "
            "allow them with --allow-flex (python -m kerasuite.export) or --set export.allow_flex=true "
            "(kerasuite.train); ai-edge-litert cannot run Flex ops")}
    except CannotCalibrate as error:  # this mode only: the other modes of the request keep their files
        return {"refused": (
            f"export {mode}: TensorFlow's quantizer cannot calibrate the integer tensor {error} "
            "(it records no range for it; tensorflow/tensorflow#60799); use int8 for this model"), "mode_only": True}
    except Exception as error:  # reported per mode; the parent raises it
        # The converter's own diagnostics ("loc(...): error: ...") head its message, above the
        # Python call sites the traceback's tail holds: keep both.
        diagnostics = [line for line in str(error).splitlines() if "error: " in line][:5]
        return {"error": "\n".join(diagnostics + traceback.format_exc().strip().splitlines()[-15:])}
    write_bytes_atomic(out, content)
    return {"size_bytes": len(content), **({"conversions": rewrites} if rewrites else {})}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--mode", action="append", required=True, choices=EXPORT_MODES,
                        help="repeatable; the n-th --mode is written to the n-th --out")
    parser.add_argument("--out", action="append", required=True)
    parser.add_argument("--report", help="JSON file: one result per mode")
    parser.add_argument("--representative")
    parser.add_argument("--batch-size", type=int, default=0)
    parser.add_argument("--allow-flex", action="store_true")
    parser.add_argument("--no-compact", dest="compact", action="store_false",
                        help="keep the converter's tensor names and empty buffers")
    parser.add_argument("--int8-weights", choices=INT8_WEIGHTS, default="per_channel")
    parser.add_argument("--uint8-input", dest="uint8_inputs", action="append", default=[],
                        help="int8_float_io: a pixel input (value = pixel / 255) taken as uint8 (repeatable)")
    parser.add_argument("--import", dest="imports", action="append", default=[],
                        help="module that registers the model's custom layers (repeatable)")
    parser.add_argument("--diagnose", action="store_true", help="write int8 per-layer error stats (JSON) to --out")
    parser.add_argument("--diagnosis-examples", type=int, default=DIAGNOSIS_EXAMPLES,
                        help="examples the per-layer measurement runs on (0: the whole calibration set)")
    args = parser.parse_args(argv)
    if len(args.mode) != len(args.out):
        parser.error("give one --out per --mode")

    from kerasuite.io_utils import write_json_atomic
    from kerasuite.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    import importlib

    for module in args.imports:
        importlib.import_module(module)

    if args.diagnose:
        write_json_atomic(args.out[0], diagnose_int8(args.model, args.representative, args.batch_size or None,
                                                     args.int8_weights, args.diagnosis_examples))
        return 0
    report = {}
    for mode, out in zip(args.mode, args.out):
        report[mode] = convert_and_write(args.model, mode, out, args.representative, args.batch_size or None,
                                         args.allow_flex, args.compact, args.int8_weights,
                                         tuple(args.uint8_inputs))
        if args.report:  # after every mode, so a crash in a later one keeps the earlier results
            write_json_atomic(args.report, report)
        print(json.dumps({"mode": mode, "path": out, **report[mode]}), flush=True)
        if "refused" in report[mode]:
            print(report[mode]["refused"], file=sys.stderr)
    if any("refused" in result for result in report.values()):
        return 2
    return 1 if any("error" in result for result in report.values()) else 0


def serve() -> int:
    """Convert request after request, TensorFlow imported once (about 7 s of CPU a child saves).

    Each line on stdin is one request, ``{"argv": [...], "stdout": PATH, "stderr": PATH}``:
    ``argv`` as :func:`main` takes it; the request's stdout and stderr (the converter's own words
    included) go to the two files. Each answer is one line ``{"code": N, "error": LINE}`` on the
    stdout this process started with, ``error`` the exception that failed the request (null if
    none): it reaches the parent even when the logs cannot be written. Between requests both
    descriptors point at this process's own stderr, so nothing said outside a request lands in a
    request's logs or in the answers. A crash ends the process, which the parent sees as it sees
    a one-shot child's crash; end of stdin ends it normally.
    """
    import gc
    import traceback

    from kerasuite.lifeline import die_with_parent
    from kerasuite.quiet import flush_native_stdio

    die_with_parent()  # the parent starts this from a thread that lives as long as it does
    answers = os.fdopen(os.dup(1), "w")
    own_stderr = os.dup(2)
    os.dup2(own_stderr, 1)
    for line in sys.stdin:
        request = json.loads(line)
        code, error = 1, None
        try:
            with open(request["stdout"], "ab") as stdout, open(request["stderr"], "ab") as stderr:
                os.dup2(stdout.fileno(), 1)
                os.dup2(stderr.fileno(), 2)
                try:
                    code = main(request["argv"])
                except SystemExit as stop:  # argparse
                    code = stop.code if isinstance(stop.code, int) else 2
                except Exception as failure:
                    code, error = 1, _exception_line(failure)
                    traceback.print_exc()
                finally:
                    sys.stdout.flush()
                    sys.stderr.flush()
                    flush_native_stdio()  # the converter's C++ words belong to this request's logs
        except OSError as failure:  # the logs could not be opened or written (a full disk): the
            code, error = 1, error or _exception_line(failure)  # answer still says why
        finally:
            os.dup2(own_stderr, 1)
            os.dup2(own_stderr, 2)
        if "keras" in sys.modules:  # the next request's model must not meet this one's layers
            sys.modules["keras"].backend.clear_session()
        gc.collect()
        answers.write(json.dumps({"code": code, "error": error}) + "\n")
        answers.flush()
    return 0


def _exception_line(failure: BaseException) -> str:
    return f"{type(failure).__name__}: {failure}"


def one_shot() -> int:
    from kerasuite.lifeline import die_with_parent

    die_with_parent()  # a killed trainer must not leave this converter writing beside its bundle
    return main()


if __name__ == "__main__":
    sys.exit(serve() if sys.argv[1:] == ["--serve"] else one_shot())
