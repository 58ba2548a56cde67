"""A sweep's cloud systems: what the playbook, the inventory plugin and the teardown need from the plan.

    runs/<id>/ssh/id_ed25519            the run's own SSH key (0600), deleted at teardown
    runs/<id>/cloud.benchfleet_cloud.yml the inventory plugin's configuration for this run
    runs/<id>/cloud/ledger.jsonl        every instance created and deleted (uptime -> cost)
    runs/<id>/cloud/teardown.json       the last teardown: what was deleted, what is left
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from benchfleet.cloud import fleet, prices
from benchfleet.cloud.base import check_run_id
from benchfleet.sweep.plan import Plan
from benchfleet.sweep.rundir import RunDir, write_atomic


def ledger(rd: RunDir) -> Path:
    return rd.root / "cloud" / "ledger.jsonl"


def key_folder(rd: RunDir) -> Path:
    return rd.root / "ssh"


def account_options(cloud: dict) -> dict[str, str]:
    """A cloud system's account coordinates for its provider (Azure subscription, GCP project)."""
    return {k: cloud[k] for k in ("subscription", "project") if cloud.get(k)}


def system_requests(plan: Plan) -> list[dict]:
    out = []
    for name, c in plan.cloud_systems().items():
        hosts = plan.hosts_of(name)
        out.append({"name": name, "provider": c["provider"], "regions": c["regions"], "zones": c["zones"],
                    "instance_type": c["instance_type"], "image": c["image"], "hosts": hosts,
                    "disk_gb": c["disk_gb"], "spot": c["spot"], "ssh_user": c["ssh_user"],
                    "hours": prices.expiry_hours(plan, name),
                    "options": account_options(c)})
    return out


def targets(plan: Plan) -> list:
    """(provider, regions) for every cloud the plan uses."""
    return fleet.targets_for(system_requests(plan))


def resolve_cidrs(plan: Plan) -> dict[str, str]:
    """ssh_cidr per system; ``auto`` asks for this controller's public address (before anything is created)."""
    out, auto = {}, None
    for name, c in plan.cloud_systems().items():
        if c["ssh_cidr"] != "auto":
            out[name] = c["ssh_cidr"]
            continue
        if auto is None:
            try:
                auto = fleet.controller_cidr()
            except OSError as exc:
                raise ValueError(f"systems ({name}).cloud.ssh_cidr: could not find this controller's public "
                                 f"address ({exc}); set ssh_cidr: <your address>/32 in the sweep file") from None
        out[name] = auto
    return out


def prepare(rd: RunDir, plan: Plan) -> dict:
    """The run's key, inventory plugin file and the playbook's ``benchfleet_cloud`` variable."""
    check_run_id(plan.run_id)
    cidrs = resolve_cidrs(plan)
    key, _pub = fleet.ssh_key(key_folder(rd), plan.run_id)
    systems = system_requests(plan)
    clouds = plan.cloud_systems()
    inv = {
        "plugin": "benchfleet.mlperf.benchfleet_cloud",
        "run": plan.run_id,
        "private_key_file": str(key.resolve()),
        "known_hosts_file": str((key_folder(rd) / "known_hosts").resolve()),
        "systems": [{"name": s["name"], "provider": s["provider"], "regions": s["regions"],
                     "options": s["options"], "ssh_user": s["ssh_user"],
                     "address": clouds[s["name"]]["address"], "vars": clouds[s["name"]]["vars"]}
                    for s in systems],
    }
    write_atomic(inventory_file(rd), yaml.safe_dump(inv, sort_keys=False))
    for s in systems:
        s["ssh_cidr"] = cidrs[s["name"]]
    return {"run": plan.run_id, "systems": systems, "public_key_file": str((key_folder(rd) / "id_ed25519.pub")
                                                                            .resolve()),
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
    p = ledger(rd)
    for line in p.read_text().splitlines() if p.is_file() else []:
        e = json.loads(line)
        if e["event"] == "created":
            created[e["id"]] = e["host"]
        elif e["event"] == "deleted":
            deleted.add(e["id"])
    return {h for i, h in created.items() if i not in deleted}
