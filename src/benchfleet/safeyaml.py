"""YAML that users hand to the controller (sweep files), read without trusting it.

``yaml.safe_load`` builds no objects, but it still follows anchors and aliases (a 720-byte file of nested
aliases expands to hundreds of millions of values once anything walks it), keeps the last of two equal keys
without a word, and raises ``UnicodeDecodeError`` tracebacks on bytes that are not UTF-8. This loader:

- refuses any anchor or alias (``&name``, ``*name``) at the line it appears, before anything expands;
- refuses a key given twice in one mapping, naming the key and both lines;
- reads bytes, at most ``MAX_BYTES``, and names the byte offset of the first one that is not UTF-8;
- refuses a folder, a missing file and nesting deeper than ``MAX_DEPTH``, each in one line.

Every refusal is a :class:`YamlInputError` whose text reads ``<what>; <how to fix it>`` (the caller adds
the file name).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent, CollectionStartEvent, NodeEvent

MAX_BYTES = 1 << 20  # a sweep file is a page of settings; 1 MiB is far more than any needs
MAX_DEPTH = 64  # nested mappings and lists


class YamlInputError(ValueError):
    """A YAML file the controller will not read; the message is one line and says what to change."""


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader without anchors, aliases or duplicate keys, and with a nesting limit."""

    def __init__(self, stream: str, what: str):
        super().__init__(stream)
        self._what = what
        self._depth = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, AliasEvent) or (isinstance(event, NodeEvent) and event.anchor is not None):
            name = event.anchor
            raise YamlInputError(f"line {event.start_mark.line + 1}: anchors and aliases (&{name}, *{name}) are "
                                 f"not accepted in a {self._what}; write each value out")
        nested = isinstance(event, CollectionStartEvent)
        if nested:
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise YamlInputError(f"line {event.start_mark.line + 1}: nested more than {MAX_DEPTH} levels "
                                     f"deep; a {self._what} needs a few")
        try:
            return super().compose_node(parent, index)
        finally:
            if nested:
                self._depth -= 1

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, int] = {}
            for key_node, _value in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    line = first.setdefault(key, key_node.start_mark.line + 1)
                except TypeError:  # an unhashable key: the constructor below says so
                    continue
                if line != key_node.start_mark.line + 1:
                    raise YamlInputError(f"line {key_node.start_mark.line + 1}: duplicate key {key!r} (first at "
                                         f"line {line}); give each key once")
        return super().construct_mapping(node, deep=deep)


def loads(text: str, what: str = "YAML file") -> Any:
    """Parse one YAML document under the rules above; ``what`` names the file's kind in messages."""
    loader = None
    try:
        loader = _StrictLoader(text, what)
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise YamlInputError(f"{where}not valid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise YamlInputError(f"not valid YAML: {' '.join(str(exc).split())}") from None
    finally:
        if loader is not None:
            loader.dispose()


def load_file(path: str | Path, what: str = "YAML file") -> Any:
    """Read and parse a user's YAML file; every refusal is one :class:`YamlInputError` line."""
    p = Path(path)
    if p.is_dir():
        raise YamlInputError(f"is a folder; give the {what}")
    if not p.exists():
        raise YamlInputError(f"does not exist; give the {what}")
    if not p.is_file():
        raise YamlInputError(f"is not a regular file; give the {what}")
    with open(p, "rb") as f:
        raw = f.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise YamlInputError(f"is larger than {MAX_BYTES} bytes; a {what} is a page of settings")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        offset = exc.start + (3 if raw.startswith(b"\xef\xbb\xbf") else 0)
        raise YamlInputError(f"not UTF-8 text: byte {offset} (0x{raw[offset]:02x}) cannot be decoded; save the "
                             "file as UTF-8") from None
    return loads(text, what)
