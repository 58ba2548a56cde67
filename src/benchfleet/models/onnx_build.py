"""A small helper for writing ONNX graphs by hand: named nodes, initializers from numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper, numpy_helper

OPSET = 17  # LayerNormalization


@dataclass
class Graph:
    rng: np.random.Generator
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    inits: list[onnx.TensorProto] = field(default_factory=list)
    count: int = 0

    def name(self, kind: str) -> str:
        self.count += 1
        return f"{kind}_{self.count}"

    def const(self, value: np.ndarray, kind: str = "c") -> str:
        n = self.name(kind)
        self.inits.append(numpy_helper.from_array(np.asarray(value), n))
        return n

    def weight(self, *shape: int, scale: float | None = None, kind: str = "w") -> str:
        fan_in = shape[0] if len(shape) > 1 else 1
        std = scale if scale is not None else 1.0 / np.sqrt(fan_in)
        return self.const((self.rng.standard_normal(shape) * std).astype(np.float32), kind)

    def op(self, op_type: str, inputs: list[str], out: str | None = None, **attrs) -> str:
        out = out or self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def dense(self, x: str, din: int, dout: int, out: str | None = None) -> str:
        y = self.op("MatMul", [x, self.weight(din, dout)])
        return self.op("Add", [y, self.const(np.zeros(dout, np.float32), "b")], out)

    def layer_norm(self, x: str, width: int) -> str:
        return self.op("LayerNormalization", [x, self.const(np.ones(width, np.float32), "g"),
                                              self.const(np.zeros(width, np.float32), "beta")],
                       axis=-1, epsilon=1e-5)

    def gelu(self, x: str) -> str:
        """0.5 x (1 + erf(x / sqrt 2)), BERT's exact GELU."""
        e = self.op("Erf", [self.op("Div", [x, self.const(np.float32(np.sqrt(2.0)))])])
        one = self.op("Add", [e, self.const(np.float32(1.0))])
        return self.op("Mul", [self.op("Mul", [x, one]), self.const(np.float32(0.5))])

    def heads(self, x: str, heads: int, head_dim: int) -> str:
        """(N, S, H*D) -> (N, H, S, D)"""
        r = self.op("Reshape", [x, self.const(np.array([0, -1, heads, head_dim], np.int64))])
        return self.op("Transpose", [r], perm=[0, 2, 1, 3])

    def merge_heads(self, x: str, width: int) -> str:
        t = self.op("Transpose", [x], perm=[0, 2, 1, 3])
        return self.op("Reshape", [t, self.const(np.array([0, -1, width], np.int64))])

    def attention(self, x: str, width: int, heads: int, bias: str) -> str:
        """Multi-head self-attention; ``bias`` is added to the scores (masking)."""
        d = width // heads
        q = self.heads(self.dense(x, width, width), heads, d)
        k = self.heads(self.dense(x, width, width), heads, d)
        v = self.heads(self.dense(x, width, width), heads, d)
        kt = self.op("Transpose", [k], perm=[0, 1, 3, 2])
        scores = self.op("Div", [self.op("MatMul", [q, kt]), self.const(np.float32(np.sqrt(d)))])
        probs = self.op("Softmax", [self.op("Add", [scores, bias])], axis=-1)
        return self.dense(self.merge_heads(self.op("MatMul", [probs, v]), width), width, width)

    def model(self, inputs: list[onnx.ValueInfoProto], outputs: list[onnx.ValueInfoProto], name: str,
              doc: str) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="benchfleet")
        m.ir_version = 8
        m.doc_string = doc
        onnx.checker.check_model(m)
        return m
