"""Preprocessed samples kept on disk once, memory-mapped by every LoadGen run."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.lib.format import open_memmap

from benchfleet.cachelock import locked
from benchfleet.data.imagenet import OUT_SIZE, ImageNetVal


def cache_file(ds: ImageNetVal, cache_dir: Path) -> Path:
    key = hashlib.sha256(json.dumps([str(ds.root.resolve()), ds.files]).encode()).hexdigest()[:16]
    return cache_dir / "preprocessed" / f"imagenet-{len(ds)}-{key}.npy"


def ensure(ds: ImageNetVal, cache_dir: Path, log: Callable[[str], None] = print) -> Path:
    path = cache_file(ds, cache_dir)
    if path.is_file():
        return path
    with locked(path):
        if not path.is_file():
            _write(ds, path, log)
    return path


def _write(ds: ImageNetVal, path: Path, log: Callable[[str], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    arr = open_memmap(tmp, mode="w+", dtype=np.float32, shape=(len(ds), 3, OUT_SIZE, OUT_SIZE))
    step = max(1, len(ds) // 10)
    for i in range(len(ds)):
        arr[i] = ds.load(i)
        if (i + 1) % step == 0:
            log(f"preprocessing images: {i + 1}/{len(ds)}")
    arr.flush()
    del arr
    tmp.replace(path)


def open_samples(path: Path) -> np.ndarray:
    return np.load(path, mmap_mode="r")
