"""A cell's life from recorded Ansible events, without Ansible.

tests/fixtures/job-events/<scenario>/ holds the runner events of real sweeps (tests/test_fleet.py's, recorded
with trim.py): one file per invocation, in order, and the plan's cell ids. Replaying them through the tracker
must reach the states the fleet tests assert on the run directory.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from benchfleet.sweep import cells
from benchfleet.sweep.cells import (
    DONE,
    FAILED,
    PENDING,
    RUNNING,
    CellState,
    CellTracker,
    Change,
    Event,
    HostFailed,
    HostFine,
)
from benchfleet.sweep.plan import expand
from benchfleet.sweep.progress import Progress
from benchfleet.sweep.rundir import RunDir
from benchfleet.sweep.schema import parse

FIXTURES = Path(__file__).parent / "fixtures" / "job-events"


def recorded_events(scenario: str, invocation: str) -> list[Event]:
    raw = [json.loads(line) for line in (FIXTURES / scenario / f"{invocation}.jsonl").read_text().splitlines()]
    return [ev for ev in map(Event.from_job_event, raw) if ev is not None]


@dataclass
class Recorded:
    """What the run directory holds after RunDir.record, kept in memory (cells/ is the set of done cells)."""

    cells: list[str]
    states: dict[str, CellState] = field(default_factory=dict)
    host_failures: dict[str, HostFailed] = field(default_factory=dict)
    host_facts: dict[str, dict] = field(default_factory=dict)

    def record(self, changes: list[Change]) -> None:
        for ch in changes:
            if isinstance(ch, CellState):
                if self.states.get(ch.cell, ch).state != DONE:
                    self.states[ch.cell] = ch
            elif isinstance(ch, HostFailed):
                self.host_failures[ch.host] = ch
            elif isinstance(ch, HostFine):
                self.host_failures.pop(ch.host, None)
                if ch.facts is not None:
                    self.host_facts[ch.host] = ch.facts

    def replay(self, scenario: str, invocation: str) -> None:
        tracker = CellTracker()  # one per invocation, as the callback has
        for ev in recorded_events(scenario, invocation):
            self.record(tracker.apply(ev))

    def view(self) -> dict[str, CellState]:
        """As RunDir.states reads the run directory."""
        out = {}
        for c in self.cells:
            host = c.split(".", 1)[0]
            out[c] = cells.not_run(self.states.get(c) or CellState(c, host, PENDING), self.host_failures.get(host))
        return out


def _run(scenario: str) -> Recorded:
    return Recorded(json.loads((FIXTURES / scenario / "cells.json").read_text()))


def _in(states: dict[str, CellState], state: str) -> set[str]:
    return {c for c, s in states.items() if s.state == state}


def test_a_lost_host_fails_its_running_cell_as_unreachable_and_resume_completes_it():
    run = _run("lost-host")
    lost = "node2.resnet50.onnxruntime-cpu.open.MultiStream"

    run.replay("lost-host", "1-sweep")
    states = run.view()
    assert _in(states, DONE) == set(run.cells) - {lost}
    assert (states[lost].state, states[lost].kind, states[lost].infra) == (FAILED, "unreachable", True)
    assert states[lost].task == f"Run cell {lost}"
    assert states[lost].message.startswith("host unreachable: ")
    assert run.host_failures["node2"].kind == "unreachable"
    assert set(run.host_facts) == {"node1", "node2"}  # node2 described itself before the loss

    run.replay("lost-host", "2-resume")
    assert _in(run.view(), DONE) == set(run.cells)
    assert run.host_failures == {}  # node2 answered again


def test_a_failing_cell_and_a_host_whose_set_up_fails_are_isolated():
    run = _run("failures")
    run.replay("failures", "1-sweep")
    states = run.view()

    cuda, cpu = (f"good.resnet50.onnxruntime-{d}.open.SingleStream" for d in ("cuda", "cpu"))
    assert (states[cuda].state, states[cuda].kind, states[cuda].infra) == (FAILED, "harness", False)
    assert "CUDAExecutionProvider" in states[cuda].message
    assert states[cpu].state == DONE  # the next cell went on
    for dev in ("cuda", "cpu"):
        st = states[f"broken.resnet50.onnxruntime-{dev}.open.SingleStream"]
        assert (st.state, st.kind, st.infra) == (PENDING, "setup", True)
        assert st.message.startswith("not run:")


def test_ctrl_c_fails_the_running_cell_as_interrupted_and_resume_collects_it():
    run = _run("interrupt")
    ss, ms = (f"localhost.resnet50.onnxruntime-cpu.open.{s}" for s in ("SingleStream", "MultiStream"))

    run.replay("interrupt", "1-sweep")
    assert (run.view()[ss].state, run.view()[ms].state) == (DONE, RUNNING)  # Ctrl-C while following MultiStream
    run.record(cells.interrupted(run.view().values(), now=1.0))
    states = run.view()
    assert states[ss].state == DONE
    assert (states[ms].state, states[ms].kind, states[ms].infra) == (FAILED, "interrupted", False)
    assert "--resume collects it" in states[ms].message

    run.replay("interrupt", "2-resume")
    assert _in(run.view(), DONE) == {ss, ms}


def test_the_live_view_reaches_the_states_the_callback_records(tmp_path):
    inv = tmp_path / "inv.yml"
    inv.write_text(yaml.safe_dump({"all": {"children": {"lab": {"hosts": {f"node{i}": {} for i in (1, 2)}}}}}))
    plan = expand(parse({"submitter": "T", "scenarios": ["SingleStream", "MultiStream"],
                         "systems": [{"name": "lab", "hosts": ["lab"]}]}), inv)
    run = _run("lost-host")
    assert [c.id for c in plan.cells] == run.cells
    out = io.StringIO()
    view = Progress(plan, {}, out, live=False, cells=run.cells)
    for line in (FIXTURES / "lost-host" / "1-sweep.jsonl").read_text().splitlines():
        view.event(json.loads(line))
    run.replay("lost-host", "1-sweep")

    assert {c: (s.state, s.kind) for c, s in view.states.items()} == {
        c: (s.state, s.kind) for c, s in run.view().items()}
    assert "node2: UNREACHABLE (Task failed: Data could not be sent" in out.getvalue()
    assert "node1: resnet50 onnxruntime/cpu open SingleStream: started" in out.getvalue()  # at its task's start


def test_a_cloud_cell_whose_instance_vanished_is_preempted_and_runs_again():
    lost = CellState("c1.a", "c1", FAILED, kind="unreachable", message="host unreachable: timed out")
    states = {"c1.a": lost, "c1.b": CellState("c1.b", "c1", DONE), "lab.a": CellState("lab.a", "lab", FAILED,
                                                                                        kind="unreachable")}

    again, changes = cells.hosts_vanished(states, cloud_hosts={"c1"}, vanished={"c1"}, unreachable={"c1"})

    assert again == ["c1.a"]  # the lab host's cell is not the cloud's to run again
    (preempted, fine) = changes
    assert (preempted.kind, fine) == ("preempted", HostFine("c1"))
    assert preempted.message.endswith("host unreachable: timed out")


def test_cloud_hosts_that_never_got_an_instance_say_why():
    states = {"c1.a": CellState("c1.a", "c1", PENDING), "c2.a": CellState("c2.a", "c2", FAILED, kind="harness"),
              "c3.a": CellState("c3.a", "c3", PENDING)}

    failed = cells.not_provisioned(states, ["c1", "c2", "c3"], failed_hosts={"c3"}, failure="quota exceeded")

    assert failed == [HostFailed("c1", "provision", cells.PROVISION_TASK, "quota exceeded")]


def test_the_writer_keeps_a_finished_cell_done_when_its_host_is_lost_right_after(tmp_path):
    rd = RunDir(tmp_path)
    (tmp_path / "cells" / "n1.a").mkdir(parents=True)
    (tmp_path / "cells" / "n1.a" / "cell.json").write_text("{}")
    rd.write_status(CellState("n1.a", "n1", RUNNING, progress="almost"))

    rd.record([CellState("n1.a", "n1", FAILED, kind="unreachable"), HostFailed("n1", "unreachable", "t", "gone")])

    assert not rd.status_file("n1.a").exists()
    assert rd.host_failure("n1")["kind"] == "unreachable"
