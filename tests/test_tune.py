"""Tuning: the grid walk against simulated systems with a known best, the tuning file's reuse and invalidation, and
what a host's tuning.json may hold."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchfleet.harness import tune
from benchfleet.sweep import tuning
from benchfleet.sweep.rundir import RunDir

FACTS = {"cpu_model": "Intel(R) Xeon(R) Gold 6430", "vcpus": 64, "mem_total_mb": 257000, "gpus": []}


def _offline_system(best_threads: int, best_batch: int):
    """Samples/s of a simulated host: a peak at (best_threads, best_batch), falling off on both sides in log scale
    (too many threads contend, too large a batch spills the cache)."""
    def qps(threads: int, batch: int) -> float:
        return 1000.0 / (1 + abs(math.log2(threads / best_threads)) * 0.3) / (1 + abs(math.log2(batch / best_batch))
                                                                              * 0.2)
    return qps


@pytest.mark.parametrize(("cores", "best_threads", "best_batch"), [(2, 2, 8), (64, 16, 32), (16, 4, 1)])
def test_offline_walk_finds_the_best_grid_point_in_a_handful_of_runs(cores, best_threads, best_batch):
    qps = _offline_system(best_threads, best_batch)
    threads, batches = tune.thread_grid(cores), tune.batch_grid("cpu")
    rec = tune.walk("Offline", lambda t, b: tune.Trial(t, b, qps(t, b)), threads, batches, 8)
    exhaustive = max((qps(t, b), t, b) for t in threads for b in batches)
    assert (rec.threads, rec.batch) == (exhaustive[1], exhaustive[2])
    assert rec.metric == pytest.approx(exhaustive[0])
    assert len(rec.trials) <= len(threads) + len(batches) < len(threads) * len(batches)
    assert rec.settings() == {"threads": rec.threads, "batch": rec.batch}


def test_latency_walk_keeps_the_lowest_and_a_failed_trial_is_never_best():
    lat = {1: 9.0, 2: 5.0, 4: 6.5}

    def measure(t: int, b: int) -> tune.Trial:
        return tune.Trial(t, b, None, "out of memory") if t == 8 else tune.Trial(t, b, lat[t])

    rec = tune.walk("SingleStream", measure, [1, 2, 4, 8], [1], 1)
    assert (rec.threads, rec.metric, rec.unit) == (2, 5.0, "ms at the percentile")
    assert [t.note for t in rec.trials] == ["", "", "", "out of memory"]
    none = tune.walk("MultiStream", lambda t, b: tune.Trial(t, b, None, "no figure"), [1, 2], [8], 8)
    assert none.metric is None and "no short run gave a figure" in none.stopped
    assert none.settings() == {}  # nothing to keep: the defaults stay


def test_budget_stops_the_walk_with_the_best_so_far():
    budget = tune.Budget(10.0)

    def measure(t: int, b: int) -> tune.Trial:
        budget.charge(4.0)  # each short run takes 4 s
        return tune.Trial(t, b, float(t * b))

    rec = tune.walk("Offline", measure, [1, 2, 4], [1, 8, 32], 8, budget.spent)
    assert len(rec.trials) == 3 and "budget spent after 3 short runs" in rec.stopped
    assert (rec.threads, rec.batch) == (4, 8)


def test_a_close_call_is_measured_again_with_longer_interleaved_runs_and_their_means_decide():
    """Short runs rank batch 16 over 32 by 7% (noise); longer runs of the two, interleaved A B B A, rank them the other
    way by their means: 32 is kept, with its mean. A clear winner (runner-up more than RUNOFF_MARGIN behind) is not
    measured again."""
    short = {(1, 8): 400.0, (2, 8): 700.0, (2, 1): 300.0, (2, 4): 600.0, (2, 16): 798.0, (2, 32): 745.0}
    # the machine slows during the runoff: the first and last runs are fast; 16 would win an A A B B order
    longer = {(2, 16): iter([700.0, 600.0]), (2, 32): iter([690.0, 660.0])}
    again: list[tuple[int, int]] = []

    def remeasure(t: int, b: int) -> tune.Trial:
        again.append((t, b))
        return tune.Trial(t, b, next(longer[(t, b)]))

    rec = tune.walk("Offline", lambda t, b: tune.Trial(t, b, short[(t, b)]), [1, 2], [1, 4, 8, 16, 32], 8,
                    remeasure=remeasure)
    assert again == [(2, 16), (2, 32), (2, 32), (2, 16)]  # A B B A: the short runs' best first
    assert (rec.threads, rec.batch, rec.metric) == (2, 32, 675.0)  # 32's mean against 16's 650
    assert [(t.batch, t.value) for t in rec.trials if t.runoff] == [(16, 700.0), (32, 690.0), (32, 660.0), (16, 600.0)]
    assert "measured again, interleaved, 4 runs 2x as long: 2 threads, batch 32 kept (650 against 675)" in rec.stopped
    assert rec.settings() == {"threads": 2, "batch": 32}

    clear = {**short, (2, 32): 700.0}  # 12% behind: no runoff
    again.clear()
    rec = tune.walk("Offline", lambda t, b: tune.Trial(t, b, clear[(t, b)]), [1, 2], [1, 4, 8, 16, 32], 8,
                    remeasure=remeasure)
    assert again == [] and (rec.batch, rec.metric) == (16, 798.0) and not any(t.runoff for t in rec.trials)

    # a runoff run without a figure, or a budget spent before all ran, keeps the short runs' best
    rec = tune.walk("Offline", lambda t, b: tune.Trial(t, b, short[(t, b)]), [1, 2], [1, 4, 8, 16, 32], 8,
                    remeasure=lambda t, b: tune.Trial(t, b, None, "killed"))
    assert (rec.batch, rec.metric) == (16, 798.0) and "runoff run gave no figure" in rec.stopped
    assert len([t for t in rec.trials if t.runoff]) == 1  # the runoff ends at its first failed run
    runs = iter(range(100))
    rec = tune.walk("Offline", lambda t, b: tune.Trial(t, b, short[(t, b)]), [1, 2], [1, 4, 8, 16, 32], 8,
                    out_of_budget=lambda: next(runs) >= 10,  # 7 short runs, then 3 of the runoff's 4
                    remeasure=lambda t, b: tune.Trial(t, b, 1000.0 if b == 32 else 1.0))
    assert (rec.batch, rec.metric) == (16, 798.0) and "budget spent during the runoff" in rec.stopped


def test_the_batch_is_chosen_among_one_pass_at_the_best_threads_the_default_batch_measured_again():
    """The threads pass measured 2 threads at batch 8 at a lucky moment (900); measured again in the batch pass it
    gives 700, below batch 16's 798: 16 is kept, not the threads pass's fluke. A runoff takes the pass's two best."""
    runs = {(1, 8): iter([400.0]), (2, 8): iter([900.0, 700.0]), (2, 1): iter([300.0]), (2, 4): iter([600.0]),
            (2, 16): iter([798.0]), (2, 32): iter([760.0])}
    rec = tune.walk("Offline", lambda t, b: tune.Trial(t, b, next(runs[(t, b)])), [1, 2], [1, 4, 8, 16, 32], 8)
    assert [(t.threads, t.batch) for t in rec.trials] == [(1, 8), (2, 8), (2, 1), (2, 4), (2, 8), (2, 16), (2, 32)]
    assert (rec.threads, rec.batch, rec.metric) == (2, 16, 798.0)
    again: list[tuple[int, int]] = []
    runs = {(1, 8): iter([400.0]), (2, 8): iter([900.0, 700.0]), (2, 1): iter([300.0]), (2, 4): iter([600.0]),
            (2, 16): iter([798.0]), (2, 32): iter([760.0])}

    def remeasure(t: int, b: int) -> tune.Trial:
        again.append((t, b))
        return tune.Trial(t, b, 700.0)

    tune.walk("Offline", lambda t, b: tune.Trial(t, b, next(runs[(t, b)])), [1, 2], [1, 4, 8, 16, 32], 8,
              remeasure=remeasure)
    assert again == [(2, 16), (2, 32), (2, 32), (2, 16)]  # not the threads pass's 900 at batch 8


def _entry(version: str = "1.32.0", threads: int = 16) -> dict:
    return {"fingerprint": tuning.fingerprint(FACTS, version), "round": "v3.1", "run": "r1", "host": "node1",
            "tuned_at": "2026-12-03T00:00:00Z",
            "scenarios": {"Offline": {"settings": {"threads": threads, "batch": 32, "offline_expected_qps": 900.0},
                                      "found": {}}}}


def test_tuning_file_is_reused_on_the_same_hardware_and_refused_on_other(tmp_path):
    sid, key = "Intel_Xeon_Gold_6430_64c_onnxruntime_cpu", tuning.entry_key("resnet50", "onnxruntime", "cpu")
    path = tuning.record(tmp_path, sid, key, _entry())
    assert path == tmp_path / f"{sid}.json"
    entry, why = tuning.lookup(tmp_path, sid, key, FACTS)
    assert why == "" and entry["scenarios"]["Offline"]["settings"]["threads"] == 16
    assert tuning.spec_tuning(entry) == ({"Offline": {"threads": 16, "batch": 32, "offline_expected_qps": 900.0}},
                                         {"backend_version": "1.32.0"})
    # memory within 5% (a DIMM's worth of reserved pages) is the same host; another CPU, vCPU count or memory is not
    assert tuning.lookup(tmp_path, sid, key, {**FACTS, "mem_total_mb": 250000})[0] is not None
    for change, words in (({"cpu_model": "AMD EPYC 9654"}, "cpu_model was"), ({"vcpus": 32}, "vcpus was 64, now 32"),
                          ({"mem_total_mb": 128000}, "memory was 257000 MB, now 128000 MB"),
                          ({"gpus": [{"name": "NVIDIA H100"}]}, "gpus was")):
        entry, why = tuning.lookup(tmp_path, sid, key, {**FACTS, **change})
        assert entry is None and words in why and "tune again" in why
    assert tuning.lookup(tmp_path, sid, tuning.entry_key("bert-99", "onnxruntime", "cpu"), FACTS)[0] is None


def test_a_new_tuning_keeps_the_scenarios_it_did_not_tune_unless_the_fingerprint_changed(tmp_path):
    sid, key = "x_64c_onnxruntime_cpu", tuning.entry_key("resnet50", "onnxruntime", "cpu")
    tuning.record(tmp_path, sid, key, _entry())
    server = _entry()
    server["scenarios"] = {"Server": {"settings": {"threads": 16, "batch": 4, "server_target_qps": 700.0},
                                      "found": {}}}
    tuning.record(tmp_path, sid, key, server)
    assert set(tuning.load(tmp_path, sid)["entries"][key]["scenarios"]) == {"Offline", "Server"}
    tuning.record(tmp_path, sid, key, {**_entry("1.33.0"), "scenarios": server["scenarios"]})  # a new backend
    assert set(tuning.load(tmp_path, sid)["entries"][key]["scenarios"]) == {"Server"}
    shown = tuning.show(tmp_path)
    assert sid in shown and "Server" in shown and "target 700 queries/s" in shown


def test_a_hosts_tuning_json_is_data_within_the_specs_bounds(tmp_path):
    good = {"backend_version": "1.32.0\x1b[2J", "scenarios": {"Offline": {
        "settings": {"threads": 2, "batch": 8, "offline_expected_qps": 412.5},
        "found": {"threads": 2, "stopped": "line one\nline two\x1b]0;x\x07", "unit": "samples/s",
                  "trials": [{"threads": 2, "batch": 8, "value": 412.5, "note": "x" * 10_000, "cmd": "rm -rf /"}]}}}}
    p = tmp_path / "tuning.json"
    p.write_text(json.dumps(good))
    scen, version = tuning.read_cell(p)
    assert scen["Offline"]["settings"] == {"threads": 2, "batch": 8, "offline_expected_qps": 412.5}
    assert scen["Offline"]["found"]["trials"] == [{"threads": 2, "batch": 8, "value": 412.5}]
    assert "\n" not in scen["Offline"]["found"]["stopped"] and version == "1.32.0 [2J"  # the escape is gone
    assert not any(c in json.dumps(scen) + version for c in "\x1b\x07")
    for bad, words in (({"Offline": {"settings": {"threads": 10**9}}}, "Offline settings refused"),
                       ({"Offline": {"settings": {"server_target_qps": -1}}}, "Offline settings refused"),
                       ({"Offline": {"settings": {"threads": 2, "shell": "x"}}}, "Offline settings refused"),
                       ({"../../etc": {"settings": {}}}, "unknown scenario")):
        p.write_text(json.dumps({"scenarios": bad}))
        with pytest.raises(ValueError, match=words):
            tuning.read_cell(p)


def _cli(args: list[str], tmp_path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).parent / "benchfleet"), *args], capture_output=True, text=True,
                          cwd=tmp_path, env={**os.environ, **env})


def test_tune_keeps_a_tuning_file_that_later_runs_take_until_the_hardware_differs(cache_dir, tmp_path):
    store = tmp_path / "tuning-cache"
    env = {"BENCHFLEET_TUNING_DIR": str(store)}
    common = ["--benchmark", "resnet50", "--scenarios", "SingleStream", "--offline", "measured",
              "--synthetic-width", "2", "--dataset-count", "32", "--cache-dir", str(cache_dir)]
    tuned = _cli(["tune", *common, "--tune-budget", "60s", "--out", str(tmp_path / "t1")], tmp_path, env)
    assert tuned.returncode == 0, tuned.stdout[-4000:] + tuned.stderr[-2000:]
    assert "[SingleStream] tuning: 1 threads, batch 1:" in tuned.stdout  # progress of each short run
    (cached,) = store.glob("*.json")
    sid = cached.stem
    assert (tmp_path / "t1" / "tuning" / f"{sid}.json").read_text() == cached.read_text()  # run dir and cache
    entry = json.loads(cached.read_text())["entries"]["resnet50/onnxruntime/cpu/fp32"]
    settings = entry["scenarios"]["SingleStream"]["settings"]
    assert settings["threads"] in tune.thread_grid(os.cpu_count() or 1) and entry["fingerprint"]["backend_version"]
    assert f"tuned resnet50/onnxruntime/cpu/fp32 on {sid} (localhost): SingleStream {settings['threads']} threads" \
        in tuned.stdout
    shown = _cli(["tune", "--show"], tmp_path, env)
    assert sid in shown.stdout and "short runs" in shown.stdout

    # a later run on this machine takes them, and its README says where they came from
    again = _cli(["run", *common, "--out", str(tmp_path / "r2")], tmp_path, env)
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-2000:]
    assert f"localhost: SingleStream with the settings tuned on {sid}" in again.stdout
    meta = json.loads(next((tmp_path / "r2" / "cells").glob("*/results/harness.json")).read_text())
    assert meta["spec"]["tuned"]["SingleStream"]["threads"] == settings["threads"]
    assert meta["scenarios"][0]["threads"] == settings["threads"]
    readme = next((tmp_path / "r2" / "submission").rglob("SingleStream/README.md")).read_text()
    assert "taken from this system's tuning file" in readme

    # tuned on other hardware (another vCPU count): not taken, and said why
    data = json.loads(cached.read_text())
    data["entries"]["resnet50/onnxruntime/cpu/fp32"]["fingerprint"]["vcpus"] = 4096
    cached.write_text(json.dumps(data))
    other = _cli(["run", *common, "--out", str(tmp_path / "r3")], tmp_path, env)
    assert other.returncode == 0, other.stdout[-4000:] + other.stderr[-2000:]
    assert "is for other hardware (vcpus was 4096" in other.stdout and "tune again" in other.stdout
    meta = json.loads(next((tmp_path / "r3" / "cells").glob("*/results/harness.json")).read_text())
    assert meta["spec"]["tuned"] is None


def test_a_restarted_cell_keeps_the_tuning_of_the_scenarios_it_finished(cache_dir, tmp_path):
    from benchfleet.harness.run import Harness
    from tests.conftest import tiny_spec

    found = tune.Tuned("Offline", 2, 16, metric=812.5, unit="samples/s", offline_expected_qps=812.5,
                       trials=[tune.Trial(1, 8, 400.0), tune.Trial(2, 16, 812.5)], stopped="grid walked")
    logs: list[str] = []
    h = Harness(tiny_spec(cache_dir, tune=True), tmp_path, log=logs.append)
    # the Offline record as run_scenario kept it in harness.json before the cell was stopped
    h._reload_tuning({"Offline": {"scenario": "Offline", "tuning": {"source": "tuned in this run", **found.as_dict()}},
                      "SingleStream": {"scenario": "SingleStream", "tuning": {"source": "tuning file", "threads": 1}}})
    assert h._tuned == {"Offline": {"threads": 2, "batch": 16, "offline_expected_qps": 812.5}}
    assert h._tuning["Offline"]["trials"][1] == {"threads": 2, "batch": 16, "value": 812.5, "note": "", "runoff": False}
    assert h._threads_for("Server") == 2  # Server runs on Offline's threads
    assert "[Offline] tuning kept from an earlier start of this cell: 2 threads, batch 16" in logs


def test_a_host_with_another_backend_version_drops_the_tuned_settings(cache_dir, tmp_path):
    from benchfleet.harness.run import Harness
    from tests.conftest import tiny_spec

    logs: list[str] = []
    spec = tiny_spec(cache_dir, scenarios=["SingleStream"], offline="measured", synthetic_width=2, dataset_count=32,
                     tuned={"SingleStream": {"threads": 1}}, tuned_for_backend_version="0.0.1")
    meta = Harness(spec, tmp_path, log=logs.append).run()
    assert any("tuned settings dropped: they were found with onnxruntime 0.0.1" in m for m in logs), logs
    assert "tuning" not in meta["scenarios"][0]


def test_a_sweep_of_three_identical_ssh_hosts_tunes_once_and_the_others_take_it(cache_dir, tmp_path):
    from tests.sshfleet import Fleet

    fleet = Fleet.start(tmp_path / "fleet", 3)
    try:
        inv = fleet.inventory(tmp_path / "inventory.yml")
        sweep = tmp_path / "lab.yml"
        sweep.write_text(json.dumps({
            "submitter": "TestLab", "scenarios": ["SingleStream"], "offline": "measured", "model": "synthetic",
            "dataset": "synthetic", "synthetic_width": 2, "dataset_count": 32, "cache_dir": str(cache_dir),
            "tune_budget_s": 30, "systems": [{"name": "lab", "hosts": ["lab"]}]}))
        runs = tmp_path / "runs"
        proc = _cli(["sweep", str(sweep), "--tune", "--inventory", str(inv), "--runs-dir", str(runs)], tmp_path,
                    {"BENCHFLEET_TUNING_DIR": str(tmp_path / "cache")})
        assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
        assert "tuning first on node1: 2 cell(s) of identical hosts then take their settings" in proc.stdout
        (run_dir,) = runs.iterdir()
        metas = {p.parts[-3].split(".")[0]: json.loads(p.read_text())
                 for p in (run_dir / "cells").glob("*/results/harness.json")}
        assert sorted(metas) == ["node1", "node2", "node3"]
        assert [h for h in sorted(metas) if list((run_dir / "cells").glob(f"{h}.*/results/tuning.json"))] == ["node1"]
        tuned = metas["node1"]["scenarios"][0]["tuning"]
        assert tuned["source"] == "tuned in this run" and tuned["trials"]
        for other in ("node2", "node3"):
            assert metas[other]["spec"]["tune"] is False
            given = {k: v for k, v in metas[other]["spec"]["tuned"]["SingleStream"].items() if v is not None}
            assert given == {"threads": tuned["threads"], "batch": 1}
            assert metas[other]["scenarios"][0]["tuning"]["source"] == "tuning file"
            assert metas[other]["scenarios"][0]["threads"] == tuned["threads"]
            assert f"{other}: SingleStream with the settings node1 tuned" in proc.stdout
        (kept,) = (run_dir / "tuning").glob("*.json")
        assert json.loads(kept.read_text())["entries"]["resnet50/onnxruntime/cpu/fp32"]["host"] == "node1"

        # As if the sweep had stopped before node2 and node3 took node1's settings: --resume gives them those.
        rd = RunDir(run_dir)
        plan = rd.plan()
        for cell in plan.cells:
            if cell.host != "node1":
                shutil.rmtree(rd.cell_dir(cell.id))
                cell.spec.pop("tuned", None)
                cell.spec.pop("tuned_for_backend_version", None)
        rd.save_plan(plan)
        resumed = _cli(["sweep", "--resume", run_dir.name, "--runs-dir", str(runs)], tmp_path,
                       {"BENCHFLEET_TUNING_DIR": str(tmp_path / "cache")})
        assert resumed.returncode == 0, resumed.stdout[-5000:] + resumed.stderr[-2000:]
        assert "resuming a tuned sweep: 2 cell(s) take the settings of their tuning hosts" in resumed.stdout
        for other in ("node2", "node3"):
            assert f"{other}: SingleStream with the settings node1 tuned" in resumed.stdout
            meta = json.loads(next((run_dir / "cells").glob(f"{other}.*/results/harness.json")).read_text())
            assert meta["spec"]["tuned"]["SingleStream"]["threads"] == tuned["threads"]
            assert meta["scenarios"][0]["tuning"]["source"] == "tuning file"
    finally:
        fleet.stop()


def test_only_a_cell_told_to_tune_speaks_for_its_system(tmp_path):
    from types import SimpleNamespace

    run = tmp_path / "run"
    cells = []
    for host, told in (("node1", True), ("node2", False)):
        cid = f"{host}.resnet50.onnxruntime-cpu.open.SingleStream"
        (run / "cells" / cid / "results").mkdir(parents=True)
        threads = 2 if told else 64  # node2 was not asked, and claims another setting for the same system
        (run / "cells" / cid / "results" / "tuning.json").write_text(json.dumps({
            "backend_version": "1.32.0", "scenarios": {"SingleStream": {"settings": {"threads": threads},
                                                                        "found": {}}}}))
        (run / "hosts").mkdir(exist_ok=True)
        (run / "hosts" / f"{host}.json").write_text(json.dumps({"facts": FACTS}))
        cells.append(SimpleNamespace(id=cid, host=host, benchmark="resnet50", backend="onnxruntime", device="cpu",
                                     spec={"tune": told, "precision": "fp32"}))
    plan = SimpleNamespace(cells=cells, sweep=SimpleNamespace(round="v3.1"), run_id="r1")
    lines = tuning.collect(run, plan, tmp_path / "cache")
    assert len(lines) == 1 and "(node1)" in lines[0]
    (kept,) = (tmp_path / "cache").glob("*.json")
    entry = json.loads(kept.read_text())["entries"]["resnet50/onnxruntime/cpu/fp32"]
    assert entry["host"] == "node1" and entry["scenarios"]["SingleStream"]["settings"] == {"threads": 2}
