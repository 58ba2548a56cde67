"""Preprocessed samples of an OpenImages folder, written once into a samples file (N, 3, 800, 800) float32,
one image at a time (the reference keeps the same tensors, one .npy per image). The file is keyed by the
annotations and image files (path, size, modification time), this folder's reading and preprocessing code
and the OpenCV version, so a change of any of them never reuses samples made before it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchfleet.benchmarks.openimages.dataset import OpenImagesVal
from benchfleet.benchmarks.openimages.preprocess import SIZE, preprocess, preprocess_version, read_bgr
from benchfleet.benchmarks.sources import made_from
from benchfleet.cachelock import locked


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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False,
              "shape": (len(ds), 3, SIZE, SIZE)}
    step = max(1, len(ds) // 10)
    with open(tmp, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        for i in range(len(ds)):
            fh.write(preprocess(read_bgr(ds.path(i))).tobytes())
            if (i + 1) % step == 0:
                log(f"preprocessing images (800x800): {i + 1}/{len(ds)}")
    tmp.replace(path)
