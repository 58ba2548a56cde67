"""GPT-2 byte-level BPE (the tokenizer GPT-J uses), from ``vocab.json`` and ``merges.txt``.

Text is split with GPT-2's pre-tokenization pattern, each piece's UTF-8 bytes are mapped to
printable characters, then merged pair by pair in the order of ``merges.txt``. Decoding maps the
tokens' characters back to bytes. Special tokens (``<|endoftext|>``) are skipped when asked.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import regex

PATTERN = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")
EOS = "<|endoftext|>"
VOCAB_FILE, MERGES_FILE = "vocab.json", "merges.txt"


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    chars = list(keep)
    extra = 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            chars.append(256 + extra)
            extra += 1
    return {b: chr(c) for b, c in zip(keep, chars, strict=True)}


class ByteBPE:
    def __init__(self, vocab: dict[str, int], merges: list[tuple[str, str]]):
        self.encoder = vocab
        self.decoder = {v: k for k, v in vocab.items()}
        self.ranks = {pair: i for i, pair in enumerate(merges)}
        self.byte_encoder = bytes_to_unicode()
        self.byte_decoder = {v: k for k, v in self.byte_encoder.items()}
        self.eos_id = vocab.get(EOS)
        self._cache: dict[str, list[str]] = {}

    @classmethod
    def load(cls, folder: str | Path) -> ByteBPE:
        folder = Path(folder)
        vocab = json.loads((folder / VOCAB_FILE).read_text(encoding="utf-8"))
        merges = []
        for line in (folder / MERGES_FILE).read_text(encoding="utf-8").splitlines():
            if line.startswith("#version") or not line.strip():
                continue
            a, b = line.split()
            merges.append((a, b))
        return cls(vocab, merges)

    def _bpe(self, piece: str) -> list[str]:
        if piece in self._cache:
            return self._cache[piece]
        word = list(piece)
        while len(word) > 1:
            pairs = {(word[i], word[i + 1]) for i in range(len(word) - 1)}
            best = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if best not in self.ranks:
                break
            merged, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        self._cache[piece] = word
        return word

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` as transformers' GPT2Tokenizer gives them (the reference's dataset.py): the
        special token ``<|endoftext|>`` is kept whole where the text holds it, the rest is byte-level BPE."""
        ids: list[int] = []
        parts = text.split(EOS) if self.eos_id is not None else [text]
        for k, part in enumerate(parts):
            if k:
                ids.append(self.eos_id)
            for piece in PATTERN.findall(part):
                mapped = "".join(self.byte_encoder[b] for b in piece.encode("utf-8"))
                ids.extend(self.encoder[t] for t in self._bpe(mapped))
        return ids

    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        toks = []
        for i in ids:
            t = self.decoder.get(int(i))
            if t is None or (skip_special_tokens and t == EOS):
                continue
            toks.append(t)
        data = bytes(self.byte_decoder[c] for c in "".join(toks) if c in self.byte_decoder)
        return data.decode("utf-8", errors="replace")


def write_word_level(folder: str | Path, words: list[str]) -> ByteBPE:
    """A small vocabulary in GPT-2's format whose merges build each of ``words`` (with and without a
    leading space) into one token; every byte is a token too, so any text encodes.

    Each word's merges join, left to right, the pieces the merges before it already make of the word: a merge
    ranks after every earlier one, so earlier words' merges (``ti`` of one word inside ``tiru`` of another) can
    no longer split it. A word that a later merge still splits (rare: a piece of its chain taking part in an
    earlier merge) gets a second chain in a second pass."""
    be = bytes_to_unicode()
    vocab: dict[str, int] = {}
    for b in range(256):
        vocab.setdefault(be[b], len(vocab))
    merges: list[tuple[str, str]] = []
    tok = ByteBPE(vocab, merges)  # shares vocab; its ranks and cache are refreshed below as merges grow

    def add(a: str, b: str) -> None:
        if (a, b) not in tok.ranks:
            merges.append((a, b))
            vocab.setdefault(a + b, len(vocab))
            tok.ranks[(a, b)] = len(merges) - 1
            tok._cache.clear()

    forms: list[str] = []
    for w in words:
        mapped = "".join(be[b] for b in w.encode("utf-8"))
        forms += [mapped, be[ord(" ")] + mapped]  # "word", then " word"
    for _ in range(3):
        split = [f for f in forms if len(tok._bpe(f)) > 1]
        if not split:
            break
        for form in split:
            pieces = tok._bpe(form)
            cur = pieces[0]
            for piece in pieces[1:]:
                add(cur, piece)
                cur = cur + piece
    vocab[EOS] = len(vocab)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / VOCAB_FILE).write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / MERGES_FILE).write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8")
    return ByteBPE(vocab, merges)
