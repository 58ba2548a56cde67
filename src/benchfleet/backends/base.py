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


def default_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
