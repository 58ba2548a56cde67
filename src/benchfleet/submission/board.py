"""The contributor board: points per submitter and system, by the call for volunteers' rule.

One point per benchmark with valid, complete results on one system: every scenario its system type requires in the
round (``BenchmarkRule.scenarios_for``), each VALID with its accuracy met, and nothing the checker calls an ERROR in
the benchmark's results, measurements or compliance folders or in the system's description (closed: the compliance
tests passed). Every tree is checked first with this package's checker (``check.Checker``): the board never trusts
a summary line the checker did not read. Trees may come from anyone: names are read, never followed out of the tree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchfleet.rules import get_round
from benchfleet.safetext import for_terminal
from benchfleet.submission.check import SCENARIO_MAPPING, Checker
from benchfleet.submission.files import submission_root

# where a benchmark's findings live, below a submitter folder (v3.1 to v5.1 layouts; v6.0 keeps all in results/)
_BENCHMARK_FOLDERS = ("results", "measurements", "compliance")


@dataclass
class Entry:
    """One benchmark on one system of one submitter: a point, or why not."""

    tree: str
    division: str
    submitter: str
    system: str
    benchmark: str
    system_type: str
    scenarios: dict[str, bool] = field(default_factory=dict)  # scenario found -> VALID with accuracy met
    point: bool = False
    why: str = ""  # the first reason there is no point


@dataclass
class Board:
    round: str
    entries: list[Entry]
    checked: list[str]  # the trees, as given
    quick_allowed: bool = False

    def points(self) -> dict[tuple[str, str], int]:
        """(submitter, system) -> points."""
        out: dict[tuple[str, str], int] = {}
        for e in self.entries:
            out[(e.submitter, e.system)] = out.get((e.submitter, e.system), 0) + int(e.point)
        return out

    def by_submitter(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for (submitter, _), n in self.points().items():
            out[submitter] = out.get(submitter, 0) + n
        return out

    def as_dict(self) -> dict:
        return {"round": self.round, "trees": self.checked, "quick_allowed": self.quick_allowed,
                "submitters": self.by_submitter(),
                "systems": [{"submitter": s, "system": y, "points": n} for (s, y), n in sorted(self.points().items())],
                "benchmarks": [asdict(e) for e in self.entries]}


def _inside(path: str, folders: list[str]) -> bool:
    return any(path == f or path.startswith(f + "/") for f in folders)


def score_tree(root: Path, round_version: str = "v3.1", allow_quick: bool = False) -> list[Entry]:
    """Every benchmark of every system in one tree, with its point or the reason it has none."""
    checker = Checker(root, get_round(round_version), allow_quick=allow_quick)
    checker.run()
    return score_checked(checker)


def score_checked(checker: Checker) -> list[Entry]:
    """``score_tree`` of a tree ``checker`` has checked (its report is read, not made again)."""
    root, rules, report = checker.root, checker.rules, checker.report
    errors = [(f.path, f.message) for f in report.errors]
    results: dict[str, dict[str, bool]] = {}  # results/<system>/<benchmark> folder -> scenario -> valid
    for r in report.results:
        folder = str(Path(r["path"]).parent)
        results.setdefault(folder, {})[r["scenario"]] = bool(r.get("valid"))
    entries: list[Entry] = []
    for div in checker.subdirs(checker.root):
        if div.name not in rules.divisions:
            continue
        for sub in checker.subdirs(div):
            mapping = checker.guarded(sub, checker._model_mapping, sub, default={}) or {}
            for sysdir in checker.subdirs(sub / "results"):
                desc_path = sub / "systems" / f"{sysdir.name}.json"
                desc = checker.guarded(desc_path, checker.read_json, desc_path, default=None) \
                    if checker.is_file(desc_path) else None
                system_type = str((desc or {}).get("system_type", ""))
                for bdir in checker.subdirs(sysdir):
                    entries.append(_entry(checker, rules, root, div.name, sub, sysdir.name, bdir, system_type,
                                          mapping, desc_path if desc is not None else None, errors, results))
    return entries


def _entry(checker: Checker, rules, root: Path, division: str, sub: Path, system: str, bdir: Path,
           system_type: str, mapping: dict, desc_path: Path | None, errors: list[tuple[str, str]],
           results: dict[str, dict[str, bool]]) -> Entry:
    e = Entry(str(root), division, sub.name[:128], system[:128], bdir.name[:128], system_type[:40])
    found = {SCENARIO_MAPPING.get(s, s): v for s, v in results.get(str(bdir), {}).items()}
    e.scenarios = dict(sorted(found.items()))
    if desc_path is None:
        e.why = f"no readable systems/{e.system}.json"
        return e
    try:
        bench = rules.benchmark(mapping.get(bdir.name, bdir.name))
        required = bench.scenarios_for(system_type)
    except ValueError as exc:
        e.why = str(exc)[:200]
        return e
    missing = [s for s in required if s not in found]
    if missing:
        article = "an" if system_type[:1] in "aeiou" else "a"
        e.why = (f"incomplete: no {', '.join(missing)} result (on {article} {system_type} system {bench.name} needs "
                 f"{', '.join(required)})")
        return e

    def first_error(folders: list[str]) -> str:
        for path, message in errors:
            if _inside(path, folders):
                return f"{Path(path).relative_to(sub) if path.startswith(str(sub) + '/') else path}: {message}"
        return ""

    failed = [s for s in required if not found[s]]
    if failed:
        why = first_error([str(sub / f / system / bdir.name / s) for f in _BENCHMARK_FOLDERS for s in failed])
        e.why = (f"{', '.join(failed)} not VALID" + (f": {why}" if why else " or accuracy not met"))[:240]
        return e
    why = first_error([str(sub / f / system / bdir.name) for f in _BENCHMARK_FOLDERS] + [str(desc_path)])
    if why:
        e.why = why[:240]
        return e
    e.point = True
    return e


def board(trees: list[Path], round_version: str = "v3.1", allow_quick: bool = False) -> Board:
    entries: list[Entry] = []
    for t in trees:
        entries += score_tree(submission_root(Path(t)), round_version, allow_quick)
    return of(entries, round_version, trees, allow_quick)


def of(entries: list[Entry], round_version: str, trees: list[Path], allow_quick: bool) -> Board:
    """The board of scored entries (``score_tree``/``score_checked``), in submitter, system, benchmark order."""
    entries = sorted(entries, key=lambda e: (e.submitter, e.system, e.benchmark, e.division, e.tree))
    return Board(round_version, entries, [str(t) for t in trees], allow_quick)


def text(b: Board) -> str:
    """The board as text: submitters by points, then each system's benchmarks with a point or the reason (names
    come from the trees: printed with their control characters escaped)."""
    t = for_terminal
    lines = [f"contributor board, MLPerf Inference {b.round} (one point per benchmark with valid, complete results "
             "on one system)"]
    if b.quick_allowed:
        lines.append("QUICK-MODE TREES COUNTED (--allow-quick): practice points, not a submission's")
    totals = sorted(b.by_submitter().items(), key=lambda kv: (-kv[1], kv[0]))
    width = max([len(t(s)) for s, _ in totals] + [9])
    lines += ["", f"{'submitter':{width}}  points"] + [f"{t(s):{width}}  {n}" for s, n in totals]
    current = None
    for e in b.entries:
        if (e.submitter, e.system) != current:
            current = (e.submitter, e.system)
            lines += ["", f"{t(e.submitter)} / {t(e.system)} ({t(e.system_type) or 'no system type'}): "
                          f"{b.points()[current]} point(s)"]
        mark = "1 point" if e.point else f"no point: {t(e.why)}"
        lines.append(f"  {t(e.benchmark):24} {e.division:7} {mark}")
    if not b.entries:
        lines += ["", "no results found (pass trees holding closed/ or open/, or benchfleet run directories)"]
    return "\n".join(lines)
