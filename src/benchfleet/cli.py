"""The ``benchfleet`` command."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

from pydantic import ValidationError

from benchfleet import __version__
from benchfleet.safetext import for_terminal

EPILOG_RUN = """examples:
  benchfleet run
      embedded default: this machine, ResNet50 on ONNX Runtime CPU, open division, quick mode.
      Without an ImageNet folder it uses a generated model and dataset, labelled SYNTHETIC.
  benchfleet run --division closed --model synthetic --dataset synthetic --mode quick --out out/
      every scenario and compliance test a closed edge submission needs (quick: not for submission)
  benchfleet run --division closed --model official --dataset ~/imagenet/val --mode valid
      the real thing: official model (downloaded with its checksum), 600 s runs
"""


EPILOG_SWEEP = """examples:
  benchfleet sweep sweeps/example.yml --check
      validate the sweep file and print the plan: cells, hosts, estimated time; runs nothing
  benchfleet sweep sweeps/lab.yml --inventory inventories/lab
      run every cell; hosts work in parallel, each its cells in turn; live progress
  benchfleet sweep --resume lab-3f2a9c01d4
      run only the cells not done (after a lost host, a failure or Ctrl-C)
  benchfleet status lab-3f2a9c01d4
      per host and cell: pending, running (current scenario), done, failed and why

The run directory runs/<run-id>/ holds the plan, every fetched log, the submission tree,
results.json / results.csv and the Ansible event stream (ansible/artifacts/*/job_events).
Running the same sweep file again continues the same run: finished cells are never re-run.
"""


EPILOG_TEARDOWN = """examples:
  benchfleet teardown clouds-3f2a9c01d4
      delete every instance, key pair, security group, resource group and firewall rule tagged
      benchfleet-run=clouds-3f2a9c01d4 and made by you (benchfleet-owner), on every cloud whose credentials
      are configured; confirmed by listing
  benchfleet reap --dry-run
      list resources of your runs past their benchfleet-expires tag (a controller that died, a lost laptop)
  benchfleet reap --older-than 6h --provider aws --region us-east-1
      delete instances of your runs launched more than 6 hours ago
  benchfleet reap --all-owners
      every user's expired runs, not only yours; a run launched or prepared within --grace (15m) is left

Resources without benchfleet's tags (run, owner, expiry) are never touched.

Credentials come from each SDK's own chain: AWS_PROFILE or the AWS_* variables; AZURE_SUBSCRIPTION_ID with
az login or a managed identity; GOOGLE_CLOUD_PROJECT with gcloud auth application-default login.
"""


EPILOG_SETUP = """examples:
  benchfleet setup --inventory inventories/lab
      NVIDIA driver and CUDA runtime where there is an NVIDIA GPU (from NVIDIA's repositories; a reboot only
      when the driver needs one), a venv with pinned packages, the frameworks, the benchfleet harness
  benchfleet bundle wheels/ && benchfleet setup --inventory inventories/airgap --offline wheels/
      air-gapped lab: the controller pushes every wheel; hosts need no route to any registry
  benchfleet setup --inventory inventories/lab --check
      what would change, changing nothing; a second run of setup reports changed=0
"""


class UsageError(Exception):
    pass


# `benchfleet run` flags for the spec and sweep fields it fills (errors name what the user typed).
_RUN_FLAGS = {"benchmarks": "--benchmark", "backends": "--backend", "devices": "--device", "defaults.threads":
              "--threads", "defaults.batch": "--batch", "defaults.precision": "--precision",
              "systems.system_type": "--system-type", "systems": "--inventory", "systems.hosts": "--inventory"}


def _run_flag(field: str) -> str:
    """The `benchfleet run` flag for a spec field or sweep field path (``defaults.threads`` -> --threads)."""
    path = re.sub(r"\[\d+\]", "", field)
    return _RUN_FLAGS.get(path) or "--" + path.rsplit(".", 1)[-1].replace("_", "-")


def _as_flags(msg: str) -> str:
    """A spec message's advice in flags: 'use backend tflite' -> 'use --backend tflite'."""
    return re.sub(r"\b(use|to) (backend|device|division|precision)\b", r"\1 --\2", msg)


def _spec_from_args(a: argparse.Namespace):
    from benchfleet.harness.spec import HarnessSpec, SpecError, error_text
    from benchfleet.models import registry
    from benchfleet.rules.table import SCENARIOS

    fields = {
        "division": a.division, "mode": a.mode, "model": a.model, "dataset": a.dataset,
        "system_type": a.system_type, "offline": a.offline, "threads": a.threads, "batch": a.batch,
        "round": a.round, "benchmark": a.benchmark, "backend": a.backend, "device": a.device,
        "precision": a.precision,
    }
    if a.scenarios:
        fields["scenarios"] = [s.strip() for s in a.scenarios.split(",") if s.strip()]
        if not fields["scenarios"]:
            raise UsageError(f"--scenarios: {a.scenarios!r} names no scenario; give a comma list of "
                             f"{', '.join(SCENARIOS)}, or leave --scenarios out for what the division needs")
    if a.dataset_count:
        fields["dataset_count"] = a.dataset_count
    if a.synthetic_width:
        fields["synthetic_width"] = a.synthetic_width
    if a.cache_dir:
        fields["cache_dir"] = a.cache_dir
    try:
        spec = HarnessSpec(**fields)
        spec.resolved_scenarios()
        spec.offline_inferred()
    except ValidationError as exc:
        e = exc.errors()[0]
        inner = (e.get("ctx") or {}).get("error")
        field = inner.field if isinstance(inner, SpecError) else str(e["loc"][0]) if e["loc"] else "benchmark"
        raise UsageError(f"{_run_flag(field)}: {_as_flags(error_text(e, HarnessSpec))}") from None
    except SpecError as exc:
        raise UsageError(f"{_run_flag(exc.field)}: {_as_flags(exc.msg)}") from None
    if not registry.runs_on(spec.benchmark, spec.backend, spec.device):
        have = registry.backends_for(spec.benchmark)
        if spec.backend not in have:
            raise UsageError(f"--backend: {spec.benchmark} has no {spec.backend} model; use --backend "
                             + (", ".join(have[:-1]) + " or " + have[-1] if len(have) > 1 else "".join(have)))
        raise UsageError(f"--device: {spec.benchmark} on {spec.backend} does not run on {spec.device}; use "
                         "--device cpu")
    if spec.dataset not in ("auto", "synthetic", "official") and not Path(spec.dataset).expanduser().is_dir():
        raise UsageError(f"--dataset: {spec.dataset} is not a folder; give the benchmark's data folder, official "
                         "or synthetic")
    if spec.model not in ("auto", "official", "synthetic") and not Path(spec.model).expanduser().is_file():
        raise UsageError(f"--model: {spec.model} is not a file; use official, synthetic or a path to a model file")
    if spec.model == "synthetic" and spec.dataset not in ("auto", "synthetic"):
        raise UsageError("--dataset: a generated model only scores on its generated dataset; use --dataset synthetic")
    if spec.dataset == "synthetic" and spec.model not in ("auto", "synthetic"):
        raise UsageError("--model: the synthetic dataset is labelled by the synthetic model; use --model synthetic")
    return spec


def _sweep_from_run_args(a: argparse.Namespace, spec) -> dict:
    """`benchfleet run` is a sweep of one system: every host of the inventory, one benchmark."""
    return {
        "submitter": a.submitter, "round": spec.round, "mode": spec.mode, "division": [spec.division],
        "benchmarks": [spec.benchmark], "backends": [spec.backend], "devices": [spec.device],
        "scenarios": spec.scenarios or ["required"], "offline": spec.offline, "model": spec.model,
        "dataset": spec.dataset, "dataset_count": spec.dataset_count, "synthetic_width": spec.synthetic_width,
        "cache_dir": spec.cache_dir,
        "defaults": {"threads": spec.threads, "batch": spec.batch, "precision": spec.precision},
        "systems": [{"name": "local", "hosts": ["all"], "system_type": spec.system_type}],
    }


ACCEPT_NEW_HOST_KEYS_HELP = ("trust an inventory host's SSH key on first use, recording it in the run's own "
                             "known_hosts (default: the key must be in ~/.ssh/known_hosts already)")


def _run_id(run_id: str, where: str) -> str:
    """``run_id`` if it follows the one run-id rule; a UsageError naming ``where`` (the flag) otherwise."""
    from benchfleet.sweep.plan import check_run_id

    try:
        return check_run_id(run_id)
    except ValueError as exc:
        raise UsageError(f"{where}: {exc}") from None


def _run_dir(runs: Path, run_id: str, where: str) -> Path:
    """runs/<run_id>, refused (naming ``where``) when the id breaks the rule or the folder leads out of runs/."""
    from benchfleet.sweep.plan import run_dir

    try:
        return run_dir(runs, run_id)
    except ValueError as exc:
        raise UsageError(f"{where}: {exc}") from None


def cmd_run(a: argparse.Namespace) -> int:
    from benchfleet import project
    from benchfleet.sweep.plan import expand
    from benchfleet.sweep.schema import SweepError, parse

    if a.run_id:
        _run_id(a.run_id, "--run-id")
    spec = _spec_from_args(a)
    if a.submitter.strip() == "" or " " in a.submitter:
        raise UsageError("--submitter: give your organisation's name without spaces, e.g. MyLab")
    inventory = Path(a.inventory) if a.inventory else project.home() / "inventories" / "local"
    if not inventory.exists():
        raise UsageError(f"--inventory: {inventory} does not exist")
    run_id = a.run_id or time.strftime("%Y%m%d-%H%M%S")
    out = Path(a.out).expanduser().resolve() if a.out else _run_dir(Path(a.runs_dir), run_id, "--run-id")
    try:
        sweep = parse(_sweep_from_run_args(a, spec), "run")
        plan = expand(sweep, inventory, run_id)
    except SweepError as exc:  # the sweep `run` builds: name the flag, not the sweep field
        path, _, msg = exc.errors[0].partition(": ")
        raise UsageError(f"{_run_flag(path)}: {_as_flags(msg)}" if msg else str(exc)) from None
    print(f"benchfleet {__version__}: run {run_id} -> {out}", flush=True)
    print(f"  {spec.benchmark} on {spec.backend}/{spec.device}, {spec.division} division, {spec.mode} mode, "
          f"scenarios {', '.join(spec.resolved_scenarios())}, hosts {', '.join(plan.hosts)}", flush=True)
    return _execute(plan, out, None, inventory, a)


def cmd_sweep(a: argparse.Namespace) -> int:
    from benchfleet import project
    from benchfleet.sweep.plan import expand, run_id_stem
    from benchfleet.sweep.report import duration, plan_table
    from benchfleet.sweep.rundir import RunDir
    from benchfleet.sweep.schema import SweepError, load

    runs = Path(a.runs_dir)
    if not 0 <= a.forks <= 500:
        raise UsageError(f"--forks: {a.forks} is out of range; allowed 0 (every host, up to 50) to 500")
    if a.resume:
        if a.sweep_file:
            raise UsageError("--resume: give the run id alone; the run directory holds its plan")
        rd = RunDir(_run_dir(runs, a.resume, "--resume"))
        if not rd.exists():
            known = sorted(p.parent.name for p in runs.glob("*/plan.json")) if runs.is_dir() else []
            raise UsageError(f"--resume: no run {a.resume!r} in {runs}/"
                             + (f" (runs there: {', '.join(known)})" if known else ""))
        _lock(rd)
        plan = rd.plan()
        inventory = Path(a.inventory) if a.inventory else Path(plan.inventory)
        if plan.cloud_systems() and not _cloud_checks(plan, a):
            raise UsageError("the cloud checks above failed; nothing was created")
        print(f"benchfleet {__version__}: resuming {plan.run_id}: {len(rd.pending(plan))} of "
              f"{len(plan.cells)} cells to run", flush=True)
        return _execute(plan, rd.root, None, inventory, a, resume=True)
    if not a.sweep_file:
        raise UsageError("sweep file: give one (e.g. sweeps/lab.yml), or --resume <run-id>")
    if a.run_id:
        _run_id(a.run_id, "--run-id")
    inventory = Path(a.inventory) if a.inventory else project.home() / "inventories" / "local"
    if not inventory.exists():
        raise UsageError(f"--inventory: {inventory} does not exist")
    try:
        sweep = load(a.sweep_file)
        plan = expand(sweep, inventory.resolve(), a.run_id)
    except SweepError as exc:
        raise UsageError(str(exc)) from None
    if not a.run_id:
        stem = run_id_stem(Path(a.sweep_file).stem)
        if plan.cloud_systems():  # the run id names cloud resources: lowercase, digits, dashes
            stem = re.sub(r"[^a-z0-9-]+", "-", stem.lower()).strip("-")[:24] or "sweep"
        from benchfleet.cloud.base import owned_fingerprint  # no SDK: the owner enters the default run id

        plan.run_id = (f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}" if a.new
                       else f"{stem}-{owned_fingerprint(plan.fingerprint())}")
    out = _run_dir(runs, plan.run_id, "--run-id")
    cloud_ok = _cloud_checks(plan, a) if plan.cloud_systems() else True
    if a.check:
        print(f"sweep {a.sweep_file}: valid. Plan for run {plan.run_id} (nothing was run):\n")
        for name, sysdef in plan.systems.items():
            hosts = sorted({c.host for c in plan.cells if c.system == name})
            print(f"  system {name} ({sysdef['system_type']}): {', '.join(hosts)}")
        print()
        print(plan_table(plan))
        print(f"\n{len(plan.cells)} cells on {len(plan.hosts)} hosts; estimated {duration(plan.estimate_s())} "
              "with hosts in parallel (rough: from a 2-core CPU reference)")
        return 0 if cloud_ok else 1
    if not cloud_ok:
        raise UsageError("the cloud checks above failed; nothing was created")
    sweep_text = Path(a.sweep_file).read_text(encoding="utf-8-sig")
    print(f"benchfleet {__version__}: sweep {a.sweep_file} -> run {plan.run_id} ({len(plan.cells)} cells on "
          f"{len(plan.hosts)} hosts)", flush=True)
    return _execute(plan, out, sweep_text, inventory, a)


def _cloud_checks(plan, a: argparse.Namespace) -> bool:
    """Before anything is created: run id, SSH ingress, credentials and offerings, cost against --max-cost."""
    from benchfleet.cloud import fleet, prices
    from benchfleet.cloud.base import ProviderError, check_run_id
    from benchfleet.sweep import cloud

    try:
        check_run_id(plan.run_id)
    except ValueError as exc:
        raise UsageError(f"--run-id: {exc}") from None
    est = prices.estimate(plan)
    print(f"cloud cost estimate (price table of {prices.TABLE_DATE}; instances x USD/h x (cells + "
          f"{prices.SETUP_S / 60:.0f} min set-up)):")
    for name, count, rate, hours, usd in est.lines:
        print(f"  {name}: {count} x {rate:.4f} USD/h x {hours:.2f} h = {usd:.2f} USD")
    for m in est.missing:
        print(f"  {m}")
    print(f"  total: {est.total:.2f} USD" + (" (without the systems above that have no price)" if est.missing
                                               else ""))
    if a.max_cost is not None:
        if est.missing:
            raise UsageError(f"--max-cost: cannot hold the run to {a.max_cost} USD: " + "; ".join(est.missing))
        if est.total > a.max_cost:
            raise UsageError(f"--max-cost: the estimate, {est.total:.2f} USD, is above {a.max_cost:.2f} USD; "
                             "raise --max-cost, or use fewer or smaller instances, fewer cells, or spot")
    ok = True
    if getattr(a, "allow_world_ssh", False):
        for c in plan.cloud_systems().values():
            c["allow_world_ssh"] = True  # kept in plan.json: the provisioning and --resume see it
    if not a.check:
        try:
            cloud.resolve_cidrs(plan)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    for name, c in plan.cloud_systems().items():
        count = len(plan.hosts_of(name))
        try:
            problems = fleet.provider(c["provider"], **cloud.account_options(c)).preflight(
                c["regions"], c["instance_type"], count)
        except (ProviderError, ValueError) as exc:
            problems = [str(exc)]
        print(f"cloud check {name} ({c['provider']} {c['instance_type']} x {count} in "
              f"{', '.join(c['regions'])}): " + ("OK" if not problems else "; ".join(problems)))
        ok = ok and not problems
    return ok


def _execute(plan, out: Path, sweep_text: str | None, inventory: Path, a: argparse.Namespace,
             resume: bool = False) -> int:
    from benchfleet.sweep import execute
    from benchfleet.sweep.rundir import RunDir

    rd = RunDir(out)
    _lock(rd)
    if not resume:
        try:
            execute.prepare(rd, plan, sweep_text)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    if not rd.pending() and not a.check:
        print(f"nothing to do: all {len(plan.cells)} cells of run {plan.run_id} are done; nothing was changed "
              f"(tree: {out / 'submission'}; `benchfleet status {plan.run_id}` shows them)")
        return 0
    # ansible-runner runs from the installed playbooks' folder: a relative path would name a file there
    outcome = execute.run(rd, inventory=inventory.resolve(), forks=getattr(a, "forks", 0), check=a.check,
                          accept_new_host_keys=a.accept_new_host_keys)
    if a.check:
        print(f"check mode: Ansible reported what would change for {len(outcome.ran)} cells (rc {outcome.ansible_rc})")
        return 0 if outcome.ansible_rc == 0 else 1
    return _report(rd, outcome)


def _lock(rd) -> None:
    """One writer per run: a second sweep, --resume or run on it would delete this one's files in flight."""
    from benchfleet.sweep.rundir import RunLocked

    try:
        rd.lock()  # held until this process ends
    except RunLocked as exc:
        raise UsageError(str(exc)) from None


def _report(rd, outcome) -> int:
    from benchfleet.sweep.report import results_table
    from benchfleet.sweep.rescore import check_run

    plan = rd.plan()
    s = outcome.summary
    rows = s.get("results", [])
    print()
    if rows:
        print(results_table(rows))
    for sysinfo in s.get("systems", []):
        if sysinfo.get("unknown_fields"):
            print(for_terminal(f"system {sysinfo['system_id']} ({sysinfo['host']}): not detected, marked unknown "
                               f"(set benchfleet_system in the inventory): {', '.join(sysinfo['unknown_fields'])}"))
    invalid = s.get("invalid_results", [])
    if invalid:
        print(f"\nINVALID results ({len(invalid)}; the benchmark ran, the rules were not met):")
        for r in invalid:
            print("  " + for_terminal(f"{r['system']} {r['benchmark']} {r['scenario']}: {r['validity']}"))
    fails = s.get("failures", [])
    for label, group in (("infrastructure", [f for f in fails if f["infrastructure"]]),
                         ("cells", [f for f in fails if not f["infrastructure"]])):
        if group:
            print(f"\nFAILURES ({label}, {len(group)}):")
            for f in group:
                print("  " + for_terminal(f"{f['host']} / {f['cell']}: {f['kind']}"
                                          f"{' in ' + repr(f['task']) if f['task'] else ''}: {_tail(f['message'])}"))
    if plan.cloud_systems():
        _report_cloud(rd, s)
    pending = rd.pending(plan)
    tree = s.get("tree")
    ok = bool(tree)
    if tree:
        # each cell rescored against the controller's own scoring files, never another host's
        # a quick run's own tree declares quick mode: allowed here, never by a tree's own claim
        report = check_run(rd, Path(tree), allow_quick=plan.sweep.get("mode") == "quick")
        ok = report.ok
        print(f"\nsubmission tree: {tree}")
        print(f"results: {rd.root / 'results.json'} and results.csv")
        print(f"benchfleet check: {'OK' if report.ok else f'{len(report.errors)} error(s)'}"
              f" ({len([f for f in report.findings if f.level == 'WARNING'])} warning(s))")
        for f in report.errors[:20]:
            print(f"  {for_terminal(f)}")
        if any(r.get("synthetic") for r in rows):
            print("NOTE: SYNTHETIC model and dataset: this checks the pipeline; it is not a result to publish.")
    if outcome.interrupted:
        print("\ninterrupted: finished cells are kept; harness processes already started keep running on "
              "their hosts and are collected by a resume")
    if pending:
        print(f"\n{len(pending)} of {len(plan.cells)} cells not done: "
              f"benchfleet sweep --resume {plan.run_id} --runs-dir {rd.root.parent} runs only those")
    print(f"done in {outcome.wall_s:.0f}s")
    if outcome.interrupted:
        return 130
    return 0 if ok and not pending and outcome.ansible_rc == 0 else 1


def _report_cloud(rd, summary: dict) -> None:
    """Every provisioning attempt that failed over, and what the instances cost."""
    p = rd.root / "cloud" / "attempts.jsonl"
    attempts = [json.loads(x) for x in p.read_text().splitlines()] if p.is_file() else []
    moved = [a for a in attempts if a["outcome"] != "created"]
    if moved:
        print(f"\ncloud provisioning: {len(attempts)} attempt(s), {len(moved)} failed over:")
        for a in attempts:
            where = a["region"] + (f" {a['zone']}" if a["zone"] and a["zone"] != a["region"] else "")
            print(f"  {a['host']}: {a['provider']} {where}: {a['outcome']}"
                  + ("" if a["outcome"] == "created" else f" ({_tail(a['message'], 160)})"))
    cost = summary.get("cloud_cost")
    if cost:
        print(f"cloud cost: {cost['total_usd']:.4f} USD for {len(cost['instances'])} instance(s), from recorded "
              f"uptime at the {cost['price_table']} price table (results.csv: usd_per_million_samples)")


def _tail(message: str, limit: int = 400) -> str:
    """The end of a message (a traceback's last lines say what went wrong), control characters escaped."""
    text = " | ".join(for_terminal(line.strip()) for line in str(message).strip().splitlines()[-4:])
    return text if len(text) <= limit else "..." + text[-limit:]


def cmd_status(a: argparse.Namespace) -> int:
    from benchfleet.sweep.report import status_table
    from benchfleet.sweep.rundir import RunDir

    rd = RunDir(_run_dir(Path(a.runs_dir), a.run_id, "run id"))
    if not rd.exists():
        raise UsageError(f"run id: no run {a.run_id!r} in {a.runs_dir}/")
    plan = rd.plan()
    states = rd.states(plan)
    if a.json:
        print(json.dumps({"run_id": plan.run_id, "cells": [dict(st.__dict__, label=plan.cell(cid).label)
                                                           for cid, st in states.items()]}, indent=2))
        return 0
    counts = {k: sum(1 for s in states.values() if s.state == k) for k in ("done", "running", "failed", "pending")}
    print(f"run {plan.run_id}: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    for host in plan.hosts:
        hf = rd.host_failure(host)
        if hf:
            print(for_terminal(f"  host {host}: {hf['kind']} in {hf['task']!r}: {str(hf['message'])[:300]}"))
    print()
    print(status_table(plan, states))
    return 0


def _targets(a: argparse.Namespace):
    from benchfleet.cloud import fleet
    from benchfleet.cloud.base import ProviderError

    providers = [p.strip() for p in a.provider.split(",") if p.strip()] or None
    regions = [r.strip() for r in a.region.split(",") if r.strip()] or None
    try:
        targets, notes = fleet.configured(providers, regions)
    except (ValueError, ProviderError) as exc:
        raise UsageError(str(exc)) from None
    for n in notes:
        print(n)
    if not targets:
        raise UsageError("no cloud account found: set credentials the way each SDK expects (AWS_PROFILE, "
                         "AZURE_SUBSCRIPTION_ID + az login, GOOGLE_CLOUD_PROJECT + gcloud auth) or --provider")
    return targets


def cmd_teardown(a: argparse.Namespace) -> int:
    """Delete everything tagged with the run, on every configured cloud (no local state needed)."""
    from benchfleet.cloud import fleet
    from benchfleet.cloud.base import check_run_id

    rd_root = _run_dir(Path(a.runs_dir), a.run_id, "run id")
    try:
        check_run_id(a.run_id)
    except ValueError as exc:
        raise UsageError(f"run id: {exc}") from None
    ledger = rd_root / "cloud" / "ledger.jsonl" if rd_root.is_dir() else None
    rep = fleet.teardown(a.run_id, _targets(a), ledger=ledger, log=print, all_owners=a.all_owners)
    for d in rep.deleted:
        print(f"deleted {d}")
    if rep.ok:
        import shutil

        shutil.rmtree(rd_root / "ssh", ignore_errors=True)
        print(f"teardown {a.run_id}: {len(rep.deleted)} resource(s) deleted; nothing tagged "
              f"benchfleet-run={a.run_id} is left (confirmed by listing)")
        return 0
    print("teardown INCOMPLETE: " + "; ".join(rep.remaining + rep.errors) + "; run it again")
    return 1


def _seconds(text: str, flag: str = "--older-than") -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd]?)", text.strip())
    if not m:
        raise UsageError(f"{flag}: {text!r} is not a duration; give e.g. 90m, 6h or 2d")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def cmd_reap(a: argparse.Namespace) -> int:
    """Delete instances of any run past their benchfleet-expires tag (or older than --older-than)."""
    from benchfleet.cloud import fleet

    older = _seconds(a.older_than) if a.older_than else None
    grace = _seconds(a.grace, "--grace") if a.grace else fleet.REAP_GRACE_S
    rep = fleet.reap(_targets(a), older_than_s=older, dry_run=a.dry_run, log=print, all_owners=a.all_owners,
                     grace_s=grace)
    verb = "would delete" if a.dry_run else "deleted"
    for d in rep.deleted:
        print(f"{verb} {d}")
    print(f"reap: {len(rep.deleted)} resource(s) {verb}"
          + ("" if rep.ok else "; INCOMPLETE: " + "; ".join(rep.remaining + rep.errors)))
    return 0 if rep.ok else 1


def cmd_setup(a: argparse.Namespace) -> int:
    """Run playbooks/setup.yml: NVIDIA (where there is a GPU), venv, wheels/models/data, frameworks, harness."""
    from benchfleet import hostsetup, project

    inventory = Path(a.inventory) if a.inventory else project.home() / "inventories" / "local"
    if not inventory.exists():
        raise UsageError(f"--inventory: {inventory} does not exist")
    offline = Path(a.offline) if a.offline else None
    if offline and not any(offline.glob("benchfleet-*.whl")):
        raise UsageError(f"--offline: {offline} holds no benchfleet wheel; build it with `benchfleet bundle {offline}`")
    extravars = {"benchfleet_setup_venv_path": a.venv} if a.venv else {}
    push = hostsetup.cache_manifest(Path(a.push_cache)) if a.push_cache else None
    if a.push_cache:
        print(f"pushing {len(push)} file(s) of {a.push_cache} to the hosts' caches (sha256 checked there)")
    print(f"benchfleet setup: {inventory}{' (offline: ' + str(offline) + ')' if offline else ''}"
          f"{' (check mode: nothing changes)' if a.check else ''}", flush=True)
    res = hostsetup.setup(inventory.resolve(), Path(a.work), offline=offline, check=a.check, extravars=extravars,
                          push=push,
                          limit=[h.strip() for h in a.limit.split(",") if h.strip()] or None,
                          accept_new_host_keys=a.accept_new_host_keys)
    hosts = sorted(set(res.ok) | set(res.changed) | set(res.failed) | set(res.unreachable))
    for h in hosts:
        print(f"{h}: ok={res.ok.get(h, 0)} changed={res.changed.get(h, 0)} failed={res.failed.get(h, 0)}"
              f"{' UNREACHABLE' if res.unreachable.get(h) else ''}")
    return 0 if res.rc == 0 else 1


def cmd_bundle(a: argparse.Namespace) -> int:
    from benchfleet import hostsetup

    try:
        hostsetup.bundle(Path(a.out))
    except RuntimeError as exc:
        print(f"benchfleet bundle: {exc}", file=sys.stderr)
        return 1
    print(f"next: benchfleet setup --inventory <inventory> --offline {a.out}")
    return 0


def cmd_check(a: argparse.Namespace) -> int:
    from benchfleet.submission.check import check_tree

    root = Path(a.tree)
    if not root.is_dir():
        raise UsageError(f"tree: {root} is not a folder; pass the folder holding closed/ or open/")
    try:
        report = check_tree(root, a.round, accuracy_logs=Path(a.accuracy_logs) if a.accuracy_logs else None,
                            dataset=Path(a.dataset) if a.dataset else None, allow_quick=a.allow_quick)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    for f in report.findings:
        if f.level == "ERROR" or a.verbose:
            print(for_terminal(f))
    for r in report.results:
        print(for_terminal(f"result {r['system']}/{r['benchmark']}/{r['scenario']}: {r.get('metric')} "
                           f"{'valid' if r.get('valid') else 'INVALID'}"))
    n_warn = len(report.findings) - len(report.errors)
    print(f"SUMMARY: {'submission looks OK' if report.ok else 'submission has errors'} "
          f"({len(report.errors)} errors, {n_warn} warnings)")
    return 0 if report.ok else 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="benchfleet",
        description="Run MLPerf Inference on one host or a fleet and produce a submission tree the "
                    "MLCommons checker accepts.",
    )
    p.add_argument("--version", action="version", version=f"benchfleet {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    r = sub.add_parser("run", help="run benchmarks through Ansible and write a submission tree",
                       epilog=EPILOG_RUN, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--division", default="open", choices=["open", "closed"],
                   help="open (default; the quick start) or closed (all required scenarios + compliance)")
    r.add_argument("--mode", default="quick", choices=["quick", "valid"],
                   help="quick: short runs marked not for submission (default); valid: the round's 600 s rules")
    r.add_argument("--model", default="auto",
                   help="official (download with checksum), synthetic (generated), a path, or auto (default)")
    r.add_argument("--dataset", default="auto",
                   help="the benchmark's data folder (ImageNet val: val_map.txt + JPEGs; SQuAD: dev-v1.1.json + "
                        "vocab.txt; CNN/DailyMail: cnn_eval.json + vocab.json + merges.txt), official (downloaded "
                        "with checksums where published: SQuAD), synthetic, or auto (synthetic when none is given)")
    r.add_argument("--dataset-count", type=int, default=0,
                   help="samples to use (default 1024, the rules' minimum; at most 50000)")
    r.add_argument("--synthetic-width", type=int, default=0, help=argparse.SUPPRESS)
    r.add_argument("--scenarios", default="", help="comma list; default: what the division and system type need")
    r.add_argument("--system-type", default="edge", help="edge (default), datacenter or datacenter,edge")
    r.add_argument("--offline", default="auto", choices=["auto", "measured", "inferred"],
                   help="Offline on edge systems: inferred from SingleStream in quick mode (auto) or measured")
    r.add_argument("--benchmark", default="resnet50",
                   help="resnet50 (default), bert-99, bert-99.9, gptj-99, gptj-99.9; open division also "
                        "mobilenet-v1-1.0-224-tflite, efficientnet-lite0-tflite (with --backend tflite)")
    r.add_argument("--backend", default="onnxruntime",
                   help="inference backend: onnxruntime (default), pytorch (the same ONNX file run by torch) or tflite")
    r.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16"],
                   help="pytorch only: fp32 (default), fp16 (cuda) or bf16")
    r.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    r.add_argument("--threads", type=int, default=0, help="inference threads (default: all cores; at most 1024)")
    r.add_argument("--batch", type=int, default=0, help="batch for Offline/Server (default 8; 64 on cuda; at most "
                                                        "4096)")
    r.add_argument("--round", default="v3.1", help="MLPerf round whose rules apply (v3.1)")
    r.add_argument("--submitter", default="benchfleet", help="organisation name in the tree (no spaces)")
    r.add_argument("--inventory", default="", help="Ansible inventory (default: inventories/local)")
    r.add_argument("--out", default="", help="run directory (default ./runs/<run-id>)")
    r.add_argument("--runs-dir", default="runs", help=argparse.SUPPRESS)
    r.add_argument("--run-id", default="", help=argparse.SUPPRESS)
    r.add_argument("--cache-dir", default="", help="model/dataset cache (default ~/.cache/benchfleet)")
    r.add_argument("--check", action="store_true", help="Ansible check mode: show what would change, run nothing")
    r.add_argument("--accept-new-host-keys", action="store_true", help=ACCEPT_NEW_HOST_KEYS_HELP)
    r.set_defaults(func=cmd_run)

    sw = sub.add_parser("sweep", help="run a sweep file across a fleet of hosts into one submission tree",
                        epilog=EPILOG_SWEEP, formatter_class=argparse.RawDescriptionHelpFormatter)
    sw.add_argument("sweep_file", nargs="?", default="", help="the sweep file (YAML); see sweeps/example.yml")
    sw.add_argument("--inventory", default="", help="Ansible inventory with the sweep's hosts (default: "
                                                    "inventories/local; on --resume: the run's own)")
    sw.add_argument("--check", action="store_true", help="validate and print the plan (cells, hosts, estimated "
                                                         "time); runs nothing, creates nothing")
    sw.add_argument("--resume", default="", metavar="RUN_ID", help="run only the cells of RUN_ID not done yet")
    sw.add_argument("--run-id", default="", help="name the run: 1-64 letters, digits, '.', '_' or '-', without '..' "
                                                 "(default: <sweep-file>-<hash of the plan and its "
                                                 "owner>, so the same sweep again by the same user continues the "
                                                 "same run)")
    sw.add_argument("--new", action="store_true", help="start a fresh run even if this sweep ran before")
    sw.add_argument("--runs-dir", default="runs", help="where run directories live (default ./runs)")
    sw.add_argument("--forks", type=int, default=0, help="hosts worked on at once (default: all, up to 50)")
    sw.add_argument("--max-cost", type=float, default=None, metavar="USD",
                    help="refuse to start when the cloud cost estimate is above this")
    sw.add_argument("--accept-new-host-keys", action="store_true", help=ACCEPT_NEW_HOST_KEYS_HELP)
    sw.add_argument("--allow-world-ssh", action="store_true",
                    help="let a cloud system's ssh_cidr open port 22 to the world (0.0.0.0/0, ::/0, shorter than "
                         "/8); refused without it")
    sw.set_defaults(func=cmd_sweep)

    td = sub.add_parser("teardown", help="delete every cloud resource a run made (found by its tags)",
                        epilog=EPILOG_TEARDOWN, formatter_class=argparse.RawDescriptionHelpFormatter)
    td.add_argument("run_id", help="the run id (tag benchfleet-run)")
    td.add_argument("--provider", default="", help="comma list of clouds (default: every configured one)")
    td.add_argument("--region", default="", help="comma list of regions to scan (default: all)")
    td.add_argument("--runs-dir", default="runs", help=argparse.SUPPRESS)
    td.add_argument("--all-owners", action="store_true",
                    help="also what other users (benchfleet-owner tag) made under this run id; default: yours only")
    td.set_defaults(func=cmd_teardown)

    rp = sub.add_parser("reap", help="delete expired resources of any benchfleet run on every configured cloud",
                        epilog=EPILOG_TEARDOWN, formatter_class=argparse.RawDescriptionHelpFormatter)
    rp.add_argument("--older-than", default="", metavar="AGE",
                    help="also instances launched longer ago than this (90m, 6h, 2d); default: past their expiry tag")
    rp.add_argument("--dry-run", action="store_true", help="list what would be deleted; delete nothing")
    rp.add_argument("--all-owners", action="store_true",
                    help="every user's runs (benchfleet-owner tag); default: only yours (user-at-controller)")
    rp.add_argument("--grace", default="", metavar="AGE",
                    help="leave runs launched or prepared within this (default 15m: they may still be provisioning)")
    rp.add_argument("--provider", default="", help="comma list of clouds (default: every configured one)")
    rp.add_argument("--region", default="", help="comma list of regions to scan (default: all)")
    rp.set_defaults(func=cmd_reap)

    stt = sub.add_parser("status", help="per host and cell: pending, running, done or failed, and why")
    stt.add_argument("run_id", help="the run id (a folder in --runs-dir)")
    stt.add_argument("--runs-dir", default="runs", help="where run directories live (default ./runs)")
    stt.add_argument("--json", action="store_true", help="machine-readable output")
    stt.set_defaults(func=cmd_status)

    su = sub.add_parser("setup", help="make hosts ready: NVIDIA driver/CUDA, venv, frameworks, harness (idempotent)",
                        epilog=EPILOG_SETUP, formatter_class=argparse.RawDescriptionHelpFormatter)
    su.add_argument("--inventory", default="", help="Ansible inventory (default: inventories/local)")
    su.add_argument("--offline", default="", metavar="WHEELHOUSE",
                    help="push every wheel from this folder (benchfleet bundle) so hosts need no registry")
    su.add_argument("--venv", default="", help="venv path on the hosts (default ~/.benchfleet/venv)")
    su.add_argument("--limit", default="", help="comma list of hosts or groups")
    su.add_argument("--push-cache", default="", metavar="DIR",
                    help="push downloaded models and datasets from this controller cache (e.g. ~/.cache/benchfleet)")
    su.add_argument("--check", action="store_true", help="check mode: report what would change, change nothing")
    su.add_argument("--work", default="runs/setup", help=argparse.SUPPRESS)
    su.add_argument("--accept-new-host-keys", action="store_true", help=ACCEPT_NEW_HOST_KEYS_HELP)
    su.set_defaults(func=cmd_setup)

    bu = sub.add_parser("bundle", help="build the wheelhouse offline mode pushes (benchfleet and its pinned "
                                       "requirements)")
    bu.add_argument("out", help="folder for the wheels")
    bu.set_defaults(func=cmd_bundle)

    c = sub.add_parser("check", help="validate a submission tree against a round's rules")
    c.add_argument("tree", help="folder holding closed/ and/or open/")
    c.add_argument("--round", default="v3.1")
    c.add_argument("--accuracy-logs", default="", help="folder with the full accuracy logs (to recompute accuracy)")
    c.add_argument("--dataset", default="", help="dataset folder whose val_map.txt labels the accuracy logs")
    c.add_argument("--allow-quick", action="store_true",
                   help="accept a tree that declares QUICK MODE (short runs become warnings): a pipeline test, "
                        "not a submission")
    c.add_argument("-v", "--verbose", action="store_true", help="also print warnings")
    c.set_defaults(func=cmd_check)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    if not argv:
        parser.print_help()
        return 2
    a = parser.parse_args(argv)
    if not getattr(a, "func", None):
        parser.print_help()
        return 2
    try:
        return a.func(a)
    except UsageError as exc:
        print(f"benchfleet: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("benchfleet: interrupted; finished results stay in the output folder", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
