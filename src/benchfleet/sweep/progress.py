"""Live progress of a sweep from ansible-runner events: a redrawn table on a terminal, plain lines otherwise.

What happens to each cell is :class:`benchfleet.sweep.cells.CellTracker`'s to say (the callback feeds the same
tracker); this module only draws it. Every line is written through ``for_terminal``: the events carry host text
(messages, stderr, progress lines), and the only control sequences that reach the terminal are the table's own
cursor moves.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import replace
from typing import TextIO

from benchfleet.safetext import for_terminal
from benchfleet.sweep.cells import DONE, FAILED, PENDING, RUNNING, CellState, CellTracker, Event
from benchfleet.sweep.plan import Plan
from benchfleet.sweep.report import duration, status_table


class Progress:
    def __init__(self, plan: Plan, states: dict[str, CellState], stream: TextIO, live: bool, cells: list[str]):
        self.plan, self.stream, self.live = plan, stream, live
        self.cells = set(cells)  # the cells this invocation runs
        self.states = {c.id: states.get(c.id) or CellState(c.id, c.host, PENDING) for c in plan.cells}
        self.tracker = CellTracker()
        self.t0 = time.time()
        self._lock = threading.Lock()
        self._drawn = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- output -------------------------------------------------------------------
    def line(self, text: str) -> None:
        if not self.live:
            self.stream.write(f"[{duration(time.time() - self.t0):>7}] {for_terminal(text)}\n")
            self.stream.flush()

    def _frame(self) -> str:
        done = sum(1 for c in self.cells if self.states[c].state == DONE)
        failed = sum(1 for c in self.cells if self.states[c].state == FAILED)
        sub = dataclasses.replace(self.plan, cells=[c for c in self.plan.cells if c.id in self.cells])
        head = (f"sweep {self.plan.run_id}: {done}/{len(self.cells)} cells done, {failed} failed, "
                f"elapsed {duration(time.time() - self.t0)}")
        return head + "\n" + status_table(sub, self.states)

    def _draw(self) -> None:
        with self._lock:
            frame = self._frame().splitlines()
            if self._drawn:
                self.stream.write(f"\x1b[{self._drawn}F")
            for ln in frame:
                self.stream.write("\x1b[2K" + for_terminal(ln)[:200] + "\n")
            self._drawn = len(frame)
            self.stream.flush()

    def start(self) -> None:
        if self.live:
            self._thread = threading.Thread(target=self._tick, daemon=True)
            self._thread.start()

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            self._draw()

    def stop(self) -> None:
        self._stop.set()
        if self.live:
            self._draw()

    # ---- state --------------------------------------------------------------------
    def event(self, raw: dict) -> None:
        ev = Event.from_job_event(raw)
        if ev is None:
            return
        was = self.tracker.current.get(ev.host)
        cells = [c for c in self.tracker.apply(ev) if isinstance(c, CellState)]
        for st in cells:
            self._show(ev, st)
        if ev.kind == "ok" and not cells and ev.action in (
                "gather_facts", "ansible.builtin.gather_facts", "setup", "ansible.builtin.setup"):
            self.line(f"{ev.host}: facts gathered")
        elif ev.kind == "failed" and not ev.ignore_errors and not was:
            why = _headline(ev.res.get("msg") or ev.res.get("stderr"))
            self.line(f"{ev.host}: set-up FAILED in '{ev.task}': {why}")
        elif ev.kind == "unreachable":
            self.line(f"{ev.host}: UNREACHABLE ({str(ev.res.get('msg', '')).strip()[:200]})")

    def _show(self, ev: Event, st: CellState) -> None:
        """One cell's new state: into the table, and as lines when not drawing one."""
        label = self.plan.cell(st.cell).label
        old = self.states.get(st.cell) or CellState(st.cell, st.host, PENDING)
        if st.state == RUNNING and ev.kind == "start":
            self.states[st.cell] = st
            self.line(f"{ev.host}: {label}: started")
            return
        if ev.kind == "ok" and ev.action.endswith("harness_cell") and ev.res.get("start_msg"):
            self.line(f"{ev.host}: {label}: {ev.res['start_msg']}")  # e.g. finished earlier
        if ev.kind in ("retry", "failed") or ev.action.endswith("harness_cell"):
            if old.state == RUNNING and st.progress and old.progress != st.progress:
                self.states[st.cell] = replace(old, progress=st.progress)
            for line in ev.res.get("progress_new") or []:
                self.line(f"{ev.host}: {label}: {line.split(' ', 1)[-1]}")
        if st.state == DONE:
            self.states[st.cell] = replace(st, started=old.started)
            self.line(f"{ev.host}: {label}: done ({st.validity})")
        elif st.state == FAILED and st.kind == "unreachable":
            self.states[st.cell] = replace(st, started=old.started, message="host unreachable")
        elif st.state == FAILED:
            why = _headline(st.message)
            self.states[st.cell] = replace(st, started=old.started, message=why)
            self.line(f"{ev.host}: {label}: FAILED in '{st.task}': {why}")


def _headline(message: object) -> str:
    """A failure's last line, as the live view shows it."""
    lines = str(message or "").strip().splitlines()
    return lines[-1][:300] if lines else ""
