"""Everything finished in a run directory -> one submission tree and a machine-readable results file.

A pure function of the run directory: the callback plugin calls it at the end of every playbook,
the CLI after an interruption; it always rebuilds from ``cells/`` so nothing stale survives.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from pathlib import Path

from benchfleet.submission.system import describe, system_id
from benchfleet.submission.tree import SystemRun, write_tree
from benchfleet.sweep.plan import Plan
from benchfleet.sweep.rundir import DONE, FAILED, RunDir, write_atomic

CSV_COLUMNS = ("system", "host", "cell", "division", "benchmark", "scenario", "mode", "metric", "value",
               "validity", "accuracy", "inferred_from", "compliance", "performance_duration_s",
               "min_duration_s", "cell_harness_s", "synthetic", "not_for_submission", "provider", "instance_type",
               "usd_per_hour", "usd_per_million_samples")


def _facts(rd: RunDir, host: str) -> dict:
    p = rd.host_file(host)
    return json.loads(p.read_text()) if p.is_file() else {"facts": {}, "overrides": {}}


def system_ids(plan: Plan, host_facts: dict[str, dict]) -> dict[tuple[str, str, str], str]:
    """(host, backend, device) -> a hardware-derived system id, unique within the run.

    Hosts whose hardware gives the same id (identical servers, or test hosts on one machine) get a
    suffix from their place in the plan (``_h2``), which is stable across resumes.
    """
    keys = sorted({(c.host, c.backend, c.device) for c in plan.cells})
    base = {k: system_id(host_facts[k[0]]["facts"], k[1], k[2]) for k in keys}
    owners: dict[str, set[str]] = {}
    for (host, _, _), sid in base.items():
        owners.setdefault(sid, set()).add(host)
    return {k: sid if len(owners[sid]) == 1 else f"{sid}_h{plan.hosts.index(k[0]) + 1}" for k, sid in base.items()}


def aggregate(run_dir: Path) -> dict:
    rd = RunDir(run_dir)
    plan = rd.plan()
    states = rd.states(plan)
    host_facts = {h: _facts(rd, h) for h in plan.hosts}
    ids = system_ids(plan, host_facts)
    runs: list[SystemRun] = []
    rows: list[dict] = []
    systems: dict[str, dict] = {}
    for cell in plan.cells:
        if states[cell.id].state != DONE:
            continue
        cdir = rd.cell_dir(cell.id)
        meta = json.loads((cdir / "results" / "harness.json").read_text())
        record = rd.cell_record(cell.id)
        hf = host_facts[cell.host]
        b = meta["backend"]
        sid = ids[(cell.host, cell.backend, cell.device)]
        sysdef = plan.systems[cell.system]
        desc = describe(
            hf["facts"], division=cell.division, submitter=plan.submitter, system_type=sysdef["system_type"],
            framework=f"{b['name']} {b['version']}",
            software=f"benchfleet {meta['benchfleet_version']}, mlcommons-loadgen {meta['host']['loadgen']}, "
                     f"Python {meta['host']['python']}",
            synthetic=bool(meta.get("synthetic")), device=cell.device,
            overrides={**sysdef.get("description", {}), **(hf.get("overrides") or {})},
        )
        runs.append(SystemRun(sid, desc.values, cdir / "results"))
        systems.setdefault(sid, {"system_id": sid, "host": cell.host, "system": cell.system,
                                 "unknown_fields": desc.unknown})
        for s in meta["scenarios"]:
            perf = next((r for r in s.get("runs", []) if r["kind"] == "performance"), {})
            rows.append({
                "system": sid, "host": cell.host, "cell": cell.id, "division": cell.division,
                "benchmark": meta["benchmark"], "scenario": s["scenario"], "mode": meta["spec"]["mode"],
                "metric": s.get("metric"), "unit": s.get("unit"), "validity": s.get("validity"),
                "accuracy": s.get("accuracy"), "inferred_from": s.get("inferred_from"),
                "compliance": s.get("compliance"), "synthetic": bool(meta.get("synthetic")),
                "not_for_submission": bool(meta.get("not_for_submission")),
                "performance_duration_s": perf.get("duration_s"),
                "min_duration_s": perf["min_duration_ms"] / 1000 if perf.get("min_duration_ms") else None,
                "cell_harness_s": record.get("harness_elapsed_s"),
                **_cloud_cost(sysdef.get("cloud"), s["scenario"], s.get("metric"), record),
            })
    failures = []
    for st in states.values():
        if st.state == FAILED or (st.kind and st.state != DONE):
            failures.append({"host": st.host, "cell": st.cell, "kind": st.kind or "harness", "task": st.task,
                             "message": st.message, "infrastructure": st.infra})
    tree = None
    if runs:
        tree = run_dir / "submission"
        tmp = run_dir / ".submission.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        write_tree(tmp, plan.submitter, runs, plan.round)
        old = run_dir / ".submission.old"
        shutil.rmtree(old, ignore_errors=True)
        if tree.exists():
            os.replace(tree, old)
        os.replace(tmp, tree)
        shutil.rmtree(old, ignore_errors=True)
    counts = {k: sum(1 for s in states.values() if s.state == k) for k in ("done", "running", "failed", "pending")}
    summary = {
        "run_id": plan.run_id,
        "tree": str(tree) if tree else None,
        "cells": counts,
        "systems": list(systems.values()),
        "results": rows,
        "invalid_results": [r for r in rows if r["validity"] != "VALID"],
        "failures": failures,
    }
    if plan.cloud_systems():
        from benchfleet.cloud.prices import actual

        summary["cloud_cost"] = actual(run_dir / "cloud" / "ledger.jsonl", plan)
    write_atomic(run_dir / "results.json", json.dumps(summary, indent=2, default=str) + "\n")
    write_atomic(run_dir / "results.csv", _csv(rows))
    return summary


def _cloud_cost(cloud: dict | None, scenario: str, metric, record: dict) -> dict:
    """Cloud results: the instance's price and what a million samples cost at the measured rate."""
    if not cloud:
        return {}
    from benchfleet.cloud.prices import PriceError, hourly, usd_per_million_samples

    try:
        rate = hourly(cloud["provider"], cloud["instance_type"], cloud["spot"], cloud.get("price_per_hour"))
    except PriceError:
        return {"usd_per_hour": None, "usd_per_million_samples": None}
    return {"instance_type": cloud["instance_type"], "provider": cloud["provider"], "usd_per_hour": rate,
            "usd_per_million_samples": usd_per_million_samples(rate, scenario, metric),
            "instance": record.get("instance", "")}


def _csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        comp = r.get("compliance")
        w.writerow({**r, "metric": r.get("unit") or "", "value": r.get("metric"),
                    "compliance": "" if comp is None else ";".join(f"{k}={'pass' if v else 'FAIL'}"
                                                                   for k, v in comp.items())})
    return buf.getvalue()
