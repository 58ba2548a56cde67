"""The engines benchfleet runs, the devices each runs on, and ``make_backend``, which opens a model with one.

- ``onnxruntime`` (``ort``): ONNX models on the CPU or CUDA execution provider (never a silent CPU fallback).
- ``pytorch`` (``pytorch``): the ONNX graph executed with torch on the CPU or CUDA, fp32/fp16/bf16, CUDA graphs
  for fixed shapes, or compiled by torch.compile (``compiler: inductor``).
- ``tensorflow`` (``tf``): frozen graphs (the reference's .pb files) or ONNX graphs run as TensorFlow
  operations, on the CPU or a GPU.
- ``tflite`` (``tflite``): TFLite flatbuffers through ai-edge-litert (CPU; the open-division
  MobileNet/EfficientNet).
- ``noop`` (``noop``): infers nothing (each call sleeps and repeats one answer per shape), for measuring the
  controller alone; its results are labelled NO-OP, refused by ``check`` and ``submit``.

The PyTorch and TensorFlow backends walk the ONNX graph with ``onnx_walk``. Each engine's module is imported
only when a cell uses it.
"""

from __future__ import annotations

from benchfleet.backends.base import Backend

BACKENDS = ("onnxruntime", "pytorch", "tensorflow", "tflite", "noop")
DEVICES = {"onnxruntime": ("cpu", "cuda"), "pytorch": ("cpu", "cuda"), "tensorflow": ("cpu", "cuda"),
           "tflite": ("cpu",), "noop": ("cpu",)}
PRECISIONS = ("fp32", "fp16", "bf16", "int8")
# Precisions beyond the model file's fp32: the backends that run each, and on which devices. int8 runs a model
# quantized beforehand (ort_quant, calibrated on the benchmark's official list); fp16/bf16 cast as pytorch runs.
PRECISION_BACKENDS: dict[str, dict[str, tuple[str, ...]]] = {
    "fp16": {"pytorch": ("cuda",)},
    "bf16": {"pytorch": ("cpu", "cuda")},
    "int8": {"onnxruntime": ("cpu",)},
}


# Compilers: none runs the engine as it is; inductor is torch.compile's (PyTorch on the CPU or CUDA; on CUDA with
# its own CUDA graphs, mode reduce-overhead).
COMPILERS = ("none", "inductor")
COMPILER_BACKENDS: dict[str, tuple[str, ...]] = {"inductor": ("pytorch",)}


def compiler_problem(compiler: str, backend: str) -> str:
    """Why ``backend`` cannot use ``compiler`` (a sentence that says what to use), or ''."""
    if compiler == "none":
        return ""
    if compiler not in COMPILER_BACKENDS:
        return f"{compiler!r} is not one of {', '.join(COMPILERS)}"
    if backend not in COMPILER_BACKENDS[compiler]:
        names = " or ".join(COMPILER_BACKENDS[compiler])
        return (f"{compiler} (torch.compile) applies to backend {names} only; {backend} compiles its graph itself "
                f"(remove it or use backend {names})")
    return ""


def precision_problem(precision: str, backend: str, device: str) -> str:
    """Why ``backend`` on ``device`` cannot run ``precision`` (a sentence that says what to use), or ''."""
    if precision == "fp32":
        return ""
    if precision not in PRECISION_BACKENDS:
        return f"{precision!r} is not one of {', '.join(PRECISIONS)}"
    runs = PRECISION_BACKENDS[precision]
    if backend not in runs:
        names = " or ".join(runs)
        what = "runs the model file's fp32" if not any(backend in r for r in PRECISION_BACKENDS.values()) \
            else f"does not run {precision} in benchfleet"
        return f"{precision} applies to backend {names} only; {backend} {what} (remove it or use backend {names})"
    if device not in runs[backend]:
        if precision == "fp16":
            return "fp16 is for cuda; on the cpu use fp32 or bf16"
        return (f"{precision} on {backend} runs on {' or '.join(runs[backend])} only in benchfleet; use device "
                f"{runs[backend][0]}, or precision fp32")
    return ""


def make_backend(name: str, model_path: str, threads: int = 0, device: str = "cpu",
                 precision: str = "fp32", compiler: str = "none") -> Backend:
    if name not in BACKENDS:
        raise ValueError(f"backend: {name!r} is not supported; choose one of {', '.join(BACKENDS)}")
    if device not in DEVICES[name]:
        raise ValueError(f"device: {name} runs on {', '.join(DEVICES[name])}, not {device}")
    problem = precision_problem(precision, name, device)
    if problem:
        raise ValueError(f"precision: {problem}")
    problem = compiler_problem(compiler, name)
    if problem:
        raise ValueError(f"compiler: {problem}")
    if name == "pytorch":
        from benchfleet.backends.pytorch import TorchBackend

        return TorchBackend(model_path=model_path, threads=threads, device=device, precision=precision,
                            compiler=compiler)
    if name == "tensorflow":
        from benchfleet.backends.tf import TensorFlowBackend

        return TensorFlowBackend(model_path=model_path, threads=threads, device=device)
    if name == "noop":
        from benchfleet.backends.noop import NoopBackend

        return NoopBackend(model_path=model_path, threads=threads, device=device)
    if name == "tflite":
        from benchfleet.backends.tflite import TFLiteBackend

        return TFLiteBackend(model_path=model_path, threads=threads, device=device)
    from benchfleet.backends.ort import OnnxRuntimeBackend

    # int8: model_path is the quantized model (the harness builds it from the fp32 file before it gets here)
    return OnnxRuntimeBackend(model_path=model_path, threads=threads, device=device)
