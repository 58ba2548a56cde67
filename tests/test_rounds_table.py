"""The round tables against facts written down from each round's mlperf.conf and submission checker.

Every value below was read from the official sources named in docs/rounds.md (mlperf.conf first, the checker where
mlperf.conf is silent) and is written here literally: CI has no copy of those sources.
"""

from __future__ import annotations

import pytest

from benchfleet.rules import ROUNDS, get_round

DC, EDGE, BOTH = "datacenter", "edge", "datacenter,edge"
SS, MS, OFF, SRV, INT = "SingleStream", "MultiStream", "Offline", "Server", "Interactive"

_V31_SET = {"resnet50", "retinanet", "rnnt", "bert-99", "bert-99.9", "dlrm-v2-99", "dlrm-v2-99.9", "3d-unet-99",
            "3d-unet-99.9", "gptj-99", "gptj-99.9", "gpt3-99", "gpt3-99.9"}
_V40_SET = (_V31_SET - {"gpt3-99", "gpt3-99.9"}) | {"llama2-70b-99", "llama2-70b-99.9", "stable-diffusion-xl"}
_V41_SET = (_V40_SET - {"rnnt"}) | {"mixtral-8x7b"}
_V50_SET = _V41_SET | {"llama2-70b-interactive-99", "llama2-70b-interactive-99.9", "llama3.1-405b", "rgat"}
_V51_SET = (_V50_SET - {"gptj-99", "gptj-99.9", "llama2-70b-interactive-99", "llama2-70b-interactive-99.9"}) | {
    "llama3.1-8b", "llama3.1-8b-edge", "pointpainting", "deepseek-r1", "whisper"}
_V60_SET = (_V51_SET - {"dlrm-v2-99", "dlrm-v2-99.9"}) | {
    "gpt-oss-120b", "wan-2.2-t2v-a14b", "qwen3-vl-235b-a22b", "dlrm-v3", "yolo-95", "yolo-99"}
_V61_SET = (_V60_SET - {"llama2-70b-99", "llama3.1-405b", "mixtral-8x7b", "pointpainting", "retinanet"}) | {
    "qwen3.6-27b", "e2e-rag-qna", "e2e-rag-db"}

_OLD_LAYOUT = (False, "code", ("mlperf.conf", "user.conf", "README.md"))
_V5_LAYOUT = (False, "code", ("user.conf", "README.md"))
_V6_LAYOUT = (True, "src", ("user.conf", "README.md"))

_RESNET_OLD = {DC: {SRV, OFF}, EDGE: {SS, MS, OFF}, BOTH: {SS, MS, OFF, SRV}}
_RESNET_NEW = {EDGE: {SS, MS, OFF}, BOTH: {SS, MS, OFF, SRV}}  # not on datacenter-only systems from v5.1
_BERT_OLD = {DC: {SRV, OFF}, EDGE: {SS, OFF}, BOTH: {SS, OFF, SRV}}
_BERT_NEW = {EDGE: {SS, OFF}, BOTH: {SS, OFF}}  # edge only from v5.0

FACTS = {
    "v3.1": {
        "seeds": (148687905518835231, 520418551913322573, 811580660758947900),
        "test05": (793197339507417767, 255610748586851044, 352213341366340113),
        "psc": {"resnet50": 1024, "retinanet": 64, "bert-99": 10833, "rnnt": 2513, "3d-unet-99": 43,
                "dlrm-v2-99": 204800, "gptj-99": 13368},
        "offline_min": {"resnet50": 24576, "bert-99": 24576, "3d-unet-99": 24576, "gptj-99": 24576},
        "server_ms": {"resnet50": 15, "retinanet": 100, "bert-99": 130, "rnnt": 1000, "dlrm-v2-99": 60,
                      "gptj-99": 20000},
        "equal_issue": {"3d-unet-99": {SS, OFF}, "gptj-99": {SS}, "resnet50": set()},
        "targets": {"resnet50": 75.6954, "retinanet": 37.1745, "bert-99": 89.9653, "bert-99.9": 90.7831,
                    "3d-unet-99": 0.8531, "gptj-99": 42.5566},
        "resnet50": _RESNET_OLD, "bert-99": _BERT_OLD,
        "compliance": {"resnet50": ("TEST01", "TEST04", "TEST05"), "bert-99": ("TEST01", "TEST05"),
                       "gptj-99": ()},
        "benchmarks": _V31_SET, "layout": _OLD_LAYOUT,
    },
    "v4.0": {
        "seeds": (13281865557512327830, 198141574272810017, 7575108116881280410),
        "test05": (2376919268182438552, 11176391829184272374, 3911940905271271337),
        "psc": {"resnet50": 1024, "gptj-99": 13368, "llama2-70b-99": 24576, "stable-diffusion-xl": 5000,
                "3d-unet-99": 43},
        "offline_min": {"resnet50": 24576, "bert-99": 10833, "gptj-99": 13368, "rnnt": 2513, "3d-unet-99": 43,
                        "stable-diffusion-xl": 5000, "llama2-70b-99": 24576, "dlrm-v2-99": 24576},
        "server_ms": {"resnet50": 15, "retinanet": 100, "bert-99": 130, "gptj-99": 20000,
                      "stable-diffusion-xl": 20000},
        "equal_issue": {"3d-unet-99": {SS, OFF}, "gptj-99": {SRV, SS}, "llama2-70b-99": {SRV}},
        "targets": {"resnet50": 75.6954, "llama2-70b-99": 43.9869, "llama2-70b-99.9": 44.3868,
                    "stable-diffusion-xl": 31.6863},
        "resnet50": _RESNET_OLD, "bert-99": _BERT_OLD,
        "compliance": {"resnet50": ("TEST01", "TEST04", "TEST05"), "bert-99": ("TEST01", "TEST05"),
                       "llama2-70b-99": ("TEST06",), "stable-diffusion-xl": ()},
        "benchmarks": _V40_SET, "layout": _OLD_LAYOUT,
    },
    "v4.1": {
        "seeds": (3066443479025735752, 10688027786191513374, 14962580496156340209),
        "test05": (16799458546791641818, 5453809927556429288, 5435552105434836064),
        "psc": {"resnet50": 1024, "llama2-70b-99": 24576, "stable-diffusion-xl": 5000, "dlrm-v2-99": 204800},
        "offline_min": {"resnet50": 24576, "bert-99": 10833, "mixtral-8x7b": 15000, "gptj-99": 13368},
        "server_ms": {"resnet50": 15, "retinanet": 100, "dlrm-v2-99": 60, "stable-diffusion-xl": 20000},
        "equal_issue": {"gptj-99": {SS, OFF, SRV}, "llama2-70b-99": {OFF, SRV}, "mixtral-8x7b": {SS, OFF, SRV}},
        "targets": {"mixtral-8x7b": 45.0362, "gptj-99.9": 42.9435},
        "resnet50": _RESNET_OLD, "bert-99": _BERT_OLD,
        "compliance": {"resnet50": ("TEST01", "TEST04", "TEST05"), "bert-99": ("TEST01", "TEST05"),
                       "stable-diffusion-xl": ("TEST01", "TEST04"), "mixtral-8x7b": ("TEST06",)},
        "loadgen_values": {"gptj-99": {"infer_token_latencies": 1, "token_latency_scaling_factor": 69},
                           "llama2-70b-99": {"use_token_latencies": 1}},
        "benchmarks": _V41_SET, "layout": _OLD_LAYOUT,
    },
    "v5.0": {
        "seeds": (6023615788873153749, 15036839855038426416, 9933818062894767841),
        "test05": None,
        "psc": {"resnet50": 1024, "llama3.1-405b": 8313, "rgat": 788379, "llama2-70b-interactive-99": 24576,
                "mixtral-8x7b": 15000},
        "offline_min": {"resnet50": 24576, "llama3.1-405b": 8313, "rgat": 788379, "bert-99": 10833},
        "server_ms": {"resnet50": 15, "dlrm-v2-99": 60, "gptj-99": 20000},
        "equal_issue": {"rgat": {OFF}, "llama3.1-405b": {OFF, SRV}, "llama2-70b-interactive-99": {OFF, SRV}},
        "targets": {"llama3.1-405b": 21.4499, "rgat": 0.7213, "mixtral-8x7b": 45.1429},
        "resnet50": _RESNET_OLD, "bert-99": _BERT_NEW,
        "compliance": {"resnet50": ("TEST01", "TEST04"), "bert-99": ("TEST01",), "llama3.1-405b": ("TEST06",)},
        "benchmarks": _V50_SET, "layout": _V5_LAYOUT,
    },
    "v5.1": {
        "seeds": (1780908523862526354, 14771362308971278857, 18209322760996052031),
        "test05": None,
        "psc": {"resnet50": 1024, "llama3.1-8b": 13368, "llama3.1-8b-edge": 5000, "pointpainting": 1024,
                "deepseek-r1": 4388, "whisper": 1633},
        "offline_min": {"llama3.1-8b": 13368, "llama3.1-8b-edge": 5000, "deepseek-r1": 4388, "whisper": 1633},
        "server_ms": {"resnet50": 15, "retinanet": 100, "stable-diffusion-xl": 20000},
        "equal_issue": {"whisper": {OFF}, "llama3.1-8b-edge": {SS, OFF}, "pointpainting": set()},
        "targets": {"whisper": 96.9536, "deepseek-r1": 80.5446, "llama3.1-8b": 38.3914, "pointpainting": 0.5420},
        "resnet50": _RESNET_NEW, "bert-99": _BERT_NEW,
        "compliance": {"resnet50": ("TEST01", "TEST04"), "bert-99": ("TEST01",), "llama3.1-8b-edge": (),
                       "pointpainting": ("TEST01", "TEST04")},
        "dataset_size": {"resnet50": 50000, "dlrm-v2-99": 330067, "pointpainting": 39987},
        "benchmarks": _V51_SET, "layout": _V5_LAYOUT,
    },
    "v6.0": {
        "seeds": (2465351861681999779, 14276810075590677512, 3936089224930324775),
        "test05": None,
        "psc": {"resnet50": 1024, "qwen3-vl-235b-a22b": 48289, "yolo-99": 64, "gpt-oss-120b": 6396},
        "offline_min": {"qwen3-vl-235b-a22b": 48289, "llama3.1-8b-edge": 5000, "bert-99": 10833},
        "server_ms": {"resnet50": 15, "stable-diffusion-xl": 20000, "qwen3-vl-235b-a22b": 12000},
        "equal_issue": {"gpt-oss-120b": {OFF, SRV, INT}, "qwen3-vl-235b-a22b": {OFF, SRV, INT}, "yolo-99": set()},
        "targets": {"gpt-oss-120b": 82.2987, "yolo-95": 50.73, "dlrm-v3": 0.8660, "wan-2.2-t2v-a14b": 69.7752},
        "resnet50": _RESNET_NEW, "bert-99": _BERT_NEW,
        "compliance": {"resnet50": ("TEST01", "TEST04"), "bert-99": ("TEST01",),
                       "gpt-oss-120b": ("TEST07", "TEST09"), "dlrm-v3": ("TEST08",)},
        "benchmarks": _V60_SET, "layout": _V6_LAYOUT,
    },
    "v6.1": {
        "seeds": (2085463073848966840, 2747215439041700203, 16159082839903944936),
        "test05": None,
        "psc": {"resnet50": 1024, "llama2-70b-99.9": 24576, "deepseek-r1": 4388, "whisper": 1633},
        "offline_min": {"llama2-70b-99.9": 24576, "rgat": 788379, "3d-unet-99": 43},
        "server_ms": {"resnet50": 15, "stable-diffusion-xl": 20000},
        "equal_issue": {"llama3.1-8b": {OFF, SRV, INT}, "3d-unet-99": {SS, OFF}},
        "targets": {"e2e-rag-qna": 33.95, "e2e-rag-db": 98.0, "qwen3.6-27b": 85.3677, "whisper": 96.9536},
        "resnet50": _RESNET_NEW, "bert-99": _BERT_NEW,
        "compliance": {"resnet50": ("TEST01", "TEST04"), "bert-99": ("TEST01",), "e2e-rag-qna": ("TEST09",),
                       "e2e-rag-db": ()},
        "benchmarks": _V61_SET, "layout": _V6_LAYOUT,
    },
}


def test_every_round_has_facts():
    assert list(FACTS) == list(ROUNDS)


@pytest.mark.parametrize("version", list(FACTS))
def test_seeds(version):
    r, f = get_round(version), FACTS[version]
    assert (r.seeds.qsl_rng_seed, r.seeds.sample_index_rng_seed, r.seeds.schedule_rng_seed) == f["seeds"]
    if f["test05"] is None:
        assert r.test05_seeds is None and not r.has_test05()
    else:
        t = r.test05_seeds
        assert (t.qsl_rng_seed, t.sample_index_rng_seed, t.schedule_rng_seed) == f["test05"]


@pytest.mark.parametrize("version", list(FACTS))
def test_benchmark_set(version):
    assert set(get_round(version).benchmarks) == FACTS[version]["benchmarks"]
    for name, rule in get_round(version).benchmarks.items():
        assert rule.name == name


@pytest.mark.parametrize("version", list(FACTS))
def test_sample_counts_and_latency(version):
    r, f = get_round(version), FACTS[version]
    for name, psc in f["psc"].items():
        assert r.benchmark(name).performance_sample_count == psc, name
    for name, samples in f["offline_min"].items():
        assert r.benchmark(name).offline_samples(r) == samples, name
    for name, ms in f["server_ms"].items():
        assert r.benchmark(name).server_latency_ns == ms * 1_000_000, name
    for name, scenarios in f["equal_issue"].items():
        assert set(r.benchmark(name).equal_issue_scenarios) == scenarios, name
    for name, size in f.get("dataset_size", {}).items():
        assert r.benchmark(name).dataset_size == size, name
    for name, values in f.get("loadgen_values", {}).items():
        assert r.benchmark(name).loadgen_values == values, name


@pytest.mark.parametrize("version", list(FACTS))
def test_accuracy_targets(version):
    r = get_round(version)
    for name, target in FACTS[version]["targets"].items():
        assert round(r.benchmark(name).accuracy_target, 4) == pytest.approx(target, abs=1e-4), name


@pytest.mark.parametrize("version", list(FACTS))
def test_required_scenarios_and_compliance(version):
    r, f = get_round(version), FACTS[version]
    for name in ("resnet50", "bert-99"):
        rule = r.benchmark(name)
        assert {k: set(v) for k, v in rule.required_scenarios.items()} == f[name], name
    for name, tests in f["compliance"].items():
        assert r.benchmark(name).compliance_tests == tests, name


@pytest.mark.parametrize("version", list(FACTS))
def test_layout(version):
    layout = get_round(version).layout
    assert (layout.in_results, layout.code_folder, layout.measurement_files) == FACTS[version]["layout"]
    # the head's checker (v6.0 on) compares no file list in a result's accuracy/ and performance/run_1/
    assert layout.result_file_lists is not layout.in_results


def test_round_wide_switches():
    fields = {v: (r.server_result_field, r.dataset_size_check, r.equal_issue_checked, r.power_fields_extra,
                  r.layout.calibration_doc) for v, r in ROUNDS.items()}
    scheduled, completed = "result_scheduled_samples_per_sec", "result_completed_samples_per_sec"
    power = ("system_power_only",)
    assert fields == {
        "v3.1": (scheduled, "off", False, (), False),
        "v4.0": (scheduled, "off", False, (), False),
        "v4.1": (completed, "off", True, (), False),
        "v5.0": (completed, "off", True, power, False),
        "v5.1": (completed, "warn", True, power, True),
        "v6.0": (completed, "error", False, power, False),
        "v6.1": (completed, "error", False, power, False),
    }


def test_llm_latency_and_optional_scenarios():
    v51 = get_round("v5.1").benchmark("llama2-70b-99")
    assert v51.token_latency_ns == {SRV: (2_000_000_000, 200_000_000), INT: (450_000_000, 40_000_000)}
    assert v51.scenarios_for("datacenter") == (OFF,)
    assert set(v51.optional_for("datacenter")) == {INT, SRV}
    assert get_round("v4.0").benchmark("llama2-70b-99").optional_for("datacenter") == ()
    assert get_round("v6.0").benchmark("gpt-oss-120b").token_latency_ns[INT] == (2_000_000_000, 15_000_000)


def test_checker_key_and_alias_in_every_round():
    for r in ROUNDS.values():
        assert r.has("resnet") and r.benchmark("resnet").name == "resnet50"
        assert r.checker_model("resnet50") == "resnet"


def test_derive_tracks_retired_benchmarks():
    assert get_round("v4.0").retired == {"gpt3-99": "v3.1", "gpt3-99.9": "v3.1"}
    assert get_round("v4.1").retired["rnnt"] == "v4.0"
    assert get_round("v5.1").retired["gptj-99"] == "v5.0"
    assert get_round("v6.0").retired["dlrm-v2-99.9"] == "v5.1"
    assert get_round("v6.1").retired["retinanet"] == "v6.0"
    # a benchmark retired earlier stays recorded in every later round
    assert get_round("v6.1").retired["rnnt"] == "v4.0"
    assert set(get_round("v6.1").added) == {"qwen3.6-27b", "e2e-rag-qna", "e2e-rag-db"}
    with pytest.raises(ValueError, match="retired after v5.0"):
        get_round("v6.1").benchmark("gptj-99")


def test_every_round_states_its_source_and_changes():
    for version, r in ROUNDS.items():
        assert r.source
        assert bool(r.changes) == (version != "v3.1")


def test_e2e_rag_is_exempt_from_the_minimum_duration():
    # v6.1's e2e-rag/user.conf sets min_duration 0; the checker exempts both benchmarks from 600 s
    rules = get_round("v6.1")
    assert rules.benchmark("e2e-rag-qna").min_duration_ms == rules.benchmark("e2e-rag-db").min_duration_ms == 0
    assert rules.benchmark("resnet50").min_duration_ms is None and rules.min_duration_ms == 600_000
