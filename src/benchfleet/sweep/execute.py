"""Run a plan's pending cells: one ansible-runner invocation over every host that has work."""

from __future__ import annotations

import dataclasses
import json
import signal
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

from benchfleet.errors import UsageError
from benchfleet.sweep import cells, power_deploy
from benchfleet.sweep.aggregate import aggregate
from benchfleet.sweep.plan import Plan
from benchfleet.sweep.progress import Progress
from benchfleet.sweep.rundir import RunDir
from benchfleet.sweep.schema import SweepError


@dataclass
class Outcome:
    ran: list[str]  # cell ids this invocation tried
    summary: dict  # results.json
    ansible_rc: int | None
    interrupted: bool = False
    wall_s: float = 0.0


def prepare(rd: RunDir, plan: Plan, sweep_text: str | None) -> None:
    """Create the run directory with its plan, or check that an existing one holds the same plan."""
    if rd.exists():
        old = rd.plan()
        if [c.id for c in old.cells] != [c.id for c in plan.cells] or old.sweep != plan.sweep:
            raise ValueError(f"run directory {rd.root} holds another plan; use --resume {old.run_id} to continue "
                             "it, or give a new --run-id")
        return
    rd.root.mkdir(parents=True, exist_ok=True)
    plan.uid = plan.uid or uuid.uuid4().hex[:8]
    rd.save_plan(plan, sweep_text)


@contextmanager
def _signals_set(stop: threading.Event):
    """SIGINT/SIGTERM stop the playbook (ansible-runner cancels it) instead of killing the controller."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if stop.is_set():  # a second Ctrl-C: leave now
            raise KeyboardInterrupt
        stop.set()
        print("\nbenchfleet: stopping; finished cells are kept (Ctrl-C again to leave at once)", file=sys.stderr,
              flush=True)

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def run(rd: RunDir, *, inventory: Path | None = None, forks: int = 0, check: bool = False,
        stream: TextIO = sys.stdout, live: bool | None = None, max_rounds: int = 3,
        accept_new_host_keys: bool = False, only: list[str] | None = None) -> Outcome:
    """Run the pending cells. With cloud systems, instances lost mid-run (spot preemption) cost their cell a
    fresh instance in a further round, up to ``max_rounds`` in all; the run's instances are deleted at the end,
    whatever happened (Ctrl-C included). Inventory hosts' SSH keys must be known already unless
    ``accept_new_host_keys`` (then a new key is recorded in the run's own known_hosts); cloud instances' keys are
    trusted on first use. ``only``: run these of the pending cells, no others (a tuned sweep's first hosts)."""
    plan = rd.plan()
    if not plan.cloud_systems() or check:
        return _invoke(rd, plan, inventory, forks, check, stream, live, accept_new_host_keys=accept_new_host_keys,
                       only=only)
    from benchfleet.sweep import cloud

    def teardown() -> None:
        rep = cloud.teardown(rd, plan, log=lambda m: print(f"teardown: {m}", file=stream, flush=True))
        _report_teardown(rep, stream, plan.run_id)

    ran: list[str] = []
    try:
        for round_no in range(1, max_rounds + 1):
            out = _invoke(rd, plan, inventory, forks, check, stream, live, cloud_vars=cloud.prepare(rd, plan),
                          accept_new_host_keys=accept_new_host_keys, only=only)
            ran += [c for c in out.ran if c not in ran]
            teardown()
            lost = _lost_cells(rd, plan, cloud.vanished_hosts(rd))
            if out.interrupted or not lost or round_no == max_rounds:
                break
            print(f"round {round_no + 1}: {len(lost)} cell(s) lost with their instance; running them again on "
                  f"new instances: {', '.join(lost)}", file=stream, flush=True)
    except BaseException:
        teardown()
        raise
    out.ran = ran
    out.summary = aggregate(rd.root)
    return out


FOLLOW_MIN_WAIT_S = 5  # a follow call returns at new progress after this many seconds at least
FOLLOW_HOSTS_PER_S = 8  # ... and one second more per this many hosts past 40 (measured: bench/fleet_overhead.py)
FOLLOW_MAX_WAIT_S = 30  # the role's poll: a call lasts at most this long


def follow_min_wait_s(hosts: int) -> int:
    """How long a host's follow call waits at least before returning at new progress lines: each return is one more
    module run on the controller, so a large fleet's progress arrives less often (64 hosts: 8 s; 1,000 hosts: the
    poll's 30 s) and the controller's work per cell stays flat."""
    return min(FOLLOW_MAX_WAIT_S, FOLLOW_MIN_WAIT_S + max(0, hosts - 40) // FOLLOW_HOSTS_PER_S)


def _report_teardown(rep, stream: TextIO, run: str = "<run-id>") -> None:
    if rep.ok:
        print("teardown: confirmed by listing: nothing of this run is left on its clouds"
              + (f" ({len(rep.deleted)} resource(s) deleted now)" if rep.deleted else ""), file=stream, flush=True)
    else:
        print("teardown: INCOMPLETE: " + "; ".join(rep.remaining + rep.errors) + f" -- run `benchfleet teardown "
              f"{run}` again, or `benchfleet reap`", file=stream, flush=True)


def _lost_cells(rd: RunDir, plan: Plan, vanished: set[str]) -> list[str]:
    """Cells of cloud hosts that failed because the host went away: they run again on a new instance."""
    cloud_hosts = {h for name in plan.cloud_systems() for h in plan.hosts_of(name)}
    unreachable = {h for h in cloud_hosts if (rd.host_failure(h) or {}).get("kind") == "unreachable"}
    lost, changes = cells.hosts_vanished(rd.states(plan), cloud_hosts, vanished, unreachable)
    rd.record(changes)
    return lost


def _invoke(rd: RunDir, plan: Plan, inventory: Path | None, forks: int, check: bool, stream: TextIO,
            live: bool | None, cloud_vars: dict | None = None, accept_new_host_keys: bool = False,
            only: list[str] | None = None) -> Outcome:
    from benchfleet.runner import run_playbook

    pending = [c for c in rd.pending(plan) if only is None or c in only]
    if not pending:
        summary = json.loads((rd.root / "results.json").read_text()) if (rd.root / "results.json").is_file() else {}
        return Outcome([], summary, None)
    rd.clean_partials()
    by_host: dict[str, list[dict]] = {}
    for cid in pending:
        c = plan.cell(cid)
        by_host.setdefault(c.host, []).append({**asdict(c), "spec": c.spec})
    hosts = [h for h in plan.hosts if h in by_host]
    extravars = {
        "benchfleet_sweep_cells": by_host,
        "benchfleet_hosts": ",".join(hosts),
        "benchfleet_benchmark_host_folder": plan.host_folder,
        "benchfleet_benchmark_run_dir": str(rd.root.resolve()),
    }
    inventories: list[Path] = [Path(inventory or plan.inventory)]
    # localhost: the playbook checks its variables there first (and the clouds' plays run there)
    limit = [*hosts, *(["localhost"] if "localhost" not in hosts else [])]
    if cloud_vars:
        from benchfleet.sweep import cloud

        wanted = set(hosts)
        cloud_vars = {**cloud_vars, "systems": [
            {**s, "hosts": [h for h in s["hosts"] if h in wanted]} for s in cloud_vars["systems"]]}
        cloud_vars["systems"] = [s for s in cloud_vars["systems"] if s["hosts"]]
        extravars["benchfleet_cloud"] = cloud_vars  # the playbook tears down; the CLI confirms by listing
        (rd.root / "cloud" / "failure.txt").unlink(missing_ok=True)
        inventories.append(cloud.inventory_file(rd))
    timeout = plan.sweep.cell_timeout_s or 0
    if timeout:
        extravars["benchfleet_benchmark_cell_timeout_s"] = timeout
    if plan.sweep.cell_stall_s:
        extravars["benchfleet_benchmark_cell_stall_s"] = plan.sweep.cell_stall_s
    extravars["benchfleet_benchmark_min_wait_s"] = follow_min_wait_s(len(hosts))
    extravars.update(_setup_vars(plan, hosts))
    try:
        power = power_deploy.deploy_vars(plan, hosts, rd.root / "power")
    except SweepError as exc:  # a resumed run's source changed or went away since its plan was made
        raise UsageError(str(exc)) from None
    if power:  # MLCommons' power code for the hosts, and the power servers benchfleet starts on their directors
        extravars["benchfleet_power"] = power
        limit = [*limit, *(d for d in power["directors"] if d not in limit)]
    live = stream.isatty() if live is None else live
    progress = Progress(plan, rd.states(plan), stream, live, pending)
    progress.start()
    started = time.time()
    ident = time.strftime("%Y%m%d-%H%M%S") + f"-{uuid.uuid4().hex[:6]}"
    extravars["benchfleet_benchmark_session"] = ident
    stop = threading.Event()
    rc = None
    directors_started: set[str] = set()  # the director play ran there (it may have started a power server)
    directors_stopped: set[str] = set()  # ... and its server was stopped

    def on_event(ev: dict) -> None:
        data = ev.get("event_data") or {}
        if str(ev.get("event", "")).startswith("runner_on_") and data.get("host"):
            if data.get("play") == POWER_START_PLAY:
                directors_started.add(str(data["host"]))
            elif ev["event"] == "runner_on_ok" and data.get("task") == POWER_STOP_TASK:
                directors_stopped.add(str(data["host"]))
        progress.event(ev)

    with _signals_set(stop):
        try:
            r = run_playbook(rd.root.resolve(), inventories, extravars, on_event,
                             limit=limit, forks=forks or min(len(limit), 50), check=check, ident=ident,
                             cancel=stop.is_set, accept_new_host_keys=accept_new_host_keys)
            rc = r.rc
        except KeyboardInterrupt:
            stop.set()
        finally:
            progress.stop()
    interrupted = stop.is_set()
    left = sorted(directors_started - directors_stopped)
    if power and left and not interrupted:
        _stop_power_servers(rd, inventories, power, left, accept_new_host_keys, check, stream)
    if interrupted and not check:
        rd.record(cells.interrupted(rd.states(plan).values(), time.time()))
    if check:
        return Outcome(pending, {}, rc, interrupted, time.time() - started)
    if cloud_vars:
        _unprovisioned(rd, plan, hosts)
    explained = _explain_host_keys(rd, plan, hosts)
    if interrupted or explained or not rd.aggregated_marker(ident).is_file():
        summary = aggregate(rd.root)  # the callback did not get to it, or states changed since: build it here
    else:
        summary = json.loads((rd.root / "results.json").read_text())
    return Outcome(pending, summary, rc, interrupted, time.time() - started)


POWER_START_PLAY = "Start the power servers on the directors (sweep systems' power.director)"  # sweep.yml
POWER_STOP_TASK = "Stop the power server benchfleet started"  # roles/benchfleet_power/tasks/stop.yml


def _stop_power_servers(rd: RunDir, inventories: list[Path], power: dict, directors: list[str],
                        accept_new_host_keys: bool, check: bool, stream: TextIO) -> None:
    """Directors whose power server the sweep playbook did not stop: Ansible ends a playbook when every host of a
    play has failed, and leaves a host that failed in an earlier play (a director that is also a cell host) out
    of every later play. Stop them now (playbooks/power_stop.yml), so that none is left running. After Ctrl-C they
    stay: a harness still running on a host may be measuring through one, and --resume collects it."""
    from benchfleet.runner import run_playbook

    print(f"stopping the power server on {', '.join(directors)} (the sweep did not get to it)", file=stream,
          flush=True)
    failed: list[str] = []

    def on_event(ev: dict) -> None:
        if ev.get("event") in ("runner_on_failed", "runner_on_unreachable"):
            failed.append(str((ev.get("event_data") or {}).get("host") or ""))

    run_playbook(rd.root.resolve(), inventories, {"benchfleet_power": power}, on_event, limit=directors,
                 forks=min(len(directors), 50), check=check, ident=time.strftime("%Y%m%d-%H%M%S") + "-power-stop",
                 playbook="power_stop.yml", accept_new_host_keys=accept_new_host_keys)
    for host in failed:
        print(f"WARNING: the power server on {host} could not be stopped; stop it by hand (its folder's "
              f".benchfleet-power-server.json names the process)", file=stream, flush=True)


def _explain_host_keys(rd: RunDir, plan: Plan, hosts: list[str]) -> bool:
    """Hosts refused for their SSH host key say how to fix it (ssh-keyscan, or --accept-new-host-keys)."""
    from benchfleet.runner import host_key_hint

    cloud_hosts = {h for name in plan.cloud_systems() for h in plan.hosts_of(name)}
    changed = False
    for h in hosts:
        hf = rd.host_failure(h)
        if hf and hf.get("kind") == "unreachable":
            hint = host_key_hint(hf["message"], None if h in cloud_hosts else rd.root)
            if hint != hf["message"]:
                rd.record([cells.HostFailed(h, hf["kind"], hf.get("task", ""), hint)])
                changed = True
    for st in rd.states(plan).values():
        if st.host in hosts and st.kind == "unreachable" and st.message:
            hint = host_key_hint(st.message, None if st.host in cloud_hosts else rd.root)
            if hint != st.message:
                rd.record([dataclasses.replace(st, message=hint)])
                changed = True
    return changed


def _setup_vars(plan: Plan, hosts: list[str]) -> dict:
    """Which hosts get the set-up roles first (sweep ``setup``), and the wheelhouse for offline mode."""
    mode = plan.sweep.setup
    clouds = plan.cloud_systems()
    chosen = [h for h in hosts if mode == "always" or (mode == "auto" and plan.system_of(h) in clouds)]
    out: dict = {"benchfleet_setup_hosts": chosen}
    if chosen and plan.sweep.setup_wheelhouse:
        out.update(benchfleet_setup_offline=True,
                   benchfleet_setup_wheelhouse_src=str(Path(plan.sweep.setup_wheelhouse).expanduser().resolve()))
    return out


def _unprovisioned(rd: RunDir, plan: Plan, hosts: list[str]) -> None:
    """Cloud hosts that never got an instance (the provisioning play failed as a whole) say why."""
    failure = rd.root / "cloud" / "failure.txt"
    if not failure.is_file():
        return
    clouds = plan.cloud_systems()
    cloud_hosts = [h for h in hosts if plan.system_of(h) in clouds]
    rd.record(cells.not_provisioned(rd.states(plan), cloud_hosts, {h for h in cloud_hosts if rd.host_failure(h)},
                                    failure.read_text().strip()))
