"""MLPerf Inference v6.1 (checker package at master b66003e1, MODEL_CONFIG "v6.1"; loadgen/mlperf.conf at
b66003e1, seeds of b0662794): what changed from v6.0."""

from __future__ import annotations

from benchfleet.rules.common import INT_SRV, OFF
from benchfleet.rules.table import BenchmarkRule, Seeds, derive
from benchfleet.rules.v5_1 import MAP
from benchfleet.rules.v6_0 import V6_0

E2E_ACCURACY = r"Accuracy:\s*([\d\.]+)"
_SS = ("SingleStream",)

QWEN3_6 = BenchmarkRule(
    # UNCONFIRMED: no .conf file names it; the results folder name is used.
    name="qwen3.6-27b", loadgen_model="qwen3.6-27b", accuracy_metric="mAP", accuracy_pattern=MAP,
    accuracy_target=86.23 * 0.99, performance_sample_count=995,
    required_scenarios={"edge": _SS, "datacenter,edge": _SS}, compliance_tests=(), dataset_size=995,
    min_query_count={"SingleStream": 995},
)


def _e2e_rag(name: str, target: float, samples: int, tests: tuple[str, ...]) -> BenchmarkRule:
    # Datacenter Offline only; absolute targets. e2e-rag/user.conf sets min_duration 0 and min_query_count to the
    # sample count (the checker exempts both from the 600 s minimum duration).
    return BenchmarkRule(
        name=name, loadgen_model=name, accuracy_metric="E2E_ACCURACY", accuracy_pattern=E2E_ACCURACY,
        accuracy_target=target, performance_sample_count=samples, required_scenarios={"datacenter": OFF},
        compliance_tests=tests, offline_min_samples=samples, dataset_size=samples, min_duration_ms=0,
    )


V6_1 = derive(
    V6_0, version="v6.1",
    source="checker package at master b66003e1 (MODEL_CONFIG v6.1), loadgen/mlperf.conf at b66003e1",
    changes=(
        "New seeds.",
        "Llama2-70B-99, Llama3.1-405B, Mixtral-8x7B, PointPainting and RetinaNet retired.",
        "E2E-RAG (qna and db) and Qwen3.6-27B added; TEST09 also for e2e-rag-qna.",
        "Qwen3-VL becomes Offline plus optional Server or Interactive (Interactive: 1.5 s, 8000 samples, "
        "F1 at least 99% of 0.7878).",
        "Endpoint-harness submissions and nameplate power (systems/<system>_power.yaml) added.",
    ),
    seeds=Seeds(2085463073848966840, 2747215439041700203, 16159082839903944936),
    retire=("llama2-70b-99", "llama3.1-405b", "mixtral-8x7b", "pointpainting", "retinanet"),
    update={
        # Accuracy differs per scenario in v6.1: Offline and Server 0.7903 x 99% over 48289 samples, Interactive
        # 0.7878 x 99% over 8000.
        "qwen3-vl-235b-a22b": {"required_scenarios": {"datacenter": OFF, "datacenter,edge": OFF},
                               "optional_scenarios": {"datacenter": INT_SRV, "datacenter,edge": INT_SRV},
                               "scenario_accuracy": {"Interactive": (0.7878 * 0.99, 8000)}},
    },
    add={
        "qwen3.6-27b": QWEN3_6,
        "e2e-rag-qna": _e2e_rag("e2e-rag-qna", 33.95, 824, ("TEST09",)),
        "e2e-rag-db": _e2e_rag("e2e-rag-db", 98.0, 2515, ()),
    },
)
