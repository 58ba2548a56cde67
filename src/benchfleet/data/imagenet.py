"""ImageNet 2012 validation set in the MLPerf reference layout, and its preprocessing.

Layout: a folder of JPEGs plus ``val_map.txt`` with lines ``<file name> <label>``.
Preprocessing follows the reference ``pre_process_vgg``: RGB, resize so that the shorter
side becomes 256 (area interpolation, aspect kept), centre crop 224x224, float32,
subtract the per-channel means, NCHW.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

MEANS = np.array([123.68, 116.78, 103.94], dtype=np.float32)
OUT_SIZE = 224
RESIZE_SCALE = 87.5  # reference: new side = int(100 * 224 / 87.5) = 256
VAL_MAP = "val_map.txt"
PROVENANCE = "PROVENANCE.json"


class DatasetError(ValueError):
    pass


def resized_size(width: int, height: int, out: int = OUT_SIZE) -> tuple[int, int]:
    """(width, height) after the reference aspect-preserving resize."""
    side = int(100.0 * out / RESIZE_SCALE)
    if height > width:
        return side, int(side * height / width)
    return int(side * width / height), side


def preprocess(image: Image.Image, out: int = OUT_SIZE) -> np.ndarray:
    """One image -> (3, out, out) float32, as the reference ResNet50 harness."""
    img = image.convert("RGB")
    img = img.resize(resized_size(img.width, img.height, out), Image.Resampling.BOX)
    arr = np.asarray(img, dtype=np.float32)
    h, w, _ = arr.shape
    left, top = int((w - out) / 2), int((h - out) / 2)
    arr = arr[top : top + out, left : left + out] - MEANS
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


@dataclass
class ImageNetVal:
    """The files and labels of an ImageNet-style validation folder."""

    root: Path
    files: list[str]
    labels: np.ndarray

    @classmethod
    def open(cls, root: str | Path, count: int | None = None, require_files: bool = True) -> ImageNetVal:
        root = Path(root)
        vmap = root / VAL_MAP
        if not vmap.is_file():
            raise DatasetError(
                f"dataset: {vmap} not found; point --dataset at an ImageNet 2012 val folder "
                f"holding {VAL_MAP} and the JPEGs, or use --dataset synthetic"
            )
        files, labels = [], []
        for n, line in enumerate(vmap.read_text().splitlines(), 1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 2 or not parts[1].isdigit():
                raise DatasetError(f"dataset: {vmap}:{n}: expected '<file> <label>', got {line!r}")
            files.append(parts[0])
            labels.append(int(parts[1]))
        if count is not None:
            if count > len(files):
                raise DatasetError(f"dataset: asked for {count} images but {vmap} lists {len(files)}")
            files, labels = files[:count], labels[:count]
        missing = [f for f in files[:50] if not (root / f).is_file()] if require_files else []
        if missing:
            raise DatasetError(f"dataset: {len(missing)} listed images are missing in {root}, e.g. {missing[0]}")
        return cls(root, files, np.array(labels, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.files)

    def load(self, index: int) -> np.ndarray:
        with Image.open(self.root / self.files[index]) as img:
            return preprocess(img)

    def provenance(self) -> dict:
        p = self.root / PROVENANCE
        if p.is_file():
            import json

            return json.loads(p.read_text())
        return {"kind": "imagenet2012-val", "synthetic": False, "path": str(self.root)}
