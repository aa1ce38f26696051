"""Run a .tflite through LiteRT's CompiledModel API (``ai_edge_litert.compiled_model``), the API
LiteRT 2.x recommends, with the Interpreter as the fallback where the installed LiteRT lacks it.

``open_model(path, api)`` returns a runner with the Interpreter runner's interface (``predict``,
``latency_ms``, ``describe``, ``input_names``, ``op_names``) plus ``details()``, whose ``"api"``
says which API actually ran (``compiled_model`` or ``interpreter``) and why it fell back.
Quantization parameters and input names come from an Interpreter over the same bytes (the
CompiledModel's tensor details carry neither); inference goes through the CompiledModel only.
numpy and LiteRT only.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from kerasuite.errors import UserError
from kerasuite.quiet import native_stderr_silenced
from kerasuite.runtime.interpreter import (
    NamedInputsRunner, TFLiteModel, dequantize, has_dynamic_inner_dimension, quantize)

APIS = ("interpreter", "compiled")


def compiled_model_class():
    try:
        from ai_edge_litert.compiled_model import CompiledModel
    except ImportError:
        return None
    return CompiledModel


_EXIT_MUTED = False


def mute_native_stderr_at_exit() -> None:
    """LiteRT's CompiledModel logs its accelerator set-up and teardown through a buffered native
    stream that is flushed only when the process ends, after any in-process silencing is over;
    point fd 2 at /dev/null once Python's own shutdown handlers have run."""
    global _EXIT_MUTED
    import os

    if _EXIT_MUTED or os.environ.get("KERASUITE_VERBOSE"):
        return
    import atexit

    def mute() -> None:
        import sys

        sys.stderr.flush()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)

    atexit.register(mute)
    _EXIT_MUTED = True


def applicability(mode: str, description: dict) -> str | None:
    """None when the CompiledModel API can load this file (a mode's signature.json entry)."""
    if compiled_model_class() is None:
        return "ai_edge_litert.compiled_model is not installed (ai-edge-litert >= 2.0 has it)"
    if description.get("variable_tensors"):
        return ("the file keeps state in variable tensors (fused LSTM), which LiteRT's CompiledModel "
                "does not load yet (model_load.cc: 'Variable tensors not yet supported'); use the Interpreter, or "
                "export with export.lstm=unrolled (no variable tensors)")
    return None


class CompiledTFLiteModel(NamedInputsRunner):
    """Batch 1 per run (the CompiledModel's buffers have the model's static shape)."""

    def __init__(self, path: str | Path, threads: int = 1):
        from ai_edge_litert.cpu_options import CpuOptions
        from ai_edge_litert.options import Options

        self.path = Path(path)
        self.reference = TFLiteModel(self.path, threads=threads)  # names and quantization only
        CompiledModel = compiled_model_class()
        mute_native_stderr_at_exit()
        try:
            with native_stderr_silenced():
                self.model = CompiledModel.from_file(str(self.path), options=Options(cpu_options=CpuOptions(num_threads=threads)))
        except (ValueError, RuntimeError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            why = applicability("", self.reference.describe()) or first
            raise UserError(f"{self.path}: CompiledModel cannot load it ({why})") from None
        signatures = self.model.get_signature_list()
        self.signature_key = next(iter(signatures))
        self.signature_inputs = list(signatures[self.signature_key]["inputs"])
        self.signature_outputs = list(signatures[self.signature_key]["outputs"])
        # Signature inputs follow the subgraph's input order; the Interpreter names them the way
        # callers do (Keras input names from a SignatureDef, else tensor names).
        by_position = list(zip(self.reference.inputs, self.reference.input_names))
        self._inputs = [(name, detail) for name, (detail, _) in zip(self.signature_inputs, by_position)]
        self._caller_names = [caller for _, caller in by_position]
        self._output = self.reference.outputs[0]
        self._output_shapes = [[int(x) for x in detail["shape"]] for detail in self.reference.outputs]
        self._input_shapes = [[int(x) for x in detail["shape"]] for _, detail in self._inputs]
        self._shape_probe: TFLiteModel | None = None
        # LiteRT sets up its environment and accelerators lazily, at the first buffer write, and
        # logs that set-up natively: write zeros once while fd 2 is silenced. No invoke: zeros are
        # not a valid input of every model (an int8 ranking file failed to invoke on them).
        if has_dynamic_inner_dimension([detail for _, detail in self._inputs]):
            # the written length (1) can be too short for the graph: buffers are made per shape, at the first run
            self._input_shapes = None
            return
        with native_stderr_silenced():
            self._input_buffers = self.model.create_input_buffers(0)
            self._output_buffers = self.model.create_output_buffers(0)
            for buffer, (_, detail) in zip(self._input_buffers, self._inputs):
                buffer.write(np.zeros([int(s) for s in detail["shape"]], detail["dtype"]))

    input_names = property(lambda self: self.reference.input_names)
    fixed_batch = property(lambda self: 1)

    def _invoke(self) -> None:
        try:
            self.model.run_by_index(0, self._input_buffers, self._output_buffers)
        except RuntimeError as error:
            if "custom allocation for output" not in str(error):
                raise
            # LiteRT's TOPK_V2, SLICE and kernels like them allocate their outputs at run time when
            # an input has an unknown dimension; CompiledModel binds every output to a buffer it owns
            from kerasuite.runtime.file_ops import output_producers

            dynamic_batch = any(detail["shape_signature"][:1] == -1 for _, detail in self._inputs)
            writers = "/".join(dict.fromkeys(output_producers(self.path.read_bytes()))) or "an op"
            raise RuntimeError(f"CompiledModel cannot bind an output that an op sizes at run time ({writers} writes "
                               "the output, allocated dynamically" + ("; with a dynamic batch: a file converted with a "
                                                                      "fixed batch, --batch-size 1, has static outputs)"
                                                                      if dynamic_batch else ")")
                               + f" [{' '.join(str(error).split())[:120]}]") from None

    def _run_one(self, example: dict[str, np.ndarray]) -> np.ndarray:
        return self._run_all(example)[0]

    def _run_all(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:  # one example (batch 1)
        values = [np.asarray(inputs[caller]) for caller in self._caller_names]
        if [list(value.shape) for value in values] != self._input_shapes:
            self._resize(dict(zip(self._caller_names, values)))
        for buffer, (_, detail), value in zip(self._input_buffers, self._inputs, values):
            buffer.write(np.ascontiguousarray(quantize(value, detail)))
        self._invoke()
        outputs = []
        for buffer, detail, shape in zip(self._output_buffers, self.reference.outputs, self._output_shapes):
            raw = buffer.read(int(np.prod(shape)), detail["dtype"])
            outputs.append(dequantize(np.asarray(raw).reshape(shape), detail))
        return outputs

    def _resize(self, example: dict[str, np.ndarray]) -> None:
        """Give inputs with dynamic dimensions (a sequence length) the example's shape. The
        CompiledModel resizes its inputs but keeps the file's output shapes in its output buffer
        requirements (a too-small buffer fails the run), so an Interpreter over the same bytes
        runs the example once to size the outputs (some output shapes are only known after a run),
        and the output buffers wrap host arrays of those shapes."""
        from ai_edge_litert.tensor_buffer import TensorBuffer

        shapes = [list(np.shape(example[caller])) for caller in self._caller_names]
        for (_, detail), caller, shape in zip(self._inputs, self._caller_names, shapes):
            allowed = [int(x) for x in detail.get("shape_signature", detail["shape"])]
            if len(shape) != len(allowed) or any(have not in (want, -1) for want, have in zip(shape, allowed)) \
                    or shape[0] != 1:
                raise UserError(f"{self.path}: input {caller!r} has shape {shape}, the compiled model takes "
                                f"{[1, *allowed[1:]]} (-1: any size; one example per run)")
        if self._shape_probe is None:
            self._shape_probe = TFLiteModel(self.path)
        probe = self._shape_probe.interpreter
        with native_stderr_silenced():
            self._shape_probe.predict(example, batch_size=1)
            for index, shape in enumerate(shapes):
                self.model.resize_input_tensor(index, shape)
            self._input_buffers = self.model.create_input_buffers(0)
            for buffer, (_, detail), shape in zip(self._input_buffers, self._inputs, shapes):
                buffer.write(np.zeros(shape, detail["dtype"]))  # LiteRT's lazy set-up logs at the first write
            # the buffers wrap these arrays' memory (zero-copy): they must live as long as the buffers
            self._output_arrays = [np.zeros(detail["shape"], detail["dtype"]) for detail in probe.get_output_details()]
            self._output_buffers = [TensorBuffer.create_from_host_memory(array) for array in self._output_arrays]
        self._input_shapes = [list(shape) for shape in shapes]
        self._output_shapes = [[int(x) for x in detail["shape"]] for detail in probe.get_output_details()]

    def predict(self, inputs: dict[str, np.ndarray], batch_size: int = 1) -> np.ndarray:
        self._check_inputs(inputs)
        count = len(next(iter(inputs.values())))
        outputs = [self._run_one({name: inputs[name][i:i + 1] for name in self.input_names}) for i in range(count)]
        return np.concatenate(outputs) if outputs else np.zeros((0, *self._output["shape"][1:]), np.float32)

    def latency_ms(self, example: dict[str, np.ndarray], runs: int = 50, warmup: int = 5) -> dict[str, float]:
        self._run_one({name: example[name][:1] for name in self.input_names})
        for _ in range(warmup):
            self._invoke()
        timings = []
        for _ in range(max(1, runs)):
            started = time.perf_counter()
            self._invoke()
            timings.append((time.perf_counter() - started) * 1000.0)
        return {"p50": float(np.percentile(timings, 50)), "p90": float(np.percentile(timings, 90))}

    def describe(self) -> dict[str, Any]:
        return self.reference.describe()

    def op_names(self) -> list[str]:
        return self.reference.op_names()

    def details(self) -> dict[str, Any]:
        found = self.reference.details()
        return {**found, "api": "ai_edge_litert.CompiledModel", "signature": self.signature_key}

    def close(self) -> None:
        """Release the model (LiteRT logs each accelerator it destroys to stderr: muted here)."""
        if getattr(self, "model", None) is None:
            return
        with native_stderr_silenced():
            self._input_buffers = self._output_buffers = None
            self.model.close()
            self.model = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: modules may already be gone
            pass


class InterpreterRunner(TFLiteModel):
    """The Interpreter runner with the runtime ``details()``; ``fallback`` says why it stands in."""

    fallback: str | None = None

    def details(self) -> dict[str, Any]:
        found = super().details()
        if self.fallback:
            found["fallback_reason"] = self.fallback
        return found


def open_model(path: str | Path, api: str = "interpreter", threads: int = 1):
    if api not in APIS:
        raise UserError(f"--api {api!r}: expected one of {', '.join(APIS)}")
    if api == "compiled":
        runner = InterpreterRunner(path, threads)
        runner.fallback = applicability("", runner.describe())
        if runner.fallback is None:
            return CompiledTFLiteModel(path, threads)
        return runner
    return InterpreterRunner(path, threads)
