"""Recommendation scoring for DLRM (dlrm-v2-99, dlrm-v2-99.9) as the reference's tools/accuracy-dlrm.py
computes it from LoadGen's accuracy log, in its default mode (the log holds the ground truth).

Each response is float32 pairs ``(prediction, label)``, one per row of the sample's group; a sample logged twice
counts once (its first entry). The metric is the ROC AUC over every row of every sample, as
``sklearn.metrics.roc_auc_score`` computes it (ties between a positive and a negative count one half), and
accuracy is the share of rows whose rounded prediction equals the label. The printed line, which the checker's
regex ``^AUC=([\\d\\.]+).*`` reads, is in percent.
"""

from __future__ import annotations

import numpy as np


def roc_auc(targets: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC of binary ``targets`` (0/1) for ``scores``: the Mann-Whitney statistic with average ranks for
    ties, which equals the area under sklearn's ROC curve."""
    y = np.asarray(targets).reshape(-1)
    s = np.asarray(scores).reshape(-1)
    if y.shape != s.shape:
        raise ValueError(f"accuracy: {y.size} labels for {s.size} predictions")
    classes = np.unique(y)
    if len(classes) != 2:
        raise ValueError("accuracy: ROC AUC needs both classes among the labels; found "
                         f"{', '.join(str(c) for c in classes) or 'none'}")
    pos = y == classes[1]
    order = np.argsort(s, kind="mergesort")
    sorted_s = s[order]
    # average rank (1-based) of each run of equal scores
    starts = np.flatnonzero(np.r_[True, sorted_s[1:] != sorted_s[:-1]])
    ends = np.r_[starts[1:], len(s)]
    avg = (starts + 1 + ends) / 2.0
    ranks = np.empty(len(s), dtype=np.float64)
    ranks[order] = np.repeat(avg, ends - starts)
    n_pos = int(pos.sum())
    n_neg = len(s) - n_pos
    u = ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def pairs_of(entries: list[dict]) -> tuple[list[int], list[np.ndarray]]:
    """qsl indices (first occurrence each, in log order) and their (rows, 2) float32 responses."""
    seen: set[int] = set()
    order, data = [], []
    for e in entries:
        idx = int(e["qsl_idx"])
        if idx in seen:
            continue
        seen.add(idx)
        arr = np.frombuffer(bytes.fromhex(e["data"]), np.float32)
        if arr.size % 2:
            raise ValueError(f"accuracy: the response of sample {idx} holds {arr.size} float32, not pairs of "
                             "(prediction, label)")
        order.append(idx)
        data.append(arr.reshape(-1, 2))
    return order, data


def score_log(entries: list[dict], group_sizes: list[int] | None = None) -> dict[str, float]:
    """What accuracy-dlrm.py reports for an accuracy log. ``group_sizes`` (the trace file's sizes, by qsl
    index): when given, each response must hold its group's number of rows."""
    order, data = pairs_of(entries)
    if not order:
        raise ValueError("accuracy: the accuracy log has no responses")
    if group_sizes is not None:
        for idx, d in zip(order, data, strict=True):
            if idx >= len(group_sizes) or d.shape[0] != group_sizes[idx]:
                want = group_sizes[idx] if idx < len(group_sizes) else "no group"
                raise ValueError(f"accuracy: sample {idx} answers {d.shape[0]} rows; its group has {want}")
    both = np.concatenate(data, axis=0)
    results, targets = both[:, 0], both[:, 1]
    good = int((results.round() == targets).sum())
    total = int(len(results))
    auc = roc_auc(targets, results)
    return {"roc_auc": auc, "AUC": 100.0 * auc, "row_accuracy": 100.0 * (good / total), "good": good, "total": total,
            "queries": len(order)}


def accuracy_line(s: dict[str, float]) -> str:
    """The line accuracy-dlrm.py prints."""
    return "AUC={:.3f}%, accuracy={:.3f}%, good={}, total={}, queries={}".format(
        100.0 * s["roc_auc"], s["row_accuracy"], s["good"], s["total"], s["queries"])
