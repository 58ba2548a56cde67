"""Every result of a set of trees as rows with derived metrics, for explorers: JSON and CSV in one documented schema.

Values come from the checker's reading of each tree (``check.Checker``: the metric as the round's checker derives
it, its verdict) and the system descriptions; the price of a cloud system comes from a benchfleet run directory's
``results.json`` when the input is one (numbers only). Nothing else in a tree is trusted.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from benchfleet.jsonvalues import number
from benchfleet.rules import get_round
from benchfleet.submission.check import Checker
from benchfleet.submission.files import run_results, submission_root

SCHEMA_VERSION = 1
# (field, meaning): the order of the CSV's columns and of each JSON row
SCHEMA: tuple[tuple[str, str], ...] = (
    ("round", "the MLPerf Inference round whose rules checked the result (v3.1 ...)"),
    ("source", "the tree or run directory the result came from, as given"),
    ("division", "closed, open or network"),
    ("submitter", "the submitter folder"),
    ("system", "the system id (systems/<id>.json)"),
    ("system_type", "datacenter, edge or both, from the system description"),
    ("processor", "host_processor_model_name"),
    ("cores", "host_processor_core_count x host_processors_per_node (empty when not numbers)"),
    ("accelerator", "accelerator_model_name"),
    ("accelerators", "accelerators_per_node (0: none)"),
    ("benchmark", "the benchmark (or open model) folder"),
    ("scenario", "SingleStream, MultiStream, Offline or Server"),
    ("metric", "the scenario's metric as the round's checker derives it"),
    ("unit", "its unit: ms (SingleStream, MultiStream: latency at the round's percentile), samples/s, tokens/s"),
    ("valid", "the checker's verdict: the run VALID and accuracy met (true/false)"),
    ("quick", "the tree declares quick mode (short runs, not for submission)"),
    ("samples_per_s", "throughput: the metric for Offline/Server, 1000/ms for SingleStream, 8000/ms for "
                      "MultiStream (8 samples a query)"),
    ("samples_per_s_per_accelerator", "samples_per_s / accelerators (empty without accelerators)"),
    ("samples_per_s_per_core", "samples_per_s / cores"),
    ("usd_per_hour", "the instance's price (cloud systems of a benchfleet run directory; else empty)"),
    ("samples_per_s_per_usd_hour", "samples_per_s / usd_per_hour"),
    ("usd_per_million_samples", "what a million samples cost at this rate: usd_per_hour / 3600 / samples_per_s x 1e6"),
)
FIELDS = tuple(name for name, _ in SCHEMA)
_PER_QUERY = {"MultiStream": 8}


def _throughput(scenario: str, metric: float | None, unit: str) -> float | None:
    if not metric:
        return None
    if unit == "ms":
        return _PER_QUERY.get(scenario, 1) * 1000.0 / metric
    return metric


def rows(trees: list[Path], round_version: str = "v3.1", allow_quick: bool = False) -> list[dict]:
    rules = get_round(round_version)
    out: list[dict] = []
    for given in trees:
        checker = Checker(submission_root(Path(given)), rules, allow_quick=allow_quick)
        checker.run()
        out += rows_checked(given, checker)
    return out


def rows_checked(given: Path, checker: Checker) -> list[dict]:
    """The rows of one tree ``checker`` has checked (``given``: the tree or run directory as named)."""
    root, round_version = checker.root, checker.rules.version
    prices = {k: number(r.get("usd_per_hour")) or None for k, r in run_results(Path(given)).items()}
    out: list[dict] = []
    descs: dict[Path, dict] = {}
    for r in checker.report.results:
        scen_dir = Path(r["path"])
        rel = scen_dir.relative_to(root).parts  # division/submitter/results/system/benchmark/scenario
        sub = root / rel[0] / rel[1]
        desc_path = sub / "systems" / f"{rel[3]}.json"
        if desc_path not in descs:
            descs[desc_path] = (checker.guarded(desc_path, checker.read_json, desc_path, default={}) or {}) \
                if checker.is_file(desc_path) else {}
        d = descs[desc_path]
        cores = (_int(d.get("host_processor_core_count")), _int(d.get("host_processors_per_node")))
        ncores = cores[0] * cores[1] if cores[0] and cores[1] else None
        accel = _int(d.get("accelerators_per_node")) or 0
        metric, unit = number(r.get("metric")), str(r.get("unit") or "")
        tput = _throughput(r["scenario"], metric, unit)
        price = prices.get((rel[3], rel[4], r["scenario"]))
        out.append({
            "round": round_version, "source": str(given), "division": rel[0], "submitter": rel[1],
            "system": rel[3], "system_type": str(d.get("system_type", "")),
            "processor": str(d.get("host_processor_model_name", "")), "cores": ncores,
            "accelerator": str(d.get("accelerator_model_name", "")), "accelerators": accel,
            "benchmark": rel[4], "scenario": r["scenario"], "metric": metric, "unit": unit,
            "valid": bool(r.get("valid")), "quick": bool(r.get("quick")), "samples_per_s": tput,
            "samples_per_s_per_accelerator": tput / accel if tput and accel else None,
            "samples_per_s_per_core": tput / ncores if tput and ncores else None,
            "usd_per_hour": price,
            "samples_per_s_per_usd_hour": tput / price if tput and price else None,
            "usd_per_million_samples": price / 3600 / tput * 1e6 if tput and price else None,
        })
    return out


def _int(v: object) -> int | None:
    """An integer field of a system description (numbers, or text holding one: "2")."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str) and v.strip().isdigit():
        return int(v.strip())
    return None


def as_json(data: list[dict]) -> str:
    return json.dumps({"schema_version": SCHEMA_VERSION, "fields": dict(SCHEMA), "results": data}, indent=1) + "\n"


def as_csv(data: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=FIELDS, extrasaction="ignore")
    w.writeheader()
    for row in data:
        # a spreadsheet runs a cell starting with = + - @ as a formula: text from trees gets a leading quote
        w.writerow({k: ("'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@") else
                        "" if v is None else v) for k, v in row.items()})
    return buf.getvalue()
