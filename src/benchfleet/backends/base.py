"""What every inference engine provides: one model file, named inputs in, named outputs out::

    backend.run({"input_ids": ids, ...}, ["output_start_logits", ...]) -> [array, ...]

Inputs are cast to the dtypes the model declares (``input_dtypes``).
"""

from __future__ import annotations

import os
from typing import Protocol

import numpy as np


class Backend(Protocol):
    name: str
    version: str
    input_dtypes: dict[str, np.dtype]

    def run(self, feeds: dict[str, np.ndarray], outputs: list[str]) -> list[np.ndarray]:
        """Run the model on one batch; ``outputs`` in the order asked."""


def prepared(backend: object, name: str, sample: np.ndarray) -> object:
    """One loaded sample of input ``name`` in the form ``backend`` transfers it, made once when LoadGen loads the
    sample (outside the timed test): a backend with ``sample(name, x)`` (PyTorch on CUDA: a host tensor already in
    the model's precision and layout) says how; the rest keep the array."""
    prepare = getattr(backend, "sample", None)
    return prepare(name, sample) if prepare is not None else sample


def stacked(backend: object, name: str, samples: list) -> object:
    """A batch of prepared samples of input ``name`` as a feed for ``backend.run``: a backend with
    ``stack(name, samples)`` stacks them itself (PyTorch on CUDA: straight into a pinned transfer buffer); the rest
    get ``np.stack``."""
    stack = getattr(backend, "stack", None)
    if stack is not None:
        return stack(name, samples)
    return samples[0][None] if len(samples) == 1 else np.stack(samples)


def default_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
