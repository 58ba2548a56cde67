"""MLPerf Inference v5.0 (checker tag v5.0.1, e618c314; loadgen/mlperf.conf of the tag): what changed from v4.1.

v5.0.1 rather than the bare v5.0 tag: five days later, it adds the llama2-70b-interactive benchmarks.
"""

from __future__ import annotations

import dataclasses

from benchfleet.rules.common import LLM_FIELDS
from benchfleet.rules.table import BenchmarkRule, Layout, Seeds, bench, derive
from benchfleet.rules.v4_0 import KEY_PATTERN, ROUGE2, ROUGEL, TOKENS_PER_SAMPLE
from benchfleet.rules.v4_1 import GSM8K, MBXP, V4_1

# From v5.0 "acc" also accepts a JSON line ({"accuracy": ...}).
ACC = r"^(?:\{\"accuracy|accuracy)[\": ]*=?\s*([\d\.]+).*"
EXACT_MATCH = KEY_PATTERN.format("exact_match")

_DC_ONLY = {"datacenter": ("Server", "Offline"), "datacenter,edge": ("Server", "Offline")}
_TEST01 = ("TEST01",)

LLAMA3_405B = BenchmarkRule(
    name="llama3.1-405b", loadgen_model="llama3_1-405b", accuracy_metric="ROUGEL", accuracy_pattern=ROUGEL,
    accuracy_target=21.6666 * 0.99, performance_sample_count=8313, required_scenarios=_DC_ONLY,
    compliance_tests=("TEST06",), server_latency_ns=60_000_000_000, equal_issue_scenarios=("Offline", "Server"),
    extra_accuracy=(("exact_match", EXACT_MATCH, 90.1335 * 0.99),
                    ("TOKENS_PER_SAMPLE", TOKENS_PER_SAMPLE, 684.68 * 0.9)),
    upper_limits=(("TOKENS_PER_SAMPLE", TOKENS_PER_SAMPLE, 684.68 * 1.1),),
    offline_min_samples=8313,
    token_latency_ns={"Server": (6_000_000_000, 175_000_000)},
    loadgen_values={"use_token_latencies": 1},
    result_fields=LLM_FIELDS,
)

RGAT = BenchmarkRule(
    name="rgat", loadgen_model="rgat", accuracy_metric="acc", accuracy_pattern=ACC, accuracy_target=0.7286 * 0.99,
    performance_sample_count=788379, required_scenarios={"datacenter": ("Offline",), "datacenter,edge": ("Offline",)},
    compliance_tests=_TEST01, equal_issue_scenarios=("Offline",), offline_min_samples=788379,
)


def _llama2_interactive(name: str, base: BenchmarkRule) -> BenchmarkRule:
    # Same accuracy as llama2-70b; LoadGen's "llama2-70b-interactive" config with tighter token latencies.
    return bench(base, name=name, loadgen_model="llama2-70b-interactive", required_scenarios=_DC_ONLY,
                 token_latency_ns={"Server": (450_000_000, 40_000_000)})


_V41 = V4_1.benchmarks

V5_0 = derive(
    V4_1, version="v5.0",
    source="checker tag v5.0.1 (e618c314), loadgen/mlperf.conf of the tag",
    changes=(
        "New seeds; TEST05 dropped (mlperf.conf still lists seeds for it, the checker does not use them).",
        "BERT is no longer allowed on datacenter systems (edge and DC+Edge: SingleStream and Offline).",
        "Llama3.1-405B and R-GAT added; Llama2-70B Interactive (99 and 99.9) added by v5.0.1.",
        "Mixtral's reference scores changed; its Server bound is 20 s.",
        "The measurements folder needs only user.conf and README.md (LoadGen has mlperf.conf built in).",
        "Power: PTDaemon 1.11.1 and power-dev's current sources; a system description may set system_power_only "
        "(only its power rows are reported); the power fields are still not enforced (the checker's call is "
        "disabled).",
    ),
    seeds=Seeds(6023615788873153749, 15036839855038426416, 9933818062894767841),
    test05_seeds=None,
    layout=Layout(measurement_files=("user.conf", "README.md")),
    power_fields_extra=("system_power_only",),
    power=dataclasses.replace(V4_1.power, ptd_versions=("1.11.1",), sources="v5.0"),
    update={
        "resnet50": {"accuracy_pattern": ACC, "compliance_tests": ("TEST01", "TEST04")},
        "retinanet": {"compliance_tests": _TEST01},
        "bert-99": {"compliance_tests": _TEST01, "server_latency_ns": None,
                    "required_scenarios": {"edge": ("SingleStream", "Offline"),
                                           "datacenter,edge": ("SingleStream", "Offline")}},
        "bert-99.9": {"compliance_tests": _TEST01, "server_latency_ns": None,
                      "required_scenarios": {"edge": ("SingleStream", "Offline"),
                                             "datacenter,edge": ("SingleStream", "Offline")}},
        "dlrm-v2-99": {"compliance_tests": _TEST01},
        "dlrm-v2-99.9": {"compliance_tests": _TEST01},
        "3d-unet-99": {"compliance_tests": _TEST01},
        "3d-unet-99.9": {"compliance_tests": _TEST01},
        "mixtral-8x7b": {
            "required_scenarios": _DC_ONLY, "server_latency_ns": 20_000_000_000,
            "equal_issue_scenarios": ("Offline", "Server"), "accuracy_target": 45.5989 * 0.99,
            "extra_accuracy": (("ROUGE2", ROUGE2, 23.3526 * 0.99), ("ROUGEL", ROUGEL, 30.4608 * 0.99),
                               # the lower bound uses 144.84, the upper one (unchanged) 145.9: so in the checker
                               ("TOKENS_PER_SAMPLE", TOKENS_PER_SAMPLE, 144.84 * 0.9),
                               ("gsm8k_accuracy", GSM8K, 73.66 * 0.99), ("mbxp_accuracy", MBXP, 60.16 * 0.99)),
        },
    },
    add={
        "llama2-70b-interactive-99": _llama2_interactive("llama2-70b-interactive-99", _V41["llama2-70b-99"]),
        "llama2-70b-interactive-99.9": _llama2_interactive("llama2-70b-interactive-99.9", _V41["llama2-70b-99.9"]),
        "llama3.1-405b": LLAMA3_405B,
        "rgat": RGAT,
    },
)
