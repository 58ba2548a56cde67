# Copyright: benchfleet contributors
# Apache License 2.0
"""Aggregate every host's fetched benchmark logs into one MLPerf submission tree."""

from __future__ import annotations

DOCUMENTATION = r"""
name: benchfleet_submission
type: aggregate
short_description: Write an MLPerf submission tree from the hosts of a benchfleet run
description:
  - Collects each host's facts and the folder its benchmark results were fetched to
    (the C(benchfleet_result_dir) fact set by the C(benchfleet_benchmark) role).
  - At the end of the playbook, writes the submission tree and a results.json summary.
requirements:
  - the benchfleet Python package on the controller
options:
  output_dir:
    description: Folder that receives C(submission/) and C(results.json).
    type: path
    env:
      - name: BENCHFLEET_OUTPUT_DIR
    ini:
      - section: benchfleet
        key: output_dir
  submitter:
    description: Submitter (organisation) name used in the tree.
    type: str
    default: benchfleet
    env:
      - name: BENCHFLEET_SUBMITTER
  division:
    description: closed or open.
    type: str
    default: open
    env:
      - name: BENCHFLEET_DIVISION
  system_type:
    description: datacenter, edge or both.
    type: str
    default: edge
    env:
      - name: BENCHFLEET_SYSTEM_TYPE
  round:
    description: MLPerf round whose rules apply.
    type: str
    default: v3.1
    env:
      - name: BENCHFLEET_ROUND
"""

EXAMPLES = r"""
# ansible.cfg
# [defaults]
# callbacks_enabled = benchfleet_submission
# [benchfleet]
# output_dir = ./benchfleet-out/run-1
"""

RETURN = r"""
# Writes <output_dir>/submission/ and <output_dir>/results.json; returns nothing to Ansible.
"""

import json
import os
import traceback
from pathlib import Path

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "benchfleet_submission"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.hosts: dict[str, dict] = {}
        self.failures: list[dict] = []

    def _host(self, result) -> dict:
        return self.hosts.setdefault(result._host.get_name(), {"facts": {}, "result_dir": None, "overrides": {}})

    def v2_runner_on_ok(self, result):
        res = result._result or {}
        facts = res.get("ansible_facts") or {}
        h = self._host(result)
        if result._task.action in ("ansible.builtin.gather_facts", "gather_facts", "ansible.builtin.setup", "setup"):
            h["facts"].update({k if k.startswith("ansible_") else f"ansible_{k}": v for k, v in facts.items()})
        if "benchfleet_result_dir" in facts:
            h["result_dir"] = facts["benchfleet_result_dir"]
            h["overrides"] = facts.get("benchfleet_system_overrides") or {}

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if ignore_errors:
            return
        res = result._result or {}
        self.failures.append({"host": result._host.get_name(), "task": result._task.get_name(),
                              "message": str(res.get("msg") or res.get("stderr") or "")[-2000:]})

    def v2_runner_on_unreachable(self, result):
        self.failures.append({"host": result._host.get_name(), "task": result._task.get_name(),
                              "message": "unreachable: " + str((result._result or {}).get("msg", ""))})

    def v2_playbook_on_stats(self, stats):
        out = self.get_option("output_dir")
        if not out:
            self._display.warning("benchfleet_submission: no output_dir set; no submission tree written")
            return
        out = Path(out)
        summary = {"failures": self.failures, "systems": [], "tree": None, "results": []}
        try:
            summary.update(self._write_tree(out))
        except Exception as exc:  # report, never lose what was fetched
            summary["error"] = f"{type(exc).__name__}: {exc}"
            summary["traceback"] = traceback.format_exc()
            self._display.error(f"benchfleet_submission: could not write the tree: {exc}")
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / "results.json.part"
        tmp.write_text(json.dumps(summary, indent=2, default=str))
        os.replace(tmp, out / "results.json")

    def _write_tree(self, out: Path) -> dict:
        from benchfleet.submission.system import describe, system_id
        from benchfleet.submission.tree import SystemRun, write_tree

        division = self.get_option("division")
        runs, systems, rows = [], [], []
        for host, h in sorted(self.hosts.items()):
            if not h["result_dir"]:
                continue
            rdir = Path(h["result_dir"])
            meta = json.loads((rdir / "harness.json").read_text())
            b = meta["backend"]
            sid = system_id(h["facts"], b["name"], b["device"])
            desc = describe(
                h["facts"], division=division, submitter=self.get_option("submitter"),
                system_type=self.get_option("system_type"),
                framework=f"{b['name']} {b['version']}",
                software=f"benchfleet {meta['benchfleet_version']}, mlcommons-loadgen {meta['host']['loadgen']}, "
                         f"Python {meta['host']['python']}",
                synthetic=bool(meta.get("synthetic")),
                overrides=h["overrides"],
            )
            runs.append(SystemRun(sid, desc.values, rdir))
            systems.append({"host": host, "system_id": sid, "unknown_fields": desc.unknown})
            for s in meta["scenarios"]:
                rows.append({"system": sid, "benchmark": meta["benchmark"], "scenario": s["scenario"],
                             "metric": s.get("metric"), "unit": s.get("unit"), "validity": s.get("validity"),
                             "accuracy": s.get("accuracy"), "inferred_from": s.get("inferred_from"),
                             "compliance": s.get("compliance"), "synthetic": meta.get("synthetic"),
                             "not_for_submission": meta.get("not_for_submission")})
        tree = None
        if runs:
            write_tree(out / "submission", self.get_option("submitter"), division, runs, self.get_option("round"))
            tree = str(out / "submission")
        return {"systems": systems, "tree": tree, "results": rows}
