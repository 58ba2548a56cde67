"""The API the CLI stands on: typed options in, result objects out, a user's mistake as a UsageError naming what
to fix; nothing printed but the lines a command streams while it works."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from benchfleet import api
from benchfleet.errors import BenchfleetError, UsageError
from benchfleet.sweep import report
from benchfleet.sweep.schema import SweepFile

NO_INVENTORY = Path("/no/such/inventory")


def _inventory(tmp_path: Path) -> Path:
    inv = tmp_path / "inv.yml"
    inv.write_text(yaml.safe_dump({"all": {"children": {"lab": {"hosts": {"n1": {}, "n2": {}}}}}}))
    return inv


def test_an_error_has_where_what_and_fix_and_usage_errors_exit_2():
    exc = UsageError("--dataset", "/x is not a folder", "give the benchmark's data folder")
    assert str(exc) == "--dataset: /x is not a folder; give the benchmark's data folder"
    assert (exc.where, exc.what, exc.fix, exc.exit_code) == ("--dataset", "/x is not a folder",
                                                             "give the benchmark's data folder", 2)
    assert str(UsageError("the cloud checks above failed; nothing was created")) == \
        "the cloud checks above failed; nothing was created"
    assert BenchfleetError("x", "y").exit_code == 1


def test_run_builds_one_sweep_file_of_one_system():
    o = api.RunOptions(benchmark="bert-99", backend="pytorch", precision="bf16", threads=3, batch=2,
                       scenarios=["SingleStream"], submitter="MyLab", system_type="edge")
    sweep = api.run_sweep(o)
    assert isinstance(sweep, SweepFile)
    assert (sweep.submitter, sweep.benchmarks, sweep.backends, sweep.devices, sweep.scenarios) == (
        "MyLab", ["bert-99"], ["pytorch"], ["cpu"], ["SingleStream"])
    assert (sweep.defaults.threads, sweep.defaults.batch, sweep.defaults.precision) == (3, 2, "bf16")
    assert [(s.name, s.hosts, s.system_type) for s in sweep.systems] == [("local", ["all"], "edge")]


@pytest.mark.parametrize(
    ("options", "where", "needle"),
    [
        ({"backend": "tensorrt"}, "--backend", "unknown backend 'tensorrt'"),
        ({"backend": "tflite", "device": "cuda"}, "--device", "tflite runs on cpu only; use --device cpu"),
        ({"precision": "fp16"}, "--precision", "applies to --backend pytorch only"),
        ({"threads": 5000}, "--threads", "out of range"),
        ({"submitter": "My Lab"}, "--submitter", "without spaces"),
        ({}, "--inventory", f"{NO_INVENTORY} does not exist"),
        ({"run_id": "../x"}, "--run-id", "is not a run id"),
    ],
)
def test_run_refuses_bad_options_naming_the_flag(options, where, needle, tmp_path):
    runs = tmp_path / "runs"
    with pytest.raises(UsageError) as info:
        api.run(api.RunOptions(inventory=NO_INVENTORY, runs_dir=runs, **options), log=pytest.fail)
    assert str(info.value).startswith(where + ": ") and needle in str(info.value), info.value
    assert info.value.exit_code == 2
    assert not runs.exists()


def test_sweep_check_returns_the_plan_and_creates_nothing(tmp_path):
    f = tmp_path / "lab.yml"
    f.write_text(yaml.safe_dump({"submitter": "MyLab", "systems": [{"name": "lab", "hosts": ["lab"]}]}))
    runs = tmp_path / "runs"
    lines: list[str] = []
    res = api.sweep(api.SweepOptions(str(f), inventory=_inventory(tmp_path), check=True, runs_dir=runs),
                    log=lines.append)
    assert isinstance(res, api.PlanResult) and res.exit_code == 0
    assert res.plan.run_id.startswith("lab-") and res.plan.hosts == ["n1", "n2"]
    assert lines == []  # no cloud systems: nothing to estimate or check
    text = report.plan_report(res.sweep_file, res.plan)
    assert f"sweep {f}: valid. Plan for run {res.plan.run_id}" in text
    assert "system lab (edge): n1, n2" in text and "2 cells on 2 hosts; estimated" in text
    assert not runs.exists()


def test_sweep_and_resume_refusals(tmp_path):
    with pytest.raises(UsageError, match=r"^sweep file: give one"):
        api.sweep(api.SweepOptions(""))
    with pytest.raises(UsageError, match=r"^--forks: 501 is out of range"):
        api.sweep(api.SweepOptions("x.yml", forks=501))
    with pytest.raises(UsageError, match=r"^--resume: no run 'gone' in "):
        api.resume(api.ResumeOptions("gone", runs_dir=tmp_path / "runs"))


def test_status_and_check_refuse_what_is_not_there(tmp_path):
    with pytest.raises(UsageError, match=r"^run id: no run 'nope' in "):
        api.status("nope", runs_dir=tmp_path)
    with pytest.raises(UsageError, match=r"^tree: .* is not a folder; pass the folder holding closed/ or open/"):
        api.check(tmp_path / "no-tree")


def test_durations():
    assert [api.seconds(t) for t in ("90", "90s", "90m", "6h", "2d", "1.5h")] == [90, 90, 5400, 21600, 172800, 5400]
    with pytest.raises(UsageError, match=r"^--grace: 'soon' is not a duration"):
        api.seconds("soon", "--grace")


def _outcome(**kw) -> SimpleNamespace:
    base = {"ran": ["c"], "summary": {}, "ansible_rc": 0, "interrupted": False, "wall_s": 3.0}
    return SimpleNamespace(**(base | kw))


def test_run_result_exit_codes_and_the_report_of_nothing_to_do(tmp_path):
    plan = SimpleNamespace(cells=[1, 2], run_id="r1", cloud_systems=dict)
    nothing = api.RunResult(plan, tmp_path / "r1")
    assert nothing.exit_code == 0
    assert report.run_report(nothing).startswith("nothing to do: all 2 cells of run r1 are done")
    checked = api.RunResult(plan, tmp_path / "r1", _outcome(ansible_rc=2), check_mode=True)
    assert checked.exit_code == 1
    assert report.run_report(checked) == "check mode: Ansible reported what would change for 1 cells (rc 2)"
    assert api.RunResult(plan, tmp_path, _outcome(interrupted=True)).exit_code == 130
    no_tree = api.RunResult(plan, tmp_path, _outcome())
    assert no_tree.exit_code == 1  # no submission tree: not a success
    text = report.run_report(api.RunResult(plan, tmp_path, _outcome(), pending=["c"]))
    assert f"1 of 2 cells not done: benchfleet sweep --resume r1 --runs-dir {tmp_path.parent}" in text
    assert text.endswith("done in 3s")


def test_failures_in_the_run_report_are_grouped_and_escaped(tmp_path):
    plan = SimpleNamespace(cells=[1], run_id="r1", cloud_systems=dict)
    fails = [{"host": "h1", "cell": "c1", "kind": "unreachable", "task": "", "message": "gone", "infrastructure": True},
             {"host": "h2", "cell": "c2", "kind": "harness", "task": "run", "infrastructure": False,
              "message": "Traceback\n  ...\nValueError: bad \x1b]0;x\x07"}]
    text = report.run_report(api.RunResult(plan, tmp_path, _outcome(summary={"failures": fails})))
    assert "\nFAILURES (infrastructure, 1):\n  h1 / c1: unreachable: gone" in text
    assert "\nFAILURES (cells, 1):\n  h2 / c2: harness in 'run': Traceback | ... | ValueError: bad " in text
    assert "\x1b" not in text and "\x07" not in text
