"""What a host cannot do to the operator's terminal, and what a second invocation cannot do to a run.

Hosts send text (failure messages, stderr tails, progress lines, validity, system names) that the controller
prints; none of it may reach the terminal as a control sequence. One run directory has one writer: a
second ``sweep``/``--resume``/``run`` on the same run id is refused, naming the pid that holds the run.
"""

from __future__ import annotations

import io
import json
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from benchfleet.sweep.plan import expand
from benchfleet.sweep.progress import Progress
from benchfleet.sweep.report import results_table
from benchfleet.sweep.rundir import CellState, RunDir, write_atomic
from benchfleet.sweep.schema import parse

# What a hostile host puts in its messages: clear the screen, write the clipboard (OSC 52), set the window
# title, move the cursor up over earlier lines, CSI as the 8-bit C1 byte, a bidi override, a carriage return.
HOSTILE = ("\x1b[2J\x1b[H" "\x1b]52;c;ZWNobyBwd25lZA==\x07" "\x1b]0;pwned\x07" "\x1b[5A\x1b[1;1H"
           "\x9b2J" "evil\u202etxt.exe" "\rVALID")
RAW = ("\x1b", "\x9b", "\x07", "\u202e", "\r")
SWEEP = {"submitter": "T", "scenarios": ["SingleStream", "MultiStream"], "systems": [{"name": "lab", "hosts": ["lab"]}]}


def _inventory(tmp_path: Path) -> Path:
    # Port 1 on loopback refuses at once: if anything did reach Ansible, it would fail fast, not hang.
    host = {"ansible_host": "127.0.0.1", "ansible_port": 1}
    inv = tmp_path / "inv.yml"
    inv.write_text(yaml.safe_dump({"all": {"children": {"lab": {"hosts": {"n1": host, "n2": host}}}}}))
    return inv


def _run_dir(tmp_path: Path, run_id: str = "r1") -> RunDir:
    plan = expand(parse(SWEEP), _inventory(tmp_path).resolve(), run_id)
    rd = RunDir(tmp_path / "runs" / run_id)
    rd.root.mkdir(parents=True)
    rd.save_plan(plan, yaml.safe_dump(SWEEP))
    return rd


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchfleet.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def _assert_no_raw_controls(text: str) -> None:
    found = [repr(c) for c in RAW if c in text]
    assert not found, f"raw control characters reached the output: {found}"


# ---- terminal-safe output --------------------------------------------------------------------------------

def test_status_prints_a_hostile_hosts_messages_escaped(tmp_path):
    rd = _run_dir(tmp_path)
    plan = rd.plan()
    failed, running, done = plan.cells[0], plan.cells[1], plan.cells[2]
    rd.write_status(CellState(failed.id, failed.host, "failed", kind="harness", task="Run " + HOSTILE,
                              message="Traceback\n" + HOSTILE, started=1.0, finished=2.0))
    rd.write_status(CellState(running.id, running.host, "running", progress=HOSTILE, started=time.time()))
    (rd.cell_dir(done.id)).mkdir(parents=True)
    (rd.cell_dir(done.id) / "cell.json").write_text(json.dumps({"validity": HOSTILE, "accepted": time.time()}))
    rd.write_host_failure("n2", "setup", "Install " + HOSTILE, HOSTILE)

    res = _cli("status", "r1", "--runs-dir", str(tmp_path / "runs"))

    assert res.returncode == 0, res.stderr
    _assert_no_raw_controls(res.stdout)
    assert "\\x1b[2J" in res.stdout and "\\x1b]52;c;" in res.stdout and "\\x9b2J" in res.stdout
    assert "\\u202e" in res.stdout
    assert "host n2: setup in " in res.stdout


def test_status_json_keeps_control_characters_as_json_escapes(tmp_path):
    rd = _run_dir(tmp_path)
    c = rd.plan().cells[0]
    rd.write_status(CellState(c.id, c.host, "failed", kind="harness", message=HOSTILE))

    res = _cli("status", "r1", "--runs-dir", str(tmp_path / "runs"), "--json")

    assert res.returncode == 0, res.stderr
    _assert_no_raw_controls(res.stdout)
    assert next(x for x in json.loads(res.stdout)["cells"] if x["cell"] == c.id)["message"] == HOSTILE


def _hostile_events(plan) -> list[dict]:
    ss, ms = plan.cells[0].id, plan.cells[1].id

    def ev(kind: str, host: str, action: str = "", res: dict | None = None, task: str = "t") -> dict:
        return {"event": kind, "event_data": {"host": host, "task": task, "task_action": action, "res": res or {}}}

    def current(cell: str) -> dict:
        return ev("runner_on_start", "n1", "benchfleet.mlperf.harness_cell", task=f"Run cell {cell}")

    return [
        current(ss),
        ev("runner_on_ok", "n1", "benchfleet.mlperf.harness_cell", {"start_msg": HOSTILE, "progress": HOSTILE}),
        ev("runner_retry", "n1", "benchfleet.mlperf.harness_cell",
           {"progress": HOSTILE, "progress_new": ["10:00:00 " + HOSTILE]}),
        ev("runner_on_ok", "n1", "benchfleet.mlperf.cell_fetch", {"validity": HOSTILE}),
        current(ms),
        ev("runner_on_failed", "n1", "benchfleet.mlperf.harness_cell", {"msg": "harness failed:\n" + HOSTILE},
           task="Run the harness " + HOSTILE),
        ev("runner_on_failed", "n2", "ansible.builtin.command", {"stderr": HOSTILE}, task="Set up " + HOSTILE),
        ev("runner_on_unreachable", "n2", "benchfleet.mlperf.host_facts", {"msg": HOSTILE}),
    ]


def test_progress_lines_show_a_hostile_hosts_text_escaped(tmp_path):
    plan = _run_dir(tmp_path).plan()
    out = io.StringIO()
    p = Progress(plan, {}, out, live=False, cells=[c.id for c in plan.cells])
    for e in _hostile_events(plan):
        p.event(e)

    text = out.getvalue()
    _assert_no_raw_controls(text)
    assert text.count("\\x1b[2J") >= 6  # start message, progress line, validity, two failures, unreachable
    assert "n1: resnet50 onnxruntime/cpu open MultiStream: FAILED in 'Run the harness \\x1b[2J" in text


def test_the_live_table_draws_a_hostile_hosts_text_escaped(tmp_path):
    plan = _run_dir(tmp_path).plan()
    out = io.StringIO()
    p = Progress(plan, {}, out, live=True, cells=[c.id for c in plan.cells])
    for e in _hostile_events(plan)[:3]:  # n1 running, its progress hostile
        p.event(e)
    p._draw()
    p._draw()

    # The table's own moves (back up N lines, clear a line) are the only control sequences drawn.
    ours = re.sub(r"\x1b\[\d+F|\x1b\[2K", "", out.getvalue())
    _assert_no_raw_controls(ours)
    assert "\\x1b]52;c;" in ours


def test_results_table_and_failure_tails_escape_host_text():
    from benchfleet.sweep.report import tail as _tail

    row = {"system": "sys" + HOSTILE, "division": "open", "benchmark": "resnet50", "scenario": "Offline",
           "unit": "samples/s", "metric": 1.0, "validity": HOSTILE, "accuracy": 76.0, "inferred_from": HOSTILE}
    table = results_table([row])
    tail = _tail("Traceback (most recent call last):\n  ...\nError: " + HOSTILE)

    for text in (table, tail):
        _assert_no_raw_controls(text)
        assert "\\x1b]0;pwned\\x07" in text
    assert len(table.splitlines()) == 3  # head, rule, one row: a host cannot add lines of its own


def test_a_real_sweeps_progress_and_failure_report_print_the_failure_escaped(tmp_path):
    """The whole path: the host's set-up fails with a message that carries control sequences (here the
    harness python it could not run), the progress line and the FAILURES section print it escaped."""
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
             "benchfleet_harness_python": "/nonexistent/" + HOSTILE.replace("\r", "") + "/python",
             "benchfleet_benchmark_workdir": str(tmp_path / "work")}
    inv = tmp_path / "inv.yml"
    inv.write_text(yaml.safe_dump({"all": {"hosts": {"broken": local}}}))
    sweep = tmp_path / "s.yml"
    sweep.write_text(yaml.safe_dump({"submitter": "T", "scenarios": ["SingleStream"], "model": "synthetic",
                                     "dataset": "synthetic", "systems": [{"name": "b", "hosts": ["broken"]}]}))

    res = _cli("sweep", str(sweep), "--inventory", str(inv), "--runs-dir", str(tmp_path / "runs"), "--run-id", "x",
               timeout=300)

    assert res.returncode == 1, res.stdout + res.stderr
    assert "FAILURES (infrastructure, 1)" in res.stdout
    _assert_no_raw_controls(res.stdout + res.stderr)
    assert res.stdout.count("/nonexistent/\\x1b[2J\\x1b[H\\x1b]52;c;") >= 1


# ---- one writer per run ----------------------------------------------------------------------------------

HOLDER = ("import sys, time; from pathlib import Path; from benchfleet.sweep.rundir import RunDir; "
          "RunDir(Path(sys.argv[1])).lock(); print('locked', flush=True); time.sleep(300)")


@pytest.fixture()
def held_run(tmp_path):
    """A run directory whose lock another process holds, with in-flight files of that process."""
    rd = _run_dir(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(rd.root)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        (rd.root / "incoming").mkdir()
        (rd.root / "incoming" / "n1.tgz").write_bytes(b"half an archive")
        (rd.root / "status").mkdir(exist_ok=True)
        (rd.root / "status" / ".x.json.4242.tmp").write_text("{")
        (rd.root / "cells" / ".x.tmp").mkdir(parents=True)
        yield rd, holder
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("command", ["resume", "sweep", "run"])
def test_a_second_invocation_on_a_held_run_is_refused_naming_the_pid(held_run, tmp_path, command):
    rd, holder = held_run
    runs, inv = str(tmp_path / "runs"), str(tmp_path / "inv.yml")
    sweep_file = tmp_path / "lab.yml"
    sweep_file.write_text(yaml.safe_dump(SWEEP))
    plan_before = rd.plan_path.read_bytes()
    args = {"resume": ["sweep", "--resume", "r1", "--runs-dir", runs],
            "sweep": ["sweep", str(sweep_file), "--run-id", "r1", "--runs-dir", runs, "--inventory", inv],
            "run": ["run", "--run-id", "r1", "--runs-dir", runs, "--inventory", inv]}[command]

    t0 = time.monotonic()
    res = _cli(*args)

    assert res.returncode != 0
    assert time.monotonic() - t0 < 60  # at once: the ssh to port 1 never started
    assert f"pid {holder.pid}" in res.stderr, res.stderr
    assert "in use" in res.stderr and "wait" in res.stderr
    assert (rd.root / "incoming" / "n1.tgz").read_bytes() == b"half an archive"
    assert (rd.root / "status" / ".x.json.4242.tmp").is_file()
    assert (rd.root / "cells" / ".x.tmp").is_dir()
    assert rd.plan_path.read_bytes() == plan_before
    assert not (rd.root / "ansible").exists()
    assert holder.poll() is None


def test_status_reads_a_held_run_without_waiting_for_its_lock(held_run, tmp_path):
    res = _cli("status", "r1", "--runs-dir", str(tmp_path / "runs"))

    assert res.returncode == 0, res.stderr
    assert "run r1 (MLPerf Inference v3.1): 0 done" in res.stdout


def test_the_lock_goes_with_the_process_that_held_it(held_run):
    rd, holder = held_run
    assert (rd.root / ".lock").read_text().strip() == str(holder.pid)
    holder.kill()
    holder.wait()

    rd.lock()
    try:
        assert (rd.root / ".lock").read_text().strip() == str(os.getpid())
        rd.lock()  # the same process again: already its own
    finally:
        rd.unlock()


# ---- temp files and modes --------------------------------------------------------------------------------

def test_write_atomic_removes_its_temp_file_when_the_text_cannot_be_written(tmp_path):
    target = tmp_path / "status" / "c.json"
    target.parent.mkdir()
    target.write_text("old")

    with pytest.raises(UnicodeEncodeError):
        write_atomic(target, "new \ud800")  # a lone surrogate: no encoding writes it

    assert sorted(p.name for p in target.parent.iterdir()) == ["c.json"]
    assert target.read_text() == "old"


def test_write_atomic_removes_its_temp_file_when_the_rename_fails(tmp_path):
    target = tmp_path / "results.json"
    target.mkdir()
    (target / "x").write_text("")  # a non-empty folder where the file goes: the rename fails

    with pytest.raises(OSError):
        write_atomic(target, "{}")

    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_taking_the_lock_cleans_temp_files_an_earlier_crash_left(tmp_path):
    rd = _run_dir(tmp_path)
    stale = [rd.root / ".plan.json.123.tmp", rd.root / "status" / ".c.json.99.tmp",
             rd.root / "hosts" / ".n1.json.abc_x12.tmp", rd.root / "cloud" / ".inventory.yml.7.tmp"]
    kept = [rd.root / "status" / "c.json", rd.root / "cells" / "c" / "results" / ".host-file.tmp"]
    for p in stale + kept:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x")

    rd.lock()
    try:
        assert [p for p in stale if p.exists()] == []
        assert all(p.is_file() for p in kept)  # a finished cell's files are the host's: never touched
    finally:
        rd.unlock()


def test_the_run_directory_is_private_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        rd = _run_dir(tmp_path)
        c = rd.plan().cells[0]
        rd.write_status(CellState(c.id, c.host, "failed", message="10.0.0.5 /home/alice"))
        existing = RunDir(tmp_path / "runs" / "old")
        existing.root.mkdir(mode=0o755)
        existing.root.chmod(0o755)
        existing.lock()
        existing.unlock()
    finally:
        os.umask(old)

    def mode(p: Path) -> int:
        return stat.S_IMODE(p.stat().st_mode)

    assert mode(rd.root) == 0o700
    assert mode(rd.plan_path) == 0o600 and mode(rd.root / "sweep.yml") == 0o600
    assert mode(rd.status_file(c.id)) == 0o600
    assert mode(existing.root) == 0o700
    assert mode(existing.root / ".lock") == 0o600
