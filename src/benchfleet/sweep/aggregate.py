"""Everything finished in a run directory -> one submission tree and a machine-readable results file.

A pure function of the run directory: the callback plugin calls it at the end of every playbook,
the CLI after an interruption; it always rebuilds from ``cells/`` so nothing stale survives.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
from datetime import datetime
from pathlib import Path

from benchfleet.backends.noop import NAME as NOOP
from benchfleet.benchmarks import registry
from benchfleet.harness.logs import DetailLog, metric
from benchfleet.harness.result import HarnessResult
from benchfleet.rules import get_round
from benchfleet.rules.table import COMPLIANCE_TESTS
from benchfleet.submission.system import describe, system_id
from benchfleet.submission.tree import SystemRun, round_of, write_tree
from benchfleet.sweep.plan import Plan
from benchfleet.sweep.rundir import DONE, FAILED, RunDir, write_atomic

CSV_COLUMNS = ("system", "host", "cell", "division", "benchmark", "scenario", "mode", "metric", "value",
               "validity", "accuracy", "inferred_from", "compliance", "performance_duration_s",
               "min_duration_s", "cell_harness_s", "synthetic", "not_for_submission", "provider", "instance_type",
               "usd_per_hour", "usd_per_million_samples")


def _window_s(begin, end) -> float | None:
    try:
        fmt = "%m-%d-%Y %H:%M:%S.%f"
        return round((datetime.strptime(end, fmt) - datetime.strptime(begin, fmt)).total_seconds(), 3)
    except (TypeError, ValueError):
        return None


def _summary_result(path: Path) -> str | None:
    """``Result is : VALID`` of an mlperf_log_summary.txt, or None."""
    if not path.is_file():
        return None
    m = re.search(r"^Result is\s*:\s*(\S+)", path.read_text(errors="replace"), re.M)
    return m.group(1) if m else None


def _verdict(folder: Path) -> bool:
    """A compliance test passed: every verify_*.txt it has ends in TEST PASS (and it has one)."""
    texts = [p.read_text(errors="replace") for p in sorted(folder.glob("verify_*.txt")) if p.is_file()]
    return bool(texts) and all(re.search(r"^TEST PASS\s*$", t, re.M) for t in texts)


def measured(results: Path, scenario: str, benchmark: str, round_version: str) -> dict:
    """What the LoadGen logs under ``results/<scenario>`` say: metric, unit, validity, accuracy, compliance.

    These, not the host's ``harness.json``, are what results.json, results.csv and the table report. A log
    that is missing or unreadable gives validity INVALID (and no metric).
    """
    sdir = results / scenario
    perf = sdir / "performance" / "run_1"
    out: dict = {"metric": None, "unit": None, "validity": "INVALID", "accuracy": None, "inferred_from": None,
                 "compliance": None, "performance_duration_s": None, "min_duration_s": None}
    rules = get_round(round_version)
    bench = rules.benchmark(benchmark)
    if (perf / "mlperf_log_detail.txt").is_file():
        d = DetailLog(perf / "mlperf_log_detail.txt")
        logged = d["effective_scenario"]
        try:
            out["metric"], out["unit"] = metric(d, scenario, rules.server_result_field, bench.result_fields)
        except (KeyError, TypeError, ValueError):
            pass
        summary = _summary_result(perf / "mlperf_log_summary.txt")
        valid = d["result_validity"] == "VALID" and summary in (None, "VALID") and not d.errors()
        out["validity"] = "VALID" if valid and out["metric"] is not None else "INVALID"
        out["inferred_from"] = logged if isinstance(logged, str) and logged != scenario else None
        out["performance_duration_s"] = _window_s(d["power_begin"], d["power_end"])
        mins = d["effective_min_duration_ms"]
        out["min_duration_s"] = mins / 1000 if isinstance(mins, int | float) and mins else None
    acc_txt = sdir / "accuracy" / "accuracy.txt"
    if acc_txt.is_file():
        for line in acc_txt.read_text(errors="replace").splitlines():
            m = re.match(bench.accuracy_pattern, line)
            if m:
                out["accuracy"] = float(m.group(1))
    tests = {t: _verdict(sdir / t) for t in COMPLIANCE_TESTS if (sdir / t).is_dir()}
    out["compliance"] = tests or None
    return out


def cell_validity(results: Path, scenarios: list[str], benchmark: str, round_version: str) -> str:
    """VALID when the performance log of every planned scenario of a cell says VALID, else INVALID."""
    ok = bool(scenarios) and all(measured(results, s, benchmark, round_version)["validity"] == "VALID"
                                 for s in scenarios)
    return "VALID" if ok else "INVALID"


def generated_data(spec: dict) -> bool:
    """The plan's spec runs a generated model on a generated dataset (as the harness decides, from the spec alone)."""
    model, dataset = spec.get("model", "auto"), spec.get("dataset", "auto")
    return "synthetic" in (model, dataset) or (model == "auto" and dataset == "auto")


def planned_values(cell) -> dict:
    """The plan's identity of a cell, which names its folders in the tree (never the host's harness.json)."""
    return {"division": cell.division, "benchmark": cell.benchmark, "backend": cell.backend, "device": cell.device,
            "precision": cell.spec.get("precision") or "fp32", "compiler": cell.spec.get("compiler") or "none",
            "mode": cell.spec.get("mode", "quick"),
            "scenarios": list(cell.scenarios), "synthetic": generated_data(cell.spec)}


def _facts(rd: RunDir, host: str) -> dict:
    p = rd.host_file(host)
    return json.loads(p.read_text()) if p.is_file() else {"facts": {}, "overrides": {}}


def system_ids(plan: Plan, host_facts: dict[str, dict]) -> dict[tuple[str, str, str], str]:
    """(host, backend, device) -> a hardware-derived system id, unique within the run.

    Hosts whose hardware gives the same id (identical servers, or test hosts on one machine) get a
    suffix from their place in the plan (``_h2``), which is stable across resumes. A shard of a sweep cannot see
    the hardware of the other shards' hosts: there every host gets its suffix, so that shards never give two hosts
    one id and their trees merge (as a run of the whole sweep over identical hosts names them).
    """
    keys = sorted({(c.host, c.backend, c.device) for c in plan.cells})
    base = {k: system_id(host_facts[k[0]]["facts"], k[1], k[2]) for k in keys}
    owners: dict[str, set[str]] = {}
    for (host, _, _), sid in base.items():
        owners.setdefault(sid, set()).add(host)
    return {k: sid if len(owners[sid]) == 1 and not plan.shard else f"{sid}_h{plan.hosts.index(k[0]) + 1}"
            for k, sid in base.items()}


def aggregate(run_dir: Path) -> dict:
    rd = RunDir(run_dir)
    plan = rd.plan()
    states = rd.states(plan)
    host_facts = {h: _facts(rd, h) for h in plan.hosts}
    ids = system_ids(plan, host_facts)
    runs: list[SystemRun] = []
    rows: list[dict] = []
    systems: dict[str, dict] = {}
    wrong_round: list[dict] = []  # cells whose host says it ran another round's rules
    for cell in plan.cells:
        if states[cell.id].state != DONE:
            continue
        cdir = rd.cell_dir(cell.id)
        meta = HarnessResult.read_or_empty(cdir / "results")
        record = rd.cell_record(cell.id)
        hf = host_facts[cell.host]
        sid = ids[(cell.host, cell.backend, cell.device)]
        sysdef = plan.systems[cell.system]
        synthetic = meta.synthetic or generated_data(cell.spec)
        desc = describe(
            hf["facts"], division=cell.division, submitter=plan.submitter, system_type=sysdef.system_type,
            framework=f"{cell.backend} {meta.text('backend', 'version')}",
            software=f"benchfleet {meta.text('benchfleet_version')}, mlcommons-loadgen "
                     f"{meta.text('host', 'loadgen')}, Python {meta.text('host', 'python')}",
            synthetic=synthetic, device=cell.device,
            overrides={**sysdef.description, **(hf.get("overrides") or {})}, power=bool(cell.spec.get("power")),
        )
        ran_under = round_of(meta)
        if ran_under != plan.round:
            said = f"the {ran_under[:20]!r} rules" if ran_under else "no round"
            wrong_round.append({"host": cell.host, "cell": cell.id, "kind": "harness", "task": "aggregate",
                                "message": f"the host's harness.json says it ran under {said}, "
                                           f"not {plan.round}; its results are left out of the tree",
                                "infrastructure": False})
            continue
        runs.append(SystemRun(sid, desc.values, cdir / "results", planned_values(cell)))
        systems.setdefault(sid, {"system_id": sid, "host": cell.host, "system": cell.system,
                                 "unknown_fields": desc.unknown})
        rule_bench = registry.rule_benchmark(cell.benchmark)
        for scenario in cell.scenarios:
            if not (cdir / "results" / scenario).is_dir():  # not reached (a harness stopped for time)
                continue
            m = measured(cdir / "results", scenario, rule_bench, plan.round)
            rows.append({
                "system": sid, "host": cell.host, "cell": cell.id, "division": cell.division,
                "benchmark": cell.benchmark, "scenario": scenario, "mode": cell.spec.get("mode"),
                **m, "synthetic": synthetic,
                "not_for_submission": synthetic or meta.not_for_submission
                or cell.spec.get("mode") == "quick" or cell.spec.get("backend") == NOOP,
                **({"noop": True} if cell.spec.get("backend") == NOOP else {}),  # nothing was inferred
                "cell_harness_s": record.get("harness_elapsed_s"),
                "failure": meta.failure_of(scenario),
                **_cloud_cost(sysdef.cloud, scenario, m["metric"], record, plan.prices.get(cell.system)),
            })
    failures = list(wrong_round)
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


def _cloud_cost(cloud, scenario: str, metric, record: dict, quoted: dict | None = None) -> dict:
    """Cloud results: the instance's price and what a million samples cost at the measured rate."""
    if not cloud:
        return {}
    from benchfleet.cloud.prices import PriceError, hourly, usd_per_million_samples

    try:  # the price the run's estimate quoted (plan.json), else the sweep's or the table's
        rate = quoted["usd_per_hour"] if quoted else hourly(cloud.provider, cloud.instance_type, cloud.spot,
                                                            cloud.price_per_hour)
    except PriceError:
        return {"usd_per_hour": None, "usd_per_million_samples": None}
    return {"instance_type": cloud.instance_type, "provider": cloud.provider, "usd_per_hour": rate,
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
