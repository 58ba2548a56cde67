"""Cache entries: an exclusive lock so that hosts sharing a cache never build one twice at once, and the
version of the code that made an entry, so that a change of that code never reuses what the old code made."""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``<path>.lock`` for the duration of the block."""
    lock = Path(str(path) + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def code_version(*modules: str, extra: str = "") -> str:
    """A short hash of the source files of the named modules (``"benchfleet.benchmarks.generated"``) and of
    ``extra`` (e.g. another version string): any edit of that code gives a new version, without anyone
    having to remember to bump a number. The modules are located, not imported."""
    h = hashlib.sha256()
    for name in modules:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.origin or not Path(spec.origin).is_file():
            raise ValueError(f"code_version: no source file for module {name!r}")
        h.update(name.encode() + b"\0" + Path(spec.origin).read_bytes() + b"\0")
    h.update(extra.encode())
    return h.hexdigest()[:12]
