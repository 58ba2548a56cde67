"""Sliding-window inference as the reference's base_SUT.py and inference_utils.py do it: 128^3 windows at
stride 64 (overlap 0.5), each window's class scores weighted by a Gaussian importance map (sigma 0.125 * 128,
cube root, scaled to a maximum of 1) and summed, divided by the summed weights, then the argmax over the three
classes as uint8 (the response: the (D, H, W) label volume's bytes in C order)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from benchfleet.benchmarks.kits19.preprocess import ROI_SHAPE, SLIDE_OVERLAP_FACTOR, strides

CLASSES = 3


def gaussian_kernel(n: int, std: float) -> np.ndarray:
    """(n, n, n) float64: the outer product of a symmetric Gaussian window of ``n`` points (scipy's
    ``signal.windows.gaussian``), cube-rooted and scaled to a maximum of 1."""
    x = np.arange(0, n) - (n - 1.0) / 2.0
    g1 = np.exp(-x ** 2 / (2 * std * std))
    g3 = np.outer(np.outer(g1, g1), g1).reshape(n, n, n)
    g3 = np.cbrt(g3)
    g3 /= g3.max()
    return g3


def norm_patch(roi_shape: list[int] = ROI_SHAPE, dtype=np.float32) -> np.ndarray:
    return gaussian_kernel(roi_shape[0], 0.125 * roi_shape[0]).astype(dtype)


def window_starts(shape: tuple[int, ...], roi_shape: list[int] = ROI_SHAPE,
                  overlap: float = SLIDE_OVERLAP_FACTOR) -> Iterator[tuple[int, int, int]]:
    """The (i, j, k) corners of the windows over a (D, H, W) volume, in the reference's order."""
    st = strides(roi_shape, overlap)
    size = [(shape[d] - roi_shape[d]) // st[d] + 1 for d in range(3)]
    for i in range(0, st[0] * size[0], st[0]):
        for j in range(0, st[1] * size[1], st[1]):
            for k in range(0, st[2] * size[2], st[2]):
                yield i, j, k


def segment(image: np.ndarray, infer: Callable[[np.ndarray], np.ndarray],
            roi_shape: list[int] = ROI_SHAPE, overlap: float = SLIDE_OVERLAP_FACTOR) -> np.ndarray:
    """(D, H, W) uint8 labels of a (D, H, W) or (1, D, H, W) float32 volume; ``infer`` maps a (1, 1, *roi)
    window to its (1, 3, *roi) or (3, *roi) class scores."""
    vol = image.reshape(1, 1, *image.shape[-3:])
    patch = norm_patch(roi_shape, vol.dtype)
    result = np.zeros((1, CLASSES, *vol.shape[2:]), dtype=vol.dtype)
    norm_map = np.zeros_like(result)
    for i, j, k in window_starts(vol.shape[2:], roi_shape, overlap):
        sl = (Ellipsis, slice(i, i + roi_shape[0]), slice(j, j + roi_shape[1]), slice(k, k + roi_shape[2]))
        scores = np.asarray(infer(np.ascontiguousarray(vol[sl])))
        result[sl] += scores.reshape(CLASSES, *roi_shape) * patch
        norm_map[sl] += patch
    with np.errstate(invalid="ignore", divide="ignore"):  # voxels outside every window: 0/0, argmax 0
        result /= norm_map
    return np.argmax(result, axis=1).astype(np.uint8)[0]
