"""A sweep's cloud systems: what the playbook, the inventory plugin and the teardown need from the plan.

    runs/<id>/ssh/id_ed25519            the run's own SSH key (0600), deleted at teardown
    runs/<id>/cloud.benchfleet_cloud.yml the inventory plugin's configuration for this run
    runs/<id>/cloud/ledger.jsonl        every instance created and deleted (uptime -> cost)
    runs/<id>/cloud/teardown.json       the last teardown: what was deleted, what is left
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

import yaml

from benchfleet.cloud import fleet, prices
from benchfleet.cloud.base import WORLD_SSH_FLAG, Demand, Provider, check_run_id, world_open
from benchfleet.sweep.plan import Plan
from benchfleet.sweep.rundir import RunDir, write_atomic
from benchfleet.sweep.schema import CloudSpec


def ledger(rd: RunDir) -> Path:
    return rd.root / "cloud" / "ledger.jsonl"


def key_folder(rd: RunDir) -> Path:
    return rd.root / "ssh"


def account_options(cloud: CloudSpec) -> dict[str, str]:
    """A cloud system's account coordinates for its provider (Azure subscription, GCP project)."""
    return {k: getattr(cloud, k) for k in ("subscription", "project") if getattr(cloud, k)}


def _quota_key(cloud: CloudSpec) -> tuple:
    return cloud.provider, tuple(sorted(account_options(cloud).items())), cloud.regions[0]


def preflight(plan: Plan, name: str, p: Provider) -> list[str]:
    """A cloud system's pre-flight problems. Systems of one account with the same first region draw on the same
    quotas: each is checked with the instances of the others (by quota where the provider knows its quotas'
    names, ``shares_quotas``; else those of the same type)."""
    systems = plan.cloud_systems()
    c = systems[name]
    others = [Demand(n, o.instance_type, len(plan.hosts_of(n)), o.spot) for n, o in systems.items()
              if n != name and _quota_key(o) == _quota_key(c)]
    count = len(plan.hosts_of(name))
    if getattr(p, "shares_quotas", False):
        return p.preflight(c.regions, c.instance_type, count, spot=c.spot, image=c.image, system=name,
                           others=others)
    same = [d for d in others if d.instance_type == c.instance_type and d.spot == c.spot]
    problems = p.preflight(c.regions, c.instance_type, count + sum(d.count for d in same), spot=c.spot,
                           image=c.image)
    if problems and same:
        problems = [f"{m} (with {', '.join(d.system for d in same)}: the same type in the same region)"
                    for m in problems]
    return problems


def system_requests(plan: Plan) -> list[fleet.SystemRequest]:
    """What the provisioning needs of each cloud system of the plan (its SSH rule is set by :func:`prepare`)."""
    return [fleet.SystemRequest(name=name, provider=c.provider, regions=list(c.regions), zones=list(c.zones),
                                instance_type=c.instance_type, image=c.image, hosts=plan.hosts_of(name),
                                disk_gb=c.disk_gb, spot=c.spot, ssh_user=c.ssh_user,
                                hours=prices.expiry_hours(plan, name), options=account_options(c))
            for name, c in plan.cloud_systems().items()]


def targets(plan: Plan) -> list:
    """(provider, regions) for every cloud the plan uses."""
    return fleet.targets_for(system_requests(plan))


def resolve_cidrs(plan: Plan, allow_world_ssh: bool = False, warn=None) -> dict[str, str]:
    """ssh_cidr per system, before anything is created. ``auto`` is this controller's public address, or,
    for a system reached at private addresses (``address: private``), its private one. A range open to the
    world needs ``--allow-world-ssh`` (or ``allow_world_ssh: true`` in the system's cloud section) and is
    warned about even then."""
    warn = warn or (lambda m: print(m, file=sys.stderr, flush=True))
    out: dict[str, str] = {}
    found: dict[str, str] = {}
    for name, c in plan.cloud_systems().items():
        if c.ssh_cidr != "auto":
            cidr = c.ssh_cidr
            if world_open(cidr):
                if not (allow_world_ssh or c.allow_world_ssh):
                    raise ValueError(f"systems ({name}).cloud.ssh_cidr: {cidr} opens SSH to the world; give the "
                                     f"controller's range (or auto), or pass {WORLD_SSH_FLAG} if you mean it")
                warn(f"WARNING: systems ({name}).cloud.ssh_cidr: {cidr}: port 22 of every instance of {name} is "
                     f"open to the world ({WORLD_SSH_FLAG})")
            out[name] = cidr
            continue
        where = c.address
        if where not in found:
            try:
                found[where] = fleet.controller_private_cidr() if where == "private" else fleet.controller_cidr()
            except OSError as exc:
                raise ValueError(f"systems ({name}).cloud.ssh_cidr: could not find this controller's {where} "
                                 f"address ({exc}); set ssh_cidr: <your address>/32 in the sweep file") from None
        out[name] = found[where]
    return out


def allowed_world_ssh(plan: Plan, allow_world_ssh: bool = False) -> dict[str, bool]:
    """Per system: may its SSH range be world-open (the flag, or the system's ``allow_world_ssh``)?"""
    return {name: bool(allow_world_ssh or c.allow_world_ssh) for name, c in plan.cloud_systems().items()}


def prepare(rd: RunDir, plan: Plan, allow_world_ssh: bool = False) -> dict:
    """The run's key, inventory plugin file and the playbook's ``benchfleet_cloud`` variable."""
    check_run_id(plan.run_id)
    cidrs = resolve_cidrs(plan, allow_world_ssh, warn=lambda m: None)  # warned once, by the CLI's checks
    allowed = allowed_world_ssh(plan, allow_world_ssh)
    key, _pub = fleet.ssh_key(key_folder(rd), plan.run_id)
    systems = system_requests(plan)
    clouds = plan.cloud_systems()
    inv = {
        "plugin": "benchfleet.mlperf.benchfleet_cloud",
        "run": plan.run_id,
        "private_key_file": str(key.resolve()),
        "known_hosts_file": str((key_folder(rd) / "known_hosts").resolve()),
        "systems": [{"name": s.name, "provider": s.provider, "regions": s.regions, "options": s.options,
                     "ssh_user": s.ssh_user, "address": clouds[s.name].address, "vars": clouds[s.name].vars}
                    for s in systems],
    }
    write_atomic(inventory_file(rd), yaml.safe_dump(inv, sort_keys=False))
    for s in systems:
        s.ssh_cidr = cidrs[s.name]
        s.allow_world_ssh = allowed[s.name]
    # extravars: the cloud_instances module reads each system back with SystemRequest.from_dict
    return {"run": plan.run_id, "systems": [asdict(s) for s in systems],
            "public_key_file": str((key_folder(rd) / "id_ed25519.pub").resolve()),
            "ledger": str(ledger(rd).resolve())}


def inventory_file(rd: RunDir) -> Path:
    return rd.root / "cloud.benchfleet_cloud.yml"


def teardown(rd: RunDir, plan: Plan, log=print, timeout_s: float = 600) -> fleet.TeardownReport:
    """Delete every resource tagged with the run, confirm by listing, drop the run's SSH key."""
    rep = fleet.teardown(plan.run_id, targets(plan), ledger=ledger(rd), log=log, timeout_s=timeout_s)
    write_atomic(rd.root / "cloud" / "teardown.json", json.dumps(
        {"deleted": rep.deleted, "remaining": rep.remaining, "errors": rep.errors}, indent=2))
    if rep.ok:
        shutil.rmtree(key_folder(rd), ignore_errors=True)
    return rep


def vanished_hosts(rd: RunDir) -> set[str]:
    """Hosts whose instance disappeared without our teardown (spot preemption, deleted by someone)."""
    created, deleted = {}, set()
    for e in fleet.read_ledger(ledger(rd)):  # a line torn by a killed run is skipped with a warning
        if e["event"] == "created":
            created[e["id"]] = e.get("host", "")
        elif e["event"] == "deleted":
            deleted.add(e["id"])
    return {h for i, h in created.items() if i not in deleted}
