"""Inference backends: one interface, chosen per cell.

A backend loads one model file and runs named inputs to named outputs::

    backend.run({"input_ids": ids, ...}, ["output_start_logits", ...]) -> [array, ...]

Inputs are cast to the dtypes the model declares (``input_dtypes``). Backends:

- ``onnxruntime``: ONNX models on the CPU or CUDA execution provider (never a silent CPU fallback).
- ``pytorch``: the ONNX graph executed with torch on the CPU or CUDA, fp32/fp16/bf16, CUDA graphs for
  fixed shapes (``torch_backend``).
- ``tensorflow``: frozen graphs (the reference's .pb files) or ONNX graphs run as TensorFlow operations
  (``tf_backend``), on the CPU or a GPU.
- ``tflite``: TFLite flatbuffers through ai-edge-litert (CPU; the open-division MobileNet/EfficientNet).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

BACKENDS = ("onnxruntime", "pytorch", "tensorflow", "tflite")
DEVICES = {"onnxruntime": ("cpu", "cuda"), "pytorch": ("cpu", "cuda"), "tensorflow": ("cpu", "cuda"),
           "tflite": ("cpu",)}


class Backend(Protocol):
    name: str
    version: str
    input_dtypes: dict[str, np.dtype]

    def run(self, feeds: dict[str, np.ndarray], outputs: list[str]) -> list[np.ndarray]:
        """Run the model on one batch; ``outputs`` in the order asked."""


def default_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


_ORT_TYPES = {"tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(int32)": np.int32,
              "tensor(float16)": np.float16, "tensor(uint8)": np.uint8, "tensor(int8)": np.int8}


@dataclass
class OnnxRuntimeBackend:
    model_path: str
    threads: int = 0
    device: str = "cpu"
    name: str = "onnxruntime"
    input_dtypes: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        import onnxruntime as ort

        self.version = ort.__version__
        so = ort.SessionOptions()
        so.intra_op_num_threads = self.threads or default_threads()
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # BENCHFLEET_ORT_SPIN=0 stops idle worker threads from spinning (less CPU taken from LoadGen).
        so.add_session_config_entry("session.intra_op.allow_spinning", os.environ.get("BENCHFLEET_ORT_SPIN", "1"))
        providers = ["CPUExecutionProvider"]
        if self.device == "cuda":
            available = ort.get_available_providers()
            if "CUDAExecutionProvider" not in available:
                raise RuntimeError(f"device: cuda asked, but this onnxruntime {ort.__version__} has no "
                                   f"CUDAExecutionProvider (it has {', '.join(available)}); install "
                                   "onnxruntime-gpu on the host or use device cpu")
            providers = ["CUDAExecutionProvider"]  # never fall back to the CPU silently
        self.session = ort.InferenceSession(self.model_path, so, providers=providers)
        if self.session.get_providers()[0] != providers[0]:
            raise RuntimeError(f"device: {self.device} asked, but onnxruntime runs on {self.session.get_providers()}")
        self.input_dtypes = {i.name: np.dtype(_ORT_TYPES.get(i.type, np.float32)) for i in self.session.get_inputs()}
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run(self, feeds: dict[str, np.ndarray], outputs: list[str]) -> list[np.ndarray]:
        missing = [o for o in outputs if o not in self.output_names]
        if missing:
            raise ValueError(f"model: output {missing[0]!r} not in {self.model_path} (has {self.output_names})")
        cast = {k: np.ascontiguousarray(v, dtype=self.input_dtypes.get(k, v.dtype)) for k, v in feeds.items()}
        return self.session.run(outputs, cast)


@dataclass
class TFLiteBackend:
    """ai-edge-litert's interpreter; the batch dimension is resized to each call's batch."""

    model_path: str
    threads: int = 0
    device: str = "cpu"
    name: str = "tflite"
    input_dtypes: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.device != "cpu":
            raise RuntimeError("device: the tflite backend runs on the cpu only; use device cpu")
        try:
            from ai_edge_litert import interpreter as litert
        except ImportError as exc:
            raise RuntimeError("backend: tflite needs the ai-edge-litert package on the host "
                               "(pip install ai-edge-litert; benchfleet setup installs it)") from exc
        from importlib.metadata import version

        self.version = version("ai-edge-litert")
        self.interp = litert.Interpreter(model_path=self.model_path, num_threads=self.threads or default_threads())
        self.inputs = {d["name"]: d for d in self.interp.get_input_details()}
        self.outputs = {d["name"]: d for d in self.interp.get_output_details()}
        self.input_dtypes = {k: np.dtype(d["dtype"]) for k, d in self.inputs.items()}
        self._batch = None

    def run(self, feeds: dict[str, np.ndarray], outputs: list[str]) -> list[np.ndarray]:
        n = next(iter(feeds.values())).shape[0]
        if n != self._batch:
            for d in self.inputs.values():
                self.interp.resize_tensor_input(d["index"], [n, *d["shape"][1:]])
            self.interp.allocate_tensors()
            self._batch = n
        for k, v in feeds.items():
            self.interp.set_tensor(self.inputs[k]["index"], np.ascontiguousarray(v, dtype=self.input_dtypes[k]))
        self.interp.invoke()
        missing = [o for o in outputs if o not in self.outputs]
        if missing:
            raise ValueError(f"model: output {missing[0]!r} not in {self.model_path} (has {sorted(self.outputs)})")
        return [self.interp.get_tensor(self.outputs[o]["index"]) for o in outputs]


def make_backend(name: str, model_path: str, threads: int = 0, device: str = "cpu",
                 precision: str = "fp32") -> Backend:
    if name not in BACKENDS:
        raise ValueError(f"backend: {name!r} is not supported; choose one of {', '.join(BACKENDS)}")
    if device not in DEVICES[name]:
        raise ValueError(f"device: {name} runs on {', '.join(DEVICES[name])}, not {device}")
    if name == "pytorch":
        from benchfleet.harness.torch_backend import TorchBackend

        return TorchBackend(model_path=model_path, threads=threads, device=device, precision=precision)
    if precision != "fp32":
        raise ValueError(f"precision: {name} runs the model file's fp32; use backend pytorch for {precision}")
    if name == "tensorflow":
        from benchfleet.harness.tf_backend import TensorFlowBackend

        return TensorFlowBackend(model_path=model_path, threads=threads, device=device)
    cls = OnnxRuntimeBackend if name == "onnxruntime" else TFLiteBackend
    return cls(model_path=model_path, threads=threads, device=device)
