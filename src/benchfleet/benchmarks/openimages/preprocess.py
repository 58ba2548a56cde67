"""RetinaNet preprocessing as the reference's ``pre_process_openimages_retinanet``
(``vision/classification_and_detection/python/dataset.py``, dims 800x800x3, NCHW for onnxruntime), with the same
library and kernels:

- decode with ``cv2.imread`` default flags (BGR, 3 channels);
- to float32 first, then BGR -> RGB (``maybe_resize``);
- ``cv2.resize`` of the float32 image to 800x800, ``cv2.INTER_LINEAR`` (aspect ratio not kept);
- divided by 255 (no mean or std: the model normalizes inside), transposed to (3, 800, 800).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

SIZE = 800


class DatasetError(ValueError):
    pass


def preprocess_version() -> str:
    """This file's code and the OpenCV version: samples files and generated labels are keyed by it."""
    import cv2

    code = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
    return f"retinanet-{code}-opencv{cv2.__version__}"


def read_bgr(path: str | Path) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path))
    if img is None:
        raise DatasetError(f"dataset: OpenCV cannot decode {path}; replace the file with the original JPEG")
    return img


def preprocess(bgr: np.ndarray, size: int = SIZE) -> np.ndarray:
    """One decoded image (as ``cv2.imread`` gives it) -> (3, size, size) float32 RGB in [0, 1]."""
    import cv2

    img = np.array(bgr, dtype=np.float32)
    if len(img.shape) < 3 or img.shape[2] != 3:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)  # as the reference; imread's default never gives grey
    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    img = cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR)
    img /= 255.0
    return np.ascontiguousarray(img.transpose(2, 0, 1))
