"""KiTS19 preprocessing as the reference's preprocess.py does it, step by step (its ``Preprocessor``): resample
to the common voxel spacing (1.6, 1.2, 1.2) mm (linear for the image, nearest for the label, constant edges of
the volume's minimum), clip to [-79, 304] HU and normalise with mean 101 and std 76.9, edge-pad to at least
128 a side, crop an edge remainder under 32 voxels of the 64-voxel stride, then pad symmetrically with -2.2
(label 0) to a multiple of 64 of at least 128. Volumes are (1, D, H, W): image float32, label uint8."""

from __future__ import annotations

from pathlib import Path

import numpy as np

MEAN_VAL = 101.0
STDDEV_VAL = 76.9
MIN_CLIP_VAL = -79.0
MAX_CLIP_VAL = 304.0
PADDING_VAL = -2.2
TARGET_SPACING = [1.6, 1.2, 1.2]
ROI_SHAPE = [128, 128, 128]
SLIDE_OVERLAP_FACTOR = 0.5


def strides(roi_shape: list[int] = ROI_SHAPE, overlap: float = SLIDE_OVERLAP_FACTOR) -> list[int]:
    return [int(r * (1 - overlap)) for r in roi_shape]


def reshaped_affine(affine: np.ndarray, target_spacing: list[float] = TARGET_SPACING) -> np.ndarray:
    """The affine of the resampled volume: each axis' nonzero entry set to the target spacing, its sign kept."""
    out = affine.copy()
    targ = np.array(target_spacing)
    for i in range(3):
        idx = np.where(affine[i][:-1] != 0)
        sign = -1 if affine[i][idx] < 0 else 1
        out[i][idx] = targ[idx] * sign
    return out


def resample(image: np.ndarray, label: np.ndarray, spacing: list[float],
             target_spacing: list[float] = TARGET_SPACING) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(D, H, W) image (float32) and label (uint8) zoomed from ``spacing`` (the NIfTI header's pixdim[1:4], as
    Python floats) to ``target_spacing``; unchanged when the spacings are equal. Returns the zoom factor too."""
    from scipy.ndimage import zoom

    factor = np.array(spacing) / np.array(target_spacing)
    if list(spacing) != list(target_spacing):
        image = zoom(image, factor, order=1, mode="constant", cval=image.min(), grid_mode=False)
        label = zoom(label, factor, order=0, mode="constant", cval=label.min(), grid_mode=False)
    return image, label, factor


def normalize_intensity(image: np.ndarray) -> np.ndarray:
    image = np.clip(image, MIN_CLIP_VAL, MAX_CLIP_VAL)
    return (image - MEAN_VAL) / STDDEV_VAL


def pad_to_min_shape(image: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(1, D, H, W) volumes edge-padded (half before, the rest after) to at least the ROI shape."""
    shape = image.shape[1:]
    bounds = [max(0, ROI_SHAPE[i] - shape[i]) for i in range(3)]
    pads = [(0, 0)] + [(b // 2, b - b // 2) for b in bounds]
    return np.pad(image, pads, mode="edge"), np.pad(label, pads, mode="edge")


def constant_pad_volume(volume: np.ndarray, padding_val: float) -> np.ndarray:
    """(1, D, H, W) padded symmetrically with ``padding_val`` to a multiple of the stride, at least the ROI."""
    st = strides()
    shape = volume.shape[1:]
    bounds = [(st[i] - shape[i] % st[i]) % st[i] for i in range(3)]
    bounds = [b if shape[i] + b >= ROI_SHAPE[i] else b + st[i] for i, b in enumerate(bounds)]
    pads = [(0, 0)] + [(b // 2, b - b // 2) for b in bounds]
    return np.pad(volume, pads, mode="constant", constant_values=[padding_val])


def adjust_shape_for_sliding_window(image: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Crop an edge's remainder of the stride when it is under half the stride (half before, the rest after),
    then pad to the stride (``constant_pad_volume``): image with -2.2, label with 0."""
    st = strides()
    shape = list(image.shape[1:])
    bounds = [shape[i] % st[i] for i in range(3)]
    bounds = [b if b < st[i] // 2 else 0 for i, b in enumerate(bounds)]
    cut = tuple(slice(b // 2, shape[i] - (b - b // 2)) for i, b in enumerate(bounds))
    image, label = image[(Ellipsis, *cut)], label[(Ellipsis, *cut)]
    return constant_pad_volume(image, PADDING_VAL), constant_pad_volume(label, 0)


def preprocess_volumes(image: np.ndarray, label: np.ndarray, spacing: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Raw (D, H, W) CT volume (float32, HU) and its segmentation (uint8) -> (1, D', H', W') float32 image and
    uint8 label, as the reference's ``preprocess_case``."""
    image, label, _ = resample(image, label, spacing)
    image, label = np.expand_dims(image, 0), np.expand_dims(label, 0)
    image = normalize_intensity(image.copy())
    image, label = pad_to_min_shape(image, label)
    image, label = adjust_shape_for_sliding_window(image, label)
    return image.astype(np.float32), label.astype(np.uint8)


def preprocess_case(case_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``case_dir/imaging.nii.gz`` and ``segmentation.nii.gz`` of the KiTS19 repository -> image, label and
    the affine of the resampled volumes."""
    import nibabel

    image = nibabel.load(Path(case_dir, "imaging.nii.gz"))
    label = nibabel.load(Path(case_dir, "segmentation.nii.gz"))
    spacing = image.header["pixdim"][1:4].tolist()
    affine = reshaped_affine(image.affine)
    img, lbl = preprocess_volumes(image.get_fdata().astype(np.float32), label.get_fdata().astype(np.uint8),
                                  spacing)
    return img, lbl, affine
