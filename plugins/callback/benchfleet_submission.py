# Copyright: benchfleet contributors
# Apache License 2.0
"""Record every sweep cell's state as it happens and write one MLPerf submission tree at the end."""

from __future__ import annotations

DOCUMENTATION = r"""
name: benchfleet_submission
type: aggregate
short_description: Track benchfleet sweep cells and write the run's MLPerf submission tree
description:
  - Per host, keeps the C(benchfleet_host) facts (from the C(benchfleet.mlperf.host_facts) module)
    and inventory overrides (for the system descriptions) in the
    run directory, and the state of each cell (running with the harness's progress, failed with the
    task and message, unreachable), so that C(benchfleet status) and C(benchfleet sweep --resume)
    work from the run directory alone.
  - Finished cells are moved into the run directory by the C(benchfleet.mlperf.cell_fetch) action;
    at the end of the playbook this plugin rebuilds the submission tree, C(results.json) and
    C(results.csv) from every finished cell of the run (this invocation's and earlier ones').
requirements:
  - the benchfleet Python package on the controller
options:
  run_dir:
    description: The run directory (C(runs/<run-id>)) holding C(plan.json).
    type: path
    env:
      - name: BENCHFLEET_RUN_DIR
    ini:
      - section: benchfleet
        key: run_dir
"""

EXAMPLES = r"""
# ansible.cfg
# [defaults]
# callbacks_enabled = benchfleet_submission
# [benchfleet]
# run_dir = ./runs/sweep-1
"""

RETURN = r"""
# Writes <run_dir>/hosts/, <run_dir>/status/, <run_dir>/submission/, results.json and results.csv.
"""

import json
import time
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
        self.rd = None
        self.current: dict[str, str | None] = {}
        self.started: dict[str, float] = {}
        self.check_mode = False

    # --- set-up -------------------------------------------------------------------------
    def v2_playbook_on_start(self, playbook):
        from ansible import context

        self.check_mode = bool(context.CLIARGS.get("check"))
        run_dir = self.get_option("run_dir")
        if not run_dir:
            self._display.warning("benchfleet_submission: no run_dir set (BENCHFLEET_RUN_DIR); nothing recorded")
            return
        from benchfleet.sweep.rundir import RunDir

        rd = RunDir(Path(run_dir))
        if not rd.exists():
            self._display.warning(f"benchfleet_submission: {run_dir} has no plan.json; nothing recorded")
            return
        self.rd = rd

    def _active(self) -> bool:
        return self.rd is not None and not self.check_mode

    # --- per-host records ------------------------------------------------------------------
    def _host_record(self, host: str, facts: dict | None = None, overrides: dict | None = None) -> None:
        from benchfleet.sweep.rundir import write_atomic

        p = self.rd.host_file(host)
        rec = json.loads(p.read_text()) if p.is_file() else {"facts": {}, "overrides": {}}
        if facts is not None:
            rec["facts"] = facts
            rec["facts_time"] = time.time()
        if overrides is not None:
            rec["overrides"] = overrides
        write_atomic(p, json.dumps(rec, indent=1, default=str))

    def _status(self, host: str, cell: str, state: str, **kw) -> None:
        from benchfleet.sweep.rundir import CellState

        if self.rd.done(cell):
            return
        self.rd.write_status(CellState(cell, host, state, started=self.started.get(cell), **kw))

    # --- events ------------------------------------------------------------------------
    def v2_runner_on_ok(self, result):
        if not self._active():
            return
        host = result._host.get_name()
        res = result._result or {}
        facts = res.get("ansible_facts") or {}
        action = result._task.action
        if action.endswith("cloud_instances"):
            self._cloud(res)
            return
        if "benchfleet_host" in facts:
            self._host_record(host, facts=facts["benchfleet_host"],
                              overrides=facts["benchfleet_host"].get("overrides") or {})
            self.rd.clear_host_failure(host)
        if "benchfleet_benchmark_cell_current" in facts:
            cell = facts["benchfleet_benchmark_cell_current"]
            self.current[host] = cell
            self.started[cell] = time.time()
            self._status(host, cell, "running", progress="starting")
        elif action.endswith("harness_cell") and self.current.get(host):
            self._status(host, self.current[host], "running", progress=res.get("progress", ""))
        elif action.endswith("cell_fetch") and self.current.get(host):
            cell = self.current.pop(host)
            self.rd.status_file(cell).unlink(missing_ok=True)

    def _cloud(self, res: dict, failure: str = "") -> None:
        """Provisioning: every attempt goes to cloud/attempts.jsonl; hosts left without an instance fail."""
        from benchfleet.sweep.rundir import write_atomic

        attempts = self.rd.root / "cloud" / "attempts.jsonl"
        attempts.parent.mkdir(parents=True, exist_ok=True)
        with open(attempts, "a") as f:
            for a in res.get("attempts") or []:
                f.write(json.dumps({**a, "time": time.time()}) + "\n")
        for host, why in (res.get("failed_hosts") or {}).items():
            self.rd.write_host_failure(host, "provision", "Create the instances the run's cloud systems need", why)
        for host in res.get("created") or []:
            self.rd.clear_host_failure(host)
        if failure:
            write_atomic(self.rd.root / "cloud" / "failure.txt", failure + "\n")

    def v2_runner_retry(self, result):
        if not self._active():
            return
        host = result._host.get_name()
        if self.current.get(host):
            self._status(host, self.current[host], "running", progress=(result._result or {}).get("progress", ""))

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if ignore_errors or not self._active():
            return
        host = result._host.get_name()
        res = result._result or {}
        task = result._task.get_name()
        message = str(res.get("msg") or res.get("stderr") or res.get("module_stderr") or "")[-3000:]
        if result._task.action.endswith("cloud_instances"):
            if result._task.args.get("state") != "absent":  # a failed teardown is the CLI's to report
                self._cloud(res, failure=f"{task}: {message}")
            return
        cell = self.current.get(host)
        if cell is None:
            self.rd.write_host_failure(host, "setup", task, message)
            return
        from benchfleet.sweep.rundir import failure_kind

        self._status(host, cell, "failed", kind=failure_kind(result._task.action, res), task=task, message=message,
                     finished=time.time())
        self.current[host] = None

    def v2_runner_on_unreachable(self, result):
        if not self._active():
            return
        host = result._host.get_name()
        message = "host unreachable: " + str((result._result or {}).get("msg", "")).strip()[-1000:]
        task = result._task.get_name()
        cell = self.current.pop(host, None)
        if cell and self.rd.done(cell):  # lost right after the cell came home: it stays done
            self.rd.status_file(cell).unlink(missing_ok=True)
        elif cell:
            self._status(host, cell, "failed", kind="unreachable", task=task, message=message, finished=time.time())
        self.rd.write_host_failure(host, "unreachable", task, message)

    def v2_playbook_on_stats(self, stats):
        if not self._active():
            return
        from benchfleet.sweep.aggregate import aggregate
        from benchfleet.sweep.rundir import write_atomic

        try:
            aggregate(self.rd.root)
            (self.rd.root / "aggregate-error.txt").unlink(missing_ok=True)
        except Exception as exc:  # report, never lose what was fetched: cells/ is untouched
            write_atomic(self.rd.root / "aggregate-error.txt", traceback.format_exc())
            self._display.error(f"benchfleet_submission: could not write the tree: {exc}")
