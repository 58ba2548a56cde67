# Copyright: benchfleet contributors
# Apache License 2.0
# Private to benchfleet.mlperf: other collections must not import it; it may change at any time.
"""The cell folder on a host, as the harness_cell module reads and writes it.

harness_cell starts ``python -m benchfleet.harness --spec spec.json --out results`` in the folder; the harness
writes progress.log, measuring and heartbeat beside results/. The harness keeps its own copy of those three
names (benchfleet.harness.run, which runs on hosts without the collection); tests/test_host_boundary.py holds
the two equal. Standard library only: this file runs under the host's Ansible interpreter.
"""

from __future__ import annotations

import hashlib
import os

SPEC, PID, RC, RC_TMP, SESSION = "spec.json", "pid", "rc", "rc.tmp", "session"
STDOUT, STDERR = "stdout.log", "stderr.log"
# written by the harness beside results/ (its copy: benchfleet.harness.run.CELL_FILES)
PROGRESS, MEASURING, HEARTBEAT = "progress.log", "measuring", "heartbeat"
CURSOR = "progress.cursor"  # how many progress lines the follower has returned
RESULTS, HARNESS_JSON, ARCHIVE = "results", "harness.json", "results.tgz"
HARNESS_MODULE = "benchfleet.harness"

# What the harness writes, by role: the names benchfleet.harness.run.CELL_FILES must equal.
HARNESS_WRITES = {"progress": PROGRESS, "measuring": MEASURING, "heartbeat": HEARTBEAT}
# Removed before a (re)start, so nothing of an earlier attempt is taken for this one.
FRESH_START = (RC, RC_TMP, ARCHIVE, STDERR, STDOUT, PROGRESS, CURSOR, MEASURING, HEARTBEAT)
# The shell line the harness runs under ("$0" is the interpreter): rc appears, complete, when it exits.
SCRIPT = (f'"$0" -m {HARNESS_MODULE} --spec {SPEC} --out {RESULTS} >{STDOUT} 2>{STDERR}; '
          f'echo $? >{RC_TMP}; mv {RC_TMP} {RC}')


def read_text(path: str, default: str = "") -> str:
    """The file's text, or ``default`` when it cannot be read."""
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class CellFolder:
    """One cell's folder on the host: the files of the protocol, read and written by name."""

    def __init__(self, path: str):
        self.path = path

    def file(self, *names: str) -> str:
        return os.path.join(self.path, *names)

    def read(self, name: str, default: str = "") -> str:
        return read_text(self.file(name), default)

    def write(self, name: str, text: str) -> None:
        with open(self.file(name), "w") as f:
            f.write(text)

    def write_atomic(self, name: str, text: str) -> None:
        tmp = self.file(name) + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.file(name))

    def exists(self, *names: str) -> bool:
        return os.path.exists(self.file(*names))

    def mtime(self, name: str) -> float | None:
        try:
            return os.stat(self.file(name)).st_mtime
        except OSError:
            return None

    def remove_for_start(self) -> None:
        for name in FRESH_START:
            try:
                os.unlink(self.file(name))
            except OSError:
                pass

    def alive(self) -> int | None:
        """The harness's pid while its process runs the harness, else None."""
        pid = self.read(PID).strip()
        if not pid.isdigit():
            return None
        try:
            os.kill(int(pid), 0)
        except OSError:
            return None
        cmdline = read_text(f"/proc/{pid}/cmdline")
        return int(pid) if HARNESS_MODULE in cmdline else None

    def rc(self) -> int | None:
        """The harness's exit status once it has exited."""
        text = self.read(RC).strip()
        return int(text) if text.lstrip("-").isdigit() else None

    def done(self) -> bool:
        """Finished successfully earlier: exit 0 and results/harness.json."""
        return self.rc() == 0 and os.path.isfile(self.file(RESULTS, HARNESS_JSON))

    def last_line(self) -> str:
        lines = self.read(PROGRESS).strip().splitlines()
        return lines[-1] if lines else ""

    def new_lines(self, peek: bool = False) -> list[str]:
        """Progress lines after the follower's cursor; the cursor moves unless peek."""
        lines = self.read(PROGRESS).splitlines()
        seen = self.read(CURSOR).strip()
        new = lines[int(seen) if seen.isdigit() else 0:]
        if new and not peek:
            self.write_atomic(CURSOR, str(len(lines)))
        return new

    def started_at(self) -> float | None:
        """When the harness was started: the pid file's time."""
        return self.mtime(PID)

    def times(self) -> dict[str, float]:
        """When the harness started (pid file) and ended (rc file), as epoch seconds."""
        out = {}
        for key, name in (("started_at", PID), ("ended_at", RC)):
            value = self.mtime(name)
            if value is not None:
                out[key] = value
        return out

    def last_sign_of_life(self) -> float | None:
        """The latest of a progress line, a heartbeat and the start."""
        marks = [m for m in (self.mtime(n) for n in (PROGRESS, HEARTBEAT, PID)) if m is not None]
        return max(marks) if marks else None
