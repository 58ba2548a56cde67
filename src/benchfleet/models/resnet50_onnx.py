"""Build an ONNX graph with the ResNet50 v1.5 architecture and generated weights.

The graph has the interface of the MLPerf reference model (``resnet50_v1.onnx``):
input ``input_tensor:0`` (N, 3, 224, 224) float32, outputs ``ArgMax:0`` (N,) int64 and
``softmax_tensor:0`` (N, 1001) float32, where class 0 is the TensorFlow background class.

Weights are random (He initialisation, batch norm folded into the convolutions). Width can
be scaled down for tests (``width=8`` gives a tiny network of the same topology).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from benchfleet.models.onnx_build import Graph

INPUT_NAME = "input_tensor:0"
ARGMAX_NAME = "ArgMax:0"
SOFTMAX_NAME = "softmax_tensor:0"
FEATURES_NAME = "features"
NUM_CLASSES = 1001
# Bottleneck blocks per stage, ResNet50.
STAGES = (3, 4, 6, 3)


class _Builder(Graph):
    def conv(self, x: str, cin: int, cout: int, k: int, stride: int, relu: bool, gain: float = 1.0) -> str:
        w_name, b_name, out = self.name("W"), self.name("B"), self.name("conv")
        std = gain * np.sqrt(2.0 / (cin * k * k))
        w = (self.rng.standard_normal((cout, cin, k, k)) * std).astype(np.float32)
        b = (self.rng.standard_normal(cout) * 0.01).astype(np.float32)
        self.inits += [numpy_helper.from_array(w, w_name), numpy_helper.from_array(b, b_name)]
        pad = k // 2
        self.nodes.append(
            helper.make_node(
                "Conv", [x, w_name, b_name], [out], kernel_shape=[k, k],
                strides=[stride, stride], pads=[pad, pad, pad, pad],
            )
        )
        if relu:
            r = self.name("relu")
            self.nodes.append(helper.make_node("Relu", [out], [r]))
            return r
        return out

    def bottleneck(self, x: str, cin: int, mid: int, stride: int) -> str:
        cout = mid * 4
        # v1.5: the stride sits on the 3x3 convolution, not the first 1x1.
        y = self.conv(x, cin, mid, 1, 1, relu=True)
        y = self.conv(y, mid, mid, 3, stride, relu=True)
        y = self.conv(y, mid, cout, 1, 1, relu=False, gain=0.3)
        shortcut = x if (stride == 1 and cin == cout) else self.conv(x, cin, cout, 1, stride, relu=False)
        s, r = self.name("add"), self.name("relu")
        self.nodes += [helper.make_node("Add", [y, shortcut], [s]), helper.make_node("Relu", [s], [r])]
        return r


def build_resnet50(seed: int = 0, width: int = 64, image_size: int = 224,
                   fc_bias: np.ndarray | None = None) -> onnx.ModelProto:
    """Return a ResNet50 v1.5 ONNX model; ``width`` 64 is the real network."""
    b = _Builder(np.random.default_rng(seed))
    x = b.conv(INPUT_NAME, 3, width, 7, 2, relu=True)
    pooled = b.name("maxpool")
    b.nodes.append(helper.make_node("MaxPool", [x], [pooled], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]))
    x, cin = pooled, width
    for stage, blocks in enumerate(STAGES):
        mid = width * (2**stage)
        for i in range(blocks):
            x = b.bottleneck(x, cin, mid, 2 if (i == 0 and stage > 0) else 1)
            cin = mid * 4
    b.nodes.append(helper.make_node("GlobalAveragePool", [x], ["gap"]))
    b.nodes.append(helper.make_node("Flatten", ["gap"], [FEATURES_NAME], axis=1))
    fc_w = (b.rng.standard_normal((cin, NUM_CLASSES)) / np.sqrt(cin)).astype(np.float32)
    bias = np.zeros(NUM_CLASSES, np.float32) if fc_bias is None else fc_bias.astype(np.float32)
    b.inits += [numpy_helper.from_array(fc_w, "fc_w"), numpy_helper.from_array(bias, "fc_b")]
    b.nodes += [
        helper.make_node("MatMul", [FEATURES_NAME, "fc_w"], ["fc_mm"]),
        helper.make_node("Add", ["fc_mm", "fc_b"], ["logits"]),
        helper.make_node("Softmax", ["logits"], [SOFTMAX_NAME], axis=1),
        helper.make_node("ArgMax", ["logits"], [ARGMAX_NAME], axis=1, keepdims=0),
    ]
    graph = helper.make_graph(
        b.nodes, "resnet50_v1.5_generated",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", 3, image_size, image_size])],
        [
            helper.make_tensor_value_info(ARGMAX_NAME, TensorProto.INT64, ["N"]),
            helper.make_tensor_value_info(SOFTMAX_NAME, TensorProto.FLOAT, ["N", NUM_CLASSES]),
        ],
        b.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="benchfleet")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def fc_weights(model: onnx.ModelProto) -> np.ndarray:
    for init in model.graph.initializer:
        if init.name == "fc_w":
            return numpy_helper.to_array(init)
    raise KeyError("fc_w")


def with_features_output(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` that also returns the pooled features (for calibration)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    dim = fc_weights(model).shape[0]
    m.graph.output.append(helper.make_tensor_value_info(FEATURES_NAME, TensorProto.FLOAT, ["N", dim]))
    return m
