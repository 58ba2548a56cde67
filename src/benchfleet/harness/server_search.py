"""The highest Server target QPS whose run is VALID, found with short probe runs.

A Server run is VALID when its percentile latency stays within the benchmark's bound (and early stopping is met).
Asking for too much throughput makes queries queue and the run INVALID; asking for too little wastes the
hardware. ``find_server_target`` brackets the boundary from an estimate (the batched throughput a warm-up
measured), doubling or halving, and then bisects the bracket geometrically until its ends are within
``resolution`` of each other or the probe budget is spent. Each probe is one short LoadGen performance run at a
target; every probe is kept, so the trace says how the target was found. (The harness judges a probe by its
percentile latency against the bound, and leaves early stopping to the longer run that confirms the target.)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

# Probes of one search at most: a few to bracket (more when the estimate is far off), the rest to bisect (a
# factor-2 bracket narrows to 5% in 4).
MAX_PROBES = 10
RESOLUTION = 0.05
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
    while more() and valid_lo is not None and invalid_hi is not None \
            and invalid_hi / valid_lo - 1 > resolution:
        mid = math.sqrt(valid_lo * invalid_hi)
        if run(mid):
            valid_lo = mid
        else:
            invalid_hi = mid
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
    else:
        search.stopped = f"probe budget ({max_probes}) spent; VALID at {valid_lo:.3f}, INVALID at {invalid_hi:.3f}"
    return search
