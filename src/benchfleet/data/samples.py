"""Samples files: a C-ordered ``.npy`` array of samples (first axis), written once per dataset and read one
sample at a time by every LoadGen run.

Samples are read with ``os.preadv`` into arrays of their own, never through a memory map: the pages of a
mapped file count in the reader's RSS (``ps``, ``time -v``, cgroup limits) beside the copies LoadGen asks
the SUT to keep, which doubled the memory of a run against the reference's.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np


def write_samples(path: Path, count: int, shape: tuple[int, ...], sample: Callable[[int], np.ndarray],
                  log: Callable[[str], None], what: str) -> None:
    """Write ``count`` float32 samples of ``shape``, ``sample(i)`` one at a time, as a samples file at ``path``
    (through ``<name>.part``, renamed when whole); ``log`` hears ``<what>: i/count`` every tenth of the way."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False,
              "shape": (count, *shape)}
    step = max(1, count // 10)
    with open(tmp, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        for i in range(count):
            fh.write(np.ascontiguousarray(sample(i), dtype=np.float32).tobytes())
            if (i + 1) % step == 0:
                log(f"{what}: {i + 1}/{count}")
    tmp.replace(path)


class SampleFile:
    """A C-ordered ``.npy`` file of samples (first axis) read one sample at a time with ``os.preadv``."""

    def __init__(self, path: str | Path):
        self.path, self._fd = Path(path), -1
        with open(self.path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
            if version not in readers:
                raise ValueError(f"samples: {self.path} is a .npy file of format {version}; delete it and run "
                                 "again to rebuild it")
            shape, fortran, dtype = readers[version](fh)
            self.offset = fh.tell()
        if fortran or not shape:
            raise ValueError(f"samples: {self.path} is not a C-ordered array of samples; delete it and run again")
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        self.sample_bytes = int(np.prod(shape[1:], dtype=np.int64)) * self.dtype.itemsize
        self._fd = os.open(self.path, os.O_RDONLY)

    def __len__(self) -> int:
        return self.shape[0]

    def read(self, index: int) -> np.ndarray:
        if not 0 <= index < self.shape[0]:
            raise IndexError(f"samples: index {index} outside 0..{self.shape[0] - 1} of {self.path}")
        out = np.empty(self.shape[1:], self.dtype)
        got = os.preadv(self._fd, [memoryview(out.reshape(-1).view(np.uint8))],
                        self.offset + index * self.sample_bytes) if self.sample_bytes else 0
        if got != self.sample_bytes:
            raise ValueError(f"samples: {self.path} is truncated (sample {index}); delete it and run again")
        return out

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:
        self.close()
