"""Shapes of a round's rule table."""

from __future__ import annotations

from dataclasses import dataclass, field

SCENARIOS = ("SingleStream", "MultiStream", "Offline", "Server")
SYSTEM_TYPES = ("datacenter", "edge", "datacenter,edge", "edge,datacenter")
COMPLIANCE_TESTS = ("TEST01", "TEST04", "TEST05")


@dataclass(frozen=True)
class Seeds:
    qsl_rng_seed: int
    sample_index_rng_seed: int
    schedule_rng_seed: int


@dataclass(frozen=True)
class BenchmarkRule:
    """Everything a round says about one benchmark (a results folder name)."""

    name: str  # results folder, e.g. "resnet50"
    loadgen_model: str  # model name used in .conf files, e.g. "resnet50"
    accuracy_metric: str  # regex key, e.g. "acc"
    accuracy_pattern: str  # regex matched against accuracy.txt lines (group 1 = value)
    accuracy_target: float  # absolute value the metric must reach (closed)
    performance_sample_count: int
    required_scenarios: dict[str, tuple[str, ...]]  # system type -> scenarios
    compliance_tests: tuple[str, ...]
    server_latency_ns: int | None = None
    accuracy_log_sampling_target: int = 4096  # TEST01 audit.config
    equal_issue_scenarios: tuple[str, ...] = ()
    # Further values every closed result must reach: (metric, regex on accuracy.txt, target). GPT-J's
    # GEN_LEN is a total over the whole dataset (characters generated).
    extra_accuracy: tuple[tuple[str, str, float], ...] = ()

    def accuracy_targets(self) -> tuple[tuple[str, str, float], ...]:
        return ((self.accuracy_metric, self.accuracy_pattern, self.accuracy_target), *self.extra_accuracy)

    def scenarios_for(self, system_type: str) -> tuple[str, ...]:
        key = "datacenter,edge" if system_type == "edge,datacenter" else system_type
        if key not in self.required_scenarios:
            raise ValueError(
                f"system_type: {self.name} is not allowed on a {system_type!r} system in this round"
            )
        return self.required_scenarios[key]


@dataclass(frozen=True)
class RoundRules:
    version: str
    seeds: Seeds
    test05_seeds: Seeds
    benchmarks: dict[str, BenchmarkRule]
    aliases: dict[str, str] = field(default_factory=dict)  # other accepted folder names
    min_duration_ms: int = 600_000
    offline_min_samples_per_query: int = 24_576
    multistream_samples_per_query: int = 8
    # LoadGen percentiles per scenario
    latency_percentile: dict[str, float] = field(
        default_factory=lambda: {"SingleStream": 0.90, "MultiStream": 0.99, "Server": 0.99}
    )
    # The least min_query_count a performance run may log. MultiStream's comes from the round's mlperf.conf
    # (662); v3.1's mlperf.conf leaves SingleStream's and Server's commented out, so LoadGen's default (100)
    # applies and early stopping decides; Offline's samples count is offline_min_samples_per_query.
    min_query_count: dict[str, int] = field(
        default_factory=lambda: {"SingleStream": 100, "MultiStream": 662, "Server": 100, "Offline": 1}
    )
    # At least this many queries for early stopping to give an estimate (LoadGen).
    early_stopping_min_queries: dict[str, int] = field(
        default_factory=lambda: {"SingleStream": 64, "MultiStream": 662, "Server": 270_336}
    )
    test01_seed: int = 720381539243781796
    test04_same_index: int = 3
    max_accuracy_log_bytes: int = 10 * 1024
    max_file_bytes: int = 50 * 1024 * 1024
    # TEST pass thresholds (contract §4)
    test01_perf_tolerance: float = 0.10
    test04_max_speedup: float = 0.10
    test05_tolerance: float = 0.05
    statuses: tuple[str, ...] = ("available", "preview", "rdi")
    divisions: tuple[str, ...] = ("closed", "open", "network")

    def checker_model(self, name: str) -> str:
        """The official checker's model key for a results folder (resnet50 -> resnet), for model_mapping.json."""
        bench = self.benchmark(name).name
        return next((a for a, n in self.aliases.items() if n == bench), bench)

    def benchmark(self, name: str) -> BenchmarkRule:
        name = self.aliases.get(name, name)
        try:
            return self.benchmarks[name]
        except KeyError:
            raise ValueError(
                f"benchmark: {name!r} is not a {self.version} benchmark; "
                f"choose one of {', '.join(sorted(self.benchmarks))}"
            ) from None
