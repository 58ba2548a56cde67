"""A GPT-J-style decoder as an ONNX graph with generated weights, for the generated CNN/DailyMail set.

GPT-J blocks: one LayerNorm feeding attention and MLP in parallel, both added to the residual;
tanh-GELU MLP; final LayerNorm; LM head with bias. Causal attention masked by ``attention_mask``
(left padding). Inputs ``input_ids``, ``attention_mask``, ``position_ids`` (N, T) int64; output
``next_token_logits`` (N, vocab), the logits of the last position (all generation needs).
Differences from GPT-J 6B, besides size (28 layers, width 4096, 16 heads): learned position
embeddings instead of rotary ones, and no key/value cache (each step reruns the sequence).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper

from benchfleet.models.onnx_build import Graph

INPUTS = ("input_ids", "attention_mask", "position_ids")
OUTPUT = "next_token_logits"


@dataclass(frozen=True)
class GptConfig:
    vocab_size: int
    layers: int = 2
    width: int = 64
    heads: int = 4
    max_positions: int = 2048


def _gelu_tanh(g: Graph, x: str) -> str:
    cube = g.op("Mul", [g.op("Mul", [x, x]), x])
    inner = g.op("Mul", [g.op("Add", [x, g.op("Mul", [cube, g.const(np.float32(0.044715))])]),
                         g.const(np.float32(np.sqrt(2 / np.pi)))])
    return g.op("Mul", [g.op("Mul", [x, g.op("Add", [g.op("Tanh", [inner]), g.const(np.float32(1.0))])]),
                        g.const(np.float32(0.5))])


def build(cfg: GptConfig, seed: int = 0, logit_scale: float = 4.0, eos_id: int | None = None,
          eos_bias: float = 0.0) -> onnx.ModelProto:
    """``eos_bias`` raises the end-of-text logit, so that generation stops soon after its minimum length."""
    g = Graph(np.random.default_rng(seed))
    w = cfg.width
    x = g.op("Add", [g.op("Gather", [g.weight(cfg.vocab_size, w, scale=1.0), "input_ids"]),
                     g.op("Gather", [g.weight(cfg.max_positions, w, scale=0.3), "position_ids"])])
    # additive attention bias (N, 1, T, T): causal and not padding -> 0, else -10000
    t = g.op("Gather", [g.op("Shape", ["input_ids"]), g.const(np.array([1], np.int64))])
    square = g.op("Expand", [g.const(np.array(1.0, np.float32)), g.op("Concat", [t, t], axis=0)])
    causal = g.op("Trilu", [square], upper=0)
    mask = g.op("Unsqueeze", [g.op("Cast", ["attention_mask"], to=TensorProto.FLOAT),
                              g.const(np.array([1, 2], np.int64))])
    allowed = g.op("Mul", [causal, mask])
    bias = g.op("Mul", [g.op("Sub", [g.const(np.float32(1.0)), allowed]), g.const(np.float32(-10000.0))])
    for _ in range(cfg.layers):
        h = g.layer_norm(x, w)
        attn = g.attention(h, w, cfg.heads, bias)
        mlp = g.dense(_gelu_tanh(g, g.dense(h, w, 4 * w)), 4 * w, w)
        x = g.op("Add", [g.op("Add", [x, attn]), mlp])
    last = g.op("Gather", [g.layer_norm(x, w), g.const(np.array(-1, np.int64))], axis=1)  # (N, W)
    y = g.op("MatMul", [last, g.weight(w, cfg.vocab_size, scale=logit_scale / np.sqrt(w))])
    head_bias = np.zeros(cfg.vocab_size, np.float32)
    if eos_id is not None:
        head_bias[eos_id] = eos_bias
    g.op("Add", [y, g.const(head_bias, "b")], OUTPUT)
    ins = [helper.make_tensor_value_info(n, TensorProto.INT64, ["N", "T"]) for n in INPUTS]
    outs = [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["N", cfg.vocab_size])]
    doc = (f"benchfleet generated GPT-J-style decoder (SYNTHETIC weights, seed {seed}): {cfg.layers} layers, "
           f"width {w}, {cfg.heads} heads, vocab {cfg.vocab_size}")
    return g.model(ins, outs, "gptj_synthetic", doc)
