"""Files of submission trees: where a tree is, and copying one without following anything out of it."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path


class TreeFileError(ValueError):
    """Something in a tree that is not a regular file or folder (a link, a device) where one was expected."""


def submission_root(path: Path) -> Path:
    """The folder holding closed/ or open/: ``path``, or a benchfleet run directory's submission/."""
    if not (path / "closed").exists() and not (path / "open").exists() and (path / "submission").is_dir():
        return path / "submission"
    return path


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
