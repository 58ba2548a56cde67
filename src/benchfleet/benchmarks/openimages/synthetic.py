"""A generated RetinaNet-shaped detector paired with a generated dataset in the MLPerf OpenImages layout.

``<dir>/validation/data/<16 hex digits>.jpg`` (JPEGs of various sizes and aspect ratios, some grey) and
``<dir>/annotations/openimages-mlperf.json`` (COCO format as the reference's ``tools/openimages.py`` writes it:
image ids from 1, categories from 0). The annotations are the generated model's own detections, each carried
through the response encoding and the scorer's box conversion exactly as an accuracy run carries them, so every
detection COCOeval looks at has a ground-truth box identical to it (IoU 1) and nothing else: AP is 1 for every
category with a box, mAP 100% (to 1e-14: COCOeval's precision is tp / (tp + fp + spacing(1)), a hair under 1
where a category has few hits; accuracy.txt reads mAP=100.000%). COCOeval looks at the 100 highest-scoring
detections of an image and category (``maxDets``), and only those become annotations (a 101st detection is then
neither a hit nor a miss). Boxes under a pixel are dropped by the model (a flat box never matches, not even
itself). The generator scores its own labels and refuses a pair that does not reach 100%. It proves that
samples, responses and scoring stay aligned, not that anything is detected.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx

from benchfleet.benchmarks.generated import PROVENANCE, SyntheticPair, cached_pair, picture
from benchfleet.benchmarks.openimages import postprocess, scorer
from benchfleet.benchmarks.openimages.dataset import ANNOTATIONS, IMAGES
from benchfleet.benchmarks.openimages.preprocess import preprocess, preprocess_version, read_bgr
from benchfleet.cachelock import code_version
from benchfleet.models import tiny_retinanet

CLASSES = 16  # the generated head's classes (the reference's has 264; fewer keep 800x800 cheap)
MAX_DETS = 100  # COCOeval's maxDets for stats[0]
# logits of spread about 1 around -6.5 (a few hundred candidates above the 0.05 threshold, varying from image to
# image), box deltas of spread about 0.1 (boxes near their anchors, inside the image)
CLS_BIAS, CLS_GAIN, BOX_GAIN = -6.5, 1.5, 0.25


def generator_version() -> str:
    return code_version("benchfleet.benchmarks.openimages.synthetic", "benchfleet.benchmarks.generated",
                        "benchfleet.models.tiny_retinanet", "benchfleet.benchmarks.openimages.postprocess",
                        "benchfleet.benchmarks.openimages.scorer", "benchfleet.benchmarks.openimages.dataset",
                        extra=preprocess_version())


def make_pair(root: Path, count: int = 64, width: int = 8, seed: int = 2023, threads: int = 2, log=print,
              version: str | None = None) -> SyntheticPair:
    return cached_pair(Path(root) / f"retinanet-w{width}-s{seed}-n{count}", "retinanet_synthetic.onnx",
                       "openimages-synthetic", lambda m, d: _make(m, d, count, width, seed, threads, log),
                       version or generator_version(), log)


def write_images(data_dir: Path, count: int, rng: np.random.Generator) -> list[dict]:
    """``count`` JPEGs under ``data_dir/validation/data``; their ``images`` entries (ids from 1)."""

    folder = data_dir / IMAGES
    folder.mkdir(parents=True, exist_ok=True)
    images, names = [], set()
    for i in range(count):
        img = picture(rng, (48, 320), margin=8, smallest=6)
        w, h = img.size
        if i % 5 == 3:
            img = img.convert("L")  # a grey JPEG: imread gives it 3 channels
        name = "".join(rng.choice(list("0123456789abcdef"), 16))
        while name in names:
            name = "".join(rng.choice(list("0123456789abcdef"), 16))
        names.add(name)
        img.save(folder / f"{name}.jpg", "JPEG", quality=90)
        images.append({"id": i + 1, "file_name": f"{name}.jpg", "height": h, "width": w, "license": None,
                       "coco_url": None})
    return images


def _session(model: onnx.ModelProto, threads: int):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def label_with(model: onnx.ModelProto, data_dir: Path, images: list[dict],
               threads: int) -> tuple[list[dict], list[dict]]:
    """The model's detections as COCO annotations (through the response and the scorer's conversion), and the
    accuracy-log entries of its responses."""
    sess = _session(model, threads)
    entries = []
    for i, im in enumerate(images):
        x = preprocess(read_bgr(data_dir / IMAGES / im["file_name"]))[None]
        boxes, labels, scores = sess.run(list(tiny_retinanet.OUTPUTS), {tiny_retinanet.INPUT: x})
        entries.append({"qsl_idx": i, "data": postprocess.response(i, boxes, labels, scores).tobytes().hex()})
    dets, _ = scorer.detections(entries, images)
    by_key: dict[tuple[int, int], list[dict]] = {}
    for d in dets:
        by_key.setdefault((d["image_id"], d["category_id"]), []).append(d)
    anns = []
    for group in by_key.values():
        order = np.argsort([-d["score"] for d in group], kind="mergesort")  # as COCOeval orders them
        for k in order[:MAX_DETS]:
            d = group[int(k)]
            x, y, w, h = d["bbox"]
            anns.append({"id": len(anns) + 1, "image_id": d["image_id"], "category_id": d["category_id"],
                         "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})
    return anns, entries


def _make(model_path: Path, data_dir: Path, count: int, width: int, seed: int, threads: int,
          log) -> SyntheticPair:
    rng = np.random.default_rng(seed)
    log(f"generating a synthetic RetinaNet (width {width}) and {count} synthetic images in {data_dir.parent}")
    images = write_images(data_dir, count, rng)
    model = tiny_retinanet.build(width=width, classes=CLASSES, seed=seed, cls_bias=CLS_BIAS, cls_gain=CLS_GAIN,
                                 box_gain=BOX_GAIN)
    anns, entries = label_with(model, data_dir, images, threads)
    data = {"info": {"dataset": "openimages_mlperf (synthetic)", "version": "v6"}, "licenses": [],
            "categories": [{"id": i, "name": f"synthetic_class_{i}", "supercategory": None} for i in range(CLASSES)],
            "images": images, "annotations": anns}
    got = scorer.score_log(entries, _write(data_dir / ANNOTATIONS, data))["mAP"]
    if abs(got - 100.0) > 1e-9:  # 100 up to COCOeval's tp / (tp + fp + spacing(1))
        raise RuntimeError(f"the generated labels score mAP {got}%, not 100%; try another seed")
    model_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, model_path)
    provenance = {
        "synthetic": True, "kind": "generated",
        "model": f"RetinaNet-shaped detector, width {width}, {CLASSES} classes, random weights (seed {seed}); "
                 "NOT the MLPerf RetinaNet ResNeXt50-32x4d FPN",
        "dataset": f"{count} generated JPEGs in the MLPerf OpenImages layout; annotations are the generated model's "
                   "own detections; NOT OpenImages",
        "annotations": len(anns), "width": width, "seed": seed, "count": count,
        "note": "synthetic: proves the pipeline, not a result for publication",
    }
    (data_dir / PROVENANCE).write_text(json.dumps(provenance, indent=2))
    return SyntheticPair(model_path, data_dir, provenance)


def _write(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path
