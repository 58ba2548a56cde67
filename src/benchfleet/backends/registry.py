"""The engines benchfleet runs, the devices each runs on, and ``make_backend``, which opens a model with one.

- ``onnxruntime`` (``ort``): ONNX models on the CPU or CUDA execution provider (never a silent CPU fallback).
- ``pytorch`` (``pytorch``): the ONNX graph executed with torch on the CPU or CUDA, fp32/fp16/bf16, CUDA graphs
  for fixed shapes.
- ``tensorflow`` (``tf``): frozen graphs (the reference's .pb files) or ONNX graphs run as TensorFlow
  operations, on the CPU or a GPU.
- ``tflite`` (``tflite``): TFLite flatbuffers through ai-edge-litert (CPU; the open-division
  MobileNet/EfficientNet).

The PyTorch and TensorFlow backends walk the ONNX graph with ``onnx_walk``. Each engine's module is imported
only when a cell uses it.
"""

from __future__ import annotations

from benchfleet.backends.base import Backend

BACKENDS = ("onnxruntime", "pytorch", "tensorflow", "tflite")
DEVICES = {"onnxruntime": ("cpu", "cuda"), "pytorch": ("cpu", "cuda"), "tensorflow": ("cpu", "cuda"),
           "tflite": ("cpu",)}


def make_backend(name: str, model_path: str, threads: int = 0, device: str = "cpu",
                 precision: str = "fp32") -> Backend:
    if name not in BACKENDS:
        raise ValueError(f"backend: {name!r} is not supported; choose one of {', '.join(BACKENDS)}")
    if device not in DEVICES[name]:
        raise ValueError(f"device: {name} runs on {', '.join(DEVICES[name])}, not {device}")
    if name == "pytorch":
        from benchfleet.backends.pytorch import TorchBackend

        return TorchBackend(model_path=model_path, threads=threads, device=device, precision=precision)
    if precision != "fp32":
        raise ValueError(f"precision: {name} runs the model file's fp32; use backend pytorch for {precision}")
    if name == "tensorflow":
        from benchfleet.backends.tf import TensorFlowBackend

        return TensorFlowBackend(model_path=model_path, threads=threads, device=device)
    if name == "tflite":
        from benchfleet.backends.tflite import TFLiteBackend

        return TFLiteBackend(model_path=model_path, threads=threads, device=device)
    from benchfleet.backends.ort import OnnxRuntimeBackend

    return OnnxRuntimeBackend(model_path=model_path, threads=threads, device=device)
