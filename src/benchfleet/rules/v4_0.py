"""MLPerf Inference v4.0 (checker tag v4.0, e39003a9; mlperf.conf of the tag): what changed from v3.1."""

from __future__ import annotations

from benchfleet.rules.table import ANALYZERS_V3_1, BenchmarkRule, PowerRules, Seeds, derive
from benchfleet.rules.v3_1 import V3_1

# Patterns the v4.0 checker reads from accuracy.txt for its new metrics (group 1 = value).
KEY_PATTERN = r".*'{}':\s([\d.]+).*"  # "'key': value" in the printed dict of the LLM/SDXL accuracy scripts
ROUGE1 = KEY_PATTERN.format("rouge1")
ROUGE2 = KEY_PATTERN.format("rouge2")
ROUGEL = KEY_PATTERN.format("rougeL")
TOKENS_PER_SAMPLE = KEY_PATTERN.format("tokens_per_sample")
CLIP_SCORE = KEY_PATTERN.format("CLIP_SCORE")
FID_SCORE = KEY_PATTERN.format("FID_SCORE")

_LLAMA2_REF = (44.4312, 22.0352, 28.6162)  # ROUGE-1, ROUGE-2, ROUGE-L of the reference
_LLAMA2_TOKENS = 294.45  # tokens per sample of the reference: 90% to 110% allowed
_DC_ONLY = {"datacenter": ("Server", "Offline"), "datacenter,edge": ("Server", "Offline")}


def _llama2(name: str, fraction: float) -> BenchmarkRule:
    rouge1, rouge2, rougel = _LLAMA2_REF
    return BenchmarkRule(
        name=name, loadgen_model="llama2-70b", accuracy_metric="ROUGE1", accuracy_pattern=ROUGE1,
        accuracy_target=rouge1 * fraction, performance_sample_count=24576, required_scenarios=_DC_ONLY,
        compliance_tests=("TEST06",), server_latency_ns=20_000_000_000, equal_issue_scenarios=("Server",),
        extra_accuracy=(("ROUGE2", ROUGE2, rouge2 * fraction), ("ROUGEL", ROUGEL, rougel * fraction),
                        ("TOKENS_PER_SAMPLE", TOKENS_PER_SAMPLE, _LLAMA2_TOKENS * 0.9)),
        upper_limits=(("TOKENS_PER_SAMPLE", TOKENS_PER_SAMPLE, _LLAMA2_TOKENS * 1.1),),
        token_latency_ns={"Server": (2_000_000_000, 200_000_000)},
        loadgen_values={"use_token_latencies": 1},
        # v4.0 reads LLM results as tokens/s offline; Server keeps samples/s, but completed rather than scheduled.
        result_fields={"Offline": "result_tokens_per_second", "Server": "result_completed_samples_per_sec"},
    )


SDXL = BenchmarkRule(
    name="stable-diffusion-xl", loadgen_model="stable-diffusion-xl", accuracy_metric="CLIP_SCORE",
    accuracy_pattern=CLIP_SCORE, accuracy_target=31.68631873, performance_sample_count=5000,
    required_scenarios={"datacenter": ("Server", "Offline"), "edge": ("SingleStream", "Offline"),
                        "datacenter,edge": ("SingleStream", "Offline", "Server")},
    compliance_tests=(), server_latency_ns=20_000_000_000, accuracy_log_sampling_target=128,
    extra_accuracy=(("FID_SCORE", FID_SCORE, 23.01085758),),
    upper_limits=(("CLIP_SCORE", CLIP_SCORE, 31.81331801), ("FID_SCORE", FID_SCORE, 23.95007626)),
    offline_min_samples=5000,
)

V4_0 = derive(
    V3_1, version="v4.0",
    source="checker tag v4.0 (e39003a9), mlperf.conf of the tag",
    changes=(
        "New seeds and TEST05 seeds.",
        "Llama2-70B (99 and 99.9) and Stable Diffusion XL added; gpt3 (never adopted) removed.",
        "TEST06 (LLM output checks) for Llama2-70B.",
        "Accuracy upper limits: Llama2 tokens per sample, SDXL CLIP and FID scores.",
        "Offline min samples per query set per model (the dataset size when below 24576).",
        "Equal issue: GPT-J in Server and SingleStream, Llama2-70B in Server.",
        "Power: client and server clocks may differ by 800 ms (was 500); DC analyzers (WT210/WT310/WT330 _DC); "
        "spl.txt lines that are not samples are skipped; one accepted power-dev source set.",
    ),
    power=PowerRules(time_tolerance_ms=800, sources="v4.0", spl_time_lines_only=True,
                     analyzers={**ANALYZERS_V3_1, "YokogawaWT210_DC": 508, "YokogawaWT310_DC": 549,
                                "YokogawaWT330_DC": 586}),
    seeds=Seeds(13281865557512327830, 198141574272810017, 7575108116881280410),
    test05_seeds=Seeds(2376919268182438552, 11176391829184272374, 3911940905271271337),
    retire=("gpt3-99", "gpt3-99.9"),
    update={
        "rnnt": {"offline_min_samples": 2513},
        "bert-99": {"offline_min_samples": 10833},
        "bert-99.9": {"offline_min_samples": 10833},
        "3d-unet-99": {"offline_min_samples": 43},
        "3d-unet-99.9": {"offline_min_samples": 43},
        "gptj-99": {"offline_min_samples": 13368, "equal_issue_scenarios": ("Server", "SingleStream")},
        "gptj-99.9": {"offline_min_samples": 13368, "equal_issue_scenarios": ("Server", "SingleStream")},
    },
    add={
        "llama2-70b-99": _llama2("llama2-70b-99", 0.99),
        "llama2-70b-99.9": _llama2("llama2-70b-99.9", 0.999),
        "stable-diffusion-xl": SDXL,
    },
)
