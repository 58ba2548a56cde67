"""A sweep expanded into cells: one harness invocation on one host, each with a stable id."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pydantic import ValidationError

from benchfleet.benchmarks import registry
from benchfleet.harness.settings import QUICK_MIN_QUERIES, QUICK_SERVER_S
from benchfleet.harness.spec import error_text
from benchfleet.rules import get_round
from benchfleet.sweep.schema import CloudSpec, SweepError, SweepFile, parse

# One rule for every run id (run, sweep, --resume, status, teardown; given or derived from a file name): it is
# a folder name under runs/ and a word in Ansible variables, so no separators, no '..', no spaces, no braces.
RUN_ID_RULE = "1-64 letters, digits, '.', '_' or '-', starting with a letter or digit, without '..'"
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_run_id(run_id: str) -> str:
    """``run_id`` if it follows RUN_ID_RULE; ValueError otherwise (the caller names its flag)."""
    if not _RUN_ID.fullmatch(run_id) or ".." in run_id:
        raise ValueError(f"{run_id!r} is not a run id; use {RUN_ID_RULE}")
    return run_id


def run_dir(runs: Path, run_id: str) -> Path:
    """``runs/<run_id>``, checked: a valid id whose folder (links followed) is a direct child of ``runs``."""
    check_run_id(run_id)
    root = runs.resolve()
    path = (root / run_id).resolve()
    if path.parent != root or path.name != run_id:
        raise ValueError(f"{runs / run_id} leads out of {runs} (to {path}); remove that link or choose another "
                         "run id")
    return root / run_id


def run_id_stem(name: str, limit: int = 40) -> str:
    """A run id's first part from a file name: runs of other characters become '-' (``my lab.v2`` -> my-lab-v2)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-_")[:limit].strip("-_") or "sweep"


@dataclass(frozen=True)
class Cell:
    id: str
    host: str
    system: str  # the sweep's system name
    benchmark: str
    backend: str
    device: str
    division: str
    scenarios: list[str]  # usually one; SingleStream carries an inferred Offline with it
    spec: dict  # the HarnessSpec for this cell (with ``only``)
    estimate_s: float

    @property
    def label(self) -> str:
        return f"{self.benchmark} {self.backend}/{self.device} {self.division} {'+'.join(self.scenarios)}"


@dataclass
class PlanSystem:
    """One system of the plan: what the tree's system descriptions and the cloud side need of it."""

    system_type: str
    description: dict[str, str] = field(default_factory=dict)  # system JSON values that win over facts
    cloud: CloudSpec | None = None  # the instances benchfleet creates for it (None: inventory hosts)

    def to_dict(self) -> dict:
        """As plan.json holds it: ``cloud`` only for a cloud system."""
        d: dict = {"system_type": self.system_type, "description": self.description}
        if self.cloud:
            d["cloud"] = self.cloud.model_dump(mode="json")
        return d

    @classmethod
    def from_dict(cls, d: dict) -> PlanSystem:
        cloud = CloudSpec.model_validate(d["cloud"]) if d.get("cloud") else None
        return cls(d["system_type"], dict(d.get("description") or {}), cloud)


@dataclass
class Plan:
    run_id: str
    sweep: SweepFile  # the validated sweep file (read back from plan.json, every field counts as set)
    inventory: str
    hosts: list[str]  # every host of the sweep, in sweep order (also used to keep system ids apart)
    systems: dict[str, PlanSystem] = field(default_factory=dict)  # by the sweep's system name
    cells: list[Cell] = field(default_factory=list)
    # Set when the run directory is created: names the hosts' work folders, so that a new run
    # directory with the same run id never picks up another run's results.
    uid: str = ""
    shard: str = ""  # "K/N": this run holds the K-th of N shards of the sweep's cells (shard_plan)
    # cloud system -> {"usd_per_hour", "source"}: the price its estimate used, for the run's costs afterwards
    prices: dict[str, dict] = field(default_factory=dict)

    @property
    def host_folder(self) -> str:
        return f"{self.run_id}-{self.uid}" if self.uid else self.run_id

    @property
    def submitter(self) -> str:
        return self.sweep.submitter

    @property
    def round(self) -> str:
        return self.sweep.round

    def cells_of(self, host: str) -> list[Cell]:
        return [c for c in self.cells if c.host == host]

    def cell(self, cell_id: str) -> Cell:
        for c in self.cells:
            if c.id == cell_id:
                return c
        raise KeyError(cell_id)

    def fingerprint(self) -> str:
        """Same sweep, same inventory hosts -> same fingerprint (and the same default run id)."""
        body = json.dumps({"sweep": self.sweep.model_dump(mode="json"), "hosts": self.hosts,
                           "cells": [c.id for c in self.cells]}, sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()[:10]

    # plan.json is the one place the plan is data: written and read here, typed everywhere else.
    def to_json(self) -> str:
        return json.dumps({"run_id": self.run_id, "sweep": self.sweep.model_dump(mode="json"),
                           "inventory": self.inventory, "hosts": self.hosts,
                           "systems": {n: s.to_dict() for n, s in self.systems.items()}, "uid": self.uid,
                           "shard": self.shard, "prices": self.prices,
                           "cells": [asdict(c) for c in self.cells]}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> Plan:
        d = json.loads(text)
        sweep = dict(d["sweep"])
        sweep.setdefault("setup", "never")  # a plan written before the sweep file had `setup` ran no set-up
        return cls(d["run_id"], parse(sweep, "plan.json"), d["inventory"], d["hosts"],
                   {n: PlanSystem.from_dict(s) for n, s in d["systems"].items()},
                   [Cell(**c) for c in d["cells"]], d.get("uid", ""), str(d.get("shard", "")),
                   _prices(d.get("prices")))

    def hosts_of(self, system: str) -> list[str]:
        """The hosts with cells of a system, in plan order."""
        return [h for h in self.hosts if any(c.system == system for c in self.cells_of(h))]

    def system_of(self, host: str) -> str:
        """The system a host belongs to (a host belongs to one system)."""
        return next((c.system for c in self.cells if c.host == host), "")

    def cloud_systems(self) -> dict[str, CloudSpec]:
        """System name -> its cloud spec, for the systems whose instances benchfleet creates."""
        return {n: s.cloud for n, s in self.systems.items() if s.cloud}

    def host_estimate_s(self, host: str) -> float:
        return sum(c.estimate_s for c in self.cells_of(host))

    def estimate_s(self) -> float:
        """Hosts run in parallel, each its cells in sequence."""
        return max((sum(c.estimate_s for c in self.cells_of(h)) for h in self.hosts), default=0.0)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", text).strip("_") or "x"


def resolve_hosts(sweep: SweepFile, inventory: Path) -> dict[int, list[str]]:
    """systems[i].hosts (group or host names) -> host names, from the inventory."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader

    im = InventoryManager(loader=DataLoader(), sources=[str(inventory)])
    groups = {g: sorted(h.name for h in obj.get_hosts()) for g, obj in im.groups.items()}
    out: dict[int, list[str]] = {}
    owner: dict[str, int] = {}
    for i, system in enumerate(sweep.systems):
        names: list[str] = []
        if system.cloud:
            for h in system.cloud_hosts():
                if h in im.hosts:
                    raise SweepError([f"systems[{i}].name: cloud hosts {system.name}-N would clash with host {h!r} "
                                      f"of {inventory}; rename the system"])
            out[i] = system.cloud_hosts()
            continue
        for j, pattern in enumerate(system.hosts):
            if pattern in groups:
                found = groups[pattern]
            elif pattern in im.hosts:
                found = [pattern]
            else:
                raise SweepError([f"systems[{i}].hosts[{j}]: {pattern!r} is neither a group nor a host of "
                                  f"{inventory} (groups: {', '.join(sorted(groups))}; hosts: "
                                  f"{', '.join(sorted(im.hosts)) or 'none'})"])
            if not found:
                raise SweepError([f"systems[{i}].hosts[{j}]: group {pattern!r} has no hosts in {inventory}"])
            names += [h for h in found if h not in names]
        for h in names:
            if h in owner and owner[h] != i:
                raise SweepError([f"systems[{i}].hosts: host {h!r} is already in systems[{owner[h]}] "
                                  f"({sweep.systems[owner[h]].name!r}); a host belongs to one system"])
            owner[h] = i
        out[i] = names
    for i, system in enumerate(sweep.systems):
        director = system.power.director if system.power else ""
        if director and director != "localhost" and director not in im.hosts:
            raise SweepError([f"systems[{i}].power.director: {director!r} is not a host of {inventory}; add the "
                              "director (the host with PTDaemon and the analyzer) to the inventory, or name one of "
                              f"its hosts ({', '.join(sorted(im.hosts)[:8]) or 'none'})"])
    return out


def estimate_cell_s(spec: dict) -> float:
    """A rough duration for one cell, from a 2-core CPU reference (faster hosts take less)."""
    rules = get_round(spec["round"])
    bench = rules.benchmark(registry.rule_benchmark(spec["benchmark"]))
    quick = spec["mode"] == "quick"
    width = spec["synthetic_width"] if spec["model"] in ("auto", "synthetic") else 64
    per_sample = 0.047 * (width / 64) ** 2 + 0.0005 if spec["device"] == "cpu" else 0.002
    total = 20.0  # process start-ups, model load, warm-up, fetch
    for scen in spec["only"]:
        if scen == "Offline" and "SingleStream" in spec["only"] and spec["offline"] != "measured" and quick:
            continue
        acc = spec["dataset_count"] * per_sample
        floor = 1.0 if quick else rules.min_duration_ms / 1000
        if scen == "SingleStream":
            queries = QUICK_MIN_QUERIES["SingleStream"] if quick else rules.min_query_count["SingleStream"]
            perf = max(floor, queries * per_sample)
        elif scen == "MultiStream":
            perf = max(floor, rules.multistream_samples_per_query * rules.min_query_count["MultiStream"] * per_sample)
        elif scen == "Offline":
            perf = max(floor, bench.offline_samples(rules) * per_sample / 2)
        else:  # Server: a quick run lasts about QUICK_SERVER_S at its target; a valid one the round's duration
            perf = QUICK_SERVER_S if quick else floor
        runs = 1 + (len(bench.compliance_tests) if spec["division"] == "closed" else 0)
        total += acc + perf * runs + 8.0 * (runs + 1)
    return round(total, 1)


def expand(sweep: SweepFile, inventory: Path, run_id: str = "") -> Plan:
    from benchfleet.sweep import power_deploy

    hosts_of = resolve_hosts(sweep, inventory)
    power_deploy.verify(sweep)  # the power sources: readable, and a version the round accepts
    plan = Plan(run_id, sweep, str(inventory), [])
    for i, system in enumerate(sweep.systems):
        # copies: the CLI's checks may widen a cloud system's SSH rule in the plan, never in the sweep file
        plan.systems[system.name] = PlanSystem(system.system_type, dict(system.description),
                                               system.cloud.model_copy(deep=True) if system.cloud else None)
        for host in hosts_of[i]:
            plan.hosts.append(host)
            for benchmark in sweep.benchmarks:
                for backend in system.backends or sweep.backends:
                    for device in system.devices or sweep.devices:
                        if not registry.runs_on(benchmark, backend, device):
                            continue  # e.g. BERT has no tflite model: that combination is no cell
                        for division in sweep.division:
                            if division == "closed" and benchmark in registry.open_models():
                                continue
                            try:
                                base = sweep.harness_spec(system, benchmark, backend, device, division)
                            except ValidationError as exc:
                                e = exc.errors()[0]
                                raise SweepError([f"systems[{i}] ({system.name}), {benchmark} on {backend}/"
                                                  f"{device}: {error_text(e)}"]) from None
                            for group in _cell_scenarios(base.resolved_scenarios(), base.offline_inferred()):
                                spec = base.model_copy(update={"only": group}).model_dump()
                                cid = ".".join(slug(x) for x in (host, benchmark, f"{backend}-{device}", division,
                                                                 "+".join(group)))
                                plan.cells.append(Cell(cid, host, system.name, benchmark, backend, device,
                                                       division, group, spec, estimate_cell_s(spec)))
    if not plan.run_id:
        plan.run_id = f"sweep-{plan.fingerprint()}"
    return plan


def _cell_scenarios(scenarios: list[str], offline_inferred: bool) -> list[list[str]]:
    groups = []
    for s in scenarios:
        if s == "Offline" and offline_inferred:
            continue  # rides with SingleStream
        groups.append(["SingleStream", "Offline"] if s == "SingleStream" and offline_inferred else [s])
    return groups


def _prices(value) -> dict[str, dict]:
    """plan.json's prices, each a positive number and a short source, whatever else the file holds."""
    out: dict[str, dict] = {}
    for name, q in (value if isinstance(value, dict) else {}).items():
        try:
            rate = float(q["usd_per_hour"])
        except (TypeError, KeyError, ValueError):
            continue
        if 0 < rate < 10_000:
            out[str(name)[:64]] = {"usd_per_hour": rate, "source": str(q.get("source", ""))[:120]}
    return out


SHARD_RE = re.compile(r"([1-9]\d{0,3})/([1-9]\d{0,3})")


def parse_shard(text: str) -> tuple[int, int]:
    """``K/N`` (1 <= K <= N <= 9999) as (K, N); ValueError naming the form otherwise."""
    m = SHARD_RE.fullmatch(text.strip())
    if not m or int(m.group(1)) > int(m.group(2)):
        raise ValueError(f"{text!r} is not K/N with 1 <= K <= N (e.g. 2/5: the second of five shards)")
    return int(m.group(1)), int(m.group(2))


def shard_key(plan: Plan, cell: Cell) -> str:
    """What a cell is sharded by: its id on a cloud system (each shard makes its own instances), its host on an
    inventory host (a machine measures one benchmark at a time: two controllers must never share one)."""
    return cell.id if plan.systems.get(cell.system) is not None and plan.systems[cell.system].cloud else \
        f"host:{cell.host}"


def shard_index(key: str, n: int) -> int:
    """The shard (1..n) of a shard key: stable, whatever else the sweep holds."""
    return int(hashlib.sha256(key.encode()).hexdigest(), 16) % n + 1


def shard_of(plan: Plan, cell: Cell, n: int) -> int:
    return shard_index(shard_key(plan, cell), n)


def shard_plan(plan: Plan, k: int, n: int) -> Plan:
    """The plan of shard k of n: its cells only (hosts and system ids stay those of the whole sweep, so that every
    shard names its systems as one run of the sweep would, and their trees merge into that run's tree)."""
    plan.cells = [c for c in plan.cells if shard_of(plan, c, n) == k]
    plan.shard = f"{k}/{n}"
    return plan
