"""SQuAD v1.1 scoring for BERT (bert-99, bert-99.9): exact match and F1 as the official evaluation
script (evaluate-v1.1.py) computes them, which the MLPerf reference's accuracy-squad.py calls.

A building block for the BERT benchmark (issue 6); the featurization and the benchmark itself come next.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)


def normalize_answer(s: str) -> str:
    """Lower case, drop punctuation, the articles a/an/the, and extra whitespace (the official order)."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def f1_score(prediction: str, ground_truth: str) -> float:
    pred, truth = normalize_answer(prediction).split(), normalize_answer(ground_truth).split()
    common = Counter(pred) & Counter(truth)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(truth)
    return 2 * precision * recall / (precision + recall)


def exact_match_score(prediction: str, ground_truth: str) -> bool:
    return normalize_answer(prediction) == normalize_answer(ground_truth)


def _best(metric, prediction: str, ground_truths: Iterable[str]) -> float:
    return max(float(metric(prediction, gt)) for gt in ground_truths)


def evaluate(dataset: list[dict], predictions: dict[str, str]) -> dict[str, float]:
    """``dataset`` is the ``data`` list of dev-v1.1.json; ``predictions`` maps question id -> answer text.
    A question without a prediction scores 0 (as the official script does). Returns percentages."""
    f1 = em = total = 0.0
    for article in dataset:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                total += 1
                if qa["id"] not in predictions:
                    continue
                truths = [a["text"] for a in qa["answers"]]
                em += _best(exact_match_score, predictions[qa["id"]], truths)
                f1 += _best(f1_score, predictions[qa["id"]], truths)
    if not total:
        return {"exact_match": 0.0, "f1": 0.0}
    return {"exact_match": 100.0 * em / total, "f1": 100.0 * f1 / total}
