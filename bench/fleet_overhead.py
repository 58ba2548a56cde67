"""Fleet orchestration overhead: what the controller costs per host and per cell, and what 1,000 hosts would cost.

For 1, 4, 16 and 64 SSH test hosts on this machine (sshd on loopback ports, as in the tests), in one run, each host
runs one cell (ResNet50 architecture at width 8, synthetic, SingleStream, quick mode). By default the cells use the
no-op harness (``backend: noop``: LoadGen runs with its real logs, each query sleeps 1 ms instead of inferring), so
that the hosts, which share this machine's cores with the controller, take almost no CPU and what is measured is
orchestration; ``--harness real`` runs ONNX Runtime as before. The raw baseline is the same cell run directly with
``python -m benchfleet.harness``, no Ansible. For a sweep:

    busy     = the time during which at least one harness was running (union of the harness intervals)
    overhead = sweep wall time - busy: the time no benchmark ran anywhere (CLI and Ansible start-up,
               facts, deployment check, SSH, polling, fetch, accept, the tree and its check)

Orchestration of one host while another host benchmarks costs no wall time, so it is not counted.
Also shown: "critical" = wall time - the longest host's harness time (hosts in parallel, their
cells in sequence), which also counts the staggered starts of hosts that wait for CPU here.

"controller CPU" is the CPU time of the benchfleet CLI and everything it ran on the controller
(ansible-playbook, its workers, ssh clients), not the hosts' side (their sshd sessions and harnesses are
children of the test fleet's sshd, not of the CLI). Per cell it is that CPU over the cells run.

Projection: controller CPU and overhead are fitted as a + b * hosts (least squares over the host counts measured),
and the fit is evaluated at 1,000 hosts: CPU-seconds of controller work, and the wall time that work takes on
this controller's cores (CPU / cores, if every core were the controller's), beside the fitted overhead.

Goal: overhead at 16 hosts <= 2x overhead at 1 host; controller CPU per cell at most half of the first measurement
(2.36 CPU-s per cell at one host, 0.87 at 16: bench/RESULTS.md).

Usage: python bench/fleet_overhead.py [--hosts 1,4,16,64] [--harness noop|real] [--cache /tmp/bfcache] [--keep]
       [--json results.json]
Needs sshd (openssh-server).
"""

from __future__ import annotations

import argparse
import json
import os
import re
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


def sweep_file(path: Path, cache: Path, backend: str = "noop") -> Path:
    path.write_text(yaml.safe_dump({
        "submitter": "Bench", "division": "open", "scenarios": ["SingleStream"], "model": "synthetic",
        "dataset": "synthetic", "synthetic_width": 8, "dataset_count": 256, "cache_dir": str(cache),
        "backends": [backend], "defaults": {"threads": 1}, "systems": [{"name": "lab", "hosts": ["lab"]}],
    }))
    return path


def raw_baseline(tmp: Path, cache: Path, backend: str) -> float:
    """The same cell without Ansible: the harness run directly."""
    from benchfleet.sweep.plan import expand
    from benchfleet.sweep.schema import load

    inv = tmp / "local.yml"
    inv.write_text(yaml.safe_dump({"all": {"children": {"lab": {"hosts": {"localhost": {}}}}}}))
    plan = expand(load(sweep_file(tmp / "raw.yml", cache, backend)), inv)
    spec = tmp / "spec.json"
    spec.write_text(json.dumps(plan.cells[0].spec))
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "benchfleet.harness", "--spec", str(spec), "--out", str(tmp / "raw-out")],
                   check=True, capture_output=True)
    return time.perf_counter() - t


def one(n: int, tmp: Path, cache: Path, backend: str) -> dict:
    root = tmp / f"fleet{n}"
    fleet = Fleet.start(root, n)
    try:
        inv = fleet.inventory(root / "inventory.yml")
        sweep = sweep_file(root / "sweep.yml", cache, backend)
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        proc = subprocess.run([BENCHFLEET, "sweep", str(sweep), "--inventory", str(inv), "--runs-dir",
                               str(root / "runs"), "--run-id", f"n{n}"], capture_output=True, text=True)
        wall = time.perf_counter() - t
        ru2 = resource.getrusage(resource.RUSAGE_CHILDREN)
        controller_cpu = (ru2.ru_utime - ru.ru_utime) + (ru2.ru_stime - ru.ru_stime)
        if proc.returncode != 0 and not (backend == "noop" and only_noop_errors(proc.stdout)):
            raise RuntimeError(f"sweep on {n} hosts failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    finally:
        fleet.stop()
    per_host: dict[str, float] = {}
    intervals = []
    cells = list((root / "runs" / f"n{n}" / "cells").iterdir())
    if len(cells) != n:  # every host's cell ran (the check's refusals of no-op results are the only errors)
        raise RuntimeError(f"sweep on {n} hosts ran {len(cells)} cells:\n{proc.stdout[-3000:]}")
    for cell in cells:
        rec = json.loads((cell / "cell.json").read_text())
        per_host[rec["host"]] = per_host.get(rec["host"], 0.0) + float(rec["harness_seconds"])
        intervals.append((float(rec["harness_started_at"]), float(rec["harness_ended_at"])))
    busy = union_length(intervals)
    return {"hosts": n, "cells": len(cells), "wall_s": wall, "busy_s": busy, "overhead_s": wall - busy,
            "controller_cpu_s": controller_cpu, "cpu_per_cell_s": controller_cpu / max(1, len(cells)),
            "critical_s": wall - max(per_host.values()), "mean_harness_s": sum(per_host.values()) / len(per_host)}


def only_noop_errors(out: str) -> bool:
    """Whether the sweep's only errors are the check's refusals of the no-op harness's results (as it must refuse
    them)."""
    m = re.search(r"benchfleet check: (\d+) error", out)
    errors = [line for line in out.splitlines() if line.strip().startswith("ERROR")]  # the first 20 are listed
    return bool(m) and min(int(m.group(1)), 20) == len(errors) > 0 and all("NO-OP HARNESS" in e for e in errors)


def fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares a, b of y = a + b * x."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0
    return my - b * mx, b


def union_length(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for a, b in sorted(intervals):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hosts", default="1,4,16,64")
    p.add_argument("--harness", default="noop", choices=["noop", "real"], help="noop: cells that sleep instead of "
                   "inferring (the controller alone); real: ONNX Runtime on the shared cores")
    p.add_argument("--cache", default="", help="model/dataset cache (default: a fresh temporary one)")
    p.add_argument("--keep", action="store_true", help="keep the run directories")
    p.add_argument("--json", default="", help="also write the rows and the projection here")
    a = p.parse_args()
    backend = "noop" if a.harness == "noop" else "onnxruntime"
    tmp = Path(tempfile.mkdtemp(prefix="fleet-overhead-"))
    cache = Path(a.cache) if a.cache else tmp / "cache"
    raw_baseline(tmp, cache, backend)  # also warms the cache, so no sweep pays for generation
    base = raw_baseline(tmp, cache, backend)
    print(f"harness: {a.harness} ({backend}); raw baseline: the cell run directly takes {base:.1f} s")
    rows = []
    for n in a.hosts.split(","):
        rows.append(one(int(n), tmp, cache, backend))
        r = rows[-1]
        print(f"  {r['hosts']} hosts: wall {r['wall_s']:.1f} s, controller CPU {r['controller_cpu_s']:.1f} s",
              flush=True)
    first = rows[0]["overhead_s"]
    print(f"{'hosts':>5}  {'wall s':>7}  {'busy s':>7}  {'mean cell s':>11}  {'overhead s':>10}  {'vs first':>8}"
          f"  {'critical s':>10}  {'controller CPU s':>16}  {'per cell':>8}")
    for r in rows:
        print(f"{r['hosts']:>5}  {r['wall_s']:7.1f}  {r['busy_s']:7.1f}  {r['mean_harness_s']:11.1f}  "
              f"{r['overhead_s']:10.1f}  {r['overhead_s'] / first:7.2f}x  {r['critical_s']:10.1f}  "
              f"{r['controller_cpu_s']:16.1f}  {r['cpu_per_cell_s']:8.2f}")
    hosts = [float(r["hosts"]) for r in rows]
    cpu_a, cpu_b = fit(hosts, [r["controller_cpu_s"] for r in rows])
    ov_a, ov_b = fit(hosts, [r["overhead_s"] for r in rows])
    cores = len(os.sched_getaffinity(0))
    projection = {"hosts": 1000, "controller_cpu_s": cpu_a + cpu_b * 1000, "cpu_per_host_s": cpu_b,
                  "cpu_fixed_s": cpu_a, "overhead_s": ov_a + ov_b * 1000, "overhead_per_host_s": ov_b,
                  "controller_cores": cores}
    print(f"fit: controller CPU = {cpu_a:.1f} + {cpu_b:.3f} s x hosts; overhead = {ov_a:.1f} + {ov_b:.3f} s x hosts")
    print(f"projection for 1,000 hosts (one cell each): {projection['controller_cpu_s']:.0f} controller CPU-s "
          f"({projection['controller_cpu_s'] / cores / 60:.1f} min on this controller's {cores} cores if they were all "
          f"its own), overhead {projection['overhead_s'] / 60:.1f} min at the fitted slope")
    i16 = next((r for r in rows if r["hosts"] == 16), rows[-1])
    worst = i16["overhead_s"] / first
    print(f"goal: {i16['hosts']} hosts cost at most 2x the overhead of {rows[0]['hosts']}: "
          f"{'met' if worst <= 2 else 'NOT met'} ({worst:.2f}x)")
    if a.json:
        Path(a.json).write_text(json.dumps({"harness": a.harness, "raw_baseline_s": base, "rows": rows,
                                            "projection": projection}, indent=2))
    if not a.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"kept: {tmp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
