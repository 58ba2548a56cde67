"""The contributor board against a hand-worked case: points per submitter and system, by the call's rule (one point
per benchmark with valid, complete results on one system)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchfleet.submission import board
from benchfleet.submission.tree import SystemRun, write_tree
from tests.treeparts import SYSTEM, set_log_value, system_description

BENCHFLEET = str(Path(sys.executable).parent / "benchfleet")


def _trees(recorded_run: Path, tmp_path: Path) -> tuple[Path, Path]:
    """Two trees. TestOrg: a complete system (1 point), one without its MultiStream (incomplete), one whose
    SingleStream run is INVALID; OtherLab (another person's tree): one complete system (1 point)."""
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    runs = [SystemRun(f"{SYSTEM}_{name}", system_description(), recorded_run) for name in ("a", "b", "c")]
    write_tree(ours, "TestOrg", runs)
    write_tree(theirs, "OtherLab", [SystemRun(f"{SYSTEM}_d", dict(system_description(), submitter="OtherLab"),
                                              recorded_run)])
    sub = ours / "closed" / "TestOrg"
    for folder in ("results", "measurements", "compliance"):  # b: its MultiStream result taken out
        shutil.rmtree(sub / folder / f"{SYSTEM}_b" / "resnet50" / "MultiStream")
    perf = sub / "results" / f"{SYSTEM}_c" / "resnet50" / "SingleStream" / "performance" / "run_1"
    set_log_value(perf / "mlperf_log_detail.txt", "result_validity", "INVALID")  # c: an INVALID run
    summary = perf / "mlperf_log_summary.txt"
    summary.write_text(summary.read_text().replace("Result is : VALID", "Result is : INVALID"))
    return ours, theirs


def test_points_match_the_hand_worked_case(recorded_run, tmp_path):
    ours, theirs = _trees(recorded_run, tmp_path)
    b = board.board([ours, theirs], "v3.1", allow_quick=True)  # the recorded run is a quick run
    assert b.points() == {("OtherLab", f"{SYSTEM}_d"): 1, ("TestOrg", f"{SYSTEM}_a"): 1,
                          ("TestOrg", f"{SYSTEM}_b"): 0, ("TestOrg", f"{SYSTEM}_c"): 0}
    assert b.by_submitter() == {"OtherLab": 1, "TestOrg": 1}
    why = {e.system: e.why for e in b.entries}
    assert why[f"{SYSTEM}_b"] == ("incomplete: no MultiStream result (on an edge system resnet50 needs SingleStream, "
                                  "MultiStream, Offline)")
    assert why[f"{SYSTEM}_c"].startswith("SingleStream not VALID: results/")
    a = next(e for e in b.entries if e.system == f"{SYSTEM}_a")
    assert a.scenarios == {"MultiStream": True, "Offline": True, "SingleStream": True} and a.system_type == "edge"

    # a quick tree is a practice run: without --allow-quick it earns nothing, and the board says why
    strict = board.board([ours], "v3.1")
    assert strict.by_submitter() == {"TestOrg": 0}
    strict_a = next(e.why for e in strict.entries if e.system == f"{SYSTEM}_a")
    assert strict_a.startswith("SingleStream, MultiStream, Offline not VALID: measurements/") and \
        "declares QUICK MODE" in strict_a

    text = board.text(b)
    assert "QUICK-MODE TREES COUNTED" in text
    assert text.index("OtherLab") < text.index("TestOrg / ")  # submitters by points, then by name
    assert f"TestOrg / {SYSTEM}_b (edge): 0 point(s)" in text


def test_a_compliance_error_or_a_broken_description_takes_the_point(recorded_run, tmp_path):
    ours, _ = _trees(recorded_run, tmp_path)
    sub = ours / "closed" / "TestOrg"
    # a: its TEST04 verdict says FAIL (closed: compliance must pass)
    verdict = next((sub / "compliance" / f"{SYSTEM}_a" / "resnet50" / "SingleStream" / "TEST04").rglob(
        "verify_performance.txt"))
    verdict.write_text(verdict.read_text().replace("TEST PASS", "TEST FAIL"))
    b = board.board([ours], "v3.1", allow_quick=True)
    a = next(e for e in b.entries if e.system == f"{SYSTEM}_a")
    assert not a.point and "TEST04" in a.why, a.why
    # a system description with no system type: no required scenarios to judge by
    desc = sub / "systems" / f"{SYSTEM}_a.json"
    data = json.loads(desc.read_text())
    del data["system_type"]
    desc.write_text(json.dumps(data))
    a = next(e for e in board.board([ours], "v3.1", allow_quick=True).entries if e.system == f"{SYSTEM}_a")
    assert not a.point and a.why


def test_board_command_reads_run_directories_and_escapes_names(recorded_run, tmp_path):
    ours, theirs = _trees(recorded_run, tmp_path)
    run_dir = tmp_path / "runs" / "lab-1"
    run_dir.mkdir(parents=True)
    shutil.move(str(theirs), run_dir / "submission")  # a benchfleet run directory: its submission/ is read
    out = subprocess.run([BENCHFLEET, "board", str(ours), str(run_dir), "--allow-quick"], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    assert "OtherLab" in out.stdout and "TestOrg" in out.stdout
    js = subprocess.run([BENCHFLEET, "board", str(ours), str(run_dir), "--allow-quick", "--json"],
                        capture_output=True, text=True)
    data = json.loads(js.stdout)
    assert data["submitters"] == {"OtherLab": 1, "TestOrg": 1} and len(data["benchmarks"]) == 4
    # a submitter folder named with a terminal escape is printed escaped
    evil = ours / "closed" / "Evil\x1b[2J"
    shutil.copytree(ours / "closed" / "TestOrg", evil)
    out = subprocess.run([BENCHFLEET, "board", str(ours), "--allow-quick"], capture_output=True, text=True)
    assert "\x1b" not in out.stdout and "Evil\\x1b[2J" in out.stdout
    bad = subprocess.run([BENCHFLEET, "board", str(tmp_path / "nope")], capture_output=True, text=True)
    assert bad.returncode != 0 and "board: " in bad.stderr and "not a folder" in bad.stderr


def test_export_rows_carry_derived_metrics_in_the_documented_schema(recorded_run, tmp_path):
    from benchfleet.submission import export

    ours, theirs = _trees(recorded_run, tmp_path)
    run_dir = tmp_path / "runs" / "aws-1"
    run_dir.mkdir(parents=True)
    shutil.move(str(theirs), run_dir / "submission")
    # the run's own results.json names the cloud instance's price of its SingleStream result
    (run_dir / "results.json").write_text(json.dumps({"results": [
        {"system": f"{SYSTEM}_d", "benchmark": "resnet50", "scenario": "SingleStream", "usd_per_hour": 0.192},
        {"system": f"{SYSTEM}_d", "benchmark": "resnet50", "scenario": "Offline", "usd_per_hour": "0.1; rm -rf"}]}))
    out = subprocess.run([BENCHFLEET, "export", str(ours), str(run_dir), "--allow-quick", "--out",
                          str(tmp_path / "x")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    data = json.loads((tmp_path / "x" / "results.json").read_text())
    assert data["schema_version"] == 1 and list(data["fields"]) == list(export.FIELDS)
    rows = data["results"]
    assert len(rows) == 11 and all(list(r) == list(export.FIELDS) for r in rows)  # a, c, d: 3 each; b: 2
    ss = next(r for r in rows if r["system"] == f"{SYSTEM}_d" and r["scenario"] == "SingleStream")
    assert ss["unit"] == "ms" and ss["cores"] == 2 and ss["accelerators"] == 0 and ss["quick"] is True
    assert ss["samples_per_s"] == pytest.approx(1000 / ss["metric"])
    assert ss["samples_per_s_per_core"] == pytest.approx(ss["samples_per_s"] / 2)
    assert ss["samples_per_s_per_accelerator"] is None
    assert ss["usd_per_hour"] == 0.192 and ss["samples_per_s_per_usd_hour"] == pytest.approx(ss["samples_per_s"]
                                                                                           / 0.192)
    assert ss["usd_per_million_samples"] == pytest.approx(0.192 / 3600 / ss["samples_per_s"] * 1e6)
    ms = next(r for r in rows if r["system"] == f"{SYSTEM}_a" and r["scenario"] == "MultiStream")
    assert ms["samples_per_s"] == pytest.approx(8000 / ms["metric"])  # 8 samples a query
    off = next(r for r in rows if r["system"] == f"{SYSTEM}_d" and r["scenario"] == "Offline")
    assert off["usd_per_hour"] is None and off["samples_per_s"] == off["metric"]  # a price that is not a number
    invalid = next(r for r in rows if r["system"] == f"{SYSTEM}_c" and r["scenario"] == "SingleStream")
    assert invalid["valid"] is False
    csv_lines = (tmp_path / "x" / "results.csv").read_text().splitlines()
    assert csv_lines[0] == ",".join(export.FIELDS) and len(csv_lines) == 12
