"""Models benchfleet runs: the official file (URL and checksum) per benchmark and backend, its
interface, and which task (samples, responses, scoring) it belongs to.

Closed-division benchmarks use the MLPerf reference models. The open division adds models of
other families (MobileNet, EfficientNet on TFLite); each names the closed benchmark whose task it
performs (``benchmark``), which the submission's model_mapping.json records for the checker.
Every entry also has a generated variant of its family (built by benchfleet, labelled synthetic)
for machines without the network or the dataset.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OfficialFile:
    """A published file (model part or dataset) with its checksum and where the checksum was taken from."""

    url: str
    filename: str
    md5: str


# Checksums as MLCommons' own automation records them (mlcommons/cm4mlops script/*/_cm.yaml), or the
# MLPerf reference README where noted.
SQUAD_DEV = OfficialFile("https://raw.githubusercontent.com/rajpurkar/SQuAD-explorer/master/dataset/dev-v1.1.json",
                         "dev-v1.1.json", "3e85deb501d4e538b6bc56f786231552")
BERT_VOCAB = OfficialFile("https://zenodo.org/record/3733868/files/vocab.txt", "vocab.txt",
                          "64800d5d8528ce344256daf115d4965e")


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


_ONNX = ("onnxruntime", "pytorch")
_TFLITE_IMAGE = {"backends": ("tflite",), "task": "imagenet", "benchmarks": ("resnet50",), "open_only": True,
                 "layout": "nhwc", "preprocessing": "mobilenet", "output_is_scores": True, "label_offset": 1}

REGISTRY: dict[str, ModelEntry] = {e.name: e for e in (
    ModelEntry(
        name="resnet50-onnx", benchmarks=("resnet50",), backends=_ONNX, task="imagenet",
        family="ResNet50 v1.5",
        # fp32, opset 11; the reference implementation's model.
        url="https://zenodo.org/record/4735647/files/resnet50_v1.onnx", filename="resnet50_v1.onnx",
        md5="f6a4da60cd5f084d97efc2c1ddb10beb", input_names=("input_tensor:0",), output_names=("ArgMax:0",),
        label_offset=1,
    ),
    ModelEntry(
        name="bert-large-onnx", benchmarks=("bert-99", "bert-99.9"), backends=_ONNX, task="squad",
        family="BERT-large (SQuAD v1.1 fine-tuned)",
        # The reference's fp32 ONNX model (F1 90.874).
        url="https://zenodo.org/record/3733910/files/model.onnx", filename="bert_large_v1_1.onnx",
        md5="819b25b19cd8e59080c10892689750ca", input_names=("input_ids", "input_mask", "segment_ids"),
        output_names=("output_start_logits", "output_end_logits"), input_data_types="int64",
        dataset_files=(SQUAD_DEV, BERT_VOCAB),
    ),
    ModelEntry(
        name="gptj-6b-onnx", benchmarks=("gptj-99", "gptj-99.9"), backends=_ONNX, task="cnndm",
        family="GPT-J 6B (CNN/DailyMail fine-tuned)",
        # MLCommons' fine-tuned checkpoint (Hugging Face PyTorch format, 22.7 GB unpacked).
        url="https://cloud.mlcommons.org/index.php/s/QAZ2oM94MkFtbQx/download", filename="gpt-j-checkpoint.zip",
        md5="e677e28aaf03da84584bb3073b7ee315", input_names=("input_ids", "attention_mask", "position_ids"),
        output_names=("next_token_logits",), input_data_types="int64",
        conversion="unzip it and export the model to ONNX with inputs input_ids, attention_mask, position_ids and "
                   "output next_token_logits (the last position's logits), e.g. with optimum",
    ),
    ModelEntry(
        name="resnet50-tf", benchmarks=("resnet50",), backends=("tensorflow",), task="imagenet",
        family="ResNet50 v1.5",
        # The reference's TensorFlow frozen graph (NHWC input, mean-subtracted).
        url="https://zenodo.org/record/2535873/files/resnet50_v1.pb", filename="resnet50_v1.pb",
        md5="7b94a2da05dd30f6c0af23a46bc08886", input_names=("input_tensor:0",), output_names=("ArgMax:0",),
        label_offset=1, layout="nhwc",
    ),
    ModelEntry(
        name="bert-large-tf", benchmarks=("bert-99", "bert-99.9"), backends=("tensorflow",), task="squad",
        family="BERT-large (SQuAD v1.1 fine-tuned)",
        # The reference's TensorFlow frozen graph; one output, logits (N, 384, 2).
        url="https://zenodo.org/record/3939747/files/model.pb", filename="bert_large_v1_1.pb",
        md5="dd72de12e8226f25f0128a1a864b97ad", input_names=("input_ids:0", "input_mask:0", "segment_ids:0"),
        output_names=("logits:0",), input_data_types="int32", dataset_files=(SQUAD_DEV, BERT_VOCAB),
    ),
    ModelEntry(
        name="mobilenet-v1-1.0-224-tflite", family="MobileNet v1 1.0 224",
        # The archive the MLPerf v0.5 reference used (zenodo 2269307); it holds the .tflite file.
        url="https://zenodo.org/record/2269307/files/mobilenet_v1_1.0_224.tgz", filename="mobilenet_v1_1.0_224.tgz",
        md5=None,
        conversion="unpack mobilenet_v1_1.0_224.tflite from the archive",
        input_names=("input",), output_names=("MobilenetV1/Predictions/Reshape_1",), **_TFLITE_IMAGE,
    ),
    ModelEntry(
        name="efficientnet-lite0-tflite", family="EfficientNet-Lite0",
        url="https://storage.googleapis.com/cloud-tpu-checkpoints/efficientnet/lite/efficientnet-lite0.tar.gz",
        filename="efficientnet-lite0.tar.gz", md5=None, input_names=("images",), output_names=("Softmax",),
        conversion="unpack efficientnet-lite0-fp32.tflite from the archive",
        **_TFLITE_IMAGE,
    ),
)}


def lookup(benchmark: str, backend: str) -> ModelEntry:
    """The model for a closed benchmark name (resnet50, bert-99, ...) or an open model name."""
    if benchmark in REGISTRY:
        entry = REGISTRY[benchmark]
        if backend not in entry.backends:
            raise ValueError(f"backend: {benchmark} is a {entry.backend} model; use backend {entry.backend}")
        return entry
    for entry in REGISTRY.values():
        if benchmark in entry.benchmarks and backend in entry.backends and not entry.open_only:
            return entry
    backends = backends_for(benchmark)
    if backends:
        raise ValueError(f"backend: {benchmark} runs on {', '.join(backends)} in benchfleet, not {backend!r}")
    raise ValueError(f"model: no {benchmark} model for backend {backend!r} in the registry")


def backends_for(benchmark: str) -> list[str]:
    """The backends with a model for a closed benchmark name or an open model name."""
    return sorted({b for e in REGISTRY.values()
                   if benchmark == e.name or (benchmark in e.benchmarks and not e.open_only) for b in e.backends})


def open_models() -> dict[str, ModelEntry]:
    return {n: e for n, e in REGISTRY.items() if e.open_only}


def generated_interface(benchmark: str, backend: str) -> ModelEntry:
    """The entry whose interface benchfleet's generated variant has: generated models are ONNX files (run
    by onnxruntime, pytorch and tensorflow alike) or, for TFLite models, .tflite files."""
    entry = lookup(benchmark, backend)
    if entry.backend in ("tflite",) or "onnxruntime" in entry.backends:
        return entry
    return lookup(benchmark, "onnxruntime")


def runs_on(benchmark: str, backend: str, device: str) -> bool:
    """Whether benchfleet has a model for ``benchmark`` on this backend and device (a sweep's cells)."""
    from benchfleet.harness.backend import DEVICES

    try:
        lookup(benchmark, backend)
    except ValueError:
        return False
    return device in DEVICES.get(backend, ())


def rule_benchmark(name: str) -> str:
    """The round benchmark whose rules apply: an open model's stands-in-for benchmark, else ``name``."""
    entry = open_models().get(name)
    return entry.benchmark if entry else name
