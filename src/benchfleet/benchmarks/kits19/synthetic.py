"""A generated KiTS19 set for the generated 3D-UNet, in the layout of the reference's preprocessed folder.

``<dir>/nifti/<case>/imaging.nii.gz`` (a preprocessed-looking (D, H, W) float32 volume: blocks of tissue-like
values on noise, padded with -2.2 as the reference pads) and ``segmentation.nii.gz`` (uint8), and
``<dir>/inference_cases.json`` naming the cases. Cases take three shapes in turn, 128^3 (one window),
128 x 128 x 192 and 192 x 128 x 128 (two overlapping windows each), so samples differ in size. Each case's
ground truth is the generated model's own sliding-window answer, so an accuracy run scores a DICE of 1: it proves
that samples, windows, responses and scoring stay aligned, not that the model segments.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx

from benchfleet.benchmarks.generated import PROVENANCE, SyntheticPair, cached_pair
from benchfleet.benchmarks.kits19 import window
from benchfleet.benchmarks.kits19.dataset import CASES_FILE, IMAGE, INFERENCE_CASES, LABEL, NIFTI
from benchfleet.benchmarks.kits19.preprocess import PADDING_VAL, TARGET_SPACING
from benchfleet.cachelock import code_version
from benchfleet.models import tiny_unet3d

SHAPES = ((128, 128, 128), (128, 128, 192), (192, 128, 128))
LEVELS = 3


def generator_version() -> str:
    return code_version("benchfleet.benchmarks.kits19.synthetic", "benchfleet.benchmarks.generated",
                        "benchfleet.models.tiny_unet3d", "benchfleet.benchmarks.kits19.dataset",
                        "benchfleet.benchmarks.kits19.window", "benchfleet.benchmarks.kits19.preprocess")


def make_pair(root: Path, count: int = 3, seed: int = 2019, threads: int = 2, log=print, width: int = 1,
              version: str | None = None) -> SyntheticPair:
    """``count`` cases (at most the 43 of the inference set); ``width`` the generated model's first filters
    (the reference's 32)."""
    count = max(1, min(count, len(INFERENCE_CASES)))
    return cached_pair(Path(root) / f"unet3d-w{width}-s{seed}-n{count}", "unet3d_kits19_synthetic.onnx",
                       "kits19-synthetic", lambda m, d: _make(m, d, count, seed, threads, log, width),
                       version or generator_version(), log)


def _volume(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Blocks of 16^3 voxels of random tissue-like levels (normalised units) on noise, a padded rim of -2.2."""
    coarse = rng.uniform(-1.3, 2.6, [s // 16 for s in shape]).astype(np.float32)
    vol = np.repeat(np.repeat(np.repeat(coarse, 16, 0), 16, 1), 16, 2)
    vol += rng.normal(0, 0.3, shape).astype(np.float32)
    rim = int(rng.integers(4, 12))
    vol[:rim], vol[:, :rim], vol[..., -rim:] = PADDING_VAL, PADDING_VAL, PADDING_VAL
    return vol


def _make(model_path: Path, data_dir: Path, count: int, seed: int, threads: int, log, width: int) -> SyntheticPair:
    import nibabel
    import onnxruntime as ort

    rng = np.random.default_rng(seed)
    log(f"generating a synthetic 3D-UNet (width {width}) and {count} synthetic KiTS19 cases in {data_dir.parent}")
    model = tiny_unet3d.build(width, LEVELS, seed)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    cases = list(INFERENCE_CASES[:count])
    affine = np.diag([*TARGET_SPACING, 1.0])
    classes = np.zeros(3, np.int64)
    for n, case in enumerate(cases):
        image = _volume(rng, SHAPES[n % len(SHAPES)])
        label = window.segment(image, lambda x: sess.run([tiny_unet3d.OUTPUT], {tiny_unet3d.INPUT: x})[0])
        classes += np.bincount(label.ravel(), minlength=3)[:3]
        folder = data_dir / NIFTI / case
        folder.mkdir(parents=True, exist_ok=True)
        nibabel.save(nibabel.Nifti1Image(image, affine), folder / IMAGE)
        nibabel.save(nibabel.Nifti1Image(label, affine), folder / LABEL)
    (data_dir / CASES_FILE).write_text(json.dumps(cases, indent=1))
    model_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, model_path)
    provenance = {
        "synthetic": True, "kind": "generated",
        "model": f"3D-UNet architecture, {LEVELS} levels, width {width}, random weights (seed {seed}); "
                 "NOT the MLPerf 3D-UNet",
        "dataset": f"{count} generated volumes in the layout of the reference's preprocessed KiTS19 folder; "
                   "segmentations are the generated model's own answers; NOT KiTS19",
        "seed": seed, "count": count, "voxels_per_class": [int(c) for c in classes],
        "note": "synthetic: proves the pipeline, not a result for publication",
    }
    (data_dir / PROVENANCE).write_text(json.dumps(provenance, indent=2))
    return SyntheticPair(model_path, data_dir, provenance)
