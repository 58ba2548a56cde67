"""Preprocessed samples kept on disk once, read one sample at a time by every LoadGen run.

The cache file is keyed by how its contents were made: the image files (names, sizes, modification
times), the preprocessing kind and the version of the preprocessing code (``preprocess_version``). A change
of any of them names another file, so stale tensors are never reused; the old file is left to be deleted.

Samples are read with ``os.preadv`` into arrays of their own, never through a memory map: the pages of a
mapped file count in the reader's RSS (``ps``, ``time -v``, cgroup limits) beside the copies LoadGen asks
the SUT to keep, which doubled the memory of a run against the reference's.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchfleet.cachelock import locked
from benchfleet.data.imagenet import OUT_SIZE, ImageNetVal, preprocess_version


def cache_file(ds: ImageNetVal, cache_dir: Path, kind: str = "resnet", version: str | None = None) -> Path:
    """Where the samples of ``ds`` preprocessed as ``kind`` by code ``version`` (default: this code's) live."""
    version = version or preprocess_version(kind)
    stats = []
    for f in ds.files:
        st = (ds.root / f).stat()
        stats.append([f, st.st_size, st.st_mtime_ns])
    key = hashlib.sha256(json.dumps([str(ds.root.resolve()), stats, kind, version]).encode()).hexdigest()[:16]
    return cache_dir / "preprocessed" / f"imagenet-{kind}-{len(ds)}-{key}.npy"


def ensure(ds: ImageNetVal, cache_dir: Path, log: Callable[[str], None] = print, kind: str = "resnet",
           version: str | None = None) -> Path:
    """The cache file of ``ds`` (see ``cache_file``), written first when missing."""
    path = cache_file(ds, cache_dir, kind, version)
    if path.is_file():
        return path
    with locked(path):
        if not path.is_file():
            _write(ds, path, kind, log)
    return path


def _write(ds: ImageNetVal, path: Path, kind: str, log: Callable[[str], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False,
              "shape": (len(ds), 3, OUT_SIZE, OUT_SIZE)}
    step = max(1, len(ds) // 10)
    with open(tmp, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        for i in range(len(ds)):
            fh.write(np.ascontiguousarray(ds.load(i, kind), dtype=np.float32).tobytes())
            if (i + 1) % step == 0:
                log(f"preprocessing images: {i + 1}/{len(ds)}")
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


def open_samples(path: Path) -> SampleFile:
    return SampleFile(path)
