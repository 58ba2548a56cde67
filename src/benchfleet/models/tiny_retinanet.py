"""A RetinaNet-shaped ONNX graph at reduced width, with the interface of the MLPerf reference
``resnext50_32x4d_fpn.onnx``: input ``images`` (1, 3, 800, 800) float32, outputs ``boxes`` (N, 4) float32
(xmin, ymin, xmax, ymax in the 800x800 input's pixels), ``labels`` (N,) int64 and ``scores`` (N,) float32,
sorted by score, after non-maximum suppression.

The shape follows torchvision's ``retinanet_resnext50_32x4d_fpn`` that the reference exported, at a width
that runs in milliseconds: a strided stem, three ResNeXt-style stages (grouped 3x3 convolutions, residuals),
an FPN on C3..C5 with P6/P7 from P5, classification and box heads shared by all levels, the anchors of its
AnchorGenerator (sizes 32..512 x 2^(0, 1/3, 2/3), aspect ratios 0.5, 1, 2; 9 per location), BoxCoder
decoding (weights 1, dw/dh clamped at log(1000/16)), boxes clipped to the image (and boxes under a pixel wide
or high dropped), per level the top 1000 scores, then class-wise NMS (IoU 0.5, score threshold 0.05) keeping
300 detections, sorted by score. Random weights: NOT a detector.
"""

from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import TensorProto, helper

from benchfleet.models.onnx_build import Graph

INPUT = "images"
OUTPUTS = ("boxes", "labels", "scores")
SIZE = 800
ANCHORS_PER_LOCATION = 9
TOPK_PER_LEVEL = 1000
NMS_IOU, SCORE_THRESHOLD, DETECTIONS = 0.5, 0.05, 300
BBOX_CLIP = math.log(1000.0 / 16)
MIN_SIZE = 1.0  # pixels of the 800x800 input
_LEVEL_SIZES = (100, 50, 25, 13, 7)  # P3..P7 of an 800x800 input


def anchors(feature: int, size: int, image: int = SIZE) -> np.ndarray:
    """torchvision AnchorGenerator's anchors for one square level: (feature * feature * 9, 4) x1y1x2y2,
    location-major, then aspect ratio (0.5, 1, 2), then scale (size x 2^(0, 1/3, 2/3))."""
    scales = np.array([size, int(size * 2 ** (1.0 / 3)), int(size * 2 ** (2.0 / 3))], np.float32)
    ratios = np.array([0.5, 1.0, 2.0], np.float32)
    h_ratios = np.sqrt(ratios)
    w_ratios = 1 / h_ratios
    ws = (w_ratios[:, None] * scales[None, :]).reshape(-1)
    hs = (h_ratios[:, None] * scales[None, :]).reshape(-1)
    base = np.round(np.stack([-ws, -hs, ws, hs], axis=1) / 2)
    stride = image // feature
    shift = np.arange(feature, dtype=np.float32) * stride
    sy, sx = np.meshgrid(shift, shift, indexing="ij")
    shifts = np.stack([sx.reshape(-1), sy.reshape(-1), sx.reshape(-1), sy.reshape(-1)], axis=1)
    return (shifts[:, None, :] + base[None, :, :]).reshape(-1, 4).astype(np.float32)


def _conv(g: Graph, x: str, cin: int, cout: int, k: int, stride: int = 1, group: int = 1, relu: bool = True,
          w: str | None = None, b: str | None = None) -> str:
    w = w or g.weight(cout, cin // group, k, k, scale=math.sqrt(2.0 / (cin // group * k * k)))
    b = b or g.const(np.zeros(cout, np.float32), "b")
    y = g.op("Conv", [x, w, b], kernel_shape=[k, k], strides=[stride, stride], pads=[(k - 1) // 2] * 4, group=group)
    return g.op("Relu", [y]) if relu else y


def _block(g: Graph, x: str, cin: int, cout: int, stride: int, groups: int) -> str:
    """A ResNeXt bottleneck: 1x1, grouped 3x3 (strided), 1x1, plus a strided 1x1 projection."""
    mid = cout
    y = _conv(g, x, cin, mid, 1)
    y = _conv(g, y, mid, mid, 3, stride, group=groups)
    y = _conv(g, y, mid, cout, 1, relu=False)
    short = _conv(g, x, cin, cout, 1, stride, relu=False)
    return g.op("Relu", [g.op("Add", [y, short])])


def _i64(g: Graph, *v: int) -> str:
    return g.const(np.array(v, np.int64), "i")


def _f32(g: Graph, v: float) -> str:
    return g.const(np.array(v, np.float32), "f")


def build(width: int = 8, classes: int = 32, seed: int = 0, cls_bias: float = -4.59511985013459,
          cls_gain: float = 1.0, box_gain: float = 1.0, probe: bool = False) -> onnx.ModelProto:
    """``width``: the FPN and head channels (the reference has 256); ``classes``: the classification head's
    classes (the reference has 264); ``cls_bias``: the classification logits' bias (torchvision's prior 0.01
    by default); ``cls_gain``, ``box_gain``: factors on the last classification and box convolutions' weights
    (std 0.01 at width 8 as torchvision initializes them, scaled as 1 / sqrt(width)), to set the spread of
    logits and deltas; ``probe``: also
    output every level's logits and deltas (``cls_logits_<level>``, ``bbox_deltas_<level>``) to measure it."""
    rng = np.random.default_rng(seed)
    g = Graph(rng)
    c = width
    # the model normalizes its input itself, as torchvision's GeneralizedRCNNTransform (ImageNet mean and std),
    # here folded into the stem (a 4x4 stride-4 convolution without padding, so the folding is exact)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    w0 = rng.standard_normal((c, 3, 4, 4)) * math.sqrt(2.0 / 48)
    b0 = -(w0 * (mean / std)[None, :, None, None]).sum(axis=(1, 2, 3))
    w0 = w0 / std[None, :, None, None]
    x = g.op("Relu", [g.op("Conv", [INPUT, g.const(w0.astype(np.float32)), g.const(b0.astype(np.float32))],
                           kernel_shape=[4, 4], strides=[4, 4])])  # 200x200
    c3 = _block(g, x, c, c, 2, groups=max(1, c // 4))  # 100x100, stride 8
    c4 = _block(g, c3, c, 2 * c, 2, groups=max(1, c // 4))  # 50x50
    c5 = _block(g, c4, 2 * c, 4 * c, 2, groups=max(1, c // 4))  # 25x25
    f = width
    lat = [_conv(g, t, cin, f, 1, relu=False) for t, cin in ((c3, c), (c4, 2 * c), (c5, 4 * c))]
    up = {}
    top = lat[2]
    up[2] = top
    for i in (1, 0):  # top-down: nearest upsampling to the lateral's size, added
        sizes = _i64(g, 1, f, _LEVEL_SIZES[i], _LEVEL_SIZES[i])
        r = g.op("Resize", [top, "", "", sizes], mode="nearest", coordinate_transformation_mode="asymmetric",
                 nearest_mode="floor")
        top = g.op("Add", [lat[i], r])
        up[i] = top
    p3, p4, p5 = (_conv(g, up[i], f, f, 3, relu=False) for i in range(3))
    p6 = _conv(g, p5, f, f, 3, 2, relu=False)
    p7 = _conv(g, g.op("Relu", [p6]), f, f, 3, 2, relu=False)
    levels = [p3, p4, p5, p6, p7]

    a, k = ANCHORS_PER_LOCATION, classes
    # heads shared by every level: two 3x3 convs (the reference has four), then the logits / deltas
    he = math.sqrt(2.0 / (f * 9))
    cls_w = [(g.weight(f, f, 3, 3, scale=he), g.const(np.zeros(f, np.float32), "b")) for _ in range(2)]
    out_std = 0.01 * math.sqrt(8 / f)  # torchvision's 0.01 at width 8, the same spread of outputs at any width
    cls_out = (g.weight(a * k, f, 3, 3, scale=out_std * cls_gain), g.const(np.full(a * k, cls_bias, np.float32), "b"))
    box_w = [(g.weight(f, f, 3, 3, scale=he), g.const(np.zeros(f, np.float32), "b")) for _ in range(2)]
    box_out = (g.weight(a * 4, f, 3, 3, scale=out_std * box_gain), g.const(np.zeros(a * 4, np.float32), "b"))
    probes = []
    all_boxes, all_scores, all_labels = [], [], []
    for level, (p, n) in enumerate(zip(levels, _LEVEL_SIZES, strict=True)):
        t = p
        for w_, b_ in cls_w:
            t = _conv(g, t, f, f, 3, w=w_, b=b_)
        logits = _conv(g, t, f, a * k, 3, relu=False, w=cls_out[0], b=cls_out[1])
        t = p
        for w_, b_ in box_w:
            t = _conv(g, t, f, f, 3, w=w_, b=b_)
        deltas = _conv(g, t, f, a * 4, 3, relu=False, w=box_out[0], b=box_out[1])
        # (1, A*K, H, W) -> (H*W*A, K) and (1, A*4, H, W) -> (H*W*A, 4), as torchvision's heads flatten them
        logits = g.op("Reshape", [g.op("Transpose", [g.op("Reshape", [logits, _i64(g, 1, a, k, n, n)])],
                                       perm=[0, 3, 4, 1, 2]), _i64(g, -1, k)], f"cls_logits_{level}")
        deltas = g.op("Reshape", [g.op("Transpose", [g.op("Reshape", [deltas, _i64(g, 1, a, 4, n, n)])],
                                       perm=[0, 3, 4, 1, 2]), _i64(g, -1, 4)], f"bbox_deltas_{level}")
        probes += [helper.make_tensor_value_info(logits, TensorProto.FLOAT, ["L", k]),
                   helper.make_tensor_value_info(deltas, TensorProto.FLOAT, ["L", 4])]
        # the top 1000 (anchor, class) scores of the level, as torchvision's topk over all of them; taken among
        # the 1000 anchors of highest best score, which hold them all (ties aside), to keep 800x800 cheap.
        # Scores under the threshold go at NMS, whose score threshold is torchvision's filter before the topk.
        n_anchors = n * n * a
        best = g.op("ReduceMax", [logits], axes=[1], keepdims=0)
        ka = min(TOPK_PER_LEVEL, n_anchors)
        best_top, cand = g.name("best_top"), g.name("cand")
        g.nodes.append(helper.make_node("TopK", [best, _i64(g, ka)], [best_top, cand], axis=0))
        cand_scores = g.op("Reshape", [g.op("Sigmoid", [g.op("Gather", [logits, cand], axis=0)]), _i64(g, -1)])
        top_scores, top_pos = g.name("topk_scores"), g.name("topk_pos")
        g.nodes.append(helper.make_node("TopK", [cand_scores, _i64(g, min(TOPK_PER_LEVEL, ka * k))],
                                        [top_scores, top_pos], axis=0))
        anchor_idx = g.op("Gather", [cand, g.op("Div", [top_pos, _i64(g, k)])], axis=0)
        labels = g.op("Mod", [top_pos, _i64(g, k)])
        anc = anchors(n, 32 * 2 ** level)
        wh = anc[:, 2:] - anc[:, :2]
        ctr = anc[:, :2] + np.float32(0.5) * wh
        wh_s = g.op("Gather", [g.const(wh), anchor_idx], axis=0)
        ctr_s = g.op("Gather", [g.const(ctr), anchor_idx], axis=0)
        d = g.op("Gather", [deltas, anchor_idx], axis=0)
        dxy = g.op("Slice", [d, _i64(g, 0), _i64(g, 2), _i64(g, 1)])
        dwh = g.op("Slice", [d, _i64(g, 2), _i64(g, 4), _i64(g, 1)])
        dwh = g.op("Min", [dwh, _f32(g, BBOX_CLIP)])
        pctr = g.op("Add", [g.op("Mul", [dxy, wh_s]), ctr_s])
        pwh = g.op("Mul", [g.op("Exp", [dwh]), wh_s])
        half = g.op("Mul", [_f32(g, 0.5), pwh])
        box = g.op("Concat", [g.op("Sub", [pctr, half]), g.op("Add", [pctr, half])], axis=1)
        box = g.op("Clip", [box, _f32(g, 0.0), _f32(g, float(SIZE))])
        # a box under MIN_SIZE pixels wide or high (one clipped flat on the image's edge) is dropped: its score
        # becomes 0, under NMS's threshold (COCOeval could never match a flat box, not even to itself)
        side = g.op("ReduceMin", [g.op("Sub", [g.op("Slice", [box, _i64(g, 2), _i64(g, 4), _i64(g, 1)]),
                                               g.op("Slice", [box, _i64(g, 0), _i64(g, 2), _i64(g, 1)])])],
                    axes=[1], keepdims=0)
        big = g.op("Cast", [g.op("GreaterOrEqual", [side, _f32(g, MIN_SIZE)])], to=TensorProto.FLOAT)
        all_boxes.append(box)
        all_scores.append(g.op("Mul", [top_scores, big]))
        all_labels.append(labels)
    boxes = g.op("Concat", all_boxes, axis=0)
    scores = g.op("Concat", all_scores, axis=0)
    labels = g.op("Concat", all_labels, axis=0)
    # class-wise NMS as torchvision's batched_nms: each class's boxes moved apart by label * (SIZE + 1)
    offset = g.op("Mul", [g.op("Cast", [labels], to=TensorProto.FLOAT), _f32(g, float(SIZE + 1))])
    shifted = g.op("Add", [boxes, g.op("Unsqueeze", [offset, _i64(g, 1)])])
    sel = g.op("NonMaxSuppression", [g.op("Unsqueeze", [shifted, _i64(g, 0)]),
                                     g.op("Unsqueeze", [scores, _i64(g, 0, 1)]), _i64(g, DETECTIONS),
                                     _f32(g, NMS_IOU), _f32(g, SCORE_THRESHOLD)])
    keep = g.op("Reshape", [g.op("Slice", [sel, _i64(g, 2), _i64(g, 3), _i64(g, 1)]), _i64(g, -1)])
    kept_scores = g.op("Gather", [scores, keep], axis=0)
    order_scores = g.name("sorted_scores")
    order = g.name("order")
    g.nodes.append(helper.make_node("TopK", [kept_scores, g.op("Shape", [keep])], [order_scores, order], axis=0))
    idx = g.op("Gather", [keep, order], axis=0)
    g.op("Gather", [boxes, idx], "boxes", axis=0)
    g.op("Gather", [labels, idx], "labels", axis=0)
    g.op("Identity", [order_scores], "scores")
    inputs = [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [1, 3, SIZE, SIZE])]
    outputs = [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["N", 4]),
               helper.make_tensor_value_info("labels", TensorProto.INT64, ["N"]),
               helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N"])] + (probes if probe else [])
    return g.model(inputs, outputs, "tiny_retinanet",
                   f"RetinaNet-shaped detector, width {width}, {classes} classes, random weights (seed {seed}); "
                   "NOT the MLPerf RetinaNet")
