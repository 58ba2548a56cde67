"""Run ``ansible-test sanity`` (validate-modules by default) on the benchfleet.mlperf collection, offline.

    .venv/bin/python tests/ansible_sanity.py                 # validate-modules: DOCUMENTATION matches each spec
    .venv/bin/python tests/ansible_sanity.py --test import   # other sanity tests, ansible-test's own arguments

ansible-test only runs inside ``ansible_collections/<namespace>/<name>``, so the collection's files (galaxy.yml,
meta/, plugins/) are copied into a temporary folder laid out that way. ansible-test would also build a virtual
environment per sanity test, downloading pip and the test's pinned requirements; instead the test runs with this
venv (``--local``), which holds those requirements (voluptuous, antsibull-docs-parser: the ``test`` extra).
No network, no containers.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLLECTION = ("benchfleet", "mlperf")
CONTENT = ("galaxy.yml", "README.md", "meta", "plugins")
NEEDS = ("voluptuous", "antsibull_docs_parser")


# What the sanity tests may report, each with its reason (ansible-test's ignore file format). ansible-test wants
# one file per ansible-core version; this one is copied under the running version's name.
IGNORE = ROOT / "tests" / "sanity" / "ignore.txt"


def lay_out(dest: Path) -> Path:
    """Copy the collection into ``dest/ansible_collections/benchfleet/mlperf``; return that folder."""
    from ansible.release import __version__

    coll = dest.joinpath("ansible_collections", *COLLECTION)
    coll.mkdir(parents=True)
    for name in CONTENT:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, coll / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, coll / name)
    major_minor = ".".join(__version__.split(".")[:2])
    (coll / "tests" / "sanity").mkdir(parents=True)
    shutil.copy2(IGNORE, coll / "tests" / "sanity" / f"ignore-{major_minor}.txt")
    return coll


def _use_this_venv() -> None:
    """Make ansible-test run its sanity tests with this interpreter instead of a venv it would download."""
    from ansible_test._internal.commands import sanity
    from ansible_test._internal.host_configs import VirtualPythonConfig

    def this_venv(args, python, name, **_kw):
        return VirtualPythonConfig(version=python.version, path=sys.executable)

    sanity.create_sanity_virtualenv = this_venv
    sanity.check_sanity_virtualenv_yaml = lambda python: True


def main(argv: list[str]) -> int:
    missing = [m for m in NEEDS if not _importable(m)]
    if missing:
        print(f"ansible-test sanity needs {', '.join(missing)} in this venv: "
              f"{sys.executable} -m pip install voluptuous antsibull-docs-parser", file=sys.stderr)
        return 2
    tests = argv or ["--test", "validate-modules"]
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    # ansible-test looks for ``python<version>`` on PATH: this venv's
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    with tempfile.TemporaryDirectory(prefix="benchfleet-sanity-") as tmp:
        os.chdir(lay_out(Path(tmp)))
        _use_this_venv()
        from ansible_test._internal import main as ansible_test

        try:
            ansible_test(["ansible-test", "sanity", *tests, "--python", version, "--local", "--color", "no"])
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else 1
    return 0


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
