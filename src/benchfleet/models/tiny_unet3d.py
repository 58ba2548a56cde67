"""A 3D-UNet of the MLPerf KiTS19 reference's shape at reduced width and depth, as an ONNX graph with random
weights: the generated stand-in of the 3d-unet benchmark.

The reference (the MLPerf training 3D-UNet, nnU-Net style) has an input block at full resolution, encoder
levels that halve the volume with a stride-2 convolution, a decoder that doubles it again with a 2x2x2
transposed convolution and concatenates the encoder's skip, every convolution 3x3x3 followed by instance
normalisation and ReLU, and a 1x1x1 convolution to 3 classes (background, kidney, tumour); filters 32, 64, 128,
256, 320, 320. This one keeps the pattern with ``width``, ``2 * width``, ... filters over ``levels`` levels.
Input ``input`` (N, 1, 128, 128, 128) float32, output ``output`` (N, 3, 128, 128, 128) float32 (scores, no
softmax, as the reference's exported model), the batch dimension dynamic as in the published
``3dunet_kits19_128x128x128_dynbatch.onnx``.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from benchfleet.models.onnx_build import Graph

INPUT, OUTPUT = "input", "output"
CLASSES = 3
ROI = (128, 128, 128)


def _conv(g: Graph, x: str, cin: int, cout: int, k: int = 3, stride: int = 1) -> str:
    std = np.sqrt(2.0 / (cin * k ** 3))  # He initialisation: activations keep their scale through the ReLUs
    w = g.const((g.rng.standard_normal((cout, cin, k, k, k)) * std).astype(np.float32), "w")
    b = g.const((g.rng.standard_normal(cout) * 0.1).astype(np.float32), "b")
    pad = k // 2
    return g.op("Conv", [x, w, b], kernel_shape=[k, k, k], strides=[stride] * 3, pads=[pad] * 6)


def _block(g: Graph, x: str, cin: int, cout: int, stride: int = 1) -> str:
    """3x3x3 convolution, instance normalisation (affine), ReLU."""
    y = _conv(g, x, cin, cout, 3, stride)
    scale = g.const((1.0 + 0.1 * g.rng.standard_normal(cout)).astype(np.float32), "g")
    bias = g.const((0.1 * g.rng.standard_normal(cout)).astype(np.float32), "beta")
    y = g.op("InstanceNormalization", [y, scale, bias], epsilon=1e-5)
    return g.op("Relu", [y])


def build(width: int = 4, levels: int = 3, seed: int = 0) -> onnx.ModelProto:
    """``levels`` resolutions (128, 64, 32 ... voxels a side), ``width * 2**l`` filters at level ``l`` (the
    reference: 6 levels, 32 to 320 filters)."""
    if width < 1 or not 2 <= levels <= 6:
        raise ValueError("tiny_unet3d: width >= 1 and 2 <= levels <= 6")
    g = Graph(np.random.default_rng(seed))
    filters = [min(width * 2 ** lv, 10 * width) for lv in range(levels)]  # 32 ... 320 in the reference
    x = _block(g, _block(g, INPUT, 1, filters[0]), filters[0], filters[0])
    skips = [x]
    for lv in range(1, levels):
        x = _block(g, _block(g, x, filters[lv - 1], filters[lv], stride=2), filters[lv], filters[lv])
        skips.append(x)
    for lv in range(levels - 2, -1, -1):
        cin, cout = filters[lv + 1], filters[lv]
        w = g.const((g.rng.standard_normal((cin, cout, 2, 2, 2)) * np.sqrt(1.0 / cin)).astype(np.float32), "w")
        b = g.const(np.zeros(cout, np.float32), "b")
        up = g.op("ConvTranspose", [x, w, b], kernel_shape=[2, 2, 2], strides=[2, 2, 2])
        cat = g.op("Concat", [up, skips[lv]], axis=1)
        x = _block(g, _block(g, cat, 2 * cout, cout), cout, cout)
    _conv_out = _conv(g, x, filters[0], CLASSES, k=1)
    g.op("Identity", [_conv_out], OUTPUT)
    inputs = [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["N", 1, *ROI])]
    outputs = [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["N", CLASSES, *ROI])]
    return g.model(inputs, outputs, "tiny_unet3d",
                   f"3D-UNet architecture (KiTS19), {levels} levels, filters {filters}, random weights (seed {seed}); "
                   "NOT the MLPerf 3D-UNet")
