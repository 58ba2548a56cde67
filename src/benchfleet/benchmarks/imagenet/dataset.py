"""ImageNet 2012 validation set in the MLPerf reference layout: a folder of JPEGs plus ``val_map.txt`` with lines
``<file name> <label>``. Each image is preprocessed as the reference does (``preprocess``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchfleet.benchmarks.generated import PROVENANCE
from benchfleet.benchmarks.imagenet.preprocess import DatasetError, preprocess, read_bgr

__all__ = ["VAL_MAP", "DatasetError", "ImageNetVal"]

VAL_MAP = "val_map.txt"


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

    def load(self, index: int, kind: str = "resnet") -> np.ndarray:
        return preprocess(read_bgr(self.root / self.files[index]), kind)

    def provenance(self) -> dict:
        p = self.root / PROVENANCE
        if p.is_file():
            import json

            return json.loads(p.read_text())
        return {"kind": "imagenet2012-val", "synthetic": False, "path": str(self.root)}
