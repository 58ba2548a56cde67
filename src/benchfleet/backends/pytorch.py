"""The PyTorch backend: an ONNX graph executed as a ``torch.nn.Module``, on the CPU or CUDA.

The model file is the same ONNX file the onnxruntime backend reads; its initializers become
module buffers and its nodes run in order as torch operations (the operator subset of the MLPerf
reference ResNet50 and of benchfleet's generated ResNet50, BERT and GPT-J-style models). An
operator outside that subset is named in the error. Options:

- ``precision``: fp32, fp16 or bf16. Floating-point weights and inputs are cast; integer tensors
  (token ids, shapes, indices) stay as they are; outputs come back as float32.
- CUDA graphs (CUDA only, on by default): each input shape is captured once after a warm-up and
  replayed; inputs are copied into the captured buffers. Offline/Server batches of a fixed size
  then cost one graph launch.
- On CUDA, each calling thread has its own stream, captured graphs and staging buffers, so that two
  Offline/Server workers (``concurrency``) overlap one batch's host work and copies with another's
  compute. Inputs go through a pinned host buffer kept per input shape (a full-speed, asynchronous
  copy) and are cast to the precision on the GPU; 4-D tensors (images, convolution weights) are kept
  channels-last, the layout cuDNN's tensor-core convolutions run in (``channels_last``, default on
  CUDA). fp32 on CUDA is IEEE fp32: TF32 is turned off for matrix products and convolutions, so
  that a result labelled fp32 is one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

PRECISIONS = ("fp32", "fp16", "bf16")
# glibc serves allocations above the mmap threshold (128 KiB at start) with fresh mmaps, each zeroed page
# by page on first touch and unmapped on free; torch's CPU allocator frees activations after every op,
# so a model whose tensors are a few MiB (attention scores) pays that on every call: 2.4x slower in
# bench/gpu_harness.py's BERT until something else has pushed the threshold up. Raising it (to glibc's
# 32 MiB maximum) and never trimming keeps those blocks in the heap for reuse. A thread other than the
# main one (the Offline/Server worker) gets its own arena, whose heaps are trimmed regardless: one arena
# for the process keeps the worker as fast as the main thread (38.7 -> 25.5 ms a batch, same bench).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8
_MMAP_THRESHOLD = 32 * 1024 * 1024
MAX_GRAPHS = 64  # captured input shapes per model; beyond, calls run eagerly


def _tune_malloc() -> bool:
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc: nothing to tune
    return all(bool(mallopt(k, v)) for k, v in ((_M_MMAP_THRESHOLD, _MMAP_THRESHOLD),
                                                (_M_TRIM_THRESHOLD, 1 << 30), (_M_ARENA_MAX, 1)))


def _module(model_path: str, dtype):
    import torch
    import torch.nn.functional as F

    from benchfleet.backends import onnx_walk
    from benchfleet.backends.onnx_walk import ints as _ints

    graph = onnx_walk.load(model_path)
    torch_types = {np.dtype(np.float32): torch.float32, np.dtype(np.int32): torch.int32,
                   np.dtype(np.int64): torch.int64, np.dtype(np.float16): torch.float16,
                   np.dtype(np.bool_): torch.bool, np.dtype(np.float64): torch.float64,
                   np.dtype(np.uint8): torch.uint8, np.dtype(np.int8): torch.int8}
    onnx_types = {code: torch_types[np.dtype(t)] for code, t in onnx_walk.NP_TYPES.items()}

    def fcast(t):
        return t.to(dtype) if t.is_floating_point() else t

    def conv(x, w, b=None, *, a):
        pads = a.get("pads", [0, 0, 0, 0])
        if pads[0] != pads[2] or pads[1] != pads[3]:
            x = F.pad(x, (pads[1], pads[3], pads[0], pads[2]))
            padding = 0
        else:
            padding = (pads[0], pads[1])
        return F.conv2d(x, w, b, stride=a.get("strides", [1, 1]), padding=padding,
                        dilation=a.get("dilations", [1, 1]), groups=a.get("group", 1))

    def maxpool(x, *, a):
        pads = a.get("pads", [0, 0, 0, 0])
        if pads[0] != pads[2] or pads[1] != pads[3]:
            x = F.pad(x, (pads[1], pads[3], pads[0], pads[2]), value=float("-inf"))
            pads = [0, 0, 0, 0]
        return F.max_pool2d(x, a["kernel_shape"], a.get("strides", a["kernel_shape"]), (pads[0], pads[1]))

    def gemm(x, w, c=None, *, a):
        x = x.t() if a.get("transA", 0) else x
        w = w.t() if a.get("transB", 0) else w
        y = a.get("alpha", 1.0) * (x @ w)
        return y if c is None else y + a.get("beta", 1.0) * c

    def reshape(x, shape, *, a):
        s = _ints(shape)
        s = [x.shape[i] if v == 0 else v for i, v in enumerate(s)]
        return x.reshape(s)

    def squeeze(x, axes=None, *, a):
        axes = _ints(axes) if axes is not None else a.get("axes")
        if axes is None:
            return x.squeeze()
        for ax in sorted((ax % x.dim() for ax in axes), reverse=True):
            x = x.squeeze(ax)
        return x

    def unsqueeze(x, axes=None, *, a):
        axes = _ints(axes) if axes is not None else a["axes"]
        for ax in sorted(ax % (x.dim() + len(axes)) for ax in axes):
            x = x.unsqueeze(ax)
        return x

    def split(x, sizes=None, *, a):
        axis = a.get("axis", 0)
        sizes = _ints(sizes) if sizes is not None else a.get("split")
        if sizes is None:
            return tuple(torch.chunk(x, a.get("num_outputs", 2), axis))
        return tuple(torch.split(x, sizes, axis))

    def layer_norm(x, scale, bias=None, *, a):
        axis = a.get("axis", -1) % x.dim()
        return F.layer_norm(x, x.shape[axis:], scale, bias, a.get("epsilon", 1e-5))

    def argmax(x, *, a):
        return torch.argmax(x, dim=a.get("axis", 0), keepdim=bool(a.get("keepdims", 1)))

    def reduce_mean(x, axes=None, *, a):
        axes = _ints(axes) if axes is not None else a.get("axes")
        return x.mean(dim=axes, keepdim=bool(a.get("keepdims", 1)))

    def gather(x, i, *, a):
        axis = a.get("axis", 0) % x.dim()
        i = torch.where(i < 0, i + x.shape[axis], i)  # ONNX counts negative indices from the end
        return torch.index_select(x, axis, i.reshape(-1)).reshape(*x.shape[:axis], *i.shape, *x.shape[axis + 1:])

    def trilu(x, k=None, *, a):
        k = int(k) if k is not None else 0
        return torch.triu(x, k) if a.get("upper", 1) else torch.tril(x, k)

    def cast(x, *, a):
        to = onnx_types[a["to"]]
        return x.to(dtype if to.is_floating_point else to)

    def batchnorm(x, scale, b, mean, var, *, a):
        return F.batch_norm(x, mean, var, scale, b, False, 0.0, a.get("epsilon", 1e-5))

    def clip(x, lo=None, hi=None, *, a):
        return torch.clamp(x, lo if lo is not None else a.get("min"), hi if hi is not None else a.get("max"))

    ops = {
        "Conv": conv, "MaxPool": maxpool, "Gemm": gemm, "Reshape": reshape, "Squeeze": squeeze,
        "Unsqueeze": unsqueeze, "Split": split, "LayerNormalization": layer_norm, "ArgMax": argmax,
        "ReduceMean": reduce_mean, "Trilu": trilu, "Cast": cast, "BatchNormalization": batchnorm, "Clip": clip,
        "Relu": lambda x, *, a: F.relu(x), "Add": lambda x, y, *, a: x + y, "Sub": lambda x, y, *, a: x - y,
        "Mul": lambda x, y, *, a: x * y, "Div": lambda x, y, *, a: x / y, "MatMul": lambda x, y, *, a: x @ y,
        "Erf": lambda x, *, a: torch.erf(x), "Tanh": lambda x, *, a: torch.tanh(x),
        "Sqrt": lambda x, *, a: torch.sqrt(x), "Pow": lambda x, y, *, a: torch.pow(x, y),
        "Exp": lambda x, *, a: torch.exp(x), "Identity": lambda x, *, a: x,
        "Softmax": lambda x, *, a: torch.softmax(x, a.get("axis", -1)),
        "GlobalAveragePool": lambda x, *, a: x.mean(dim=(2, 3), keepdim=True),
        "Flatten": lambda x, *, a: x.flatten(a.get("axis", 1)),
        "Transpose": lambda x, *, a: x.permute(*a["perm"]),
        "Concat": lambda *xs, a: torch.cat(xs, a["axis"]),
        "Gather": gather,
        "Expand": lambda x, s, *, a: x.expand(*torch.broadcast_shapes(tuple(x.shape), tuple(_ints(s.cpu())))),
    }
    onnx_walk.check_supported(graph, ops, "pytorch", model_path)

    class OnnxModule(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.names: dict[str, str] = {}
            self.host: dict[str, torch.Tensor] = {}  # integer constants, kept on the CPU as well
            for k, (name, arr) in enumerate(graph.consts.items()):
                t = torch.from_numpy(np.array(arr))
                self.register_buffer(f"c{k}", fcast(t))
                self.names[name] = f"c{k}"
                if not t.is_floating_point():
                    self.host[name] = t
            self.outputs = graph.outputs

        def forward(self, feeds: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            env = dict(feeds)
            for name, buf in self.names.items():
                env[name] = getattr(self, buf)
            return onnx_walk.execute(graph, env, dict(self.host), ops,
                                     shape_of=lambda x: torch.tensor(list(x.shape), dtype=torch.int64),
                                     to_device=lambda v, like: v.to(like.device))

    in_types = {k: torch_types[v] for k, v in graph.inputs.items()}
    return OnnxModule().eval(), in_types


@dataclass
class _Hwc:
    """A prepared image-like sample stored height-width-channel for a channels-last model (``TorchBackend.sample``);
    only ``TorchBackend.stack`` reads it."""

    t: object


@dataclass
class _Staged:
    """A stacked batch on the host, ready for ``_tensors``: the tensor (a pinned buffer, or pageable), the event its
    transfer records (None: not pinned), and whether it is NHWC (then given to the model as an NCHW view)."""

    tensor: object
    copied: object
    hwc: bool


@dataclass
class _State:
    """One thread's (or the shared) CUDA stream, captured graphs and pinned staging buffers."""

    stream: object = None
    graphs: dict = field(default_factory=dict)
    pinned: dict = field(default_factory=dict)


@dataclass
class TorchBackend:
    model_path: str
    threads: int = 0
    device: str = "cpu"
    precision: str = "fp32"
    cuda_graphs: bool = True
    compiler: str = "none"  # inductor: torch.compile (on cuda with its CUDA graphs, mode reduce-overhead)
    channels_last: bool | None = None  # None: on cuda
    name: str = "pytorch"
    input_dtypes: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            import torch
        except ImportError as exc:
            raise RuntimeError("backend: pytorch needs torch on the host (benchfleet setup installs it)") from exc
        from benchfleet.backends.base import default_threads

        if self.precision not in PRECISIONS:
            raise ValueError(f"precision: {self.precision!r} unknown; choose one of {', '.join(PRECISIONS)}")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device: cuda asked, but torch {torch.__version__} sees no CUDA device; install a "
                               "CUDA build of torch on a GPU host or use device cpu")
        if self.device == "cpu" and self.precision == "fp16":
            raise ValueError("precision: fp16 is for cuda; on the cpu use fp32 or bf16")
        torch.set_num_threads(self.threads or default_threads())
        if self.device == "cpu":
            self.malloc_tuned = _tune_malloc()
        self.torch = torch
        self.version = torch.__version__
        self.dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[self.precision]
        if self.device == "cuda" and self.precision == "fp32":
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
        module, in_types = _module(self.model_path, self.dtype)
        self.module = module.to(self.device)
        if self.channels_last is None:
            self.channels_last = self.device == "cuda"
        if self.channels_last:
            self.module = self.module.to(memory_format=torch.channels_last)
        self._local = threading.local()
        self._shared = self._new_state()
        self._capture_lock = threading.Lock()  # one graph capture at a time (a capture synchronises the device)
        # Offline/Server workers the harness may run at once (each thread has its own stream, graphs and buffers)
        self.concurrency = 2 if self.device == "cuda" and self.compiler == "none" else 1
        self.input_dtypes = {k: np.dtype(str(v).replace("torch.", "")) if v != torch.bfloat16 else np.dtype("float32")
                             for k, v in in_types.items()}
        self.use_graphs = self.cuda_graphs and self.device == "cuda"
        self.forward = self.module
        self._compiled_sizes: set[int] = set()
        if self.compiler == "inductor":
            # One graph per batch size (dynamic shapes cost minutes to compile here and ran slower), compiled on
            # the first call of each: a LoadGen process warms up at the sizes its test uses before the test starts
            # (loadgen_run.warm_up), and a smaller batch met later (Offline's last one) is padded to a compiled
            # size rather than compiled inside the measurement. Freezing folds the weights into the graph as
            # constants (and lets inductor prepack them for the CPU's kernels). On cuda inductor's CUDA graphs
            # replace ours.
            import torch._inductor.config as inductor_config

            inductor_config.freezing = True
            torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 16)
            self.forward = torch.compile(self.module, backend="inductor", dynamic=False,
                                         mode="reduce-overhead" if self.device == "cuda" else None)
            self.use_graphs = False
        elif self.compiler != "none":
            raise ValueError(f"compiler: {self.compiler!r} unknown; choose none or inductor")

    def _new_state(self) -> _State:
        return _State(stream=self.torch.cuda.Stream() if self.device == "cuda" else None)

    def own_state(self) -> None:
        """Give the calling thread its own stream, graphs and buffers (a concurrent worker calls this first);
        other threads share one set, so that graphs warmed in one are replayed in another (SingleStream)."""
        self._local.state = self._new_state()

    def _state(self) -> _State:
        return getattr(self._local, "state", None) or self._shared

    def sample(self, name: str, x: np.ndarray) -> object:
        """One loaded sample as this backend transfers it (``base.prepared``). On CUDA: a host tensor in the
        transfer dtype (a floating input already in the model's precision: the same round-to-nearest cast the GPU
        would make, done once at load instead of on every batch, and half the bytes to copy and transfer), and a
        3-D sample of a channels-last model stored height-width-channel, so that a stacked batch is channels-last
        as it lands. The CPU gets the same (without pinned memory)."""
        torch = self.torch
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=self.input_dtypes.get(name, x.dtype)))
        if t.is_floating_point():
            t = t.to(self.dtype)
        if self.channels_last and t.dim() == 3:
            t = _Hwc(t.permute(1, 2, 0).contiguous())
        return t

    def stack(self, name: str, samples: list) -> object:
        """A batch of prepared samples (``base.stacked``): on CUDA stacked straight into this thread's pinned
        buffer for the batch's shape (one host copy, made with the GIL released), transferred by ``run``."""
        torch = self.torch
        if not isinstance(samples[0], torch.Tensor | _Hwc):
            return samples[0][None] if len(samples) == 1 else np.stack(samples)
        hwc = isinstance(samples[0], _Hwc)
        parts = [s.t for s in samples] if hwc else samples
        shape, dtype = (len(parts), *parts[0].shape), parts[0].dtype
        buffer = self._pinned((name, shape, dtype)) if self.device == "cuda" else None
        if buffer is None:  # many shapes (generation): the rest are stacked in pageable memory
            return _Staged(torch.stack(parts), None, hwc)
        pinned, copied = buffer
        copied.synchronize()  # the buffer's last transfer has read it (no-op when never recorded)
        torch.stack(parts, out=pinned)
        return _Staged(pinned, copied, hwc)

    def _pinned(self, key: tuple) -> tuple | None:
        """This thread's pinned buffer and its transfer event for ``key`` (input, shape, dtype); None once
        MAX_GRAPHS buffers exist (page-locked memory is bounded)."""
        torch = self.torch
        buffers = self._state().pinned
        if key not in buffers and len(buffers) < MAX_GRAPHS:
            buffers[key] = (torch.empty(key[1], dtype=key[2], pin_memory=True), torch.cuda.Event())
        return buffers.get(key)

    def _tensors(self, feeds: dict) -> dict:
        torch = self.torch
        out = {}
        for k, v in feeds.items():
            if isinstance(v, _Staged):  # stacked by stack(): pinned (or not), in the model's precision already
                d = v.tensor.to(self.device, non_blocking=v.copied is not None)
                if v.copied is not None:
                    v.copied.record()
                out[k] = d.permute(0, 3, 1, 2) if v.hwc else d  # NCHW view, channels-last in memory
                continue
            t = torch.from_numpy(np.ascontiguousarray(v, dtype=self.input_dtypes.get(k, v.dtype)))
            if self.device != "cuda":
                out[k] = t.to(self.dtype) if t.is_floating_point() else t
                continue
            # through a pinned buffer (pageable memory copies at a fraction of the bus's speed), cast on the GPU
            buffer = self._pinned((k, tuple(t.shape), t.dtype))
            if buffer is not None:
                pinned, copied = buffer
                copied.synchronize()  # the buffer's last copy to the GPU has been read (no-op when never recorded)
                pinned.copy_(t)
                d = pinned.to("cuda", non_blocking=True)
                copied.record()
            else:  # many shapes (generation): the rest go from pageable memory
                d = t.to("cuda")
            d = d.to(self.dtype) if d.is_floating_point() else d
            if self.channels_last and d.dim() == 4:
                d = d.contiguous(memory_format=torch.channels_last)
            out[k] = d
        return out

    def _graph_for(self, feeds: dict) -> tuple:
        torch = self.torch
        graphs = self._state().graphs
        key = tuple((k, tuple(v.shape)) for k, v in sorted(feeds.items()))
        if key not in graphs:
            if len(graphs) >= MAX_GRAPHS:  # many shapes (generation): run the rest eagerly
                return None
            static = {k: v.clone() for k, v in feeds.items()}
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream), torch.inference_mode():
                for _ in range(2):  # warm-up outside the capture (allocator, kernels chosen)
                    self.module(static)
            torch.cuda.current_stream().wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            # thread_local: another worker thread may run its own graph meanwhile
            with self._capture_lock, torch.cuda.graph(graph, capture_error_mode="thread_local"), \
                    torch.inference_mode():
                out = self.module(static)
            graphs[key] = (graph, static, out)
        return graphs[key]

    def _padded(self, feeds: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], int | None]:
        """A compiled model's feeds with the batch padded (the first sample repeated) to the smallest size already
        compiled above it, and the real batch size; (feeds, None) when no padding applies. Samples are independent
        (every model here is batch-major and batch-independent), so the padding never changes an answer."""
        if self.compiler == "none" or not feeds:
            return feeds, None
        first = next(iter(feeds.values()))
        n = len(first.tensor if isinstance(first, _Staged) else first)
        bigger = [m for m in self._compiled_sizes if m > n]
        if n in self._compiled_sizes or not bigger:
            self._compiled_sizes.add(n)
            return feeds, None
        m = min(bigger)

        def pad(v):
            if isinstance(v, _Staged):
                t = v.tensor
                return _Staged(self.torch.cat([t, t[:1].expand(m - n, *t.shape[1:])]), None, v.hwc)
            return np.concatenate([v, np.repeat(v[:1], m - n, axis=0)])

        return {k: pad(v) for k, v in feeds.items()}, n

    def run(self, feeds: dict[str, np.ndarray], outputs: list[str]) -> list[np.ndarray]:
        if self.device != "cuda":
            return self._run(feeds, outputs)
        with self.torch.cuda.stream(self._state().stream):
            return self._run(feeds, outputs)

    def _run(self, feeds: dict[str, np.ndarray], outputs: list[str]) -> list[np.ndarray]:
        torch = self.torch
        feeds, real = self._padded(feeds)
        tensors = self._tensors(feeds)
        missing = [o for o in outputs if o not in self.module.outputs]
        if missing:
            raise ValueError(f"model: output {missing[0]!r} not in {self.model_path} (has {self.module.outputs})")
        captured = self._graph_for(tensors) if self.use_graphs else None
        if captured is not None:
            graph, static, out = captured
            for k, v in tensors.items():
                static[k].copy_(v)
            graph.replay()
        else:
            with torch.inference_mode():
                out = self.forward(tensors)
        res = []
        for o in outputs:
            t = out[o]
            t = t if real is None else t[:real]
            res.append((t.float() if t.is_floating_point() else t).cpu().numpy())
        return res

