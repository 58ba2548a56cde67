"""Preprocessed samples of an OpenImages folder, written once into a samples file (N, 3, 800, 800) float32,
one image at a time (the reference keeps the same tensors, one .npy per image). The file is keyed by the
annotations and image files (path, size, modification time), this folder's reading and preprocessing code
and the OpenCV version, so a change of any of them never reuses samples made before it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from benchfleet.benchmarks.openimages.dataset import OpenImagesVal
from benchfleet.benchmarks.openimages.preprocess import SIZE, preprocess, preprocess_version, read_bgr
from benchfleet.benchmarks.sources import made_from
from benchfleet.cachelock import locked
from benchfleet.data.samples import write_samples


def cache_file(ds: OpenImagesVal, cache_dir: Path) -> Path:
    key = made_from([ds.annotations] + [ds.path(i) for i in range(len(ds))], "benchfleet.benchmarks.openimages.dataset",
                    "benchfleet.benchmarks.openimages.samples") + [preprocess_version()]
    digest = hashlib.sha256(json.dumps(key, default=str).encode()).hexdigest()[:16]
    return Path(cache_dir) / "preprocessed" / f"openimages-{len(ds)}-{digest}.npy"


def ensure(ds: OpenImagesVal, cache_dir: Path, log: Callable[[str], None] = print) -> Path:
    path = cache_file(ds, cache_dir)
    if path.is_file():
        return path
    with locked(path):
        if not path.is_file():
            _write(ds, path, log)
    return path


def _write(ds: OpenImagesVal, path: Path, log: Callable[[str], None]) -> None:
    write_samples(path, len(ds), (3, SIZE, SIZE), lambda i: preprocess(read_bgr(ds.path(i))), log,
                  "preprocessing images (800x800)")
