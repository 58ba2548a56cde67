"""Everything the ``benchfleet`` commands print, rendered from what ``benchfleet.api`` returns: the results
table and failure sections of a run, the cloud report, the plan of ``sweep --check``, the status table, the
checker's findings, and what teardown, reap and setup did. Nothing here prints; the CLI does.

Cells hold host text (validity, failure messages, progress, system names): ``table`` shows every cell
through ``for_terminal``, one line each, so a host can neither send the terminal commands nor add rows.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from benchfleet import __version__
from benchfleet.rules import DEFAULT_ROUND
from benchfleet.safetext import for_terminal
from benchfleet.sweep.plan import Plan
from benchfleet.sweep.rundir import CellState

if TYPE_CHECKING:
    from benchfleet.cloud.fleet import TeardownReport
    from benchfleet.cloud.prices import Estimate
    from benchfleet.hostsetup import SetupResult
    from benchfleet.submission.check import CheckReport
    from benchfleet.sweep.execute import Outcome
    from benchfleet.sweep.schema import CloudSpec


def table(head: tuple[str, ...], body: list[tuple]) -> str:
    body = [tuple(for_terminal(x) for x in row) for row in body]
    cols = list(zip(head, *body, strict=False)) if body else [(h,) for h in head]
    widths = [max(len(str(x)) for x in col) for col in cols]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*head), fmt.format(*("-" * w for w in widths))]
                     + [fmt.format(*b) for b in body])


def results_table(rows: list[dict]) -> str:
    body = []
    for r in rows:
        notes = []
        if r.get("inferred_from"):
            notes.append(f"inferred from {r['inferred_from']}")
        if r.get("compliance"):
            failed = [t for t, ok in r["compliance"].items() if not ok]
            notes.append("compliance " + ("FAIL " + ",".join(failed) if failed else "pass"))
        if r.get("failure"):
            notes.append(r["failure"])
        if r.get("synthetic"):
            notes.append("SYNTHETIC")
        if r.get("noop"):
            notes.append("NO-OP: nothing inferred")
        if r.get("not_for_submission"):
            notes.append("not for submission")
        value = r.get("metric")
        body.append((r["system"], r.get("division", ""), r["benchmark"], r["scenario"], r.get("unit") or "",
                     f"{value:.3f}" if isinstance(value, (int, float)) else "-", r.get("validity") or "-",
                     f"{r['accuracy']:.3f}%" if isinstance(r.get("accuracy"), (int, float)) else "-",
                     "; ".join(notes)))
    return table(("system", "division", "benchmark", "scenario", "metric", "value", "valid", "accuracy", "notes"),
                 body)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def cell_note(st: CellState) -> str:
    if st.state == "done":
        return st.validity or ""
    if st.state == "running":
        return st.progress or ""
    if st.kind:
        return f"{st.kind}: {st.task + ': ' if st.task else ''}{st.message}".strip()[:160].replace("\n", " ")
    return ""


def status_table(plan: Plan, states: dict[str, CellState], now: float | None = None) -> str:
    now = now or time.time()
    body = []
    for c in plan.cells:
        st = states[c.id]
        if st.started and st.state == "running":
            el = duration(now - st.started)
        elif st.started and st.finished:
            el = duration(st.finished - st.started)
        else:
            el = "-"
        body.append((c.host, c.label, st.state, el, cell_note(st)))
    return table(("host", "cell", "state", "elapsed", "detail"), body)


def plan_table(plan: Plan) -> str:
    body = [(c.host, c.system, c.id, duration(c.estimate_s)) for c in plan.cells]
    return table(("host", "system", "cell", "estimate"), body)


def tail(message: str, limit: int = 400) -> str:
    """The end of a message (a traceback's last lines say what went wrong), control characters escaped."""
    text = " | ".join(for_terminal(line.strip()) for line in str(message).strip().splitlines()[-4:])
    return text if len(text) <= limit else "..." + text[-limit:]


# --- run, sweep, resume -----------------------------------------------------------------------------------------

class RunLike(Protocol):
    """What a run's report reads (``benchfleet.api.RunResult``)."""

    plan: Plan
    root: Path
    outcome: Outcome | None
    check_mode: bool
    pending: list[str]
    tree_check: CheckReport | None
    cloud_attempts: list[dict]


def run_header(run_id: str, out: Path, plan: Plan) -> str:
    """What `benchfleet run` (one benchmark on one backend and device) is about to do, printed before the playbook
    starts."""
    from benchfleet.harness.spec import HarnessSpec

    s = plan.sweep
    scenarios = HarnessSpec.model_validate(plan.cells[0].spec).resolved_scenarios() if plan.cells else []
    return (f"benchfleet {__version__}: run {run_id} -> {out}\n"
            f"  {s.benchmarks[0]} on {s.backends[0]}/{s.devices[0]}, {s.division[0]} division, {s.mode} mode, "
            f"scenarios {', '.join(scenarios)}, hosts {', '.join(plan.hosts)}")


def cost_estimate(est: Estimate) -> str:
    """The cloud cost estimate checked against --max-cost before anything is created."""
    from benchfleet.cloud import prices

    lines = [f"cloud cost estimate (the provider's price API where it answers, else the price table of "
             f"{prices.TABLE_DATE}; instances x USD/h x (cells + {prices.SETUP_S / 60:.0f} min set-up)):"]
    lines += [for_terminal(f"  {name}: {count} x {rate:.4f} USD/h x {hours:.2f} h = {usd:.2f} USD ({source})")
              for name, count, rate, hours, usd, source in est.lines]
    lines += [for_terminal(f"  {m}") for m in est.missing]
    lines.append(f"  total: {est.total:.2f} USD" + (" (without the systems above that have no price)" if est.missing
                                                    else ""))
    return "\n".join(lines)


def cloud_check(name: str, cloud: CloudSpec, count: int, problems: list[str]) -> str:
    """One cloud system's preflight: credentials, offering and quota in its regions."""
    # provider messages (and the sweep's names in them) are text from outside: one escaped line
    return for_terminal(f"cloud check {name} ({cloud.provider} {cloud.instance_type} x {count} in "
                        f"{', '.join(cloud.regions)}): " + ("OK" if not problems else "; ".join(problems)))


def plan_report(sweep_file: str, plan: Plan) -> str:
    """`benchfleet sweep --check`: the systems, the cells and the estimated time; nothing ran."""
    lines = [f"sweep {sweep_file}: valid. Plan for run {plan.run_id}"
             + (f", shard {plan.shard} of the sweep's cells" if plan.shard else "") + " (nothing was run):\n"]
    for name, sysdef in plan.systems.items():
        hosts = sorted({c.host for c in plan.cells if c.system == name})
        lines.append(f"  system {name} ({sysdef.system_type}): {', '.join(hosts)}")
    lines += ["", plan_table(plan)]
    lines.append(f"\n{len(plan.cells)} cells on {len(plan.hosts)} hosts; estimated {duration(plan.estimate_s())} "
                 "with hosts in parallel (rough: from a 2-core CPU reference)")
    return "\n".join(lines)


def run_report(r: RunLike) -> str:
    """After the playbook: the results table, invalid results, failures, the cloud report, the tree's check,
    and what is left to resume."""
    plan, outcome = r.plan, r.outcome
    if outcome is None:
        return (f"nothing to do: all {len(plan.cells)} cells of run {plan.run_id} are done; nothing was changed "
                f"(tree: {r.root / 'submission'}; `benchfleet status {plan.run_id}` shows them)")
    if r.check_mode:
        return f"check mode: Ansible reported what would change for {len(outcome.ran)} cells (rc {outcome.ansible_rc})"
    s = outcome.summary
    rows = s.get("results", [])
    lines = [""]
    if rows:
        lines.append(results_table(rows))
    for sysinfo in s.get("systems", []):
        if sysinfo.get("unknown_fields"):
            lines.append(for_terminal(f"system {sysinfo['system_id']} ({sysinfo['host']}): not detected, marked "
                                      f"unknown (set benchfleet_system in the inventory): "
                                      f"{', '.join(sysinfo['unknown_fields'])}"))
    invalid = s.get("invalid_results", [])
    if invalid:
        lines.append(f"\nINVALID results ({len(invalid)}; the benchmark ran, the rules were not met):")
        lines += ["  " + for_terminal(f"{x['system']} {x['benchmark']} {x['scenario']}: {x['validity']}")
                  for x in invalid]
    fails = s.get("failures", [])
    for label, group in (("infrastructure", [f for f in fails if f["infrastructure"]]),
                         ("cells", [f for f in fails if not f["infrastructure"]])):
        if group:
            lines.append(f"\nFAILURES ({label}, {len(group)}):")
            lines += ["  " + for_terminal(f"{f['host']} / {f['cell']}: {f['kind']}"
                                          f"{' in ' + repr(f['task']) if f['task'] else ''}: {tail(f['message'])}")
                      for f in group]
    if plan.cloud_systems():
        lines += cloud_report(r.cloud_attempts, s.get("cloud_cost"))
    tree = s.get("tree")
    if tree and r.tree_check is not None:
        report = r.tree_check
        lines.append(f"\nsubmission tree: {tree}")
        lines.append(f"results: {r.root / 'results.json'} and results.csv")
        if getattr(r, "report", None):
            lines.append(f"report: {r.report} (plots; opens offline)")
        elif getattr(r, "report_error", ""):
            lines.append(f"report: not written ({for_terminal(r.report_error)})")
        lines.append(f"benchfleet check: {'OK' if report.ok else f'{len(report.errors)} error(s)'}"
                     f" ({len([f for f in report.findings if f.level == 'WARNING'])} warning(s))")
        lines += [f"  {for_terminal(f)}" for f in report.errors[:20]]
        if any(x.get("synthetic") for x in rows):
            lines.append("NOTE: SYNTHETIC model and dataset: this checks the pipeline; it is not a result to publish.")
    if outcome.interrupted:
        lines.append("\ninterrupted: finished cells are kept; harness processes already started keep running on "
                     "their hosts and are collected by a resume")
    if r.pending:
        lines.append(f"\n{len(r.pending)} of {len(plan.cells)} cells not done: "
                     f"benchfleet sweep --resume {plan.run_id} --runs-dir {r.root.parent} runs only those")
    lines.append(f"done in {outcome.wall_s:.0f}s")
    return "\n".join(lines)


def cloud_report(attempts: list[dict], cost: dict | None) -> list[str]:
    """Every provisioning attempt that failed over, and what the instances cost."""
    lines = []
    moved = [a for a in attempts if a["outcome"] != "created"]
    if moved:
        lines.append(f"\ncloud provisioning: {len(attempts)} attempt(s), {len(moved)} failed over:")
        for a in attempts:
            where = a["region"] + (f" {a['zone']}" if a["zone"] and a["zone"] != a["region"] else "")
            lines.append(f"  {a['host']}: {a['provider']} {where}: {a['outcome']}"
                         + ("" if a["outcome"] == "created" else f" ({tail(a['message'], 160)})"))
    if cost:
        lines.append(f"cloud cost: {cost['total_usd']:.4f} USD for {len(cost['instances'])} instance(s), from "
                     f"recorded uptime at the {cost['price_table']} price table (results.csv: "
                     "usd_per_million_samples)")
    return lines


# --- status -----------------------------------------------------------------------------------------------------

def status_json(plan: Plan, states: dict[str, CellState]) -> str:
    cells = [dict(st.__dict__, label=plan.cell(cid).label) for cid, st in states.items()]
    return json.dumps({"run_id": plan.run_id, "round": plan.round, "shard": plan.shard, "cells": cells}, indent=2)


def status_totals(runs: list[tuple[Plan, dict[str, CellState]]]) -> str:
    """One line for several runs (the shards of a sweep): their cells by state, together."""
    counts = {k: sum(1 for _, states in runs for s in states.values() if s.state == k)
              for k in ("done", "running", "failed", "pending")}
    shards = sorted({p.shard for p, _ in runs if p.shard})
    return (f"{len(runs)} runs" + (f" (shards {', '.join(shards)})" if shards else "") + ": "
            + ", ".join(f"{v} {k}" for k, v in counts.items()))


def status_report(plan: Plan, states: dict[str, CellState], host_failures: dict[str, dict]) -> str:
    """`benchfleet status`: counts, each lost host's failure, and the table of cells."""
    counts = {k: sum(1 for s in states.values() if s.state == k) for k in ("done", "running", "failed", "pending")}
    lines = [f"run {plan.run_id} (MLPerf Inference {plan.round}"
             + (f", shard {plan.shard} of its sweep" if plan.shard else "") + "): "
             + ", ".join(f"{v} {k}" for k, v in counts.items())]
    lines += [for_terminal(f"  host {host}: {hf['kind']} in {hf['task']!r}: {str(hf['message'])[:300]}")
              for host, hf in host_failures.items()]
    lines += ["", status_table(plan, states)]
    return "\n".join(lines)


# --- clouds, hosts, check ---------------------------------------------------------------------------------------

def teardown_report(run_id: str, rep: TeardownReport) -> str:
    lines = [f"deleted {d}" for d in rep.deleted]
    if rep.ok:
        lines.append(f"teardown {run_id}: {len(rep.deleted)} resource(s) deleted; nothing tagged "
                     f"benchfleet-run={run_id} is left (confirmed by listing)")
    else:
        lines.append("teardown INCOMPLETE: " + "; ".join(rep.remaining + rep.errors) + "; run it again")
    return "\n".join(lines)


def reap_report(rep: TeardownReport, dry_run: bool) -> str:
    verb = "would delete" if dry_run else "deleted"
    lines = [f"{verb} {d}" for d in rep.deleted]
    lines.append(f"reap: {len(rep.deleted)} resource(s) {verb}"
                 + ("" if rep.ok else "; INCOMPLETE: " + "; ".join(rep.remaining + rep.errors)))
    return "\n".join(lines)


def setup_report(res: SetupResult) -> str:
    """Ansible's counts per host; a host that could not be reached says so."""
    hosts = sorted(set(res.ok) | set(res.changed) | set(res.failed) | set(res.unreachable))
    return "\n".join(f"{h}: ok={res.ok.get(h, 0)} changed={res.changed.get(h, 0)} failed={res.failed.get(h, 0)}"
                     f"{' UNREACHABLE' if res.unreachable.get(h) else ''}" for h in hosts)


def _power(r: dict) -> str:
    """A result's power figure as the round's checker reports it (watts, or millijoules per query), or ''."""
    if not isinstance(r.get("power_metric"), (int, float)):
        return ""
    per = "samples" if r.get("scenario") in ("Offline", "SingleStream", "MultiStream") else "queries"
    return (f"; power {r['power_metric']:.6g} {r.get('power_unit', '')}"
            + (f" ({r['power_efficiency']:.4g} {per}/J)" if isinstance(r.get("power_efficiency"), (int, float))
               else ""))


def check_report(report: CheckReport, verbose: bool = False) -> str:
    """`benchfleet check`: errors (warnings too with ``verbose``), each result, the summary."""
    lines = [for_terminal(f) for f in report.findings if f.level == "ERROR" or verbose]
    lines += [for_terminal(f"result {r['system']}/{r['benchmark']}/{r['scenario']}: {r.get('metric')} "
                           f"{'valid' if r.get('valid') else 'INVALID'}" + _power(r)) for r in report.results]
    n_warn = len(report.findings) - len(report.errors)
    lines.append(f"SUMMARY: {'submission looks OK' if report.ok else 'submission has errors'} "
                 f"({len(report.errors)} errors, {n_warn} warnings)")
    return "\n".join(lines)


# --- rounds -----------------------------------------------------------------------------------------------------

_SHORT = {"SingleStream": "SS", "MultiStream": "MS", "Offline": "Off", "Server": "Srv", "Interactive": "Int"}
_TYPES = (("datacenter", "DC"), ("edge", "Edge"), ("datacenter,edge", "DC+Edge"))


def _scen(names: tuple[str, ...]) -> str:
    return ",".join(_SHORT.get(n, n) for n in names) or "-"


def rounds_report(tables: list, runnable: set[str], detail: bool = False) -> str:
    """`benchfleet rounds`: each round, its benchmarks (those benchfleet runs marked *) and what changed from the
    round before; with ``detail`` (one round named) a line per benchmark with its rules."""
    lines = []
    for r in tables:
        head = f"{r.version}" + (" (default)" if r.version == DEFAULT_ROUND else "") + f": {r.source}"
        lines.append(head)
        names = [f"{n}*" if n in runnable else n for n in r.benchmarks]
        lines.append(f"  benchmarks ({len(names)}; * = benchfleet runs it): {', '.join(names)}")
        layout = r.layout
        where = ("results/<system>/<benchmark>/<scenario>/ holds measurements.json and TESTxx/" if layout.in_results
                 else "measurements/ and compliance/ beside results/")
        lines.append(f"  tree: {where}; "
                     f"code in {layout.code_folder}/; measurements folder needs {', '.join(layout.measurement_files)}"
                     + ("; calibration.md" if layout.calibration_doc else ""))
        lines.append(f"  TEST05: {'yes' if r.has_test05() else 'no'}; Server result: {r.server_result_field}; "
                     f"accuracy run over the whole dataset: {r.dataset_size_check}")
        if r.previous:
            lines.append(f"  changed from {r.previous}:")
            lines += [f"    - {c}" for c in r.changes]
            if r.added:
                lines.append(f"    - added: {', '.join(r.added)}")
            gone = [n for n, last in r.retired.items() if last == r.previous]
            if gone:
                lines.append(f"    - retired: {', '.join(gone)}")
        if detail:
            lines.append("  benchmark: scenarios required (DC / Edge / DC+Edge) | optional | PSC | "
                         "Offline samples/query | Server latency | compliance | closed accuracy")
            for b in r.benchmarks.values():
                req = " / ".join(_scen(b.required_scenarios.get(k, ())) for k, _ in _TYPES)
                opt = "; ".join(f"{label} {_scen(b.optional_scenarios[k])}" for k, label in _TYPES
                                if b.optional_scenarios.get(k)) or "-"
                lat = f"{b.server_latency_ns / 1e6:g} ms" if b.server_latency_ns else "-"
                tok = "; ".join(f"{s} TTFT {t / 1e6:g} ms TPOT {p / 1e6:g} ms"
                                for s, (t, p) in b.token_latency_ns.items())
                acc = "; ".join(f"{m} >= {v:.6g}" for m, _, v in b.accuracy_targets())
                acc += "".join(f"; {m} <= {v:.6g}" for m, _, v in b.upper_limits)
                offline = any("Offline" in s for s in b.required_scenarios.values())
                lines.append(f"  {b.name}: {req} | {opt} | {b.performance_sample_count} | "
                             f"{b.offline_samples(r) if offline else '-'} | {lat}{'; ' + tok if tok else ''} | "
                             f"{','.join(b.compliance_tests) or 'none'} | {acc}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
