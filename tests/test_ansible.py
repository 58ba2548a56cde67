"""The Ansible path: the callback plugin and `benchfleet run` through ansible-runner."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchfleet.runner import ansible_env
from benchfleet.submission.check import check_tree
from benchfleet.submission.system import UNKNOWN
from benchfleet.sweep.plan import Cell, Plan, PlanSystem
from benchfleet.sweep.rundir import RunDir
from benchfleet.sweep.schema import parse
from tests.conftest import ROOT

VENV_BIN = Path(sys.executable).parent


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return ""


def _mem_gb() -> int:
    kb = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
    return round(kb / 1024 / 1024)


def _recorded_plan(run_dir: Path, recorded_run: Path) -> str:
    """A run directory with one finished cell: the recorded closed run, as if fetched from localhost."""
    meta = json.loads((recorded_run / "harness.json").read_text())
    cell = Cell("localhost.recorded", "localhost", "local", "resnet50", "onnxruntime", "cpu", "closed",
                [s["scenario"] for s in meta["scenarios"]], meta["spec"], 0.0)
    sweep = parse({"submitter": "TestOrg", "round": "v3.1", "systems": [{"name": "local", "hosts": ["all"]}]})
    plan = Plan("recorded", sweep, str(ROOT / "inventories" / "local"), ["localhost"], {"local": PlanSystem("edge")},
                [cell])
    rd = RunDir(run_dir)
    rd.save_plan(plan)
    shutil.copytree(recorded_run, rd.cell_dir(cell.id) / "results")
    (rd.cell_dir(cell.id) / "cell.json").write_text(json.dumps({"cell": cell.id, "host": "localhost"}))
    return cell.id


def test_callback_builds_tree_from_recorded_run(recorded_run, tmp_path):
    run_dir = tmp_path / "run"
    _recorded_plan(run_dir, recorded_run)
    play = tmp_path / "play.yml"
    play.write_text(
        "- hosts: localhost\n  gather_facts: false\n"
        "  vars:\n    benchfleet_system: {host_memory_configuration: 1x 24 GB DDR4}\n"
        "  roles: [benchfleet_harness]\n"
    )
    env = dict(os.environ, **ansible_env(tmp_path / "ansible", run_dir))
    proc = subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", str(ROOT / "inventories" / "local"), str(play)],
                          env=env, capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads((run_dir / "results.json").read_text())
    assert summary["tree"] == str(run_dir / "submission") and summary["failures"] == []
    (system,) = summary["systems"]
    desc = json.loads((run_dir / "submission" / "closed" / "TestOrg" / "systems" / f"{system['system_id']}.json")
                      .read_text())
    assert all(isinstance(v, str) for v in desc.values())
    assert desc["host_processor_model_name"] == _cpu_model()  # from the real facts of this machine
    assert desc["host_processor_core_count"] != ""
    assert "SYNTHETIC" in desc["sw_notes"]
    assert desc["host_memory_configuration"] == "1x 24 GB DDR4"  # inventory override wins
    assert "host_memory_configuration" not in system["unknown_fields"]
    assert desc["host_memory_capacity"] == f"{_mem_gb()} GB"
    assert desc["host_processor_caches"].startswith("L1d ")  # from sysfs
    # every value not detected is marked, and every marked value is listed for the user
    assert sorted(system["unknown_fields"]) == sorted(k for k, v in desc.items() if v == UNKNOWN)
    assert {r["scenario"] for r in summary["results"]} == {"SingleStream", "MultiStream", "Offline"}
    assert json.loads((run_dir / "hosts" / "localhost.json").read_text())["facts"]["vcpus"] == os.cpu_count()
    report = check_tree(run_dir / "submission", "v3.1", allow_quick=True)
    assert report.ok, [str(e) for e in report.errors]


def test_benchfleet_run_end_to_end(cache_dir, tmp_path):
    out = tmp_path / "run"
    cmd = [str(VENV_BIN / "benchfleet"), "run", "--synthetic-width", "8", "--out", str(out),
           "--cache-dir", str(cache_dir), "--run-id", "e2e"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = proc.stdout
    assert "SingleStream" in text and "inferred from SingleStream" in text and "SYNTHETIC" in text
    assert f"submission tree: {out / 'submission'}" in text
    assert "benchfleet check: OK" in text
    assert "[SingleStream] accuracy run" in text and "[SingleStream] performance run" in text  # live progress
    tree = out / "submission" / "open" / "benchfleet"
    assert (tree / "results").is_dir() and not (out / "submission" / "closed").exists()
    harness_json = out / "cells" / "localhost.resnet50.onnxruntime-cpu.open.SingleStream+Offline" / "results" \
        / "harness.json"
    stamp = harness_json.stat().st_mtime_ns
    # Idempotent re-run: finished work is kept, the harness does not run again.
    again = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert harness_json.stat().st_mtime_ns == stamp
    assert "nothing to do: all 1 cells of run e2e are done" in again.stdout


def test_check_mode_runs_nothing(cache_dir, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run([str(VENV_BIN / "benchfleet"), "run", "--check", "--synthetic-width", "8", "--out", str(out),
                           "--cache-dir", str(cache_dir), "--run-id", "chk"], capture_output=True, text=True,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "check mode: Ansible reported what would change for 1 cells (rc 0)" in proc.stdout
    assert "FAILED" not in proc.stdout
    assert not (out / "cells").exists() and not (out / "submission").exists()
    uid = json.loads((out / "plan.json").read_text())["uid"]
    assert not (Path.home() / ".benchfleet" / "work" / f"chk-{uid}").exists()  # no harness was started


def _follow_once(env: dict, cell: Path, wait: int) -> tuple[dict, float]:
    """One state=finished call of harness_cell through `ansible localhost`; its result and its duration."""
    args = json.dumps({"path": str(cell), "state": "finished", "wait": wait, "min_wait": 0.2})
    started = time.monotonic()
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible"), "localhost", "-c", "local", "-o",
                           "-m", "benchfleet.mlperf.harness_cell", "-a", args],
                          capture_output=True, text=True, env={**os.environ, **env})
    took = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.split("=>", 1)[1]), took


def test_follower_returns_at_progress_lines_but_not_while_runs_are_timed(tmp_path):
    """A new progress line ends a follow call early (followers see each step), unless the harness holds
    `measuring`: then the call waits its whole `wait`, so that the processes each call starts on the host
    do not land at the start of the runs the compliance rules compare."""
    env = ansible_env(tmp_path / "private")
    cell = tmp_path / "cell"
    cell.mkdir()
    # a live process that looks like a running harness to the module
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "benchfleet.harness"])
    try:
        (cell / "pid").write_text(str(proc.pid))
        (cell / "progress.log").write_text("10:00:00 [SingleStream] accuracy run over 24 samples\n")
        res, took = _follow_once(env, cell, wait=20)
        assert res["running"] and res["progress_new"] == ["10:00:00 [SingleStream] accuracy run over 24 samples"]
        assert took < 20  # returned at the new line, well before its 20 s wait

        (cell / "measuring").write_text("SingleStream\n")
        with (cell / "progress.log").open("a") as f:
            f.write("10:00:05 [SingleStream] performance run\n")
        res, took = _follow_once(env, cell, wait=4)
        assert res["running"] and res["progress_new"] == ["10:00:05 [SingleStream] performance run"]
        assert took >= 4  # held to its wait: the line did not end it
    finally:
        proc.kill()
        proc.wait()


def test_the_sweep_playbook_checks_its_variables_once_before_anything_runs(tmp_path):
    """playbooks/sweep.yml run by hand (or by a job template) with bad extra variables stops in its first play: no
    host is contacted, no cell starts. The cell play's roles skip their own per-host check because of it."""
    inv = tmp_path / "inv.yml"
    env = dict(os.environ, **ansible_env(tmp_path / "ansible", tmp_path))
    env.pop("BENCHFLEET_RUN_DIR", None)

    def play(extra: dict, **hostvars) -> subprocess.CompletedProcess:
        inv.write_text(json.dumps({"all": {"hosts": {"lab1": {"ansible_host": "192.0.2.1", **hostvars}}}}))
        (tmp_path / "extra.json").write_text(json.dumps(extra))
        return subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", str(inv), "-e", f"@{tmp_path / 'extra.json'}",
                               str(ROOT / "playbooks" / "sweep.yml")], env=env, capture_output=True, text=True,
                              cwd=ROOT)

    cell = {"id": "lab1.resnet50.onnxruntime-cpu.open.SingleStream", "spec": {}, "estimate_s": 5}
    run_dir = {"benchfleet_benchmark_run_dir": str(tmp_path)}
    shape = "benchfleet_sweep_cells maps each host to a list of cells"
    cases = [
        ({"benchfleet_sweep_cells": {"lab1": [cell]}}, {}, "missing required arguments: benchfleet_benchmark_run_dir"),
        ({"benchfleet_sweep_cells": {"lab1": [cell]}, **run_dir, "benchfleet_benchmark_poll_s": "soon"}, {},
         "benchfleet_benchmark_poll_s"),
        ({"benchfleet_sweep_cells": {"lab1": "all of them"}, **run_dir}, {}, shape),
        ({"benchfleet_sweep_cells": {"lab1": cell}, **run_dir}, {}, shape),  # a mapping is a sequence to Jinja
        ({"benchfleet_sweep_cells": {"lab1": [{"spec": {}, "estimate_s": 5}]}, **run_dir}, {}, shape),
        ({"benchfleet_sweep_cells": {"lab1": [{"id": cell["id"], "spec": {}}]}, **run_dir}, {}, shape),
        # what the inventory sets for a host with cells
        ({"benchfleet_sweep_cells": {"lab1": [cell]}, **run_dir}, {"benchfleet_system": "fast"}, "benchfleet_system"),
        ({"benchfleet_sweep_cells": {"lab1": [cell]}, **run_dir}, {"benchfleet_benchmark_notice_clouds": {"a": 1}},
         "benchfleet_benchmark_notice_clouds"),
    ]
    for extra, hostvars, why in cases:
        proc = play(extra, **hostvars)
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0 and why in out, (extra, hostvars, out[-3000:])
        assert "[lab1]" not in proc.stdout and "TASK [Run cell" not in proc.stdout, out[-3000:]  # never contacted
