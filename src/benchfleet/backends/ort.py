"""The onnxruntime backend: ONNX models on the CPU or CUDA execution provider (never a silent CPU fallback)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from benchfleet.backends.base import default_threads

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
