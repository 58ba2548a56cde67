"""The multi-hot Criteo 1TB day 23, read as the reference's multihot_criteo.py reads it (dataset name
``multihot-criteo``, stage ``val``).

Three files in one folder: ``day_23_dense.npy`` (rows x 13, float32: the dense features as the preprocessing
left them, already log(x + 3); the reader transforms nothing), ``day_23_sparse_multi_hot.npz`` (members
``0.npy`` .. ``25.npy``, stored uncompressed, each rows x multi-hot size, int32 indices) and
``day_23_labels.npy`` (rows x 1, the click). The validation set is the first half of the rows: the first
``ceil(rows / 2)``. Rows are read with ``os.preadv`` at their offsets in the files, never through a memory map
and never copied into a samples file (the official files are about 150 GB).
"""

from __future__ import annotations

import os
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DENSE_FILE = "day_23_dense.npy"
SPARSE_FILE = "day_23_sparse_multi_hot.npz"
LABELS_FILE = "day_23_labels.npy"
FILES = (DENSE_FILE, SPARSE_FILE, LABELS_FILE)
TABLES = 26  # torchrec's CAT_FEATURE_COUNT; the members of the npz are "0.npy" .. "25.npy"

_LOCAL_HEADER = struct.Struct("<4s5H3I2H")  # a zip member's local file header (30 bytes)


@dataclass(frozen=True)
class ArrayAt:
    """A C-ordered .npy array at ``offset`` in ``path`` (a .npy file, or a stored member of a .npz)."""

    path: Path
    offset: int
    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def row_bytes(self) -> int:
        return int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize

    def read(self, fd: int, start: int, end: int) -> np.ndarray:
        """Rows ``start`` .. ``end - 1``."""
        out = np.empty((end - start, *self.shape[1:]), self.dtype)
        want = out.nbytes
        got = os.preadv(fd, [memoryview(out.reshape(-1).view(np.uint8))], self.offset + start * self.row_bytes) \
            if want else 0
        if got != want:
            raise ValueError(f"dataset: {self.path} is truncated (rows {start}..{end - 1})")
        return out


def _npy_header(fh, where: str) -> tuple[tuple[int, ...], np.dtype]:
    version = np.lib.format.read_magic(fh)
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    if version not in readers:
        raise ValueError(f"dataset: {where} is a .npy array of format {version}")
    shape, fortran, dtype = readers[version](fh)
    if fortran or not shape:
        raise ValueError(f"dataset: {where} is not a C-ordered array of rows")
    return tuple(shape), np.dtype(dtype)


def npy_array(path: Path) -> ArrayAt:
    with open(path, "rb") as fh:
        shape, dtype = _npy_header(fh, str(path))
        return ArrayAt(path, fh.tell(), shape, dtype)


def npz_arrays(path: Path, count: int = TABLES) -> list[ArrayAt]:
    """Members ``0.npy`` .. ``{count-1}.npy`` of an uncompressed .npz, located in the file (as the reference's
    ``_load_from_npz`` maps them), each int32."""
    out = []
    with zipfile.ZipFile(path) as zf, open(path, "rb") as fh:
        for k in range(count):
            name = f"{k}.npy"
            if name not in zf.NameToInfo:
                raise ValueError(f"dataset: {path} has no member {name}")
            info = zf.NameToInfo[name]
            if info.compress_type != zipfile.ZIP_STORED:
                raise ValueError(f"dataset: {path} member {name} is compressed; the reference reads it stored")
            fh.seek(info.header_offset)
            head = _LOCAL_HEADER.unpack(fh.read(_LOCAL_HEADER.size))
            if head[0] != b"PK\x03\x04":
                raise ValueError(f"dataset: {path} member {name} has no local header")
            fh.seek(info.header_offset + _LOCAL_HEADER.size + head[-2] + head[-1])
            shape, dtype = _npy_header(fh, f"{path}:{name}")
            if dtype != np.dtype(np.int32):
                raise ValueError(f"dataset: sparse multi-hot dtype of {path}:{name} is {dtype}, not int32")
            out.append(ArrayAt(path, fh.tell(), shape, dtype))
    return out


class Day23:
    """The validation rows of day 23 in ``folder``: dense, sparse (one array per table) and labels by row."""

    def __init__(self, folder: str | Path):
        self._fds: dict[Path, int] = {}
        folder = Path(folder)
        for name in FILES:
            if not (folder / name).is_file():
                raise ValueError(f"dataset: {folder} has no {name}; it needs {', '.join(FILES)} (the multi-hot "
                                 "Criteo 1TB day 23)")
        self.folder = folder
        self.dense = npy_array(folder / DENSE_FILE)
        self.labels = npy_array(folder / LABELS_FILE)
        self.sparse = npz_arrays(folder / SPARSE_FILE)
        total = self.dense.shape[0]
        for a in (self.labels, *self.sparse):
            if a.shape[0] != total:
                raise ValueError(f"dataset: {a.path} has {a.shape[0]} rows, {DENSE_FILE} {total}")
        self.total_rows = total
        self.rows = total // 2 + total % 2  # stage "val": the first half of day 23
        self.multi_hot_sizes = tuple(int(a.shape[1]) if len(a.shape) > 1 else 1 for a in self.sparse)

    def _fd(self, path: Path) -> int:
        if path not in self._fds:
            self._fds[path] = os.open(path, os.O_RDONLY)
        return self._fds[path]

    def read(self, start: int, end: int) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
        """Rows ``start`` .. ``end - 1`` of the validation half: dense (n, 13), sparse [(n, hot_k)], labels (n,)."""
        if not 0 <= start <= end <= self.rows:
            raise IndexError(f"dataset: rows {start}..{end - 1} outside 0..{self.rows - 1}")
        dense = self.dense.read(self._fd(self.dense.path), start, end)
        sparse = [a.read(self._fd(a.path), start, end).reshape(end - start, -1) for a in self.sparse]
        labels = self.labels.read(self._fd(self.labels.path), start, end).reshape(-1)
        return dense, sparse, labels

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds = {}

    def __del__(self) -> None:
        self.close()
