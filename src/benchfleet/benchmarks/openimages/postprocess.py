"""The response of one sample, as the reference's ``PostProcessOpenImagesRetinanet`` (``python/openimages.py``,
``openimages-800-retinanet-onnx``: score threshold 0.05, height = width = 800, no label map) builds it and
``main.py`` hands it to LoadGen: per detection 7 float32 values ``[sample index, ymin, xmin, ymax, xmax, score,
label]``, the box divided by 800 (so in [0, 1] of the resized input, hence of the original image), in the
model's order (sorted by score), stopping at the first score under the threshold; no detection gives an empty
response.
"""

from __future__ import annotations

import numpy as np

SCORE_THRESHOLD = 0.05
SIZE = 800


def response(index: int, boxes: np.ndarray, labels: np.ndarray, scores: np.ndarray,
             threshold: float = SCORE_THRESHOLD, height: int = SIZE, width: int = SIZE) -> np.ndarray:
    """``boxes`` (N, 4) xmin, ymin, xmax, ymax in the input's pixels; ``labels`` (N,); ``scores`` (N,)."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    below = np.flatnonzero(scores < np.float32(threshold))
    n = int(below[0]) if below.size else len(scores)  # the reference breaks at the first score under it
    out = np.empty((n, 7), np.float32)
    out[:, 0] = np.float32(float(index))
    # float32 / int: float32 arithmetic, as numpy does it for the reference's box[1] / self.height
    out[:, 1] = boxes[:n, 1] / np.float32(height)
    out[:, 2] = boxes[:n, 0] / np.float32(width)
    out[:, 3] = boxes[:n, 3] / np.float32(height)
    out[:, 4] = boxes[:n, 2] / np.float32(width)
    out[:, 5] = scores[:n]
    out[:, 6] = np.array([float(int(v)) for v in labels[:n]], dtype=np.float64).astype(np.float32)
    return out.reshape(-1)
