"""Files of submission trees: where a tree is, and copying one without following anything out of it."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

RESULTS = "results.json"  # a benchfleet run directory's summary, one row per result
RESULTS_MAX_BYTES = 50 << 20  # as the tree's files


class TreeFileError(ValueError):
    """Something in a tree that is not a regular file or folder (a link, a device) where one was expected."""


def submission_root(path: Path) -> Path:
    """The folder holding closed/ or open/: ``path``, or a benchfleet run directory's submission/."""
    if not (path / "closed").exists() and not (path / "open").exists() and (path / "submission").is_dir():
        return path / "submission"
    return path


def run_results(path: Path) -> dict[tuple[str, str, str], dict]:
    """(system, benchmark, scenario) -> that result's row in benchfleet run directory ``path``'s results.json (which
    a tree alone has not: nothing). Rows come as written: a reader takes the fields it needs, each checked."""
    f = path / RESULTS
    try:
        if f.is_symlink() or not f.is_file() or f.stat().st_size > RESULTS_MAX_BYTES:
            return {}  # a link or a file no run writes: read nothing
        data = json.loads(f.read_text())
    except (OSError, ValueError):
        return {}
    rows = data.get("results") if isinstance(data, dict) else None
    return {(str(r.get("system")), str(r.get("benchmark")), str(r.get("scenario"))): r
            for r in rows if isinstance(r, dict)} if isinstance(rows, list) else {}


def copy_regular(src: Path, dst: Path, missing_only: bool = False) -> int:
    """Copy folder ``src`` to ``dst``: folders and regular files only (the input was checked, and a link or
    device found now is refused all the same); ``missing_only``: files ``dst`` already has are kept. Returns the
    number of files copied."""
    n = 0
    dst.mkdir(parents=True, exist_ok=True)
    with os.scandir(src) as it:
        entries = sorted(it, key=lambda e: e.name)
    for e in entries:
        st = e.stat(follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            n += copy_regular(src / e.name, dst / e.name, missing_only)
        elif stat.S_ISREG(st.st_mode):
            if missing_only and (dst / e.name).exists():
                continue
            shutil.copyfile(src / e.name, dst / e.name, follow_symlinks=False)
            n += 1
        else:
            raise TreeFileError(f"{src / e.name}: not a regular file or folder (a link or device); it was not in the "
                             "tree when it was checked: check the input again")
    return n
