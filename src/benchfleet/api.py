"""What each ``benchfleet`` command does, as functions that take typed options and return result objects.

The CLI (``cli.py``) parses arguments, calls one of these, renders the result with ``sweep/report.py`` and
exits. These functions never print tables: lines that must appear while a command works (the run header, the
cloud cost estimate and checks, Ansible's live progress, the cloud SDKs' notes) go to the ``log`` callable or
the ``stream`` they are given. A user's mistake is raised as :class:`benchfleet.errors.UsageError`, naming the
flag or field to fix.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from benchfleet import __version__
from benchfleet.errors import UsageError

if TYPE_CHECKING:
    from benchfleet.cloud.fleet import TeardownReport
    from benchfleet.hostsetup import SetupResult
    from benchfleet.submission.check import CheckReport
    from benchfleet.sweep.execute import Outcome
    from benchfleet.sweep.plan import Plan
    from benchfleet.sweep.rundir import CellState, RunDir
    from benchfleet.sweep.schema import SweepError, SweepFile

Log = Callable[[str], None]


def _print(line: str) -> None:
    print(line, flush=True)


# --- options ---------------------------------------------------------------------------------------------------

@dataclass
class RunOptions:
    """``benchfleet run``: one benchmark on every host of an inventory (a sweep of one system)."""

    division: str = "open"
    mode: str = "quick"
    model: str = "auto"
    dataset: str = "auto"
    dataset_count: int = 0  # 0: the sweep default (1024)
    synthetic_width: int = 0  # 0: the sweep default
    scenarios: list[str] | None = None  # None: what the division and system type need
    system_type: str = "edge"
    offline: str = "auto"
    benchmark: str = "resnet50"
    backend: str = "onnxruntime"
    precision: str = "fp32"
    calibration_count: int = 0  # int8: the official list's first N samples (0: all)
    compiler: str = "none"  # pytorch: inductor (torch.compile)
    device: str = "cpu"
    threads: int = 0
    batch: int = 0
    round: str = "v3.1"
    submitter: str = "benchfleet"
    inventory: Path | None = None  # None: inventories/local
    out: Path | None = None  # None: <runs_dir>/<run_id>
    runs_dir: Path = Path("runs")
    run_id: str = ""  # "": the time
    cache_dir: str = ""  # "": the sweep default (~/.cache/benchfleet)
    check: bool = False  # Ansible check mode
    accept_new_host_keys: bool = False
    tune: bool = False  # tune first (short runs), keep the settings in the run's tuning/ and the tuning cache
    tune_budget_s: float = 600.0
    tuned: bool = True  # take settings from this system's tuning file where one holds
    tuning_dir: Path | None = None  # None: $BENCHFLEET_TUNING_DIR or ~/.benchfleet/tuning
    # MLPerf power (all three, or none): the power-dev checkout on the hosts, the power server, the NTP server; the
    # analyzer's and the power settings' descriptions (text)
    power_client: str = ""
    power_server: str = ""
    power_ntp: str = ""
    power_analyzer: str = ""
    power_settings: str = ""
    # what the roles deploy: the power-dev source on the controller (folder or git URL, and its ref), the director
    # that runs the power server, and PTDaemon's settings there ({command, device_type, device_port, ...})
    power_source: str = ""
    power_version: str = ""
    power_director: str = ""
    power_ptd: dict | None = None


@dataclass(kw_only=True)
class _FleetOptions:
    """What ``benchfleet sweep`` and ``sweep --resume`` share: the inventory, how many hosts at once, and the
    cloud's cost ceiling and SSH rule."""

    inventory: Path | None = None  # None: inventories/local (sweep), the run's own (resume)
    runs_dir: Path = Path("runs")
    forks: int = 0
    check: bool = False  # sweep: validate and plan only; resume: Ansible check mode
    max_cost: float | None = None
    accept_new_host_keys: bool = False
    allow_world_ssh: bool = False


@dataclass
class SweepOptions(_FleetOptions):
    """``benchfleet sweep <file>``: every cell of a sweep file."""

    sweep_file: str
    run_id: str = ""  # "": <file stem>-<hash of the plan and its owner>
    new: bool = False  # a fresh run id (the time) even when this sweep ran before
    tune: bool = False  # as the sweep file's `tune: true`
    shard: str = ""  # "K/N": only the K-th of N shards of the cells (benchfleet merge joins the shards' trees)


@dataclass
class ResumeOptions(_FleetOptions):
    """``benchfleet sweep --resume <run-id>``: the cells of a run not done yet."""

    run_id: str


# --- results ---------------------------------------------------------------------------------------------------

@dataclass
class RunResult:
    """What a run, sweep or resume did: Ansible's outcome, the cells not done, the tree and its check."""

    plan: Plan
    root: Path  # the run directory
    outcome: Outcome | None = None  # None: nothing was left to run
    check_mode: bool = False
    pending: list[str] = field(default_factory=list)
    tree_check: CheckReport | None = None
    cloud_attempts: list[dict] = field(default_factory=list)  # cloud/attempts.jsonl
    tuning: list[str] = field(default_factory=list)  # what a tuned run kept in its tuning files
    report: Path | None = None  # the run's report.html
    report_error: str = ""  # why it could not be written (the run's results are not affected)

    @property
    def summary(self) -> dict:
        return self.outcome.summary if self.outcome else {}

    @property
    def exit_code(self) -> int:
        if self.outcome is None:
            return 0
        if self.check_mode:
            return 0 if self.outcome.ansible_rc == 0 else 1
        if self.outcome.interrupted:
            return 130
        ok = self.tree_check.ok if self.tree_check is not None else False
        return 0 if ok and not self.pending and self.outcome.ansible_rc == 0 else 1


@dataclass
class PlanResult:
    """``benchfleet sweep --check``: the valid sweep's plan; nothing ran."""

    sweep_file: str
    plan: Plan
    cloud_ok: bool = True

    @property
    def exit_code(self) -> int:
        return 0 if self.cloud_ok else 1


@dataclass
class StatusResult:
    """Every cell's state, and each host's own failure (a host lost before its cells ran)."""

    plan: Plan
    states: dict[str, CellState]
    host_failures: dict[str, dict] = field(default_factory=dict)


@dataclass
class CloudResult:
    """What ``teardown`` or ``reap`` deleted (or, dry run, would delete)."""

    report: TeardownReport
    run_id: str = ""  # teardown's run; "" for reap
    dry_run: bool = False

    @property
    def exit_code(self) -> int:
        return 0 if self.report.ok else 1


@dataclass
class SetupOutcome:
    """``benchfleet setup``: Ansible's counts per host."""

    result: SetupResult

    @property
    def exit_code(self) -> int:
        return 0 if self.result.rc == 0 else 1


@dataclass
class CheckOutcome:
    """``benchfleet check``: the checker's findings and results for a submission tree."""

    report: CheckReport

    @property
    def exit_code(self) -> int:
        return 0 if self.report.ok else 1


# --- run: the sweep of one system ------------------------------------------------------------------------------

# `benchfleet run` flags for the sweep fields it fills (errors name what the user typed).
_RUN_FLAGS = {"benchmarks": "--benchmark", "backends": "--backend", "devices": "--device", "defaults.threads":
              "--threads", "defaults.batch": "--batch", "defaults.precision": "--precision",
              "defaults.calibration_count": "--calibration-count", "defaults.compiler": "--compiler",
              "systems.system_type": "--system-type", "systems": "--inventory", "systems.hosts": "--inventory",
              "systems.power": "--power-client", "systems.power.client_dir": "--power-client",
              "systems.power.server": "--power-server", "systems.power.ntp": "--power-ntp",
              "systems.power.analyzer": "--power-analyzer", "systems.power.settings": "--power-settings",
              "systems.power.source": "--power-source", "systems.power.version": "--power-version",
              "systems.power.director": "--power-director", "systems.power.ptd": "--power-ptd",
              "systems.power.ptd.command": "--power-ptd", "systems.power.ptd.device_type": "--power-ptd",
              "systems.power.ptd.device_port": "--power-ptd", "systems.power.ptd.interface_flag": "--power-ptd",
              "systems.power.ptd.network_port": "--power-ptd", "systems.power.ptd.channel": "--power-ptd",
              "systems.power.ptd.gpib_board": "--power-ptd"}


def _run_flag(field_path: str) -> str:
    """The `benchfleet run` flag for a sweep field path (``defaults.threads`` -> --threads)."""
    path = re.sub(r"\[\d+\]", "", field_path)
    return _RUN_FLAGS.get(path) or "--" + path.rsplit(".", 1)[-1].replace("_", "-")


def _as_flags(msg: str) -> str:
    """A sweep message's advice in flags: 'use backend tflite' -> 'use --backend tflite'."""
    return re.sub(r"\b(use|to) (backend|device|division|precision)\b", r"\1 --\2", msg)


def _flag_error(exc: SweepError) -> UsageError:
    """A SweepError of the sweep `run` builds, as `run`'s error: the flag for its first field path, then the
    message with its advice in flags."""
    path, _, msg = exc.errors[0].partition(": ")
    return UsageError(_run_flag(path), _as_flags(msg)) if msg else UsageError(str(exc))


def run_sweep(o: RunOptions) -> SweepFile:
    """The SweepFile `benchfleet run` stands for: one system (every host of the inventory), one benchmark on one
    backend and device. The flags are checked once, by the sweep file's own rules; an error names the flag the
    user typed for the field at fault (``--threads: 5000 is out of range; ...``)."""
    from benchfleet.sweep.schema import REQUIRED, SweepError, parse

    data = {
        "submitter": o.submitter, "round": o.round, "mode": o.mode, "division": [o.division],
        "benchmarks": [o.benchmark], "backends": [o.backend], "devices": [o.device],
        "scenarios": o.scenarios or [REQUIRED], "offline": o.offline, "model": o.model, "dataset": o.dataset,
        "defaults": {"threads": o.threads, "batch": o.batch, "precision": o.precision,
                     **({"calibration_count": o.calibration_count} if o.calibration_count else {}),
                     **({"compiler": o.compiler} if o.compiler != "none" else {})},
        "systems": [{"name": "local", "hosts": ["all"], "system_type": o.system_type}],
        "tune": o.tune, "tune_budget_s": o.tune_budget_s,
    }
    for name in ("dataset_count", "synthetic_width", "cache_dir"):  # 0 or "": the sweep default
        if getattr(o, name):
            data[name] = getattr(o, name)
    power = {"client_dir": o.power_client, "server": o.power_server, "ntp": o.power_ntp}
    if any(power.values()):
        missing = [f"--power-{k.split('_')[0]}" for k, v in power.items() if not v]
        if missing:
            raise UsageError(missing[0], "a power measurement needs --power-client (your mlcommons/power-dev "
                                         "checkout on the hosts), --power-server (HOST[:PORT]) and --power-ntp")
        data["systems"][0]["power"] = {**power, "analyzer": o.power_analyzer, "settings": o.power_settings,
                                       "source": o.power_source, "version": o.power_version,
                                       "director": o.power_director,
                                       **({"ptd": o.power_ptd} if o.power_ptd is not None else {})}
    elif o.power_source or o.power_director or o.power_ptd:
        raise UsageError("--power-client", "--power-source, --power-director and --power-ptd deploy a power "
                                           "measurement: give --power-client, --power-server and --power-ntp too")
    try:
        return parse(data, "run")
    except SweepError as exc:
        raise _flag_error(exc) from None


def _check_files(sweep: SweepFile) -> None:
    """The model and data `benchfleet run` names exist on this controller, and a generated model meets its own
    generated data."""
    model, dataset = sweep.model, sweep.dataset
    if dataset not in ("auto", "synthetic", "official") and not Path(dataset).expanduser().is_dir():
        raise UsageError(f"--dataset: {dataset} is not a folder; give the benchmark's data folder, official "
                         "or synthetic")
    if model not in ("auto", "official", "synthetic") and not Path(model).expanduser().is_file():
        raise UsageError(f"--model: {model} is not a file; use official, synthetic or a path to a model file")
    if model == "synthetic" and dataset not in ("auto", "synthetic"):
        raise UsageError("--dataset: a generated model only scores on its generated dataset; use --dataset synthetic")
    if dataset == "synthetic" and model not in ("auto", "synthetic"):
        raise UsageError("--model: the synthetic dataset is labelled by the synthetic model; use --model synthetic")


def run(o: RunOptions, *, log: Log = _print, stream: TextIO | None = None) -> RunResult:
    """`benchfleet run`: the sweep of one system, into ``o.out`` (default runs/<run-id>)."""
    from benchfleet import project
    from benchfleet.sweep import report
    from benchfleet.sweep.plan import expand
    from benchfleet.sweep.schema import SweepError

    if o.run_id:
        _check_run_id(o.run_id, "--run-id")
    if o.submitter.strip() == "" or " " in o.submitter:
        raise UsageError("--submitter: give your organisation's name without spaces, e.g. MyLab")
    sweep = run_sweep(o)
    _check_files(sweep)
    inventory = o.inventory or project.home() / "inventories" / "local"
    if not inventory.exists():
        raise UsageError(f"--inventory: {inventory} does not exist")
    run_id = o.run_id or time.strftime("%Y%m%d-%H%M%S")
    out = o.out.expanduser().resolve() if o.out else _run_dir(o.runs_dir, run_id, "--run-id")
    try:
        plan = expand(sweep, inventory, run_id)
    except SweepError as exc:  # the plan names sweep fields: name the flag instead
        raise _flag_error(exc) from None
    log(report.run_header(run_id, out, plan))
    if o.tuned and not o.tune and not o.check:
        _reuse_tuning(plan, inventory, out, o.tuning_dir, log=log, accept_new_host_keys=o.accept_new_host_keys)
    return _execute(plan, out, None, inventory, check=o.check, accept_new_host_keys=o.accept_new_host_keys,
                    log=log, stream=stream, tuning_dir=o.tuning_dir)


def _systems_of(plan: Plan, inventory: Path, out: Path, *,
                accept_new_host_keys: bool = False) -> dict[str, tuple[str, str, dict]]:
    """Each inventory-host cell's (system id, tuning key, host facts), from one facts play over their hosts; cloud
    cells and hosts that gave no facts are left out."""
    from benchfleet import hostsetup
    from benchfleet.submission.system import system_id
    from benchfleet.sweep import tuning

    cells = [c for c in plan.cells if c.system not in plan.cloud_systems()]
    if not cells:
        return {}
    facts = hostsetup.facts(inventory, out / "tuning-facts", limit=sorted({c.host for c in cells}),
                            log=lambda m: None, accept_new_host_keys=accept_new_host_keys).facts
    return {c.id: (system_id(facts[c.host], c.backend, c.device),
                   tuning.entry_key(c.benchmark, c.backend, c.device, c.spec.get("precision") or "fp32",
                                    c.spec.get("compiler") or "none"),
                   facts[c.host]) for c in cells if c.host in facts}


def _give_tuning(cell, entry: dict) -> None:
    """A tuning entry's settings into a cell's spec: its own scenarios, and Offline's (Server runs on them)."""
    from benchfleet.sweep import tuning

    tuned, tuned_for = tuning.spec_tuning(entry)
    cell.spec["tuned"] = {s: v for s, v in tuned.items() if s in cell.scenarios or s == "Offline"}
    cell.spec["tuned_for_backend_version"] = tuned_for.get("backend_version")


def _tune_once(plan: Plan, inventory: Path, out: Path, *, log: Log,
               accept_new_host_keys: bool = False) -> tuple[list[str], dict[str, tuple]]:
    """A tuned sweep over inventory hosts: one host per system id (and benchmark, backend, device, precision) tunes;
    the others wait for it and take its settings (``_take_tuning``). Returns the cells that run first, and each
    waiting cell's (tuning host, system id, tuning key, facts)."""
    cloud = plan.cloud_systems()
    cells = [c for c in plan.cells if c.system not in cloud]
    if len({c.host for c in cells}) < 2:
        return [], {}
    systems = _systems_of(plan, inventory, out, accept_new_host_keys=accept_new_host_keys)
    leader: dict[tuple[str, str], str] = {}
    first: list[str] = []
    later: dict[str, tuple] = {}
    for cell in cells:
        if cell.id not in systems:
            first.append(cell.id)  # not described: it tunes for itself
            continue
        sid, key, facts = systems[cell.id]
        if leader.setdefault((sid, key), cell.host) == cell.host:
            first.append(cell.id)
        else:
            cell.spec["tune"] = False
            later[cell.id] = (leader[(sid, key)], sid, key, facts)
    if not later:
        return [], {}
    hosts = sorted({plan.cell(c).host for c in first})
    log(f"tuning first on {', '.join(hosts)}: {len(later)} cell(s) of identical hosts then take their settings")
    return first + [c.id for c in plan.cells if c.system in cloud], later


def _resume_tuning(rd, plan: Plan, inventory: Path, out: Path, *, log: Log,
                   accept_new_host_keys: bool = False) -> tuple[list[str], dict[str, tuple]]:
    """A resumed tuned sweep: the cells that were to take a tuning host's settings and have none yet wait again,
    for their tuning cells where those are not done, or take what the finished ones wrote. Same return as
    ``_tune_once``."""
    pending = rd.pending(plan)
    waits = [c for c in plan.cells if c.id in pending and c.spec.get("tune") is False and not c.spec.get("tuned")]
    if not waits:
        return [], {}
    systems = _systems_of(plan, inventory, out, accept_new_host_keys=accept_new_host_keys)
    leaders = {systems[c.id][:2]: c.host for c in plan.cells if c.spec.get("tune") and c.id in systems}
    waiting = {c.id: (leaders.get(systems[c.id][:2], "its tuning host"), *systems[c.id])
               for c in waits if c.id in systems}
    for c in waits:
        if c.id not in waiting:
            log(f"  {c.host}: gave no facts, so no tuning host is known for it; it runs with the defaults")
    # the tuning cells not done yet run first; the rest (cloud cells too) run with the waiting ones
    first = [cid for cid in pending if plan.cell(cid).spec.get("tune")]
    if waiting:
        log(f"resuming a tuned sweep: {len(waiting)} cell(s) take the settings of their tuning hosts"
            + (" once those have run" if first else ""))
    return first, waiting


def _take_tuning(rd, plan: Plan, waiting: dict[str, tuple], tuning_dir: Path | None, *, log: Log) -> None:
    """After the first hosts tuned: their settings into each waiting cell's spec (plan.json), by system id."""
    from benchfleet.sweep import tuning

    tuning.collect(rd.root, plan, tuning.store_dir(tuning_dir))
    for cell in plan.cells:
        if cell.id not in waiting:
            continue
        leader, sid, key, facts = waiting[cell.id]
        entry, why = tuning.lookup(rd.root / "tuning", sid, key, facts)
        if entry is None:
            log(f"  {cell.host}: {why}; it runs with the defaults")
            continue
        _give_tuning(cell, entry)
        log(f"  {cell.host}: {' '.join(cell.scenarios)} with the settings {leader} tuned")
    rd.save_plan(plan)


def _reuse_tuning(plan: Plan, inventory: Path, out: Path, tuning_dir: Path | None, *, log: Log,
                  accept_new_host_keys: bool = False) -> None:
    """Give each planned cell the settings of its system's tuning file, where one holds (same hardware); the
    host itself drops them when its backend version differs. Settings given in the sweep or on the command line
    win. Costs one facts play over the hosts, and only when there is a tuning file at all."""
    from benchfleet.sweep import tuning

    directory = tuning.store_dir(tuning_dir)
    if not any(directory.glob("*.json")):
        return
    systems = _systems_of(plan, inventory, out, accept_new_host_keys=accept_new_host_keys)
    for cell in plan.cells:
        if cell.id not in systems:
            continue
        sid, key, facts = systems[cell.id]
        entry, why = tuning.lookup(directory, sid, key, facts)
        if entry is None:
            if "other hardware" in why:
                log(f"  {cell.host}: {why}")
            continue
        _give_tuning(cell, entry)
        log(f"  {cell.host}: {' '.join(cell.scenarios)} with the settings tuned on {sid} "
            f"(run {entry.get('run')}; benchfleet tune --show)")


# --- sweep, resume ---------------------------------------------------------------------------------------------

def _check_forks(forks: int) -> None:
    if not 0 <= forks <= 500:
        raise UsageError(f"--forks: {forks} is out of range; allowed 0 (every host, up to 50) to 500")


def sweep(o: SweepOptions, *, log: Log = _print, stream: TextIO | None = None) -> PlanResult | RunResult:
    """`benchfleet sweep <file>`: the plan only (``o.check``), or every cell not done yet."""
    from benchfleet import project
    from benchfleet.sweep.plan import expand, run_id_stem
    from benchfleet.sweep.schema import SweepError, load

    _check_forks(o.forks)
    if not o.sweep_file:
        raise UsageError("sweep file: give one (e.g. sweeps/lab.yml), or --resume <run-id>")
    if o.run_id:
        _check_run_id(o.run_id, "--run-id")
    inventory = o.inventory or project.home() / "inventories" / "local"
    if not inventory.exists():
        raise UsageError(f"--inventory: {inventory} does not exist")
    try:
        plan = expand(load(o.sweep_file), inventory.resolve(), o.run_id)
    except SweepError as exc:
        raise UsageError(str(exc)) from None
    if o.tune:
        plan.sweep = plan.sweep.model_copy(update={"tune": True})
        for cell in plan.cells:
            cell.spec["tune"] = True
    if o.shard:
        from benchfleet.sweep.plan import parse_shard, shard_plan

        try:
            k, n = parse_shard(o.shard)
        except ValueError as exc:
            raise UsageError(f"--shard: {exc}") from None
        shard_plan(plan, k, n)
        if not plan.cells:
            raise UsageError(f"--shard: shard {k}/{n} holds no cell of this sweep (an inventory host's cells stay "
                             "together, so a sweep of few hosts has empty shards): use fewer shards")
    if not o.run_id:
        stem = run_id_stem(Path(o.sweep_file).stem)
        if plan.shard:
            stem += "-shard" + plan.shard.replace("/", "of")
        if plan.cloud_systems():  # the run id names cloud resources: lowercase, digits, dashes
            stem = re.sub(r"[^a-z0-9-]+", "-", stem.lower()).strip("-")[:32] or "sweep"
        from benchfleet.cloud.base import owned_fingerprint  # no SDK: the owner enters the default run id

        plan.run_id = (f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}" if o.new
                       else f"{stem}-{owned_fingerprint(plan.fingerprint())}")
    out = _run_dir(o.runs_dir, plan.run_id, "--run-id")
    cloud_ok = (_cloud_checks(plan, max_cost=o.max_cost, allow_world_ssh=o.allow_world_ssh, check=o.check, log=log)
                if plan.cloud_systems() else True)
    if o.check:
        return PlanResult(o.sweep_file, plan, cloud_ok)
    if not cloud_ok:
        raise UsageError("the cloud checks above failed; nothing was created")
    sweep_text = Path(o.sweep_file).read_text(encoding="utf-8-sig")
    log(f"benchfleet {__version__}: sweep {o.sweep_file} -> run {plan.run_id} ({len(plan.cells)} cells on "
        f"{len(plan.hosts)} hosts)")
    if not plan.sweep.tune and not (out / "plan.json").exists():
        _reuse_tuning(plan, inventory, out, None, log=log, accept_new_host_keys=o.accept_new_host_keys)
    return _execute(plan, out, sweep_text, inventory, forks=o.forks, accept_new_host_keys=o.accept_new_host_keys,
                    log=log, stream=stream)


def resume(o: ResumeOptions, *, log: Log = _print, stream: TextIO | None = None) -> RunResult:
    """`benchfleet sweep --resume <run-id>`: only the cells of the run not done yet, from its own plan."""
    from benchfleet.sweep.rundir import RunDir

    _check_forks(o.forks)
    runs = o.runs_dir
    rd = RunDir(_run_dir(runs, o.run_id, "--resume"))
    if not rd.exists():
        known = sorted(p.parent.name for p in runs.glob("*/plan.json")) if runs.is_dir() else []
        raise UsageError(f"--resume: no run {o.run_id!r} in {runs}/"
                         + (f" (runs there: {', '.join(known)})" if known else ""))
    _lock(rd)
    plan = rd.plan()
    inventory = o.inventory or Path(plan.inventory)
    if plan.cloud_systems() and not _cloud_checks(plan, max_cost=o.max_cost, allow_world_ssh=o.allow_world_ssh,
                                                  check=o.check, log=log):
        raise UsageError("the cloud checks above failed; nothing was created")
    log(f"benchfleet {__version__}: resuming {plan.run_id}: {len(rd.pending(plan))} of "
        f"{len(plan.cells)} cells to run")
    return _execute(plan, rd.root, None, inventory, forks=o.forks, check=o.check,
                    accept_new_host_keys=o.accept_new_host_keys, resume=True, log=log, stream=stream)


def _cloud_checks(plan: Plan, *, max_cost: float | None, allow_world_ssh: bool, check: bool, log: Log) -> bool:
    """Before anything is created: run id, SSH ingress, credentials and offerings, cost against --max-cost."""
    from benchfleet.cloud import fleet, prices
    from benchfleet.cloud.base import ProviderError, check_run_id
    from benchfleet.sweep import cloud, report

    try:
        check_run_id(plan.run_id)
    except ValueError as exc:
        raise UsageError(f"--run-id: {exc}") from None
    est = prices.estimate(plan)
    # the prices the estimate used are the run's: its costs afterwards do not move with a cache or a later table
    plan.prices = {name: {"usd_per_hour": rate, "source": source} for name, _, rate, _, _, source in est.lines}
    log(report.cost_estimate(est))
    if max_cost is not None:
        if est.missing:
            raise UsageError(f"--max-cost: cannot hold the run to {max_cost} USD: " + "; ".join(est.missing))
        if est.total > max_cost:
            raise UsageError(f"--max-cost: the estimate, {est.total:.2f} USD, is above {max_cost:.2f} USD; "
                             "raise --max-cost, or use fewer or smaller instances, fewer cells, or spot")
    ok = True
    if allow_world_ssh:
        for c in plan.cloud_systems().values():
            c.allow_world_ssh = True  # kept in plan.json: the provisioning and --resume see it
    if not check:
        try:
            cloud.resolve_cidrs(plan)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    for name, c in plan.cloud_systems().items():
        count = len(plan.hosts_of(name))
        try:
            p = fleet.provider(c.provider, **cloud.account_options(c))
            problems = cloud.preflight(plan, name, p)  # with the systems that draw on the same quotas
            most, hours = getattr(p, "max_hours", None), prices.expiry_hours(plan, name)
            if most is not None and hours > most:
                problems.append(f"{c.provider}: the instances' expiry would be {hours:g} h (3 x the longest host's "
                                f"cells + 1 h); {c.provider} instances expire within {most:g} h: give the system "
                                f"more hosts (count) or fewer cells, or run the sweep in shards (--shard)")
        except (ProviderError, ValueError) as exc:
            problems = [str(exc)]
        log(report.cloud_check(name, c, count, problems))
        ok = ok and not problems
    return ok


def _execute(plan: Plan, out: Path, sweep_text: str | None, inventory: Path, *, forks: int = 0,
             check: bool = False, accept_new_host_keys: bool = False, resume: bool = False, log: Log = _print,
             stream: TextIO | None = None, tuning_dir: Path | None = None) -> RunResult:
    """Prepare the run directory (a new run), run its pending cells through Ansible, collect the result.
    The one place that calls ``execute.prepare`` and ``execute.run``."""
    from benchfleet.sweep import execute
    from benchfleet.sweep.rundir import RunDir

    rd = RunDir(out)
    _lock(rd)
    first: list[str] = []
    waiting: dict[str, tuple] = {}  # cell -> (the host that tunes for it, system id, tuning key, the cell host's facts)
    if plan.sweep.tune and not check and resume:
        first, waiting = _resume_tuning(rd, plan, inventory, out, log=log, accept_new_host_keys=accept_new_host_keys)
    elif plan.sweep.tune and not check:
        first, waiting = _tune_once(plan, inventory, out, log=log, accept_new_host_keys=accept_new_host_keys)
    if not resume:
        try:
            execute.prepare(rd, plan, sweep_text)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    if not rd.pending() and not check:
        return RunResult(plan, out)
    # ansible-runner runs from the installed playbooks' folder: a relative path would name a file there
    kw = {"inventory": inventory.resolve(), "forks": forks, "check": check,
          "accept_new_host_keys": accept_new_host_keys, **({"stream": stream} if stream else {})}
    if waiting:
        ran: list[str] = []
        if first:
            outcome = execute.run(rd, only=first, **kw)
            if outcome.interrupted:
                return finish(rd, outcome, tuning_dir=tuning_dir)
            ran = outcome.ran
        _take_tuning(rd, plan, waiting, tuning_dir, log=log)
        outcome = execute.run(rd, **kw)
        outcome.ran = ran + [c for c in outcome.ran if c not in ran]
    else:
        outcome = execute.run(rd, **kw)
    if check:
        return RunResult(plan, out, outcome, check_mode=True)
    return finish(rd, outcome, tuning_dir=tuning_dir)


def finish(rd: RunDir, outcome: Outcome, tuning_dir: Path | None = None) -> RunResult:
    """After the playbook: the cells not done, and the tree checked (each cell rescored against the controller's
    own scoring files, never another host's)."""
    from benchfleet.sweep.rescore import check_run

    plan = rd.plan()
    tree = outcome.summary.get("tree")
    tree_check = checker = None
    if tree:
        # a quick run's own tree declares quick mode: allowed here, never by a tree's own claim
        checker = check_run(rd, Path(tree), allow_quick=plan.sweep.mode == "quick")
        tree_check = checker.report
    attempts = []
    if plan.cloud_systems():
        p = rd.root / "cloud" / "attempts.jsonl"
        attempts = [json.loads(x) for x in p.read_text().splitlines()] if p.is_file() else []
    kept = []
    if plan.sweep.tune:
        from benchfleet.sweep import tuning

        kept = tuning.collect(rd.root, plan, tuning.store_dir(tuning_dir))
    page, why = None, ""
    if tree:
        from benchfleet.report import html as report_html

        try:
            page = report_html.write([rd.root], rd.root / "report.html", round_version=plan.round,
                                     title=f"benchfleet run {plan.run_id}", checked={rd.root: checker})
        except Exception as exc:  # noqa: BLE001 - a report is never worth a run's results
            why = f"{type(exc).__name__}: {str(exc)[:200]}"
    return RunResult(plan, rd.root, outcome, pending=rd.pending(plan), tree_check=tree_check,
                     cloud_attempts=attempts, tuning=kept, report=page, report_error=why)


def _lock(rd: RunDir) -> None:
    """One writer per run: a second sweep, --resume or run on it would delete this one's files in flight."""
    from benchfleet.sweep.rundir import RunLocked

    try:
        rd.lock()  # held until this process ends
    except RunLocked as exc:
        raise UsageError(str(exc)) from None


def _check_run_id(run_id: str, where: str) -> str:
    """``run_id`` if it follows the one run-id rule; a UsageError naming ``where`` (the flag) otherwise."""
    from benchfleet.sweep.plan import check_run_id

    try:
        return check_run_id(run_id)
    except ValueError as exc:
        raise UsageError(where, str(exc)) from None


def _run_dir(runs: Path, run_id: str, where: str) -> Path:
    """runs/<run_id>, refused (naming ``where``) when the id breaks the rule or the folder leads out of runs/."""
    from benchfleet.sweep.plan import run_dir

    try:
        return run_dir(runs, run_id)
    except ValueError as exc:
        raise UsageError(where, str(exc)) from None


# --- status ----------------------------------------------------------------------------------------------------

def status(run_id: str, *, runs_dir: Path = Path("runs"), round: str | None = None) -> StatusResult:
    """Per host and cell: pending, running, done or failed, and why. ``round``: the round the caller expects the
    run to be of (an error names the run's own otherwise)."""
    from benchfleet.sweep.rundir import RunDir

    rd = RunDir(_run_dir(runs_dir, run_id, "run id"))
    if not rd.exists():
        raise UsageError(f"run id: no run {run_id!r} in {runs_dir}/")
    plan = rd.plan()
    if round is not None:
        _round(round)
        if plan.round != round:
            raise UsageError(f"round: run {run_id} ran under the {plan.round} rules, not {round}; pass --round "
                             f"{plan.round} or leave --round out")
    failures = {h: hf for h in plan.hosts if (hf := rd.host_failure(h))}
    return StatusResult(plan, rd.states(plan), failures)


# --- clouds ----------------------------------------------------------------------------------------------------

def _targets(providers: list[str] | None, regions: list[str] | None, log: Log):
    from benchfleet.cloud import fleet
    from benchfleet.cloud.base import ProviderError

    try:
        targets, notes = fleet.configured(providers, regions)
    except (ValueError, ProviderError) as exc:
        raise UsageError(str(exc)) from None
    for n in notes:
        log(n)
    if not targets:
        raise UsageError("no cloud account found: set credentials the way each SDK expects (AWS_PROFILE, "
                         "AZURE_SUBSCRIPTION_ID + az login, GOOGLE_CLOUD_PROJECT + gcloud auth, OVHcloud's openrc.sh "
                         "or OS_CLOUD, OCI's ~/.oci/config or OCI_CONFIG_FILE, Alibaba Cloud's "
                         "ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET) or --provider")
    return targets


def teardown(run_id: str, *, providers: list[str] | None = None, regions: list[str] | None = None,
             runs_dir: Path = Path("runs"), all_owners: bool = False, log: Log = print) -> CloudResult:
    """Delete everything tagged with the run on every configured cloud (no local state needed), confirm by
    listing, and drop the run's SSH key once nothing is left."""
    from benchfleet.cloud import fleet
    from benchfleet.cloud.base import check_run_id

    rd_root = _run_dir(runs_dir, run_id, "run id")
    try:
        check_run_id(run_id)
    except ValueError as exc:
        raise UsageError("run id", str(exc)) from None
    ledger = rd_root / "cloud" / "ledger.jsonl" if rd_root.is_dir() else None
    rep = fleet.teardown(run_id, _targets(providers, regions, log), ledger=ledger, log=log, all_owners=all_owners)
    if rep.ok:
        shutil.rmtree(rd_root / "ssh", ignore_errors=True)
    return CloudResult(rep, run_id=run_id)


def seconds(text: str, flag: str = "--older-than") -> float:
    """A duration as the CLI takes it (90, 90s, 90m, 6h, 2d) in seconds; a UsageError naming ``flag``."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd]?)", text.strip())
    if not m:
        raise UsageError(f"{flag}: {text!r} is not a duration; give e.g. 90m, 6h or 2d")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def reap(*, older_than_s: float | None = None, grace_s: float | None = None, dry_run: bool = False,
         all_owners: bool = False, providers: list[str] | None = None, regions: list[str] | None = None,
         log: Log = print) -> CloudResult:
    """Delete instances of any run past their benchfleet-expires tag (or older than ``older_than_s``)."""
    from benchfleet.cloud import fleet

    grace = fleet.REAP_GRACE_S if grace_s is None else grace_s
    rep = fleet.reap(_targets(providers, regions, log), older_than_s=older_than_s, dry_run=dry_run, log=log,
                     all_owners=all_owners, grace_s=grace)
    return CloudResult(rep, dry_run=dry_run)


# --- hosts -----------------------------------------------------------------------------------------------------

def setup(*, inventory: Path | None = None, offline: Path | None = None, venv: str = "",
          limit: list[str] | None = None, push_cache: Path | None = None, check: bool = False,
          work: Path = Path("runs/setup"), accept_new_host_keys: bool = False, log: Log = _print) -> SetupOutcome:
    """Run playbooks/setup.yml: NVIDIA (where there is a GPU), venv, wheels/models/data, frameworks, harness."""
    from benchfleet import hostsetup, project

    inventory = inventory or project.home() / "inventories" / "local"
    if not inventory.exists():
        raise UsageError(f"--inventory: {inventory} does not exist")
    if offline and not any(offline.glob("benchfleet-*.whl")):
        raise UsageError(f"--offline: {offline} holds no benchfleet wheel; build it with `benchfleet bundle {offline}`")
    extravars = {"benchfleet_setup_venv_path": venv} if venv else {}
    push = hostsetup.cache_manifest(push_cache) if push_cache else None
    if push_cache:
        log(f"pushing {len(push)} file(s) of {push_cache} to the hosts' caches (sha256 checked there)")
    log(f"benchfleet setup: {inventory}{' (offline: ' + str(offline) + ')' if offline else ''}"
        f"{' (check mode: nothing changes)' if check else ''}")
    res = hostsetup.setup(inventory.resolve(), work, offline=offline, check=check, extravars=extravars, push=push,
                          limit=limit or None, accept_new_host_keys=accept_new_host_keys)
    return SetupOutcome(res)


def bundle(out: Path, *, log: Log = print) -> list[Path]:
    """The wheelhouse offline set-up pushes; a RuntimeError says why it could not be built."""
    from benchfleet import hostsetup

    return hostsetup.bundle(out, log=log)


# --- check -----------------------------------------------------------------------------------------------------

def benchmarks_help() -> tuple[str, str]:
    """The ``--benchmark`` and ``--dataset`` help of ``benchfleet run``, from the registry and the round tables."""
    from benchfleet.benchmarks import registry
    from benchfleet.rules import ROUNDS, rounds_with

    implemented = {b for e in registry.REGISTRY.values() if not e.open_only for b in e.benchmarks}
    names = list(dict.fromkeys(n for r in ROUNDS.values() for n in r.benchmarks if n in implemented))
    latest = list(ROUNDS)[-1]
    shown = [n + ("" if rounds_with(n)[-1] == latest else f" (to {rounds_with(n)[-1]})") for n in names]
    shown[shown.index("resnet50")] = "resnet50 (default)"
    tflite = [n for n, e in registry.open_models().items() if "tflite" in e.backends]
    bench = (f"{', '.join(shown)}; open division also {', '.join(tflite)} (with --backend tflite); "
             "`benchfleet rounds ROUND` lists a round's benchmarks")
    layouts = "; ".join(v for v in registry.dataset_layouts().values() if v)
    data = (f"the benchmark's data folder in the reference's layout ({layouts}), official (downloaded with "
            "checksums where published), synthetic, or auto (synthetic when none is given)")
    return bench, data


def _round(version: str) -> None:
    """A UsageError naming the known rounds when ``version`` is not one."""
    from benchfleet.rules import get_round

    try:
        get_round(version)
    except ValueError as exc:
        raise UsageError(f"{exc}; `benchfleet rounds` lists them") from None


def rounds(version: str | None = None) -> list:
    """The round tables known (oldest first), or the one named."""
    from benchfleet.rules import ROUNDS

    if version is None:
        return list(ROUNDS.values())
    _round(version)
    return [ROUNDS[version]]


def check(tree: Path, *, round: str = "v3.1", accuracy_logs: Path | None = None, dataset: Path | None = None,
          allow_quick: bool = False) -> CheckOutcome:
    """Validate a submission tree against a round's rules (and rescore its accuracy logs when given)."""
    from benchfleet.submission.check import check_tree

    _round(round)
    if not tree.is_dir():
        raise UsageError(f"tree: {tree} is not a folder; pass the folder holding closed/ or open/")
    try:
        rep = check_tree(tree, round, accuracy_logs=accuracy_logs, dataset=dataset, allow_quick=allow_quick)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return CheckOutcome(rep)


def board(trees: list[Path], *, round: str = "v3.1", allow_quick: bool = False):
    """`benchfleet board`: points per submitter and system from any set of trees (submission/board.py)."""
    from benchfleet.submission import board as board_mod

    _round(round)
    if not trees:
        raise UsageError("board: give one or more trees (folders holding closed/ or open/) or run directories")
    for t in trees:
        if not t.is_dir():
            raise UsageError(f"board: {t} is not a folder; pass a tree holding closed/ or open/, or a benchfleet "
                             "run directory")
    return board_mod.board(trees, round, allow_quick)


def merge(inputs: list[Path], out: Path, *, round: str = "v3.1", prefer: str | None = None,
          submitter: str | None = None, allow_quick: bool = False, log: Log = _print):
    """`benchfleet merge`: one tree from many runs and trees (submission/merge.py)."""
    from benchfleet.submission import merge as merge_mod

    _round(round)
    try:
        return merge_mod.merge(inputs, out, round_version=round, prefer=prefer, submitter=submitter,
                               allow_quick=allow_quick, log=log)
    except merge_mod.MergeError as exc:
        raise UsageError(f"merge: {exc}") from None


def submit(tree: Path, *, round: str = "v3.1", to: str | None = None, branch: str | None = None,
           archive_dir: Path | None = None, repo_path: str | None = None, log: Log = _print):
    """`benchfleet submit`: the pre-upload steps, a strict check, then an archive or a pushed branch
    (submission/submit.py)."""
    from benchfleet.submission import submit as submit_mod

    _round(round)
    try:
        return submit_mod.submit(tree, round_version=round, to=to, branch=branch, archive_dir=archive_dir,
                                 repo_path=repo_path, log=log)
    except submit_mod.SubmitError as exc:
        raise UsageError(f"submit: {exc}") from None


def export(trees: list[Path], out: Path, *, round: str = "v3.1", allow_quick: bool = False) -> list[Path]:
    """`benchfleet export`: every result of ``trees`` with derived metrics, as ``out``/results.json and .csv
    (submission/export.py documents the schema)."""
    from benchfleet.submission import export as export_mod
    from benchfleet.sweep.rundir import write_atomic

    _round(round)
    for t in trees:
        if not t.is_dir():
            raise UsageError(f"export: {t} is not a folder; pass a tree holding closed/ or open/, or a benchfleet "
                             "run directory")
    data = export_mod.rows(trees, round, allow_quick)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "results.json", out / "results.csv"]
    write_atomic(paths[0], export_mod.as_json(data))
    write_atomic(paths[1], export_mod.as_csv(data))
    return paths


def report(sources: list[Path], out: Path, *, compare: list[Path] | None = None, round: str = "v3.1",
           title: str = "benchfleet results") -> Path:
    """`benchfleet report`: one self-contained HTML page with plots of runs and trees (report/html.py)."""
    from benchfleet.report import html as report_html

    _round(round)
    for t in [*sources, *(compare or [])]:
        if not t.is_dir():
            raise UsageError(f"report: {t} is not a folder; pass a benchfleet run directory or a tree holding "
                             "closed/ or open/")
    return report_html.write(sources, out, compare or [], round, title)
