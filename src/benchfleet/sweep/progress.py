"""Live progress of a sweep from ansible-runner events: a redrawn table on a terminal, plain lines otherwise.

Every line is written through ``for_terminal``: the events carry host text (messages, stderr, progress
lines), and the only control sequences that reach the terminal are the table's own cursor moves.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import TextIO

from benchfleet.safetext import for_terminal
from benchfleet.sweep.plan import Plan
from benchfleet.sweep.report import duration, status_table
from benchfleet.sweep.rundir import CellState, failure_kind


class Progress:
    def __init__(self, plan: Plan, states: dict[str, CellState], stream: TextIO, live: bool, cells: list[str]):
        self.plan, self.stream, self.live = plan, stream, live
        self.cells = set(cells)  # the cells this invocation runs
        self.states = {c.id: states.get(c.id) or CellState(c.id, c.host, "pending") for c in plan.cells}
        self.current: dict[str, str | None] = {}
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
        done = sum(1 for c in self.cells if self.states[c].state == "done")
        failed = sum(1 for c in self.cells if self.states[c].state == "failed")
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
    def _set(self, host: str, cell: str, state: str, **kw) -> None:
        old = self.states.get(cell) or CellState(cell, host, "pending")
        started = kw.pop("started", old.started)
        self.states[cell] = CellState(cell, host, state, started=started, **kw)

    def event(self, ev: dict) -> None:
        kind = ev.get("event")
        data = ev.get("event_data") or {}
        host = data.get("host")
        res = data.get("res") or {}
        action = str(data.get("task_action") or "")
        if not host:
            return
        cell = self.current.get(host)
        if kind == "runner_on_ok":
            facts = res.get("ansible_facts") or {}
            if "benchfleet_benchmark_cell_current" in facts:
                cell = self.current[host] = facts["benchfleet_benchmark_cell_current"]
                self._set(host, cell, "running", progress="starting", started=time.time())
                self.line(f"{host}: {self.plan.cell(cell).label}: started")
            elif action.endswith("harness_cell") and cell:
                if res.get("start_msg"):
                    self.line(f"{host}: {self.plan.cell(cell).label}: {res['start_msg']}")  # e.g. finished earlier
                self._progress(host, cell, res)
            elif action.endswith("cell_fetch") and cell:
                self._set(host, cell, "done", validity=res.get("validity", ""), finished=time.time())
                self.current[host] = None
                self.line(f"{host}: {self.plan.cell(cell).label}: done ({res.get('validity', '')})")
            elif action in ("gather_facts", "ansible.builtin.gather_facts", "setup", "ansible.builtin.setup"):
                self.line(f"{host}: facts gathered")
        elif kind == "runner_retry" and cell:
            self._progress(host, cell, res)
        elif kind == "runner_on_failed" and not data.get("ignore_errors"):
            msg = str(res.get("msg") or res.get("stderr") or "").strip().splitlines()
            why = msg[-1][:300] if msg else ""
            if cell:
                self._progress(host, cell, res)
                self._set(host, cell, "failed", kind=failure_kind(action, res), task=data.get("task", ""), message=why,
                          finished=time.time())
                self.current[host] = None
                self.line(f"{host}: {self.plan.cell(cell).label}: FAILED in '{data.get('task')}': {why}")
            else:
                self.line(f"{host}: set-up FAILED in '{data.get('task')}': {why}")
        elif kind == "runner_on_unreachable":
            if cell:
                self._set(host, cell, "failed", kind="unreachable", task=data.get("task", ""),
                          message="host unreachable", finished=time.time())
                self.current[host] = None
            self.line(f"{host}: UNREACHABLE ({str(res.get('msg', '')).strip()[:200]})")

    def _progress(self, host: str, cell: str, res: dict) -> None:
        text = res.get("progress") or ""
        st = self.states.get(cell)
        if st and st.state == "running" and text and st.progress != text:
            self._set(host, cell, "running", progress=text)
        for line in res.get("progress_new") or []:
            self.line(f"{host}: {self.plan.cell(cell).label}: {line.split(' ', 1)[-1]}")
