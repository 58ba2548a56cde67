"""A sweep over real SSH hosts (sshd on loopback ports, each with its own work folder)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from benchfleet.harness.logs import DetailLog
from benchfleet.submission.check import check_tree
from benchfleet.sweep.rundir import RunDir
from tests.sshfleet import Fleet

BENCHFLEET = str(Path(sys.executable).parent / "benchfleet")
# The generated dataset of every sweep here: accuracy runs scale with it; what these tests check (cell states,
# failures, resume, the tree) does not.
SAMPLES = 64


@pytest.fixture()
def fleet(tmp_path):
    f = Fleet.start(tmp_path / "fleet", 2)
    yield f
    f.stop()


def _sweep(tmp_path: Path, cache_dir: Path) -> Path:
    f = tmp_path / "lab.yml"
    f.write_text(yaml.safe_dump({
        "submitter": "TestLab", "division": "open", "scenarios": ["SingleStream", "MultiStream"],
        "model": "synthetic", "dataset": "synthetic", "synthetic_width": 2, "cache_dir": str(cache_dir),
        "dataset_count": SAMPLES,
        "defaults": {"threads": 1},
        "systems": [{"name": "lab", "hosts": ["lab"], "description": {"host_storage_type": "NVMe SSD"}}],
    }))
    return f


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != ".lock"}  # each writer takes the lock


def test_sweep_survives_a_lost_host_then_resume_completes_it(fleet, cache_dir, tmp_path):
    inv = fleet.inventory(tmp_path / "inventory.yml")
    sweep = _sweep(tmp_path, cache_dir)
    runs = tmp_path / "runs"
    cmd = [BENCHFLEET, "sweep", str(sweep), "--inventory", str(inv), "--runs-dir", str(runs)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)

    # Lose node2 (its sshd, its sessions and what it was running) once its first cell is home.
    deadline = time.time() + 600
    while not list(runs.glob("*/cells/node2.*SingleStream/cell.json")):
        assert proc.poll() is None, proc.stdout.read()
        assert time.time() < deadline, "node2's first cell never finished"
        time.sleep(0.2)
    fleet.kill("node2", with_work=True)
    out, _ = proc.communicate(timeout=900)

    assert proc.returncode == 1, out  # finished, with a failure
    (run_dir,) = runs.iterdir()
    rd = RunDir(run_dir)
    states = rd.states()
    lost = "node2.resnet50.onnxruntime-cpu.open.MultiStream"
    assert {c for c, s in states.items() if s.state != "done"} == {lost}, out
    assert states[lost].kind == "unreachable" and states[lost].infra
    assert "FAILURES (infrastructure, 1)" in out and f"node2 / {lost}: unreachable" in out
    assert f"benchfleet sweep --resume {run_dir.name}" in out
    summary = json.loads((run_dir / "results.json").read_text())
    assert summary["cells"] == {"done": 3, "running": 0, "failed": 1, "pending": 0}
    assert [(f["host"], f["kind"]) for f in summary["failures"]] == [("node2", "unreachable")]
    systems = {s["host"]: s["system_id"] for s in summary["systems"]}
    assert set(systems) == {"node1", "node2"}  # node2's SingleStream came home before the loss
    assert len(set(systems.values())) == 2  # identical hardware, still one id each
    report = check_tree(run_dir / "submission", "v3.1", accuracy_logs=run_dir / "cells", allow_quick=True)
    assert report.ok, [str(e) for e in report.errors]
    # MultiStream as the round sets it: queries of 8 samples, at least early stopping's 662 of them
    ms = DetailLog(next((run_dir / "cells").glob(
        "node1.*MultiStream/results/MultiStream/performance/run_1/mlperf_log_detail.txt")))
    assert ms["effective_scenario"] == "MultiStream" and ms["result_validity"] == "VALID"
    assert ms["effective_samples_per_query"] == 8 and ms["result_query_count"] >= 662

    status = subprocess.run([BENCHFLEET, "status", run_dir.name, "--runs-dir", str(runs)], capture_output=True,
                            text=True)
    assert "3 done, 0 running, 1 failed, 0 pending" in status.stdout
    assert "host node2: unreachable" in status.stdout

    # Every finished cell is checksummed; the event stream is kept.
    for cell in (run_dir / "cells").iterdir():
        sums = (cell / "SHA256SUMS").read_text().splitlines()
        assert any(line.endswith("results/harness.json") for line in sums)
    assert list((run_dir / "ansible" / "artifacts").glob("*/job_events/*.json"))

    # sshd comes back: --resume runs only the missing cell.
    fleet.up("node2")
    before = {c: (run_dir / "cells" / c / "cell.json").stat().st_mtime_ns for c in states if c != lost}
    resumed = subprocess.run([BENCHFLEET, "sweep", "--resume", run_dir.name, "--runs-dir", str(runs)],
                             capture_output=True, text=True, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "1 of 4 cells to run" in resumed.stdout
    assert "node2: resnet50 onnxruntime/cpu open MultiStream: started" in resumed.stdout
    assert "node1:" not in resumed.stdout  # the healthy host left alone
    assert {c: (run_dir / "cells" / c / "cell.json").stat().st_mtime_ns for c in before} == before
    summary = json.loads((run_dir / "results.json").read_text())
    assert summary["cells"]["done"] == 4 and summary["failures"] == []
    assert len({(r["system"], r["scenario"]) for r in summary["results"]}) == 4
    sub = run_dir / "submission" / "open" / "TestLab"
    assert len(list((sub / "systems").glob("*.json"))) == 2
    desc = json.loads(next((sub / "systems").glob("*_h2.json")).read_text())
    assert desc["host_storage_type"] == "NVMe SSD"  # the sweep's description wins over facts
    report = check_tree(run_dir / "submission", "v3.1", accuracy_logs=run_dir / "cells", allow_quick=True)
    assert report.ok, [str(e) for e in report.errors]
    csv_rows = (run_dir / "results.csv").read_text().splitlines()
    assert len(csv_rows) == 5 and csv_rows[0].startswith("system,host,cell,division,benchmark,scenario")

    # The same sweep again: nothing to do, nothing touched.
    snap = _snapshot(run_dir)
    again = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "nothing to do: all 4 cells" in again.stdout and "nothing was changed" in again.stdout
    assert _snapshot(run_dir) == snap


def test_failures_are_isolated_per_host_and_per_cell(cache_dir, tmp_path):
    """A host whose set-up fails and a cell that fails do not stop the other host's cells."""
    inv = tmp_path / "inventory.yml"
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inv.write_text(yaml.safe_dump({"all": {"hosts": {
        "good": dict(local, benchfleet_benchmark_workdir=str(tmp_path / "good")),
        "broken": dict(local, benchfleet_harness_python="/nonexistent/python",
                       benchfleet_benchmark_workdir=str(tmp_path / "broken")),
    }}}))
    sweep = tmp_path / "s.yml"
    sweep.write_text(yaml.safe_dump({
        "submitter": "TestLab", "scenarios": ["SingleStream"], "devices": ["cuda", "cpu"], "model": "synthetic",
        "dataset": "synthetic", "synthetic_width": 2, "cache_dir": str(cache_dir), "defaults": {"threads": 1},
        "dataset_count": SAMPLES,
        "systems": [{"name": "good", "hosts": ["good"]}, {"name": "broken", "hosts": ["broken"]}],
    }))
    runs = tmp_path / "runs"
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    proc = subprocess.run([BENCHFLEET, "sweep", str(sweep), "--inventory", str(inv), "--runs-dir", str(runs),
                           "--run-id", "iso"], capture_output=True, text=True, cwd=tmp_path, env=env)
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    states = RunDir(runs / "iso").states()
    assert states["good.resnet50.onnxruntime-cuda.open.SingleStream"].state == "failed"
    assert states["good.resnet50.onnxruntime-cuda.open.SingleStream"].kind == "harness"
    assert states["good.resnet50.onnxruntime-cpu.open.SingleStream"].state == "done"  # the next cell went on
    for dev in ("cuda", "cpu"):
        st = states[f"broken.resnet50.onnxruntime-{dev}.open.SingleStream"]
        assert st.state == "pending" and st.kind == "setup" and st.message.startswith("not run:")
    assert "FAILURES (infrastructure, 2)" in out and "broken / broken.resnet50.onnxruntime-cpu" in out
    assert "FAILURES (cells, 1)" in out and "CUDAExecutionProvider" in out
    summary = json.loads((runs / "iso" / "results.json").read_text())
    assert [(r["host"], r["scenario"]) for r in summary["results"]] == [("good", "SingleStream")]
    assert check_tree(runs / "iso" / "submission", "v3.1", allow_quick=True).ok


def test_ctrl_c_keeps_finished_cells_and_resume_collects_the_rest(cache_dir, tmp_path):
    sweep = tmp_path / "s.yml"
    sweep.write_text(yaml.safe_dump({
        "submitter": "TestLab", "scenarios": ["SingleStream", "MultiStream"], "model": "synthetic",
        "dataset": "synthetic", "synthetic_width": 2, "cache_dir": str(cache_dir), "defaults": {"threads": 1},
        "dataset_count": SAMPLES,
        "systems": [{"name": "local", "hosts": ["all"]}],
    }))
    runs = tmp_path / "runs"
    cmd = [BENCHFLEET, "sweep", str(sweep), "--runs-dir", str(runs), "--run-id", "int"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    deadline = time.time() + 300
    while not list(runs.glob("int/cells/*SingleStream/cell.json")):
        assert proc.poll() is None and time.time() < deadline, proc.stdout.read() if proc.poll() else "timeout"
        time.sleep(0.2)
    while not list(runs.glob("int/status/*MultiStream.json")):  # the second cell is being followed
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    assert "interrupted: finished cells are kept" in out
    rd = RunDir(runs / "int")
    states = rd.states()
    ss, ms = (f"localhost.resnet50.onnxruntime-cpu.open.{s}" for s in ("SingleStream", "MultiStream"))
    assert states[ss].state == "done"
    assert states[ms].state == "failed" and states[ms].kind == "interrupted"
    summary = json.loads((runs / "int" / "results.json").read_text())
    assert [r["scenario"] for r in summary["results"]] == ["SingleStream"]  # the tree holds what finished
    resumed = subprocess.run([BENCHFLEET, "sweep", "--resume", "int", "--runs-dir", str(runs)], capture_output=True,
                             text=True, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert RunDir(runs / "int").states()[ms].state == "done"
    assert {r["scenario"] for r in json.loads((runs / "int" / "results.json").read_text())["results"]} == {
        "SingleStream", "MultiStream"}


def test_two_fleet_runs_and_a_single_host_run_merge_into_one_checked_tree(fleet, tmp_path):
    """Issue 18's merge on real runs: two sweeps over the SSH fleet (two submitters, two hosts each) and a run of one
    host (a third person); a copy of a fleet tree with another description of a system, and the same results
    twice, are errors naming both inputs; the merged tree passes the check and nothing of an input changed."""
    from benchfleet.submission.merge import MergeError, merge

    inv = fleet.inventory(tmp_path / "inventory.yml")
    runs = tmp_path / "runs"
    inputs = []
    for submitter, hosts in (("TestLab", ["lab"]), ("OtherLab", ["lab"]), ("SoloVolunteer", ["node1"])):
        f = tmp_path / f"{submitter}.yml"
        f.write_text(yaml.safe_dump({
            "submitter": submitter, "division": "open", "scenarios": ["SingleStream"], "model": "synthetic",
            "dataset": "synthetic", "synthetic_width": 2, "cache_dir": str(tmp_path / "cache"),
            "dataset_count": SAMPLES, "defaults": {"threads": 1},
            "systems": [{"name": submitter.lower(), "hosts": hosts}]}))
        proc = subprocess.run([BENCHFLEET, "sweep", str(f), "--inventory", str(inv), "--runs-dir", str(runs),
                               "--run-id", submitter], capture_output=True, text=True, cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        inputs.append(runs / submitter)
    digests = [_snapshot(p) for p in inputs]

    copy = tmp_path / "copy"
    shutil.copytree(inputs[0] / "submission", copy)
    with pytest.raises(MergeError, match=r"two results for open/TestLab/.*/resnet50/SingleStream.*--prefer") as err:
        merge([*inputs, copy], tmp_path / "m1", allow_quick=True, log=lambda m: None)
    assert str(inputs[0] / "submission") in str(err.value) and str(copy) in str(err.value)
    desc = next((copy / "open" / "TestLab" / "systems").glob("*.json"))
    desc.write_text(json.dumps({**json.loads(desc.read_text()), "host_memory_capacity": "1 TB"}))
    with pytest.raises(MergeError, match=rf"system {desc.stem} of TestLab \(open\) is described differently in "
                                         r".*\(host_memory_capacity\)"):
        merge([*inputs, copy], tmp_path / "m2", prefer="newest", allow_quick=True, log=lambda m: None)

    out = tmp_path / "merged"
    res = merge(inputs, out, allow_quick=True, log=lambda m: None)
    assert res.report.ok, [str(e) for e in res.report.errors]
    assert res.results == 2 + 2 + 1  # each fleet run: SingleStream on two hosts; the single-host run: one
    assert sorted(p.name for p in (out / "open").iterdir()) == ["OtherLab", "SoloVolunteer", "TestLab"]
    for sub, systems in (("OtherLab", 2), ("TestLab", 2), ("SoloVolunteer", 1)):
        assert len(list((out / "open" / sub / "systems").glob("*.json"))) == systems
    assert check_tree(out, "v3.1", allow_quick=True).ok
    assert [_snapshot(p) for p in inputs] == digests  # inputs only read
