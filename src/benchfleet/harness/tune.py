"""Per-system settings for each scenario: threads and batch from a small grid, measured with short LoadGen runs.

Offline keeps the threads and batch with the highest throughput (and asks LoadGen for that throughput);
SingleStream and MultiStream keep the threads with the lowest percentile latency (MultiStream's batch is its
samples per query); Server takes Offline's threads where Offline was tuned, and its target is searched by
``server_search``. The grid is walked one axis at a time: threads at the default batch, then every batch (the default
one again) at the best threads (a handful of runs instead of their product); the batch is chosen among the runs of
that second pass. When the runner-up of that pass is within ``RUNOFF_MARGIN`` of the best,
a short run cannot tell them apart (two seconds on a shared host drift by that much), so both are measured again with
longer runs, interleaved (A B B A: a machine drifting during the runoff favours neither), and the better mean is kept.
Every trial is kept, so the record says how the settings were found. A budget (seconds) stops the walk early with
the best found so far, and says so.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

FILE = "tuning.json"  # beside harness.json: the tuned settings of this run, for a tuning file
# Short runs: long enough for a few hundred samples of a small model, short beside a real run.
PROBE_DURATION_MS = 2000
PROBE_MIN_QUERIES = {"SingleStream": 128, "MultiStream": 64, "Offline": 1}
# Two trials closer than this (a share of the best) are measured again: runs RUNOFF_FACTOR times as long, in this
# order (0: the best, 1: the runner-up), each one's mean deciding.
RUNOFF_MARGIN = 0.10
RUNOFF_FACTOR = 2
RUNOFF_ORDER = (0, 1, 1, 0)
CPU_BATCHES = (1, 4, 8, 16, 32)
GPU_BATCHES = (16, 32, 64, 128, 256)
# What each scenario is tuned for: the metric, and whether higher is better.
GOALS = {"Offline": ("samples/s", True), "SingleStream": ("ms at the percentile", False),
         "MultiStream": ("ms at the percentile", False)}


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity: a container's share), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def thread_grid(cores: int) -> list[int]:
    """1, a quarter, half and all of the host's cores (distinct, ascending)."""
    cores = max(1, int(cores))
    return sorted({1, max(1, cores // 4), max(1, cores // 2), cores})


def batch_grid(device: str) -> list[int]:
    return list(GPU_BATCHES if device == "cuda" else CPU_BATCHES)


@dataclass(frozen=True)
class Trial:
    """One short run: its threads and batch, and the metric it measured (None: it failed, see ``note``)."""

    threads: int
    batch: int
    value: float | None
    note: str = ""
    runoff: bool = False  # a longer run measuring a close call again


@dataclass
class Tuned:
    """The settings kept for one scenario, every trial, and why the walk stopped."""

    scenario: str
    threads: int
    batch: int
    metric: float | None = None
    unit: str = ""
    trials: list[Trial] = field(default_factory=list)
    stopped: str = ""
    offline_expected_qps: float | None = None
    server_target_qps: float | None = None
    server_search: dict | None = None

    def as_dict(self) -> dict:
        d = asdict(self)
        d["trials"] = [asdict(t) for t in self.trials]
        return d

    def settings(self) -> dict:
        """What a later run of this scenario takes from it (the spec's ``tuned`` entry); nothing when no trial
        gave a figure (or no Server target was confirmed)."""
        if self.metric is None:
            return {}
        out = {"threads": self.threads, "batch": self.batch}
        if self.offline_expected_qps:
            out["offline_expected_qps"] = self.offline_expected_qps
        if self.server_target_qps:
            out["server_target_qps"] = self.server_target_qps
        return out


class BudgetSpent(Exception):
    pass


def walk(scenario: str, measure: Callable[[int, int], Trial], threads: list[int], batches: list[int],
         default_batch: int, out_of_budget: Callable[[], bool] = lambda: False,
         remeasure: Callable[[int, int], Trial] | None = None) -> Tuned:
    """Threads at ``default_batch``, then every one of ``batches`` at the best threads; the best of that pass. With
    ``remeasure`` (a longer run), a runner-up within ``RUNOFF_MARGIN`` of the best is measured again beside it."""
    unit, higher = GOALS[scenario]
    result = Tuned(scenario, threads[-1], default_batch, unit=unit)

    def better(a: Trial, b: Trial | None) -> bool:
        if a.value is None:
            return False
        return b is None or b.value is None or (a.value > b.value if higher else a.value < b.value)

    best: Trial | None = None
    seen: dict[tuple[int, int], Trial] = {}

    def run(t: int, b: int, again: bool = False) -> Trial | None:
        nonlocal best
        if (t, b) in seen and not again:
            return None
        if out_of_budget():
            raise BudgetSpent
        trial = measure(t, b)
        seen[(t, b)] = trial
        result.trials.append(trial)
        if better(trial, best):
            best = trial
        return trial

    try:
        for t in threads:
            run(t, default_batch)
        if best is not None and len(batches) > 1:
            # every batch at the best threads, the default batch measured again beside the others: its threads-pass
            # run was taken at another moment (a drifting machine), and the batch is chosen among runs of one pass
            pass_trials = [r for b in batches if (r := run(best.threads, b, again=True)) is not None]
            pass_best = None
            for r in pass_trials:
                if better(r, pass_best):
                    pass_best = r
            if pass_best is not None:
                best = pass_best
            candidates = pass_trials
        else:
            candidates = list(seen.values())
        result.stopped = f"{len(result.trials)} short runs over the grid"
        if remeasure is not None and best is not None:
            best = _runoff(best, candidates, remeasure, better, out_of_budget, result)
    except BudgetSpent:
        result.stopped = f"tuning budget spent after {len(result.trials)} short runs; the best so far is kept"
    if best is None:
        result.stopped = ("tuning budget spent before any short run" if not result.trials else
                          "no short run gave a figure; " + ("; ".join(t.note for t in result.trials if t.note)[:300]
                                                            or "the defaults are kept"))
        return result
    result.threads, result.batch, result.metric = best.threads, best.batch, best.value
    return result


def _runoff(best: Trial, trials: list[Trial], remeasure: Callable[[int, int], Trial],
            better: Callable[[Trial, Trial | None], bool], out_of_budget: Callable[[], bool], result: Tuned) -> Trial:
    """The best and the runner-up measured again when they are too close for short runs to rank: ``RUNOFF_ORDER``
    longer runs, interleaved (A B B A), so that a machine drifting during the runoff favours neither; each one's mean
    decides. A runoff run that fails, or a budget spent before all ran, keeps ``best``."""
    others = [t for t in trials if t is not best and t.value is not None]
    if not others or not best.value:
        return best
    second = others[0]
    for t in others[1:]:
        if better(t, second):
            second = t
    if abs(best.value - (second.value or 0.0)) > RUNOFF_MARGIN * abs(best.value):
        return best
    again: dict[int, list[float]] = {0: [], 1: []}
    for which in RUNOFF_ORDER:
        if out_of_budget():
            result.stopped += "; tuning budget spent during the runoff of the two closest: the short runs' best is kept"
            return best
        t = (best, second)[which]
        r = remeasure(t.threads, t.batch)
        result.trials.append(Trial(r.threads, r.batch, r.value, r.note, runoff=True))
        if r.value is None:
            result.stopped += "; a runoff run gave no figure: the short runs' best is kept"
            return best
        again[which].append(r.value)
    means = [Trial(t.threads, t.batch, sum(again[i]) / len(again[i]), runoff=True)
             for i, t in enumerate((best, second))]
    winner = means[1] if better(means[1], means[0]) else means[0]
    result.stopped += (f"; the two closest (within {RUNOFF_MARGIN:.0%}) measured again, interleaved, "
                       f"{len(RUNOFF_ORDER)} runs {RUNOFF_FACTOR}x as long: {winner.threads} threads, batch "
                       f"{winner.batch} kept ({means[0].value:.4g} against {means[1].value:.4g})")
    return winner


class Budget:
    """Seconds of short runs allowed: each run's time is charged to it (the measured runs between are not)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.used = 0.0

    def charge(self, seconds: float) -> None:
        self.used += max(0.0, seconds)

    def spent(self) -> bool:
        return self.used >= self.seconds

    def left(self) -> float:
        return max(0.0, self.seconds - self.used)
