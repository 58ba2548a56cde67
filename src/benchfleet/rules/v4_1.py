"""MLPerf Inference v4.1 (checker tag v4.1, 379ee534; mlperf.conf of the tag): what changed from v4.0."""

from __future__ import annotations

from benchfleet.rules.common import LLM_FIELDS
from benchfleet.rules.table import BenchmarkRule, Seeds, derive
from benchfleet.rules.v4_0 import KEY_PATTERN, ROUGE1, ROUGE2, ROUGEL, TOKENS_PER_SAMPLE, V4_0

GSM8K = KEY_PATTERN.format("gsm8k")
MBXP = KEY_PATTERN.format("mbxp")

_GPTJ_EQ = ("SingleStream", "Offline", "Server")
_GPTJ = {
    "equal_issue_scenarios": _GPTJ_EQ,
    "loadgen_values": {"infer_token_latencies": 1, "token_latency_scaling_factor": 69},
    "result_fields": {"Offline": "result_inferred_tokens_per_second",
                      "Server": "result_inferred_completed_tokens_per_second"},
}
_LLAMA2 = {"equal_issue_scenarios": ("Offline", "Server"), "result_fields": LLM_FIELDS}

MIXTRAL = BenchmarkRule(
    name="mixtral-8x7b", loadgen_model="mixtral-8x7b", accuracy_metric="ROUGE1", accuracy_pattern=ROUGE1,
    accuracy_target=45.4911 * 0.99, performance_sample_count=15000,
    # The checker's DC+Edge entry asks for SingleStream too, although edge alone may not submit it.
    required_scenarios={"datacenter": ("Server", "Offline"), "datacenter,edge": ("SingleStream", "Server", "Offline")},
    compliance_tests=("TEST06",), server_latency_ns=None,  # the v4.1 checker has no latency bound for it
    equal_issue_scenarios=("SingleStream", "Offline", "Server"),
    extra_accuracy=(("ROUGE2", ROUGE2, 23.2829 * 0.99), ("ROUGEL", ROUGEL, 30.3615 * 0.99),
                    ("TOKENS_PER_SAMPLE", TOKENS_PER_SAMPLE, 145.9 * 0.9),
                    ("gsm8k_accuracy", GSM8K, 73.78 * 0.99), ("mbxp_accuracy", MBXP, 60.12 * 0.99)),
    upper_limits=(("TOKENS_PER_SAMPLE", TOKENS_PER_SAMPLE, 145.9 * 1.1),),
    offline_min_samples=15000,
    token_latency_ns={"Server": (2_000_000_000, 200_000_000)},
    loadgen_values={"use_token_latencies": 1},
    result_fields=LLM_FIELDS,
)

V4_1 = derive(
    V4_0, version="v4.1",
    source="checker tag v4.1 (379ee534), mlperf.conf of the tag",
    changes=(
        "New seeds and TEST05 seeds.",
        "RNN-T retired; Mixtral-8x7B added.",
        "Server results are completed samples per second (was scheduled).",
        "GPT-J reports inferred token rates (infer_token_latencies, scaling factor 69); Llama2 Server completed "
        "tokens per second.",
        "SDXL needs TEST01 and TEST04.",
        "Equal issue in every scenario for GPT-J, Llama2-70B and Mixtral; the checker verifies it.",
        "An unmapped open folder is guessed from mobilenet, efficientnet, resnet50 and bert only (no SSD names).",
    ),
    name_guesses=((("mobilenet", "efficientnet", "resnet50"), "resnet50"), (("bert-99.9",), "bert-99.9"),
                  (("bert-99",), "bert-99")),
    seeds=Seeds(3066443479025735752, 10688027786191513374, 14962580496156340209),
    test05_seeds=Seeds(16799458546791641818, 5453809927556429288, 5435552105434836064),
    server_result_field="result_completed_samples_per_sec",
    equal_issue_checked=True,
    retire=("rnnt",),
    update={
        "gptj-99": _GPTJ,
        "gptj-99.9": _GPTJ,
        "llama2-70b-99": _LLAMA2,
        "llama2-70b-99.9": _LLAMA2,
        "stable-diffusion-xl": {"compliance_tests": ("TEST01", "TEST04")},
    },
    add={"mixtral-8x7b": MIXTRAL},
)
