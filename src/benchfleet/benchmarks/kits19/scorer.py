"""KiTS19 scoring as the reference's accuracy_kits.py does it: each case's label volume from the accuracy log
(uint8, the preprocessed case's shape), DICE against the preprocessed ground truth for kidney (1) and tumour (2),
((2 |P n T| + 1e-6) / (|P| + |T| + 1e-6), background left out), the case's composite the mean of the two, and
the mean of each over the cases; the line the checker's regex reads is
``Accuracy: mean = <composite:.5f>, kidney = <:.4f>, tumor = <:.4f>``."""

from __future__ import annotations

import numpy as np

CLASSES = 3
SMOOTH_NR = 1e-6
SMOOTH_DR = 1e-6


def dice(prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
    """[kidney, tumour] DICE (float64) of two label volumes of one shape."""
    if prediction.shape != target.shape:
        raise ValueError(f"scoring: prediction {prediction.shape} and ground truth {target.shape} differ in shape")
    for what, v in (("prediction", prediction), ("ground truth", target)):
        if v.size and int(v.max()) >= CLASSES:
            raise ValueError(f"scoring: {what} has label {int(v.max())}; KiTS19 has classes 0, 1, 2")
    out = np.empty(CLASSES - 1)
    for c in range(1, CLASSES):
        p, t = prediction == c, target == c
        inter = float(np.count_nonzero(p & t))
        out[c - 1] = (2.0 * inter + SMOOTH_NR) / (float(np.count_nonzero(t)) + float(np.count_nonzero(p)) + SMOOTH_DR)
    return out


def predictions_of(entries: list[dict], cases: list[str], shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """case -> uint8 label volume from LoadGen accuracy-log entries (qsl_idx indexes ``cases``)."""
    out: dict[str, np.ndarray] = {}
    for e in entries:
        idx = int(e["qsl_idx"])
        if not 0 <= idx < len(cases):
            raise ValueError(f"scoring: qsl_idx {idx} outside the {len(cases)} cases")
        case = cases[idx]
        data = np.frombuffer(bytes.fromhex(e["data"]), np.uint8)
        if data.size != int(np.prod(shapes[case])):
            raise ValueError(f"scoring: {case}'s response has {data.size} bytes, its volume {shapes[case]} voxels")
        out[case] = data.reshape(shapes[case])
    return out


def score(predictions: dict[str, np.ndarray], labels: dict[str, np.ndarray], cases: list[str]) -> dict:
    """Mean composite, kidney and tumour DICE over ``cases`` (every case needs a prediction, as the reference
    asserts), and each case's."""
    missing = [c for c in cases if c not in predictions]
    if missing:
        raise ValueError(f"scoring: no response for {len(missing)} of {len(cases)} cases ({missing[0]} ...)")
    per_case = {c: dice(predictions[c], labels[c]) for c in cases}
    kidney = np.array([v[0] for v in per_case.values()])
    tumor = np.array([v[1] for v in per_case.values()])
    composite = np.array([np.mean(v) for v in per_case.values()])
    return {"mean": float(np.mean(np.nan_to_num(composite))), "kidney": float(np.mean(np.nan_to_num(kidney))),
            "tumor": float(np.mean(np.nan_to_num(tumor))), "cases": len(cases),
            "per_case": {c: [float(v[0]), float(v[1])] for c, v in per_case.items()}}


def accuracy_line(s: dict) -> str:
    return "Accuracy: mean = {:.5f}, kidney = {:.4f}, tumor = {:.4f}".format(s["mean"], s["kidney"], s["tumor"])
