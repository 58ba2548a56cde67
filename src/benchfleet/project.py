"""Where the playbooks, roles and plugins are (the repository or BENCHFLEET_HOME)."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    env = os.environ.get("BENCHFLEET_HOME")
    candidates = [Path(env)] if env else []
    candidates += [Path(__file__).resolve().parents[2], Path.cwd()]
    for c in candidates:
        if (c / "playbooks" / "sweep.yml").is_file():
            return c
    raise FileNotFoundError(
        "benchfleet: playbooks/sweep.yml not found; run from the benchfleet checkout or set BENCHFLEET_HOME"
    )
