"""Where the playbooks, roles, plugins and ansible.cfg are: in the installed package (package data), or in
BENCHFLEET_HOME when the user names a folder. Never the current folder: a folder holding its own
playbooks/sweep.yml must not decide what benchfleet runs."""

from __future__ import annotations

import os
from pathlib import Path

# src/benchfleet/ansible_content: links to the repository's top-level playbooks/, roles/, plugins/, inventories/,
# meta/, ansible.cfg and galaxy.yml (the repository is also the benchfleet.mlperf collection); a wheel holds copies.
CONTENT = Path(__file__).resolve().parent / "ansible_content"


def home() -> Path:
    """The folder holding playbooks/, roles/, plugins/, inventories/ and ansible.cfg."""
    env = os.environ.get("BENCHFLEET_HOME")
    if env:
        if not (Path(env) / "playbooks" / "sweep.yml").is_file():
            raise FileNotFoundError(f"BENCHFLEET_HOME={env}: no playbooks/sweep.yml there; unset BENCHFLEET_HOME to "
                                    "use the playbooks installed with benchfleet")
        return Path(env).resolve()
    if not (CONTENT / "playbooks" / "sweep.yml").is_file():
        raise FileNotFoundError(f"benchfleet: {CONTENT / 'playbooks' / 'sweep.yml'} is missing: the installation "
                                "is incomplete; reinstall benchfleet (pip install --force-reinstall benchfleet)")
    return CONTENT


def source() -> Path | None:
    """The benchfleet source tree this package runs from (a checkout, editable install), or None (a wheel)."""
    root = Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file() and (root / "src" / "benchfleet" / "__init__.py").is_file():
        return root
    return None
