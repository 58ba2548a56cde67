"""Fleet orchestration overhead: wall time of a sweep minus the time spent inside benchmarks.

For 1, 4 and 16 SSH test hosts on this machine (sshd on loopback ports, as in the tests), in one
run: each host runs one tiny cell (ResNet50 architecture at width 8, synthetic, SingleStream,
quick mode). The raw baseline is the same cell run directly with ``python -m benchfleet.harness``,
no Ansible. For a sweep:

    busy     = the time during which at least one harness was running (union of the harness intervals)
    overhead = sweep wall time - busy: the time no benchmark ran anywhere (CLI and Ansible start-up,
               facts, deployment check, SSH, polling, fetch, accept, the tree and its check)

Orchestration of one host while another host benchmarks costs no wall time, so it is not counted.
Also shown: "critical" = wall time - the longest host's harness time (hosts in parallel, their
cells in sequence), which also counts the staggered starts of hosts that wait for CPU here.

Goal: overhead at 16 hosts <= 2x overhead at 1 host.

"controller CPU" is the CPU time of the benchfleet CLI and everything it ran on the controller
(ansible-playbook, its workers, ssh clients), not the hosts' side.

Usage: python bench/fleet_overhead.py [--hosts 1,4,16] [--cache /tmp/bfcache] [--keep]
Needs sshd (openssh-server). All hosts share this machine's cores, so the harness times grow with
the host count; they are subtracted, the orchestration that remains is what is compared.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.sshfleet import Fleet  # noqa: E402

BENCHFLEET = str(Path(sys.executable).parent / "benchfleet")


def sweep_file(path: Path, cache: Path) -> Path:
    path.write_text(yaml.safe_dump({
        "submitter": "Bench", "division": "open", "scenarios": ["SingleStream"], "model": "synthetic",
        "dataset": "synthetic", "synthetic_width": 8, "dataset_count": 256, "cache_dir": str(cache),
        "defaults": {"threads": 1}, "systems": [{"name": "lab", "hosts": ["lab"]}],
    }))
    return path


def raw_baseline(tmp: Path, cache: Path) -> float:
    """The same cell without Ansible: the harness run directly."""
    from benchfleet.sweep.plan import expand
    from benchfleet.sweep.schema import load

    inv = tmp / "local.yml"
    inv.write_text(yaml.safe_dump({"all": {"children": {"lab": {"hosts": {"localhost": {}}}}}}))
    plan = expand(load(sweep_file(tmp / "raw.yml", cache)), inv)
    spec = tmp / "spec.json"
    spec.write_text(json.dumps(plan.cells[0].spec))
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "benchfleet.harness", "--spec", str(spec), "--out", str(tmp / "raw-out")],
                   check=True, capture_output=True)
    return time.perf_counter() - t


def one(n: int, tmp: Path, cache: Path) -> dict:
    root = tmp / f"fleet{n}"
    fleet = Fleet.start(root, n)
    try:
        inv = fleet.inventory(root / "inventory.yml")
        sweep = sweep_file(root / "sweep.yml", cache)
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        proc = subprocess.run([BENCHFLEET, "sweep", str(sweep), "--inventory", str(inv), "--runs-dir",
                               str(root / "runs"), "--run-id", f"n{n}"], capture_output=True, text=True)
        wall = time.perf_counter() - t
        ru2 = resource.getrusage(resource.RUSAGE_CHILDREN)
        controller_cpu = (ru2.ru_utime - ru.ru_utime) + (ru2.ru_stime - ru.ru_stime)
        if proc.returncode != 0:
            raise RuntimeError(f"sweep on {n} hosts failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    finally:
        fleet.stop()
    per_host: dict[str, float] = {}
    intervals = []
    for cell in (root / "runs" / f"n{n}" / "cells").iterdir():
        rec = json.loads((cell / "cell.json").read_text())
        per_host[rec["host"]] = per_host.get(rec["host"], 0.0) + float(rec["harness_seconds"])
        intervals.append((float(rec["harness_started_at"]), float(rec["harness_ended_at"])))
    busy = union_length(intervals)
    return {"hosts": n, "wall_s": wall, "busy_s": busy, "overhead_s": wall - busy, "controller_cpu_s": controller_cpu,
            "critical_s": wall - max(per_host.values()), "mean_harness_s": sum(per_host.values()) / len(per_host)}


def union_length(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for a, b in sorted(intervals):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hosts", default="1,4,16")
    p.add_argument("--cache", default="", help="model/dataset cache (default: a fresh temporary one)")
    p.add_argument("--keep", action="store_true", help="keep the run directories")
    a = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fleet-overhead-"))
    cache = Path(a.cache) if a.cache else tmp / "cache"
    base = raw_baseline(tmp, cache)  # also warms the cache, so no sweep pays for generation
    base = raw_baseline(tmp, cache)
    print(f"raw baseline: the cell run directly takes {base:.1f} s")
    rows = [one(int(n), tmp, cache) for n in a.hosts.split(",")]
    first = rows[0]["overhead_s"]
    print(f"{'hosts':>5}  {'wall s':>7}  {'busy s':>7}  {'mean cell s':>11}  {'overhead s':>10}  {'vs first':>8}"
          f"  {'critical s':>10}  {'controller CPU s':>16}  {'per host':>8}")
    for r in rows:
        print(f"{r['hosts']:>5}  {r['wall_s']:7.1f}  {r['busy_s']:7.1f}  {r['mean_harness_s']:11.1f}  "
              f"{r['overhead_s']:10.1f}  {r['overhead_s'] / first:7.2f}x  {r['critical_s']:10.1f}  "
              f"{r['controller_cpu_s']:16.1f}  {r['controller_cpu_s'] / r['hosts']:8.2f}")
    worst = rows[-1]["overhead_s"] / first
    print(f"goal: {rows[-1]['hosts']} hosts cost at most 2x the overhead of {rows[0]['hosts']}: "
          f"{'met' if worst <= 2 else 'NOT met'} ({worst:.2f}x)")
    if not a.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"kept: {tmp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
