"""Rescoring a run's accuracy on the controller, each cell against scoring files the controller trusts.

A host ships the scoring files it used (``cells/<cell>/results/labels``), but a host is not trusted to
grade itself, let alone others. For each finished cell the controller takes the files from a source of
its own, chosen from the plan's spec alone:

- a generated dataset: regenerated on the controller by the same generator and arguments (cached in the
  spec's cache folder, so a local run reuses what its harness wrote);
- ``dataset: official``: the cell's copies, accepted only when they match the published md5;
- a dataset folder: that folder on the controller (the user's own copy).

A cell whose shipped files differ is reported (ERROR) and rescored against the controller's files; a
cell with no trusted source is not rescored (WARNING). The checker then sees only full accuracy logs
placed beside the controller's files, under ``<run_dir>/rescore/<cell>/results/``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from benchfleet.benchmarks import registry
from benchfleet.digest import file_digest
from benchfleet.rules import get_round
from benchfleet.submission.check import Checker, Finding, Report
from benchfleet.sweep.aggregate import generated_data
from benchfleet.sweep.rundir import DONE, RunDir

ACC_LOG = "mlperf_log_accuracy.json"


def _regenerate(spec: dict, entry, log: Callable[[str], None]) -> Path:
    """The generated dataset folder of ``spec``, made on the controller by the harness's own generator."""
    from benchfleet.harness.spec import HarnessSpec

    s = HarnessSpec.model_validate(spec)
    root, threads = s.cache_path() / "synthetic", max(1, min(4, os.cpu_count() or 1))
    return registry.task(entry.task).make_synthetic(s, entry, root, threads, log).dataset_dir


def _same(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


def _place(src: Path, dst: Path) -> None:
    """A regular-file copy of ``src`` at ``dst`` (a hard link where the file system allows)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def trusted_scoring(cell, cdir: Path, report: Report, log: Callable[[str], None]) -> dict[str, Path] | None:
    """name -> the controller's copy of each scoring file of ``cell``; None when it has no trusted source.

    Adds an ERROR to ``report`` for every shipped file that differs from the controller's.
    """
    spec = cell.spec
    entry = registry.lookup(cell.benchmark, cell.backend)
    names = registry.task(entry.task).scoring_names
    shipped = cdir / "results" / "labels"
    where = f"cells/{cell.id}/results/labels"
    if generated_data(spec):
        try:
            folder = _regenerate(spec, entry, log)
        except Exception as exc:  # a controller without the generator's libraries still reports the rest
            report.findings.append(Finding("WARNING", where, f"not rescored: the generated dataset could not be made "
                                                             f"on the controller ({type(exc).__name__}: {exc})"))
            return None
        source = f"the generated dataset regenerated on the controller ({folder})"
    elif spec.get("dataset") == "official":
        md5s = {f.filename: f.md5 for f in entry.dataset_files}
        out = {}
        for n in names:
            p = shipped / n
            if n not in md5s:
                report.findings.append(Finding("WARNING", f"{where}/{n}", "has no published checksum to verify; "
                                                                         "the cell's accuracy was not rescored"))
                return None
            if not p.is_file() or p.is_symlink() or file_digest(p, "md5") != md5s[n]:
                report.findings.append(Finding("ERROR", f"{where}/{n}", f"is missing or does not match the "
                                                                       f"published md5 {md5s[n]}; the cell's "
                                                                       "accuracy was not rescored"))
                return None
            out[n] = p
        return out
    else:
        folder = Path(str(spec.get("dataset", ""))).expanduser()
        source = f"the dataset folder {folder} on the controller"
        if not folder.is_dir():
            report.findings.append(Finding("WARNING", where, f"not rescored: the dataset folder {folder} is not on "
                                                             "the controller"))
            return None
    out = {}
    for n in names:
        truth = folder / n
        if not truth.is_file():
            report.findings.append(Finding("WARNING", where, f"not rescored: {source} has no {n}"))
            return None
        mine = shipped / n
        if mine.is_symlink() or (mine.exists() and not mine.is_file()) or (mine.is_file() and not _same(mine, truth)):
            report.findings.append(Finding("ERROR", f"{where}/{n}", f"differs from {source}: the host shipped "
                                                                   "altered scoring files; rescored against the "
                                                                   "controller's"))
        out[n] = truth
    return out


def check_run(rd: RunDir, tree: Path, log: Callable[[str], None] = lambda m: None, **check_args) -> Checker:
    """``benchfleet check`` of a run's tree, with each cell's accuracy rescored against its trusted files; the
    checker that ran (its ``report``, and what it read, for the run's report page). ``check_args`` go to
    :class:`Checker` as they are."""
    plan = rd.plan()
    states = rd.states(plan)
    staging = rd.root / "rescore"
    shutil.rmtree(staging, ignore_errors=True)
    pre = Report()
    for cell in plan.cells:
        if states[cell.id].state != DONE:
            continue
        cdir = rd.cell_dir(cell.id)
        files = trusted_scoring(cell, cdir, pre, log)
        if files is None:
            continue
        dst = staging / cell.id / "results"
        for n, p in files.items():
            _place(p, dst / "labels" / n)
        for scenario in cell.scenarios:
            full = cdir / "results" / scenario / "full_logs" / ACC_LOG
            if full.is_file() and not full.is_symlink():
                _place(full, dst / scenario / "full_logs" / ACC_LOG)
    checker = Checker(tree, get_round(plan.round), accuracy_logs=staging if staging.is_dir() else None, **check_args)
    checker.run()
    checker.report.findings[:0] = pre.findings
    return checker
