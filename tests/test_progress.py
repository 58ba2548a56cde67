"""The live view of a sweep, fed with ansible-runner events as they arrive."""

from __future__ import annotations

import io
from pathlib import Path

import yaml

from benchfleet.sweep.plan import expand
from benchfleet.sweep.progress import Progress
from benchfleet.sweep.schema import parse


def _plan(tmp_path: Path):
    inv = tmp_path / "inv.yml"
    inv.write_text(yaml.safe_dump({"all": {"children": {"lab": {"hosts": {"n1": {}, "n2": {}}}}}}))
    return expand(parse({"submitter": "T", "scenarios": ["SingleStream", "MultiStream"],
                         "systems": [{"name": "lab", "hosts": ["lab"]}]}), inv)


def _ev(kind: str, host: str, action: str = "", res: dict | None = None, task: str = "t") -> dict:
    return {"event": kind, "event_data": {"host": host, "task": task, "task_action": action, "res": res or {}}}


def _events(plan):
    ss = plan.cells[0].id  # n1 SingleStream
    return [
        _ev("runner_on_start", "n1", "benchfleet.mlperf.harness_cell", task=f"Run cell {ss}"),
        _ev("runner_retry", "n1", "benchfleet.mlperf.harness_cell",
            {"progress": "10:00:01 [SingleStream] accuracy run over 1024 samples",
             "progress_new": ["10:00:00 warm-up: 2 ms", "10:00:01 [SingleStream] accuracy run over 1024 samples"]}),
        _ev("runner_on_unreachable", "n2", "benchfleet.mlperf.host_facts", {"msg": "Connection refused"}),
    ]


def test_plain_lines_when_not_a_terminal(tmp_path):
    plan = _plan(tmp_path)
    out = io.StringIO()
    p = Progress(plan, {}, out, live=False, cells=[c.id for c in plan.cells])
    for ev in _events(plan):
        p.event(ev)
    lines = out.getvalue().splitlines()
    assert any(ln.endswith("n1: resnet50 onnxruntime/cpu open SingleStream: started") for ln in lines)
    assert any(ln.endswith("SingleStream: warm-up: 2 ms") for ln in lines)
    assert any(ln.endswith("SingleStream: [SingleStream] accuracy run over 1024 samples") for ln in lines)
    assert any("n2: UNREACHABLE (Connection refused)" in ln for ln in lines)
    assert "\x1b[" not in out.getvalue()


def test_terminal_table_is_redrawn_in_place(tmp_path):
    plan = _plan(tmp_path)
    out = io.StringIO()
    p = Progress(plan, {}, out, live=True, cells=[c.id for c in plan.cells])
    p._draw()
    for ev in _events(plan):
        p.event(ev)
    p._draw()
    frames = out.getvalue().split("\x1b[7F")  # back up over the first frame: title, head, rule, 4 cells
    assert len(frames) == 2
    first, second = frames
    assert "0/4 cells done, 0 failed" in first and first.count("pending") == 4
    rows = {tuple(ln.removeprefix("\x1b[2K").split()[i] for i in (0, 4)): ln
            for ln in second.splitlines() if "resnet50" in ln}
    assert len(rows) == 4
    assert "running" in rows[("n1", "SingleStream")]
    assert "[SingleStream] accuracy run over 1024 samples" in rows[("n1", "SingleStream")]
    assert "pending" in rows[("n1", "MultiStream")] and "pending" in rows[("n2", "SingleStream")]
