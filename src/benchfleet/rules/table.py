"""Shapes of a round's rule table.

A round is data: a ``RoundRules`` holding every benchmark of that round (those benchfleet runs and those
it only checks), its seeds, its LoadGen values, the compliance tests each benchmark needs and the tree
layout its checker reads. A later round is written as ``derive(previous, ...)``: it states only what
changed. Facts come from each round's own mlperf.conf, checker and compliance folders (docs/rounds.md
says which commit of each).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

# Scenarios LoadGen runs. "Interactive" (from v5.1) is a results folder name for LLMs only: LoadGen runs it
# as a Server run with the model's "-interactive" latency limits.
SCENARIOS = ("SingleStream", "MultiStream", "Offline", "Server")
RESULT_SCENARIOS = (*SCENARIOS, "Interactive")
SYSTEM_TYPES = ("datacenter", "edge", "datacenter,edge", "edge,datacenter")
# Every compliance test some round asks for (audit.config and verify scripts in compliance/ of the round).
COMPLIANCE_TESTS = ("TEST01", "TEST04", "TEST05", "TEST06", "TEST07", "TEST08", "TEST09")
# The tests benchfleet's harness runs; a benchmark of a round whose tests fall outside these is checked only.
RUNNABLE_TESTS = ("TEST01", "TEST04", "TEST05")

Metric = tuple[str, str, float]  # (name, regular expression on accuracy.txt (group 1 = value), bound)


@dataclass(frozen=True)
class Seeds:
    qsl_rng_seed: int
    sample_index_rng_seed: int
    schedule_rng_seed: int


@dataclass(frozen=True)
class Layout:
    """Where a round's checker looks for each part of a submitter folder.

    Up to v5.1: ``measurements/<system>/<benchmark>/<scenario>/`` holds ``<system>_<impl>_<scenario>.json`` with
    user.conf, README.md (and mlperf.conf up to v4.1); ``compliance/<system>/<benchmark>/<scenario>/TESTxx/``
    holds the compliance runs; ``code/`` the code. From v6.0: all of it sits in
    ``results/<system>/<benchmark>/<scenario>/`` (``measurements.json``, ``TESTxx/``), and ``src/`` holds the code.
    """

    code_folder: str = "code"
    in_results: bool = False  # measurements and compliance live in the results scenario folder
    measurement_files: tuple[str, ...] = ("mlperf.conf", "user.conf", "README.md")
    calibration_doc: bool = False  # closed/network submitters need calibration.md (v5.1)
    # the files of results' accuracy/ and performance/run_1/ are compared with a fixed list (to v5.1; from v6.0
    # the checker lists only compliance and power folders' files, and reads what a result needs)
    result_file_lists: bool = True

    def measurements_dir(self, sub: Path, system: str, bench: str, scenario: str) -> Path:
        top = "results" if self.in_results else "measurements"
        return sub / top / system / bench / scenario

    def compliance_dir(self, sub: Path, system: str, bench: str, scenario: str) -> Path:
        top = "results" if self.in_results else "compliance"
        return sub / top / system / bench / scenario

    def measurement_json(self, system: str, impl: str, scenario: str) -> str:
        return "measurements.json" if self.in_results else f"{system}_{impl}_{scenario}.json"

    def measurement_json_glob(self, system: str) -> str:
        return "measurements.json" if self.in_results else f"{system}*.json"

    def code_dir(self, sub: Path, bench: str, impl: str) -> Path:
        """Where a cell's code goes: ``code/<benchmark>/<impl>`` up to v5.1, ``src/<benchmark>/<impl>`` after."""
        return sub / self.code_folder / bench / impl


@dataclass(frozen=True)
class BenchmarkRule:
    """Everything a round says about one benchmark (a results folder name)."""

    name: str  # results folder, e.g. "resnet50"
    loadgen_model: str  # model name used in .conf files, e.g. "resnet50"
    accuracy_metric: str  # the metric a result reports, e.g. "acc"
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
    extra_accuracy: tuple[Metric, ...] = ()
    # Values a closed result may not exceed (TOKENS_PER_SAMPLE, GEN_LEN, SDXL's scores from v4.0).
    upper_limits: tuple[Metric, ...] = ()
    # Offline samples per query a closed run must reach; None: the round's offline_min_samples_per_query.
    offline_min_samples: int | None = None
    # Samples an accuracy run must cover (the round's dataset-size check, from v5.1); None: not checked.
    dataset_size: int | None = None
    # Scenarios a system may add to the required ones (system type -> scenarios), e.g. LLM Server/Interactive.
    optional_scenarios: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # LLM latency limits at the 99th percentile: scenario -> (time to first token, time per output token) in ns.
    token_latency_ns: dict[str, tuple[int, int]] = field(default_factory=dict)
    # Further TestSettings values the round's mlperf.conf sets for this model (e.g. GPT-J's inferred token
    # latencies from v4.1); the harness sets them as attributes.
    loadgen_values: dict[str, float] = field(default_factory=dict)
    # Detail-log keys that hold the result, per scenario, where they differ from the round's usual ones.
    result_fields: dict[str, str] = field(default_factory=dict)
    # Minimum query counts that differ from the round's (checked for scenarios without early stopping).
    min_query_count: dict[str, int] = field(default_factory=dict)
    # A minimum duration other than the round's (v6.1's e2e-rag benchmarks are exempt: 0).
    min_duration_ms: int | None = None
    # A scenario whose first accuracy target and accuracy-run sample count differ from the benchmark's
    # (v6.1 qwen3-vl Interactive): scenario -> (target, samples).
    scenario_accuracy: dict[str, tuple[float, int]] = field(default_factory=dict)

    def accuracy_targets(self, scenario: str | None = None) -> tuple[Metric, ...]:
        target = self.scenario_accuracy[scenario][0] if scenario in self.scenario_accuracy else self.accuracy_target
        return ((self.accuracy_metric, self.accuracy_pattern, target), *self.extra_accuracy)

    def accuracy_samples(self, scenario: str | None = None) -> int | None:
        """The samples an accuracy run of ``scenario`` must cover (None: the round does not check it)."""
        return self.scenario_accuracy[scenario][1] if scenario in self.scenario_accuracy else self.dataset_size

    def _key(self, system_type: str) -> str:
        return "datacenter,edge" if system_type == "edge,datacenter" else system_type

    def allowed_on(self, system_type: str) -> bool:
        return self._key(system_type) in self.required_scenarios

    def scenarios_for(self, system_type: str) -> tuple[str, ...]:
        key = self._key(system_type)
        if key not in self.required_scenarios:
            allowed = ", ".join(self.required_scenarios) or "no system type"
            raise ValueError(f"system_type: {self.name} is not allowed on a {system_type!r} system in this round "
                             f"(allowed on {allowed})")
        return self.required_scenarios[key]

    def optional_for(self, system_type: str) -> tuple[str, ...]:
        return self.optional_scenarios.get(self._key(system_type), ())

    def offline_samples(self, rules: RoundRules) -> int:
        return self.offline_min_samples or rules.offline_min_samples_per_query


# The power analyzers a round's power checker accepts: PTDaemon's model name (the first field of its Identify reply)
# -> its device number (ptd_config.device_type in server.json).
ANALYZERS_V3_1 = {"YokogawaWT210": 8, "YokogawaWT500": 35, "YokogawaWT500_multichannel": 48, "YokogawaWT310": 49,
                  "YokogawaWT310E": 49, "YokogawaWT330": 52, "YokogawaWT330E": 52, "YokogawaWT330_multichannel": 77}


@dataclass(frozen=True)
class PowerRules:
    """What a round's power check accepts (MLCommons' power_checker.py beside the round's submission checker, and
    the submission checker's power rules); ``submission/power.py`` applies it."""

    ptd_versions: tuple[str, ...] = ("1.10.0",)  # PTDaemon versions (from its Identify reply)
    analyzers: dict[str, int] = field(default_factory=lambda: dict(ANALYZERS_V3_1))
    multichannel_device: int = 77  # needs two channels (-c a,b and ptd_config.channel)
    time_tolerance_ms: int = 500  # client and server clocks at each phase of ranging and testing
    # the accepted checksums of MLCommons' power client/server sources (rules/power_sources/<name>.json: a list of
    # {relative path: sha1} over ptd_client_server/*.py, one dict per accepted version)
    sources: str = "v3.1"
    spl_time_lines_only: bool = False  # from v4.0 spl.txt lines that do not start with "Time" are skipped
    # analyzer_table.* and power_settings.* in the measurements folder (or up to three folders above it)
    measure_files: tuple[str, ...] = ("analyzer_table.*", "power_settings.*")
    max_ranging_power_drop: float = 0.05  # testing's average watts may be at most 5% below ranging's


@dataclass(frozen=True)
class RoundRules:
    version: str
    seeds: Seeds
    test05_seeds: Seeds | None  # None: the round has no TEST05 (from v5.0)
    benchmarks: dict[str, BenchmarkRule]
    aliases: dict[str, str] = field(default_factory=dict)  # other accepted folder names
    # Where the facts come from (checker tag or commit) and, for derived rounds, the round before and what
    # changed from it, as `benchfleet rounds` shows them.
    source: str = ""
    previous: str | None = None
    changes: tuple[str, ...] = ()
    layout: Layout = field(default_factory=Layout)
    min_duration_ms: int = 600_000
    offline_min_samples_per_query: int = 24_576
    multistream_samples_per_query: int = 8
    # LoadGen percentiles per scenario
    latency_percentile: dict[str, float] = field(
        default_factory=lambda: {"SingleStream": 0.90, "MultiStream": 0.99, "Server": 0.99}
    )
    # The least min_query_count a performance run may log. MultiStream's comes from the round's mlperf.conf
    # (662); every round's mlperf.conf from v3.1 on leaves SingleStream's and Server's commented out, so LoadGen's
    # default (100) applies and early stopping decides; Offline's samples count is offline_min_samples_per_query.
    min_query_count: dict[str, int] = field(
        default_factory=lambda: {"SingleStream": 100, "MultiStream": 662, "Server": 100, "Offline": 1}
    )
    # The fewest SingleStream queries for which LoadGen's early stopping gives an estimate (quick runs of a
    # benchmark without compliance tests take this many).
    early_stopping_min_queries: dict[str, int] = field(default_factory=lambda: {"SingleStream": 64})
    # The detail-log key of a Server result: scheduled samples/s up to v4.0, completed samples/s from v4.1.
    server_result_field: str = "result_scheduled_samples_per_sec"
    # Whether an accuracy run must cover the benchmark's dataset_size: "off", "warn" (v5.1: the checker logs an
    # ERROR line but accepts) or "error" (from v6.0).
    dataset_size_check: Literal["off", "warn", "error"] = "off"
    # The checker verifies sample_concatenate_permutation for equal-issue benchmarks (v4.1 to v5.1).
    equal_issue_checked: bool = False
    # System-description fields a power system may carry beside the usual ones (from v5.0: system_power_only); the
    # round's checkers accept them and, as of v5.0, do not require them (their check is disabled).
    power_fields_extra: tuple[str, ...] = ()
    power: PowerRules = field(default_factory=PowerRules)
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
    # Benchmarks of earlier rounds that this round no longer has (name -> the last round that had it), so that
    # an error can say where a benchmark went; filled by derive().
    retired: dict[str, str] = field(default_factory=dict)
    # Benchmarks this round added (filled by derive()).
    added: tuple[str, ...] = ()
    # How the round's checker names the benchmark of an open results folder that is neither a benchmark name nor
    # in model_mapping.json: the first entry with a fragment the folder name contains decides (None: a model the
    # round has no benchmark for, e.g. the SSD family up to v4.0). No entry matches: no benchmark.
    name_guesses: tuple[tuple[tuple[str, ...], str | None], ...] = ()

    def checker_model(self, name: str) -> str:
        """The official checker's model key for a results folder (resnet50 -> resnet), for model_mapping.json."""
        bench = self.benchmark(name).name
        return next((a for a, n in self.aliases.items() if n == bench), bench)

    def has(self, name: str) -> bool:
        return self.aliases.get(name, name) in self.benchmarks

    def guess_benchmark(self, folder: str) -> str | None:
        """The benchmark the round's checker takes an unmapped open results folder for (see ``name_guesses``)."""
        for fragments, name in self.name_guesses:
            if any(f in folder for f in fragments):
                return name if name is not None and self.has(name) else None
        return None

    def benchmark(self, name: str) -> BenchmarkRule:
        key = self.aliases.get(name, name)
        try:
            return self.benchmarks[key]
        except KeyError:
            where = f" ({key} was retired after {self.retired[key]})" if key in self.retired else ""
            raise ValueError(
                f"benchmark: {name!r} is not a {self.version} benchmark{where}; "
                f"choose one of {', '.join(sorted(self.benchmarks))}"
            ) from None

    def has_test05(self) -> bool:
        return self.test05_seeds is not None


def bench(previous: BenchmarkRule, **changes) -> BenchmarkRule:
    """``previous`` with ``changes`` (a benchmark that a later round keeps with some values changed)."""
    return dataclasses.replace(previous, **changes)


def derive(previous: RoundRules, *, version: str, changes: tuple[str, ...], add: dict[str, BenchmarkRule] = (),
           retire: tuple[str, ...] = (), update: dict[str, dict] = (), **values) -> RoundRules:
    """A round that inherits ``previous`` and states only what changed: benchmarks added, retired, or updated
    (name -> field values), and round-wide values."""
    benchmarks = dict(previous.benchmarks)
    for name in retire:
        if name not in benchmarks:
            raise ValueError(f"{version}: cannot retire {name}: {previous.version} has no such benchmark")
        del benchmarks[name]
    for name, fields in dict(update).items():
        if name not in benchmarks:
            raise ValueError(f"{version}: cannot update {name}: {previous.version} has no such benchmark")
        benchmarks[name] = dataclasses.replace(benchmarks[name], **fields)
    add = dict(add)
    for name, rule in add.items():
        if name in benchmarks:
            raise ValueError(f"{version}: {name} is already a {previous.version} benchmark; update it instead")
        benchmarks[name] = rule
    retired = {k: v for k, v in previous.retired.items() if k not in benchmarks}
    retired.update({name: previous.version for name in retire})
    return dataclasses.replace(previous, version=version, previous=previous.version, changes=changes,
                               benchmarks=benchmarks, retired=retired, added=tuple(add), **values)
