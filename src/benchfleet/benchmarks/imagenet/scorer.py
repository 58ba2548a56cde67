"""ImageNet top-1, as the reference's ``accuracy-imagenet.py`` computes it from LoadGen's accuracy log."""

from __future__ import annotations

import numpy as np


def score_imagenet(entries: list[dict], labels: np.ndarray) -> tuple[float, int, int]:
    """Top-1 over distinct qsl_idx, responses are float32 class ids (reference format)."""
    seen: set[int] = set()
    good = 0
    for e in entries:
        idx = int(e["qsl_idx"])
        if idx in seen:
            continue
        seen.add(idx)
        found = int(np.frombuffer(bytes.fromhex(e["data"]), np.float32)[0])
        good += int(found == int(labels[idx]))
    total = len(seen)
    return (100.0 * good / total if total else 0.0), good, total


def imagenet_text(entries: list[dict], labels: np.ndarray) -> str:
    acc, good, total = score_imagenet(entries, labels)
    return f"accuracy={acc:.3f}%, good={good}, total={total}\n"
