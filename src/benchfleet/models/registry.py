"""Official MLPerf models: where they live and how to verify them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelEntry:
    name: str
    benchmark: str
    backend: str
    url: str
    filename: str
    md5: str
    input_name: str
    output_name: str
    label_offset: int  # subtract from the model's class index to get the dataset label
    weight_data_types: str
    input_data_types: str
    size_bytes: int | None = None


REGISTRY: dict[str, ModelEntry] = {
    "resnet50-onnx": ModelEntry(
        name="resnet50-onnx",
        benchmark="resnet50",
        backend="onnxruntime",
        # ResNet50 v1.5, fp32, opset 11; the reference implementation's model.
        url="https://zenodo.org/record/4735647/files/resnet50_v1.onnx",
        filename="resnet50_v1.onnx",
        md5="f6a4da60cd5f084d97efc2c1ddb10beb",
        input_name="input_tensor:0",
        output_name="ArgMax:0",
        label_offset=1,
        weight_data_types="fp32",
        input_data_types="fp32",
    ),
}


def lookup(benchmark: str, backend: str) -> ModelEntry:
    for entry in REGISTRY.values():
        if entry.benchmark == benchmark and entry.backend == backend:
            return entry
    raise ValueError(f"model: no official {benchmark} model for backend {backend!r} in the registry")
