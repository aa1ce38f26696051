"""Run a .tflite file with numpy and the LiteRT runtime only (never TensorFlow or Keras).

The runtime is ``ai_edge_litert``; ``tflite_runtime`` and finally ``tf.lite`` are fallbacks for
machines that lack it. Inputs are quantized and outputs dequantized with the model's own
parameters, so callers always speak float (or integer ids) regardless of the export mode.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from kerasuite.errors import UserError
from kerasuite.quiet import native_stderr_silenced

TFLITE_IDENTIFIER = b"TFL3"  # flatbuffer file identifier at bytes 4..8


def load_interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter  # type: ignore[import-not-found]

        return Interpreter
    except ImportError:
        pass
    import tensorflow as tf  # last resort only; devices should have ai-edge-litert

    return tf.lite.Interpreter


def check_tflite_file(path: str | Path) -> bytes:
    path = Path(path)
    if path.is_dir():  # the bundle folder given for one of its files
        found = ", ".join(sorted(p.name for p in path.glob("*.tflite"))) or "none"
        raise UserError(f"{path}: a folder; pass one .tflite file (here: {found})")
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    data = path.read_bytes()
    if len(data) < 16 or data[4:8] != TFLITE_IDENTIFIER:
        raise UserError(f"{path}: not a TFLite flatbuffer (missing the TFL3 identifier)")
    return data


def quantize(values: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    dtype = detail["dtype"]
    scale, zero_point = detail["quantization"]
    if np.issubdtype(dtype, np.integer) and scale:
        info = np.iinfo(dtype)
        quantized = np.round(np.asarray(values, np.float32) / scale + zero_point)
        return np.clip(quantized, info.min, info.max).astype(dtype)
    return np.asarray(values).astype(dtype)


def dequantize(values: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    scale, zero_point = detail["quantization"]
    if np.issubdtype(detail["dtype"], np.integer) and scale:
        return (values.astype(np.float32) - zero_point) * scale
    return values.astype(np.float32) if np.issubdtype(values.dtype, np.floating) else values


def count_variable_tensors(content: bytes) -> int:
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(content, 0)
    count = 0
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)
        count += sum(bool(subgraph.Tensors(t).IsVariable()) for t in range(subgraph.TensorsLength()))
    return count


def keeps_state(content: bytes) -> bool:
    """Whether state carries from one invoke to the next unless the caller resets it (a fused
    LSTM whose h/c nothing in the file rewrites first); one analysis for every runtime."""
    from kerasuite.runtime.tflm import needs_reset

    return needs_reset(content)


def has_dynamic_inner_dimension(details: list[dict[str, Any]]) -> bool:
    """Whether an input has a dynamic dimension besides the batch (a sequence length)."""
    return any(-1 in list(detail.get("shape_signature", detail["shape"]))[1:] for detail in details)


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


class NamedInputsRunner:
    """What the LiteRT runners share: named inputs checked once per public call (``predict``
    loops over ``_run_all`` unchecked), every output returned by ``run_outputs``."""

    path: Path
    input_names: list[str]

    def run_outputs(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Every output for these inputs, in the file's output order, dequantized."""
        self._check_inputs(inputs)
        return self._run_all(inputs)

    def _check_inputs(self, inputs: dict[str, np.ndarray]) -> None:
        missing = sorted(set(self.input_names) - set(inputs))
        if missing:
            raise UserError(f"{self.path}: inputs missing: {', '.join(missing)}")

    def _run_all(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        raise NotImplementedError


class TFLiteModel(NamedInputsRunner):
    """A loaded .tflite file with a float-in, float-out ``predict`` over whole arrays."""

    def __init__(self, path: str | Path, threads: int = 1):
        self.path = Path(path)
        content = check_tflite_file(self.path)
        Interpreter = load_interpreter_class()
        self.threads = threads
        try:
            with native_stderr_silenced():
                self.interpreter = Interpreter(model_content=content, num_threads=threads)
        except (ValueError, RuntimeError) as error:
            raise UserError(f"{self.path}: the runtime cannot load it ({_first_line(error)})") from None
        try:
            with native_stderr_silenced():
                self.interpreter.allocate_tensors()
            self._allocated = True
        except (ValueError, RuntimeError) as error:
            # A dynamic length is written as 1, which can be too short for the graph (a width-3
            # Conv1D's output would have length -1): allocate at the first run's real shapes.
            if not has_dynamic_inner_dimension(self.interpreter.get_input_details()):
                raise UserError(f"{self.path}: the runtime cannot load it ({_first_line(error)})") from None
            self._allocated = False
        self.inputs = self.interpreter.get_input_details()
        self.outputs = self.interpreter.get_output_details()
        self._signature_names = self._input_names_by_index()
        self.variable_tensors = count_variable_tensors(content)
        self.keeps_state = keeps_state(content)

    def _input_names_by_index(self) -> dict[int, str]:
        """Map tensor index -> Keras input name via the serving signature (names survive there)."""
        names: dict[int, str] = {}
        self._output_names: dict[int, str] = {}
        signatures = self.interpreter.get_signature_list()
        if signatures:
            key = next(iter(signatures))
            runner_inputs = self.interpreter.get_signature_runner(key).get_input_details()
            for name, detail in runner_inputs.items():
                names[detail["index"]] = name
            for name, detail in self.interpreter.get_signature_runner(key).get_output_details().items():
                self._output_names[detail["index"]] = name
        for detail in self.inputs:
            names.setdefault(detail["index"], detail["name"])
        return names

    @property
    def input_names(self) -> list[str]:
        return [self._signature_names[d["index"]] for d in self.inputs]

    @property
    def fixed_batch(self) -> int | None:
        """The batch size baked into the graph, or None if the batch dimension is dynamic."""
        signature = self.inputs[0].get("shape_signature", self.inputs[0]["shape"])
        return None if signature[0] == -1 else int(signature[0])

    def _run(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return self._run_all(batch)[0]

    def _run_all(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        # Resize every input before one allocate: allocating between resizes of a multi-input
        # model makes the delegate prepare a graph whose inputs disagree on the batch size.
        resized = False
        for detail in self.inputs:
            value = inputs[self._signature_names[detail["index"]]]
            if list(detail["shape"]) != list(value.shape):
                self.interpreter.resize_tensor_input(detail["index"], list(value.shape))
                resized = True
        if resized or not self._allocated:
            self.interpreter.allocate_tensors()
            self._allocated = True
            self.inputs = self.interpreter.get_input_details()
            self.outputs = self.interpreter.get_output_details()
        for detail in self.inputs:
            value = inputs[self._signature_names[detail["index"]]]
            self.interpreter.set_tensor(detail["index"], quantize(value, detail))
        # Stateful ops keep their state in variable tensors between calls (the fused LSTM's h/c,
        # tensorflow#47813): every example must start from the initial state. No-op otherwise.
        self.interpreter.reset_all_variables()
        self.interpreter.invoke()
        return [dequantize(self.interpreter.get_tensor(out["index"]), out) for out in self.outputs]

    def predict(self, inputs: dict[str, np.ndarray], batch_size: int = 256) -> np.ndarray:
        self._check_inputs(inputs)
        count = len(next(iter(inputs.values())))
        step = self.fixed_batch or batch_size
        parts = []
        for start in range(0, count, step):
            chunk = {name: inputs[name][start:start + step] for name in self.input_names}
            real = len(next(iter(chunk.values())))
            if self.fixed_batch and real < self.fixed_batch:  # pad the last chunk to the baked batch
                chunk = {n: np.concatenate([v, np.repeat(v[-1:], self.fixed_batch - real, 0)]) for n, v in chunk.items()}
            parts.append(self._run(chunk)[:real])
        return np.concatenate(parts)

    def latency_ms(self, example: dict[str, np.ndarray], runs: int = 50, warmup: int = 5) -> dict[str, float]:
        """p50/p90 of single ``invoke`` calls on one example (batch 1, or the baked batch)."""
        batch = self.fixed_batch or 1
        chunk = {name: np.repeat(example[name][:1], batch, 0) for name in self.input_names}
        self._run(chunk)
        for _ in range(warmup):
            self.interpreter.invoke()
        timings = []
        for _ in range(max(1, runs)):
            started = time.perf_counter()
            self.interpreter.invoke()
            timings.append((time.perf_counter() - started) * 1000.0)
        return {"p50": float(np.percentile(timings, 50)), "p90": float(np.percentile(timings, 90))}

    def describe(self) -> dict[str, Any]:
        def tensor(detail: dict[str, Any], name: str) -> dict[str, Any]:
            scale, zero_point = detail["quantization"]
            signature = detail.get("shape_signature", detail["shape"])
            return {
                "name": name,
                "shape": [int(s) for s in signature],
                "dtype": np.dtype(detail["dtype"]).name,
                "quantization": {"scale": float(scale), "zero_point": int(zero_point)} if scale else None,
            }

        return {
            "inputs": [tensor(d, self._signature_names[d["index"]]) for d in self.inputs],
            "outputs": [tensor(d, self._output_names.get(d["index"], d["name"])) for d in self.outputs],
            # state kept between invokes (the fused LSTM's): reset_all_variables() before each
            "variable_tensors": self.variable_tensors,
            "keeps_state": self.keeps_state,
        }

    def details(self) -> dict[str, Any]:
        """What a parity verdict records about this runtime (``kerasuite.export.runtimes``)."""
        module = type(self.interpreter).__module__.split(".")[0]
        version = None
        try:
            from importlib.metadata import version as package_version

            version = package_version({"ai_edge_litert": "ai-edge-litert", "tflite_runtime": "tflite-runtime"}
                                      .get(module, module))
        except Exception:  # a vendored or source-built runtime has no distribution metadata
            pass
        return {"api": f"{module}.Interpreter", "version": version, "threads": self.threads}

    def op_names(self) -> list[str]:
        """The file's builtin ops (the interpreter's own node list would say DELEGATE for the ops
        XNNPACK took)."""
        from kerasuite.runtime.file_ops import builtin_op_names

        return builtin_op_names(self.path.read_bytes())
