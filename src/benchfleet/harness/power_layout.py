"""The files of an MLPerf power result, as MLCommons' power client and server write them and the round's checker
reads them: beside the testing run's ``run_1/`` (which also holds ``spl.txt``), ``ranging/`` and ``power/``."""

from __future__ import annotations

import hashlib
from pathlib import Path

RUNS = ("ranging", "run_1")
RUN_FILES = ("mlperf_log_summary.txt", "mlperf_log_detail.txt", "spl.txt")
POWER_FILES = ("client.json", "client.log", "ptd_logs.txt", "server.json", "server.log")
# The harness's exit status when the power set-up (client, server, analyzer) failed: the cell fails as
# infrastructure, not as a benchmark (EX_TEMPFAIL).
POWER_EXIT = 75
# Set on a host (never by a sweep file) to run a power client whose sources the round does not accept: tests run
# benchfleet's double of the client with it; its results fail the power check's sources check.
UNVERIFIED_ENV = "BENCHFLEET_POWER_CLIENT_UNVERIFIED"


def client_sources(client_dir: Path) -> dict[str, str]:
    """The SHA-1 of every Python file under ``client_dir``/ptd_client_server/, by path below it: what MLCommons'
    power client records as its sources and the round's power check compares with the versions it accepts."""
    root = Path(client_dir) / "ptd_client_server"
    if not root.is_dir():
        raise FileNotFoundError(2, "no ptd_client_server folder", str(root))
    skip = {"__pycache__", ".mypy_cache", ".pytest_cache"}  # as power-dev's own source hashing leaves out
    return {p.relative_to(root).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest()  # noqa: S324 - theirs
            for p in sorted(root.rglob("*.py"))
            if p.is_file() and not skip & set(p.relative_to(root).parts[:-1])}


# How the harness starts the power client: an isolated Python (-I: neither the working folder nor PYTHON* variables
# on its path) that finds ptd_client_server/ in the client folder, placed last on the path, so that nothing else in
# that folder can stand in for a module the client imports.
CLIENT_BOOT = ("import runpy, sys; sys.path.append(sys.argv.pop(1)); "
               "runpy.run_module('ptd_client_server.client', run_name='__main__', alter_sys=True)")
