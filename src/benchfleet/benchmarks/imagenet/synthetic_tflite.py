"""Generated MobileNet- and EfficientNet-Lite-style image classifiers written as TFLite flatbuffers.

Written directly with the TFLite schema (the ``tflite`` package's flatbuffer builders), so no
TensorFlow is needed on the host. MobileNet v1 style: a stride-2 3x3 convolution, then depthwise
3x3 + pointwise 1x1 pairs, ReLU6 throughout. EfficientNet-Lite style: inverted residual blocks
(1x1 expand, depthwise 3x3, 1x1 project, residual add where shapes allow), ReLU6 as Lite uses.
Then global mean, a fully connected layer to 1001 classes (class 0 is background, as in the
TensorFlow models) and softmax. NHWC float32 input (N, 224, 224, 3) scaled to [-1, 1]. Weights
are random; the paired generated dataset is labelled with the model's own answers.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import flatbuffers
import numpy as np

from benchfleet.benchmarks.entry import ModelEntry
from benchfleet.benchmarks.generated import PROVENANCE, SyntheticPair, cached_pair
from benchfleet.benchmarks.imagenet import images
from benchfleet.benchmarks.imagenet.dataset import VAL_MAP, ImageNetVal
from benchfleet.benchmarks.imagenet.preprocess import preprocess_version
from benchfleet.cachelock import code_version

NUM_CLASSES = 1001
SIZE = 224


@dataclass
class _Op:
    code: int
    inputs: list[int]
    outputs: list[int]
    options_type: int
    options: dict


@dataclass
class _Net:
    rng: np.random.Generator
    tensors: list[tuple[str, list[int], np.ndarray | None]] = field(default_factory=list)
    ops: list[_Op] = field(default_factory=list)

    def tensor(self, name: str, shape: list[int], data: np.ndarray | None = None) -> int:
        self.tensors.append((name, shape, data))
        return len(self.tensors) - 1

    def const(self, name: str, data: np.ndarray) -> int:
        return self.tensor(name, list(data.shape), data.astype(np.float32))

    def conv(self, x: int, cin: int, cout: int, k: int, stride: int, size: int, relu6: bool = True) -> tuple[int, int]:
        from tflite.BuiltinOperator import BuiltinOperator as B
        from tflite.BuiltinOptions import BuiltinOptions as O

        out_size = -(-size // stride)
        w = self.const(f"conv{len(self.ops)}/w",
                       self.rng.standard_normal((cout, k, k, cin)) * np.sqrt(2.0 / (k * k * cin)))
        b = self.const(f"conv{len(self.ops)}/b", np.zeros(cout))
        y = self.tensor(f"conv{len(self.ops)}/out", [1, out_size, out_size, cout])
        self.ops.append(_Op(B.CONV_2D, [x, w, b], [y], O.Conv2DOptions,
                            {"stride": stride, "act": 3 if relu6 else 0}))
        return y, out_size

    def depthwise(self, x: int, c: int, stride: int, size: int) -> tuple[int, int]:
        from tflite.BuiltinOperator import BuiltinOperator as B
        from tflite.BuiltinOptions import BuiltinOptions as O

        out_size = -(-size // stride)
        w = self.const(f"dw{len(self.ops)}/w", self.rng.standard_normal((1, 3, 3, c)) * np.sqrt(2.0 / 9))
        b = self.const(f"dw{len(self.ops)}/b", np.zeros(c))
        y = self.tensor(f"dw{len(self.ops)}/out", [1, out_size, out_size, c])
        self.ops.append(_Op(B.DEPTHWISE_CONV_2D, [x, w, b], [y], O.DepthwiseConv2DOptions,
                            {"stride": stride, "act": 3}))
        return y, out_size

    def add(self, a: int, b: int, shape: list[int]) -> int:
        from tflite.BuiltinOperator import BuiltinOperator as B
        from tflite.BuiltinOptions import BuiltinOptions as O

        y = self.tensor(f"add{len(self.ops)}", shape)
        self.ops.append(_Op(B.ADD, [a, b], [y], O.AddOptions, {}))
        return y


def _vector(builder: flatbuffers.Builder, start, items: list[int], kind: str = "int32") -> int:
    start(builder, len(items))
    for v in reversed(items):
        getattr(builder, "PrependInt32" if kind == "int32" else "PrependUOffsetTRelative")(v)
    return builder.EndVector()


def _serialize(net: _Net, input_id: int, output_id: int, description: str) -> bytes:
    from tflite.BuiltinOperator import BuiltinOperator as B

    # the schema's builder functions live in the tflite.<Table> modules (the package exports the classes)
    (AddOptions, Buffer, Conv2DOptions, DepthwiseConv2DOptions, FullyConnectedOptions, Model, Operator, OperatorCode,
     ReducerOptions, SoftmaxOptions, SubGraph, Tensor) = (importlib.import_module(f"tflite.{n}") for n in (
        "AddOptions", "Buffer", "Conv2DOptions", "DepthwiseConv2DOptions", "FullyConnectedOptions", "Model",
        "Operator", "OperatorCode", "ReducerOptions", "SoftmaxOptions", "SubGraph", "Tensor"))

    b = flatbuffers.Builder(1 << 20)
    # buffers: 0 is the empty sentinel; one per constant tensor
    buffer_offsets, tensor_buffer = [], []
    Buffer.Start(b)
    buffer_offsets.append(Buffer.End(b))
    for _, _, data in net.tensors:
        if data is None:
            tensor_buffer.append(0)
            continue
        raw = np.ascontiguousarray(data, dtype="<i4" if data.dtype == np.int32 else "<f4").tobytes()
        b.StartVector(1, len(raw), 16)
        b.head = b.head - len(raw)
        b.Bytes[b.head:b.head + len(raw)] = raw
        vec = b.EndVector()
        Buffer.Start(b)
        Buffer.AddData(b, vec)
        tensor_buffer.append(len(buffer_offsets))
        buffer_offsets.append(Buffer.End(b))
    tensors = []
    for (name, shape, data), buf in zip(net.tensors, tensor_buffer, strict=True):
        n = b.CreateString(name)
        shp = _vector(b, Tensor.StartShapeVector, shape)
        sig = _vector(b, Tensor.StartShapeSignatureVector, [-1, *shape[1:]]) if data is None else None
        Tensor.Start(b)
        Tensor.AddShape(b, shp)
        if sig is not None:
            Tensor.AddShapeSignature(b, sig)
        Tensor.AddType(b, 2 if data is not None and data.dtype == np.int32 else 0)  # INT32 / FLOAT32
        Tensor.AddBuffer(b, buf)
        Tensor.AddName(b, n)
        tensors.append(Tensor.End(b))
    codes = sorted({op.code for op in net.ops})
    ops = []
    for op in net.ops:
        o = op.options
        if op.code == B.CONV_2D:
            Conv2DOptions.Start(b)
            Conv2DOptions.AddPadding(b, 0)
            Conv2DOptions.AddStrideW(b, o["stride"])
            Conv2DOptions.AddStrideH(b, o["stride"])
            Conv2DOptions.AddDilationWFactor(b, 1)
            Conv2DOptions.AddDilationHFactor(b, 1)
            Conv2DOptions.AddFusedActivationFunction(b, o["act"])
            opts = Conv2DOptions.End(b)
        elif op.code == B.DEPTHWISE_CONV_2D:
            DepthwiseConv2DOptions.Start(b)
            DepthwiseConv2DOptions.AddPadding(b, 0)
            DepthwiseConv2DOptions.AddStrideW(b, o["stride"])
            DepthwiseConv2DOptions.AddStrideH(b, o["stride"])
            DepthwiseConv2DOptions.AddDepthMultiplier(b, 1)
            DepthwiseConv2DOptions.AddDilationWFactor(b, 1)
            DepthwiseConv2DOptions.AddDilationHFactor(b, 1)
            DepthwiseConv2DOptions.AddFusedActivationFunction(b, o["act"])
            opts = DepthwiseConv2DOptions.End(b)
        elif op.code == B.MEAN:
            ReducerOptions.Start(b)
            ReducerOptions.AddKeepDims(b, False)
            opts = ReducerOptions.End(b)
        elif op.code == B.FULLY_CONNECTED:
            FullyConnectedOptions.Start(b)
            opts = FullyConnectedOptions.End(b)
        elif op.code == B.SOFTMAX:
            SoftmaxOptions.Start(b)
            SoftmaxOptions.AddBeta(b, 1.0)
            opts = SoftmaxOptions.End(b)
        else:
            AddOptions.Start(b)
            opts = AddOptions.End(b)
        ins = _vector(b, Operator.StartInputsVector, op.inputs)
        outs = _vector(b, Operator.StartOutputsVector, op.outputs)
        Operator.Start(b)
        Operator.AddOpcodeIndex(b, codes.index(op.code))
        Operator.AddInputs(b, ins)
        Operator.AddOutputs(b, outs)
        Operator.AddBuiltinOptionsType(b, op.options_type)
        Operator.AddBuiltinOptions(b, opts)
        ops.append(Operator.End(b))
    t_vec = _vector(b, SubGraph.StartTensorsVector, tensors, "offset")
    i_vec = _vector(b, SubGraph.StartInputsVector, [input_id])
    o_vec = _vector(b, SubGraph.StartOutputsVector, [output_id])
    op_vec = _vector(b, SubGraph.StartOperatorsVector, ops, "offset")
    name = b.CreateString("main")
    SubGraph.Start(b)
    SubGraph.AddTensors(b, t_vec)
    SubGraph.AddInputs(b, i_vec)
    SubGraph.AddOutputs(b, o_vec)
    SubGraph.AddOperators(b, op_vec)
    SubGraph.AddName(b, name)
    sg = SubGraph.End(b)
    code_offsets = []
    for c in codes:
        OperatorCode.Start(b)
        OperatorCode.AddDeprecatedBuiltinCode(b, min(c, 127))
        OperatorCode.AddBuiltinCode(b, c)
        OperatorCode.AddVersion(b, 1)
        code_offsets.append(OperatorCode.End(b))
    c_vec = _vector(b, Model.StartOperatorCodesVector, code_offsets, "offset")
    s_vec = _vector(b, Model.StartSubgraphsVector, [sg], "offset")
    bf_vec = _vector(b, Model.StartBuffersVector, buffer_offsets, "offset")
    desc = b.CreateString(description)
    Model.Start(b)
    Model.AddVersion(b, 3)
    Model.AddOperatorCodes(b, c_vec)
    Model.AddSubgraphs(b, s_vec)
    Model.AddDescription(b, desc)
    Model.AddBuffers(b, bf_vec)
    b.Finish(Model.End(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def build(family: str, input_name: str, output_name: str, seed: int = 0, width: int = 8) -> bytes:
    """A small ``mobilenet`` or ``efficientnet`` style network as .tflite bytes."""
    from tflite.BuiltinOperator import BuiltinOperator as B
    from tflite.BuiltinOptions import BuiltinOptions as O

    net = _Net(np.random.default_rng(seed))
    x = net.tensor(input_name, [1, SIZE, SIZE, 3])
    y, size = net.conv(x, 3, width, 3, 2, SIZE)
    c = width
    if family == "mobilenet":
        for cout, stride in ((2 * width, 2), (4 * width, 2), (4 * width, 2), (8 * width, 2)):
            y, size = net.depthwise(y, c, stride, size)
            y, size = net.conv(y, c, cout, 1, 1, size)
            c = cout
    else:
        for cout, stride in ((width, 1), (2 * width, 2), (2 * width, 1), (4 * width, 2), (8 * width, 2)):
            inp = y
            h, _ = net.conv(y, c, 4 * c, 1, 1, size)
            h, new_size = net.depthwise(h, 4 * c, stride, size)
            h, _ = net.conv(h, 4 * c, cout, 1, 1, new_size, relu6=False)
            y = net.add(inp, h, [1, new_size, new_size, cout]) if (stride == 1 and cout == c) else h
            c, size = cout, new_size
    axes = net.tensor("mean/axes", [2], np.array([1, 2], np.int32))
    pooled = net.tensor("pooled", [1, c])
    net.ops.append(_Op(B.MEAN, [y, axes], [pooled], O.ReducerOptions, {}))
    fc_w = net.const("logits/w", net.rng.standard_normal((NUM_CLASSES, c)) * (4.0 / np.sqrt(c)))
    fc_b = net.const("logits/b", np.zeros(NUM_CLASSES))
    logits = net.tensor("logits", [1, NUM_CLASSES])
    net.ops.append(_Op(B.FULLY_CONNECTED, [pooled, fc_w, fc_b], [logits], O.FullyConnectedOptions, {}))
    probs = net.tensor(output_name, [1, NUM_CLASSES])
    net.ops.append(_Op(B.SOFTMAX, [logits], [probs], O.SoftmaxOptions, {}))
    return _serialize(net, x, probs, f"benchfleet generated {family}-style classifier "
                                     f"(SYNTHETIC weights, seed {seed}, width {width})")


def generator_version(entry: ModelEntry) -> str:
    """The version of the code that makes the pair, with the preprocessing its labels were computed through."""
    return code_version("benchfleet.benchmarks.imagenet.images", "benchfleet.benchmarks.generated",
                        "benchfleet.benchmarks.imagenet.synthetic_tflite",
                        extra=preprocess_version(entry.preprocessing))


def make_pair(root: Path, entry: ModelEntry, count: int = 1024, seed: int = 2023, threads: int = 2,
              log=print, version: str | None = None) -> SyntheticPair:
    family = "mobilenet" if "mobilenet" in entry.name else "efficientnet"
    return cached_pair(Path(root) / f"{entry.name}-s{seed}-n{count}", f"{entry.name}-synthetic.tflite",
                       "imagenet-synthetic", lambda m, d: _make(m, d, entry, family, count, seed, threads, log),
                       version or generator_version(entry), log)


def _make(model_path: Path, data_dir: Path, entry: ModelEntry, family: str, count: int, seed: int, threads: int,
          log) -> SyntheticPair:
    meta = data_dir / PROVENANCE
    log(f"generating a synthetic {entry.family}-style TFLite model and {count} synthetic images in "
        f"{model_path.parent}")
    names = images.write_images(data_dir, count, seed)
    (data_dir / VAL_MAP).write_text("".join(f"{n} 0\n" for n in names))
    model_path.parent.mkdir(parents=True, exist_ok=True)
    model_path.write_bytes(build(family, entry.input_name, entry.output_name, seed=seed))
    from benchfleet.backends.tflite import TFLiteBackend

    backend = TFLiteBackend(str(model_path), threads=threads)
    ds = ImageNetVal.open(data_dir)
    labels = []
    for start in range(0, len(ds), 32):
        batch = np.stack([ds.load(i, entry.preprocessing)
                          for i in range(start, min(start + 32, len(ds)))]).transpose(0, 2, 3, 1)
        probs = backend.run({entry.input_name: batch}, [entry.output_name])[0]
        labels.extend((probs.argmax(axis=1) - entry.label_offset).tolist())
    (data_dir / VAL_MAP).write_text("".join(f"{n} {int(v)}\n" for n, v in zip(names, labels, strict=True)))
    provenance = {
        "synthetic": True, "kind": "generated",
        "model": f"{family}-style TFLite network, random weights (seed {seed}); NOT the published {entry.family}",
        "dataset": f"{count} generated JPEGs in the ImageNet 2012 val layout; labels are the generated model's "
                   "own top-1 answers; NOT ImageNet",
        "distinct_labels": len(set(labels)), "seed": seed, "count": count,
        "note": "synthetic: proves the pipeline, not a result for publication",
    }
    meta.write_text(json.dumps(provenance, indent=2))
    return SyntheticPair(model_path, data_dir, provenance)
