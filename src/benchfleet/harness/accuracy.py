"""Accuracy: ImageNet top-1 scorer, accuracy-log truncation with its hash line."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

VIEWABLE = 4096


def read_accuracy_log(path: str | Path) -> list[dict]:
    text = Path(path).read_text()
    return json.loads(text) if text.strip() else []


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


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def truncate_with_hash(acc_log: Path, accuracy_txt: Path) -> str:
    """Append ``hash=<sha256>`` of the full log to accuracy.txt, then keep 4 KiB head + tail."""
    digest = sha256_file(acc_log)
    with open(accuracy_txt, "a") as f:
        f.write(f"hash={digest}\n")
    size = acc_log.stat().st_size
    if size >= VIEWABLE:
        data = acc_log.read_bytes()
        acc_log.write_bytes(data[:VIEWABLE] + b"\n\n...\n\n" + data[-VIEWABLE:])
    return digest
