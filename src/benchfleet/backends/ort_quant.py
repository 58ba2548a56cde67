"""INT8 models for ONNX Runtime: static quantization in the QDQ format, calibrated on samples the caller gives.

Weights are quantized per output channel to int8 (symmetric), activations per tensor to uint8 with ranges taken
over the calibration samples (min/max), the QDQ form ONNX Runtime's CPU provider fuses into integer kernels; the
last fully connected layer and what follows it stay fp32.
Which samples may calibrate a model is the caller's business (``benchmarks/calibration.py``): this module only
sees feeds.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

# What a quantized model's record says of how it was made (and what its cache entry is keyed on).
METHOD = {"format": "QDQ", "weights": "int8, symmetric, per output channel",
          "activations": "uint8, per tensor, min/max over the calibration samples",
          "kept_fp32": "the last fully connected layer (MatMul/Gemm) and the nodes after it",
          "tool": "onnxruntime.quantization.quantize_static"}


def _named_with_tail(src: Path, named: Path) -> list[str]:
    """Write ``src`` to ``named`` with every unnamed node named (the quantizer excludes nodes by name), and return
    the names of the nodes from the graph's last MatMul/Gemm on (an image model's classifier and what follows it:
    bias, softmax, argmax), which stay fp32. They are a sliver of the compute, and quantized logits tie or swap
    top-1 answers whose logits are close (bench/RESULTS.md: 78.5% -> 87.9% agreement with fp32 answers on the
    generated ResNet50)."""
    import onnx

    model = onnx.load(str(src))
    nodes = list(model.graph.node)
    for i, node in enumerate(nodes):
        if not node.name:
            node.name = f"benchfleet_{i}_{node.op_type}"
    onnx.save(model, str(named))
    last = max((i for i, n in enumerate(nodes) if n.op_type in ("MatMul", "Gemm")), default=None)
    return [n.name for n in nodes[last:]] if last is not None else []


def quantize_int8(src: Path, dst: Path, feeds: Iterable[dict[str, np.ndarray]],
                  op_types: tuple[str, ...] | None = None) -> dict:
    """Write the INT8 QDQ model of ``src`` to ``dst`` (atomically), calibrated on ``feeds`` (one dict of input
    arrays per sample, in order); ``op_types``: the operators to quantize (None: ONNX Runtime's default set).
    Returns how it was made and how many samples calibrated it."""
    import onnxruntime
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    seen = {"samples": 0}

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it: Iterator[dict[str, np.ndarray]] = iter(feeds)

        def get_next(self) -> dict[str, np.ndarray] | None:
            feed = next(self._it, None)
            if feed is not None:
                seen["samples"] += 1
            return feed

    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".part")
    named = dst.with_name(dst.name + ".named.onnx")
    keep = _named_with_tail(src, named)
    if not keep:
        named.unlink(missing_ok=True)
        raise ValueError(f"precision: {src.name} has no fully connected layer (MatMul/Gemm), which benchfleet's int8 "
                         "path keeps fp32 (it quantizes classifiers); run this model in fp32")
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer warns on the root logger about every bias it folds
    try:
        quantize_static(str(named), str(tmp), _Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=keep,
                        op_types_to_quantize=list(op_types) if op_types else None)
    finally:
        root.setLevel(level)
        named.unlink(missing_ok=True)
    if not seen["samples"]:
        tmp.unlink(missing_ok=True)
        raise ValueError("calibration: no sample was given; nothing was quantized")
    tmp.replace(dst)
    return {**METHOD, "onnxruntime": onnxruntime.__version__, "calibrated_on": seen["samples"],
            "quantized_ops": list(op_types) if op_types else "onnxruntime's default set", "kept_fp32_nodes": keep}
