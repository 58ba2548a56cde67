"""What benchfleet records of a model it runs: the official file (URL and checksum), its interface, and the
task (benchmark folder) whose samples, responses and scoring it uses."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class OfficialFile:
    """A published file (model part or dataset) with its checksum and where the checksum was taken from."""

    url: str
    filename: str
    md5: str


@dataclass(frozen=True)
class ModelEntry:
    name: str  # for open-division entries, also the results folder name
    benchmarks: tuple[str, ...]  # the closed benchmark(s) whose task this model performs
    backends: tuple[str, ...]  # backends that run this file (pytorch executes the ONNX graph too)
    task: str  # imagenet | squad | cnndm
    family: str  # words for logs and provenance
    url: str
    filename: str
    md5: str | None  # None: no checksum published by MLCommons is known; the file is then taken from a path
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    weight_data_types: str = "fp32"
    input_data_types: str = "fp32"
    open_only: bool = False
    label_offset: int = 0  # subtract from the model's class index to get the dataset label
    layout: str = "nchw"
    preprocessing: str = "resnet"  # resnet: minus channel means; mobilenet: scaled to [-1, 1]
    output_is_scores: bool = False  # True: the output is class scores (argmax them), else class ids
    # Set when the published file is not what the backends load (a checkpoint to export, an archive to
    # unpack): the step the user takes, then passes --model PATH.
    conversion: str = ""
    dataset_files: tuple[OfficialFile, ...] = ()  # what --dataset official downloads
    # Host memory the official model needs to load and run (bytes; 0: any test machine has enough). A run of it
    # on a host with less is refused before anything is downloaded.
    memory_bytes: int = 0

    @property
    def backend(self) -> str:
        return self.backends[0]

    @property
    def benchmark(self) -> str:
        return self.benchmarks[0]

    @property
    def input_name(self) -> str:
        return self.input_names[0]

    @property
    def output_name(self) -> str:
        return self.output_names[0]


ONNX_BACKENDS = ("onnxruntime", "pytorch", "noop")  # backends that read an ONNX file (pytorch executes the graph;
# noop only answers with its output shapes)


def find(entries: Iterable[ModelEntry], benchmark: str, backend: str) -> ModelEntry:
    """The model among ``entries`` for a closed benchmark name (resnet50, bert-99, ...) or an open model name."""
    entries = list(entries)
    for entry in entries:
        if entry.name == benchmark:
            if backend not in entry.backends:
                raise ValueError(f"backend: {benchmark} is a {entry.backend} model; use backend {entry.backend}")
            return entry
    for entry in entries:
        if benchmark in entry.benchmarks and backend in entry.backends and not entry.open_only:
            return entry
    backends = [b for b in backends_among(entries, benchmark) if b != "noop"]  # noop infers nothing: not a choice
    if backends:
        raise ValueError(f"backend: {benchmark} runs on {', '.join(backends)} in benchfleet, not {backend!r}")
    raise ValueError(f"model: no {benchmark} model for backend {backend!r} in the registry")


def backends_among(entries: Iterable[ModelEntry], benchmark: str) -> list[str]:
    """The backends with a model among ``entries`` for a closed benchmark name or an open model name."""
    return sorted({b for e in entries
                   if benchmark == e.name or (benchmark in e.benchmarks and not e.open_only) for b in e.backends})


def generated_among(entries: Iterable[ModelEntry], benchmark: str, backend: str) -> ModelEntry:
    """The entry whose interface benchfleet's generated variant has: generated models are ONNX files (run
    by onnxruntime, pytorch and tensorflow alike) or, for TFLite models, .tflite files."""
    entries = list(entries)
    entry = find(entries, benchmark, backend)
    if entry.backend in ("tflite",) or "onnxruntime" in entry.backends:
        return entry
    return find(entries, benchmark, "onnxruntime")
