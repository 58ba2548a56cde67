"""Run an ONNX graph with another framework's operations (the pytorch and tensorflow backends).

``load`` reads the graph once: constants as numpy arrays, nodes in order, declared inputs and
outputs. ``execute`` walks the nodes with a framework's operator table. Integer constants and
everything computed from tensor shapes stay on the host (numpy or host tensors), so shape
arithmetic never reads a device tensor back (which a CUDA graph capture forbids, and which
would otherwise synchronise every call). Each table implements the ONNX operator semantics for
its framework; an operator missing from a table is named before anything runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# ONNX TensorProto element types -> numpy
NP_TYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 6: np.int32, 7: np.int64, 9: np.bool_, 10: np.float16,
            11: np.float64}
# Inputs that are values (shapes, axes, sizes): read from the host copy when there is one.
VALUE_ARGS = {"Reshape": 1, "Squeeze": 1, "Unsqueeze": 1, "Split": 1, "Expand": 1, "ReduceMean": 1, "Trilu": 1}
# Operators computed on the host when all their inputs are host values (shape arithmetic).
SHAPE_MATH = {"Gather", "Concat", "Unsqueeze", "Squeeze", "Add", "Sub", "Mul", "Div", "Cast", "Reshape"}

Node = tuple[str, list[str], list[str], dict]
Ops = dict[str, Callable]


@dataclass
class OnnxGraph:
    consts: dict[str, np.ndarray]
    nodes: list[Node]
    inputs: dict[str, np.dtype]  # graph inputs that are not initializers
    outputs: list[str]

    def __post_init__(self) -> None:
        # node index -> the values no later node reads (dropped after that node, so that a deep model holds
        # only its live activations: BERT-large at batch 256 otherwise kept every layer's, 136 GB on a GPU)
        last: dict[str, int] = {}
        for k, (_, ins, _, _) in enumerate(self.nodes):
            for i in ins:
                if i:
                    last[i] = k
        keep = set(self.outputs) | set(self.consts)
        self.dead_after: dict[int, list[str]] = {}
        for name, k in last.items():
            if name not in keep:
                self.dead_after.setdefault(k, []).append(name)


def _attrs(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def ints(v) -> list[int]:
    """A shape/axes value (numpy array, host tensor or list) as Python ints."""
    if hasattr(v, "numpy") and not isinstance(v, np.ndarray):
        v = v.numpy()
    return [int(x) for x in np.asarray(v).reshape(-1).tolist()]


def load(model_path: str | Path) -> OnnxGraph:
    import onnx
    from onnx import numpy_helper

    g = onnx.load(str(model_path)).graph
    consts = {init.name: numpy_helper.to_array(init) for init in g.initializer}
    for n in g.node:
        if n.op_type == "Constant":
            consts[n.output[0]] = numpy_helper.to_array(_attrs(n)["value"])
    nodes = [(n.op_type, list(n.input), list(n.output), _attrs(n)) for n in g.node if n.op_type != "Constant"]
    inputs = {i.name: np.dtype(NP_TYPES.get(i.type.tensor_type.elem_type, np.float32)) for i in g.input
              if i.name not in consts}
    return OnnxGraph(consts, nodes, inputs, [o.name for o in g.output])


def check_supported(graph: OnnxGraph, ops: Ops, backend: str, model_path: str | Path) -> None:
    unknown = sorted({op for op, *_ in graph.nodes} - set(ops) - {"Shape"})
    if unknown:
        raise ValueError(f"backend: {backend} cannot run {model_path}: ONNX operator(s) {', '.join(unknown)} are not "
                         f"supported by benchfleet's {backend} executor; use backend onnxruntime for this model")


def execute(graph: OnnxGraph, env: dict, host: dict, ops: Ops, shape_of: Callable, to_device: Callable) -> dict:
    """Walk the nodes. ``env``: device tensors (feeds and constants); ``host``: host values (integer
    constants). ``shape_of(x)`` gives a host value of x's shape; ``to_device(v, like)`` moves a host value
    next to ``like``. Returns the graph outputs."""
    for k, (op, ins, outs, a) in enumerate(graph.nodes):
        if op == "Shape":
            host[outs[0]] = shape_of(env[ins[0]] if ins[0] in env else host[ins[0]])
            _drop(graph, k, env)
            continue
        on_host = op in SHAPE_MATH and all(not i or i in host for i in ins)
        args = []
        for pos, i in enumerate(ins):
            if not i:
                args.append(None)
            elif on_host or (VALUE_ARGS.get(op) == pos and i in host):
                args.append(host[i])
            elif i in env:
                args.append(env[i])
            else:
                args.append(to_device(host[i], next(iter(env.values()))))
        while args and args[-1] is None:
            args.pop()
        y = ops[op](*args, a=a)
        target = host if on_host else env
        if isinstance(y, tuple):
            target.update(zip(outs, y, strict=True))
        else:
            target[outs[0]] = y
        _drop(graph, k, env)
    return {o: env[o] if o in env else host[o] for o in graph.outputs}


def _drop(graph: OnnxGraph, k: int, env: dict) -> None:
    for name in graph.dead_after.get(k, ()):
        env.pop(name, None)
