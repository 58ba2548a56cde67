"""BERT's uncased WordPiece tokenizer (vocab.txt), the algorithm the MLPerf BERT reference uses.

Basic tokenization: clean control characters, split CJK characters apart, lower case and strip
accents, split on whitespace and punctuation. Then each word is cut greedily into the longest
vocabulary pieces, continuation pieces prefixed ``##``; a word that cannot be cut, or one longer
than 200 characters, becomes ``[UNK]``.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

UNK, CLS, SEP, PAD = "[UNK]", "[CLS]", "[SEP]", "[PAD]"
MAX_WORD_CHARS = 200


def load_vocab(path: str | Path) -> dict[str, int]:
    vocab: dict[str, int] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            token = line.rstrip("\n").strip()
            if token and token not in vocab:
                vocab[token] = len(vocab)
    return vocab


def _is_whitespace(ch: str) -> bool:
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def _is_control(ch: str) -> bool:
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch) in ("Cc", "Cf")


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp: int) -> bool:
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


class BasicTokenizer:
    def __init__(self, do_lower_case: bool = True):
        self.do_lower_case = do_lower_case

    def tokenize(self, text: str) -> list[str]:
        cleaned = []
        for ch in text:
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD or _is_control(ch):
                continue
            if _is_cjk(cp):
                cleaned.append(f" {ch} ")
            else:
                cleaned.append(" " if _is_whitespace(ch) else ch)
        out: list[str] = []
        for word in "".join(cleaned).split():
            if self.do_lower_case:
                word = "".join(c for c in unicodedata.normalize("NFD", word.lower())
                               if unicodedata.category(c) != "Mn")
            out.extend(self._split_punct(word))
        return " ".join(out).split()

    @staticmethod
    def _split_punct(word: str) -> list[str]:
        pieces: list[list[str]] = []
        start_new = True
        for ch in word:
            if _is_punctuation(ch):
                pieces.append([ch])
                start_new = True
            else:
                if start_new:
                    pieces.append([])
                start_new = False
                pieces[-1].append(ch)
        return ["".join(p) for p in pieces]


class WordpieceTokenizer:
    def __init__(self, vocab: dict[str, int], unk: str = UNK, max_chars: int = MAX_WORD_CHARS):
        self.vocab, self.unk, self.max_chars = vocab, unk, max_chars

    def tokenize(self, text: str) -> list[str]:
        out: list[str] = []
        for word in text.split():
            if len(word) > self.max_chars:
                out.append(self.unk)
                continue
            pieces, start = [], 0
            while start < len(word):
                end, found = len(word), None
                while start < end:
                    piece = word[start:end] if start == 0 else "##" + word[start:end]
                    if piece in self.vocab:
                        found = piece
                        break
                    end -= 1
                if found is None:
                    pieces = None
                    break
                pieces.append(found)
                start = end
            out.extend(pieces if pieces is not None else [self.unk])
        return out


class FullTokenizer:
    def __init__(self, vocab_file: str | Path, do_lower_case: bool = True):
        self.vocab = load_vocab(vocab_file)
        self.basic = BasicTokenizer(do_lower_case)
        self.wordpiece = WordpieceTokenizer(self.vocab)

    def tokenize(self, text: str) -> list[str]:
        return [p for tok in self.basic.tokenize(text) for p in self.wordpiece.tokenize(tok)]

    def convert_tokens_to_ids(self, tokens: list[str]) -> list[int]:
        return [self.vocab[t] for t in tokens]
