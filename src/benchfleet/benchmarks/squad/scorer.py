"""SQuAD v1.1 scoring for BERT (bert-99, bert-99.9): exact match and F1 as the official evaluation
script (evaluate-v1.1.py) computes them, which the MLPerf reference's accuracy-squad.py calls.

Featurization follows the reference's create_squad_data.py (max_seq_length 384, doc_stride 128,
max_query_length 64) and post-processing its accuracy-squad.py (n-best 20, answers of at most 30
tokens, projection of the WordPiece span back onto the original text).
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchfleet.text.wordpiece import CLS, SEP, UNK, BasicTokenizer, FullTokenizer

MAX_SEQ_LENGTH = 384
DOC_STRIDE = 128
MAX_QUERY_LENGTH = 64
N_BEST = 20
MAX_ANSWER_LENGTH = 30
FIRST_UNIQUE_ID = 1_000_000_000

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


# ---- featurization (create_squad_data.py) -------------------------------------------------------

@dataclass
class Example:
    qas_id: str
    question: str
    doc_tokens: list[str]


@dataclass
class Feature:
    unique_id: int
    example_index: int
    tokens: list[str]
    token_to_orig_map: dict[int, int]
    token_is_max_context: dict[int, bool]
    input_ids: list[int]
    input_mask: list[int]
    segment_ids: list[int] = field(default_factory=list)


def _squad_whitespace(c: str) -> bool:
    return c in " \t\r\n" or ord(c) == 0x202F


def read_examples(data: list[dict]) -> list[Example]:
    """Questions of the ``data`` list of dev-v1.1.json, paragraphs split on whitespace as the reference does."""
    out: list[Example] = []
    for article in data:
        for paragraph in article["paragraphs"]:
            doc_tokens: list[str] = []
            prev_ws = True
            for c in paragraph["context"]:
                if _squad_whitespace(c):
                    prev_ws = True
                else:
                    if prev_ws:
                        doc_tokens.append(c)
                    else:
                        doc_tokens[-1] += c
                    prev_ws = False
            for qa in paragraph["qas"]:
                out.append(Example(qa["id"], qa["question"], doc_tokens))
    return out


def _is_max_context(spans: list[tuple[int, int]], cur: int, position: int) -> bool:
    best_score, best = None, None
    for i, (start, length) in enumerate(spans):
        end = start + length - 1
        if position < start or position > end:
            continue
        score = min(position - start, end - position) + 0.01 * length
        if best_score is None or score > best_score:
            best_score, best = score, i
    return cur == best


# The reference's squad_QSL.py tokenizes with transformers' BertTokenizer, which keeps its special tokens whole
# where the text holds them ("[SEP]" is one token; the basic tokenizer alone cuts it into "[", "sep", "]").
_SPECIAL_TOKENS = re.compile(r"(\[PAD\]|\[UNK\]|\[CLS\]|\[SEP\]|\[MASK\])")


def tokenize(tokenizer: FullTokenizer, text: str) -> list[str]:
    """``text`` cut as the reference's BertTokenizer cuts it: special tokens kept whole (``[UNK]`` when the
    vocabulary lacks one, which has its id), everything between them by ``tokenizer``."""
    out: list[str] = []
    for k, piece in enumerate(_SPECIAL_TOKENS.split(text)):
        if k % 2:
            out.append(piece if piece in tokenizer.vocab else UNK)
        elif piece:
            out.extend(tokenizer.tokenize(piece))
    return out


def convert_examples(examples: list[Example], tokenizer: FullTokenizer, max_seq_length: int = MAX_SEQ_LENGTH,
                     doc_stride: int = DOC_STRIDE, max_query_length: int = MAX_QUERY_LENGTH) -> list[Feature]:
    features: list[Feature] = []
    unique_id = FIRST_UNIQUE_ID
    for ex_index, ex in enumerate(examples):
        query = tokenize(tokenizer, ex.question)[:max_query_length]
        tok_to_orig: list[int] = []
        all_doc: list[str] = []
        for i, token in enumerate(ex.doc_tokens):
            for sub in tokenize(tokenizer, token):
                tok_to_orig.append(i)
                all_doc.append(sub)
        max_doc = max_seq_length - len(query) - 3
        spans: list[tuple[int, int]] = []
        start = 0
        while start < len(all_doc):
            length = min(len(all_doc) - start, max_doc)
            spans.append((start, length))
            if start + length == len(all_doc):
                break
            start += min(length, doc_stride)
        for span_index, (span_start, span_len) in enumerate(spans):
            tokens = [CLS, *query, SEP]
            segment_ids = [0] * len(tokens)
            to_orig: dict[int, int] = {}
            max_ctx: dict[int, bool] = {}
            for i in range(span_len):
                split = span_start + i
                to_orig[len(tokens)] = tok_to_orig[split]
                max_ctx[len(tokens)] = _is_max_context(spans, span_index, split)
                tokens.append(all_doc[split])
                segment_ids.append(1)
            tokens.append(SEP)
            segment_ids.append(1)
            input_ids = tokenizer.convert_tokens_to_ids(tokens)
            input_mask = [1] * len(input_ids)
            pad = max_seq_length - len(input_ids)
            features.append(Feature(unique_id, ex_index, tokens, to_orig, max_ctx, input_ids + [0] * pad,
                                    input_mask + [0] * pad, segment_ids + [0] * pad))
            unique_id += 1
    return features


def feature_arrays(features: list[Feature]) -> np.ndarray:
    """(N, 3, seq) int32: input_ids, input_mask, segment_ids of every feature (the samples LoadGen indexes)."""
    return np.asarray([[f.input_ids, f.input_mask, f.segment_ids] for f in features], dtype=np.int32)


# ---- post-processing (accuracy-squad.py) --------------------------------------------------------

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


def load_dataset(path: str | Path) -> list[dict]:
    return json.loads(Path(path).read_text(encoding="utf-8"))["data"]
