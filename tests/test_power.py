"""Power results (issue 22, part 1): benchfleet's check of a power result against the round's power checker.

The fixture is one officially accepted v3.1 power result, unchanged: CTuning's ResNet50 Offline on
nvidia_orin_maxq-reference-cpu-onnxruntime-v1.15.1-default_config (mlcommons/inference_results_v3.1, closed/CTuning;
the bytes of ctuning/mlperf_inference_submissions_v3.1a, whose SHA-1s its client.json records), measured with a
Yokogawa WT310E through PTDaemon 1.10.0: its performance folder (power/, ranging/, run_1/ without the accuracy log)
and the analyzer's description from its measurements folder.

A second fixture was generated on this machine: MLCommons' power client and server (mlcommons/power-dev at ad7eab5,
the version the v3.1 checker accepts; fetched, run by hand, never committed) measuring a LoadGen SingleStream run
through benchfleet's PTDaemon test double (tests/ptd_double.py) and NTP double (tests/ntp_double.py):

    python3 tests/ntp_double.py &            # UDP 123: the client and server insist on an NTP server
    python3 -m ptd_client_server.server -c server.conf   # [ptd] ptd: tests/ptd_double.py, deviceType: 49
    python3 -m ptd_client_server.client -a 127.0.0.1 -n 127.0.0.1 -T -f -w "python workload.py lg" -L lg -o out

The official v3.1 power checker passes it (all 11 checks), and so does benchfleet's.

The mutation table's expected verdicts are those of the official v3.1 power_checker.py (mlcommons/inference tag v3.1,
tools/submission/power/), run by hand on the same mutations of the same bytes of both fixtures (never committed
here)."""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path

import pytest

from benchfleet.harness import power_layout as pw_files
from benchfleet.rules import get_round
from benchfleet.submission import power as pw
from benchfleet.submission.check import Checker
from benchfleet.sweep.report import check_report
from tests.power_doubles import POWER_DOUBLE, server_double

FIXTURES = Path(__file__).parent / "fixtures" / "power"
ACCEPTED = "ctuning-v3.1-resnet50-offline.tar.gz"  # Offline, 28.9732 samples/s
GENERATED = "ptd-double-singlestream.tar.gz"  # SingleStream, through the PTDaemon double
SCENARIO = {ACCEPTED: ("Offline", 28.9732), GENERATED: ("SingleStream", None)}  # (an SS metric is not used)


def _tree(tmp: Path, fixture: str = ACCEPTED) -> tuple[Path, Path, Path]:
    with tarfile.open(FIXTURES / fixture) as t:
        t.extractall(tmp, filter="data")
    perf = next(tmp.glob("results/*/resnet50/*/performance"))
    meas = next(tmp.glob("measurements/*/resnet50/*"))
    return tmp, perf, meas


def _check(root: Path, perf: Path, meas: Path, version: str = "v3.1",
           fixture: str = ACCEPTED) -> tuple[bool, dict, Checker]:
    checker = Checker(root, get_round(version))
    scenario, value = SCENARIO[fixture]
    result: dict = {"system": "s", "benchmark": "resnet50", "scenario": scenario, "metric": value}
    ok = checker.guarded(perf / "power", checker.check_power, perf, scenario, value, result, meas, default=False)
    return bool(ok), result, checker


def _json(p: Path, fn) -> None:
    j = json.loads(p.read_text())
    fn(j)
    p.write_text(json.dumps(j, indent=4))


def _failed(checker: Checker) -> list[str]:
    return sorted({m.group(1) for f in checker.report.errors
                   if (m := re.match(r"power check failed: (Check [^:]+):", f.message))})


def test_an_accepted_v3_1_power_result_passes_with_the_official_metric(tmp_path):
    root, perf, meas = _tree(tmp_path)
    ok, result, checker = _check(root, perf, meas)
    assert ok and not checker.report.findings, checker.report.findings
    # the official checker's figures for this result: 30.173133097762054 W, 0.960 samples per joule
    assert result["power_metric"] == pytest.approx(30.173133097762054, rel=1e-12)
    assert result["power_unit"] == "Watts" and result["power_efficiency"] == pytest.approx(0.96023, abs=1e-5)
    checker.report.results.append({**result, "valid": ok})
    assert "power 30.1731 Watts (0.9602 samples/J)" in check_report(checker.report)


def _spl_value(perf):  # a sample changed after the session recorded it
    p = perf / "run_1" / "spl.txt"
    p.write_text(p.read_text().replace("Watts,", "Watts,1", 1))


def _identify(perf):
    def older(j):
        for m in j["ptd_messages"]:
            if m["cmd"] == "Identify":
                m["reply"] = m["reply"].replace("version=1.10.0", "version=1.9.2")
    _json(perf / "power" / "server.json", older)


def _other_run(perf):  # LoadGen's testing logs of another run (a day later)
    p = perf / "run_1" / "mlperf_log_detail.txt"
    p.write_text(re.sub(r'("key": "power_(?:begin|end)", "value": ")(\d\d)-(\d\d)',
                        lambda m: f"{m.group(1)}{m.group(2)}-{int(m.group(3)) + 1:02d}", p.read_text()))


def _ptd_error(perf):  # an analyzer error during the testing run
    p = perf / "power" / "ptd_logs.txt"
    text = p.read_text(errors="replace")
    stamp = [line for line in text.splitlines() if re.match(r"^\d\d-\d\d-\d\d\d\d", line)][-1][:23]
    p.write_text(text + f"{stamp}: ERROR: Lost connection to analyzer\n")


def _clock(perf):
    _json(perf / "power" / "server.json",
          lambda j: j["phases"]["testing"][0].__setitem__(0, j["phases"]["testing"][0][0] + 2))


MUTATIONS = {
    "a sample edited": (_spl_value, ["Check results checksum"]),
    "server uuid of another session": (lambda p: _json(p / "power" / "server.json", lambda j: j["uuid"].__setitem__(
        "client", "00000000-0000-0000-0000-000000000000")), ["Check UUID"]),
    "PTDaemon 1.9.2": (_identify, ["Check PTD commands and replies"]),
    "server in debug mode": (lambda p: _json(p / "power" / "server.json", lambda j: j.__setitem__("debug", True)),
                             ["Check debug is disabled on server-side"]),
    "client of another session": (lambda p: _json(p / "power" / "client.json", lambda j: j.__setitem__(
        "session_name", "2023-01-01_00-00-00")), ["Check session name"]),
    "power logs of another run": (_other_run, ["Check results checksum", "Check time difference"]),
    "modified power client": (lambda p: _json(p / "power" / "client.json", lambda j: j["sources"].__setitem__(
        "client.py", "0" * 40)), ["Check client sources checksum"]),
    "unknown analyzer": (lambda p: _json(p / "power" / "server.json", lambda j: j["ptd_config"].__setitem__(
        "device_type", 99)), ["Check PTD configuration"]),
    "clocks 2 s apart": (_clock, ["Check time difference"]),
    "analyzer error while testing": (_ptd_error, ["Check errors and warnings from PTD logs",
                                                  "Check results checksum"]),
    "client and server disagree": (lambda p: _json(p / "power" / "client.json", lambda j: j["messages"][1].__setitem__(
        "cmd", "time2")), ["Check client server messages"]),
}


@pytest.mark.parametrize("fixture", [ACCEPTED, GENERATED])
@pytest.mark.parametrize("name", list(MUTATIONS))
def test_each_mutation_fails_the_checks_the_official_power_checker_fails(tmp_path, name, fixture):
    mutate, official = MUTATIONS[name]
    root, perf, meas = _tree(tmp_path, fixture)
    mutate(perf)
    ok, result, checker = _check(root, perf, meas, fixture=fixture)
    assert not ok and "power_metric" not in result
    assert _failed(checker) == sorted(official), checker.report.errors


def test_a_power_session_through_the_ptdaemon_double_passes_with_energy_per_query(tmp_path):
    root, perf, meas = _tree(tmp_path, GENERATED)
    ok, result, checker = _check(root, perf, meas, fixture=GENERATED)
    assert ok and not checker.report.findings, checker.report.findings
    # 8 samples of about 30 W inside LoadGen's window, 3,732 queries: about 65 mJ a query
    assert result["power_unit"] == "millijoules" and 55 < result["power_metric"] < 75
    server = json.loads((perf / "power" / "server.json").read_text())
    identify = next(m["reply"] for m in server["ptd_messages"] if m["cmd"] == "Identify")
    assert "BENCHFLEET-TEST-DOUBLE" in identify  # what it was measured with is on record


def test_the_ptdaemon_double_answers_as_the_power_server_expects(tmp_path):
    """The command sequence of MLCommons' power server, against tests/ptd_double.py over TCP."""
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "samples.txt"
    proc = subprocess.Popen([sys.executable, str(Path(__file__).parent / "ptd_double.py"), "-l", str(log), "-p",
                             str(port), "-g", "49", "/dev/null"], stdout=subprocess.PIPE, text=True)
    try:
        for _ in range(100):
            try:
                conn = socket.create_connection(("127.0.0.1", port))
                break
            except ConnectionRefusedError:
                time.sleep(0.05)
        buf = b""

        def line() -> str:
            nonlocal buf
            while b"\r\n" not in buf:
                buf += conn.recv(4096)
            one, buf = buf.split(b"\r\n", 1)
            return one.decode()

        def cmd(text: str) -> str:
            conn.sendall(text.encode() + b"\r\n")
            return line()

        assert cmd("Hello") == "Hello, PTDaemon here!"
        identify = cmd("Identify")
        assert identify.startswith("YokogawaWT310E,") and "version=1.10.0-" in identify and "TEST-DOUBLE" in identify
        assert cmd("RR") == "Ranges,0,0.500000,0,300.000000"
        assert cmd("SR,V,Auto") == "Range V changed" and cmd("SR,A,Auto") == "Range A changed"
        assert cmd("Go,1000,0,s_ranging") == pw.GO_REPLY
        time.sleep(2.3)
        assert cmd("Stop") == "Stopping untimed measurement"
        head = cmd("RL")
        n = int(head.split()[1])
        assert head == f"Last {n} samples" and n >= 2
        samples = [line() for _ in range(n)]
        assert all(x.startswith("Time,") and ",Watts," in x and ",PF," in x for x in samples)
        watts = cmd("Watts").split(",")
        assert watts[0] == "Watts" and 25 < float(watts[1]) < 35 and int(watts[4]) == n
        assert cmd("Stop") == "Error: no measurement to stop"  # nothing is measuring now
        conn.close()
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[0]
    assert "TEST DOUBLE" in out and "Uncertainty checking for YokogawaWT310E is activated" in out
    assert out.index("is activated") < out.index("Go with mark 's_ranging'") < out.index("Completed test")
    marked = [line for line in log.read_text().splitlines() if line.endswith(",Mark,s_ranging")]
    assert len(marked) >= 2 and all(line.startswith("Time,") and ",Watts," in line for line in marked)


def test_missing_files_make_the_result_invalid(tmp_path):
    # the round's checker: run_1 and ranging must hold summary, detail and spl.txt; power/ its five files; the
    # measurements need analyzer_table.* and power_settings.*
    root, perf, meas = _tree(tmp_path)
    (perf / "power" / "client.log").unlink()
    ok, _, checker = _check(root, perf, meas)
    assert not ok and any("has file list mismatch (['client.log'])" in f.message for f in checker.report.errors)

    root, perf, meas = _tree(tmp_path / "b")
    (meas / "analyzer_table.md").unlink()
    ok, _, checker = _check(root, perf, meas)
    assert not ok and any("is missing analyzer_table.*" in f.message for f in checker.report.errors)

    root, perf, meas = _tree(tmp_path / "c")
    spl = perf / "run_1" / "spl.txt"
    spl.write_text("".join(line.replace("Time,07-14-2023", "Time,07-13-2023") + "\n"
                           for line in spl.read_text().splitlines()))  # every sample outside LoadGen's window
    ok, result, checker = _check(root, perf, meas)
    assert not ok and "power_metric" not in result
    assert any("no power samples inside LoadGen's power window" in f.message for f in checker.report.errors)


def test_energy_per_query_for_the_stream_scenarios():
    rules = get_round("v3.1").power
    spl = "".join(f"Time,07-14-2023 16:00:{s:02d}.000,Watts,{w:.6f},Volts,230.0,Amps,0.1,PF,0.9,Mark,x\n"
                  for s, w in ((1, 10.0), (2, 12.0), (3, -1.0), (9, 50.0)))
    window = ("07-14-2023 16:00:00.500", "07-14-2023 16:00:04.500")  # 4 s; the -1 and the 50 W sample are left out
    ss = pw.metric("SingleStream", "SingleStream", 5.0, window, spl, 200, rules)
    assert ss.unit == "millijoules" and ss.value == pytest.approx(11.0 * 4 * 1000 / 200)  # 220 mJ per query
    assert ss.efficiency == pytest.approx(1000 / 220)
    ms = pw.metric("MultiStream", "SingleStream", 5.0, window, spl, 200, rules)  # inferred: 8 samples a query
    assert ms.value == pytest.approx(8 * 220) and ms.efficiency == pytest.approx(8 * 1000 / (8 * 220))
    with pytest.raises(pw.Failed, match="result_query_count is not logged"):
        pw.metric("SingleStream", "SingleStream", 5.0, window, spl, None, rules)


def test_later_rounds_take_their_own_power_rules(tmp_path):
    # v4.0 accepts one other source set than v3.1's three and allows 800 ms between the clocks; v5.0 PTDaemon 1.11.1
    root, perf, meas = _tree(tmp_path)
    ok, _, checker = _check(root, perf, meas, "v5.0")
    assert not ok and set(_failed(checker)) >= {"Check PTD commands and replies"}
    assert get_round("v4.0").power.time_tolerance_ms == 800 and get_round("v3.1").power.time_tolerance_ms == 500


@pytest.fixture()
def power_server(tmp_path):
    with server_double(tmp_path / "director") as port:
        yield port


def _power_spec(cache_dir, port: int = 4950):
    from conftest import tiny_spec

    return tiny_spec(cache_dir, threads=1, scenarios=["SingleStream"], dataset_count=256, power={
        "client_dir": str(POWER_DOUBLE), "server": f"127.0.0.1:{port}", "ntp": "127.0.0.1",
        "analyzer": "| Vendor | Model |\n|---|---|\n| benchfleet | power test double |", "settings": "none"})


def test_a_power_client_the_round_does_not_accept_is_never_run(cache_dir, tmp_path, monkeypatch):
    """A sweep file names the client's folder on the host: only a version of MLCommons' power client the round
    accepts runs there (its sources' SHA-1 against the round's list); the double runs only where the host says so."""
    from benchfleet.harness.run import Harness

    monkeypatch.delenv(pw_files.UNVERIFIED_ENV, raising=False)
    with pytest.raises(RuntimeError, match=r"power.client_dir: .*power_double/ptd_client_server is not a version of "
                                           r"MLCommons' power client that v3.1 accepts"):
        Harness(_power_spec(cache_dir), tmp_path / "out", log=lambda m: None).run()
    assert not (tmp_path / "out" / "SingleStream").exists()  # refused before anything ran


def test_a_run_measured_for_power_lands_the_sessions_files_and_check_runs_every_power_check(cache_dir, tmp_path,
                                                                                          monkeypatch, power_server):
    """The harness measures the performance run through the power client (here benchfleet's test double of the
    client and server, as CI has no MLCommons code): ranging/, power/ and run_1/spl.txt land beside the run, the tree
    carries them with the analyzer's description, and `check` runs every power check on them. The double's sources
    are its own, so exactly that check fails: the rest pass on what the harness placed."""
    from treeparts import system_description

    from benchfleet.harness.run import Harness
    from benchfleet.submission.tree import SystemRun, write_tree

    monkeypatch.setenv(pw_files.UNVERIFIED_ENV, "1")
    out = tmp_path / "out"
    meta = Harness(_power_spec(cache_dir, power_server), out, log=lambda m: None).run()
    assert meta["complete"]
    perf = out / "SingleStream" / "performance"
    assert sorted(p.name for p in (perf / "power").iterdir()) == sorted(pw_files.POWER_FILES)
    assert sorted(p.name for p in (perf / "ranging").iterdir()) == sorted(pw_files.RUN_FILES)
    assert (perf / "run_1" / "spl.txt").is_file()
    tree = tmp_path / "tree"
    write_tree(tree, "TestOrg", [SystemRun("power_double_system", system_description(), out)])
    meas = next(tree.rglob("measurements/*/resnet50/SingleStream"))
    assert "power test double" in (meas / "analyzer_table.md").read_text()
    report = Checker(tree, get_round("v3.1"), allow_quick=True).run()
    power_errors = [f.message for f in report.errors if "power" in f.message]
    assert sorted(re.match(r"power check failed: (Check [^:]+):", m).group(1) for m in power_errors) == [
        "Check client sources checksum", "Check server sources checksum"], power_errors
    assert not [f for f in report.errors if "power" not in f.message and "sources" not in f.message], report.errors


def test_a_power_server_lost_mid_run_fails_the_cell_as_infrastructure_and_keeps_nothing(cache_dir, tmp_path,
                                                                                         monkeypatch, power_server):
    import json as _json

    from benchfleet.harness.run import main
    from benchfleet.sweep.cells import INFRA_KINDS, failure_kind

    monkeypatch.setenv("BENCHFLEET_POWER_DOUBLE_FAIL", "testing")
    monkeypatch.setenv(pw_files.UNVERIFIED_ENV, "1")
    spec = tmp_path / "spec.json"
    spec.write_text(_json.dumps(_power_spec(cache_dir, power_server).model_dump()))
    out = tmp_path / "cell" / "results"
    assert main(["--spec", str(spec), "--out", str(out)]) == pw_files.POWER_EXIT
    perf = out / "SingleStream" / "performance"
    assert not (perf / "power").exists() and not (perf / "ranging").exists() and not (perf / "run_1").exists()
    assert not list(out.rglob("power_session"))  # the half session is gone from the host's work folder too
    # the module reports it as a power failure, which the controller counts as infrastructure
    assert failure_kind("benchfleet.mlperf.harness_cell", {"power_failed": True, "rc": 75}) == "power"
    assert "power" in INFRA_KINDS


def test_benchfleet_run_takes_a_power_set_up_from_its_flags():
    from benchfleet import api
    from benchfleet.errors import UsageError

    sweep = api.run_sweep(api.RunOptions(power_client="/opt/power-dev", power_server="director:4950",
                                         power_ntp="ntp.lab", power_analyzer="| Yokogawa | WT310E |"))
    power = sweep.systems[0].power
    assert (power.client_dir, power.address(), power.ntp) == ("/opt/power-dev", ("director", 4950), "ntp.lab")
    spec = sweep.harness_spec(sweep.systems[0], "resnet50", "onnxruntime", "cpu", "closed")
    assert spec.power == power.host_spec() and api.run_sweep(api.RunOptions()).systems[0].power is None
    with pytest.raises(UsageError, match=r"^--power-server: a power measurement needs --power-client"):
        api.run_sweep(api.RunOptions(power_client="/opt/power-dev", power_ntp="ntp.lab"))
    with pytest.raises(UsageError, match=r"^--power-server: "):
        api.run_sweep(api.RunOptions(power_client="/opt/power-dev", power_server="a b", power_ntp="ntp.lab"))


def test_a_power_systems_description_fields_are_taken_from_the_sweep_file():
    from benchfleet.sweep.schema import SweepError, parse

    sweep = parse({"submitter": "X", "systems": [{"name": "lab", "hosts": ["lab"], "description": {
        "power_supply_details": "2x 800 W Platinum", "power_management": "BIOS: performance"}}]}, "x.yml")
    assert sweep.systems[0].description["power_supply_details"] == "2x 800 W Platinum"
    with pytest.raises(SweepError, match="'power_managment' is not a system description key; did you mean "
                                         "'power_management'"):
        parse({"submitter": "X", "systems": [{"name": "lab", "hosts": ["lab"],
                                              "description": {"power_managment": "x"}}]}, "x.yml")


def _rehash(perf: Path) -> None:
    """Record the files' new SHA-1 in client.json and server.json, so that only the check a mutation aims at sees
    it (the results checksum would otherwise catch every edit of a measured file first)."""
    import hashlib

    for who in ("client", "server"):
        _json(perf / "power" / f"{who}.json", lambda j: j["results"].update(
            {k: hashlib.sha1((perf / k).read_bytes()).hexdigest() for k in j["results"] if (perf / k).is_file()}))


def _ptd_line(perf: Path, message: str) -> None:
    p = perf / "power" / "ptd_logs.txt"
    text = p.read_text(errors="replace")
    stamp = [line for line in text.splitlines() if re.match(r"^\d\d-\d\d-\d\d\d\d \d", line)][-1][:23]
    p.write_text(text + f"{stamp}: {message}\n")
    _rehash(perf)


def _ptd_message(perf: Path, cmd: str, reply: str) -> None:
    _json(perf / "power" / "server.json", lambda j: j["ptd_messages"].append({"cmd": cmd, "reply": reply}))


def _blank_spl_line(perf: Path) -> None:
    p = perf / "run_1" / "spl.txt"
    lines = p.read_text().splitlines(True)
    p.write_text("".join(lines[:3] + ["\n"] + lines[3:]))
    _rehash(perf)


def _phase(perf: Path, who: str, index: int, value) -> None:
    _json(perf / "power" / f"{who}.json", lambda j: j["phases"]["testing"][index].__setitem__(0, value(j)))


# (mutation, the checks the official v3.1 power checker fails, those it passes with a warning for audit), run by
# hand on both fixtures with the same verdicts
EDGES = {
    "a USB error (accepted, for audit)": (lambda p: _ptd_line(p, "ERROR: USB."), [],
                                          ["Check errors and warnings from PTD logs"]),
    "a fourth Stop answered as a first": (lambda p: _ptd_message(p, "Stop", "Stopping untimed measurement"),
                                          ["Check PTD commands and replies"], []),
    "a third Stop with nothing to stop": (lambda p: _ptd_message(p, "Stop", "Error: no measurement to stop"), [], []),
    "a blank line in spl.txt": (_blank_spl_line, ["Check time difference"], []),
    "a timezone that is not a number": (lambda p: _json(p / "power" / "server.json", lambda j: j.__setitem__(
        "timezone", "abc")), ["Check errors and warnings from PTD logs"], []),
    "a phase time that is NaN": (lambda p: _phase(p, "server", 3, lambda j: float("nan")),
                                 ["Check time difference"], []),
    "a phase time written as text": (lambda p: _phase(p, "client", 0, lambda j: str(j["phases"]["testing"][0][0])),
                                     ["Check time difference"], []),
    "a modified power server": (lambda p: _json(p / "power" / "server.json", lambda j: j["sources"].__setitem__(
        "server.py", "0" * 40)), ["Check server sources checksum"], []),
}


@pytest.mark.parametrize("fixture", [ACCEPTED, GENERATED])
@pytest.mark.parametrize("name", list(EDGES))
def test_warnings_and_edge_cases_get_the_official_power_checkers_verdicts(tmp_path, name, fixture):
    mutate, failed, audit = EDGES[name]
    root, perf, meas = _tree(tmp_path, fixture)
    mutate(perf)
    ok, _, checker = _check(root, perf, meas, fixture=fixture)
    assert ok == (not failed) and _failed(checker) == sorted(failed), checker.report.findings
    warned = sorted({m.group(1) for f in checker.report.findings if f.level == "WARNING"
                     and (m := re.match(r"power check passed for audit: (Check [^:]+):", f.message))})
    assert warned == sorted(audit), checker.report.findings


def test_an_optional_file_in_ranging_is_accepted_as_the_round_accepts_it(tmp_path):
    root, perf, meas = _tree(tmp_path)
    (perf / "ranging" / "mlperf_log_accuracy.json").write_text("[]\n")  # not hashed by the session, optional
    ok, _, checker = _check(root, perf, meas)
    assert ok and not checker.report.errors, checker.report.errors


def test_a_closed_power_result_keeps_its_compliance_folders_in_the_tree(closed_run, tmp_path):
    """The tree writer places a power session's files and the analyzer's description without losing track of the
    scenario it writes (its compliance folders land under the scenario's name)."""
    import shutil

    from treeparts import system_description

    from benchfleet.harness.result import HarnessResult
    from benchfleet.submission.tree import SystemRun, write_tree

    out = tmp_path / "run"
    shutil.copytree(closed_run[0], out)
    perf = out / "SingleStream" / "performance"
    for folder, names in (("power", pw_files.POWER_FILES), ("ranging", pw_files.RUN_FILES)):
        (perf / folder).mkdir()
        for n in names:
            (perf / folder / n).write_text("x\n")
    (perf / "run_1" / "spl.txt").write_text("x\n")
    meta = HarnessResult.read(out)
    meta.spec = {**meta.spec, "power": {"analyzer": "| a | b |", "settings": "s"}}
    meta.write(out)
    tree = tmp_path / "tree"
    write_tree(tree, "TestOrg", [SystemRun("s", system_description(), out)])
    sub = tree / "closed" / "TestOrg"
    assert (sub / "compliance" / "s" / "resnet50" / "SingleStream" / "TEST01").is_dir()
    assert (sub / "results" / "s" / "resnet50" / "SingleStream" / "performance" / "power" / "client.json").is_file()
    assert (sub / "measurements" / "s" / "resnet50" / "SingleStream" / "analyzer_table.md").read_text() == "| a | b |\n"
    assert not [p for p in tree.rglob("*.md") if p.is_dir()]


def test_no_power_server_at_the_address_fails_the_cell_as_infrastructure(cache_dir, tmp_path, monkeypatch):
    """The client reaches for the server it was given before anything runs; nobody listening there fails the cell
    as infrastructure (the power server is down or the address is wrong), with the client's words."""
    import json as _json

    from benchfleet.harness.run import main
    from tests.power_doubles import free_port

    monkeypatch.setenv(pw_files.UNVERIFIED_ENV, "1")
    spec = tmp_path / "spec.json"
    spec.write_text(_json.dumps(_power_spec(cache_dir, free_port()).model_dump()))
    out = tmp_path / "cell" / "results"
    assert main(["--spec", str(spec), "--out", str(out)]) == pw_files.POWER_EXIT
    client_log = next(tmp_path.rglob("power_client.log")).read_text()
    assert "cannot connect to the power server at 127.0.0.1:" in client_log
    assert not (out / "SingleStream" / "performance").exists()  # no performance result without its power
