"""GPT-J prompts: the Alpaca-style template of the reference dataset.py around the record's instruction and
article, encoded with the GPT-J tokenizer and truncated as the reference does; LoadGen indexes the encoded
prompts."""

from __future__ import annotations

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


def encode_prompts(records: list[dict], tok: ByteBPE) -> list[list[int]]:
    return [tok.encode(prompt(r))[:MAX_PROMPT_TOKENS] for r in records]
