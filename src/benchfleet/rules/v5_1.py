"""MLPerf Inference v5.1 (checker tag v5.1.1, 6776245e; loadgen/mlperf.conf of the tag): what changed from v5.0.

v5.1.1 rather than the bare v5.1 tag: it adds llama3.1-8b-edge, reads Whisper as word accuracy (ACCURACY),
corrects the DeepSeek-R1 targets and the dlrm-v2 dataset size (330067).
"""

from __future__ import annotations

from benchfleet.rules.common import LLM_DC, LLM_DC_OPTIONAL, LLM_EQ, LLM_FIELDS, OFF
from benchfleet.rules.table import BenchmarkRule, Layout, Seeds, derive
from benchfleet.rules.v4_0 import KEY_PATTERN, TOKENS_PER_SAMPLE
from benchfleet.rules.v5_0 import EXACT_MATCH, V5_0

# v5.1 lets the ROUGE, CLIP and FID values be quoted, and mAP also be read from a "'Total': x" line.
_QUOTED = r".*'{}':\s+'?([\d.]+)'?.*"
ROUGE1 = _QUOTED.format("rouge1")
ROUGE2 = _QUOTED.format("rouge2")
ROUGEL = _QUOTED.format("rougeL")
ROUGELSUM = _QUOTED.format("rougeLsum")
CLIP_SCORE = r".*'CLIP_SCORE':\s+'?([\d.]+).*"
FID_SCORE = r".*'FID_SCORE':\s+'?([\d.]+).*"
MAP = r".*(?:mAP=|'Total':)\s*([\d.]+)"
GEN_LEN = KEY_PATTERN.format("gen_len")
# Whisper prints word accuracy (100 - WER) on the "Word Error Rate" line.
WORD_ACCURACY = r"Word Error Rate\:.*, accuracy=([0-9\.]+)%"

_SS_OFF = ("SingleStream", "Offline")
_TEST01 = ("TEST01",)


def _rouge(metric: str, pattern: str, refs: dict[str, float]) -> tuple[tuple[str, str, float], ...]:
    return tuple((name, pattern_, ref * 0.99) for (name, pattern_), ref in zip(
        ((metric, pattern), ("ROUGE2", ROUGE2), ("ROUGEL", ROUGEL), ("ROUGELSUM", ROUGELSUM)), refs.values(),
        strict=True))


def _llama3_8b(name: str, model: str, refs: dict[str, float], gen_len: int, psc: int, **values) -> BenchmarkRule:
    first, *rest = _rouge("ROUGE1", ROUGE1, refs)
    return BenchmarkRule(
        name=name, loadgen_model=model, accuracy_metric="ROUGE1", accuracy_pattern=ROUGE1, accuracy_target=first[2],
        performance_sample_count=psc, extra_accuracy=(*rest, ("GEN_LEN", GEN_LEN, gen_len * 0.9)),
        upper_limits=(("GEN_LEN", GEN_LEN, gen_len * 1.1),), offline_min_samples=psc, dataset_size=psc,
        loadgen_values={"use_token_latencies": 1}, **values)


LLAMA3_8B = _llama3_8b(
    "llama3.1-8b", "llama3_1-8b", {"rouge1": 38.7792, "rouge2": 15.9075, "rougeL": 24.4957, "rougeLsum": 35.793},
    8167644, 13368, required_scenarios=LLM_DC, optional_scenarios=LLM_DC_OPTIONAL, compliance_tests=("TEST06",),
    server_latency_ns=20_000_000_000, equal_issue_scenarios=LLM_EQ, result_fields=LLM_FIELDS,
    token_latency_ns={"Server": (2_000_000_000, 100_000_000), "Interactive": (500_000_000, 30_000_000)})
LLAMA3_8B_EDGE = _llama3_8b(
    "llama3.1-8b-edge", "llama3_1-8b-edge", {"rouge1": 39.06, "rouge2": 16.1147, "rougeL": 24.6375,
                                              "rougeLsum": 36.124},
    3051113, 5000, required_scenarios={"edge": _SS_OFF, "datacenter,edge": _SS_OFF}, compliance_tests=(),
    equal_issue_scenarios=_SS_OFF,
    # SingleStream is reported as the 90th-percentile latency, not the early-stopping estimate.
    result_fields={"Offline": "result_tokens_per_second", "SingleStream": "result_90.00_percentile_latency_ns"})

POINTPAINTING = BenchmarkRule(
    name="pointpainting", loadgen_model="pointpainting", accuracy_metric="mAP", accuracy_pattern=MAP,
    accuracy_target=0.5425 * 0.999, performance_sample_count=1024,
    required_scenarios={"edge": ("SingleStream",), "datacenter,edge": ("SingleStream",)},
    compliance_tests=("TEST01", "TEST04"), accuracy_log_sampling_target=256, dataset_size=39987,
    # The checker's table value; SingleStream uses early stopping, so the checker does not enforce it.
    # mlperf.conf sets the 99.9th latency percentile for its SingleStream (table.py has no per-model percentile).
    min_query_count={"SingleStream": 1024},
)

DEEPSEEK_R1 = BenchmarkRule(
    name="deepseek-r1", loadgen_model="deepseek-r1", accuracy_metric="exact_match", accuracy_pattern=EXACT_MATCH,
    accuracy_target=81.3582 * 0.99, performance_sample_count=4388,
    required_scenarios={"datacenter": ("Server", "Offline"), "datacenter,edge": ("SingleStream", "Server", "Offline")},
    compliance_tests=("TEST06",), server_latency_ns=60_000_000_000,
    equal_issue_scenarios=("SingleStream", "Offline", "Server"),
    extra_accuracy=(("TOKENS_PER_SAMPLE", TOKENS_PER_SAMPLE, 3886.2274 * 0.9),),
    upper_limits=(("TOKENS_PER_SAMPLE", TOKENS_PER_SAMPLE, 3886.2274 * 1.1),),
    offline_min_samples=4388, dataset_size=4388, token_latency_ns={"Server": (2_000_000_000, 80_000_000)},
    loadgen_values={"use_token_latencies": 1}, result_fields=LLM_FIELDS,
)

WHISPER = BenchmarkRule(
    name="whisper", loadgen_model="whisper", accuracy_metric="ACCURACY", accuracy_pattern=WORD_ACCURACY,
    accuracy_target=(100.0 - 2.0671) * 0.99, performance_sample_count=1633,
    required_scenarios={"datacenter": OFF, "edge": OFF, "datacenter,edge": OFF}, compliance_tests=_TEST01,
    equal_issue_scenarios=OFF, offline_min_samples=1633, dataset_size=1633,
    loadgen_values={"use_token_latencies": 1}, result_fields={"Offline": "result_tokens_per_second"},
)

_LLM_OPTIONAL = {
    "required_scenarios": LLM_DC, "optional_scenarios": LLM_DC_OPTIONAL, "equal_issue_scenarios": LLM_EQ,
}
_V50 = V5_0.benchmarks


def _quoted(name: str) -> dict:
    """The v5.0 rule's ROUGE patterns in their v5.1 (quoted) form."""
    rule, quoted = _V50[name], {"ROUGE1": ROUGE1, "ROUGE2": ROUGE2, "ROUGEL": ROUGEL}
    return {"accuracy_pattern": quoted.get(rule.accuracy_metric, rule.accuracy_pattern),
            "extra_accuracy": tuple((m, quoted.get(m, p), v) for m, p, v in rule.extra_accuracy)}


def _llama2(name: str) -> dict:
    return {**_quoted(name), **_LLM_OPTIONAL, "dataset_size": 24576,
            "token_latency_ns": {"Server": (2_000_000_000, 200_000_000), "Interactive": (450_000_000, 40_000_000)}}


V5_1 = derive(
    V5_0, version="v5.1",
    source="checker tag v5.1.1 (6776245e), loadgen/mlperf.conf of the tag",
    changes=(
        "New seeds.",
        "GPT-J and the Llama2-70B Interactive benchmarks retired; Interactive becomes an optional LLM scenario.",
        "Llama3.1-8B, Llama3.1-8B edge, PointPainting, DeepSeek-R1 and Whisper added.",
        "ResNet50 is no longer allowed on datacenter-only systems.",
        "Datacenter LLMs (Llama2-70B, Llama3.1-405B, Llama3.1-8B) need Offline plus Server or Interactive.",
        "An accuracy run must cover the whole dataset (logged as an error, not fatal).",
        "Closed and network submitters need calibration.md.",
    ),
    seeds=Seeds(1780908523862526354, 14771362308971278857, 18209322760996052031),
    layout=Layout(measurement_files=("user.conf", "README.md"), calibration_doc=True),
    dataset_size_check="warn",
    retire=("gptj-99", "gptj-99.9", "llama2-70b-interactive-99", "llama2-70b-interactive-99.9"),
    update={
        "resnet50": {"dataset_size": 50000, "required_scenarios": {
            "edge": ("SingleStream", "MultiStream", "Offline"),
            "datacenter,edge": ("SingleStream", "MultiStream", "Offline", "Server")}},
        "retinanet": {"accuracy_pattern": MAP, "dataset_size": 24781},
        "bert-99": {"dataset_size": 10833},
        "bert-99.9": {"dataset_size": 10833},
        "dlrm-v2-99": {"dataset_size": 330067},
        "dlrm-v2-99.9": {"dataset_size": 330067},
        "3d-unet-99": {"dataset_size": 43},
        "3d-unet-99.9": {"dataset_size": 43},
        "llama2-70b-99": _llama2("llama2-70b-99"),
        "llama2-70b-99.9": _llama2("llama2-70b-99.9"),
        "stable-diffusion-xl": {
            "dataset_size": 5000, "accuracy_pattern": CLIP_SCORE,
            "extra_accuracy": (("FID_SCORE", FID_SCORE, 23.01085758),),
            "upper_limits": (("CLIP_SCORE", CLIP_SCORE, 31.81331801), ("FID_SCORE", FID_SCORE, 23.95007626))},
        "mixtral-8x7b": {**_quoted("mixtral-8x7b"), "dataset_size": 15000},
        "llama3.1-405b": {**_quoted("llama3.1-405b"), **_LLM_OPTIONAL, "dataset_size": 8313,
                          "token_latency_ns": {"Server": (6_000_000_000, 175_000_000),
                                               "Interactive": (4_500_000_000, 80_000_000)}},
        "rgat": {"dataset_size": 788379},
    },
    add={
        "llama3.1-8b": LLAMA3_8B,
        "llama3.1-8b-edge": LLAMA3_8B_EDGE,
        "pointpainting": POINTPAINTING,
        "deepseek-r1": DEEPSEEK_R1,
        "whisper": WHISPER,
    },
)
