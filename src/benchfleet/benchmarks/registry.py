"""The benchmarks benchfleet runs: every model it knows (the official file per benchmark and backend, its
interface, and the task whose samples, responses and scoring it uses), gathered from the benchmark folders'
``official.py``, and each folder's ``Task``.

Closed-division benchmarks use the MLPerf reference models. The open division adds models of other families
(MobileNet, EfficientNet on TFLite); each names the closed benchmark whose task it performs (``benchmark``),
which the submission's model_mapping.json records for the checker. Every entry also has a generated variant of
its family (built by benchfleet, labelled synthetic) for machines without the network or the dataset.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from benchfleet.benchmarks.base import Task
from benchfleet.benchmarks.entry import ModelEntry, backends_among, find

# One folder per task under benchmarks/, named as ModelEntry.task: every package folder with an official.py
# (its ENTRIES are imported here; the rest of the folder only when the task is first used).
TASK_NAMES: tuple[str, ...] = tuple(sorted(
    p.name for p in Path(__file__).parent.iterdir() if (p / "__init__.py").is_file() and (p / "official.py").is_file()))

REGISTRY: dict[str, ModelEntry] = {
    e.name: e for name in TASK_NAMES for e in importlib.import_module(f"benchfleet.benchmarks.{name}.official").ENTRIES}

__all__ = ["REGISTRY", "TASK_NAMES", "backends_for", "dataset_layouts", "lookup", "open_models", "rule_benchmark",
           "runs_on", "task", "task_for", "task_of_benchmark"]


def task(name: str) -> Task:
    """The ``TASK`` of folder ``benchmarks/<name>/`` (imported on first use: a task pulls in its libraries)."""
    if name not in TASK_NAMES:
        raise ValueError(f"benchmark task {name!r} is not one of {', '.join(TASK_NAMES)}")
    return importlib.import_module(f"benchfleet.benchmarks.{name}.task").TASK


def task_for(benchmark: str, backend: str) -> Task:
    """The task that runs ``benchmark`` (a closed benchmark name or an open model name) on ``backend``."""
    return task(lookup(benchmark, backend).task)


def task_of_benchmark(name: str) -> Task | None:
    """The task of a closed benchmark name or an open model name on any backend; None when benchfleet has none."""
    entry = REGISTRY.get(name) or next((e for e in REGISTRY.values() if name in e.benchmarks), None)
    return task(entry.task) if entry else None


def lookup(benchmark: str, backend: str) -> ModelEntry:
    """The model for a closed benchmark name (resnet50, bert-99, ...) or an open model name."""
    return find(REGISTRY.values(), benchmark, backend)


def backends_for(benchmark: str) -> list[str]:
    """The backends with a model for a closed benchmark name or an open model name (noop, which infers nothing, is
    never offered as one)."""
    return [b for b in backends_among(REGISTRY.values(), benchmark) if b != "noop"]


def open_models() -> dict[str, ModelEntry]:
    return {n: e for n, e in REGISTRY.items() if e.open_only}


def runs_on(benchmark: str, backend: str, device: str) -> bool:
    """Whether benchfleet has a model for ``benchmark`` on this backend and device (a sweep's cells)."""
    from benchfleet.backends import DEVICES

    try:
        lookup(benchmark, backend)
    except ValueError:
        return False
    return device in DEVICES.get(backend, ())


def rule_benchmark(name: str) -> str:
    """The round benchmark whose rules apply: an open model's stands-in-for benchmark, else ``name``."""
    entry = open_models().get(name)
    return entry.benchmark if entry else name


def dataset_layouts() -> dict[str, str]:
    """Each task's dataset folder in words (``official.LAYOUT``), for ``--help``."""
    return {name: getattr(importlib.import_module(f"benchfleet.benchmarks.{name}.official"), "LAYOUT", "")
            for name in TASK_NAMES}
