"""Preprocessed ImageNet samples kept on disk once (a samples file), read one sample at a time by every LoadGen run.

The cache file is keyed by how its contents were made: the image files (names, sizes, modification
times), the preprocessing kind and the version of the preprocessing code (``preprocess_version``). A change
of any of them names another file, so stale tensors are never reused; the old file is left to be deleted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchfleet.benchmarks.imagenet.dataset import ImageNetVal
from benchfleet.benchmarks.imagenet.preprocess import OUT_SIZE, preprocess_version
from benchfleet.cachelock import locked


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
