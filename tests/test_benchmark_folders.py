"""Every benchmark folder provides the same parts, and the registry, the harness and the checker find them."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

import benchfleet.benchmarks as benchmarks_pkg
from benchfleet.benchmarks import registry
from benchfleet.benchmarks.base import Task
from benchfleet.benchmarks.entry import ModelEntry

PARTS = ("official", "dataset", "preprocess", "scorer", "synthetic", "task")
TASK_METHODS = ("make_synthetic", "resolve", "worker", "score", "rescore")
ROOT = Path(benchmarks_pkg.__file__).parent


def test_registry_names_every_folder_and_only_folders():
    folders = sorted(p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").is_file())
    assert folders == sorted(registry.TASK_NAMES)


@pytest.mark.parametrize("name", registry.TASK_NAMES)
def test_folder_provides_every_part(name):
    for part in PARTS:
        assert (ROOT / name / f"{part}.py").is_file(), f"benchmarks/{name}/ has no {part}.py"
        importlib.import_module(f"benchfleet.benchmarks.{name}.{part}")
    task = registry.task(name)
    assert isinstance(task, Task) and task.name == name
    for method in TASK_METHODS:  # each part overridden, none left to the base class
        assert getattr(type(task), method) is not getattr(Task, method), f"{name}: {method} not implemented"
        assert list(inspect.signature(getattr(type(task), method)).parameters) == \
            list(inspect.signature(getattr(Task, method)).parameters), f"{name}: {method} signature differs"
    assert task.scoring_names and task.what and task.notes
    assert task.response_bytes > 0 and task.scoring_bytes > 0  # what the fetch caps are sized from
    assert task.entries is importlib.import_module(f"benchfleet.benchmarks.{name}.official").ENTRIES
    entries = importlib.import_module(f"benchfleet.benchmarks.{name}.official").ENTRIES
    assert entries and all(isinstance(e, ModelEntry) and e.task == name for e in entries)
    assert all(registry.REGISTRY[e.name] is e for e in entries)


def test_every_registry_entry_belongs_to_a_folder():
    assert {e.task for e in registry.REGISTRY.values()} == set(registry.TASK_NAMES)
    with pytest.raises(ValueError, match="not one of"):
        registry.task("retinanet")


@pytest.mark.parametrize(("benchmark", "task"), [("resnet50", "imagenet"), ("bert-99.9", "squad"),
                                                 ("gptj-99", "cnndm"), ("mobilenet-v1-1.0-224-tflite", "imagenet"),
                                                 ("3d-unet-99", "kits19"), ("gpt3-99", None)])
def test_checker_and_harness_find_the_same_task(benchmark, task):
    found = registry.task_of_benchmark(benchmark)
    assert (found.name if found else None) == task
    if task:
        backend = registry.backends_for(benchmark)[0]
        assert registry.task_for(benchmark, backend) is found
