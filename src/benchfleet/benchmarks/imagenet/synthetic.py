"""A generated ResNet50-architecture model paired with a generated dataset.

The labels of the dataset are the generated model's own fp32 top-1 answers, so an accuracy
run of the pair must score (nearly) 100%: it proves that samples and responses stay aligned
through the harness, not that anything was learned. Everything made here is labelled
synthetic in its provenance file, in the results and in the submission tree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from benchfleet.benchmarks.generated import PROVENANCE, SyntheticPair, cached_pair
from benchfleet.benchmarks.imagenet import images
from benchfleet.benchmarks.imagenet.dataset import VAL_MAP, ImageNetVal
from benchfleet.benchmarks.imagenet.preprocess import preprocess_version
from benchfleet.cachelock import code_version

if TYPE_CHECKING:
    import onnx

MIN_DISTINCT_LABELS = 8
LABEL_OFFSET = 1  # class 0 is background, as in the official model


def _session(model: onnx.ModelProto, threads: int):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def _batches(ds: ImageNetVal, batch: int):
    for start in range(0, len(ds), batch):
        idx = range(start, min(start + batch, len(ds)))
        yield np.stack([ds.load(i) for i in idx])


def generator_version() -> str:
    """The version of the code that makes the ResNet50 pair: generator, model builder and the preprocessing
    its labels were computed through (the labels are the model's answers on preprocessed images)."""
    return code_version("benchfleet.benchmarks.imagenet.images", "benchfleet.benchmarks.generated",
                        "benchfleet.benchmarks.imagenet.synthetic", "benchfleet.models.resnet50_onnx",
                        extra=preprocess_version("resnet"))


def make_pair(root: Path, count: int = 1024, width: int = 64, seed: int = 2023, threads: int = 2,
              log=print, version: str | None = None) -> SyntheticPair:
    """Create (or reuse) model + dataset under ``root``; idempotent for the same arguments and code.
    ``version``: the generator version to key the pair by (default: this code's, ``generator_version()``)."""
    base = Path(root) / f"resnet50-w{width}-s{seed}-n{count}"
    return cached_pair(base, "resnet50_v1_synthetic.onnx", "imagenet-synthetic",
                       lambda model_path, data_dir: _make_pair(base, model_path, data_dir, count, width, seed,
                                                               threads, log),
                       version or generator_version(), log)


def _make_pair(base: Path, model_path: Path, data_dir: Path, count: int, width: int, seed: int, threads: int,
               log) -> SyntheticPair:
    # onnx (about 0.6 s to import) only where the pair is made: the check reuses a cached pair without it
    import onnx

    from benchfleet.models import resnet50_onnx as r50

    meta_path = data_dir / PROVENANCE
    log(f"generating a synthetic ResNet50 v1.5 model (width {width}) and {count} synthetic images in {base}")
    names = images.write_images(data_dir, count, seed)
    # Labels are not known yet; open the folder with placeholders to reuse the loader.
    (data_dir / VAL_MAP).write_text("".join(f"{n} 0\n" for n in names))
    ds = ImageNetVal.open(data_dir)
    # Centre the logits on this data so that top-1 answers vary from image to image.
    probe = r50.with_features_output(r50.build_resnet50(seed=seed, width=width))
    sess = _session(probe, threads)
    calib = np.concatenate([sess.run([r50.FEATURES_NAME], {r50.INPUT_NAME: b})[0]
                            for b in _batches(ImageNetVal(ds.root, ds.files[:128], ds.labels[:128]), 32)])
    fc_w = r50.fc_weights(probe)
    bias = -(calib.mean(axis=0) @ fc_w)
    model = r50.build_resnet50(seed=seed, width=width, fc_bias=bias)
    sess = _session(model, threads)
    top1 = np.concatenate([sess.run([r50.ARGMAX_NAME], {r50.INPUT_NAME: b})[0] for b in _batches(ds, 32)])
    labels = (top1 - LABEL_OFFSET).astype(np.int64)
    distinct = len(set(labels.tolist()))
    if distinct < min(MIN_DISTINCT_LABELS, count):
        raise RuntimeError(f"generated model answers only {distinct} distinct classes; try another seed")
    (data_dir / VAL_MAP).write_text("".join(f"{n} {int(label)}\n" for n, label in zip(names, labels, strict=False)))
    model_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, model_path)
    provenance = {
        "synthetic": True,
        "kind": "generated",
        "model": f"ResNet50 v1.5 architecture, width {width}, random weights (seed {seed}); NOT the MLPerf model",
        "dataset": f"{count} generated JPEGs in the ImageNet 2012 val layout; labels are the generated "
                   "model's own fp32 top-1 answers; NOT ImageNet",
        "distinct_labels": distinct,
        "width": width,
        "seed": seed,
        "count": count,
        "note": "synthetic: proves the pipeline, not a result for publication",
    }
    meta_path.write_text(json.dumps(provenance, indent=2))
    return SyntheticPair(model_path, data_dir, provenance)
