"""The run directory ``runs/<run-id>/``: the plan, each cell's state, every fetched log.

    plan.json                 the expanded plan (written once)
    sweep.yml                 the sweep file as given
    hosts/<host>.json         facts and inventory overrides of each host (for system descriptions)
    cells/<cell-id>/          a finished cell: cell.json, SHA256SUMS, results/ (moved in atomically)
    status/<cell-id>.json     the last state of a cell that is not finished (running, failed); the states and
                              their transitions are benchfleet.sweep.cells', written by RunDir.record
    status/_host-<host>.json  a host-level failure (unreachable, set-up)
    incoming/                 archives being fetched (never read as results)
    ansible/                  ansible-runner private data dir: artifacts/<ident>/job_events is the event stream
    ansible/aggregated-<ident>  the callback rebuilt the aggregate at the end of invocation <ident>
    submission/, results.json, results.csv   the aggregate, rebuilt from cells/ after every invocation

    .lock                     the pid of the one process writing the run (flock held while it lives)

Only finished cells live in ``cells/``; a crash or Ctrl-C leaves at most a stray file in
``incoming/``, a ``.tmp`` folder or a ``.<name>.<random>.tmp`` file, all ignored and cleaned up by the
next invocation once it holds the lock (never before: they may be another writer's files in flight).

The folder is 0700 and the files ``write_atomic`` writes 0600, whatever the umask: they hold host
addresses, instance ids and home folders.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from benchfleet.sweep.cells import DONE, FAILED, PENDING, RUNNING, CellState, Change, HostFailed, HostFine, not_run
from benchfleet.sweep.plan import Plan

__all__ = ["DONE", "FAILED", "PENDING", "RUNNING", "CellState", "RunDir", "RunLocked", "write_atomic"]

def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (0600) all at once or not at all: on any failure the temp file goes too."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # mode 0600
    try:
        with open(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _private_dir(path: Path) -> None:
    """``path`` as a folder only its owner can enter, whatever the umask and whether or not it existed."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


class RunLocked(Exception):
    """Another live process writes this run: ``pid`` as it wrote it into ``.lock`` (empty if not yet)."""

    def __init__(self, root: Path, pid: str):
        self.root, self.pid = root, pid
        who = f"pid {pid}" if pid else "a process that has not written its pid yet"
        super().__init__(
            f"run directory {root}: in use by another benchfleet, {who} ({root / '.lock'}); wait for it to end "
            f"(`benchfleet status {root.name} --runs-dir {root.parent}` shows its progress), or check that "
            f"{'pid ' + pid if pid else 'it'} is gone (`ps -p {pid or '<pid>'}`): the lock ends with that process "
            "and any it started")


# root (resolved) -> the open lock file, kept for the life of the process: closing it releases the flock.
_HELD: dict[Path, int] = {}
# Where write_atomic writes; a finished cell's own files (cells/) are the host's and never cleaned here.
_TEMP_DIRS = ("", "status", "hosts", "cloud", "ansible")


def _float(x) -> float | None:
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


class RunDir:
    def __init__(self, root: Path):
        self.root = Path(root)

    # paths
    @property
    def plan_path(self) -> Path:
        return self.root / "plan.json"

    def cell_dir(self, cell_id: str) -> Path:
        return self.root / "cells" / cell_id

    def host_file(self, host: str) -> Path:
        return self.root / "hosts" / f"{host}.json"

    def status_file(self, cell_id: str) -> Path:
        return self.root / "status" / f"{cell_id}.json"

    def host_status_file(self, host: str) -> Path:
        return self.root / "status" / f"_host-{host}.json"

    def exists(self) -> bool:
        return self.plan_path.is_file()

    # the one writer
    def lock(self) -> None:
        """Become the run's one writer until this process ends (or ``unlock``); raise RunLocked if another is.

        Creates the folder (0700) if need be, and cleans what an earlier writer's crash left half-written.
        Read-only commands (status) never call this.
        """
        key = self.root.resolve()
        if key in _HELD:
            return
        _private_dir(self.root)
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            os.close(fd)
            raise RunLocked(self.root, pid) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        _HELD[key] = fd
        self._clean_temp_files()

    def unlock(self) -> None:
        fd = _HELD.pop(self.root.resolve(), None)
        if fd is not None:
            os.close(fd)  # releases the flock; the file stays, it is only ever locked, never removed

    def _clean_temp_files(self) -> None:
        """Remove the temp files a crashed ``write_atomic`` left (only safe while holding the lock)."""
        for sub in _TEMP_DIRS:
            folder = self.root / sub
            for p in folder.glob(".*.tmp") if folder.is_dir() else []:
                if p.is_file() and not p.is_symlink():
                    p.unlink(missing_ok=True)

    def plan(self) -> Plan:
        return Plan.from_json(self.plan_path.read_text())

    def save_plan(self, plan: Plan, sweep_text: str | None = None) -> None:
        _private_dir(self.root)
        write_atomic(self.plan_path, plan.to_json())
        if sweep_text is not None:
            write_atomic(self.root / "sweep.yml", sweep_text)

    def done(self, cell_id: str) -> bool:
        return (self.cell_dir(cell_id) / "cell.json").is_file()

    def cell_record(self, cell_id: str) -> dict:
        return json.loads((self.cell_dir(cell_id) / "cell.json").read_text())

    def aggregated_marker(self, session: str) -> Path:
        """Written by the callback once it has rebuilt the tree at the end of invocation ``session`` (the
        ansible-runner ident); without it the controller aggregates."""
        return self.root / "ansible" / f"aggregated-{session}"

    # the one writer of status/ and hosts/
    def record(self, changes: Iterable[Change]) -> None:
        """Persist what :mod:`benchfleet.sweep.cells` says changed. A finished cell's state is its folder in
        cells/: its status file goes (a host lost right after the cell came home leaves it done)."""
        for ch in changes:
            if isinstance(ch, CellState):
                if ch.state == DONE or self.done(ch.cell):
                    self.status_file(ch.cell).unlink(missing_ok=True)
                else:
                    self.write_status(ch)
            elif isinstance(ch, HostFailed):
                self.write_host_failure(ch.host, ch.kind, ch.task, ch.message)
            elif isinstance(ch, HostFine):
                if ch.facts is not None:
                    self._write_host_record(ch.host, ch.facts)
                self.clear_host_failure(ch.host)

    def _write_host_record(self, host: str, facts: dict) -> None:
        p = self.host_file(host)
        rec = json.loads(p.read_text()) if p.is_file() else {"facts": {}, "overrides": {}}
        rec["facts"] = facts
        rec["facts_time"] = time.time()
        rec["overrides"] = facts.get("overrides") or {}
        write_atomic(p, json.dumps(rec, indent=1, default=str))

    def write_status(self, st: CellState) -> None:
        write_atomic(self.status_file(st.cell), json.dumps(st.__dict__, indent=2))

    def write_host_failure(self, host: str, kind: str, task: str, message: str) -> None:
        write_atomic(self.host_status_file(host), json.dumps(
            {"host": host, "kind": kind, "task": task, "message": message, "time": time.time()}, indent=2))

    def clear_host_failure(self, host: str) -> None:
        self.host_status_file(host).unlink(missing_ok=True)

    def host_failure(self, host: str) -> dict | None:
        p = self.host_status_file(host)
        return json.loads(p.read_text()) if p.is_file() else None

    def states(self, plan: Plan | None = None) -> dict[str, CellState]:
        plan = plan or self.plan()
        out: dict[str, CellState] = {}
        for c in plan.cells:
            if self.done(c.id):
                rec = self.cell_record(c.id)
                took = _float(rec.get("harness_seconds"))
                finished = _float(rec.get("accepted"))
                out[c.id] = CellState(c.id, c.host, DONE, finished=finished,
                                      started=finished - took if finished and took is not None else None,
                                      validity=rec.get("validity", ""))
                continue
            p = self.status_file(c.id)
            if p.is_file():
                d = json.loads(p.read_text())
                out[c.id] = CellState(**{k: d.get(k) for k in CellState.__dataclass_fields__})
            else:
                out[c.id] = CellState(c.id, c.host, PENDING)
            hf = self.host_failure(c.host)
            if hf:
                out[c.id] = not_run(out[c.id], HostFailed(c.host, hf["kind"], hf["task"], hf["message"]))
        return out

    def pending(self, plan: Plan | None = None) -> list[str]:
        plan = plan or self.plan()
        return [c.id for c in plan.cells if not self.done(c.id)]

    def clean_partials(self) -> None:
        """Drop what an interrupted invocation left half-written (never a finished cell)."""
        import shutil

        for p in (self.root / "cells").glob(".*.tmp") if (self.root / "cells").is_dir() else []:
            shutil.rmtree(p, ignore_errors=True)
        for p in (self.root / "incoming").glob("*") if (self.root / "incoming").is_dir() else []:
            p.unlink(missing_ok=True)
