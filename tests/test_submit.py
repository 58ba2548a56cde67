"""benchfleet submit: the pre-upload steps and a strict check, then an archive, or a branch pushed to a bare git
repository over a local path and over SSH (a real sshd on loopback)."""

from __future__ import annotations

import getpass
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from benchfleet.submission.submit import SubmitError, redact, submit
from benchfleet.submission.tree import SystemRun, write_tree
from tests.sshfleet import Fleet
from tests.treeparts import SYSTEM, as_valid_mode, system_description

BENCHFLEET = str(Path(sys.executable).parent / "benchfleet")


@pytest.fixture()
def git_env(tmp_path, monkeypatch):
    """The user's git set-up: an identity, and no system or global config beyond it."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for k, v in {"GIT_AUTHOR_NAME": "Test Lab", "GIT_AUTHOR_EMAIL": "lab@example.org",
                 "GIT_COMMITTER_NAME": "Test Lab", "GIT_COMMITTER_EMAIL": "lab@example.org"}.items():
        monkeypatch.setenv(k, v)
    return home


def _bare_repo(path: Path) -> Path:
    """A bare repository of submissions with a first commit (closed/OtherLab/README.md), as a shared one has."""
    subprocess.run(["git", "init", "--quiet", "--bare", "-b", "main", str(path)], check=True)
    work = path.parent / (path.name + "-seed")
    subprocess.run(["git", "clone", "--quiet", str(path), str(work)], check=True, capture_output=True)
    (work / "closed" / "OtherLab").mkdir(parents=True)
    (work / "closed" / "OtherLab" / "README.md").write_text("another submitter\n")
    subprocess.run(["git", "-C", str(work), "add", "."], check=True)
    subprocess.run(["git", "-C", str(work), "commit", "--quiet", "-m", "seed"], check=True)
    subprocess.run(["git", "-C", str(work), "push", "--quiet", "origin", "HEAD:main"], check=True, capture_output=True)
    return path


def _tree(recorded_run: Path, path: Path, valid: bool = True) -> Path:
    write_tree(path, "TestOrg", [SystemRun(SYSTEM, system_description(), recorded_run)])
    if valid:
        as_valid_mode(path)
    return path


def _show(repo: Path, ref: str, path: str) -> str:
    return subprocess.run(["git", "--git-dir", str(repo), "show", f"{ref}:{path}"], capture_output=True,
                          text=True).stdout


def test_a_branch_is_pushed_to_a_local_bare_repository(recorded_run, tmp_path, git_env):
    repo = _bare_repo(tmp_path / "subs.git")
    tree = _tree(recorded_run, tmp_path / "tree")
    before = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(tree.rglob("*")) if p.is_file())).hexdigest()
    res = submit(tree, to=str(repo), branch="testorg-v3.1", log=lambda m: None)
    assert res.commit and "open a pull request from testorg-v3.1" in res.next_steps
    heads = subprocess.run(["git", "--git-dir", str(repo), "branch", "--list"], capture_output=True, text=True).stdout
    assert "testorg-v3.1" in heads and "main" in heads
    # the tree is where the repository keeps divisions (its root), beside the other submitter's folder
    files = subprocess.run(["git", "--git-dir", str(repo), "ls-tree", "-r", "--name-only", "testorg-v3.1"],
                           capture_output=True, text=True).stdout.splitlines()
    assert "closed/OtherLab/README.md" in files and f"closed/TestOrg/systems/{SYSTEM}.json" in files
    assert any(f.startswith(f"closed/TestOrg/results/{SYSTEM}/resnet50/SingleStream/") for f in files)
    log = subprocess.run(["git", "--git-dir", str(repo), "log", "-1", "--format=%B", "testorg-v3.1"],
                         capture_output=True, text=True).stdout
    assert log.startswith("TestOrg: MLPerf Inference v3.1 results") and f"{SYSTEM} resnet50 Offline:" in log
    after = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(tree.rglob("*")) if p.is_file())).hexdigest()
    assert after == before  # the tree given is never changed
    # the same branch again: refused, nothing pushed
    with pytest.raises(SubmitError, match="testorg-v3.1 already exists"):
        submit(tree, to=str(repo), branch="testorg-v3.1", log=lambda m: None)


def test_a_branch_is_pushed_over_ssh(recorded_run, tmp_path, git_env):
    repo = _bare_repo(tmp_path / "subs.git")
    fleet = Fleet.start(tmp_path / "fleet", 1)
    try:
        host = fleet.host("node1")
        # the user's SSH set-up: their key and known_hosts, given to git as they would give it
        os.environ["GIT_SSH_COMMAND"] = (f"ssh -i {fleet.root / 'id_ed25519'} -o IdentitiesOnly=yes "
                                         f"-o UserKnownHostsFile={fleet.known_hosts()} -o BatchMode=yes")
        url = f"ssh://{getpass.getuser()}@{host.address}:{host.port}{repo}"
        res = submit(_tree(recorded_run, tmp_path / "tree"), to=url, branch="lab/over-ssh", log=lambda m: None)
        assert res.pushed_to == url and _show(repo, "lab/over-ssh", f"closed/TestOrg/systems/{SYSTEM}.json")
    finally:
        os.environ.pop("GIT_SSH_COMMAND", None)
        fleet.stop()


def test_a_quick_tree_is_refused_and_a_failed_push_leaves_nothing(recorded_run, tmp_path, git_env):
    repo = _bare_repo(tmp_path / "subs.git")
    quick = _tree(recorded_run, tmp_path / "quick", valid=False)
    with pytest.raises(SubmitError, match="is a quick-mode tree .* run the benchmarks with --mode valid"):
        submit(quick, to=str(repo), branch="quick", log=lambda m: None)
    # a hook that refuses every push: the push fails, the repository gains no branch, no clone is left behind
    hook = repo / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'pushes are closed for this round' >&2\nexit 1\n")
    hook.chmod(0o755)
    tmp_before = set(Path(os.environ.get("TMPDIR", "/tmp")).glob("benchfleet-submit-*"))
    with pytest.raises(SubmitError, match="push to .* failed: .*pushes are closed for this round.*nothing was pushed"):
        submit(_tree(recorded_run, tmp_path / "tree"), to=str(repo), branch="refused", log=lambda m: None)
    heads = subprocess.run(["git", "--git-dir", str(repo), "branch", "--list"], capture_output=True, text=True).stdout
    assert "refused" not in heads
    assert set(Path(os.environ.get("TMPDIR", "/tmp")).glob("benchfleet-submit-*")) == tmp_before
    # a URL's password never reaches a message
    with pytest.raises(SubmitError) as err:
        submit(_tree(recorded_run, tmp_path / "t2"), to="https://lab:s3cret@127.0.0.1:9/x.git", branch="b",
               log=lambda m: None)
    assert "s3cret" not in str(err.value) and "lab:***@" in str(err.value)
    assert redact("https://u:tok@github.com/o/r.git") == "https://u:***@github.com/o/r.git"


def test_archive_is_the_rounds_upload_with_its_sha1(recorded_run, tmp_path, git_env):
    tree = _tree(recorded_run, tmp_path / "tree")
    shutil.rmtree(tree / "closed" / "TestOrg" / "results" / SYSTEM / "resnet50" / "MultiStream")
    for top in ("measurements", "compliance"):
        shutil.rmtree(tree / "closed" / "TestOrg" / top / SYSTEM / "resnet50" / "MultiStream")
    out = subprocess.run([BENCHFLEET, "submit", str(tree), "--archive", "--archive-dir", str(tmp_path / "up")],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    archive = tmp_path / "up" / "mlperf_submission_TestOrg.tar.gz"
    sha1 = (tmp_path / "up" / "mlperf_submission_TestOrg.sha1").read_text().split()
    assert sha1 == [hashlib.sha1(archive.read_bytes()).hexdigest(), archive.name]
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    # MultiStream was taken out of the tree: the round's preprocessing infers it from SingleStream again
    assert f"closed/TestOrg/results/{SYSTEM}/resnet50/MultiStream/performance/run_1/mlperf_log_detail.txt" in names
    assert "1 inferred as the round's preprocessing does" in out.stdout
    assert not (tree / "closed" / "TestOrg" / "results" / SYSTEM / "resnet50" / "MultiStream").exists()
