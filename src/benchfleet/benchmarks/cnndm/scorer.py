"""GPT-J on CNN/DailyMail: scoring an accuracy log. Responses are the generated token ids as int64, which the
reference's evaluation.py decodes (special tokens skipped) before ROUGE (``rouge``)."""

from __future__ import annotations

import numpy as np

from benchfleet.benchmarks.cnndm import rouge
from benchfleet.text.bpe import ByteBPE


def tokens_of(entries: list[dict]) -> dict[int, np.ndarray]:
    """qsl_idx -> generated ids (first response per sample, as evaluation.py de-duplicates)."""
    out: dict[int, np.ndarray] = {}
    for e in entries:
        idx = int(e["qsl_idx"])
        if idx not in out:
            out[idx] = np.frombuffer(bytes.fromhex(e["data"]), np.int64)
    return out


def score_log(entries: list[dict], records: list[dict], tok: ByteBPE) -> dict[str, float]:
    got = tokens_of(entries)
    order = list(got)
    preds = [tok.decode(got[i].tolist()) for i in order]
    return rouge.score(preds, [records[i]["output"] for i in order])
