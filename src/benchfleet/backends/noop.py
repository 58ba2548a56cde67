"""The no-op backend: a stand-in engine that infers nothing, for measuring the controller alone.

``benchfleet sweep`` and ``run`` with ``backend: noop`` go through every step of a real cell (plan, Ansible, the
harness process, LoadGen with its real logs, fetch, the tree, the check) while each host does almost no work: a
call sleeps ``LATENCY_S`` and returns the answer the model gave to the first batch of that shape (computed once per
shape with ONNX Runtime on one thread). ``bench/fleet_overhead.py`` uses it so that what it measures is
orchestration, not benchmarks sharing the controller's cores.

Its results are NOT measurements: the harness labels them ``NO-OP`` in the results and the tree (measurements
README, system description), ``benchfleet check`` reports such a tree as an error whatever its flags, and
``benchfleet submit`` refuses it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

LATENCY_S = 0.001  # the time a call "takes": LoadGen's queries then last about this long
NAME = "noop"
MARK = "NO-OP HARNESS"  # in the measurements README and the system description: nothing was inferred


@dataclass
class NoopBackend:
    model_path: str
    threads: int = 0
    device: str = "cpu"
    latency_s: float = LATENCY_S
    name: str = NAME
    input_dtypes: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        from benchfleet import __version__
        from benchfleet.backends.ort import OnnxRuntimeBackend

        if not str(self.model_path).endswith(".onnx"):
            raise ValueError(f"backend: noop answers with an ONNX model's output shapes; {self.model_path} is not "
                             "an ONNX file (use a benchmark whose model is ONNX, e.g. resnet50)")
        self.version = f"benchfleet-noop-{__version__}"
        self._engine = OnnxRuntimeBackend(model_path=self.model_path, threads=1, device="cpu")
        self.input_dtypes = self._engine.input_dtypes
        self._answers: dict[tuple, list[np.ndarray]] = {}

    def run(self, feeds: dict[str, np.ndarray], outputs: list[str]) -> list[np.ndarray]:
        key = (tuple(outputs), tuple((k, np.shape(v)) for k, v in sorted(feeds.items())))
        if key not in self._answers:
            self._answers[key] = self._engine.run(feeds, outputs)
        time.sleep(self.latency_s)
        return [a.copy() for a in self._answers[key]]
