"""SQuAD featurization for BERT as the reference's create_squad_data.py does it: max_seq_length 384,
doc_stride 128, max_query_length 64; WordPiece tokens, spans of the document, and for each token whether
its span gives it the most context."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from benchfleet.benchmarks.squad.dataset import Example
from benchfleet.text.wordpiece import CLS, SEP, UNK, FullTokenizer

MAX_SEQ_LENGTH = 384
DOC_STRIDE = 128
MAX_QUERY_LENGTH = 64
FIRST_UNIQUE_ID = 1_000_000_000


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
