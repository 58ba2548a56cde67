"""Inference backends: one interface, chosen per run."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol

import numpy as np


class Backend(Protocol):
    name: str
    version: str

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """(N, C, H, W) float32 -> (N,) int class indices as the model numbers them."""


def default_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


@dataclass
class OnnxRuntimeBackend:
    model_path: str
    input_name: str
    output_name: str
    threads: int = 0
    device: str = "cpu"
    name: str = "onnxruntime"

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
        names = {o.name for o in self.session.get_outputs()}
        if self.output_name not in names:
            raise ValueError(f"model: output {self.output_name!r} not in {self.model_path} (has {sorted(names)})")

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run([self.output_name], {self.input_name: batch})[0]


def make_backend(name: str, **kw) -> Backend:
    if name == "onnxruntime":
        return OnnxRuntimeBackend(**kw)
    raise ValueError(f"backend: {name!r} is not supported yet; use 'onnxruntime'")
