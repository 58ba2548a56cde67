"""What every benchmark folder builds on: the inputs a run resolves, the score it writes, the worker a LoadGen
process runs, and the ``Task`` each folder's ``task.py`` implements (see docs/adding-a-benchmark.md).

A benchmark folder (``benchmarks/<task>/``) holds the same parts for every task:

- ``official.py``: ``ENTRIES``, the published models (and dataset files) with their checksums;
- ``dataset.py``: reading the dataset in the reference's layout;
- ``preprocess.py``: preprocessing or featurizing samples as the reference does;
- ``scorer.py``: the accuracy metric as the reference's accuracy script computes it;
- ``synthetic.py``: the generated model of the official architecture and its generated dataset;
- ``task.py``: ``TASK``, which ties them together for the harness (``resolve``, ``worker``, ``score``) and for
  the checker and the controller's rescoring (``rescore``, ``scoring_names``, ``make_synthetic``).

The harness process calls ``resolve`` (model + dataset + samples file) and ``score``; each LoadGen process
calls ``worker`` with the JSON ``args`` from ``resolve``. Generated variants are built where no official
model or dataset is given, and labelled synthetic. ``sources`` has what the tasks' ``resolve`` share.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from benchfleet.backends import Backend
from benchfleet.benchmarks.entry import ModelEntry
from benchfleet.benchmarks.generated import SyntheticPair


class RunSpec(Protocol):
    """What a task reads of a cell's spec (the harness's ``HarnessSpec`` has these and more)."""

    benchmark: str
    backend: str
    model: str
    dataset: str
    dataset_count: int
    synthetic_width: int
    threads: int

    def cache_path(self) -> Path: ...


Log = Callable[[str], None]


@dataclass
class Inputs:
    model_path: Path
    data_dir: Path
    provenance: dict
    args: dict  # for the LoadGen process (JSON)
    count: int
    scoring_files: list[Path]  # copied beside the results so the controller can rescore
    scoring: dict = field(default_factory=dict)  # what only the scorer reads (never sent to LoadGen processes)


@dataclass
class Score:
    text: str  # accuracy.txt, before the hash line
    value: float  # the checker's first metric
    details: dict


class Worker:
    """Loads samples and runs batches of them inside a LoadGen process."""

    backend: object = None
    # True where infer() keeps no state between calls, so that two threads may call it at once (the harness then
    # runs as many Offline/Server workers as the backend's ``concurrency``)
    concurrent: bool = False

    def load(self, index: int):
        raise NotImplementedError

    def infer(self, samples: list) -> list[np.ndarray]:
        raise NotImplementedError



class Task:
    """One benchmark task; each folder's ``task.py`` subclasses it as ``TASK``."""

    name: str  # the registry's ModelEntry.task, and the folder's name
    what: str  # the dataset's name in messages (``--dataset /path/to/<what>``)
    scoring_names: tuple[str, ...]  # the files accuracy is scored with, copied beside the results
    entries: tuple[ModelEntry, ...]  # the folder's official.ENTRIES
    # what the controller's fetch caps are sized from: the bytes one sample takes in a full
    # mlperf_log_accuracy.json (the response's hex and the JSON around it), and the scoring files at most
    response_bytes: int
    scoring_bytes: int
    notes: str  # preprocessing and responses in a sentence or three, for the code README of the tree
    # int8: the operators the quantizer quantizes (None: ONNX Runtime's default set), and what stands in for the
    # official calibration samples of a generated set, in words for the tree
    quantized_ops: tuple[str, ...] | None = None
    # A LoadGen process warms its engine before the test (loadgen_run.warm_up); False where one sample takes minutes
    # on a CPU (a whole CT case, a generation), unless the model is compiled (then it must compile first)
    warm_up: bool = True
    synthetic_calibration: str = "generated samples bearing those names"

    def make_synthetic(self, spec: RunSpec, entry: ModelEntry, root: Path, threads: int,
                       log: Log) -> SyntheticPair:
        """The generated model and dataset for ``spec`` under ``root`` (made once, then cached)."""
        raise NotImplementedError

    def resolve(self, spec: RunSpec, log: Log) -> Inputs:
        raise NotImplementedError

    def worker(self, args: dict, backend: Backend) -> Worker:
        raise NotImplementedError

    def score(self, inputs: Inputs, entries: list[dict]) -> Score:
        raise NotImplementedError

    def rescore(self, entries: list[dict], folder: Path) -> float:
        """The first metric of an accuracy log, scored with the files ``scoring_names`` in ``folder``."""
        raise NotImplementedError

    def calibration_feeds(self, spec: RunSpec, inputs: Inputs, names: tuple[str, ...],
                          log: Log) -> Iterator[dict[str, np.ndarray]]:
        """The model inputs of the calibration samples ``names`` (checked against the official list by the
        caller), preprocessed as the benchmark's samples are, one dict a sample. Tasks with an official list in
        ``calibration.OFFICIAL`` implement it."""
        raise NotImplementedError(f"{self.name} has no calibration reader")

    def calibration_identity(self, spec: RunSpec, inputs: Inputs, names: tuple[str, ...], log: Log) -> list:
        """JSON values that change whenever the tensors ``calibration_feeds`` would give change (input files,
        preprocessing code): a quantized model's cache key holds them."""
        raise NotImplementedError(f"{self.name} has no calibration reader")

    def has_scoring_files(self, folder: Path) -> bool:
        return all((folder / n).is_file() for n in self.scoring_names)
