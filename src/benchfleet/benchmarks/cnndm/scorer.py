"""GPT-J on CNN/DailyMail: the reference prompt, the samples LoadGen indexes, and scoring a log.

Prompt: the Alpaca-style template of the reference dataset.py around the record's instruction
and article. Responses in the accuracy log are the generated token ids as int64, which
evaluation.py decodes (special tokens skipped) before ROUGE.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from benchfleet.harness import rouge
from benchfleet.text.bpe import ByteBPE

INSTRUCTION = "Summarize the following news article:"
PROMPT_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:"
)
MAX_PROMPT_TOKENS = 1919  # the reference truncates encoded prompts to this many tokens


def prompt(record: dict) -> str:
    return PROMPT_INPUT.format_map(record)


def load_records(path: str | Path) -> list[dict]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def encode_prompts(records: list[dict], tok: ByteBPE) -> list[list[int]]:
    return [tok.encode(prompt(r))[:MAX_PROMPT_TOKENS] for r in records]


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
