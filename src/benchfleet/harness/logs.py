"""Read LoadGen's ``mlperf_log_detail.txt`` (``:::MLLOG {json}`` lines)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MARK = ":::MLLOG"


class DetailLog:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.messages: list[dict[str, Any]] = []
        for line in self.path.read_text(errors="replace").splitlines():
            if MARK in line:
                try:
                    self.messages.append(json.loads(line.split(MARK, 1)[1]))
                except json.JSONDecodeError:
                    continue
        self.values: dict[str, Any] = {}
        for m in self.messages:
            self.values.setdefault(m.get("key"), m.get("value"))

    def __getitem__(self, key: str) -> Any:
        return self.values.get(key)

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def errors(self) -> list[str]:
        return [str(m.get("value")) for m in self.messages if m.get("metadata", {}).get("is_error")]

    def warnings(self) -> list[str]:
        return [str(m.get("value")) for m in self.messages if m.get("metadata", {}).get("is_warning")]


def metric_key(scenario: str, server_field: str = "result_scheduled_samples_per_sec",
               fields: dict[str, str] | None = None) -> str:
    """The detail-log key of a scenario's result: ``server_field`` is the round's Server key (scheduled samples/s
    up to v4.0, completed from v4.1) and ``fields`` a benchmark's own keys (LLM tokens/s)."""
    if fields and scenario in fields:
        return fields[scenario]
    return {
        "Offline": "result_samples_per_second",
        "SingleStream": "early_stopping_latency_ss",
        "MultiStream": "early_stopping_latency_ms",
        "Server": server_field,
        "Interactive": server_field,
    }[scenario]


def metric(log: DetailLog, folder_scenario: str, server_field: str = "result_scheduled_samples_per_sec",
           fields: dict[str, str] | None = None) -> tuple[float, str]:
    """The scenario's reported metric as the checker of the round derives it, with its unit."""
    logged = log["effective_scenario"]
    if folder_scenario == "Offline" and logged == "SingleStream":
        return float(log["result_qps_without_loadgen_overhead"]), "samples/s (inferred from SingleStream)"
    if folder_scenario == "Offline" and logged == "MultiStream":
        spq = float(log["effective_samples_per_query"])
        return spq * 1000 / (float(log["result_mean_query_latency_ns"]) / 1e6), "samples/s (inferred from MultiStream)"
    key = metric_key(logged, server_field, fields)
    value = float(log[key])
    if key.startswith("early_stopping_latency") or key.endswith("_ns"):  # latencies are logged in ns
        return value / 1e6, "ms"
    return value, "tokens/s" if "tokens" in key else "samples/s"
