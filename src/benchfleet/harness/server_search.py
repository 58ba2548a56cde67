"""The highest Server target QPS whose run is VALID, found with short probe runs.

A Server run is VALID when its percentile latency stays within the benchmark's bound (and early stopping is met).
Asking for too much throughput makes queries queue and the run INVALID; asking for too little wastes the
hardware. ``find_server_target`` brackets the boundary from an estimate (the batched throughput a warm-up
measured), doubling or halving, and then bisects the bracket geometrically until its ends are within
``resolution`` of each other or the probe budget is spent. Each probe is one short LoadGen performance run at a
target; every probe is kept, so the trace says how the target was found. (The harness judges a probe by its
percentile latency against the bound, and leaves early stopping to the longer run that confirms the target.)

The verdict is not monotonic in the target: LoadGen draws a Server run's arrival times from a fixed seed, so a given
target always gets the same schedule, and some schedules hold a burst the system cannot absorb while targets above
them are VALID (bench/RESULTS.md: 181 queries/s INVALID in two passes, 195 and 209 VALID in both). So once the
bisection has converged, the targets ``ABOVE`` the INVALID bound are probed too; from a VALID one the search climbs
on (steps of the last share) and bisects again, until no target above the bound holds or the probes are spent.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

# Probes of one search at most: a few to bracket (more when the estimate is far off), the rest to bisect (a
# factor-2 bracket narrows to 5% in 4).
MAX_PROBES = 12
RESOLUTION = 0.05
# After the bisection: these multiples of the lowest INVALID target are probed, in order, for a VALID one above it.
ABOVE = (1.1, 1.2)
# The first probe asks for this share of the estimate: a Server run cannot hold the batched peak itself.
START_SHARE = 0.8


@dataclass(frozen=True)
class Probe:
    """One short performance run at ``target_qps``: whether it was VALID, and what it measured."""

    target_qps: float
    valid: bool
    achieved_qps: float | None = None
    latency_ms: float | None = None  # at the round's Server percentile
    note: str = ""


@dataclass
class Search:
    """The best VALID target (None: no probe was VALID), every probe in order, and why the search stopped."""

    best_qps: float | None
    probes: list[Probe] = field(default_factory=list)
    stopped: str = ""

    def as_dict(self) -> dict:
        return {"best_qps": self.best_qps, "stopped": self.stopped, "probes": [asdict(p) for p in self.probes]}


def find_server_target(probe: Callable[[float], Probe], estimate_qps: float, *, max_probes: int = MAX_PROBES,
                       resolution: float = RESOLUTION, floor_qps: float = 0.01,
                       out_of_budget: Callable[[], bool] = lambda: False) -> Search:
    """Search with ``probe`` (a target -> its Probe) from ``estimate_qps``; see the module docstring.
    ``out_of_budget`` ends the search before its next probe (a time budget), with what it found so far."""
    if not estimate_qps > 0:
        raise ValueError(f"estimate_qps must be above 0, got {estimate_qps}")
    search = Search(None)
    valid_lo: float | None = None  # highest VALID target seen
    invalid_hi: float | None = None  # lowest INVALID target seen

    def run(target: float) -> bool:
        result = probe(round(target, 3))
        search.probes.append(result)
        return result.valid

    target = estimate_qps * START_SHARE

    def more() -> bool:
        return len(search.probes) < max_probes and not (search.probes and out_of_budget())

    while more() and (valid_lo is None or invalid_hi is None):
        if run(target):
            valid_lo = target
            target *= 2
        else:
            invalid_hi = target
            if target <= floor_qps:
                search.stopped = f"no VALID target down to {floor_qps:g} queries/s"
                return search
            target = max(target / 2, floor_qps)  # the floor itself is probed once

    def bisect() -> None:
        nonlocal valid_lo, invalid_hi
        while more() and valid_lo is not None and invalid_hi is not None \
                and invalid_hi / valid_lo - 1 > resolution:
            mid = math.sqrt(valid_lo * invalid_hi)
            if run(mid):
                valid_lo = mid
            else:
                invalid_hi = mid

    bisect()
    pockets: list[float] = []  # INVALID bounds a VALID target above was found past
    nothing_above = False  # every target ABOVE the final bound was probed and INVALID
    while more() and valid_lo is not None and invalid_hi is not None and invalid_hi / valid_lo - 1 <= resolution:
        bound = invalid_hi
        above = None
        for share in ABOVE:
            if not more():
                break
            if run(bound * share):
                above = bound * share
                break
        else:
            nothing_above = True
        if above is None:
            break
        pockets.append(bound)
        valid_lo, invalid_hi = above, None
        while more() and invalid_hi is None:  # climb on from the VALID target above the pocket
            target = valid_lo * ABOVE[-1]
            if run(target):
                valid_lo = target
            else:
                invalid_hi = target
        bisect()
    search.best_qps = round(valid_lo, 3) if valid_lo is not None else None
    converged = valid_lo is not None and invalid_hi is not None and invalid_hi / valid_lo - 1 <= resolution
    if not converged and len(search.probes) < max_probes and out_of_budget():
        search.stopped = (f"time budget spent after {len(search.probes)} probes; "
                          + (f"the highest VALID target is {valid_lo:.3f}" if valid_lo is not None
                             else "no VALID target yet"))
    elif valid_lo is None:
        search.stopped = f"no VALID target in {len(search.probes)} probes"
    elif invalid_hi is None:
        search.stopped = f"every probe was VALID ({len(search.probes)}): the highest is taken"
    elif invalid_hi / valid_lo - 1 <= resolution:
        search.stopped = f"VALID at {valid_lo:.3f}, INVALID at {invalid_hi:.3f} (within {resolution:.0%})"
        if nothing_above:
            search.stopped += ", and INVALID " + " and ".join(f"{s - 1:.0%}" for s in ABOVE) + " above it too"
    else:
        search.stopped = f"probe budget ({max_probes}) spent; VALID at {valid_lo:.3f}, INVALID at {invalid_hi:.3f}"
    if pockets:
        search.stopped += ("; past INVALID " + ", ".join(f"{p:.3f}" for p in pockets)
                           + " a higher target was VALID (a burst of LoadGen's fixed arrival schedule), and the "
                           "search went on from there")
    return search
