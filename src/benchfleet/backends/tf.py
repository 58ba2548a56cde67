"""The TensorFlow backend, on the CPU or a GPU.

Two kinds of model file:

- a frozen graph (``.pb``), as the MLPerf reference publishes ResNet50 v1.5 and BERT-large for
  TensorFlow: imported once and pruned to the named inputs and outputs (``input_tensor:0``,
  ``logits:0`` ...);
- an ONNX file (benchfleet's generated variants, or any model in the supported operator subset):
  its nodes run as TensorFlow operations inside one ``tf.function`` (traced once per input
  shape). Convolutions and pooling run in NHWC, which TensorFlow's CPU kernels need; the
  graph's NCHW tensors are transposed around them.

fp32 only: the files are fp32 and TensorFlow's mixed precision is a training-time policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


def _onnx_function(model_path: str, tf):
    from benchfleet.backends import onnx_walk
    from benchfleet.backends.onnx_walk import ints

    graph = onnx_walk.load(model_path)

    def nhwc(x):
        return tf.transpose(x, [0, 2, 3, 1])

    def nchw(x):
        return tf.transpose(x, [0, 3, 1, 2])

    def pad_nhwc(x, pads, value=0.0):
        if any(pads):
            return tf.pad(x, [[0, 0], [pads[0], pads[2]], [pads[1], pads[3]], [0, 0]], constant_values=value)
        return x

    def conv(x, w, b=None, *, a):
        group = a.get("group", 1)
        pads = a.get("pads", [0, 0, 0, 0])
        strides = [1, *a.get("strides", [1, 1]), 1]
        dil = a.get("dilations", [1, 1])
        xs = pad_nhwc(nhwc(x), pads)
        if group == 1:
            y = tf.nn.conv2d(xs, tf.transpose(w, [2, 3, 1, 0]), strides, "VALID", dilations=dil)
        elif group == int(x.shape[1]) and int(w.shape[1]) == 1:  # depthwise
            y = tf.nn.depthwise_conv2d(xs, tf.transpose(w, [2, 3, 0, 1]), strides, "VALID", dilations=dil)
        else:
            raise ValueError(f"backend: tensorflow runs Conv with group 1 or depthwise, not group {group}")
        if b is not None:
            y = y + b
        return nchw(y)

    def maxpool(x, *, a):
        pads = a.get("pads", [0, 0, 0, 0])
        k = a["kernel_shape"]
        y = tf.nn.max_pool2d(pad_nhwc(nhwc(x), pads, float("-inf")), k, a.get("strides", k), "VALID")
        return nchw(y)

    def gemm(x, w, c=None, *, a):
        y = a.get("alpha", 1.0) * tf.matmul(x, w, transpose_a=bool(a.get("transA", 0)),
                                           transpose_b=bool(a.get("transB", 0)))
        return y if c is None else y + a.get("beta", 1.0) * c

    def reshape(x, shape, *, a):
        s = ints(shape)
        dyn = tf.shape(x, out_type=tf.int64)
        parts = [dyn[i] if v == 0 else tf.constant(v, tf.int64) for i, v in enumerate(s)]
        return tf.reshape(x, tf.stack(parts))

    def squeeze(x, axes=None, *, a):
        axes = ints(axes) if axes is not None else a.get("axes")
        return tf.squeeze(x, axis=axes)

    def unsqueeze(x, axes=None, *, a):
        axes = ints(axes) if axes is not None else a["axes"]
        rank = len(x.shape) + len(axes)
        for ax in sorted(ax % rank for ax in axes):
            x = tf.expand_dims(x, ax)
        return x

    def split(x, sizes=None, *, a):
        axis = a.get("axis", 0)
        sizes = ints(sizes) if sizes is not None else a.get("split")
        return tuple(tf.split(x, sizes if sizes is not None else a.get("num_outputs", 2), axis=axis))

    def layer_norm(x, scale, bias=None, *, a):
        axis = a.get("axis", -1) % len(x.shape)
        axes = list(range(axis, len(x.shape)))
        mean, var = tf.nn.moments(x, axes, keepdims=True)
        y = (x - mean) * tf.math.rsqrt(var + a.get("epsilon", 1e-5)) * scale
        return y if bias is None else y + bias

    def gather(x, i, *, a):
        axis = a.get("axis", 0) % len(x.shape)
        n = tf.shape(x, out_type=tf.int64)[axis] if not isinstance(x, np.ndarray) else x.shape[axis]
        i = tf.where(i < 0, i + n, i)
        return tf.gather(x, i, axis=axis)

    def argmax(x, *, a):
        y = tf.argmax(x, axis=a.get("axis", 0), output_type=tf.int64)
        return tf.expand_dims(y, a.get("axis", 0)) if a.get("keepdims", 1) else y

    def cast(x, *, a):
        return tf.cast(x, tf.as_dtype(onnx_walk.NP_TYPES[a["to"]]))

    def trilu(x, k=None, *, a):
        k = int(ints(k)[0]) if k is not None else 0
        if k != 0:
            raise ValueError("backend: tensorflow runs Trilu with k = 0 only")
        return tf.linalg.band_part(x, 0, -1) if a.get("upper", 1) else tf.linalg.band_part(x, -1, 0)

    def reduce_mean(x, axes=None, *, a):
        axes = ints(axes) if axes is not None else a.get("axes")
        return tf.reduce_mean(x, axis=axes, keepdims=bool(a.get("keepdims", 1)))

    def batchnorm(x, scale, b, mean, var, *, a):
        shape = [1, -1, 1, 1]
        return ((x - tf.reshape(mean, shape)) * tf.math.rsqrt(tf.reshape(var, shape) + a.get("epsilon", 1e-5))
                * tf.reshape(scale, shape) + tf.reshape(b, shape))

    def expand(x, shape, *, a):
        return x * tf.ones(tf.cast(shape, tf.int64), dtype=x.dtype)  # ONNX Expand broadcasts both ways

    ops = {
        "Conv": conv, "MaxPool": maxpool, "Gemm": gemm, "Reshape": reshape, "Squeeze": squeeze,
        "Unsqueeze": unsqueeze, "Split": split, "LayerNormalization": layer_norm, "Gather": gather,
        "ArgMax": argmax, "Cast": cast, "Trilu": trilu, "ReduceMean": reduce_mean, "BatchNormalization": batchnorm,
        "Expand": expand,
        "Relu": lambda x, *, a: tf.nn.relu(x), "Add": lambda x, y, *, a: x + y, "Sub": lambda x, y, *, a: x - y,
        "Mul": lambda x, y, *, a: x * y, "Div": lambda x, y, *, a: x / y,
        "MatMul": lambda x, y, *, a: tf.linalg.matmul(x, y), "Erf": lambda x, *, a: tf.math.erf(x),
        "Tanh": lambda x, *, a: tf.math.tanh(x), "Sqrt": lambda x, *, a: tf.math.sqrt(x),
        "Pow": lambda x, y, *, a: tf.math.pow(x, y), "Exp": lambda x, *, a: tf.math.exp(x),
        "Identity": lambda x, *, a: tf.identity(x), "Softmax": lambda x, *, a: tf.nn.softmax(x, a.get("axis", -1)),
        "GlobalAveragePool": lambda x, *, a: tf.reduce_mean(x, axis=[2, 3], keepdims=True),
        "Flatten": lambda x, *, a: tf.reshape(x, tf.stack([tf.shape(x)[0], -1])),
        "Transpose": lambda x, *, a: tf.transpose(x, a["perm"]), "Concat": lambda *xs, a: tf.concat(xs, a["axis"]),
        "Clip": lambda x, lo=None, hi=None, *, a: tf.clip_by_value(x, lo if lo is not None else a.get("min"),
                                                                   hi if hi is not None else a.get("max")),
    }
    onnx_walk.check_supported(graph, ops, "tensorflow", model_path)
    consts = {k: tf.constant(v) for k, v in graph.consts.items()}
    host_consts = {k: v for k, v in graph.consts.items() if not np.issubdtype(v.dtype, np.floating)}

    @tf.function(reduce_retracing=True, autograph=False)  # plain Python over the nodes: nothing to convert
    def run(feeds):
        env = {**consts, **feeds}
        return onnx_walk.execute(graph, env, dict(host_consts), ops,
                                 shape_of=lambda x: tf.shape(x, out_type=tf.int64),
                                 to_device=lambda v, like: tf.constant(v))

    return run, graph.inputs, graph.outputs


class _Frozen:
    """A frozen graph, pruned on first use to the inputs fed and the outputs asked (then cached)."""

    def __init__(self, model_path: str, tf):
        graph_def = tf.compat.v1.GraphDef()
        graph_def.ParseFromString(Path(model_path).read_bytes())
        self.wrapped = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(graph_def, name=""), [])
        self.graph = self.wrapped.graph
        self.pruned: dict[tuple, object] = {}
        placeholders = [op for op in self.graph.get_operations() if op.type == "Placeholder"]
        self.input_dtypes = {op.name: np.dtype(op.outputs[0].dtype.as_numpy_dtype) for op in placeholders}
        self.input_dtypes.update({f"{k}:0": v for k, v in list(self.input_dtypes.items())})

    def has_output(self, name: str) -> bool:
        try:
            self.graph.get_tensor_by_name(name if ":" in name else f"{name}:0")
            return True
        except (KeyError, ValueError):
            return False

    def __call__(self, feeds: dict, outputs: list[str]) -> dict:
        ins = sorted(feeds)
        key = (tuple(ins), tuple(outputs))
        if key not in self.pruned:
            t = self.graph.get_tensor_by_name
            self.pruned[key] = self.wrapped.prune(feeds=[t(i if ":" in i else f"{i}:0") for i in ins],
                                                  fetches=[t(o if ":" in o else f"{o}:0") for o in outputs])
        res = self.pruned[key](*[feeds[i] for i in ins])
        return dict(zip(outputs, res, strict=True))


@dataclass
class TensorFlowBackend:
    model_path: str
    threads: int = 0
    device: str = "cpu"
    name: str = "tensorflow"
    input_dtypes: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            import tensorflow as tf
        except ImportError as exc:
            raise RuntimeError("backend: tensorflow needs the tensorflow package on the host "
                               "(benchfleet setup installs it)") from exc
        from benchfleet.backends.base import default_threads

        self.tf, self.version = tf, tf.__version__
        threads = self.threads or default_threads()
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:
            pass  # already initialised in this process: keep its settings
        if self.device == "cuda":
            if not tf.config.list_physical_devices("GPU"):
                raise RuntimeError(f"device: cuda asked, but tensorflow {tf.__version__} sees no GPU; install "
                                   "tensorflow[and-cuda] on a GPU host or use device cpu")
            self._device = "/GPU:0"
        else:
            self._device = "/CPU:0"
        with tf.device(self._device):
            if str(self.model_path).endswith(".pb"):
                self.frozen = _Frozen(self.model_path, tf)
                self.input_dtypes = self.frozen.input_dtypes
            else:
                self.frozen = None
                self.fn, self.input_dtypes, self.outputs = _onnx_function(self.model_path, tf)

    def run(self, feeds: dict[str, np.ndarray], outputs: list[str]) -> list[np.ndarray]:
        tf = self.tf
        missing = [o for o in outputs if not (self.frozen.has_output(o) if self.frozen else o in self.outputs)]
        if missing:
            raise ValueError(f"model: output {missing[0]!r} not in {self.model_path}")
        with tf.device(self._device):
            tensors = {k: tf.constant(np.ascontiguousarray(v, dtype=self.input_dtypes.get(k, v.dtype)))
                       for k, v in feeds.items()}
            res = self.frozen(tensors, outputs) if self.frozen else self.fn(tensors)
        return [np.asarray(res[o]) for o in outputs]
