"""ImageNet preprocessing, the reference's own (``vision/classification_and_detection/python/dataset.py``) with
the same library and kernels, so the tensors are bit-identical to the reference's:

- decode with OpenCV's ``cv2.imread`` default flags (grey and CMYK JPEGs become 3-channel BGR), BGR -> RGB;
- resize so that the shorter side becomes 256, aspect kept (``resize_with_aspectratio``);
- centre crop 224x224, float32, NCHW (the caller transposes for NHWC models);
- ``resnet`` (``pre_process_vgg``): ``cv2.INTER_AREA``, minus the per-channel means;
- ``mobilenet`` (``pre_process_mobilenet``, the open MobileNet/EfficientNet models): ``cv2.INTER_LINEAR``,
  scaled to [-1, 1].
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

MEANS = np.array([123.68, 116.78, 103.94], dtype=np.float32)
OUT_SIZE = 224
RESIZE_SCALE = 87.5  # reference: new side = int(100 * 224 / 87.5) = 256
KINDS = ("resnet", "mobilenet")  # entry.ModelEntry.preprocessing


class DatasetError(ValueError):
    pass


def preprocess_version(kind: str = "resnet") -> str:
    """What made a preprocessed tensor: this file's code, the OpenCV version and the kind. Caches of
    preprocessed samples, and generated datasets labelled through this preprocessing, are keyed by it."""
    import cv2

    _check_kind(kind)
    code = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
    return f"{kind}-{code}-opencv{cv2.__version__}"


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"preprocessing: unknown kind {kind!r}; use one of {', '.join(KINDS)}")


def read_bgr(path: str | Path) -> np.ndarray:
    """The image as ``cv2.imread(path)`` gives it to the reference: uint8 (H, W, 3) BGR, grey and CMYK
    converted to 3 channels, EXIF orientation applied."""
    import cv2

    img = cv2.imread(str(path))
    if img is None:
        raise DatasetError(f"dataset: OpenCV cannot decode {path}; replace the file with the original JPEG")
    return img


def resized_size(width: int, height: int, out: int = OUT_SIZE) -> tuple[int, int]:
    """(width, height) after the reference aspect-preserving resize."""
    side = int(100.0 * out / RESIZE_SCALE)
    if height > width:
        return side, int(side * height / width)
    return int(side * width / height), side


def preprocess(bgr: np.ndarray, kind: str = "resnet", out: int = OUT_SIZE) -> np.ndarray:
    """One decoded BGR image -> (3, out, out) float32, as the reference's ``pre_process_vgg`` (``resnet``)
    or ``pre_process_mobilenet`` (``mobilenet``) with ``need_transpose=True``."""
    import cv2

    _check_kind(kind)
    img = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    h, w, _ = img.shape
    inter = cv2.INTER_AREA if kind == "resnet" else cv2.INTER_LINEAR
    img = cv2.resize(img, resized_size(w, h, out), interpolation=inter)
    h, w, _ = img.shape
    left, top = int((w - out) / 2), int((h - out) / 2)
    arr = np.asarray(img[top : top + out, left : left + out], dtype=np.float32)
    if kind == "resnet":
        arr -= MEANS
    else:
        arr /= 255.0
        arr -= 0.5
        arr *= 2
    return np.ascontiguousarray(arr.transpose(2, 0, 1))
