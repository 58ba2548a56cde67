"""The Server target search against simulated systems whose best VALID target is known."""

from __future__ import annotations

import math

import pytest

from benchfleet.harness.server_search import MAX_PROBES, RESOLUTION, Probe, find_server_target


class Simulated:
    """A server of ``capacity`` samples/s and ``service_ms`` per sample: its percentile latency grows as the target
    nears capacity (an M/D/1 queue's wait, stretched to a tail); a run is VALID within ``bound_ms``."""

    def __init__(self, capacity: float, service_ms: float, bound_ms: float, tail: float = 4.0):
        self.capacity, self.service_ms, self.bound_ms, self.tail = capacity, service_ms, bound_ms, tail
        self.asked: list[float] = []

    def latency_ms(self, qps: float) -> float:
        rho = qps / self.capacity
        if rho >= 1:
            return math.inf
        return self.service_ms * (1 + self.tail * rho / (2 * (1 - rho)))

    def best(self) -> float:
        """The highest VALID target, solved from the latency formula."""
        k = (self.bound_ms / self.service_ms - 1) * 2 / self.tail
        return self.capacity * k / (1 + k)

    def __call__(self, qps: float) -> Probe:
        self.asked.append(qps)
        lat = self.latency_ms(qps)
        return Probe(qps, lat <= self.bound_ms, min(qps, self.capacity), lat)


@pytest.mark.parametrize("capacity, service_ms, bound_ms, estimate", [
    (400.0, 4.0, 15.0, 400.0),      # the warm-up's batched peak is the estimate
    (400.0, 4.0, 15.0, 40.0),       # a tenfold under-estimate
    (400.0, 4.0, 15.0, 4000.0),     # a tenfold over-estimate
    (131.0, 6.0, 60.0, 262.0),      # DLRM-like: a wide bound, the estimate twice the capacity
    (50.0, 15.0, 16.0, 50.0),       # a bound barely above the service time: the best is a tenth of capacity
])
def test_search_reaches_the_known_best_within_its_probes(capacity, service_ms, bound_ms, estimate):
    system = Simulated(capacity, service_ms, bound_ms)
    search = find_server_target(system, estimate)
    assert len(search.probes) <= MAX_PROBES and [p.target_qps for p in search.probes] == system.asked
    assert search.best_qps is not None and system.latency_ms(search.best_qps) <= bound_ms  # what it takes is VALID
    # within the search's resolution where it closed the bracket, and at least 0.9 of the best (issue 17's goal)
    assert search.best_qps >= system.best() * 0.9, (search.best_qps, system.best(), search)
    if "within" in search.stopped:
        assert search.best_qps >= system.best() / (1 + RESOLUTION), (search.best_qps, system.best(), search)
    assert search.best_qps <= system.best()


def test_a_system_that_never_holds_the_bound_is_said_so():
    system = Simulated(100.0, 20.0, 10.0)  # every sample alone takes longer than the bound
    search = find_server_target(system, 100.0)
    assert search.best_qps is None
    assert search.stopped.startswith("no VALID target")
    assert all(not p.valid for p in search.probes) and len(search.probes) <= MAX_PROBES


def test_every_probe_valid_takes_the_highest_and_says_so():
    system = Simulated(1e9, 1.0, 100.0)
    search = find_server_target(system, 10.0, max_probes=3)
    assert [p.target_qps for p in search.probes] == [8.0, 16.0, 32.0]
    assert search.best_qps == 32.0 and "every probe was VALID" in search.stopped
    assert search.as_dict()["probes"][0] == {"target_qps": 8.0, "valid": True, "achieved_qps": 8.0,
                                             "latency_ms": pytest.approx(1.0, abs=1e-6), "note": ""}


def test_estimate_must_be_positive():
    with pytest.raises(ValueError, match="estimate_qps must be above 0"):
        find_server_target(Simulated(1, 1, 1), 0.0)


def test_the_measurements_readme_says_how_the_target_was_found_in_host_text_it_cannot_shape(tmp_path):
    from benchfleet.harness.result import HarnessResult
    from benchfleet.submission.tree import _readme

    cell = {"benchmark": "dlrm-v2-99", "division": "closed", "synthetic": False, "backend": "onnxruntime",
            "mode": "quick"}
    search = {"best_qps": 104.8, "stopped": "VALID at 104.800,\n# INVALID at 109.440",
              "probes": [{"target_qps": 209.6, "valid": False}, {"target_qps": 104.8, "valid": True},
                         {"target_qps": "1e9; rm -rf /", "valid": "yes"}]}
    text = _readme(HarnessResult.read_or_empty(tmp_path), {"scenario": "Server", "server_search": search}, cell, "x")
    assert ("Server target QPS: 104.8, searched with 3 short performance runs (209.6 INVALID, 104.8 VALID, "
            "unknown INVALID): VALID at 104.800, # INVALID at 109.440.") in text
    assert "\n# INVALID" not in text  # one line: host text opens no heading
    none = dict(search, best_qps=None)
    assert "Server target QPS: none VALID: half the lowest probe" in _readme(
        HarnessResult.read_or_empty(tmp_path), {"scenario": "Server", "server_search": none}, cell, "x")


@pytest.mark.parametrize("benchmark, single_ms, batch_ms, expected", [
    ("dlrm-v2-99", 10.4, 131.2, 1),  # 60 ms bound: a batch of 8 groups took 131 ms on this 2-core host
    ("resnet50", 3.6, 29.0, 1),      # 15 ms bound: batches of 2 already take about 7 ms
    ("resnet50", 1.0, 4.0, 8),       # a fast device keeps the whole batch within 5 ms
    ("resnet50", 1.0, 8.7, 4),       # 1 + 1.1 * (b - 1) ms <= 5 ms: b = 4
])
def test_server_batch_fits_a_third_of_the_latency_bound(benchmark, single_ms, batch_ms, expected, cache_dir, tmp_path):
    from benchfleet.harness.run import Harness
    from tests.conftest import tiny_spec

    said: list[str] = []
    harness = Harness(tiny_spec(cache_dir, benchmark=benchmark, system_type="datacenter"), tmp_path, log=said.append)
    batch, latency = harness._server_batch(single_ms / 1000, batch_ms / 1000, 8)
    assert batch == expected and harness._batch_for("Server") == expected
    assert latency == pytest.approx((single_ms + (batch_ms - single_ms) * (expected - 1) / 7) / 1000)
    assert harness._batch_for("Offline") == 8  # Offline keeps its batch
    assert bool(said) == (expected != 8)


def test_the_floor_is_probed_once_and_never_passed():
    system = Simulated(80.0, 12.0, 60.0)  # best about 61 queries/s
    search = find_server_target(system, 400.0, floor_qps=33.1)
    assert search.best_qps is not None and search.best_qps >= system.best() * 0.9
    low = Simulated(20.0, 12.0, 60.0)  # best about 15 queries/s: under the floor
    search = find_server_target(low, 80.0, floor_qps=33.1)
    assert [p.target_qps for p in search.probes] == [64.0, 33.1]
    assert search.best_qps is None and search.stopped == "no VALID target down to 33.1 queries/s"


class Pocketed(Simulated):
    """A monotonic system but for a band of targets (``pocket``, as shares of its best) that is INVALID: LoadGen's
    fixed arrival schedule holds a burst there (bench/RESULTS.md, fifth tuning run: 181 INVALID, 195 and 209 VALID)."""

    def __init__(self, pocket: tuple[float, float], *args):
        super().__init__(*args)
        self.pocket = (pocket[0] * self.best(), pocket[1] * self.best())

    def __call__(self, qps: float) -> Probe:
        p = super().__call__(qps)
        if self.pocket[0] <= qps <= self.pocket[1]:
            return Probe(qps, False, p.achieved_qps, self.bound_ms * 1.1)
        return p


@pytest.mark.parametrize("pocket, estimate", [
    ((0.62, 0.70), 400.0),   # the bracket's second probe (160) falls in it
    ((0.62, 0.72), 100.0),   # the same pocket, reached from below
    ((0.86, 0.90), 4000.0),  # a tenfold over-estimate halving into it (200)
])
def test_a_pocket_of_invalid_targets_below_the_best_is_climbed_past(pocket, estimate):
    system = Pocketed(pocket, 400.0, 4.0, 15.0)
    search = find_server_target(system, estimate)
    assert len(search.probes) <= MAX_PROBES
    hit = [p.target_qps for p in search.probes if system.pocket[0] <= p.target_qps <= system.pocket[1]]
    assert hit and not any(p.valid for p in search.probes if p.target_qps in hit)  # the search ran into the pocket
    assert search.best_qps is not None and system.best() * 0.9 <= search.best_qps <= system.best(), (
        search.best_qps, system.best(), search)
    assert "a higher target was VALID" in search.stopped and f"past INVALID {min(hit):.3f}" in search.stopped


def test_a_monotonic_system_gets_two_probes_above_its_bound_and_keeps_the_bisection_s_answer():
    system = Simulated(400.0, 4.0, 15.0)
    search = find_server_target(system, 400.0)
    last_invalid = min(p.target_qps for p in search.probes if not p.valid)
    assert [p.target_qps for p in search.probes[-2:]] == [pytest.approx(last_invalid * 1.1, abs=2e-3),
                                                          pytest.approx(last_invalid * 1.2, abs=2e-3)]
    assert not any(p.valid for p in search.probes[-2:])
    assert search.stopped.endswith("and INVALID 10% and 20% above it too")
    assert search.best_qps == max(p.target_qps for p in search.probes if p.valid)
