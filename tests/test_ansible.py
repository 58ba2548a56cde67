"""The Ansible path: the callback plugin and `benchfleet run` through ansible-runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from benchfleet.submission.check import check_tree
from tests.conftest import ROOT

VENV_BIN = Path(sys.executable).parent


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return ""


def test_callback_builds_tree_from_recorded_run(recorded_run, tmp_path):
    play = tmp_path / "play.yml"
    play.write_text(
        "- hosts: localhost\n  gather_facts: true\n  tasks:\n"
        "    - name: Point at the recorded results\n"
        "      ansible.builtin.set_fact:\n"
        f"        benchfleet_result_dir: {recorded_run}\n"
        "        benchfleet_system_overrides: {host_memory_configuration: 1x 24 GB DDR4}\n"
    )
    out = tmp_path / "out"
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               ANSIBLE_CALLBACK_PLUGINS=str(ROOT / "plugins" / "callback"),
               ANSIBLE_CALLBACKS_ENABLED="benchfleet_submission", BENCHFLEET_OUTPUT_DIR=str(out),
               BENCHFLEET_DIVISION="closed", BENCHFLEET_SUBMITTER="TestOrg",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    proc = subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", str(ROOT / "inventories" / "local"), str(play)],
                          env=env, capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads((out / "results.json").read_text())
    assert summary["tree"] == str(out / "submission") and summary["failures"] == []
    (system,) = summary["systems"]
    desc = json.loads((out / "submission" / "closed" / "TestOrg" / "systems" / f"{system['system_id']}.json")
                      .read_text())
    assert all(isinstance(v, str) for v in desc.values())
    assert desc["host_processor_model_name"] == _cpu_model()  # from the real facts of this machine
    assert desc["host_processor_core_count"] != ""
    assert "SYNTHETIC" in desc["sw_notes"]
    assert desc["host_memory_configuration"] == "1x 24 GB DDR4"  # inventory override wins
    assert "host_memory_configuration" not in system["unknown_fields"]
    assert desc["host_processor_frequency"].startswith("unknown")  # not guessed: marked and listed
    assert "host_processor_frequency" in system["unknown_fields"]
    assert {r["scenario"] for r in summary["results"]} == {"SingleStream", "MultiStream", "Offline"}
    report = check_tree(out / "submission", "v3.1")
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
    assert "harness: " in text and "[SingleStream] accuracy run" in text  # live progress from the host
    tree = out / "submission" / "open" / "benchfleet"
    assert (tree / "results").is_dir() and not (out / "submission" / "closed").exists()
    harness_json = out / "hosts" / "localhost" / "results" / "harness.json"
    stamp = harness_json.stat().st_mtime_ns
    # Idempotent re-run: finished work is kept, the harness does not run again.
    again = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert harness_json.stat().st_mtime_ns == stamp
    assert "benchfleet check: OK" in again.stdout
