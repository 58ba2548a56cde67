"""Compliance verification (TEST01, TEST04, TEST05), written by us from the rules (contract §4).

Each function returns the text of ``verify_*.txt``; the checker looks for ``TEST PASS``.
Scores follow the official scripts: throughput for Offline/Server, 1e9/early-stopping
latency for the stream scenarios ("higher is faster").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from benchfleet.harness.accuracy import read_accuracy_log
from benchfleet.rules.table import RoundRules

_SCORE_LINES = {
    "SingleStream": r".*Early stopping 90(\.0)?th percentile estimate",
    "MultiStream": r".*Early stopping 99(\.0)?th percentile estimate",
    "Server": r"Completed samples per second",
    "Offline": r"Samples per second",
}


@dataclass
class Summary:
    scenario: str
    valid: bool
    score: float  # higher is faster
    latency_ns: float | None


def read_summary(path: str | Path) -> Summary:
    scenario, valid, score, latency = "", False, 0.0, None
    for line in Path(path).read_text().splitlines():
        if line.startswith("Scenario"):
            scenario = line.split(":", 1)[1].strip()
        elif line.startswith("Result is"):
            valid = line.split(":", 1)[1].strip() == "VALID"
        elif scenario and re.match(_SCORE_LINES.get(scenario, "^$"), line):
            value = float(line.split(":", 1)[1].strip())
            if scenario in ("SingleStream", "MultiStream"):
                latency, score = value, 1e9 / value
            else:
                score = value
    if not scenario:
        raise ValueError(f"{path}: no 'Scenario' line; is this an mlperf_log_summary.txt?")
    return Summary(scenario, valid, score, latency)


def _threshold(ref: Summary, base: float) -> float:
    if ref.latency_ns is not None and (
        (ref.scenario == "SingleStream" and ref.latency_ns <= 200_000)
        or (ref.scenario == "MultiStream" and ref.latency_ns <= 1_600_000)
    ):
        return 0.20
    return base


def _header(ref: Summary, test: Summary) -> tuple[list[str], str | None]:
    lines = [f"reference scenario = {ref.scenario}", f"test scenario = {test.scenario}",
             f"reference score = {ref.score}", f"test score = {test.score}"]
    if not ref.valid:
        return lines, "TEST FAIL: Reference results are invalid"
    if not test.valid:
        return lines, "TEST FAIL: Test results are invalid"
    if ref.scenario != test.scenario:
        return lines, "TEST FAIL: Test and reference scenarios do not match"
    return lines, None


def verify_performance(test: str, ref_summary: Path, test_summary: Path, rules: RoundRules) -> str:
    ref, got = read_summary(ref_summary), read_summary(test_summary)
    lines, fail = _header(ref, got)
    if fail:
        return "\n".join(lines + [fail]) + "\n"
    if test == "TEST01":
        t = _threshold(ref, rules.test01_perf_tolerance)
        ok = ref.score * (1 - t) < got.score < ref.score * (1 + t)
    elif test == "TEST04":
        t = _threshold(ref, rules.test04_max_speedup)
        ok = got.score < ref.score * (1 + t)
    elif test == "TEST05":
        t = _threshold(ref, rules.test05_tolerance)
        ok = got.score > ref.score * (1 - t)
    else:
        raise ValueError(test)
    lines.append(f"threshold = {t}")
    lines.append("TEST PASS" if ok else "TEST FAIL: Test score invalid")
    return "\n".join(lines) + "\n"


def verify_accuracy(ref_log: Path, test_log: Path) -> tuple[str, bool]:
    """TEST01: responses logged in the performance run must equal the accuracy run's."""
    ref: dict[int, str] = {}
    dup_mismatch = 0
    for e in read_accuracy_log(ref_log):
        idx = int(e["qsl_idx"])
        if idx in ref and ref[idx] != e["data"]:
            dup_mismatch += 1
        ref.setdefault(idx, e["data"])
    matched = mismatched = missing = 0
    for e in read_accuracy_log(test_log):
        idx = int(e["qsl_idx"])
        if idx not in ref:
            missing += 1
        elif ref[idx] == e["data"]:
            matched += 1
        else:
            mismatched += 1
    ok = matched > 0 and mismatched == 0 and missing == 0 and dup_mismatch == 0
    text = (
        f"num_acc_log_entries = {len(ref)}\nnum_acc_log_data_mismatch = {dup_mismatch}\n"
        f"num_perf_log_qsl_idx_match = {matched + mismatched}\nnum_perf_log_data_mismatch = {mismatched}\n"
        f"num_missing_qsl_idxs = {missing}\n"
        + ("TEST PASS\n" if ok else "TEST FAIL\n")
    )
    return text, ok
