"""Text from hosts, made safe to print: control characters become visible escapes.

A host writes the messages, stderr tails, progress lines and system names the controller prints. Raw, they
reach the operator's terminal as commands: ``ESC [ 2 J`` clears the screen, ``ESC ] 52`` writes the
clipboard, ``ESC ] 0`` sets the title, cursor movement overwrites earlier results, ``\\x9b`` is CSI on
terminals that take 8-bit controls, and bidi overrides (U+202E) reorder what a line appears to say. Every
such character is printed as its escape (``\\x1b``, ``\\x9b``, ``\\u202e``) so that the operator sees it
and the terminal does not act on it.
"""

from __future__ import annotations

import re
import unicodedata

# C0 (but \n and \t, decided per call), DEL, C1, and the Unicode characters that change how text around
# them is shown rather than being shown: format controls (Cf: bidi embeddings, overrides and isolates,
# zero-width characters, the BOM), line and paragraph separators (Zl, Zp), surrogates and unassigned
# or private-use code points (Cs, Co, Cn) whose rendering is up to the terminal.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


def _is_unsafe(ch: str, keep: str) -> bool:
    return ch not in keep and unicodedata.category(ch) in _UNSAFE_CATEGORIES


def _escape(ch: str) -> str:
    o = ord(ch)
    if o <= 0xFF:
        return f"\\x{o:02x}"
    return f"\\u{o:04x}" if o <= 0xFFFF else f"\\U{o:08x}"


_PLAIN = re.compile(r"[ -~]*")  # printable ASCII only: nothing to escape, the common case


def for_terminal(text: object, *, multiline: bool = False) -> str:
    """``text`` (``str()`` of anything else) with every control character shown as an escape.

    One-line fields (a table cell, a progress line) also escape newline, carriage return and tab, so a host
    cannot start a line of its own that looks like the controller's. ``multiline`` keeps newline and tab.
    """
    s = text if isinstance(text, str) else str(text)
    if _PLAIN.fullmatch(s):
        return s
    keep = "\n\t" if multiline else ""
    return "".join(_escape(ch) if _is_unsafe(ch, keep) else ch for ch in s)
