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

from benchfleet.benchmarks.imagenet.dataset import ImageNetVal
from benchfleet.benchmarks.imagenet.preprocess import OUT_SIZE, preprocess_version
from benchfleet.cachelock import locked
from benchfleet.data.samples import write_samples


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
    write_samples(path, len(ds), (3, OUT_SIZE, OUT_SIZE), lambda i: ds.load(i, kind), log, "preprocessing images")
