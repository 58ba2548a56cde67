# Copyright: benchfleet contributors
# Apache License 2.0
"""Controller side of benchfleet.mlperf.harness_cell: the module follows the cell on the host; with ``fetch``, the
call that finds it finished also brings its results home (plugins/action/cell_fetch.py's code), so that a cell
costs one task fewer and one round trip fewer."""

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible_collections.benchfleet.mlperf.plugins.action.cell_fetch import fetch_and_accept
from ansible_collections.benchfleet.mlperf.plugins.modules.harness_cell import ARGUMENT_SPEC, REQUIRED_IF

# What only the controller says: a host's reply that carries them has them dropped (a compromised host could
# otherwise call its cell home and VALID). The host's own words on its failure (preempted, power_failed) are kept:
# they can only change how its own cell's failure is classified.
CONTROLLER_KEYS = ("fetched", "validity", "files", "failure_kind")


class ActionModule(ActionBase):
    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC, required_if=REQUIRED_IF)
        task_vars = task_vars or {}
        module_args = {k: v for k, v in self._task.args.items() if k != "fetch"}
        reply = self._execute_module(module_name="benchfleet.mlperf.harness_cell", module_args=module_args,
                                     task_vars=task_vars)
        result.update({k: v for k, v in reply.items() if k not in CONTROLLER_KEYS})
        fetch = args.get("fetch")
        if not fetch or not result.get("finished") or result.get("failed") or self._task.check_mode:
            return result
        times = {"harness_seconds": result.get("elapsed"), "harness_started_at": result.get("started_at", ""),
                 "harness_ended_at": result.get("ended_at", "")}
        size = result.get("archive_size")
        try:
            got = fetch_and_accept(self, {"src": result.get("archive"), "sha256": result.get("sha256"),
                                          "dest": fetch["dest"], "record": {**(fetch.get("record") or {}), **times},
                                          "limits": fetch.get("limits") or {}},
                                   task_vars, remote_size=int(size) if isinstance(size, int) else None)
        except Exception as exc:  # a checksum that does not match, a transfer or a folder that fails:
            # the results did not come home, which is the fetch's failure (infrastructure), never the benchmark's
            got = {"failed": True, "msg": f"the results did not come home: {exc}", "failure_kind": "fetch"}
        if got.get("failed"):
            return dict(result, failed=True, msg=got.get("msg", ""), failure_kind=got.get("failure_kind", "fetch"))
        result["changed"] = result.get("changed") or got.get("changed", False)
        return dict(result, fetched=True, validity=got.get("validity", ""), files=got.get("files"))
