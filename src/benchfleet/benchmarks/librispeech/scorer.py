"""Word error rate as the reference's accuracy_eval.py computes it from LoadGen's accuracy log.

Each entry's ``data`` is the greedy decoder's label ids as int64 (``array('q')``, the SUT's response); they are
joined as characters of the 28 labels (configs/rnnt.toml), the reference transcript is the Manifest's normalized
transcript (max_duration 15.0) of the entry's ``qsl_idx``, and the WER is pytorch/metrics.py's: the word-level
Levenshtein distances summed over all entries, divided by the reference words summed over all entries.
accuracy_eval.py prints ``Word Error Rate: {wer * 100}%, accuracy={(1 - wer) * 100}%``, which the submission
checker's regex ``Word Error Rate\\:.*, accuracy=([0-9\\.]+)%`` reads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchfleet.benchmarks.librispeech.dataset import MANIFEST, ids_to_text, load_manifest


def levenshtein(a: list, b: list) -> int:
    """Edit distance between two word lists (insertions, deletions and substitutions all cost 1)."""
    if len(a) > len(b):
        a, b = b, a
    current = list(range(len(a) + 1))
    for i in range(1, len(b) + 1):
        previous, current = current, [i] + [0] * len(a)
        for j in range(1, len(a) + 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[j - 1] != b[i - 1]))
    return current[len(a)]


def word_error_rate(hypotheses: list[str], references: list[str]) -> tuple[float, int, int]:
    """(wer, edits, reference words): pytorch/metrics.py word_error_rate (inf when there are no reference
    words)."""
    if len(hypotheses) != len(references):
        raise ValueError(f"word error rate: {len(hypotheses)} hypotheses for {len(references)} references")
    edits = words = 0
    for h, r in zip(hypotheses, references, strict=True):
        r_words = r.split()
        words += len(r_words)
        edits += levenshtein(h.split(), r_words)
    return (edits / words if words else float("inf")), edits, words


def accuracy_line(wer: float) -> str:
    """The line accuracy_eval.py prints (Python's str() of the two percentages)."""
    return f"Word Error Rate: {wer * 100}%, accuracy={(1 - wer) * 100}%"


def hypotheses_of(entries: list[dict]) -> list[str]:
    """The text of each accuracy-log entry's int64 label ids, in the log's order."""
    return [ids_to_text(np.frombuffer(bytes.fromhex(e["data"]), dtype="<i8").tolist()) for e in entries]


def score_log(entries: list[dict], data_dir: str | Path, manifest: str = MANIFEST) -> dict[str, float]:
    """What accuracy_eval.py reports for an accuracy log: every entry counts, against the transcript of its
    ``qsl_idx``."""
    utterances = load_manifest(data_dir, manifest)
    references = [utterances[int(e["qsl_idx"])].transcript for e in entries]
    wer, edits, words = word_error_rate(hypotheses_of(entries), references)
    return {"wer": wer, "accuracy": (1 - wer) * 100, "edits": edits, "words": words}
