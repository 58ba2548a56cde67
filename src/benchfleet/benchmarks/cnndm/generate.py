"""Text generation for GPT-J: beam search as Hugging Face ``generate`` does it for the reference.

Settings of the MLPerf reference (language/gpt-j/backend.py): 4 beams, early stopping, at least 30
and at most 128 new tokens, length penalty 1. A finished hypothesis is scored by its summed log
probability over its length (prompt included, as transformers 4.x of that round does); with early
stopping the search ends once ``num_beams`` hypotheses have finished. ``num_beams=1`` is greedy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

NextLogits = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]  # ids, mask, positions -> (B, V)


@dataclass(frozen=True)
class GenerationSettings:
    num_beams: int = 4
    max_new_tokens: int = 128
    min_new_tokens: int = 30
    early_stopping: bool = True
    length_penalty: float = 1.0


REFERENCE = GenerationSettings()


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def generate(next_logits: NextLogits, prompt: list[int], eos_id: int,
             settings: GenerationSettings = REFERENCE) -> list[int]:
    """New tokens for one prompt (the eos that ended a hypothesis early is kept, as generate pads with it)."""
    beams = settings.num_beams
    p = len(prompt)
    seqs = np.tile(np.asarray(prompt, np.int64), (beams, 1))
    scores = np.full(beams, -1e9)
    scores[0] = 0.0
    hyps: list[tuple[float, list[int]]] = []
    done = False
    for step in range(settings.max_new_tokens):
        t = seqs.shape[1]
        logits = next_logits(seqs, np.ones_like(seqs), np.tile(np.arange(t, dtype=np.int64), (beams, 1)))
        logp = _log_softmax(np.asarray(logits))
        if step < settings.min_new_tokens:
            logp[:, eos_id] = -np.inf
        total = (logp + scores[:, None]).reshape(-1)
        vocab = logp.shape[1]
        order = np.argsort(-total, kind="stable")[: 2 * beams]
        new_seqs, new_scores = [], []
        for rank, flat in enumerate(order):
            beam, token, score = int(flat // vocab), int(flat % vocab), float(total[flat])
            if token == eos_id:
                if rank >= beams:
                    continue
                seq = seqs[beam].tolist()
                hyps.append((score / (len(seq) ** settings.length_penalty), seq + [eos_id]))
            else:
                new_seqs.append(np.append(seqs[beam], token))
                new_scores.append(score)
            if len(new_seqs) == beams:
                break
        if settings.early_stopping and len(hyps) >= beams:
            done = True
            break
        seqs, scores = np.stack(new_seqs), np.asarray(new_scores)
    if not done:
        for b in range(beams):
            seq = seqs[b].tolist()
            hyps.append((float(scores[b]) / (len(seq) ** settings.length_penalty), seq))
    best = max(hyps, key=lambda h: h[0])[1]
    return best[p:]
