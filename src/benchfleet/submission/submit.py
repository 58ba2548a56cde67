"""Submit a tree: the official pre-upload steps, a strict check, then an upload archive or a branch pushed to a git
repository of submissions.

The steps the round's flow runs before upload (mlcommons/inference ``tools/submission/preprocess_submission.py`` and
``pack_submission.sh`` of v3.1) are done on a copy, never on the tree given: empty folders are deleted; a scenario
the rules let be inferred and that the tree lacks is inferred as that script does (SingleStream copied to Offline and,
where the benchmark has it, MultiStream; MultiStream copied to Offline; a ``-99.9`` result copied to its ``-99``
benchmark when that one is missing), in results/, measurements/ and (closed) compliance/. Accuracy logs are already
truncated with their hashes by the tree writer, and the checker verifies them. The copy is then checked strictly: a
quick-mode tree is refused with the reason. The archive is ``mlperf_submission_<submitter>.tar.gz`` of the division
folders with its ``.sha1``, as ``pack_submission.sh --pack`` makes it before encryption. Git runs with the user's own
set-up (SSH keys, credential helpers, user.name); nothing else is given to it, and a URL's password is never printed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from benchfleet.backends.noop import MARK as NOOP_MARK
from benchfleet.rules import get_round
from benchfleet.rules.table import RoundRules
from benchfleet.submission.check import Checker, Report
from benchfleet.submission.files import TreeFileError, copy_regular, submission_root

DIVISIONS = ("closed", "open", "network")


class SubmitError(ValueError):
    """Why nothing was submitted; the message says what to do."""


@dataclass
class SubmitOutcome:
    report: Report
    inferred: list[str] = field(default_factory=list)
    archive: Path | None = None
    sha1: str = ""
    branch: str = ""
    commit: str = ""
    pushed_to: str = ""
    next_steps: str = ""


def redact(url: str) -> str:
    """``url`` without a password or token (https://user:secret@host/... -> https://user:***@host/...)."""
    return re.sub(r"([a-z+]+://[^/:@\s'\"]*):[^/@\s'\"]*@", r"\1:***@", url)


def _said(r: subprocess.CompletedProcess, limit: int = 500) -> str:
    """What git said, on one line, without a URL's password."""
    return redact(" | ".join(ln.strip() for ln in (r.stderr or r.stdout).splitlines() if ln.strip()))[-limit:]


def _delete_empty_dirs(root: Path) -> None:
    for d in sorted((p for p in root.rglob("*") if p.is_dir() and not p.is_symlink()), key=lambda p: -len(p.parts)):
        if not any(d.iterdir()):
            d.rmdir()


def _infer(stage: Path, rules: RoundRules, infer_low_accuracy: bool = True) -> list[str]:
    """The scenarios preprocess_submission.py infers, on ``stage``; a line per inference."""
    done: list[str] = []
    for division in (stage / d for d in DIVISIONS):
        if not division.is_dir():
            continue
        for sub in sorted(p for p in division.iterdir() if p.is_dir()):
            tops = ["results", "measurements"] + (["compliance"] if division.name == "closed" else [])
            results = sub / "results"
            if not results.is_dir():
                continue
            for system in sorted(p for p in results.iterdir() if p.is_dir()):
                desc = sub / "systems" / f"{system.name}.json"
                system_type = str(json.loads(desc.read_text()).get("system_type", "")) if desc.is_file() else ""
                for bdir in sorted(p for p in system.iterdir() if p.is_dir()):
                    try:
                        bench = rules.benchmark(bdir.name)
                        allowed = set(bench.scenarios_for(system_type)) | set(bench.optional_for(system_type))
                    except ValueError:
                        continue  # an open model without a round name, or a system type the round lacks
                    have = {p.name.lower(): p.name for p in bdir.iterdir() if p.is_dir()}
                    plan: list[tuple[str, str]] = []
                    if "singlestream" in have and "multistream" not in have and "offline" not in have:
                        plan = [(have["singlestream"], "Offline")]
                        if "MultiStream" in allowed:
                            plan.append((have["singlestream"], "MultiStream"))
                    elif "singlestream" in have and "multistream" not in have and "MultiStream" in allowed:
                        plan = [(have["singlestream"], "MultiStream")]
                    elif "multistream" in have and "offline" not in have:
                        plan = [(have["multistream"], "Offline")]
                    for src, dst in plan:
                        for top in tops:
                            s = sub / top / system.name / bdir.name / src
                            if s.is_dir():
                                copy_regular(s, sub / top / system.name / bdir.name / dst)
                        done.append(f"{division.name}/{sub.name}/{system.name}/{bdir.name}: {dst} inferred from "
                                    f"{src}")
            if infer_low_accuracy:
                for system in sorted(p for p in results.iterdir() if p.is_dir()):
                    for bdir in sorted(p for p in system.iterdir() if p.is_dir() and p.name.endswith("-99.9")):
                        low = bdir.name[:-2]
                        if not rules.has(low) or (system / low).exists():
                            continue
                        for top in tops:
                            s = sub / top / system.name / bdir.name
                            if s.is_dir():
                                copy_regular(s, sub / top / system.name / low)
                        done.append(f"{division.name}/{sub.name}/{system.name}: {low} copied from {bdir.name}")
    return done


def _strict(root: Path, rules: RoundRules, what: str) -> Report:
    report = Checker(root, rules, allow_quick=False).run()
    if report.ok:
        return report
    noop = [f for f in report.errors if NOOP_MARK in f.message]
    if noop:
        raise SubmitError(f"{what} holds results of the no-op harness ({noop[0].path.replace(str(root), what)}: "
                          "nothing was inferred; backend noop measures the orchestration alone); run the benchmarks "
                          "with a real backend and submit that tree")
    quick = [f for f in report.errors if "QUICK MODE" in f.message]
    if quick:
        raise SubmitError(f"{what} is a quick-mode tree ({quick[0].path.replace(str(root), what)}: shortened runs, "
                          "not for submission); "
                          "run the benchmarks with --mode valid and submit that tree")
    first = "; ".join(str(f).replace(str(root), what) for f in report.errors[:3])  # the stage is temporary
    more = f" (and {len(report.errors) - 3} more)" if len(report.errors) > 3 else ""
    raise SubmitError(f"{what} does not pass the {rules.version} check: {first}{more}; fix it (benchfleet check) "
                      "and submit again")


def prepare(tree: Path, stage: Path, rules: RoundRules, infer_low_accuracy: bool = True) -> tuple[Report, list[str]]:
    """The tree as it is uploaded, in ``stage``: copied (folders and regular files only), cleaned, inferred, then
    checked strictly (as the round's flow checks the preprocessed copy)."""
    root = submission_root(Path(tree))
    if not root.is_dir():
        raise SubmitError(f"{tree}: not a folder; pass a tree holding closed/ or open/, or a benchfleet run directory")
    if not any((root / d).is_dir() for d in DIVISIONS):
        raise SubmitError(f"{tree}: holds no closed/, open/ or network/ folder")
    for d in DIVISIONS:
        if (root / d).is_dir():
            try:
                copy_regular(root / d, stage / d)
            except TreeFileError as exc:
                raise SubmitError(str(exc)) from None
    _delete_empty_dirs(stage)
    inferred = _infer(stage, rules, infer_low_accuracy)
    return _strict(stage, rules, str(tree)), inferred


def _submitters(stage: Path) -> list[str]:
    return sorted({p.name for d in DIVISIONS if (stage / d).is_dir() for p in (stage / d).iterdir() if p.is_dir()})


def write_archive(stage: Path, out_dir: Path) -> tuple[Path, str]:
    """mlperf_submission_<submitter>.tar.gz of the division folders and its .sha1 (``sha1sum`` format)."""
    name = "_".join(_submitters(stage)) or "submission"
    out_dir.mkdir(parents=True, exist_ok=True)
    archive = out_dir / f"mlperf_submission_{name}.tar.gz"
    tmp = archive.with_name(archive.name + ".part")
    with tarfile.open(tmp, "w:gz") as tar:
        for d in DIVISIONS:
            if (stage / d).is_dir():
                tar.add(stage / d, arcname=d)
    digest = hashlib.sha1(tmp.read_bytes()).hexdigest()  # noqa: S324 - the round's pack script's hash
    tmp.rename(archive)
    (out_dir / f"mlperf_submission_{name}.sha1").write_text(f"{digest}  {archive.name}\n")
    return archive, digest


def _git(args: list[str], cwd: Path | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0")  # never wait for a password on the terminal
    return subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True, text=True, env=env)


def _commit_message(report: Report, rules: RoundRules, submitters: list[str]) -> str:
    lines = [f"{', '.join(submitters)}: MLPerf Inference {rules.version} results (benchfleet)", ""]
    for r in sorted(report.results, key=lambda r: (r["system"], r["benchmark"], r["scenario"])):
        lines.append(f"{r['system']} {r['benchmark']} {r['scenario']}: {r.get('metric')} "
                     f"{'VALID' if r.get('valid') else 'INVALID'}")
    return "\n".join(lines) + "\n"


def _repo_place(repo: Path, path: str | None) -> Path:
    """Where the divisions go in the repository: ``path``; else its root when the root holds a division folder or
    nothing yet; else the one top folder that holds division folders."""
    if path:
        place = (repo / path).resolve()
        if not str(place).startswith(str(repo.resolve()) + os.sep) and place != repo.resolve():
            raise SubmitError(f"--repo-path: {path} leaves the repository")
        return place
    if any((repo / d).is_dir() for d in DIVISIONS):
        return repo
    holders = [p for p in repo.iterdir() if p.is_dir() and not p.name.startswith(".")
               and any((p / d).is_dir() for d in DIVISIONS)]
    return holders[0] if len(holders) == 1 else repo


def push(stage: Path, report: Report, rules: RoundRules, to: str, branch: str, repo_path: str | None = None,
         log=print) -> tuple[str, str]:
    """Clone ``to``, place the tree, commit on ``branch`` and push it; returns (commit, next steps). Any failure
    leaves nothing behind but the message: the clone is in a temporary folder that goes either way."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,100}", branch) or ".." in branch or branch.endswith(".lock"):
        raise SubmitError(f"--branch: {branch!r} is not a branch name (letters, digits, '.', '_', '-', '/')")
    shown = redact(to)
    with tempfile.TemporaryDirectory(prefix="benchfleet-submit-") as tmp:
        repo = Path(tmp) / "repo"
        log(f"submit: cloning {shown}")
        r = _git(["clone", "--quiet", "--", to, str(repo)])
        if r.returncode != 0:
            raise SubmitError(f"cannot clone {shown}: {_said(r)}; check the URL and that your "
                              "git/SSH set-up can read it; nothing was pushed")
        if _git(["ls-remote", "--exit-code", "--heads", "origin", branch], repo).returncode == 0:
            raise SubmitError(f"--branch: {branch} already exists in {shown}; choose a new branch name (nothing was "
                              "pushed)")
        r = _git(["checkout", "--quiet", "-b", branch], repo)
        if r.returncode != 0:
            raise SubmitError(f"cannot create branch {branch}: {_said(r, 300)}")
        place = _repo_place(repo, repo_path)
        for d in DIVISIONS:
            if (stage / d).is_dir():
                copy_regular(stage / d, place / d)
        _git(["add", "--all", "."], repo)
        subs = _submitters(stage)
        r = _git(["commit", "--quiet", "-F", "-"], repo, stdin=_commit_message(report, rules, subs))
        if r.returncode != 0:
            raise SubmitError(f"git commit failed: {_said(r, 400)} (set git config "
                              "user.name and user.email); nothing was pushed")
        commit = _git(["rev-parse", "HEAD"], repo).stdout.strip()
        log(f"submit: pushing {branch} to {shown}")
        r = _git(["push", "--quiet", "origin", f"HEAD:refs/heads/{branch}"], repo)
        if r.returncode != 0:
            raise SubmitError(f"push to {shown} failed: {_said(r)}; nothing was pushed and "
                              "nothing was kept here (the clone was temporary); fix access and submit again")
    where = place.relative_to(repo) if place != repo else Path(".")
    steps = (f"pushed branch {branch} ({commit[:12]}) to {shown}, tree under {where}/; next: open a pull request from "
             f"{branch} into the repository's main branch (its page on the git host offers it)")
    return commit, steps


def submit(tree: Path, *, round_version: str = "v3.1", to: str | None = None, branch: str | None = None,
           archive_dir: Path | None = None, repo_path: str | None = None, infer_low_accuracy: bool = True,
           log=print) -> SubmitOutcome:
    if not to and archive_dir is None:
        raise SubmitError("say where to: --to REPOSITORY --branch NAME, or --archive")
    if to and not branch:
        raise SubmitError("--branch: name the branch to push (e.g. mylab-v3.1)")
    rules = get_round(round_version)
    with tempfile.TemporaryDirectory(prefix="benchfleet-stage-") as tmp:
        stage = Path(tmp)
        report, inferred = prepare(tree, stage, rules, infer_low_accuracy)
        for line in inferred:
            log(f"submit: {line}")
        out = SubmitOutcome(report, inferred)
        if archive_dir is not None:
            out.archive, out.sha1 = write_archive(stage, archive_dir)
            out.next_steps = (f"wrote {out.archive} (sha1 {out.sha1}); next: encrypt it as the round asks "
                              f"(openssl enc -e -aes256 -in {out.archive.name} -out {out.archive.name}.enc) and "
                              "upload it with the sha1 and the password to the results chair")
        if to:
            out.commit, steps = push(stage, report, rules, to, branch or "", repo_path, log)
            out.branch, out.pushed_to = branch or "", redact(to)
            out.next_steps = (out.next_steps + "\n" if out.next_steps else "") + steps
    return out
