"""The MLPerf OpenImages validation subset in the layout the reference's ``openimages_mlperf.sh`` writes and
``tools/accuracy-openimages.py`` reads (``--openimages-dir``)::

    <dir>/annotations/openimages-mlperf.json   COCO format: images (id, file_name, height, width), annotations
                                               (image_id, category_id, bbox [x, y, w, h] in pixels, area,
                                               iscrowd), categories (id 0..263)
    <dir>/validation/data/<file_name>          the JPEGs

Sample ``i`` is the ``i``-th entry of ``images`` in the file's order: the reference's reader
(``python/openimages.py``) walks the images in that order and the accuracy script maps LoadGen's ``qsl_idx``
back with ``cocoGt.dataset["images"][qsl_idx]``. The reference's reader skips missing images, which would
move every later index off the accuracy script's; here a missing image is an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from benchfleet.benchmarks.generated import PROVENANCE
from benchfleet.benchmarks.openimages.preprocess import DatasetError

ANNOTATIONS = "annotations/openimages-mlperf.json"
IMAGES = "validation/data"
SCORING_NAME = "openimages-mlperf.json"  # the annotations, beside the results under this name


@dataclass(frozen=True)
class Image:
    id: int
    file_name: str
    height: int
    width: int


@dataclass
class OpenImagesVal:
    root: Path
    images: list[Image]

    @classmethod
    def open(cls, root: str | Path, count: int | None = None, require_files: bool = True) -> OpenImagesVal:
        root = Path(root)
        ann = root / ANNOTATIONS
        if not ann.is_file():
            raise DatasetError(f"dataset: {ann} not found; point --dataset at the MLPerf OpenImages folder made by "
                               "the reference's openimages_mlperf.sh (annotations/openimages-mlperf.json and "
                               "validation/data/*.jpg), or use --dataset synthetic")
        images = read_images(ann)
        if count is not None:
            if count > len(images):
                raise DatasetError(f"dataset: asked for {count} images but {ann} lists {len(images)}")
            images = images[:count]
        if require_files:
            missing = [i.file_name for i in images if not (root / IMAGES / i.file_name).is_file()]
            if missing:
                raise DatasetError(f"dataset: {len(missing)} listed images are missing in {root / IMAGES}, e.g. "
                                   f"{missing[0]} (a missing image would shift every later sample's index)")
        return cls(root, images)

    def __len__(self) -> int:
        return len(self.images)

    def path(self, index: int) -> Path:
        return self.root / IMAGES / self.images[index].file_name

    @property
    def annotations(self) -> Path:
        return self.root / ANNOTATIONS

    def provenance(self) -> dict:
        p = self.root / PROVENANCE
        if p.is_file():
            return json.loads(p.read_text())
        return {"kind": "openimages-mlperf-validation", "synthetic": False, "path": str(self.root)}


def read_images(annotations: str | Path) -> list[Image]:
    """The ``images`` of an openimages-mlperf.json, in the file's order."""
    data = json.loads(Path(annotations).read_text())
    return [Image(int(i["id"]), str(i["file_name"]), int(i["height"]), int(i["width"])) for i in data["images"]]
