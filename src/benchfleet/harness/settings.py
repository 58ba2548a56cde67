"""LoadGen settings for a run: the round's values, the user's values, and quick mode.

LoadGen 6.0.17 embeds its own round's mlperf.conf, so for an older round the harness loads
``user.conf`` once and then sets every value of the round explicitly as TestSettings
attributes (contract §5.3). ``mlperf.conf`` for the measurements folder is rendered from the
same rule table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from benchfleet.rules.table import BenchmarkRule, RoundRules

QUICK_MIN_DURATION_MS = 1000
# Quick SingleStream runs 1024 queries (every round's minimum is LoadGen's 100): with fewer, the early-stopping
# estimate is close to the slowest query and compliance comparisons become a coin toss. A benchmark without compliance
# tests (GPT-J) takes the fewest queries early stopping accepts (64): its queries take seconds. A model whose 1024
# queries would take longer than QUICK_SINGLE_STREAM_S (3D-UNet's cases on a CPU) takes as many as fit in it, and at
# least early stopping's minimum.
QUICK_MIN_QUERIES = {"SingleStream": 1024, "Server": 662}
QUICK_SINGLE_STREAM_S = 30.0
# A quick Server run takes as many queries as QUICK_SERVER_S seconds hold at its target, from early stopping's 662
# up to QUICK_SERVER_MAX_QUERIES: over 662 queries early stopping at the 99th percentile tolerates no query over the
# bound, and a shared CPU has a stray slow query now and then; over 2048 it tolerates about five. (A target search's
# probes keep 662: they are judged by their percentile latency, run.py.)
QUICK_SERVER_S = 20.0
QUICK_SERVER_MAX_QUERIES = 2048


@dataclass
class ScenarioSettings:
    """Final values for one LoadGen run, in .conf units (ms), split by origin."""

    model: str
    scenario: str
    round_values: dict[str, float] = field(default_factory=dict)
    user_values: dict[str, float] = field(default_factory=dict)

    @property
    def values(self) -> dict[str, float]:
        return {**self.round_values, **self.user_values}

    def user_conf(self, round_version: str = "") -> str:
        rules = f"the MLPerf Inference {round_version} rules" if round_version else "the round's rules"
        lines = [f"# written by benchfleet: values this run sets on top of {rules}"]
        lines += [f"{self.model}.{self.scenario}.{k} = {_fmt(v)}" for k, v in sorted(self.user_values.items())]
        return "\n".join(lines) + "\n"


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:.6g}"


def build(rules: RoundRules, bench: BenchmarkRule, scenario: str, quick: bool,
          sample_latency_s: float, batch_latency_s: float, batch: int,
          target_qps: float | None = None, offline_qps: float | None = None) -> ScenarioSettings:
    """Settings for ``scenario``; latencies are what a warm-up measured on this host. ``target_qps``: the Server
    target; ``offline_qps``: the Offline throughput a tuning measured (else the warm-up's batch rate)."""
    s = ScenarioSettings(bench.loadgen_model, scenario)
    r = s.round_values
    r["min_duration"] = rules.min_duration_ms
    r["performance_sample_count_override"] = bench.performance_sample_count
    if scenario in rules.latency_percentile:
        r["target_latency_percentile"] = rules.latency_percentile[scenario] * 100
    if scenario == "MultiStream":
        r["samples_per_query"] = rules.multistream_samples_per_query
        r["min_query_count"] = rules.min_query_count["MultiStream"]
    if scenario == "Offline":
        r["min_query_count"] = bench.offline_samples(rules)
    if scenario == "Server":
        r["target_latency"] = bench.server_latency_ns / 1e6 if bench.server_latency_ns else 10
        r["min_query_count"] = rules.min_query_count["Server"]
    if scenario in bench.equal_issue_scenarios:
        r["sample_concatenate_permutation"] = 1
    if scenario in bench.min_query_count:
        r["min_query_count"] = bench.min_query_count[scenario]
    if scenario == "Server" and "Server" in bench.token_latency_ns:  # LLMs: the round's TTFT and TPOT limits (ns)
        r["ttft_latency"], r["tpot_latency"] = bench.token_latency_ns["Server"]
    r.update(bench.loadgen_values)
    u = s.user_values
    per_sample_qps = batch / max(batch_latency_s, 1e-6)
    if scenario == "SingleStream":
        # Under-estimate so that LoadGen generates enough queries for the duration.
        # LoadGen reads SingleStream's target_latency as a double: sub-millisecond models keep their scale
        u["target_latency"] = max(0.001, round(sample_latency_s * 1000 * 0.5, 3))
    elif scenario == "MultiStream":
        u["target_latency"] = max(1, math.floor(batch_latency_s * 1000 * 0.5))
    elif scenario == "Offline":
        u["target_qps"] = round(offline_qps or per_sample_qps, 3)
    elif scenario == "Server":
        u["target_qps"] = target_qps if target_qps else round(per_sample_qps * 0.5, 3)
    if quick:
        u["min_duration"] = QUICK_MIN_DURATION_MS
        if scenario == "SingleStream":
            fewest = rules.early_stopping_min_queries["SingleStream"]
            fit = math.ceil(QUICK_SINGLE_STREAM_S / max(sample_latency_s, 1e-6))
            u["min_query_count"] = max(fewest, min(QUICK_MIN_QUERIES["SingleStream"], fit)) \
                if bench.compliance_tests else fewest
        elif scenario == "Server":
            fit = math.ceil(u["target_qps"] * QUICK_SERVER_S)
            u["min_query_count"] = max(QUICK_MIN_QUERIES["Server"], min(QUICK_SERVER_MAX_QUERIES, fit))
    return s


# Per-model mlperf.conf keys a round may set (BenchmarkRule.loadgen_values): the TestSettings attribute of the
# same name, and its type.
_LOADGEN_VALUES = {"use_token_latencies": bool, "infer_token_latencies": bool, "token_latency_scaling_factor": int,
                   "ttft_latency": int, "tpot_latency": int, "accuracy_sample_count_override": int}
# Values build() sets that apply() sets by name (the rest go through _LOADGEN_VALUES).
_NAMED = {"min_duration", "min_query_count", "performance_sample_count_override", "target_latency_percentile",
          "target_latency", "target_qps", "samples_per_query", "sample_concatenate_permutation"}


def apply(ts, settings: ScenarioSettings, rules: RoundRules, test05: bool = False) -> None:
    """Set every value on a ``mlperf_loadgen.TestSettings`` after ``FromConfig(user.conf)``."""
    v = settings.values
    scen = settings.scenario
    ts.min_duration_ms = int(v["min_duration"])
    if "min_query_count" in v:
        ts.min_query_count = int(v["min_query_count"])
    ts.performance_sample_count_override = int(v["performance_sample_count_override"])
    pct = v.get("target_latency_percentile")
    if scen == "SingleStream":
        ts.single_stream_expected_latency_ns = int(v["target_latency"] * 1e6)
        ts.single_stream_target_latency_percentile = pct / 100
    elif scen == "MultiStream":
        ts.multi_stream_expected_latency_ns = int(v["target_latency"] * 1e6)
        ts.multi_stream_target_latency_percentile = pct / 100
        ts.multi_stream_samples_per_query = int(v["samples_per_query"])
    elif scen == "Offline":
        ts.offline_expected_qps = float(v["target_qps"])
    elif scen == "Server":
        ts.server_target_qps = float(v["target_qps"])
        ts.server_target_latency_ns = int(v["target_latency"] * 1e6)
        ts.server_target_latency_percentile = pct / 100
    if "sample_concatenate_permutation" in v:
        ts.sample_concatenate_permutation = bool(v["sample_concatenate_permutation"])
    unknown = set(v) - _NAMED - set(_LOADGEN_VALUES)
    if unknown:
        raise ValueError(f"{settings.model}: no TestSettings attribute for {', '.join(sorted(unknown))}; add it to "
                         "harness/settings.py _LOADGEN_VALUES")
    for key, kind in _LOADGEN_VALUES.items():
        if key in v:
            setattr(ts, key, kind(v[key]))
    ts.qsl_rng_seed = rules.seeds.qsl_rng_seed
    ts.sample_index_rng_seed = rules.seeds.sample_index_rng_seed
    ts.schedule_rng_seed = rules.seeds.schedule_rng_seed
    if test05:
        if rules.test05_seeds is None:
            raise ValueError(f"TEST05 is not a {rules.version} compliance test (it was dropped in v5.0)")
        ts.test05 = True
        ts.test05_qsl_rng_seed = rules.test05_seeds.qsl_rng_seed
        ts.test05_sample_index_rng_seed = rules.test05_seeds.sample_index_rng_seed
        ts.test05_schedule_rng_seed = rules.test05_seeds.schedule_rng_seed


def render_mlperf_conf(rules: RoundRules) -> str:
    """The round's rules in mlperf.conf syntax (written from our table, for measurements/)."""
    out = [f"# MLPerf Inference {rules.version} rules as applied by benchfleet (model.scenario.key = value; ms)"]
    seen = set()
    for b in rules.benchmarks.values():
        if b.loadgen_model in seen:
            continue
        seen.add(b.loadgen_model)
        out.append(f"{b.loadgen_model}.*.performance_sample_count_override = {b.performance_sample_count}")
    for key, seeds in (("", rules.seeds), ("test05_", rules.test05_seeds)):
        if seeds is None:
            continue
        out.append(f"*.*.{key}qsl_rng_seed = {seeds.qsl_rng_seed}")
        out.append(f"*.*.{key}sample_index_rng_seed = {seeds.sample_index_rng_seed}")
        out.append(f"*.*.{key}schedule_rng_seed = {seeds.schedule_rng_seed}")
    for scen, pct in rules.latency_percentile.items():
        out.append(f"*.{scen}.target_latency_percentile = {_fmt(pct * 100)}")
    for scen in ("SingleStream", "MultiStream", "Server", "Offline"):
        out.append(f"*.{scen}.min_duration = {rules.min_duration_ms}")
    out.append(f"*.MultiStream.samples_per_query = {rules.multistream_samples_per_query}")
    out.append(f"*.MultiStream.min_query_count = {rules.min_query_count['MultiStream']}")
    out.append(f"*.Offline.min_query_count = {rules.offline_min_samples_per_query}")
    for b in rules.benchmarks.values():
        if b.offline_min_samples and b.offline_min_samples != rules.offline_min_samples_per_query:
            out.append(f"{b.loadgen_model}.Offline.min_query_count = {b.offline_min_samples}")
        for key, value in b.loadgen_values.items():
            out.append(f"{b.loadgen_model}.*.{key} = {_fmt(value)}")
        if b.server_latency_ns:
            out.append(f"{b.loadgen_model}.Server.target_latency = {_fmt(b.server_latency_ns / 1e6)}")
        for scen in b.equal_issue_scenarios:
            out.append(f"{b.loadgen_model}.{scen}.sample_concatenate_permutation = 1")
    return "\n".join(dict.fromkeys(out)) + "\n"


# TEST01 logs about ``sampling_target`` responses of the performance run. A 600 s run has tens of
# thousands of queries, so 4096 is a few percent of them; a quick SingleStream run has 1024. A logged
# response costs its query a copy and the logger thread some CPU; when more than 10% of the queries
# are logged (128 of 1024 was 12.5%), the 90th-percentile latency can land among them and TEST01 read
# slower than the run it is compared with on a busy 2-core host (the rule allows 10%). Quick mode
# logs 1% of its minimum queries, far from the percentile the metric reads.
QUICK_SAMPLING_TARGET = QUICK_MIN_QUERIES["SingleStream"] // 100


def audit_config(test: str, rules: RoundRules, bench: BenchmarkRule, quick: bool = False) -> str:
    """audit.config for a compliance test (contract §4)."""
    if test == "TEST01":
        target = min(bench.accuracy_log_sampling_target, QUICK_SAMPLING_TARGET) if quick \
            else bench.accuracy_log_sampling_target
        return (f"*.*.mode = 2\n*.*.accuracy_log_rng_seed = {rules.test01_seed}\n"
                f"*.*.accuracy_log_sampling_target = {target}\n")
    if test == "TEST04":
        return (f"*.*.mode = 2\n*.*.performance_issue_unique = 0\n*.*.performance_issue_same = 1\n"
                f"*.*.performance_issue_same_index = {rules.test04_same_index}\n")
    if test == "TEST05":
        return "*.*.test05 = 1\n"
    raise ValueError(f"compliance test {test!r} unknown")
