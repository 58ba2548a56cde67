"""SQuAD v1.1 scoring for BERT (bert-99, bert-99.9): exact match and F1 as the official evaluation
script (evaluate-v1.1.py) computes them, which the MLPerf reference's accuracy-squad.py calls, after its
post-processing (n-best 20, answers of at most 30 tokens, projection of the WordPiece span back onto the
original text).
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from benchfleet.benchmarks.squad.dataset import Example, read_examples
from benchfleet.benchmarks.squad.preprocess import MAX_SEQ_LENGTH, Feature, convert_examples
from benchfleet.text.wordpiece import BasicTokenizer, FullTokenizer

N_BEST = 20
MAX_ANSWER_LENGTH = 30

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


def accuracy_line(scores: dict[str, float]) -> str:
    """The line accuracy-squad.py prints (json.dumps of the two scores), which the checker's regex reads."""
    return json.dumps({"exact_match": float(scores["exact_match"]), "f1": float(scores["f1"])})


def _strip_spaces(text: str) -> tuple[str, dict[int, int]]:
    chars, mapping = [], {}
    for i, c in enumerate(text):
        if c == " ":
            continue
        mapping[len(chars)] = i
        chars.append(c)
    return "".join(chars), mapping


def final_text(pred_text: str, orig_text: str, do_lower_case: bool = True) -> str:
    """Project a de-tokenized prediction back onto the original words (reference get_final_text)."""
    tok_text = " ".join(BasicTokenizer(do_lower_case).tokenize(orig_text))
    start = tok_text.find(pred_text)
    if start == -1:
        return orig_text
    end = start + len(pred_text) - 1
    orig_ns, orig_map = _strip_spaces(orig_text)
    tok_ns, tok_map = _strip_spaces(tok_text)
    if len(orig_ns) != len(tok_ns):
        return orig_text
    tok_s_to_ns = {v: k for k, v in tok_map.items()}
    orig_start = orig_map.get(tok_s_to_ns[start]) if start in tok_s_to_ns else None
    orig_end = orig_map.get(tok_s_to_ns[end]) if end in tok_s_to_ns else None
    if orig_start is None or orig_end is None:
        return orig_text
    return orig_text[orig_start:orig_end + 1]


def _best_indexes(logits: list[float], n: int) -> list[int]:
    return [i for i, _ in sorted(enumerate(logits), key=lambda x: x[1], reverse=True)[:n]]


def predictions(examples: list[Example], features: list[Feature], logits: dict[int, np.ndarray],
                n_best: int = N_BEST, max_answer_length: int = MAX_ANSWER_LENGTH) -> dict[str, str]:
    """question id -> answer text; ``logits`` maps feature index (LoadGen's qsl_idx) to (seq, 2) start/end.

    Features without a response take -10000 logits, as the reference's loader fills them.
    """
    by_example: dict[int, list[int]] = {}
    for fi, f in enumerate(features):
        by_example.setdefault(f.example_index, []).append(fi)
    out: dict[str, str] = {}
    for ex_index, ex in enumerate(examples):
        prelim = []
        for fi in by_example.get(ex_index, []):
            if fi not in logits:
                continue
            f = features[fi]
            lg = np.asarray(logits[fi], dtype=np.float64).reshape(-1, 2)
            start_l = np.full(MAX_SEQ_LENGTH, -10000.0)
            end_l = np.full(MAX_SEQ_LENGTH, -10000.0)
            start_l[:lg.shape[0]], end_l[:lg.shape[0]] = lg[:, 0], lg[:, 1]
            starts, ends = start_l.tolist(), end_l.tolist()
            for s in _best_indexes(starts, n_best):
                for e in _best_indexes(ends, n_best):
                    if s >= len(f.tokens) or e >= len(f.tokens) or s not in f.token_to_orig_map:
                        continue
                    if e not in f.token_to_orig_map or not f.token_is_max_context.get(s, False):
                        continue
                    if e < s or e - s + 1 > max_answer_length:
                        continue
                    prelim.append((starts[s] + ends[e], fi, s, e))
        prelim.sort(key=lambda p: p[0], reverse=True)
        seen: set[str] = set()
        best = None
        for _, fi, s, e in prelim:
            if len(seen) >= n_best:
                break
            f = features[fi]
            tok_text = " ".join(f.tokens[s:e + 1]).replace(" ##", "").replace("##", "")
            tok_text = " ".join(tok_text.strip().split())
            orig_text = " ".join(ex.doc_tokens[f.token_to_orig_map[s]:f.token_to_orig_map[e] + 1])
            text = final_text(tok_text, orig_text)
            if text in seen:
                continue
            seen.add(text)
            if best is None:
                best = text
        out[ex.qas_id] = best if best is not None else "empty"
    return out


def logits_of(entries: list[dict]) -> dict[int, np.ndarray]:
    """qsl_idx -> (seq, 2) float32 logits from LoadGen accuracy-log entries."""
    return {int(e["qsl_idx"]): np.frombuffer(bytes.fromhex(e["data"]), np.float32).reshape(-1, 2)
            for e in entries}


def score_log(entries: list[dict], data: list[dict], vocab_file: str | Path) -> dict[str, float]:
    """What accuracy-squad.py reports for an accuracy log: every question of ``data`` counts."""
    examples = read_examples(data)
    features = convert_examples(examples, FullTokenizer(vocab_file))
    return evaluate(data, predictions(examples, features, logits_of(entries)))
