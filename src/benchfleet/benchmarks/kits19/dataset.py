"""KiTS19 as the reference reads it: the 43 inference cases of its meta/inference_cases.json, in that order
(LoadGen's sample index is the position in the list), from the folder its preprocess.py writes
(``nifti/<case>/imaging.nii.gz``: the preprocessed (D, H, W) float32 volume, ``nifti/<case>/segmentation.nii.gz``:
its uint8 ground truth; the same volumes as its case_XXXXX.pkl, which benchfleet does not read: a pickle runs code)
or from the KiTS19 repository's ``data/`` folder (``<case>/imaging.nii.gz`` and ``segmentation.nii.gz`` at their
own spacing), which ``preprocess.py`` turns into the same volumes. A folder may name its own cases in
``inference_cases.json`` (the generated set does)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

CASES_FILE = "inference_cases.json"
NIFTI = "nifti"
IMAGE, LABEL = "imaging.nii.gz", "segmentation.nii.gz"

INFERENCE_CASES = (
    "case_00000", "case_00003", "case_00005", "case_00006", "case_00012", "case_00024", "case_00034", "case_00041",
    "case_00044", "case_00049", "case_00052", "case_00056", "case_00061", "case_00065", "case_00066", "case_00070",
    "case_00076", "case_00078", "case_00080", "case_00084", "case_00086", "case_00087", "case_00092", "case_00111",
    "case_00112", "case_00125", "case_00128", "case_00138", "case_00157", "case_00160", "case_00161", "case_00162",
    "case_00169", "case_00171", "case_00176", "case_00185", "case_00187", "case_00189", "case_00198", "case_00203",
    "case_00206", "case_00207", "case_00400",
)


def case_list(data_dir: Path) -> list[str]:
    f = Path(data_dir) / CASES_FILE
    if f.is_file():
        cases = json.loads(f.read_text())
        if not isinstance(cases, list) or not all(isinstance(c, str) and c.isidentifier() for c in cases):
            raise ValueError(f"dataset: {f} is not a list of case names")
        return cases
    return list(INFERENCE_CASES)


def is_preprocessed(data_dir: Path) -> bool:
    """The reference's preprocessed folder (with nifti/) rather than the raw KiTS19 data/ folder."""
    return (Path(data_dir) / NIFTI).is_dir()


def case_files(data_dir: Path, case: str) -> tuple[Path, Path]:
    base = Path(data_dir) / NIFTI / case if is_preprocessed(data_dir) else Path(data_dir) / case
    return base / IMAGE, base / LABEL


def read_preprocessed(data_dir: Path, case: str) -> tuple[np.ndarray, np.ndarray]:
    """(D, H, W) float32 image and uint8 label of a preprocessed case."""
    import nibabel

    image, label = case_files(data_dir, case)
    img = nibabel.load(image).get_fdata(dtype=np.float32)
    lbl = nibabel.load(label).get_fdata(dtype=np.float32).astype(np.uint8)  # as accuracy_kits.py: to uint8
    if img.shape != lbl.shape or img.ndim != 3:
        raise ValueError(f"dataset: {case}'s image {img.shape} and segmentation {lbl.shape} differ")
    return img, lbl


def read_case(data_dir: Path, case: str) -> tuple[np.ndarray, np.ndarray]:
    """(D, H, W) float32 image and uint8 label as the reference's preprocessing leaves them, from either layout."""
    if is_preprocessed(data_dir):
        return read_preprocessed(data_dir, case)
    from benchfleet.benchmarks.kits19.preprocess import preprocess_case

    image, label, _ = preprocess_case(Path(data_dir) / case)
    return image[0], label[0]
