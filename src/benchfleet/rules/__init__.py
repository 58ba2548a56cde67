"""MLPerf Inference round rules: one table per round, each derived from the round before it."""

from __future__ import annotations

from benchfleet.rules.table import BenchmarkRule, Layout, RoundRules
from benchfleet.rules.v3_1 import V3_1
from benchfleet.rules.v4_0 import V4_0
from benchfleet.rules.v4_1 import V4_1
from benchfleet.rules.v5_0 import V5_0
from benchfleet.rules.v5_1 import V5_1
from benchfleet.rules.v6_0 import V6_0
from benchfleet.rules.v6_1 import V6_1

DEFAULT_ROUND = "v3.1"  # the round of the call for volunteers benchfleet answers
ROUNDS: dict[str, RoundRules] = {r.version: r for r in (V3_1, V4_0, V4_1, V5_0, V5_1, V6_0, V6_1)}


def get_round(version: str) -> RoundRules:
    try:
        return ROUNDS[version]
    except KeyError:
        raise ValueError(
            f"round: unknown MLPerf round {version!r}; known rounds: {', '.join(ROUNDS)}"
        ) from None


def rounds_with(name: str) -> list[str]:
    """The rounds that have benchmark ``name`` (a results folder name or an alias), oldest first."""
    return [v for v, r in ROUNDS.items() if r.has(name)]


def where_is(name: str, version: str) -> str:
    """Why ``name`` is not a benchmark of round ``version``: the rounds that have it, or that no round does."""
    have = rounds_with(name)
    if not have:
        return f"no round from {next(iter(ROUNDS))} to {list(ROUNDS)[-1]} has a benchmark {name!r}"
    order = list(ROUNDS)
    first, last = have[0], have[-1]
    if order.index(version) < order.index(first):
        return f"{name} was added in {first} (rounds with it: {', '.join(have)})"
    if order.index(version) > order.index(last):
        return f"{name} was retired after {last} (rounds with it: {', '.join(have)})"
    return f"rounds with {name}: {', '.join(have)}"


__all__ = ["BenchmarkRule", "DEFAULT_ROUND", "Layout", "RoundRules", "ROUNDS", "get_round", "rounds_with",
           "where_is"]


def power_sources(name: str) -> list[dict[str, str]]:
    """The versions of MLCommons' power client/server sources a round accepts (``PowerRules.sources``): one
    {path under ptd_client_server/: SHA-1} per version."""
    import json
    from importlib import resources

    return json.loads(resources.files("benchfleet.rules").joinpath("power_sources", f"{name}.json").read_text())
