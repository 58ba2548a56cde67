"""Power results: what a power performance folder holds, its metric, and what the round's power check verifies.

A result is a power result when its performance folder has ``power/`` (the round's submission checker decides the
same way). MLCommons' power client and server (``mlcommons/power-dev``) write, around two LoadGen runs measured by a
power analyzer through SPEC PTDaemon::

    performance/ranging/  the ranging run (the analyzer's ranges found): mlperf_log_summary.txt,
                          mlperf_log_detail.txt, spl.txt (the analyzer's samples)
    performance/run_1/    the testing run, the one the result is: the same three files
    performance/power/    client.json, client.log, ptd_logs.txt, server.json, server.log

The metric (the submission checker's ``get_power_metric``): the mean of the testing run's samples with watts > 0
whose time lies strictly inside LoadGen's ``power_begin``..``power_end`` (UTC); watts for Offline and Server;
for SingleStream and MultiStream the energy per query in millijoules (mean watts x duration x 1000 / queries; a
MultiStream result inferred from SingleStream counts 8 samples a query), with samples (or queries) per joule
beside it.

``verify`` applies, as the round's ``power_checker.py`` does and in its order, the checks it names: sources
checksum, PTD messages, UUID, session name, time difference, client/server messages, results checksum, PTD logs,
PTD config and debug mode. Written by benchfleet from those rules (``rules.table.PowerRules`` holds each round's
values and ``rules/power_sources/`` the source checksums the round accepts); none of MLCommons' code runs here.
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from benchfleet.harness.power_layout import POWER_FILES, RUN_FILES, RUNS  # noqa: F401 - re-exported
from benchfleet.rules import power_sources
from benchfleet.rules.table import PowerRules

RUN_OPTIONAL = ("mlperf_log_accuracy.json", "mlperf_log_trace.json", "results.json", ".gitkeep")
POWER_OPTIONAL = ("mlperf_log_trace.json", "results.json", ".gitkeep")
# the files whose SHA-1 the client and server record (client.json and server.json themselves are not compared)
HASHED = tuple(f"power/{f}" for f in ("client.log", "ptd_logs.txt", "server.log")) + tuple(
    f"{run}/{f}" for run in RUNS for f in RUN_FILES)
SESSION_FIELDS = ("version", "timezone", "modules", "sources", "messages", "uuid", "session_name", "results",
                  "phases")
TIME_FORMAT = "%m-%d-%Y %H:%M:%S.%f"
_STAMP = re.compile(r"(\d*-\d*-\d* \d*:\d*:\d*\.\d*)")
_PTD_STAMP = re.compile(r"^(\d\d-\d\d-\d\d\d\d \d\d:\d\d:\d\d.\d\d\d)")
GO_REPLY = "Starting untimed measurement, maximum 500000 samples at 1000ms with 0 rampup samples"
# errors PTDaemon logs while ranging that are expected there (others during ranging are warnings for audit)
RANGING_ERRORS = ("Can't evaluate uncertainty of this sample!", "Bad watts reading nan from ",
                  "Bad amps reading nan from ", "Bad pf reading nan from ", "Bad volts reading nan from ",
                  "Current appears to be too high for set range")
TESTING_ERRORS = ("USB.",)  # accepted (as a warning) whenever it occurs
UNCERTAINTY_OVER = re.compile(r"Uncertainty \d+.\d+%, which is above 1.00% limit for the last sample!")
SAMPLES_PER_QUERY = {"SingleStream": 1, "MultiStream": 8}


class Failed(Exception):
    """One power check failed: the result is not valid."""


class ForAudit(Exception):
    """One power check passed with something an auditor should look at (the power checker's warning)."""


@dataclass
class Session:
    """What the caller read from one power folder: client.json and server.json (parsed), ptd_logs.txt, each run's
    detail log values (power_begin, power_end) and spl.txt, and the SHA-1 of each file under performance/."""

    client: dict[str, Any]
    server: dict[str, Any]
    ptd_log: str
    windows: dict[str, tuple[str | None, str | None]]  # run -> (power_begin, power_end) as LoadGen logs them
    spl: dict[str, str]  # run -> spl.txt
    hashes: dict[str, str]  # relative path under performance/ -> sha1


@dataclass
class Verdict:
    passed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (check, why)
    audit: list[tuple[str, str]] = field(default_factory=list)  # (check, what to look at)

    @property
    def ok(self) -> bool:
        return not self.failed


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()  # noqa: S324 - the power tooling's own choice of digest


def accepted_sources(rules: PowerRules) -> list[dict[str, str]]:
    """The source checksums the round accepts (one dict per accepted version of the power client/server)."""
    return power_sources(rules.sources)


def _epoch(stamp: str | None) -> float:
    if not stamp:
        raise Failed("LoadGen's power_begin/power_end are not logged")
    if len(str(stamp)) > 64:  # a time is 23 characters; a longer value is not read (nor searched)
        raise Failed(f"cannot read the time {str(stamp)[:40]!r}...")
    m = _STAMP.search(str(stamp))
    if not m:
        raise Failed(f"cannot read the time {str(stamp)[:40]!r}")
    return datetime.strptime(m.group(1), TIME_FORMAT).replace(tzinfo=timezone.utc).timestamp()


def samples(spl: str, begin: float, end: float, rules: PowerRules, with_pf: bool = False
            ) -> tuple[list[float], list[float]]:
    """The watts (> 0) and, ``with_pf`` (the power checker reads them), the power factors (> 0) of the analyzer's
    samples strictly inside (begin, end). As the round's checkers read spl.txt: every line is a sample (from v4.0
    only lines starting with Time), and one that cannot be read fails the check (IndexError, ValueError); a value
    that is not finite fails it too."""
    watts, pfs = [], []
    for line in spl.splitlines():
        if rules.spl_time_lines_only and not line.startswith("Time"):
            continue
        parts = line.split(",")
        t = datetime.strptime(parts[1], TIME_FORMAT).replace(tzinfo=timezone.utc).timestamp()
        if begin < t < end:
            w = float(parts[3])
            pf = float(parts[9]) if with_pf else 0.0
            if not (math.isfinite(w) and math.isfinite(pf)):
                raise Failed(f"spl.txt has a sample that is not a number: {line[:120]!r}")
            if w > 0:
                watts.append(w)
            if pf > 0:
                pfs.append(pf)
    return watts, pfs


@dataclass
class PowerMetric:
    value: float
    unit: str  # Watts | millijoules
    efficiency: float  # samples (or queries) per joule
    mean_watts: float
    samples: int


def metric(scenario: str, logged_scenario: str, performance: float | None, window: tuple[str | None, str | None],
           spl: str, query_count: int | None, rules: PowerRules) -> PowerMetric:
    """The power metric of a testing run, as the round's checker computes it; Failed when no sample falls inside
    LoadGen's window."""
    begin, end = _epoch(window[0]), _epoch(window[1])
    watts, _ = samples(spl, begin, end, rules)
    if not watts:
        raise Failed(f"spl.txt has no power samples inside LoadGen's power window {window[0]} - {window[1]}")
    mean = sum(watts) / len(watts)
    if scenario in ("Offline", "Server"):
        if not performance:
            raise Failed("the performance metric is missing: samples per joule cannot be computed")
        return PowerMetric(mean, "Watts", performance / mean, mean, len(watts))
    if not query_count:
        raise Failed("result_query_count is not logged: the energy per query cannot be computed")
    per_query = SAMPLES_PER_QUERY.get(scenario, 1)
    factor = per_query if scenario == "MultiStream" and logged_scenario == "SingleStream" else 1
    value = mean * (end - begin) * factor * 1000 / int(query_count)
    return PowerMetric(value, "millijoules", per_query * 1000 / value, mean, len(watts))


# ---- the power checker's checks ----------------------------------------------------------------------------------
def _sources(who: str) -> Any:
    def check(s: Session, rules: PowerRules) -> None:
        sd = s.client if who == "client" else s.server
        if sd.get("sources") not in accepted_sources(rules):
            raise Failed(f"{who}.json's sources are not an accepted version of MLCommons' power client/server for "
                         f"this round (rules/power_sources/{rules.sources}.json); use the power-dev release the round "
                         "names")
    return check


def _ptd_messages(s: Session, rules: PowerRules) -> None:
    msgs = s.server.get("ptd_messages")
    if not isinstance(msgs, list) or not all(isinstance(m, dict) and isinstance(m.get("cmd"), str)
                                             and isinstance(m.get("reply"), str) for m in msgs):
        raise Failed("server.json has no ptd_messages list of commands and replies")

    def reply(cmd: str) -> str:
        return next((m["reply"] for m in msgs if m["cmd"] == cmd), "")

    identify = reply("Identify")[:4096]
    if not identify:
        raise Failed("PTDaemon never answered Identify")
    model = identify.split(",")[0]
    found = re.search(r"(?<=version=)(.+?)-", identify)
    version = found.group(1) if found else ""
    if version not in rules.ptd_versions:
        raise Failed(f"PTDaemon version {version!r} is not accepted; the round accepts {', '.join(rules.ptd_versions)}")
    if model not in rules.analyzers:
        raise Failed(f"power analyzer {model!r} is not accepted; the round accepts {', '.join(rules.analyzers)}")
    # the replies each kind of command must have, in the power checker's order of kinds; from the third Stop on,
    # "Error: no measurement to stop" (the server's last Stop finds nothing running)
    for prefix, want in (("SR,A", "Range A changed"), ("SR,V", "Range V changed"), ("Go,1000,", GO_REPLY),
                         ("Stop", "Stopping untimed measurement")):
        stops = 0
        for m in msgs:
            if not m["cmd"].startswith(prefix):
                continue
            if m["cmd"] == "Stop":
                if stops == 2:
                    want = "Error: no measurement to stop"
                stops += 1
            if m["reply"] != want:
                raise Failed(f"PTDaemon's reply to {m['cmd']!r} is {m['reply']!r}, not {want!r}")

    def initial(pos: int, ranges: str) -> str:
        parts = ranges.split(",")
        try:
            return parts[pos + 1] if parts[pos] == "0" and float(parts[pos + 1]) > 0 else "Auto"
        except (ValueError, IndexError):
            raise Failed(f"cannot read the analyzer's initial ranges from {ranges!r}") from None

    if len(msgs) < 3:
        raise Failed("server.json's ptd_messages are too few to hold the analyzer's initial ranges")
    ranges = msgs[2]["reply"]
    for what, pos in (("SR,A", 1), ("SR,V", 3)):
        third = [m["cmd"] for m in msgs if m["cmd"].startswith(what)][2:3]
        if not third:
            raise Failed(f"there is no third {what} command (the ranges set back when the session is done)")
        if third[0] != f"{what},{initial(pos, ranges)}":
            raise Failed(f"the analyzer's range was not set back to its initial value: {third[0]!r}, expected "
                         f"'{what},{initial(pos, ranges)}'")


def _uuid(s: Session, rules: PowerRules) -> None:
    for key in ("client", "server"):
        try:
            same = uuid.UUID(str(s.client["uuid"][key])) == uuid.UUID(str(s.server["uuid"][key]))
        except (KeyError, TypeError, ValueError):
            raise Failed(f"the {key} uuid cannot be read from client.json and server.json") from None
        if not same:
            raise Failed(f"the {key} uuid of client.json and server.json differ: they are not one session")


def _session_name(s: Session, rules: PowerRules) -> None:
    if s.client.get("session_name") != s.server.get("session_name"):
        raise Failed(f"session names differ: client {s.client.get('session_name')!r}, server "
                     f"{s.server.get('session_name')!r}")


def _time(v: object) -> float:
    """A phase's time as the power checker takes it: a JSON number (a string or a boolean fails the check)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise Failed(f"a phase time is {type(v).__name__}, not a number")
    return float(v)


def _phases(s: Session, rules: PowerRules) -> None:
    tol = rules.time_tolerance_ms / 1000
    for mode in ("ranging", "testing"):
        pc, ps = s.client["phases"][mode], s.server["phases"][mode]
        if len(pc) != len(ps):
            raise Failed(f"client and server log a different number of {mode} phases")
        for i, (a, b) in enumerate(zip(pc, ps, strict=True)):
            diff = abs(_time(a[0]) - _time(b[0]))
            if not diff <= tol:  # (NaN fails, as the power checker's assert does)
                raise Failed(f"client and server clocks differ by {diff * 1000:.0f} ms at {mode} phase {i + 1} (at "
                             f"most {rules.time_tolerance_ms} ms)")
    spans = {}
    for run, mode in (("ranging", "ranging"), ("run_1", "testing")):
        begin, end = _epoch(s.windows[run][0]), _epoch(s.windows[run][1])
        phases = s.client["phases"][mode]
        for what, t in (("begin", begin), ("end", end)):
            lo, hi = _time(phases[1][0]), _time(phases[2][0])
            if not (lo < t < hi or lo < t - 3600 < hi):
                raise Failed(f"LoadGen's {run} power_{what} is outside the power session's {mode} interval: the logs "
                             "are not this session's")
        spans[run] = (begin, end)
    # the power checker's order: a much shorter testing run ends the check for audit before the power is compared
    ranging_s, testing_s = spans["ranging"][1] - spans["ranging"][0], spans["run_1"][1] - spans["run_1"][0]
    if (ranging_s - testing_s) / ranging_s > 0.5:  # (a ranging run of no length fails: ZeroDivisionError)
        raise ForAudit(f"the testing run ({testing_s:.2f} s) is more than 50% shorter than the ranging run "
                       f"({ranging_s:.2f} s)")
    watts = {}
    for run, (begin, end) in spans.items():
        w, _ = samples(s.spl[run], begin, end, rules, with_pf=True)
        watts[run] = round(sum(w) / len(w), 5) if w else -1.0
    delta = round((watts["run_1"] / watts["ranging"] - 1) * 100, 2)
    if not delta > -rules.max_ranging_power_drop * 100:
        raise Failed(f"the testing run's mean power ({watts['run_1']} W) is {-delta}% below the ranging run's "
                     f"({watts['ranging']} W): more than {rules.max_ranging_power_drop:.0%}")


def _messages(s: Session, rules: PowerRules) -> None:
    mc, ms = s.client["messages"], s.server["messages"]
    for who, msgs in (("client", mc), ("server", ms)):
        if not isinstance(msgs, list) or not all(isinstance(m, dict) and isinstance(m.get("cmd"), str)
                                                 and isinstance(m.get("reply"), str) for m in msgs):
            raise Failed(f"{who}.json's messages are not a list of commands and replies")
    if len(mc) != len(ms):
        raise Failed(f"client.json has {len(mc)} messages, server.json {len(ms)}")
    for a, b in zip(mc, ms, strict=True):
        if a["cmd"] != b["cmd"]:
            raise Failed(f"client sent {a['cmd']!r} where the server logs {b['cmd']!r}")
        if a["cmd"] != "time" and a["reply"] != b["reply"]:
            raise Failed(f"client and server log different replies to {a['cmd']!r}")
    c = re.search(r"mlcommons\/power client v(\d+)$", str(ms[0]["cmd"])) if ms else None
    v = re.search(r"mlcommons\/power server v(\d+)$", str(ms[0]["reply"])) if ms else None
    if not c or not v:
        raise Failed("the session does not open with the power client's and server's versions")
    if c.group(1) != v.group(1):
        raise Failed(f"power client v{c.group(1)} talked to power server v{v.group(1)}")


def _results(s: Session, rules: PowerRules) -> None:
    wanted = set(HASHED)
    rs = {k: v for k, v in s.server["results"].items() if k in wanted}
    rc = {k: v for k, v in s.client["results"].items() if k in wanted}
    for k in rs.keys() & rc.keys():
        if rs[k] != rc[k]:
            raise Failed(f"client.json and server.json record different checksums for {k}")
    recorded = {**rc, **rs}
    present = {k: v for k, v in s.hashes.items() if k in wanted}
    missing, extra = sorted(recorded.keys() - present.keys()), sorted(present.keys() - recorded.keys())
    if missing:
        raise Failed(f"{', '.join(missing)} recorded by the power session but missing from the folder")
    if extra:
        raise Failed(f"{', '.join(extra)} not recorded by the power session")
    changed = sorted(k for k in recorded if recorded[k] != present[k])
    if changed:
        raise Failed(f"{', '.join(changed)} differ from what the power session recorded (SHA-1): the files are not "
                     "the ones measured")
    absent = sorted(wanted - recorded.keys())
    if absent:
        raise Failed(f"{', '.join(absent)} are not among the power session's results")


def _ptd_time(line: str) -> float | None:
    m = _PTD_STAMP.search(line)
    if not m:
        return None
    return datetime.strptime(m.group(1), TIME_FORMAT).replace(tzinfo=timezone.utc).timestamp()


def _ptd_logs(s: Session, rules: PowerRules) -> None:
    try:
        int(s.server["timezone"])  # as the power checker reads it
    except (TypeError, ValueError, OverflowError):
        raise Failed(f"server.json's timezone {str(s.server['timezone'])[:40]!r} is not a number of seconds") from None
    lines = s.ptd_log.splitlines()
    mark = f": Go with mark {str(s.server['session_name']) + '_ranging'!r}"
    start = stop = None
    for line in lines:
        t = _ptd_time(line)
        if t is None:
            continue
        msg = line[_PTD_STAMP.search(line).end():].strip()
        if start is None and msg == mark:
            start = t
        elif start is not None and msg == ": Completed test":
            stop = t
            break
    if start is None or stop is None:
        raise Failed("ptd_logs.txt does not show the ranging run (its Go with mark ..._ranging and Completed test)")
    activated = next((line for line in lines if re.search(r"Uncertainty checking for Yokogawa\S+ is activated",
                                                          line)), None)
    if activated is None:
        raise Failed("ptd_logs.txt does not show that uncertainty checking was activated")
    t = _ptd_time(activated)
    if t is None or not t < start:
        raise Failed("uncertainty checking was activated after the ranging run had started")
    load_begin, load_end = _epoch(s.windows["run_1"][0]), _epoch(s.windows["run_1"][1])
    margin = rules.time_tolerance_ms  # the power checker adds the tolerance's milliseconds to epoch seconds
    for line in lines:
        for kind in ("WARNING", "ERROR"):
            m = re.search(f"(?<={kind}:).+", line)
            if not m:
                continue
            t = _ptd_time(line)
            if t is None:
                raise Failed(f"{line.strip()[:120]!r} in ptd_logs.txt has no time")
            what = m.group(0).strip()
            if kind == "ERROR":
                if what in TESTING_ERRORS:
                    raise ForAudit(f"{line.strip()[:160]!r} (accepted)")
                if not start < t < stop:
                    raise Failed(f"{line.strip()[:160]!r}: an analyzer error outside the ranging run")
                if not any(what.startswith(e) for e in RANGING_ERRORS):
                    raise ForAudit(f"{line.strip()[:160]!r} during the ranging run")
            elif load_begin + margin < t < load_end - margin:
                if UNCERTAINTY_OVER.search(what):
                    raise Failed(f"{line.strip()[:160]!r} during the testing run")
                raise ForAudit(f"{line.strip()[:160]!r} during the testing run")


def _ptd_config(s: Session, rules: PowerRules) -> None:
    cfg = s.server.get("ptd_config")
    if not isinstance(cfg, dict):
        raise Failed("server.json has no ptd_config")
    device = cfg.get("device_type")
    if device not in rules.analyzers.values():
        raise Failed(f"analyzer device number {device!r} is not accepted; the round accepts "
                     f"{', '.join(str(n) for n in sorted(set(rules.analyzers.values())))}")
    if device == rules.multichannel_device:
        cmd = [str(c) for c in cfg.get("command") or []]
        channels = cmd[cmd.index("-c") + 1] if "-c" in cmd[:-1] else ""
        if len(channels.split(",")) != 2 or len(cfg.get("channel") or []) != 2:
            raise Failed("a multichannel analyzer measured one channel")


def _debug(s: Session, rules: PowerRules) -> None:
    if s.server.get("debug", False) is not False:
        raise Failed("the power server ran in debug mode")


CHECKS = (
    ("Check client sources checksum", _sources("client")),
    ("Check server sources checksum", _sources("server")),
    ("Check PTD commands and replies", _ptd_messages),
    ("Check UUID", _uuid),
    ("Check session name", _session_name),
    ("Check time difference", _phases),
    ("Check client server messages", _messages),
    ("Check results checksum", _results),
    ("Check errors and warnings from PTD logs", _ptd_logs),
    ("Check PTD configuration", _ptd_config),
    ("Check debug is disabled on server-side", _debug),
)


def verify(s: Session, rules: PowerRules) -> Verdict:
    """Every check of the round's power checker on one power session; a check that cannot read what it needs
    fails, naming what."""
    v = Verdict()
    for who, sd in (("client.json", s.client), ("server.json", s.server)):
        absent = [k for k in SESSION_FIELDS if k not in sd]
        if absent:
            v.failed.append(("Check session descriptors", f"{who} lacks {', '.join(absent)}"))
    if v.failed:
        return v
    for name, check in CHECKS:
        try:
            check(s, rules)
        except Failed as exc:
            v.failed.append((name, str(exc)))
        except ForAudit as exc:
            v.passed.append(name)
            v.audit.append((name, str(exc)))
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, ZeroDivisionError) as exc:
            v.failed.append((name, f"cannot be read ({type(exc).__name__}: {str(exc)[:160]})"))
        else:
            v.passed.append(name)
    return v
