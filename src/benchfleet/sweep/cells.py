"""A cell's life, told once: Ansible events in, cell and host states out.

    pending --("Run cell <id>" starts)--> running --(harness_cell ok/retry)--> running (progress)
    running --(harness_cell ok, fetched; or cell_fetch ok)--> done
    running --(failed task)--> failed: harness | timeout | fetch | tampered
    running --(host unreachable)--> failed: unreachable (and the host fails: unreachable)
    no cell --(failed task)--> the host fails: setup
    after the playbook: running --interrupted--> failed: interrupted;
                        failed: unreachable --host vanished--> failed: preempted;
                        all pending on a cloud host --not provisioned--> the host fails: provision

Pure: nothing here reads or writes a file. The ``benchfleet_submission`` callback feeds Ansible's events to a
:class:`CellTracker` and hands what comes out to :meth:`RunDir.record <benchfleet.sweep.rundir.RunDir.record>`
(the one writer of ``status/`` and ``hosts/``); the live view (``sweep/progress.py``) feeds it ansible-runner's
``job_events`` and draws what comes out; ``sweep/execute.py`` applies the after-the-playbook transitions below
and records them through the same writer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
# Failure kinds: infrastructure (the host or its set-up) apart from the benchmark itself.
INFRA_KINDS = ("unreachable", "setup", "fetch", "provision", "preempted", "tampered", "power")

# The role's task that runs a cell is named for it (roles/benchfleet_benchmark/tasks/cell.yml): its start is the cell's
CELL_TASK = "Run cell "
HOST_FACTS = "benchfleet_host"  # set by the benchfleet.mlperf.host_facts module
STARTING = "starting"  # a started cell's progress until the harness reports its own

# ansible-runner's job event names -> the callback's method names (v2_runner_on_<kind>)
_JOB_EVENTS = {"runner_on_start": "start", "runner_on_ok": "ok", "runner_retry": "retry", "runner_on_failed": "failed",
               "runner_on_unreachable": "unreachable"}

INTERRUPTED_MESSAGE = ("the controller stopped following this cell; its harness may still be running on the host "
                       "and --resume collects it")
PREEMPTED_MESSAGE = ("the instance went away mid-cell (spot preemption or deleted outside benchfleet); the cell runs "
                     "again, from the start, on a new instance. ")
PROVISION_TASK = "Create the instances the run's cloud systems need"


@dataclass
class CellState:
    cell: str
    host: str
    state: str
    kind: str = ""  # failed: unreachable | setup | harness | timeout | fetch | tampered | interrupted | preempted
    # | power
    task: str = ""
    message: str = ""
    progress: str = ""
    started: float | None = None
    finished: float | None = None
    validity: str = ""  # done: VALID/INVALID of the cell's results

    @property
    def infra(self) -> bool:
        return self.kind in INFRA_KINDS


@dataclass(frozen=True)
class HostFailed:
    """A host-level failure (status/_host-<host>.json): its cells that have not run say why."""

    host: str
    kind: str  # unreachable | setup | provision
    task: str
    message: str


@dataclass(frozen=True)
class HostFine:
    """The host answered again (or got its instance): an earlier host-level failure no longer holds."""

    host: str
    facts: dict | None = None  # the benchfleet_host facts when they came with it (hosts/<host>.json)


Change = CellState | HostFailed | HostFine


@dataclass(frozen=True)
class Event:
    """One Ansible runner event, as the callback sees it and as ansible-runner's job_events store it."""

    kind: str  # start | ok | retry | failed | unreachable
    host: str
    action: str = ""  # the task's action (module or action plugin), e.g. benchfleet.mlperf.harness_cell
    task: str = ""  # the task's name
    res: dict = field(default_factory=dict)
    ignore_errors: bool = False
    state_arg: str = ""  # the task's ``state`` argument (cloud_instances); the callback knows it, job events do not

    @classmethod
    def from_job_event(cls, ev: dict) -> Event | None:
        """An ansible-runner job event (``artifacts/<ident>/job_events/*.json``), or None if it is not a runner
        event of a host."""
        kind = _JOB_EVENTS.get(str(ev.get("event")))
        data = ev.get("event_data") or {}
        if kind is None or not data.get("host"):
            return None
        return cls(kind, str(data["host"]), str(data.get("task_action") or ""), str(data.get("task") or ""),
                   data.get("res") or {}, bool(data.get("ignore_errors")))


def failure_kind(action: str, result: dict) -> str:
    """What kind of failure a failed task inside a cell is."""
    if action.endswith("cell_fetch") or (action.endswith("harness_cell")  # its fetch (controller-side: the action
                                         and result.get("failure_kind") in ("fetch", "tampered")):  # drops a host's)
        return "tampered" if result.get("failure_kind") == "tampered" else "fetch"
    if result.get("preempted"):  # the instance's interruption notice (harness_cell's preemption option)
        return "preempted"
    if result.get("power_failed"):  # the power client, server or analyzer (the harness exits POWER_EXIT)
        return "power"
    return "timeout" if result.get("timed_out") else "harness"


def failure_message(res: dict) -> str:
    return str(res.get("msg") or res.get("stderr") or res.get("module_stderr") or "")[-3000:]


@dataclass
class CellTracker:
    """Ansible events -> changes of cell and host states, for the callback (which writes them) and the live view
    (which draws them)."""

    clock: Callable[[], float] = time.time
    current: dict[str, str | None] = field(default_factory=dict)  # host -> the cell running there
    started: dict[str, float] = field(default_factory=dict)  # cell -> when it started (this invocation)

    def apply(self, ev: Event) -> list[Change]:
        if ev.kind == "failed" and ev.ignore_errors:
            return []
        if ev.action.endswith("cloud_instances"):
            return self._provisioning(ev)
        if ev.kind == "start":
            return self._start(ev)
        if ev.kind == "ok":
            return self._ok(ev)
        if ev.kind == "retry":
            return self._running(ev.host, ev.res) if self.current.get(ev.host) else []
        if ev.kind == "failed":
            return self._failed(ev)
        if ev.kind == "unreachable":
            return self._unreachable(ev)
        return []

    def _state(self, host: str, cell: str, state: str, **kw) -> CellState:
        return CellState(cell, host, state, started=self.started.get(cell), **kw)

    def _start(self, ev: Event) -> list[Change]:
        """The role's "Run cell <id>" task starts on a host: that cell runs there from now on."""
        name = ev.task.rpartition(" : ")[2]  # the callback's names start with the role's ("benchfleet_benchmark : ")
        if not (ev.action.endswith("harness_cell") and name.startswith(CELL_TASK)):
            return []
        cell = self.current[ev.host] = name[len(CELL_TASK):].strip()
        self.started[cell] = self.clock()
        return [self._state(ev.host, cell, RUNNING, progress=STARTING)]

    def _ok(self, ev: Event) -> list[Change]:
        out: list[Change] = []
        facts = ev.res.get("ansible_facts") or {}
        if HOST_FACTS in facts:
            out.append(HostFine(ev.host, facts=facts[HOST_FACTS]))
        cell = self.current.get(ev.host)
        if ev.action.endswith("harness_cell") and cell and not ev.res.get("fetched"):
            out += self._running(ev.host, ev.res)
        elif (ev.action.endswith("cell_fetch") or ev.action.endswith("harness_cell")) and cell:  # home and accepted
            self.current[ev.host] = None
            out.append(self._state(ev.host, cell, DONE, validity=ev.res.get("validity", ""), finished=self.clock()))
        return out

    def _running(self, host: str, res: dict) -> list[Change]:
        return [self._state(host, self.current[host], RUNNING, progress=res.get("progress", ""))]

    def _failed(self, ev: Event) -> list[Change]:
        cell = self.current.get(ev.host)
        if cell is None:
            return [HostFailed(ev.host, "setup", ev.task, failure_message(ev.res))]
        self.current[ev.host] = None
        return [self._state(ev.host, cell, FAILED, kind=failure_kind(ev.action, ev.res), task=ev.task,
                            message=failure_message(ev.res), finished=self.clock())]

    def _unreachable(self, ev: Event) -> list[Change]:
        message = "host unreachable: " + str(ev.res.get("msg", "")).strip()[-1000:]
        cell = self.current.pop(ev.host, None)
        out: list[Change] = []
        if cell:
            out.append(self._state(ev.host, cell, FAILED, kind="unreachable", task=ev.task, message=message,
                                   finished=self.clock()))
        return [*out, HostFailed(ev.host, "unreachable", ev.task, message)]

    def _provisioning(self, ev: Event) -> list[Change]:
        """Hosts left without an instance fail (provision); hosts that got one are fine. A failed teardown
        (state=absent) is the CLI's to report."""
        if ev.kind not in ("ok", "failed") or ev.state_arg == "absent":
            return []
        failed = (ev.res.get("failed_hosts") or {}).items()
        return [*(HostFailed(h, "provision", PROVISION_TASK, why) for h, why in failed),
                *(HostFine(h) for h in ev.res.get("created") or [])]


def not_run(st: CellState, failure: HostFailed | None) -> CellState:
    """How a cell reads when its host has failed: a cell still pending says why it has not run."""
    if failure is None or st.state != PENDING:
        return st
    return CellState(st.cell, st.host, PENDING, kind=failure.kind, task=failure.task,
                     message=f"not run: {failure.message}")


# ---- after the playbook: transitions the controller applies to the run's recorded states --------------------

def interrupted(states: Iterable[CellState], now: float) -> list[CellState]:
    """Ctrl-C: cells still running fail as interrupted (their harness may go on; --resume collects it)."""
    return [replace(st, state=FAILED, kind="interrupted", finished=now, message=INTERRUPTED_MESSAGE)
            for st in states if st.state == RUNNING]


def hosts_vanished(states: dict[str, CellState], cloud_hosts: set[str], vanished: set[str],
                   unreachable: set[str]) -> tuple[list[str], list[Change]]:
    """Cloud cells that failed because their host went away: (the cells to run again on a new instance, the
    changes). A cell whose instance is gone for good is preempted; unreachable cloud hosts are fine again (the
    next round gives them a new instance). A result is never stitched from two instances: the cell starts over."""
    lost: list[str] = []
    changes: list[Change] = []
    for cid, st in states.items():
        if st.host in cloud_hosts and st.state == FAILED and st.kind in ("unreachable", "preempted"):
            if st.host in vanished:
                changes.append(replace(st, kind="preempted", message=PREEMPTED_MESSAGE + st.message))
            lost.append(cid)
    changes += [HostFine(h) for h in sorted(unreachable & cloud_hosts)]
    return lost, changes


def not_provisioned(states: dict[str, CellState], hosts: Iterable[str], failed_hosts: set[str],
                    failure: str) -> list[HostFailed]:
    """Cloud hosts that never got an instance (the provisioning play failed as a whole) and have no failure of
    their own: every one of their cells is still pending."""
    by_host: dict[str, list[CellState]] = {}
    for st in states.values():
        by_host.setdefault(st.host, []).append(st)
    return [HostFailed(h, "provision", PROVISION_TASK, failure) for h in hosts
            if h not in failed_hosts and all(st.state == PENDING for st in by_host.get(h, []))]
