# Copyright: benchfleet contributors
# Apache License 2.0
"""Record every sweep cell's state as it happens and write one MLPerf submission tree at the end."""

from __future__ import annotations

DOCUMENTATION = r"""
name: benchfleet_submission
type: aggregate
short_description: Track benchfleet sweep cells and write the run's MLPerf submission tree
description:
  - What each event means for a cell is decided by the C(benchfleet.sweep.cells) state machine of the
    benchfleet package, which the live view of C(benchfleet sweep) shares; this plugin records its output.
  - Per host, keeps the C(benchfleet_host) facts (from the C(benchfleet.mlperf.host_facts) module)
    and inventory overrides (for the system descriptions) in the
    run directory, and the state of each cell (running with the harness's progress, failed with the
    task and message, unreachable), so that C(benchfleet status) and C(benchfleet sweep --resume)
    work from the run directory alone.
  - Finished cells are moved into the run directory by the controller side of C(benchfleet.mlperf.harness_cell)
    (the code of the C(benchfleet.mlperf.cell_fetch) action);
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
# Writes <run_dir>/hosts/, <run_dir>/status/ (through benchfleet.sweep.rundir.RunDir.record), cloud/attempts.jsonl,
# <run_dir>/submission/, results.json and results.csv, then ansible/aggregated-<ident> (the invocation's
# benchfleet_benchmark_session): benchfleet aggregates again only when that marker is missing.
"""

import json
import time
import traceback
from pathlib import Path

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    """Feeds every runner event to the package's cell tracker (benchfleet.sweep.cells) and records what changes
    through the run directory's one writer; at the end rebuilds the tree and leaves the aggregated marker."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "benchfleet_submission"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rd = None
        self.cells = None
        self.session = ""
        self.check_mode = False

    # --- set-up -------------------------------------------------------------------------
    def v2_playbook_on_start(self, playbook):
        from ansible import context

        self.check_mode = bool(context.CLIARGS.get("check"))
        run_dir = self.get_option("run_dir")
        if not run_dir:
            self._display.warning("benchfleet_submission: no run_dir set (BENCHFLEET_RUN_DIR); nothing recorded")
            return
        from benchfleet.sweep.cells import CellTracker
        from benchfleet.sweep.rundir import RunDir

        rd = RunDir(Path(run_dir))
        if not rd.exists():
            self._display.warning(f"benchfleet_submission: {run_dir} has no plan.json; nothing recorded")
            return
        self.rd, self.cells = rd, CellTracker()

    def v2_playbook_on_play_start(self, play):
        # The invocation's ident (benchfleet sweep passes it): names the marker written once the tree is rebuilt.
        extra = play.get_variable_manager().extra_vars if play.get_variable_manager() else {}
        self.session = self.session or str(extra.get("benchfleet_benchmark_session") or "")

    def _active(self) -> bool:
        return self.rd is not None and not self.check_mode

    # --- events ------------------------------------------------------------------------
    def v2_runner_on_start(self, host, task):
        if not self._active():
            return
        from benchfleet.sweep.cells import Event

        # the task's name is templated by now: the role's "Run cell <id>" names its cell
        self.rd.record(self.cells.apply(Event("start", host.get_name(), task.action, task.get_name())))

    def v2_runner_on_ok(self, result):
        self._record("ok", result)

    def v2_runner_retry(self, result):
        self._record("retry", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record("failed", result, ignore_errors)

    def v2_runner_on_unreachable(self, result):
        self._record("unreachable", result)

    def _record(self, kind: str, result, ignore_errors: bool = False) -> None:
        if not self._active() or ignore_errors:
            return
        from benchfleet.sweep.cells import Event, failure_message

        task = result._task
        ev = Event(kind, result._host.get_name(), task.action, task.get_name(), result._result or {}, ignore_errors,
                   str(task.args.get("state") or ""))
        if task.action.endswith("cloud_instances") and ev.state_arg != "absent" and kind in ("ok", "failed"):
            self._cloud_attempts(ev.res, failure=f"{ev.task}: {failure_message(ev.res)}" if kind == "failed" else "")
        self.rd.record(self.cells.apply(ev))

    def _cloud_attempts(self, res: dict, failure: str = "") -> None:
        """Provisioning: every attempt goes to cloud/attempts.jsonl, a failed play to cloud/failure.txt."""
        from benchfleet.sweep.rundir import write_atomic

        attempts = self.rd.root / "cloud" / "attempts.jsonl"
        attempts.parent.mkdir(parents=True, exist_ok=True)
        with open(attempts, "a") as f:
            for a in res.get("attempts") or []:
                f.write(json.dumps({**a, "time": time.time()}) + "\n")
        if failure:
            write_atomic(self.rd.root / "cloud" / "failure.txt", failure + "\n")

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
            return
        if self.session:  # the controller aggregates only when this marker is missing
            write_atomic(self.rd.aggregated_marker(self.session), f"{time.time()}\n")
