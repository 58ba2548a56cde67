"""MLPerf Inference round rules: one table per round."""

from __future__ import annotations

from benchfleet.rules.table import BenchmarkRule, RoundRules
from benchfleet.rules.v3_1 import V3_1

ROUNDS: dict[str, RoundRules] = {V3_1.version: V3_1}


def get_round(version: str) -> RoundRules:
    try:
        return ROUNDS[version]
    except KeyError:
        raise ValueError(
            f"round: unknown MLPerf round {version!r}; known rounds: {', '.join(sorted(ROUNDS))}"
        ) from None


__all__ = ["BenchmarkRule", "RoundRules", "ROUNDS", "get_round"]
