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


def test_generated_pair_scores_f1_100_with_no_answer_of_punctuation_only(tmp_path):
    """The generated model's own answers are the generated set's: an answer that normalises to no word (a lone
    "." or "the") would score exact match 1 but F1 0, so the generator asks another question instead (at width 8
    about one question in ten was such)."""
    import json

    import numpy as np
    import onnxruntime as ort

    from benchfleet.benchmarks.squad import synthetic
    from benchfleet.benchmarks.squad.dataset import DEV_FILE, VOCAB_FILE, read_examples
    from benchfleet.benchmarks.squad.preprocess import convert_examples, feature_arrays
    from benchfleet.benchmarks.squad.scorer import predictions
    from benchfleet.models import tiny_bert
    from benchfleet.text.wordpiece import FullTokenizer

    pair = synthetic.make_pair(tmp_path, count=96, width=8, log=lambda m: None)
    data = json.loads((pair.dataset_dir / DEV_FILE).read_text())["data"]
    qas = [qa for art in data for par in art["paragraphs"] for qa in par["qas"]]
    assert len(qas) == 96 and len({qa["id"] for qa in qas}) == 96
    assert int(qas[-1]["id"].rsplit("-", 1)[1]) > 95  # some questions were asked again
    assert all(normalize_answer(qa["answers"][0]["text"]).split() for qa in qas)
    # one question at a time, as SingleStream asks them
    sess = ort.InferenceSession(str(pair.model_path), providers=["CPUExecutionProvider"])
    examples = read_examples(data)
    features = convert_examples(examples, FullTokenizer(pair.dataset_dir / VOCAB_FILE))
    arr = feature_arrays(features).astype(np.int64)
    logits = {}
    for i in range(len(features)):
        s, e = sess.run(list(tiny_bert.OUTPUTS), dict(zip(tiny_bert.INPUTS, arr[i:i + 1].transpose(1, 0, 2),
                                                          strict=True)))
        logits[i] = np.stack([s[0], e[0]], axis=-1).astype(np.float32)
    assert evaluate(data, predictions(examples, features, logits)) == {"exact_match": 100.0, "f1": 100.0}
