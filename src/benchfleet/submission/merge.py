"""Merge submission trees of one round, from benchfleet runs and anyone else, into one tree.

Each input is checked first (``check.Checker``; quick-mode trees only with ``allow_quick``) and refused with its
errors when it does not pass: a tree from a stranger may hold links, devices or paths that leave it, and the checker
reports every such thing without following it. What passes is copied, regular files only, never changed, with two
exceptions the rules need: a submitter renamed with ``submitter`` gets its name in each system description's
``submitter`` field, and ``model_mapping.json`` files of one submitter are joined.

Conflicts are errors that name both inputs: one system id with two different descriptions; two results for the same
division, submitter, system, benchmark and scenario (unless ``prefer`` says which wins: ``newest`` by the LoadGen
log's test_datetime, ``best`` by the metric); two ``model_mapping.json`` entries mapping one model differently. A result
is the scenario's folders together (results/, measurements/ and compliance/, or results/ alone from v6.0): never half of
one result and half of another.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from benchfleet.rules import get_round
from benchfleet.submission.check import Checker, Report
from benchfleet.submission.files import TreeFileError, copy_regular, submission_root

PREFER = ("newest", "best")
LATENCY_SCENARIOS = ("SingleStream", "MultiStream")  # lower is better; the others are throughputs


class MergeError(ValueError):
    """An input that cannot be merged, or a conflict between inputs; the message names them and the fix."""


@dataclass
class _Result:
    source: Path  # the input's submission root
    division: str
    submitter: str  # in the input
    system: str
    benchmark: str
    scenario: str
    metric: float | None
    tested_at: str  # LoadGen's test_datetime of the performance run


@dataclass
class MergeOutcome:
    out: Path
    inputs: list[str]
    results: int
    replaced: list[str] = field(default_factory=list)  # results a --prefer choice left out, and why
    warnings: list[str] = field(default_factory=list)
    report: Report | None = None  # the merged tree's check


def _test_datetime(text: str) -> str:
    """LoadGen's test_datetime of a detail log (ISO 8601 UTC, "2026-12-03T11:55:06Z"; "" when not logged). The
    lines' time_ms counts from the test's start: it says nothing about which of two runs is newer."""
    for line in text.splitlines():
        if '"test_datetime"' in line and ":::MLLOG" in line:
            try:
                value = json.loads(line.split(":::MLLOG", 1)[1]).get("value")
            except ValueError:
                return ""
            return value if isinstance(value, str) and len(value) <= 40 else ""
    return ""


class _Merger:
    def __init__(self, round_version: str, prefer: str | None, submitter: str | None, allow_quick: bool):
        if prefer is not None and prefer not in PREFER:
            raise MergeError(f"--prefer: {prefer!r} is not one of {', '.join(PREFER)}")
        if submitter is not None and (not submitter or "/" in submitter or submitter.startswith(".")
                                      or " " in submitter):
            raise MergeError(f"--submitter: {submitter!r} is not a folder name; give your organisation's name "
                             "without spaces, e.g. MyLab")
        self.rules = get_round(round_version)
        self.prefer, self.rename, self.allow_quick = prefer, submitter, allow_quick
        self.systems: dict[tuple[str, str, str], tuple[dict, Path]] = {}  # (div, sub, system) -> desc, from
        self.results: dict[tuple[str, str, str, str, str], _Result] = {}
        self.mappings: dict[tuple[str, str], tuple[dict[str, str], dict[str, Path]]] = {}
        self.replaced: list[str] = []
        self.warnings: list[str] = []

    def target(self, submitter: str) -> str:
        return self.rename or submitter

    def check(self, root: Path) -> Checker:
        checker = Checker(root, self.rules, allow_quick=self.allow_quick)
        report = checker.run()
        if not report.ok:
            first = "; ".join(str(f) for f in report.errors[:3])
            more = f" (and {len(report.errors) - 3} more)" if len(report.errors) > 3 else ""
            hint = "" if self.allow_quick or "QUICK MODE" not in first else \
                " (a quick-mode tree: --allow-quick merges it as a practice tree, not for submission)"
            raise MergeError(f"{root}: does not pass the {self.rules.version} check: {first}{more}{hint}; fix it "
                             "(benchfleet check) or leave it out")
        return checker

    def collect(self, root: Path) -> None:
        checker = self.check(root)
        for r in checker.report.results:
            rel = Path(r["path"]).relative_to(root).parts  # division/submitter/results/system/benchmark/scenario
            division, submitter, system, benchmark, scenario = rel[0], rel[1], rel[3], rel[4], rel[5]
            perf = Path(r["path"]) / "performance" / "run_1" / "mlperf_log_detail.txt"
            tested_at = _test_datetime(checker.read_text(perf)) if checker.is_file(perf) else ""
            metric = r.get("metric") if isinstance(r.get("metric"), int | float) else None
            self.add(_Result(root, division, submitter, system, benchmark, scenario, metric, tested_at))
        for div in checker.subdirs(root):
            for sub in checker.subdirs(div):
                for sj in checker.children(sub / "systems"):
                    if sj.suffix == ".json" and checker.is_file(sj):
                        self.add_system(div.name, sub.name, sj.stem, checker.read_json(sj), root)
                mapping = sub / "model_mapping.json"
                if checker.is_file(mapping):
                    self.add_mapping(div.name, sub.name, checker.read_json(mapping), root)

    def add_system(self, division: str, submitter: str, system: str, desc: dict, source: Path) -> None:
        key = (division, self.target(submitter), system)
        if self.rename:
            desc = dict(desc, submitter=self.rename)
        if key in self.systems:
            seen, where = self.systems[key]
            if seen != desc:
                diff = sorted(k for k in set(seen) | set(desc) if seen.get(k) != desc.get(k))
                raise MergeError(f"system {system} of {key[1]} ({division}) is described differently in {where} and "
                                 f"{source} ({', '.join(diff[:5])}{' ...' if len(diff) > 5 else ''}): a system id "
                                 "names one system; give one of them another id, or correct the description")
            return
        self.systems[key] = (desc, source)

    def add_mapping(self, division: str, submitter: str, mapping: dict, source: Path) -> None:
        joined, where = self.mappings.setdefault((division, self.target(submitter)), ({}, {}))
        for model, bench in mapping.items():
            if model in joined and joined[model] != bench:
                raise MergeError(f"model_mapping.json maps {model} to {joined[model]} in {where[model]} and to "
                                 f"{bench} in {source}: one model, one benchmark")
            joined[model], where[model] = bench, source

    def add(self, r: _Result) -> None:
        key = (r.division, self.target(r.submitter), r.system, r.benchmark, r.scenario)
        name = "/".join(key)
        old = self.results.get(key)
        if old is None:
            self.results[key] = r
            return
        if self.prefer is None:
            raise MergeError(f"two results for {name}: in {old.source} and in {r.source}; keep one "
                             "(--prefer newest or --prefer best), or leave one input out")
        if self.prefer == "newest":
            win = r if r.tested_at > old.tested_at else old
            why = f"newer LoadGen test_datetime ({win.tested_at or 'not logged'})"
        else:
            lower = r.scenario in LATENCY_SCENARIOS
            a, b = r.metric, old.metric
            better = a is not None and (b is None or (a < b if lower else a > b))
            win = r if better else old
            why = f"better metric ({win.metric} against {(old if win is r else r).metric})"
        lose = old if win is r else r
        self.results[key] = win
        self.replaced.append(f"{name}: kept {win.source} ({why}), left out {lose.source}")

    def write(self, out: Path) -> int:
        layout = self.rules.layout
        files = 0
        used: set[tuple[Path, str, str]] = set()  # (source, division, submitter) whose shared folders are copied
        for (division, target, system, bench, scen), r in sorted(self.results.items()):
            src_sub, dst_sub = r.source / division / r.submitter, out / division / target
            parts = [src_sub / "results" / system / bench / scen]
            if not layout.in_results:
                parts += [layout.measurements_dir(src_sub, system, bench, scen),
                          layout.compliance_dir(src_sub, system, bench, scen)]
            for src in parts:
                if src.is_dir():
                    files += copy_regular(src, dst_sub / src.relative_to(src_sub))
            used.add((r.source, division, r.submitter))
        for source, division, submitter in sorted(used):
            src_sub, dst_sub = source / division / submitter, out / division / self.target(submitter)
            # the code of each benchmark and the submitter's documents: what one input has and the others lack
            for folder in (layout.code_folder, "documentation"):
                if (src_sub / folder).is_dir() and not (src_sub / folder).is_symlink():
                    files += copy_regular(src_sub / folder, dst_sub / folder, missing_only=True)
            for doc in ("calibration.md", "README.md"):
                src, dst = src_sub / doc, dst_sub / doc
                if src.is_file() and not src.is_symlink() and not dst.exists():
                    shutil.copyfile(src, dst, follow_symlinks=False)
                    files += 1
        for (division, target, system), (desc, _) in sorted(self.systems.items()):
            if any(k[:3] == (division, target, system) for k in self.results):
                path = out / division / target / "systems" / f"{system}.json"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(desc, indent=2) + "\n")
                files += 1
        for (division, target), (mapping, _) in sorted(self.mappings.items()):
            if (out / division / target).is_dir():
                (out / division / target / "model_mapping.json").write_text(json.dumps(mapping, indent=2) + "\n")
                files += 1
        return files


def merge(inputs: list[Path], out: Path, *, round_version: str = "v3.1", prefer: str | None = None,
          submitter: str | None = None, allow_quick: bool = False, log=print) -> MergeOutcome:
    """One tree at ``out`` (which must not exist, or be an empty folder) from ``inputs``; MergeError names what
    is wrong. The merged tree is written beside ``out`` and moved into place once it is whole."""
    if not inputs:
        raise MergeError("give one or more trees (folders holding closed/ or open/) or benchfleet run directories")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise MergeError(f"--out: {out} exists and is not an empty folder; choose a new folder (nothing is merged "
                         "into an existing tree)")
    m = _Merger(round_version, prefer, submitter, allow_quick)
    roots = []
    for p in inputs:
        root = submission_root(Path(p))
        if not root.is_dir():
            raise MergeError(f"{p}: not a folder; pass a tree holding closed/ or open/, or a benchfleet run directory")
        if any(root.resolve() == r.resolve() for r in roots):
            raise MergeError(f"{p}: given twice")
        roots.append(root)
        log(f"merge: checking {root}")
        m.collect(root)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.merging-", dir=out.parent))
    try:
        try:
            m.write(tmp)
        except TreeFileError as exc:
            raise MergeError(str(exc)) from None
        report = Checker(tmp, m.rules, allow_quick=allow_quick).run()
        if not report.ok:
            first = "; ".join(str(f).replace(str(tmp), str(out)) for f in report.errors[:3])
            raise MergeError(f"the merged tree does not pass the {m.rules.version} check: {first}; nothing was "
                             "written")
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for line in m.replaced:
        log(f"merge: {line}")
    # the check made in the temporary folder, its paths moved to where the tree now is (not a second check)
    for f in report.findings:
        f.path = f.path.replace(str(tmp), str(out), 1)
    for r in report.results:
        r["path"] = r["path"].replace(str(tmp), str(out), 1)
    return MergeOutcome(out, [str(r) for r in roots], len(m.results), m.replaced, m.warnings, report)
