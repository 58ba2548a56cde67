"""A BERT encoder with a SQuAD span head, as an ONNX graph with generated weights.

Same topology and interface as the MLPerf reference BERT-large ONNX model (post-LayerNorm encoder
layers, exact GELU, token/position/segment embeddings; inputs ``input_ids``, ``input_mask``,
``segment_ids`` (N, 384) int64; outputs ``output_start_logits``, ``output_end_logits`` (N, 384)),
scaled down: BERT-large is 24 layers, width 1024, 16 heads. Weights are random: the generated
SQuAD set is labelled with this model's own answers, so it tests plumbing, not reading.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper

from benchfleet.models.onnx_build import Graph

INPUTS = ("input_ids", "input_mask", "segment_ids")
OUTPUTS = ("output_start_logits", "output_end_logits")


@dataclass(frozen=True)
class BertConfig:
    vocab_size: int
    layers: int = 2
    width: int = 64
    heads: int = 4
    intermediate: int = 128
    max_positions: int = 512
    type_vocab: int = 2


LARGE = BertConfig(vocab_size=30522, layers=24, width=1024, heads=16, intermediate=4096)


def config_for(width: int, vocab_size: int) -> BertConfig:
    """The generated variant for ``synthetic_width``: BERT-large's shape at 1024 and above, else 2 layers."""
    if width >= LARGE.width:
        return BertConfig(vocab_size=vocab_size, layers=LARGE.layers, width=LARGE.width, heads=LARGE.heads,
                          intermediate=LARGE.intermediate)
    return BertConfig(vocab_size=vocab_size, layers=2, width=width, heads=max(1, width // 16),
                      intermediate=2 * width)


def build(cfg: BertConfig, seed: int = 0, seq: int = 384) -> onnx.ModelProto:
    g = Graph(np.random.default_rng(seed))
    w = cfg.width
    word = g.op("Gather", [g.weight(cfg.vocab_size, w, scale=0.5), "input_ids"])
    pos_table = g.weight(cfg.max_positions, w, scale=0.5)
    pos = g.op("Gather", [pos_table, g.const(np.arange(seq, dtype=np.int64))])
    seg = g.op("Gather", [g.weight(cfg.type_vocab, w, scale=0.5), "segment_ids"])
    x = g.layer_norm(g.op("Add", [g.op("Add", [word, pos]), seg]), w)
    # (N, S) mask -> (N, 1, 1, S) additive bias: 0 where attended, -10000 on padding
    mask = g.op("Cast", ["input_mask"], to=TensorProto.FLOAT)
    inv = g.op("Sub", [g.const(np.float32(1.0)), mask])
    bias = g.op("Unsqueeze", [g.op("Mul", [inv, g.const(np.float32(-10000.0))]),
                              g.const(np.array([1, 2], np.int64))])
    for _ in range(cfg.layers):
        x = g.layer_norm(g.op("Add", [x, g.attention(x, w, cfg.heads, bias)]), w)
        ff = g.dense(g.gelu(g.dense(x, w, cfg.intermediate)), cfg.intermediate, w)
        x = g.layer_norm(g.op("Add", [x, ff]), w)
    logits = g.dense(x, w, 2)  # (N, S, 2)
    start, end = g.name("start"), g.name("end")
    g.nodes.append(helper.make_node("Split", [logits, g.const(np.array([1, 1], np.int64))], [start, end], axis=-1))
    axes = g.const(np.array([-1], np.int64))
    g.op("Squeeze", [start, axes], OUTPUTS[0])
    g.op("Squeeze", [end, axes], OUTPUTS[1])
    ins = [helper.make_tensor_value_info(n, TensorProto.INT64, ["N", seq]) for n in INPUTS]
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", seq]) for n in OUTPUTS]
    doc = (f"benchfleet generated BERT (SYNTHETIC weights, seed {seed}): {cfg.layers} layers, width {cfg.width}, "
           f"{cfg.heads} heads, vocab {cfg.vocab_size}")
    return g.model(ins, outs, "bert_squad_synthetic", doc)
