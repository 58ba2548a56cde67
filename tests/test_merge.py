"""benchfleet merge: trees of many runs and people into one, conflicts named, inputs never changed."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchfleet.submission.check import check_tree
from benchfleet.submission.merge import MergeError, merge
from benchfleet.submission.tree import SystemRun, write_tree
from tests.treeparts import SYSTEM, set_log_value, system_description

BENCHFLEET = str(Path(sys.executable).parent / "benchfleet")
SS_DETAIL = "results/{system}/resnet50/SingleStream/performance/run_1/mlperf_log_detail.txt"


def _run_dir(path: Path, submitter: str, systems: list[str], recorded_run: Path) -> Path:
    """A benchfleet run directory (its tree in submission/) with one system per name."""
    write_tree(path / "submission", submitter, [SystemRun(s, dict(system_description(), submitter=submitter),
                                                          recorded_run) for s in systems])
    return path


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(str(p.relative_to(root)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.fixture()
def runs(recorded_run, tmp_path) -> tuple[Path, Path, Path]:
    """Two runs of TestOrg (systems a and b) and another person's tree (OtherLab, system d)."""
    a = _run_dir(tmp_path / "runs" / "lab-1", "TestOrg", [f"{SYSTEM}_a"], recorded_run)
    b = _run_dir(tmp_path / "runs" / "lab-2", "TestOrg", [f"{SYSTEM}_b"], recorded_run)
    d = _run_dir(tmp_path / "theirs", "OtherLab", [f"{SYSTEM}_d"], recorded_run) / "submission"
    return a, b, d


def test_three_inputs_merge_into_one_tree_that_passes_the_check(runs, tmp_path):
    a, b, d = runs
    before = [_digest(p) for p in runs]
    out = tmp_path / "merged"
    res = merge([a, b, d], out, allow_quick=True, log=lambda m: None)
    assert res.results == 9 and res.report.ok, [str(e) for e in res.report.errors]
    results = {(p.parts[-5], p.parts[-3]) for p in out.glob("closed/*/results/*/resnet50/*")}
    assert {sub for sub, _ in results} == {"TestOrg", "OtherLab"}  # submitters kept apart
    assert sorted(p.name for p in (out / "closed" / "TestOrg" / "results").iterdir()) == [f"{SYSTEM}_a",
                                                                                          f"{SYSTEM}_b"]
    assert check_tree(out, "v3.1", allow_quick=True).ok
    assert [_digest(p) for p in runs] == before  # nothing of an input changed
    assert not list(tmp_path.glob(".merged.merging-*"))


def test_a_conflicting_description_or_a_duplicate_result_is_an_error_naming_both(runs, tmp_path):
    a, b, d = runs
    copy = tmp_path / "copy"
    shutil.copytree(a / "submission", copy)
    # the same result twice: an error unless --prefer says which wins
    with pytest.raises(MergeError, match=r"two results for closed/TestOrg/.*_a/resnet50/(Multi|Single)Stream.*"
                                         r"--prefer newest or --prefer best") as err:
        merge([a, b, copy], tmp_path / "m1", allow_quick=True, log=lambda m: None)
    assert str(a / "submission") in str(err.value) and str(copy) in str(err.value)
    assert not (tmp_path / "m1").exists()

    # --prefer newest: the copy's SingleStream run is dated later (LoadGen's test_datetime), so its result is kept
    set_log_value(copy / "closed" / "TestOrg" / SS_DETAIL.format(system=f"{SYSTEM}_a"), "test_datetime",
                  "2099-01-01T00:00:00Z")
    logs: list[str] = []
    res = merge([a, copy], tmp_path / "m2", prefer="newest", allow_quick=True, log=logs.append)
    assert res.results == 3 and res.report.ok
    kept = [r for r in res.replaced if "/SingleStream:" in r]
    assert kept and f"kept {copy}" in kept[0] and "newer LoadGen test_datetime (2099-01-01T00:00:00Z)" in kept[0]
    assert (tmp_path / "m2" / "closed" / "TestOrg" / SS_DETAIL.format(system=f"{SYSTEM}_a")).read_bytes() == \
        (copy / "closed" / "TestOrg" / SS_DETAIL.format(system=f"{SYSTEM}_a")).read_bytes()
    assert any(line.startswith("merge: closed/TestOrg/") for line in logs)

    # one system id, two descriptions: an error naming both inputs and the fields that differ
    desc = copy / "closed" / "TestOrg" / "systems" / f"{SYSTEM}_a.json"
    data = json.loads(desc.read_text())
    data["host_processor_model_name"] = "Another CPU"
    desc.write_text(json.dumps(data))
    with pytest.raises(MergeError, match=r"system .*_a of TestOrg \(closed\) is described differently in .* "
                                         r"\(host_processor_model_name\)"):
        merge([a, copy], tmp_path / "m3", prefer="newest", allow_quick=True, log=lambda m: None)
    assert not (tmp_path / "m3").exists() and not list(tmp_path.glob(".m3.merging-*"))


def test_submitter_rename_quick_inputs_and_an_existing_output(runs, tmp_path):
    a, b, d = runs
    res = merge([a, d], tmp_path / "community", submitter="Community", allow_quick=True, log=lambda m: None)
    sub = tmp_path / "community" / "closed" / "Community"
    assert [p.name for p in (tmp_path / "community" / "closed").iterdir()] == ["Community"]
    assert sorted(p.stem for p in (sub / "systems").iterdir()) == [f"{SYSTEM}_a", f"{SYSTEM}_d"]
    assert {json.loads(p.read_text())["submitter"] for p in (sub / "systems").iterdir()} == {"Community"}
    assert res.report.ok, [str(e) for e in res.report.errors]
    # a quick-mode tree is merged only as a practice tree
    with pytest.raises(MergeError, match="--allow-quick"):
        merge([a], tmp_path / "strict", log=lambda m: None)
    # the output must be new
    with pytest.raises(MergeError, match="--out: .* exists and is not an empty folder"):
        merge([b], tmp_path / "community", allow_quick=True, log=lambda m: None)
    with pytest.raises(MergeError, match="given twice"):
        merge([a, a / "submission"], tmp_path / "twice", allow_quick=True, log=lambda m: None)


def test_merge_command(runs, tmp_path):
    a, b, d = runs
    out = subprocess.run([BENCHFLEET, "merge", str(a), str(b), str(d), "--out", str(tmp_path / "merged"),
                          "--allow-quick"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "merged 9 result(s) of 3 input(s)" in out.stdout and "submission looks OK (0 errors" in out.stdout
    bad = subprocess.run([BENCHFLEET, "merge", str(a), str(a / "submission"), "--out", str(tmp_path / "x"),
                          "--allow-quick"], capture_output=True, text=True)
    assert bad.returncode != 0 and "merge: " in bad.stderr and "given twice" in bad.stderr


def test_shards_of_a_sweep_merge_into_the_tree_an_unsharded_run_gives(cache_dir, tmp_path):
    """`sweep --shard 1/2` and `--shard 2/2` (two controllers' worth, each in its own run directory) merge into a
    tree with the same systems, benchmarks and scenarios, and the same results rows, as one run of the sweep."""
    import yaml

    from benchfleet.sweep.plan import shard_index

    # two local "hosts" (this machine twice), named so that they fall into different shards
    names = [f"h{i}" for i in range(40)]
    a = next(n for n in names if shard_index(f"host:{n}", 2) == 1)
    b = next(n for n in names if shard_index(f"host:{n}", 2) == 2)
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
             "benchfleet_harness_python": sys.executable}
    inv = tmp_path / "inv.yml"
    inv.write_text(yaml.safe_dump({"all": {"hosts": {h: {**local, "benchfleet_benchmark_workdir":
                                                         str(tmp_path / "work" / h)} for h in (a, b)}}}))
    sweep = tmp_path / "lab.yml"
    sweep.write_text(yaml.safe_dump({
        "submitter": "TestOrg", "division": "open", "scenarios": ["SingleStream"], "model": "synthetic",
        "dataset": "synthetic", "synthetic_width": 2, "dataset_count": 64, "cache_dir": str(cache_dir),
        "defaults": {"threads": 1}, "systems": [{"name": "one", "hosts": [a]}, {"name": "two", "hosts": [b]}]}))

    def sweep_run(*extra: str) -> Path:
        runs = tmp_path / "runs"
        before = set(runs.glob("*")) if runs.exists() else set()
        out = subprocess.run([BENCHFLEET, "sweep", str(sweep), "--inventory", str(inv), "--runs-dir", str(runs),
                              *extra], capture_output=True, text=True, timeout=900)
        assert out.returncode == 0, out.stdout + out.stderr
        (new,) = set(runs.glob("*")) - before
        return new

    whole = sweep_run()
    first, second = sweep_run("--shard", "1/2"), sweep_run("--shard", "2/2")
    assert "shard1of2" in first.name and "shard2of2" in second.name
    plans = [json.loads((d / "plan.json").read_text()) for d in (first, second)]
    assert [[c["host"] for c in p["cells"]] for p in plans] == [[a], [b]] and [p["shard"] for p in plans] == \
        ["1/2", "2/2"]
    merged = tmp_path / "merged"
    res = subprocess.run([BENCHFLEET, "merge", str(first), str(second), "--out", str(merged), "--allow-quick"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr

    def layout(tree: Path) -> set:
        return {p.relative_to(tree).parts[:6] for p in tree.glob("open/*/results/*/*/*")}

    assert layout(merged) == layout(whole / "submission") and len(layout(merged)) == 2
    rows = {d: {(r["system"], r["benchmark"], r["scenario"], r["validity"])
                for r in json.loads((d / "results.json").read_text())["results"]} for d in (whole, first, second)}
    assert rows[first] | rows[second] == rows[whole] and not rows[first] & rows[second]
    assert check_tree(merged, "v3.1", allow_quick=True).ok
    # one status for both shards
    st = subprocess.run([BENCHFLEET, "status", first.name, second.name, "--runs-dir", str(tmp_path / "runs")],
                        capture_output=True, text=True)
    assert st.returncode == 0, st.stdout + st.stderr
    assert f"run {first.name} (MLPerf Inference v3.1, shard 1/2 of its sweep): 1 done" in st.stdout
    assert "2 runs (shards 1/2, 2/2): 2 done, 0 running, 0 failed, 0 pending" in st.stdout
    js = subprocess.run([BENCHFLEET, "status", first.name, second.name, "--json", "--runs-dir",
                         str(tmp_path / "runs")], capture_output=True, text=True)
    assert [d["shard"] for d in json.loads(js.stdout)] == ["1/2", "2/2"]
