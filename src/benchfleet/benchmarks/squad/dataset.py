"""SQuAD v1.1 dev (``dev-v1.1.json``) read as the reference's create_squad_data.py reads it: one example per
question, the paragraph split on whitespace."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

DEV_FILE, VOCAB_FILE = "dev-v1.1.json", "vocab.txt"  # the dataset and the model's WordPiece vocabulary


def load_dataset(path: str | Path) -> list[dict]:
    return json.loads(Path(path).read_text(encoding="utf-8"))["data"]


@dataclass
class Example:
    qas_id: str
    question: str
    doc_tokens: list[str]


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
