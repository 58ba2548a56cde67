"""Numbers spelled out as the reference's transcript normalization does (parts/text/numbers.py, from tacotron,
with its time and year rules), with the ``inflect`` package it uses. LibriSpeech's transcripts have no digits:
this runs only for other manifests."""

from __future__ import annotations

import re

_COMMA_NUMBER = re.compile(r"([0-9][0-9\,]+[0-9])")
_DECIMAL_NUMBER = re.compile(r"([0-9]+\.[0-9]+)")
_POUNDS = re.compile(r"£([0-9\,]*[0-9]+)")
_DOLLARS = re.compile(r"\$([0-9\.\,]*[0-9]+)")
_ORDINAL = re.compile(r"[0-9]+(st|nd|rd|th)")
_NUMBER = re.compile(r"[0-9]+")
_TIME = re.compile(r"([0-9]{1,2}):([0-9]{2})")

_engine = None


def require_inflect() -> None:
    _inflect()


def _inflect():
    global _engine
    if _engine is None:
        import inflect

        _engine = inflect.engine()
    return _engine


def _dollars(m: re.Match) -> str:
    parts = m.group(1).split(".")
    if len(parts) > 2:
        return m.group(1) + " dollars"
    dollars = int(parts[0]) if parts[0] else 0
    cents = int(parts[1]) if len(parts) > 1 and parts[1] else 0
    d_unit = "dollar" if dollars == 1 else "dollars"
    c_unit = "cent" if cents == 1 else "cents"
    if dollars and cents:
        return f"{dollars} {d_unit}, {cents} {c_unit}"
    if dollars:
        return f"{dollars} {d_unit}"
    if cents:
        return f"{cents} {c_unit}"
    return "zero dollars"


def _number(m: re.Match) -> str:
    words = _inflect().number_to_words
    digits = m.group(0)
    if int(digits[0]) == 0:
        return words(digits, andword="", group=1)
    num = int(digits)
    if 1000 < num < 3000:
        if num == 2000:
            return "two thousand"
        if 2000 < num < 2010:
            return "two thousand " + words(num % 100)
        if num % 100 == 0:
            return words(num // 100) + " hundred"
        return words(num, andword="", zero="oh", group=2).replace(", ", " ")
    if num > 1000000000 and num % 10000 != 0:
        return words(num, andword="", group=1)
    return words(num, andword="")


def _time(m: re.Match) -> str:
    words = _inflect().number_to_words
    if int(m.group(2)) == 0:
        return words(m.group(1))
    return " ".join([words(m.group(1)), words(m.group(2))])


def normalize_numbers(text: str) -> str:
    text = _COMMA_NUMBER.sub(lambda m: m.group(1).replace(",", ""), text)
    text = _POUNDS.sub(r"\1 pounds", text)
    text = _DOLLARS.sub(_dollars, text)
    text = _DECIMAL_NUMBER.sub(lambda m: m.group(1).replace(".", " point "), text)
    text = _ORDINAL.sub(lambda m: _inflect().number_to_words(m.group(0)), text)
    text = _NUMBER.sub(_number, text)
    return _TIME.sub(_time, text)
