"""RNN-T (the MLPerf reference's speech_recognition/rnnt model) with its greedy decoder, as one ONNX graph.

The reference (pytorch/model_separable_rnnt.py, configs/rnnt.toml) is an LSTM encoder (2 layers, time stacking
by 2, 3 layers; 1024 units, input 240 = 80 mel features x 3 spliced frames), a prediction network (embedding of
the 28 labels, 2 LSTM layers of 320) and a joint network (Linear(1024 + 320, 512), ReLU, Linear(512, 29)); its
decoder (pytorch/decoders.py ScriptGreedyDecoder, batch of one) walks the encoder's frames and, at each, emits
the joint's argmax until it is the blank (index 28) or 30 symbols were emitted, feeding each emitted label (no
label at the start: zeros, zero state) back through the prediction network.

The graph does all of it, so that one backend call is one utterance: the encoder's LSTMs as ONNX ``LSTM``
nodes, and the decoder as a ``Loop`` over the encoder frames around a ``Loop`` of at most 30 symbols (the blank
ends it). Interface: ``features`` (T, 1, 240) float32 (the SUT's ``feature.permute(2, 0, 1)``),
``feature_length`` (1,) int64; output ``labels`` (n,) int64, the transcript's label ids (what the SUT returns
to LoadGen). Weights are named as the reference's state dict (``encoder.pre_rnn.lstm.weight_ih_l0`` ...,
``prediction.embed.weight``, ``joint.net.0.weight``, ``joint.net.3.weight``), torch's gate order (i, f, g, o),
so the published checkpoint's tensors (``joint_net`` renamed ``joint.net`` as the reference's loader does) build
the same graph as generated ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper

from benchfleet.models.onnx_build import Graph

INPUTS = ("features", "feature_length")
OUTPUTS = ("labels",)
MAX_SYMBOLS_PER_STEP = 30


@dataclass(frozen=True)
class RnntConfig:
    in_features: int = 240
    encoder_hidden: int = 1024
    pre_layers: int = 2
    stack_time: int = 2
    post_layers: int = 3
    pred_hidden: int = 320
    pred_layers: int = 2
    joint_hidden: int = 512
    classes: int = 29  # 28 labels and the blank (the last)
    forget_gate_bias: float = 1.0

    @property
    def blank(self) -> int:
        return self.classes - 1


REFERENCE = RnntConfig()


def config_for(width: int) -> RnntConfig:
    """The generated variant for ``synthetic_width``: the reference's shape at 1024 and above, else every
    layer ``width`` units wide (same layer counts, stacking, input and classes)."""
    if width >= REFERENCE.encoder_hidden:
        return REFERENCE
    return RnntConfig(encoder_hidden=width, pred_hidden=width, joint_hidden=width)


def _lstm_weights(rng: np.random.Generator, prefix: str, layers: int, inp: int, hidden: int,
                  forget_bias: float) -> dict[str, np.ndarray]:
    """torch.nn.LSTM's parameters, initialised as torch does (uniform +-1/sqrt(hidden)), forget-gate biases as
    the reference's LstmDrop sets them (ih: ``forget_gate_bias``, hh: 0)."""
    k = 1.0 / np.sqrt(hidden)
    out = {}
    for layer in range(layers):
        d_in = inp if layer == 0 else hidden
        for name, shape in (("weight_ih", (4 * hidden, d_in)), ("weight_hh", (4 * hidden, hidden)),
                            ("bias_ih", (4 * hidden,)), ("bias_hh", (4 * hidden,))):
            out[f"{prefix}.{name}_l{layer}"] = rng.uniform(-k, k, shape).astype(np.float32)
        out[f"{prefix}.bias_ih_l{layer}"][hidden:2 * hidden] = forget_bias
        out[f"{prefix}.bias_hh_l{layer}"][hidden:2 * hidden] = 0.0
    return out


# Scales of the generated weights: with torch's initialisation the random model's greedy decoder emits either
# nothing or 30 symbols at every frame; stronger LSTMs and joint and a raised blank (synthetic.py calibrates it)
# make its choices depend on the frame and on what it emitted, so that transcripts have words of a few letters.
LSTM_SCALE, JOINT_SCALE, JOINT_PRED_SCALE, BLANK_BIAS = 3.0, 10.0, 1.0, 10.0


def random_weights(cfg: RnntConfig, seed: int = 0) -> dict[str, np.ndarray]:
    """Generated weights in the reference's state-dict names and shapes (scaled as above)."""
    rng = np.random.default_rng(seed)
    w: dict[str, np.ndarray] = {}
    w.update(_lstm_weights(rng, "encoder.pre_rnn.lstm", cfg.pre_layers, cfg.in_features, cfg.encoder_hidden,
                           cfg.forget_gate_bias))
    w.update(_lstm_weights(rng, "encoder.post_rnn.lstm", cfg.post_layers, cfg.stack_time * cfg.encoder_hidden,
                           cfg.encoder_hidden, cfg.forget_gate_bias))
    w["prediction.embed.weight"] = rng.standard_normal((cfg.classes - 1, cfg.pred_hidden)).astype(np.float32)
    w.update(_lstm_weights(rng, "prediction.dec_rnn.lstm", cfg.pred_layers, cfg.pred_hidden, cfg.pred_hidden,
                           cfg.forget_gate_bias))
    for name, d_in, d_out in (("joint.net.0", cfg.encoder_hidden + cfg.pred_hidden, cfg.joint_hidden),
                              ("joint.net.3", cfg.joint_hidden, cfg.classes)):
        k = 1.0 / np.sqrt(d_in)
        w[f"{name}.weight"] = rng.uniform(-k, k, (d_out, d_in)).astype(np.float32)
        w[f"{name}.bias"] = rng.uniform(-k, k, (d_out,)).astype(np.float32)
    for name in w:
        if ".lstm.weight" in name:
            w[name] *= LSTM_SCALE
        elif name.startswith("joint.") and name.endswith(".weight"):
            w[name] *= JOINT_SCALE
    w["joint.net.0.weight"][:, cfg.encoder_hidden:] *= JOINT_PRED_SCALE
    w["joint.net.3.bias"][cfg.blank] += BLANK_BIAS
    return w


def convert_checkpoint(checkpoint: str, out: str) -> None:
    """The published PyTorch checkpoint as this module's ONNX graph: its ``state_dict`` with ``joint_net``
    renamed ``joint.net`` and the featurizer's buffers left out, as the reference's load_and_migrate_checkpoint
    does (needs torch)."""
    import torch

    state = torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"]
    weights = {k.replace("joint_net", "joint.net"): v.numpy() for k, v in state.items()
               if not k.startswith("audio_preprocessor.")}
    onnx.save(build(weights, "MLPerf RNN-T (DistributedDataParallel_1576581068.9962234-epoch-100.pt) with greedy "
                             "decoding"), out)


def config_of(weights: dict[str, np.ndarray]) -> RnntConfig:
    """The configuration a state dict's shapes give (the published checkpoint's: ``REFERENCE``)."""
    def layers(prefix: str) -> int:
        return sum(1 for k in weights if k.startswith(f"{prefix}.weight_ih_l"))

    enc = weights["encoder.pre_rnn.lstm.weight_hh_l0"].shape[1]
    return RnntConfig(in_features=weights["encoder.pre_rnn.lstm.weight_ih_l0"].shape[1], encoder_hidden=enc,
                      pre_layers=layers("encoder.pre_rnn.lstm"),
                      stack_time=weights["encoder.post_rnn.lstm.weight_ih_l0"].shape[1] // enc,
                      post_layers=layers("encoder.post_rnn.lstm"),
                      pred_hidden=weights["prediction.embed.weight"].shape[1],
                      pred_layers=layers("prediction.dec_rnn.lstm"),
                      joint_hidden=weights["joint.net.0.weight"].shape[0],
                      classes=weights["joint.net.3.weight"].shape[0])


def _onnx_gates(a: np.ndarray, hidden: int) -> np.ndarray:
    """torch's (i, f, g, o) blocks of the first axis in ONNX's order (i, o, f, c)."""
    i, f, g, o = (a[k * hidden:(k + 1) * hidden] for k in range(4))
    return np.concatenate([i, o, f, g])


def _lstm(g: Graph, w: dict[str, np.ndarray], prefix: str, layer: int, x: str, hidden: int,
          init: tuple[str, str] | None = None) -> tuple[str, str, str]:
    """One torch LSTM layer as an ONNX LSTM node: (Y (T, B, H), Y_h, Y_c)."""
    wi = g.const(_onnx_gates(w[f"{prefix}.weight_ih_l{layer}"], hidden)[None], "W")
    wh = g.const(_onnx_gates(w[f"{prefix}.weight_hh_l{layer}"], hidden)[None], "R")
    b = g.const(np.concatenate([_onnx_gates(w[f"{prefix}.bias_ih_l{layer}"], hidden),
                                _onnx_gates(w[f"{prefix}.bias_hh_l{layer}"], hidden)])[None], "B")
    y, yh, yc = g.name("lstm_y"), g.name("lstm_h"), g.name("lstm_c")
    ins = [x, wi, wh, b] + (["", init[0], init[1]] if init else [])
    g.nodes.append(helper.make_node("LSTM", ins, [y, yh, yc], hidden_size=hidden))
    return g.op("Squeeze", [y, g.const(np.array([1], np.int64))]), yh, yc


def _i64(g: Graph, *v: int) -> str:
    return g.const(np.array(v, np.int64))


def build(weights: dict[str, np.ndarray], doc: str = "") -> onnx.ModelProto:
    """The encoder and greedy decoder as one graph (see the module's docstring) from reference-named weights."""
    cfg = config_of(weights)
    w = {k: np.asarray(v, dtype=np.float32) for k, v in weights.items()}
    g = Graph(np.random.default_rng(0))
    h_enc, h_pred = cfg.encoder_hidden, cfg.pred_hidden

    # encoder: (T, 1, 240) -> (T', 1, H)
    x = INPUTS[0]
    for layer in range(cfg.pre_layers):
        x, _, _ = _lstm(g, w, "encoder.pre_rnn.lstm", layer, x, h_enc)
    # StackTime: zeros to a multiple of the factor, then each `factor` frames side by side
    t = g.op("Gather", [g.op("Shape", [x]), _i64(g, 0)])
    f = _i64(g, cfg.stack_time)
    extra = g.op("Mod", [g.op("Sub", [f, g.op("Mod", [t, f])]), f])
    pads = g.op("Concat", [_i64(g, 0, 0, 0), extra, _i64(g, 0, 0)], axis=0)
    x = g.op("Pad", [x, pads])
    x = g.op("Transpose", [x], perm=[1, 0, 2])
    x = g.op("Reshape", [x, _i64(g, 0, -1, cfg.stack_time * h_enc)])
    x = g.op("Transpose", [x], perm=[1, 0, 2])
    for layer in range(cfg.post_layers):
        x, _, _ = _lstm(g, w, "encoder.post_rnn.lstm", layer, x, h_enc)
    enc = x
    # the reference's x_lens: ceil(length / factor)
    steps = g.op("Div", [g.op("Add", [INPUTS[1], _i64(g, cfg.stack_time - 1)]), f])
    steps = g.op("Squeeze", [steps, _i64(g, 0)])

    # prediction network's embedding with a zero row appended at index -1: the start (no label yet) is zeros
    embed = g.const(np.concatenate([w["prediction.embed.weight"], np.zeros((1, h_pred), np.float32)]), "embed")
    w1 = g.const(w["joint.net.0.weight"].T.copy(), "joint_w1")
    b1 = g.const(w["joint.net.0.bias"], "joint_b1")
    w2 = g.const(w["joint.net.3.weight"].T.copy(), "joint_w2")
    b2 = g.const(w["joint.net.3.bias"], "joint_b2")
    blank = g.const(np.array([cfg.blank], np.int64), "blank")
    state = [h_enc, h_pred, cfg.pred_layers]

    outer_nodes, g.nodes = g.nodes, []
    # inner body: one symbol at frame `frame` (1, H) from the outer body
    lab = g.op("Gather", [embed, "s_last"])  # (1, P)
    y = g.op("Unsqueeze", [lab, _i64(g, 0)])  # (1, 1, P): one step, batch of one
    hs, cs = [], []
    for layer in range(cfg.pred_layers):
        idx = _i64(g, layer)
        init = (g.op("Gather", ["s_h", idx], axis=0), g.op("Gather", ["s_c", idx], axis=0))
        y, yh, yc = _lstm(g, w, "prediction.dec_rnn.lstm", layer, y, h_pred, init)
        hs.append(yh)
        cs.append(yc)
    pred = g.op("Squeeze", [y, _i64(g, 0)])  # (1, P)
    joint_in = g.op("Concat", ["frame", pred], axis=1)
    hidden = g.op("Relu", [g.op("Add", [g.op("MatMul", [joint_in, w1]), b1])])
    logits = g.op("Add", [g.op("MatMul", [hidden, w2]), b2])  # (1, classes)
    k = g.op("ArgMax", [logits], axis=1, keepdims=0)  # (1,)
    emit = g.op("Not", [g.op("Equal", [k, blank])])  # (1,)
    new_h = g.op("Concat", hs, axis=0) if len(hs) > 1 else hs[0]
    new_c = g.op("Concat", cs, axis=0) if len(cs) > 1 else cs[0]
    g.op("Squeeze", [emit, _i64(g, 0)], "s_cond_out")
    g.op("Where", [emit, new_h, "s_h"], "s_h_out")
    g.op("Where", [emit, new_c, "s_c"], "s_c_out")
    g.op("Where", [emit, k, "s_last"], "s_last_out")
    g.op("Concat", ["s_labels", g.op("Compress", [k, emit], axis=0)], "s_labels_out", axis=0)
    inner_nodes, g.nodes = g.nodes, []

    def carried(prefix: str, suffix: str) -> list[onnx.ValueInfoProto]:
        _, p, layers = state
        return [helper.make_tensor_value_info(f"{prefix}_h{suffix}", TensorProto.FLOAT, [layers, 1, p]),
                helper.make_tensor_value_info(f"{prefix}_c{suffix}", TensorProto.FLOAT, [layers, 1, p]),
                helper.make_tensor_value_info(f"{prefix}_last{suffix}", TensorProto.INT64, [1]),
                helper.make_tensor_value_info(f"{prefix}_labels{suffix}", TensorProto.INT64, ["n"])]

    inner = helper.make_graph(
        inner_nodes, "symbols",
        [helper.make_tensor_value_info("s_iter", TensorProto.INT64, []),
         helper.make_tensor_value_info("s_cond", TensorProto.BOOL, []), *carried("s", "")],
        [helper.make_tensor_value_info("s_cond_out", TensorProto.BOOL, []), *carried("s", "_out")])

    # outer body: frame t of the encoder's output
    g.op("Gather", [enc, "t_iter"], "frame", axis=0)  # (1, H)
    g.nodes.append(helper.make_node(
        "Loop", [g.const(np.array(MAX_SYMBOLS_PER_STEP, np.int64), "max_symbols"),
                 g.const(np.array(True), "true"), "t_h", "t_c", "t_last", "t_labels"],
        ["t_h_out", "t_c_out", "t_last_out", "t_labels_out"], body=inner))
    g.op("Identity", ["t_cond"], "t_cond_out")
    frame_nodes, g.nodes = g.nodes, outer_nodes
    outer = helper.make_graph(
        frame_nodes, "frames",
        [helper.make_tensor_value_info("t_iter", TensorProto.INT64, []),
         helper.make_tensor_value_info("t_cond", TensorProto.BOOL, []), *carried("t", "")],
        [helper.make_tensor_value_info("t_cond_out", TensorProto.BOOL, []), *carried("t", "_out")])
    zeros = g.const(np.zeros((cfg.pred_layers, 1, h_pred), np.float32), "zero_state")
    g.nodes.append(helper.make_node(
        "Loop", [steps, g.const(np.array(True), "true"), zeros, zeros, g.const(np.array([-1], np.int64), "start"),
                 g.const(np.zeros(0, np.int64), "no_labels")],
        ["final_h", "final_c", "final_last", OUTPUTS[0]], body=outer))
    ins = [helper.make_tensor_value_info(INPUTS[0], TensorProto.FLOAT, ["T", 1, cfg.in_features]),
           helper.make_tensor_value_info(INPUTS[1], TensorProto.INT64, [1])]
    outs = [helper.make_tensor_value_info(OUTPUTS[0], TensorProto.INT64, ["n"])]
    doc = doc or (f"RNN-T with greedy decoding: encoder {cfg.pre_layers}+{cfg.post_layers} LSTM x {h_enc}, "
                  f"stack time {cfg.stack_time}, prediction {cfg.pred_layers} LSTM x {h_pred}, joint "
                  f"{cfg.joint_hidden}, {cfg.classes} classes")
    return g.model(ins, outs, "rnnt_greedy", doc)


def build_generated(cfg: RnntConfig, seed: int = 0) -> onnx.ModelProto:
    doc = (f"benchfleet generated RNN-T (SYNTHETIC weights, seed {seed}): encoder {cfg.pre_layers}+"
           f"{cfg.post_layers} LSTM x {cfg.encoder_hidden}, prediction {cfg.pred_layers} LSTM x {cfg.pred_hidden}, "
           f"joint {cfg.joint_hidden}, {cfg.classes} classes; greedy decoding in the graph")
    return build(random_weights(cfg, seed), doc)
