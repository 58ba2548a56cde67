"""A host is not trusted (issue 12, items 1, 4, 5, 7 and system ids): crafted results.tgz archives go
through the real cell_fetch action under real ansible-playbook (the code the role's harness_cell task runs when
it brings a finished cell home; `_follow` drives that path), the tree, results files and rescoring are the real
aggregate and CLI code."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from benchfleet import api
from benchfleet.digest import sha256_file
from benchfleet.submission.tree import SystemRun, write_tree
from benchfleet.sweep import report
from benchfleet.sweep.aggregate import aggregate
from benchfleet.sweep.plan import Cell, Plan, PlanSystem
from benchfleet.sweep.rundir import RunDir
from benchfleet.sweep.schema import parse
from tests.conftest import RECORDED, ROOT

VENV_BIN = Path(sys.executable).parent
SCENARIOS = ["SingleStream", "MultiStream", "Offline"]
CELL = "localhost.resnet50.onnxruntime-cpu.closed.all"


def _spec() -> dict:
    return json.loads((RECORDED / "harness.json").read_text())["spec"]


def _run_dir(tmp_path: Path, cells: list[Cell] | None = None, hosts: list[str] | None = None,
             sweep: dict | None = None) -> RunDir:
    cells = cells or [Cell(CELL, "localhost", "local", "resnet50", "onnxruntime", "cpu", "closed", SCENARIOS,
                           _spec(), 0.0)]
    plan = Plan("trust", parse({"submitter": "TestOrg", "round": "v3.1", **(sweep or {}),
                                "systems": [{"name": "local", "hosts": ["all"]}]}),
                str(ROOT / "inventories" / "local"), hosts or ["localhost"], {"local": PlanSystem("edge")}, cells)
    rd = RunDir(tmp_path / "runs" / "trust")
    rd.save_plan(plan)
    return rd


def _results(tmp_path: Path) -> Path:
    """A copy of the recorded run's results folder, to be altered by a test."""
    dst = tmp_path / "host" / "results"
    shutil.copytree(RECORDED, dst)
    return dst


def _edit_meta(results: Path, edit) -> None:
    meta = json.loads((results / "harness.json").read_text())
    edit(meta)
    (results / "harness.json").write_text(json.dumps(meta))


class _Zeros:
    """A file object of zeros that never holds them all in memory."""

    def read(self, n: int = -1) -> bytes:
        return b"\0" * max(0, n)


def _member(name: str, size: int = 0, **kw) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    for k, v in kw.items():
        setattr(info, k, v)
    return info


def _archive(tmp_path: Path, results: Path | None, extra=()) -> Path:
    path = tmp_path / "host" / "results.tgz"
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        if results is not None:
            tar.add(results, arcname="results")
        for info, data in extra:
            tar.addfile(info, io.BytesIO(data) if isinstance(data, bytes) else data)
    return path


def _fetch(tmp_path: Path, rd: RunDir, archive: Path, limits: dict | None = None,
           cell: str = CELL) -> tuple[subprocess.CompletedProcess, dict]:
    """Run the real cell_fetch action (its code is what the role's harness_cell task runs to bring a cell home) and
    return the process and the cell's recorded state."""
    args = {"src": str(archive), "sha256": sha256_file(archive), "dest": str(rd.cell_dir(cell)),
            "record": {"cell": cell, "host": "localhost"}}
    if limits:
        args["limits"] = limits
    return _play(tmp_path, rd, [
        # the role's task of this name starts the cell for the callback (here it stops a harness that is not there)
        {"name": f"Run cell {cell}", "benchfleet.mlperf.harness_cell": {"path": str(tmp_path / "no-cell"),
                                                                         "state": "stopped"}},
        {"name": "Bring the results home", "benchfleet.mlperf.cell_fetch": args},
    ], cell=cell)


def _play(tmp_path: Path, rd: RunDir, tasks: list[dict], play_vars: dict | None = None,
          cell: str = CELL) -> tuple[subprocess.CompletedProcess, dict]:
    """Run ``tasks`` on localhost under real ansible-playbook with the benchfleet_submission callback recording into
    ``rd``; the process and the cell's recorded state."""
    from benchfleet.runner import ansible_env

    play = tmp_path / "play.yml"
    play.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "vars": play_vars or {},
                                 "tasks": tasks}]))
    env = dict(os.environ, **ansible_env(tmp_path / "ansible", rd.root))
    proc = subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", str(ROOT / "inventories" / "local"), str(play)],
                          env=env, capture_output=True, text=True, cwd=ROOT)
    status = rd.status_file(cell)
    return proc, json.loads(status.read_text()) if status.is_file() else {}


def _follow_task(path: Path, rd: RunDir, **fetch) -> dict:
    """The role's cell task: follow the harness in ``path`` and bring the results home in the same call."""
    return {"name": f"Run cell {CELL}", "register": "w", "benchfleet.mlperf.harness_cell": {
        "path": str(path), "state": "finished", "wait": 1,
        "fetch": {"dest": str(rd.cell_dir(CELL)), "record": {"cell": CELL, "host": "localhost"}, **fetch}}}


def _liar(tmp_path: Path, reply: dict) -> dict:
    """Play variables that make the host's Python a compromised one: whatever it is sent, it answers ``reply``."""
    liar = tmp_path / "liar-python"
    liar.write_text(f"#!/bin/sh\ncat > /dev/null\necho '{json.dumps(reply)}'\n")
    liar.chmod(0o755)
    return {"ansible_python_interpreter": str(liar)}


def _refused(proc, status: dict, rd: RunDir, kind: str) -> str:
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert status.get("state") == "failed" and status.get("kind") == kind, (status, out)
    assert not rd.cell_dir(CELL).exists() and not list((rd.root / "cells").glob(".*.tmp"))
    assert not list((rd.root / "incoming").glob("*")) if (rd.root / "incoming").is_dir() else True
    return status["message"]


# ---- item 1: paths come from the plan ----------------------------------------------------------------

@pytest.mark.parametrize("field,edit", [
    ("spec.division", lambda m: m["spec"].update(division="../../../../escape")),
    ("benchmark", lambda m: m.update(benchmark="../../../../escape")),
    ("scenarios", lambda m: m["scenarios"][0].update(scenario="../../../../../escape")),
])
def test_harness_json_naming_other_paths_is_refused_as_tampered(tmp_path, field, edit):
    rd = _run_dir(tmp_path)
    results = _results(tmp_path)
    _edit_meta(results, edit)
    proc, status = _fetch(tmp_path, rd, _archive(tmp_path, results))
    message = _refused(proc, status, rd, "tampered")
    assert f"harness.json {field} is " in message and "escape" in message and "but the plan says" in message
    # nothing was written outside the run directory, and nothing at all for the cell
    assert [p for p in tmp_path.rglob("*escape*")] == []
    summary = json.loads((rd.root / "results.json").read_text())
    assert summary["results"] == []
    (failure,) = summary["failures"]
    assert failure["kind"] == "tampered" and failure["infrastructure"] is True


def _follow(tmp_path: Path, rd: RunDir, results: Path) -> tuple[subprocess.CompletedProcess, dict]:
    """What the role does: the cell's task follows a harness that has finished on the host (its folder holds rc 0
    and results/) and, in the same call, brings the results home through harness_cell's fetch."""
    folder = tmp_path / "host" / "cell"
    shutil.copytree(results, folder / "results")
    (folder / "pid").write_text("1\n")
    (folder / "rc").write_text("0\n")
    return _play(tmp_path, rd, [_follow_task(folder, rd)])


def test_the_follow_call_that_sees_a_cell_finish_brings_it_home_through_the_same_checks(tmp_path):
    rd = _run_dir(tmp_path / "hostile")
    results = _results(tmp_path / "hostile")
    _edit_meta(results, lambda m: m["spec"].update(division="../../../../escape"))
    proc, status = _follow(tmp_path / "hostile", rd, results)
    message = _refused(proc, status, rd, "tampered")
    assert "harness.json spec.division is " in message and "but the plan says" in message
    assert status["task"].endswith(f"Run cell {CELL}") and not rd.cell_dir(CELL).exists()

    rd = _run_dir(tmp_path / "honest")
    proc, status = _follow(tmp_path / "honest", rd, _results(tmp_path / "honest"))
    assert proc.returncode == 0, proc.stdout[-3000:]
    record = json.loads((rd.cell_dir(CELL) / "cell.json").read_text())
    assert record["cell"] == CELL and record["validity"] == "VALID" and record["files"] > 10
    assert record["harness_ended_at"] >= record["harness_started_at"] > 0  # the host's times, from the follow call
    assert (rd.cell_dir(CELL) / "SHA256SUMS").is_file() and status == {}  # done: no status file left


def test_a_host_cannot_call_its_own_cell_home_or_valid(tmp_path):
    """The host's reply to the follow call is data: a compromised host's Python that answers "fetched", "validity"
    or "files" itself does not make its cell done or VALID (only the controller's fetch does)."""
    rd = _run_dir(tmp_path)
    reply = {"changed": False, "finished": False, "running": True, "fetched": True, "validity": "VALID", "files": 99,
             "failure_kind": "fetch", "progress": "x"}
    proc, status = _play(tmp_path, rd, [_follow_task(tmp_path / "cell", rd),
                                        {"name": "What the play saw", "ansible.builtin.debug": {"var": "w"}}],
                         _liar(tmp_path, reply))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert '"running": true' in proc.stdout and '"fetched"' not in proc.stdout and '"validity"' not in proc.stdout
    assert status["state"] == "running" and not rd.cell_dir(CELL).exists()


def test_a_host_that_understates_its_archive_is_still_capped_after_the_transfer(tmp_path):
    """harness_cell's reply gives the archive's size beside its checksum, which spares a remote stat before the
    transfer; it is the host's word, so the copy is capped again once it is here."""
    rd = _run_dir(tmp_path)
    big = tmp_path / "host" / "results.tgz"
    big.parent.mkdir(parents=True)
    big.write_bytes(os.urandom(64 * 1024))
    reply = {"changed": False, "finished": True, "running": False, "progress": "", "archive": str(big),
             "sha256": sha256_file(big), "archive_size": 10, "elapsed": 1.0}
    proc, status = _play(tmp_path, rd, [_follow_task(tmp_path / "cell", rd, limits={"max_transfer_bytes": 1000})],
                         _liar(tmp_path, reply))
    assert proc.returncode != 0 and status["state"] == "failed" and status["kind"] == "fetch", proc.stdout[-3000:]
    assert "the fetched archive is over max_transfer_bytes (65536 > 1000)" in status["message"]
    assert not rd.cell_dir(CELL).exists() and not list((rd.root / "incoming").iterdir())


def test_tree_paths_come_from_the_plan_and_unsafe_names_are_refused(tmp_path):
    from benchfleet.submission.tree import UnsafeTreePath

    results = _results(tmp_path)
    _edit_meta(results, lambda m: (m["spec"].update(division="../../escape"), m.update(benchmark="../../escape")))
    planned = {"division": "closed", "benchmark": "resnet50", "backend": "onnxruntime", "device": "cpu",
               "precision": "fp32", "mode": "quick", "scenarios": SCENARIOS}
    root = tmp_path / "out" / "tree"
    write_tree(root, "TestOrg", [SystemRun("sys1", {}, results, planned)])
    assert sorted(p.name for p in root.iterdir()) == ["README.md", "closed"]
    assert (root / "closed" / "TestOrg" / "results" / "sys1" / "resnet50" / "Offline").is_dir()
    assert not list(tmp_path.rglob("*escape*"))
    for bad in ({"division": "../escape"}, {"backend": "x/../../escape"}, {"scenarios": [".hidden"]},
                {"division": "closed\0"}):
        with pytest.raises(UnsafeTreePath, match="not a safe folder or file name"):
            write_tree(tmp_path / "out2", "TestOrg", [SystemRun("sys1", {}, results, {**planned, **bad})])
    for sid in ("../sys", "-rf", ".sys"):
        with pytest.raises(UnsafeTreePath, match="system id"):
            write_tree(tmp_path / "out3", "TestOrg", [SystemRun(sid, {}, results, planned)])
    assert not list(tmp_path.rglob("*escape*"))


# ---- item 4: what is unpacked ------------------------------------------------------------------------

@pytest.mark.parametrize("member,why", [
    (_member("evil.txt", 4), "only files under results/"),
    (_member("results/../../evil.txt", 4), "only files under results/"),
    (_member("/tmp/evil.txt", 4), "only files under results/"),
    (_member("results/link", type=tarfile.SYMTYPE, linkname="/etc/passwd"), "a link"),
    (_member("results/hard", type=tarfile.LNKTYPE, linkname="../../../../etc/passwd"), "a link"),
    (_member("results/dev", type=tarfile.CHRTYPE, devmajor=1, devminor=3), "not a regular file"),
    (_member("results/fifo", type=tarfile.FIFOTYPE), "not a regular file"),
])
def test_members_outside_results_links_and_devices_are_refused(tmp_path, member, why):
    rd = _run_dir(tmp_path)
    data = b"evil" if member.isfile() else None
    proc, status = _fetch(tmp_path, rd, _archive(tmp_path, _results(tmp_path), [(member, data)]))
    message = _refused(proc, status, rd, "fetch")
    assert f"refused archive member {member.name!r}" in message and why in message
    assert not list(tmp_path.rglob("evil.txt"))


def test_setuid_owner_and_modes_are_not_kept(tmp_path):
    rd = _run_dir(tmp_path)
    tool = _member("results/tool.sh", 10, mode=0o6777, uid=12345, gid=12345, uname="someone", gname="someone")
    opened = _member("results/SingleStream/open", 0, type=tarfile.DIRTYPE, mode=0o7777)
    proc, status = _fetch(tmp_path, rd, _archive(tmp_path, _results(tmp_path), [(opened, None),
                                                                                 (tool, b"#!/bin/sh\n")]))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    st = (rd.cell_dir(CELL) / "results" / "tool.sh").stat()
    assert st.st_mode & 0o7777 == 0o644
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())
    assert (rd.cell_dir(CELL) / "results" / "SingleStream" / "open").stat().st_mode & 0o7777 == 0o755


# ---- item 5: caps ------------------------------------------------------------------------------------

def test_a_size_bomb_is_refused_by_the_default_caps(tmp_path):
    rd = _run_dir(tmp_path)
    bomb = _member("results/SingleStream/full_logs/padding.bin", 203_000_000)
    archive = _archive(tmp_path, _results(tmp_path), [(bomb, _Zeros())])
    assert archive.stat().st_size < 1_000_000  # small on the wire
    proc, status = _fetch(tmp_path, rd, archive)
    message = _refused(proc, status, rd, "fetch")
    assert "over max_archive_bytes (" in message and "fetch_limits.max_archive_bytes" in message
    figure, limit = message.split("max_archive_bytes (", 1)[1].split(")", 1)[0].split(" > ")
    assert int(figure) > int(limit) >= 64 * 1024 * 1024


def test_too_many_members_are_refused(tmp_path):
    rd = _run_dir(tmp_path)
    many = [(_member(f"results/many/{i}"), b"") for i in range(600)]
    proc, status = _fetch(tmp_path, rd, _archive(tmp_path, _results(tmp_path), many))
    message = _refused(proc, status, rd, "fetch")
    assert "the number of archive members is over max_members (501 > 500)" in message


@pytest.mark.parametrize("limits,cap,where,via", [
    ({"max_transfer_bytes": 1000}, "max_transfer_bytes", "on the host", "sweep"),
    ({"max_unpacked_bytes": 100_000}, "max_unpacked_bytes", "the unpacked size of the files", "argument"),
])
def test_caps_can_be_set_per_sweep_and_name_the_figure(tmp_path, limits, cap, where, via):
    rd = _run_dir(tmp_path, sweep={"fetch_limits": limits} if via == "sweep" else None)
    archive = _archive(tmp_path, _results(tmp_path))
    proc, status = _fetch(tmp_path, rd, archive, limits=limits if via == "argument" else None)
    message = _refused(proc, status, rd, "fetch")
    assert where in message and f"over {cap} (" in message and f" > {limits[cap]})" in message
    # the same archive is accepted under the defaults
    proc, status = _fetch(tmp_path, _run_dir(tmp_path / "defaults"), archive)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ---- item 7: verdicts come from the logs --------------------------------------------------------------

def test_validity_and_metric_come_from_the_logs_not_the_host_claims(tmp_path):
    rd = _run_dir(tmp_path)
    results = _results(tmp_path)
    perf = results / "SingleStream" / "performance" / "run_1"
    detail = perf / "mlperf_log_detail.txt"
    lines = [ln.replace('"value": "VALID"', '"value": "INVALID"') if '"result_validity"' in ln else ln
             for ln in detail.read_text().splitlines()]
    detail.write_text("\n".join(lines) + "\n")
    summary = perf / "mlperf_log_summary.txt"
    summary.write_text(summary.read_text().replace("Result is : VALID", "Result is : INVALID"))

    def claim(meta):  # the host says VALID and a better number everywhere
        for s in meta["scenarios"]:
            s.update(validity="VALID", metric=1.0)
            for r in s["runs"]:
                r.update(validity="VALID", metric=1.0)
    _edit_meta(results, claim)
    proc, _ = _fetch(tmp_path, rd, _archive(tmp_path, results))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads((rd.cell_dir(CELL) / "cell.json").read_text())["validity"] == "INVALID"
    out = json.loads((rd.root / "results.json").read_text())
    rows = {r["scenario"]: r for r in out["results"]}
    assert rows["SingleStream"]["validity"] == "INVALID"
    assert rows["MultiStream"]["validity"] == "VALID"
    assert rows["SingleStream"]["metric"] == pytest.approx(52.032285)  # the log's, not the claimed 1.0
    assert rows["MultiStream"]["metric"] == pytest.approx(595.979444)
    assert {r["scenario"] for r in out["invalid_results"]} >= {"SingleStream"}
    csv_rows = {r["scenario"]: r for r in csv.DictReader(io.StringIO((rd.root / "results.csv").read_text()))}
    assert csv_rows["SingleStream"]["validity"] == "INVALID" and float(csv_rows["SingleStream"]["value"]) == 52.032285


def _labelled_cell(rd_root: Path, cell: Cell, labels, ship_labels: Path, tmp_path: Path) -> None:
    """A finished cell whose accuracy logs answer ``labels`` (100% against them) and that ships ``ship_labels``."""
    results = rd_root / "cells" / cell.id / "results"
    shutil.copytree(RECORDED, results)
    shutil.rmtree(results / "dataset")
    log = json.dumps([{"seq_id": i, "qsl_idx": i, "data": struct.pack("<f", float(v)).hex().upper()}
                      for i, v in enumerate(labels)])
    for s in SCENARIOS:
        (results / s / "full_logs" / "mlperf_log_accuracy.json").write_text(log)
        (results / s / "accuracy" / "mlperf_log_accuracy.json").write_text(log)
        h = sha256_file(results / s / "accuracy" / "mlperf_log_accuracy.json")
        (results / s / "accuracy" / "accuracy.txt").write_text(
            f"accuracy=100.000%, good={len(labels)}, total={len(labels)}\nhash={h}\n")
    _edit_meta(results, lambda m: m.update(spec=cell.spec))
    (results / "labels").mkdir()
    shutil.copy(ship_labels, results / "labels" / "val_map.txt")
    (rd_root / "cells" / cell.id / "cell.json").write_text(json.dumps({"cell": cell.id, "host": cell.host}))


def _two_hosts(tmp_path: Path, tamper: bool) -> list[str]:
    """Two hosts on generated data of different sizes (so different labels); returns the CLI's report."""
    from benchfleet.benchmarks.imagenet.dataset import ImageNetVal
    from benchfleet.benchmarks.imagenet.synthetic import make_pair

    cache = tmp_path / "cache"
    cells, truth = [], {}
    for host, count in (("hosta", 48), ("hostb", 40)):
        spec = dict(_spec(), model="synthetic", dataset="synthetic", synthetic_width=8, dataset_count=count,
                    cache_dir=str(cache))
        cells.append(Cell(f"{host}.resnet50", host, "local", "resnet50", "onnxruntime", "cpu", "closed", SCENARIOS,
                          spec, 0.0))
        # what the host's harness generates (the controller regenerates it from the plan in the same cache)
        truth[host] = make_pair(cache / "synthetic", count=count, width=8, threads=1, log=lambda m: None).dataset_dir
    rd = _run_dir(tmp_path, cells, hosts=["hosta", "hostb"])
    a = ImageNetVal.open(truth["hosta"], require_files=False).labels
    b = ImageNetVal.open(truth["hostb"], require_files=False).labels
    assert list(a[:len(b)]) != list(b)  # the two hosts' labels differ
    _labelled_cell(rd.root, cells[0], a, truth["hosta"] / "val_map.txt", tmp_path)
    shipped_b = truth["hostb"] / "val_map.txt"
    if tamper:  # host b answers wrongly and ships labels that agree with its answers
        b = (b + 1) % 1000
        shipped_b = tmp_path / "altered_val_map.txt"
        shipped_b.write_text("".join(f"ILSVRC2012_val_{i + 1:08d}.JPEG {v}\n" for i, v in enumerate(b)))
    _labelled_cell(rd.root, cells[1], b, shipped_b, tmp_path)
    summary = aggregate(rd.root)
    outcome = SimpleNamespace(summary=summary, interrupted=False, wall_s=0.0, ansible_rc=0, ran=[])
    buf = io.StringIO()
    from contextlib import redirect_stdout

    with redirect_stdout(buf):
        print(report.run_report(api.finish(rd, outcome)))
    return buf.getvalue().splitlines()


def test_each_host_is_rescored_with_its_own_labels(tmp_path):
    lines = _two_hosts(tmp_path, tamper=False)
    assert any(ln.startswith("benchfleet check: ") for ln in lines)
    assert not [ln for ln in lines if "against the dataset" in ln or "scoring files" in ln], "\n".join(lines)
    # what the checker rescored each host's logs with: that host's own (generated) labels
    staged = tmp_path / "runs" / "trust" / "rescore"
    for host, count in (("hosta", 48), ("hostb", 40)):
        labels = (staged / f"{host}.resnet50" / "results" / "labels" / "val_map.txt").read_text()
        assert labels == (tmp_path / "cache" / "synthetic" / f"resnet50-w8-s2023-n{count}" / "imagenet-synthetic"
                          / "val_map.txt").read_text()
        assert (staged / f"{host}.resnet50" / "results" / "Offline" / "full_logs" / "mlperf_log_accuracy.json"
                ).is_file()


def test_a_host_shipping_altered_generated_labels_is_caught(tmp_path):
    lines = _two_hosts(tmp_path, tamper=True)
    text = "\n".join(lines)
    assert "ERROR cells/hostb.resnet50/results/labels/val_map.txt: differs from the generated dataset" in text, text
    # rescored against the controller's labels: host b's 100% claim is refuted, host a's stands
    assert [ln for ln in lines if "against the dataset" in ln and "reports 100.0 but the accuracy log scores 0.0000"
            in ln], text
    assert not [ln for ln in lines if "hosta" in ln.lower() and "ERROR" in ln], text


# ---- item 12: system ids -------------------------------------------------------------------------------

def test_a_host_reporting_odd_vcpus_or_leaving_out_its_versions_does_not_break_the_tree(tmp_path):
    rd = _run_dir(tmp_path)
    shutil.copytree(RECORDED, rd.cell_dir(CELL) / "results")
    _edit_meta(rd.cell_dir(CELL) / "results",
               lambda m: [m.pop(k) for k in ("host", "provenance", "benchfleet_version")])
    (rd.cell_dir(CELL) / "cell.json").write_text(json.dumps({"cell": CELL, "host": "localhost"}))
    rd.host_file("localhost").parent.mkdir(parents=True, exist_ok=True)
    rd.host_file("localhost").write_text(json.dumps({"facts": {"cpu_model": "Evil/../CPU\x1b[2J", "vcpus": "2/x"},
                                                     "overrides": {}}))
    summary = aggregate(rd.root)
    (system,) = summary["systems"]
    sid = system["system_id"]
    assert "/" not in sid and "." not in sid and "\x1b" not in sid and "_0c_" in sid
    assert (rd.root / "submission" / "closed" / "TestOrg" / "systems" / f"{sid}.json").is_file()


# ---- SYNTHETIC labels come from the plan too ----------------------------------------------------------------

def test_a_host_that_says_its_generated_data_is_real_still_gets_a_synthetic_tree(tmp_path):
    results = tmp_path / "results"
    shutil.copytree(RECORDED, results)
    meta = json.loads((results / "harness.json").read_text())
    meta["synthetic"] = False  # the host lies (or is buggy) about a cell the plan ran on generated data
    (results / "harness.json").write_text(json.dumps(meta))
    planned = {"division": "closed", "benchmark": "resnet50", "backend": "onnxruntime", "device": "cpu",
               "precision": "fp32", "mode": "quick", "scenarios": SCENARIOS, "synthetic": True}
    (sub,) = write_tree(tmp_path / "tree", "TestOrg", [SystemRun("sys1", {"division": "closed"}, results, planned)])
    readmes = list((sub / "measurements").rglob("README.md"))
    assert readmes and all("SYNTHETIC" in p.read_text() for p in readmes)
    assert all(json.loads(p.read_text())["starting_weights_filename"].startswith("SYNTHETIC")
               for p in (sub / "measurements").rglob("sys1_*.json"))
    assert "SYNTHETIC" in (tmp_path / "tree" / "README.md").read_text()


def test_model_auto_with_a_dataset_folder_never_swaps_in_generated_data(tmp_path):
    from benchfleet.benchmarks import registry, sources

    entry = registry.lookup("resnet50", "onnxruntime")
    spec = SimpleNamespace(model="auto", dataset=str(tmp_path), benchmark="resnet50", backend="onnxruntime")
    said: list[str] = []
    # offline or not, a given dataset folder is scored with the official model (cache or checked download)
    assert sources._want_synthetic(spec, entry, "imagenet-val", said.append) is False
    assert said == []
