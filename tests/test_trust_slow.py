"""Slow is not dead (issue 12 item 13).

A host that is slow (a shared 2-core machine) but still measuring is not stopped by a fixed limit: the
cell is stopped when it has shown no progress for a stall period, or at a much larger ceiling. A cell
stopped for time keeps what it finished, and a restarted cell does not measure it again. When compliance
keeps failing because the host's speed wanders, the harness names that wander instead of running until a
limit stops it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchfleet.harness import compliance as comp
from benchfleet.harness.run import _Heartbeat, compliance_verdict
from benchfleet.runner import ansible_env
from tests.conftest import tiny_spec

TWO_HOURS = 7200


def _follow_once(env: dict, cell: Path, **params) -> dict:
    """One state=finished call of the real harness_cell module through `ansible localhost`."""
    args = json.dumps({"path": str(cell), "state": "finished", "wait": 1, "min_wait": 0.2, **params})
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible"), "localhost", "-c", "local", "-o",
                           "-m", "benchfleet.mlperf.harness_cell", "-a", args],
                          capture_output=True, text=True, env={**os.environ, **env})
    assert "=>" in proc.stdout, proc.stdout + proc.stderr
    head, body = proc.stdout.split("=>", 1)
    return {**json.loads(body), "failed": "FAILED" in head}  # the one-line output keeps "failed" in its head


def _fake_harness(cell: Path, started_ago: float) -> subprocess.Popen:
    """A live process that the module takes for a running harness, started ``started_ago`` seconds ago."""
    cell.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", "benchfleet.harness"],
                            start_new_session=True)  # its own process group, as the module starts a harness
    (cell / "pid").write_text(str(proc.pid))
    then = time.time() - started_ago
    os.utime(cell / "pid", (then, then))
    return proc


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_slow_cell_that_keeps_logging_progress_is_not_stopped(tmp_path):
    """Two hours in (far past the old 3x estimate + 10 min), with a progress line a moment ago or a heartbeat
    from a LoadGen run that is still working: the cell is followed, not stopped."""
    env = ansible_env(tmp_path / "private")
    cell = tmp_path / "cell"
    proc = _fake_harness(cell, started_ago=TWO_HOURS)
    try:
        (cell / "progress.log").write_text("09:00:00 [SingleStream] compliance TEST05\n")
        res = _follow_once(env, cell, timeout=6 * 3600, stall=600)
        assert not res.get("failed"), res
        assert res["running"] and proc.poll() is None

        # no progress line for an hour, but the heartbeat says a LoadGen run is still working
        _age(cell / "progress.log", 3600)
        (cell / "heartbeat").write_text("working\n")
        res = _follow_once(env, cell, timeout=6 * 3600, stall=600)
        assert not res.get("failed"), res
        assert res["running"] and proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


def test_a_stalled_cell_is_stopped_and_says_what_it_kept(tmp_path):
    env = ansible_env(tmp_path / "private")
    cell = tmp_path / "cell"
    proc = _fake_harness(cell, started_ago=900)
    try:
        (cell / "progress.log").write_text("09:00:00 [Offline] accuracy run over 1024 samples\n")
        (cell / "results").mkdir()
        (cell / "results" / "harness.json").write_text(json.dumps({"complete": False, "scenarios": [
            {"scenario": "SingleStream", "metric": 1.0, "runs": []},
            {"scenario": "Offline", "partial": True, "runs": [{"kind": "accuracy"}]}]}))
        _age(cell / "progress.log", 700)
        res = _follow_once(env, cell, timeout=6 * 3600, stall=600)
        assert res.get("failed") and res["timed_out"] and res["stalled"], res
        assert re.search(r"stalled: no progress line or heartbeat for 70\d s", res["msg"]), res["msg"]
        assert "SingleStream" in res["msg"] and "kept" in res["msg"], res["msg"]
        assert proc.wait(timeout=10) is not None  # stopped
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_ceiling_stops_even_a_progressing_cell(tmp_path):
    env = ansible_env(tmp_path / "private")
    cell = tmp_path / "cell"
    proc = _fake_harness(cell, started_ago=TWO_HOURS)
    try:
        (cell / "progress.log").write_text("09:00:00 [SingleStream] compliance TEST05\n")
        res = _follow_once(env, cell, timeout=3600, stall=600)
        assert res.get("failed") and res["timed_out"] and not res["stalled"], res
        assert "over its 3600 s ceiling while still progressing" in res["msg"], res["msg"]
        assert "nothing finished" in res["msg"], res["msg"]
        assert proc.wait(timeout=10) is not None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_spread_is_range_over_median():
    assert comp.spread([100.0, 130.0, 100.0, 110.0, 100.0]) == pytest.approx(0.30)
    assert comp.spread([50.0]) == 0.0
    assert comp.spread([]) == 0.0


def test_noise_verdict_names_how_much_the_performance_runs_vary():
    verdict = comp.noise_verdict([100.0, 130.0, 100.0, 110.0, 100.0], ["TEST04", "TEST05"])
    assert verdict.startswith("host too noisy for compliance: performance runs vary by 30%"), verdict
    assert "TEST04, TEST05" in verdict and "5 rounds" in verdict
    # compliance that fails on a steady host is not blamed on noise
    steady = comp.noise_verdict([100.0, 101.0, 100.5], ["TEST04"])
    assert "too noisy" not in steady and "vary by only 1%" in steady and "TEST04" in steady, steady


def _perf(metric: float) -> dict:
    return {"kind": "performance", "metric": metric, "validity": "VALID"}


def test_a_scenario_whose_compliance_failed_in_every_round_gets_the_noise_verdict():
    """The harness's verdict from a scenario record as run.py keeps it: earlier rounds and the last one."""
    scenario = {"scenario": "SingleStream", "compliance": {"TEST01": True, "TEST04": False, "TEST05": False},
                "earlier_rounds": [[_perf(236e6), {"kind": "TEST05", "passed": False}],
                                   [_perf(307e6), {"kind": "TEST05", "passed": False}]],
                "runs": [{"kind": "accuracy"}, _perf(250e6), {"kind": "TEST05", "passed": False}]}
    noise = compliance_verdict(scenario, ["TEST04", "TEST05"])
    assert noise["metrics"] == [236e6, 307e6, 250e6]
    assert noise["spread"] == pytest.approx((307 - 236) / 250, abs=1e-3)
    assert noise["failure"].startswith("host too noisy for compliance: performance runs vary by 28%")
    assert compliance_verdict(scenario, []) is None


def _wait_for(path: Path, text: str, proc: subprocess.Popen, limit: float = 300) -> None:
    end = time.time() + limit
    while time.time() < end:
        if path.is_file() and text in path.read_text():
            return
        assert proc.poll() is None, f"the harness ended before logging {text!r}"
        time.sleep(0.1)
    raise AssertionError(f"no {text!r} in {path} after {limit} s")


def _start(folder: Path) -> subprocess.Popen:
    """The harness as the harness_cell module starts it: in its own process group, beside progress.log."""
    (folder / "progress.log").unlink(missing_ok=True)  # the module clears it at each start
    return subprocess.Popen([sys.executable, "-m", "benchfleet.harness", "--spec", "spec.json", "--out", "results"],
                            cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _stop_at(proc: subprocess.Popen, progress: Path, text: str) -> list[str]:
    """Stop the harness (as the module stops it) once it logs ``text``; its progress lines."""
    try:
        _wait_for(progress, text, proc)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()
    return [line.split(" ", 1)[1] for line in progress.read_text().splitlines()]


def test_a_stopped_cell_keeps_its_finished_scenarios_and_a_restart_does_not_measure_them_again(cache_dir, tmp_path):
    """The real harness, stopped while measuring its second scenario, then started again on the same folder
    (as `sweep --resume` restarts a failed cell): the first scenario's results survive the stop and are not
    measured again."""
    # 64 samples: the accuracy runs (two of them here) scale with the dataset; what is kept does not.
    spec = tiny_spec(cache_dir, division="open", scenarios=["SingleStream", "Offline"], offline="measured",
                     dataset_count=64)
    (tmp_path / "spec.json").write_text(spec.model_dump_json())
    saved = tmp_path / "results" / "harness.json"
    _stop_at(_start(tmp_path), tmp_path / "progress.log", "[Offline]")
    first = json.loads(saved.read_text())
    assert first["complete"] is False
    ss = next(s for s in first["scenarios"] if s["scenario"] == "SingleStream")
    assert not ss.get("partial") and ss["metric"] > 0 and ss["validity"] == "VALID"

    lines = _stop_at(_start(tmp_path), tmp_path / "progress.log", "[Offline] performance run")
    assert any(line.startswith("[SingleStream] kept from an earlier start") for line in lines), lines
    assert not any(line.startswith("[SingleStream] accuracy run") for line in lines), lines
    second = json.loads(saved.read_text())
    assert second["complete"] is False and second["kept_from_earlier_start"] == ["SingleStream"]
    done = {s["scenario"]: s for s in second["scenarios"]}
    assert done["SingleStream"] == ss  # the first start's record, untouched
    assert done["Offline"]["partial"] and [r["kind"] for r in done["Offline"]["runs"]] == ["accuracy"]
    assert (tmp_path / "results" / "SingleStream" / "performance" / "run_1" / "mlperf_log_detail.txt").is_file()


def test_the_heartbeat_beats_while_a_process_works_and_stops_when_it_hangs(tmp_path):
    """The heartbeat the watchdog reads between progress lines: rewritten while the LoadGen process uses CPU,
    not while it sits blocked (a hung run)."""
    beat = tmp_path / "heartbeat"
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        with _Heartbeat(beat, 0.3, lambda: (busy.pid, "SingleStream performance")):
            time.sleep(1.5)
        assert "working on SingleStream performance" in beat.read_text()
    finally:
        busy.kill()
        busy.wait()
    beat.unlink()
    hung = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.5)  # past its start-up
        with _Heartbeat(beat, 0.3, lambda: (hung.pid, "SingleStream performance")):
            time.sleep(1.5)
        assert not beat.exists()
    finally:
        hung.kill()
        hung.wait()
