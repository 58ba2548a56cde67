"""Run a plan's pending cells: one ansible-runner invocation over every host that has work."""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

from benchfleet.sweep.aggregate import aggregate
from benchfleet.sweep.plan import Plan
from benchfleet.sweep.progress import Progress
from benchfleet.sweep.rundir import FAILED, RUNNING, RunDir


@dataclass
class Outcome:
    ran: list[str]  # cell ids this invocation tried
    summary: dict  # results.json
    ansible_rc: int | None
    interrupted: bool = False
    wall_s: float = 0.0


def prepare(rd: RunDir, plan: Plan, sweep_text: str | None) -> None:
    """Create the run directory with its plan, or check that an existing one holds the same plan."""
    if rd.exists():
        old = rd.plan()
        if [c.id for c in old.cells] != [c.id for c in plan.cells] or old.sweep != plan.sweep:
            raise ValueError(f"run directory {rd.root} holds another plan; use --resume {old.run_id} to continue "
                             "it, or give a new --run-id")
        return
    rd.root.mkdir(parents=True, exist_ok=True)
    plan.uid = plan.uid or uuid.uuid4().hex[:8]
    rd.save_plan(plan, sweep_text)


@contextmanager
def _signals_set(stop: threading.Event):
    """SIGINT/SIGTERM stop the playbook (ansible-runner cancels it) instead of killing the controller."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if stop.is_set():  # a second Ctrl-C: leave now
            raise KeyboardInterrupt
        stop.set()
        print("\nbenchfleet: stopping; finished cells are kept (Ctrl-C again to leave at once)", file=sys.stderr,
              flush=True)

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _mark_interrupted(rd: RunDir, plan: Plan) -> None:
    for st in rd.states(plan).values():
        if st.state == RUNNING:
            st.state, st.kind, st.finished = FAILED, "interrupted", time.time()
            st.message = ("the controller stopped following this cell; its harness may still be running on the "
                          "host and --resume collects it")
            rd.write_status(st)


def run(rd: RunDir, *, inventory: Path | None = None, forks: int = 0, check: bool = False,
        stream: TextIO = sys.stdout, live: bool | None = None) -> Outcome:
    from benchfleet.runner import run_playbook

    plan = rd.plan()
    pending = rd.pending(plan)
    if not pending:
        summary = json.loads((rd.root / "results.json").read_text()) if (rd.root / "results.json").is_file() else {}
        return Outcome([], summary, None)
    rd.clean_partials()
    by_host: dict[str, list[dict]] = {}
    for cid in pending:
        c = plan.cell(cid)
        by_host.setdefault(c.host, []).append({**asdict(c), "spec": c.spec})
    hosts = [h for h in plan.hosts if h in by_host]
    extravars = {
        "benchfleet_sweep_cells": by_host,
        "benchfleet_benchmark_run_id": plan.host_folder,
        "benchfleet_benchmark_run_dir": str(rd.root.resolve()),
    }
    timeout = plan.sweep.get("cell_timeout_s") or 0
    if timeout:
        extravars["benchfleet_benchmark_cell_timeout_s"] = timeout
    live = stream.isatty() if live is None else live
    progress = Progress(plan, rd.states(plan), stream, live, pending)
    progress.start()
    started = time.time()
    ident = time.strftime("%Y%m%d-%H%M%S") + f"-{uuid.uuid4().hex[:6]}"
    extravars["benchfleet_benchmark_session"] = ident
    stop = threading.Event()
    rc = None
    with _signals_set(stop):
        try:
            r = run_playbook(rd.root.resolve(), Path(inventory or plan.inventory), extravars, progress.event,
                             limit=hosts, forks=forks or min(len(hosts), 50), check=check, ident=ident,
                             cancel=stop.is_set)
            rc = r.rc
        except KeyboardInterrupt:
            stop.set()
        finally:
            progress.stop()
    interrupted = stop.is_set()
    if interrupted and not check:
        _mark_interrupted(rd, plan)
    if check:
        return Outcome(pending, {}, rc, interrupted, time.time() - started)
    results = rd.root / "results.json"
    if interrupted or not results.is_file() or results.stat().st_mtime < started:
        summary = aggregate(rd.root)  # the callback did not get to it: build from what finished
    else:
        summary = json.loads(results.read_text())
    return Outcome(pending, summary, rc, interrupted, time.time() - started)
