"""The tflite backend: TFLite flatbuffers through ai-edge-litert (CPU; the open-division MobileNet/EfficientNet)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from benchfleet.backends.base import default_threads


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
