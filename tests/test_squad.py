"""SQuAD v1.1 exact match and F1 against scores worked out by hand from the official definitions."""

from __future__ import annotations

import pytest

from benchfleet.benchmarks.squad.scorer import evaluate, f1_score, normalize_answer

# (question id, ground truths, prediction, exact match by hand, F1 by hand)
CASES = [
    # articles and case go: "the denver broncos" -> "denver broncos"
    ("q1", ["Denver Broncos", "Denver Broncos"], "the Denver Broncos", 1, 1.0),
    # "santa clara california" (comma dropped) vs "santa clara": P = 2/2, R = 2/3 -> F1 = 0.8
    ("q2", ["Santa Clara, California"], "Santa Clara", 0, 0.8),
    # "levis stadium" vs "stadium of levi": 1 shared token, P = 1/3, R = 1/2 -> F1 = 0.4
    ("q3", ["Levi's Stadium"], "Stadium of Levi", 0, 0.4),
    # best over the ground truths: same tokens as the first in another order -> F1 1, no exact match
    ("q4", ["February 7, 2016", "Feb 7 2016"], "7 February 2016", 0, 1.0),
    ("q5", ["apple"], "an apple.", 1, 1.0),
    # q6 has no prediction: it counts, with 0
    ("q6", ["gold"], None, 0, 0.0),
]


def _dataset():
    qas = [{"id": qid, "question": "?", "answers": [{"text": t, "answer_start": 0} for t in truths]}
           for qid, truths, _, _, _ in CASES]
    return [{"title": "Super_Bowl_50", "paragraphs": [{"context": "...", "qas": qas}]}]


def test_normalization_follows_the_official_order():
    assert normalize_answer("  The  Denver, Broncos! ") == "denver broncos"
    assert normalize_answer("Levi's") == "levis"
    assert normalize_answer("a theory") == "theory"  # 'a' goes, 'theory' stays whole


@pytest.mark.parametrize(("qid", "truths", "pred", "em", "f1"), [c for c in CASES if c[2] is not None])
def test_each_answer_scores_as_worked_out_by_hand(qid, truths, pred, em, f1):
    assert max(f1_score(pred, t) for t in truths) == pytest.approx(f1)
    got = evaluate(_dataset(), {qid: pred})
    assert got["exact_match"] == pytest.approx(100 * em / len(CASES))
    assert got["f1"] == pytest.approx(100 * f1 / len(CASES))


def test_dataset_totals():
    preds = {qid: pred for qid, _, pred, _, _ in CASES if pred is not None}
    got = evaluate(_dataset(), preds)
    assert got["exact_match"] == pytest.approx(100 * 2 / 6)  # q1, q5
    assert got["f1"] == pytest.approx(100 * (1 + 0.8 + 0.4 + 1 + 1) / 6)  # 70.0
