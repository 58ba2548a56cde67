"""A DLRM-DCNv2 (the MLPerf dlrm-v2 model) as an ONNX graph with generated weights.

The reference model (torchrec ``DLRM_DCN`` in recommendation/dlrm_v2/pytorch/python/backend_pytorch_native.py):
13 dense features through the bottom MLP 512-256-128 (ReLU after every layer); 26 embedding tables of dimension
128 pooled by sum over each feature's multi-hot indices (EmbeddingBag, mode sum); the dense output and the 26
pooled embeddings concatenated (27 x 128 = 3456) into 3 low-rank (512) DCN v2 cross layers,
``x_{l+1} = x_0 * (W_l (V_l x_l) + b_l) + x_l``; the top MLP 1024-1024-512-256 (ReLU) and a last linear layer to
one logit; the click probability is its sigmoid.

This graph has that topology at a chosen width ``d`` (embedding dimension; bottom MLP 4d-2d-d, low rank 4d, top
MLP 8d-8d-4d-2d-1, which is the reference's shape at d = 128) and small tables. Interface: ``dense`` (N, 13)
float32, ``sparse`` (N, sum of the multi-hot sizes) int64, each table's indices in its columns in table order;
output ``probability`` (N, 1) float32. Only ops every benchfleet backend runs: the pooling sum is a MatMul with
ones and the sigmoid is 1 / (1 + exp(-x)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper

from benchfleet.models.onnx_build import Graph

INPUTS = ("dense", "sparse")
OUTPUTS = ("probability",)
DENSE_FEATURES = 13


@dataclass(frozen=True)
class DlrmConfig:
    multi_hot_sizes: tuple[int, ...]
    num_embeddings: tuple[int, ...]
    dim: int = 8
    cross_layers: int = 3

    @property
    def bottom(self) -> tuple[int, ...]:
        return (4 * self.dim, 2 * self.dim, self.dim)

    @property
    def low_rank(self) -> int:
        return 4 * self.dim

    @property
    def top(self) -> tuple[int, ...]:
        return (8 * self.dim, 8 * self.dim, 4 * self.dim, 2 * self.dim, 1)

    @property
    def interaction(self) -> int:
        return self.dim * (len(self.multi_hot_sizes) + 1)


def build(cfg: DlrmConfig, seed: int = 0) -> onnx.ModelProto:
    g = Graph(np.random.default_rng(seed))
    # bottom MLP: ReLU after every layer (torchrec DenseArch)
    x, din = "dense", DENSE_FEATURES
    for width in cfg.bottom:
        x, din = g.op("Relu", [g.dense(x, din, width)]), width
    pooled = [x]
    col = 0
    for k, (hot, rows) in enumerate(zip(cfg.multi_hot_sizes, cfg.num_embeddings, strict=True)):
        idx = g.op("Gather", ["sparse", g.const(np.arange(col, col + hot, dtype=np.int64))], axis=1)  # (N, hot)
        col += hot
        table = g.weight(rows, cfg.dim, scale=float(1.0 / np.sqrt(hot)), kind=f"table{k}")
        rows_out = g.op("Gather", [table, idx], axis=0)  # (N, hot, dim)
        summed = g.op("MatMul", [g.const(np.ones((1, hot), np.float32)), rows_out])  # (N, 1, dim): sum pooling
        pooled.append(g.op("Reshape", [summed, g.const(np.array([0, cfg.dim], np.int64))]))
    x0 = g.op("Concat", pooled, axis=1)  # (N, 27 * dim): dense first, then tables in order
    xl, n = x0, cfg.interaction
    for _ in range(cfg.cross_layers):  # DCN v2 low-rank cross layers
        v = g.op("MatMul", [xl, g.weight(n, cfg.low_rank)])
        w = g.dense(v, cfg.low_rank, n)
        xl = g.op("Add", [g.op("Mul", [x0, w]), xl])
    x, din = xl, n
    for width in cfg.top[:-1]:
        x, din = g.op("Relu", [g.dense(x, din, width)]), width
    logit = g.dense(x, din, cfg.top[-1])
    e = g.op("Exp", [g.op("Mul", [logit, g.const(np.float32(-1.0))])])
    g.op("Div", [g.const(np.float32(1.0)), g.op("Add", [e, g.const(np.float32(1.0))])], OUTPUTS[0])
    inputs = [helper.make_tensor_value_info("dense", TensorProto.FLOAT, ["N", DENSE_FEATURES]),
              helper.make_tensor_value_info("sparse", TensorProto.INT64, ["N", sum(cfg.multi_hot_sizes)])]
    outputs = [helper.make_tensor_value_info(OUTPUTS[0], TensorProto.FLOAT, ["N", 1])]
    return g.model(inputs, outputs, "tiny_dlrm_dcnv2",
                   f"DLRM-DCNv2 architecture, dim {cfg.dim}, random weights (seed {seed}); NOT the MLPerf model")
