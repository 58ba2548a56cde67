"""The no-op harness (backend noop): a cell that infers nothing, for measuring the controller alone
(bench/fleet_overhead.py). Its output goes through the real LoadGen logs, tree and check, and is labelled and refused
everywhere a result could be taken for a measurement."""

from __future__ import annotations

import json

import pytest
from conftest import tiny_spec
from treeparts import system_description

from benchfleet.harness.run import Harness
from benchfleet.rules import get_round
from benchfleet.submission.check import Checker
from benchfleet.submission.submit import SubmitError, submit
from benchfleet.submission.tree import SystemRun, write_tree
from benchfleet.sweep.report import results_table

SYSTEM = "noop_host_noop_cpu"


@pytest.fixture(scope="module")
def noop_run(cache_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("noop-run")
    meta = Harness(tiny_spec(cache_dir, backend="noop", threads=1, scenarios=["SingleStream"], dataset_count=256),
                   out, log=lambda m: None).run()
    return out, meta


def test_a_noop_cell_runs_loadgen_and_sleeps_instead_of_inferring(noop_run):
    out, meta = noop_run
    assert meta["complete"] and meta["backend"]["name"] == "noop"
    ss = next(s for s in meta["scenarios"] if s["scenario"] == "SingleStream")
    # LoadGen's own logs, with the latency the backend sleeps (1 ms) plus the harness's path
    detail = (out / "SingleStream" / "performance" / "run_1" / "mlperf_log_detail.txt").read_text()
    assert '"key": "result_validity"' in detail
    assert ss["validity"] == "VALID" and 1.0 <= ss["metric"] < 50.0, ss["metric"]
    # every answer is the one answer of the first batch: the accuracy is that of a constant guess
    assert ss["accuracy"] < 50.0


def test_noop_results_are_labelled_and_refused_by_check_and_submit(noop_run, tmp_path):
    out, meta = noop_run
    tree = tmp_path / "tree"
    write_tree(tree, "TestOrg", [SystemRun(SYSTEM, system_description(), out)])
    readmes = list(tree.rglob("measurements/**/README.md"))
    assert readmes and all("NO-OP HARNESS: nothing was inferred" in r.read_text() for r in readmes)
    for allow_quick in (False, True):  # no flag accepts it
        report = Checker(tree, get_round("v3.1"), allow_quick=allow_quick).run()
        assert not report.ok
        assert any("NO-OP HARNESS" in f.message and "no flag accepts them" in f.message for f in report.errors)
    with pytest.raises(SubmitError, match="holds results of the no-op harness .* run the benchmarks with a real "
                                          "backend"):
        submit(tree, to=str(tmp_path / "nowhere.git"), branch="noop", log=lambda m: None)
    row = {"system": SYSTEM, "benchmark": "resnet50", "scenario": "SingleStream", "metric": 1.2, "noop": True,
           "not_for_submission": True}
    assert "NO-OP: nothing inferred" in results_table([row])
    assert json.loads((out / "harness.json").read_text())["backend"]["version"].startswith("benchfleet-noop-")
