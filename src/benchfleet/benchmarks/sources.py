"""What the tasks' ``resolve`` share: choosing the generated, official or given model and dataset (``source``),
fetching official files with their checksums, and samples files keyed by what made them (``samples_file``)."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchfleet.backends import default_threads
from benchfleet.benchmarks.base import Inputs, Log, RunSpec, Task
from benchfleet.benchmarks.entry import ModelEntry, find, generated_among
from benchfleet.cachelock import locked


def _want_synthetic(spec: RunSpec, entry: ModelEntry, what: str, log: Log) -> bool:
    if spec.model == "synthetic" or spec.dataset == "synthetic":
        if spec.model not in ("synthetic", "auto") or spec.dataset not in ("synthetic", "auto"):
            raise ValueError("dataset: a synthetic dataset is labelled by the synthetic model; use --model synthetic "
                             "with --dataset synthetic (or auto)")
        return True
    if spec.dataset == "official":  # asked for the published data: no silent fallback to generated files
        return False
    if spec.dataset == "auto":
        if spec.model not in ("auto",):
            raise ValueError(f"dataset: --model {spec.model} needs a {what} folder (--dataset PATH)")
        log(f"no {what} folder given: using a generated {entry.family} model and a generated dataset "
            f"(synthetic; pass --dataset /path/to/{what} and --model official for real results)")
        return True
    # a dataset folder was given: its results need the official model (from the cache or downloaded, with its
    # checksum), never a generated pair in place of the user's data
    return False


def _official_model(spec: RunSpec, entry: ModelEntry, log: Log) -> tuple[Path, str]:
    from benchfleet.models.download import fetch

    if spec.model in ("official", "auto"):
        if entry.conversion:
            raise ValueError(f"model: the official {entry.family} is published as {entry.url} (md5 "
                             f"{entry.md5 or 'not published'}), which the {spec.backend} backend does not load as "
                             f"is: {entry.conversion}; then pass --model PATH")
        if not entry.md5:
            raise ValueError(f"model: no published checksum is recorded for {entry.url}; download it yourself and "
                             f"pass --model /path/to/{entry.filename}")
        log(f"fetching {entry.url} (md5 {entry.md5})")
        return fetch(entry.url, spec.cache_path() / "models" / entry.filename, entry.md5), "official"
    path = Path(spec.model).expanduser()
    if not path.is_file():
        raise ValueError(f"model: {path} is not a file; use official, synthetic or a path to a model file")
    return path, "user"


def host_memory_bytes() -> int:
    """This host's physical memory."""
    import os

    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_memory(entry: ModelEntry, model: str, have: int | None = None) -> None:
    """Refuse, before any download, a model that needs more memory than this host has."""
    have = host_memory_bytes() if have is None else have
    if entry.memory_bytes and have < entry.memory_bytes:
        gib = 1 << 30
        raise ValueError(f"model: the {'official ' if model in ('official', 'auto') else ''}{entry.family} needs "
                         f"{entry.memory_bytes / gib:.0f} GiB of memory to run ({entry.memory_bytes} bytes) and this "
                         f"host has {have / gib:.1f} GiB; run it on a host with at least "
                         f"{-(-entry.memory_bytes // gib)} GiB, or use --model synthetic --dataset synthetic for the "
                         "generated stand-in")


@dataclass
class Source:
    model_path: Path
    data_dir: Path
    provenance: dict
    entry: ModelEntry  # whose interface the model file has


def source(task: Task, spec: RunSpec, dataset_name: str, dataset_label: str | None, log: Log) -> Source:
    """Model file and data folder for a run of one of ``task``'s entries: its generated pair
    (``task.make_synthetic``) when that is what the spec asks or allows, else the official or given files."""
    entry = find(task.entries, spec.benchmark, spec.backend)
    if _want_synthetic(spec, entry, task.what, log):
        pair = task.make_synthetic(spec, entry, spec.cache_path() / "synthetic", spec.threads or default_threads(),
                                   log)
        return Source(pair.model_path, pair.dataset_dir, pair.provenance,
                      generated_among(task.entries, spec.benchmark, spec.backend))
    check_memory(entry, spec.model)
    model_path, kind = _official_model(spec, entry, log)
    data_dir = _official_dataset(spec, entry, dataset_name, log)
    prov = {"synthetic": False, "kind": kind, "model": entry.url if kind == "official" else model_path.name}
    if dataset_label:
        prov["dataset"] = dataset_label
    return Source(model_path, data_dir, prov, entry)


def _official_dataset(spec: RunSpec, entry: ModelEntry, name: str, log: Log) -> Path:
    """``--dataset official``: the published files, checked against their md5, in the cache; else the path."""
    from benchfleet.models.download import fetch

    if spec.dataset != "official":
        return Path(spec.dataset).expanduser()
    if not entry.dataset_files:
        import importlib

        layout = getattr(importlib.import_module(f"benchfleet.benchmarks.{entry.task}.official"), "LAYOUT", "")
        raise ValueError(f"dataset: {spec.benchmark}'s dataset has no public download with a checksum (ImageNet needs "
                         "a licence; the others are built by the reference's own scripts); prepare it as the reference "
                         f"does and pass --dataset PATH{f' ({layout})' if layout else ''}")
    folder = spec.cache_path() / "datasets" / name
    for f in entry.dataset_files:
        log(f"fetching {f.url} (md5 {f.md5})")
        fetch(f.url, folder / f.filename, f.md5)
    return folder


def made_from(files: list[Path], *code: str) -> list:
    """A samples file's key: the input files (path, size, modification time) and the version of the code that
    turns them into samples, so that a change of either never reuses samples made before it."""
    from benchfleet.cachelock import code_version

    return [[str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns] for f in files] + [code_version(*code)]


def samples_file(cache: Path, kind: str, key: list, build: Callable[[], np.ndarray]) -> Path:
    digest = hashlib.sha256(json.dumps(key, default=str).encode()).hexdigest()[:16]
    path = cache / "preprocessed" / f"{kind}-{digest}.npy"
    if path.is_file():
        return path
    with locked(path):
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".part.npy")
            np.save(tmp, build())
            tmp.replace(path)
    return path


def copy_scoring_files(inputs: Inputs, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for f in inputs.scoring_files:
        shutil.copy2(f, dst / f.name)
