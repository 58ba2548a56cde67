"""Power set-ups the roles deploy (issue 22, part 2): MLCommons' power code pushed from the controller to the hosts
and the director, the power server started there with PTDaemon's settings and stopped after the run, sources the
round does not accept refused before anything is deployed. CI has no MLCommons code: the power-dev folder is
benchfleet's doubles (tests/power_double: client and server; tests/ptd_double.py: PTDaemon)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from benchfleet.harness import power_layout as pw
from benchfleet.runner import ansible_env
from benchfleet.sweep import power_deploy
from benchfleet.sweep.schema import SweepError, parse
from tests.power_doubles import POWER_DOUBLE, PTD_DOUBLE, free_port, ptd_settings

BENCHFLEET = str(Path(sys.executable).parent / "benchfleet")


def _inventory(tmp_path: Path, **hostvars) -> Path:
    inv = tmp_path / "inv.yml"
    inv.write_text(yaml.safe_dump({"all": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}", **hostvars}}}}))
    return inv


def _listening(port: int) -> bool:
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            parts = row.split()
            if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False


def _power_flags(tmp_path: Path, port: int, ptd_port: int) -> list[str]:
    (tmp_path / "analyzer.md").write_text("| Vendor | Model |\n|---|---|\n| benchfleet | PTDaemon test double |\n")
    (tmp_path / "settings.md").write_text("No power management settings changed.\n")
    return ["--power-client", str(tmp_path / "host" / "power-dev"), "--power-server", f"127.0.0.1:{port}",
            "--power-ntp", "127.0.0.1", "--power-source", str(POWER_DOUBLE), "--power-director", "localhost",
            "--power-ptd", f"command={PTD_DOUBLE},device_type=49,device_port=/dev/null,network_port={ptd_port}",
            "--power-analyzer", str(tmp_path / "analyzer.md"), "--power-settings", str(tmp_path / "settings.md")]


def test_run_deploys_the_power_code_starts_the_server_on_the_director_and_stops_it(cache_dir, tmp_path):
    """`benchfleet run --power-source --power-director`: the roles push ptd_client_server/ to the host's client
    folder and to the director, write the server's configuration from the flags, start it (it starts PTDaemon with
    those settings), the harness's client reaches it at the address it was given, the power files land in the tree,
    and the server is stopped after the run. The doubles' sources are not MLCommons': only that check fails."""
    port, ptd_port = free_port(), free_port()
    director = tmp_path / "director"
    env = {**os.environ, pw.UNVERIFIED_ENV: "1"}
    out = tmp_path / "run"
    proc = subprocess.run([BENCHFLEET, "run", "--inventory", str(_inventory(tmp_path, benchfleet_power_server_dir=str(
        director))), "--synthetic-width", "8", "--scenarios", "SingleStream", "--out", str(out), "--cache-dir",
        str(cache_dir), "--run-id", "pw", *_power_flags(tmp_path, port, ptd_port)], capture_output=True, text=True,
        cwd=tmp_path, env=env)
    text = proc.stdout + proc.stderr
    assert "measuring power through the power server at 127.0.0.1:" in text, text
    # deployed: the same sources on the host and the director, with their fingerprint
    fingerprint = (director / ".benchfleet-power-sources").read_text().strip()
    assert (tmp_path / "host" / "power-dev" / ".benchfleet-power-sources").read_text().strip() == fingerprint
    assert pw.client_sources(tmp_path / "host" / "power-dev") == pw.client_sources(POWER_DOUBLE)
    conf = (director / "server.conf").read_text()
    assert f"listen: 0.0.0.0 {port}" in conf and f"ptd: {PTD_DOUBLE}" in conf and f"networkPort: {ptd_port}" in conf
    log = (director / "server.log").read_text()
    assert f"'-p', '{ptd_port}', '49', '/dev/null'" in log and "Reply from ptd: 'Hello, PTDaemon here!'" in log
    assert "Got command from the client 'mlcommons/power client v3'" in log and ",start,testing'" in log, log
    # stopped after the run, by the playbook's own stop play (the CLI's fallback had nothing left to stop)
    assert not _listening(port) and not (director / ".benchfleet-power-server.json").exists()
    assert "the sweep did not get to it" not in text
    perf = next((out / "submission").rglob("SingleStream/performance"))
    assert sorted(p.name for p in (perf / "power").iterdir()) == sorted(pw.POWER_FILES)
    # the system description carries the power fields: what the host says, the rest marked for the user
    (system,) = (out / "submission").rglob("systems/*.json")
    desc = json.loads(system.read_text())
    assert desc["filesystem"] == next(ln.split()[2] for ln in Path("/proc/mounts").read_text().splitlines()
                                      if ln.split()[1] == "/")
    assert desc["power_supply_details"].startswith("unknown") and "power_supply_details" in text
    errors = [line for line in text.splitlines() if line.strip().startswith("ERROR")]
    assert len(errors) == 2 and all("sources checksum" in e for e in errors), text


def test_sources_the_round_does_not_accept_are_refused_before_anything_is_deployed(tmp_path):
    port = free_port()
    director = tmp_path / "director"
    env = {k: v for k, v in os.environ.items() if k != pw.UNVERIFIED_ENV}
    proc = subprocess.run([BENCHFLEET, "run", "--inventory", str(_inventory(tmp_path, benchfleet_power_server_dir=str(
        director))), "--synthetic-width", "8", "--out", str(tmp_path / "run"), "--run-id", "no",
        *_power_flags(tmp_path, port, free_port())], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert (f"--power-source: {POWER_DOUBLE}/ptd_client_server is not a version of MLCommons' power client and "
            "server that v3.1 accepts") in proc.stderr
    assert not director.exists() and not (tmp_path / "host").exists() and not _listening(port)


def _playbook(tmp_path: Path, check: bool = False, fails: bool = False, **extra) -> dict:
    """The role's server and client entry points through ansible-playbook on localhost; the recap's counts (and
    the output, under "out")."""
    archive, fingerprint = power_deploy.pack(extra.get("source", POWER_DOUBLE), tmp_path / "packed")
    play = [{"hosts": "localhost", "gather_facts": False, "vars": {
        "benchfleet_power_archive": str(archive), "benchfleet_power_fingerprint": fingerprint,
        "benchfleet_power_server_dir": str(tmp_path / "director"), "benchfleet_power_server_port": extra["port"],
        "benchfleet_power_client_dir": str(tmp_path / "client"),
        "benchfleet_power_server_config": {"server": {"ntpServer": "127.0.0.1", "listen": f"127.0.0.1 {extra['port']}"},
                                           "ptd": {"ptd": str(PTD_DOUBLE), "deviceType": "49", "interfaceFlag": "",
                                                   "devicePort": "/dev/null", "networkPort": str(extra["ptd"])}}},
        "tasks": [{"name": "Server", "ansible.builtin.import_role": {"name": "benchfleet_power", "tasks_from":
                                                                         extra.get("entry", "server")}},
                  {"name": "Client", "ansible.builtin.import_role": {"name": "benchfleet_power"}}]}]
    book = tmp_path / "play.yml"
    book.write_text(yaml.safe_dump(play, sort_keys=False))
    env = {**os.environ, **ansible_env(tmp_path / "private")}
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(_inventory(tmp_path)),
                           str(book), *(["--check"] if check else [])], capture_output=True, text=True, env=env)
    assert (proc.returncode != 0) == fails, proc.stdout[-3000:] + proc.stderr[-3000:]
    recap = re.search(r"^localhost\s+:\s+(.*)$", proc.stdout, re.M)
    assert recap, proc.stdout[-2000:]
    return {**{k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", recap.group(1))}, "out": proc.stdout}


def test_the_role_is_idempotent_tells_the_truth_in_check_mode_and_restarts_on_a_new_configuration(tmp_path):
    port, ptd = free_port(), free_port()
    record = tmp_path / "director" / ".benchfleet-power-server.json"
    try:
        assert _playbook(tmp_path, check=True, port=port, ptd=ptd)["changed"] > 0
        assert not (tmp_path / "director").exists() and not _listening(port)  # check mode changed nothing
        assert _playbook(tmp_path, port=port, ptd=ptd)["changed"] > 0 and _listening(port)
        pid = json.loads(record.read_text())["pid"]
        assert (tmp_path / "client" / "ptd_client_server" / "client.py").is_file()
        assert _playbook(tmp_path, port=port, ptd=ptd)["changed"] == 0  # a second run changes nothing
        assert json.loads(record.read_text())["pid"] == pid
        os.kill(pid, 9)  # a server that died is started again
        time.sleep(0.3)
        assert _playbook(tmp_path, port=port, ptd=ptd)["changed"] == 1
        pid = json.loads(record.read_text())["pid"]
        assert _playbook(tmp_path, port=port, ptd=free_port())["changed"] == 2  # new configuration: restarted
        assert json.loads(record.read_text())["pid"] != pid and _listening(port)
        pid = json.loads(record.read_text())["pid"]
        newer = tmp_path / "newer"  # other sources: check mode says the code and the server would change
        shutil.copytree(POWER_DOUBLE, newer, ignore=shutil.ignore_patterns("__pycache__"))
        (newer / "ptd_client_server" / "extra.py").write_text("# another version\n")
        got = _playbook(tmp_path, check=True, port=port, ptd=ptd, source=newer)
        assert re.search(r"RUNNING HANDLER \[benchfleet_power : Restart the power server\][^\n]*\nchanged",
                         got["out"]), got["out"][-3000:]
        assert json.loads(record.read_text())["pid"] == pid  # and did nothing
        assert not (tmp_path / "director" / "ptd_client_server" / "extra.py").exists()
    finally:
        _playbook(tmp_path, port=port, ptd=ptd, entry="stop")
    assert not _listening(port) and not record.exists()


def test_a_url_source_is_cloned_by_the_controller_at_its_version_and_a_bad_one_says_what_to_do(tmp_path):
    repo = tmp_path / "power-dev"
    subprocess.run(["cp", "-r", str(POWER_DOUBLE), str(repo)], check=True)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "v1"], check=True)
    first = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    (repo / "ptd_client_server" / "client.py").write_text("# changed later\n")
    subprocess.run([*git, "commit", "-qam", "v2"], check=True)
    setup = parse({"submitter": "X", "systems": [{"name": "s", "hosts": ["all"], "power": {
        "client_dir": "/opt/pd", "server": "d", "ntp": "n", "source": f"file://{repo}", "version": first}}]},
        "x.yml").systems[0].power
    root = power_deploy.fetch(setup, "systems[0].power.source", tmp_path / "run" / "power")
    assert pw.client_sources(root) == pw.client_sources(POWER_DOUBLE)  # the version asked for, not the branch head
    assert power_deploy.fetch(setup, "f", tmp_path / "run" / "power") == root  # cloned once
    bad = setup.model_copy(update={"source": f"file://{tmp_path}/nowhere"})
    with pytest.raises(SweepError, match=r"systems\[0\]\.power\.source: the controller could not clone file://.*; "
                                         "without a network give source: the folder of your power-dev checkout"):
        power_deploy.fetch(bad, "systems[0].power.source", tmp_path / "run" / "power")


def test_power_set_ups_are_checked_before_anything_runs(tmp_path):
    from benchfleet.sweep.plan import resolve_hosts

    base = {"client_dir": "/opt/pd", "server": "director:4950", "ntp": "ntp.lab", "source": "/src/power-dev"}
    ptd = {"command": "/opt/ptd/ptd-linux-x86", "device_type": 49, "device_port": "/dev/ttyUSB0"}

    def problem(power: dict) -> str:
        with pytest.raises(SweepError) as e:
            parse({"submitter": "X", "systems": [{"name": "s", "hosts": ["all"], "power": power}]}, "x.yml")
        return str(e.value)

    assert "systems[0].power.ptd: a director needs PTDaemon's settings" in problem({**base, "director": "d"})
    assert "power.ptd.command: '/opt/ptd/run.sh': give the absolute path of PTDaemon" in problem(
        {**base, "director": "d", "ptd": {**ptd, "command": "/opt/ptd/run.sh"}})
    assert "power.ptd.interface_flag" in problem({**base, "director": "d", "ptd": {**ptd, "interface_flag": "-x"}})
    assert "power.director: ptd: settings are for a power server benchfleet starts" in problem({**base, "ptd": ptd})
    assert "power.version: version: is the git ref of a URL source" in problem({**base, "version": "v1"})
    assert "power.version" in problem({**base, "source": "https://github.com/mlcommons/power-dev",
                                       "version": "--recurse-submodules"})  # never an option to git
    assert "power.client_dir: 'power-dev': with a source, give the folder" in problem({**base,
                                                                                       "client_dir": "power-dev"})
    sweep = parse({"submitter": "X", "systems": [{"name": "s", "hosts": ["all"], "power": {
        **base, "director": "lab-director", "ptd": ptd}}]}, "x.yml")
    with pytest.raises(SweepError, match=r"systems\[0\]\.power\.director: 'lab-director' is not a host of "):
        resolve_hosts(sweep, _inventory(tmp_path))
    conf = power_deploy.server_config(sweep.systems[0].power)
    assert conf == {"server": {"ntpServer": "ntp.lab", "listen": "0.0.0.0 4950"},
                    "ptd": {"ptd": "/opt/ptd/ptd-linux-x86", "deviceType": "49", "interfaceFlag": "",
                            "devicePort": "/dev/ttyUSB0", "networkPort": "8888"}}


def test_a_power_systems_description_is_filled_from_the_host_and_marks_what_only_the_user_knows():
    from benchfleet.submission.system import POWER_FIELDS, UNKNOWN, describe

    host = {"cpu_model": "X", "vcpus": 8, "cpu_governor": "performance", "root_filesystem": "xfs",
            "boot_firmware": "Dell Inc. 2.19.1 06/07/2023", "disks": [{"name": "nvme0n1", "bytes": 960 * 10**9,
                                                                       "type": "NVMe SSD"}],
            "nics": [{"name": "eno1", "driver": "tg3", "up": True, "carrier": True, "speed_mbps": 1000},
                     {"name": "eno2", "driver": "tg3", "up": False, "carrier": False, "speed_mbps": None}]}
    kw = {"division": "closed", "submitter": "X", "framework": "f", "software": "s", "synthetic": False}
    d = describe(host, **kw, power=True, overrides={"power_supply_details": "2x 800 W Platinum"})
    v = d.values
    assert (v["power_management"], v["filesystem"], v["boot_firmware_version"]) == (
        "Linux cpufreq governor: performance", "xfs", "Dell Inc. 2.19.1 06/07/2023")
    assert (v["number_of_type_nics_installed"], v["nics_enabled_os"], v["nics_enabled_connected"],
            v["network_speed_mbit"]) == ("2x tg3", "1", "1", "1000")
    assert v["disk_drives"] == "960 GB NVMe SSD (nvme0n1)" and v["power_supply_details"] == "2x 800 W Platinum"
    assert v["power_supply_quantity_and_rating_watts"] == UNKNOWN and "power_supply_quantity_and_rating_watts" in \
        d.unknown and "power_supply_details" not in d.unknown
    assert set(POWER_FIELDS) - {"system_power_only"} <= set(v)
    assert not set(POWER_FIELDS) & set(describe(host, **kw).values)  # no power fields without power


def test_only_the_sources_travel_and_a_linked_file_is_refused(tmp_path):
    """The archive holds exactly the Python sources the fingerprint covers; a symbolic link (a cloned repository
    may carry one pointing anywhere on the controller) is refused, not followed."""
    import shutil
    import tarfile

    src = tmp_path / "pd"
    shutil.copytree(POWER_DOUBLE, src, ignore=shutil.ignore_patterns("__pycache__"))
    (src / "ptd_client_server" / "notes.txt").write_text("not a source\n")
    archive, fingerprint = power_deploy.pack(src, tmp_path / "packed")
    with tarfile.open(archive) as tar:
        names = sorted(m.name for m in tar.getmembers() if m.isfile())
    assert names == sorted(f"ptd_client_server/{n}" for n in pw.client_sources(src))
    assert power_deploy.pack(src, tmp_path / "packed2")[1] == fingerprint  # the same files, the same fingerprint
    secret = tmp_path / "id_rsa"
    secret.write_text("PRIVATE KEY\n")
    (src / "ptd_client_server" / "client.py").unlink()
    (src / "ptd_client_server" / "client.py").symlink_to(secret)
    with pytest.raises(SweepError, match=r"ptd_client_server/client.py in .* is a symbolic link"):
        power_deploy.pack(src, tmp_path / "packed3")
    (src / "ptd_client_server" / "client.py").unlink()
    shutil.copy(POWER_DOUBLE / "ptd_client_server" / "client.py", src / "ptd_client_server" / "client.py")
    (src / "ptd_client_server" / "lib").symlink_to(tmp_path)  # a linked folder: refused before anything reads it
    with pytest.raises(SweepError, match=r"ptd_client_server/lib in .* is a symbolic link"):
        power_deploy.pack(src, tmp_path / "packed4")


def test_a_checkout_benchfleet_did_not_put_there_is_left_alone(tmp_path):
    """client_dir naming the user's own power-dev checkout (no .benchfleet-power-sources): the role refuses to
    replace it, and says what to do."""
    mine = tmp_path / "client" / "ptd_client_server"
    mine.mkdir(parents=True)
    (mine / "README.md").write_text("my notes\n")
    got = _playbook(tmp_path, fails=True, port=free_port(), ptd=free_port(), entry="stop")
    assert "was not put there by benchfleet" in got["out"] and "Give the power set-up another" in got["out"]
    assert (mine / "README.md").read_text() == "my notes\n"


def test_a_director_that_fails_to_start_the_server_fails_the_cells_as_power_and_the_sweep_goes_on(cache_dir,
                                                                                                   tmp_path):
    """PTDaemon named in a folder anyone may write (a sweep file could name a planted program): the module refuses
    to start it, the set-up failure says why, the cell measured through it fails as power infrastructure, and the
    run ends normally (its later plays ran)."""
    loose = tmp_path / "loose"
    loose.mkdir()
    loose.chmod(0o777)
    ptd = loose / "ptd-linux-x86"
    shutil.copy(PTD_DOUBLE, ptd)
    port = free_port()
    flags = _power_flags(tmp_path, port, free_port())
    flags[flags.index("--power-ptd") + 1] = f"command={ptd},device_type=49,device_port=/dev/null"
    out = tmp_path / "run"
    proc = subprocess.run([BENCHFLEET, "run", "--inventory", str(_inventory(tmp_path, benchfleet_power_server_dir=str(
        tmp_path / "director"))), "--synthetic-width", "8", "--scenarios", "SingleStream", "--out", str(out),
        "--cache-dir", str(cache_dir), "--run-id", "bad", *flags], capture_output=True, text=True, cwd=tmp_path,
        env={**os.environ, pw.UNVERIFIED_ENV: "1"})
    text = proc.stdout + proc.stderr
    assert proc.returncode == 1, text
    assert f"{loose} is writable by other users" in text, text
    summary = json.loads((out / "results.json").read_text())
    (failure,) = summary["failures"]
    assert failure["kind"] == "power" and failure["infrastructure"], failure
    assert not _listening(port)


def test_one_director_runs_one_power_server(tmp_path, monkeypatch):
    from benchfleet.sweep.plan import expand

    monkeypatch.setenv(pw.UNVERIFIED_ENV, "1")
    inv = tmp_path / "inv.yml"
    inv.write_text(yaml.safe_dump({"all": {"hosts": {h: {"ansible_connection": "local"} for h in ("a", "b", "d")}}}))
    ptd = {"command": str(PTD_DOUBLE), "device_type": 49, "device_port": "/dev/null"}

    def power(port: int) -> dict:
        return {"client_dir": "~/.benchfleet/power-dev", "server": f"d:{port}", "ntp": "n",
                "source": str(POWER_DOUBLE), "director": "d", "ptd": ptd}

    sweep = parse({"submitter": "X", "systems": [{"name": "sa", "hosts": ["a"], "power": power(4950)},
                                                 {"name": "sb", "hosts": ["b"], "power": power(4950)}]}, "x.yml")
    plan = expand(sweep, inv, "one")
    got = power_deploy.deploy_vars(plan, ["a", "b"], tmp_path / "packed")
    assert sorted(got["clients"]) == ["a", "b"] and list(got["directors"]) == ["d"]
    assert got["directors"]["d"]["port"] == 4950 and got["clients"]["a"]["dest"] == "~/.benchfleet/power-dev"
    assert power_deploy.deploy_vars(plan, ["b"], tmp_path / "packed")["clients"].keys() == {"b"}  # what runs
    sweep = parse({"submitter": "X", "systems": [{"name": "sa", "hosts": ["a"], "power": power(4950)},
                                                 {"name": "sb", "hosts": ["b"], "power": power(4951)}]}, "x.yml")
    with pytest.raises(SweepError, match=r"systems\[1\]\.power\.director: 'd' already runs the power server of "
                                         r"systems\[0\] with other settings"):
        power_deploy.deploy_vars(expand(sweep, inv, "two"), ["a", "b"], tmp_path / "packed")


def test_a_director_over_ssh_keeps_its_server_past_the_session_that_started_it(cache_dir, tmp_path):
    """The director and the system under test are SSH hosts: the server the module starts detached on the director
    outlives the SSH session that started it, the other host's client reaches it, and it is stopped after the cells.
    (The hosts' sessions get the switch that lets the client double run; a real client needs none.)"""
    from tests.sshfleet import Fleet

    fleet = Fleet.start(tmp_path / "fleet", 0)
    try:
        for name in ("sut", "director"):
            fleet.add(name, "127.0.0.1", port=free_port(), env={pw.UNVERIFIED_ENV: "1"})
        inv = fleet.inventory(tmp_path / "inv.yml")
        data = yaml.safe_load(inv.read_text())
        data["all"]["children"]["lab"]["hosts"]["director"]["benchfleet_power_server_dir"] = str(tmp_path / "dir")
        inv.write_text(yaml.safe_dump(data, sort_keys=False))
        port = free_port()
        sweep = tmp_path / "power.yml"
        sweep.write_text(yaml.safe_dump({
            "submitter": "TestLab", "division": "open", "scenarios": ["SingleStream"], "model": "synthetic",
            "dataset": "synthetic", "synthetic_width": 2, "cache_dir": str(cache_dir), "dataset_count": 64,
            "defaults": {"threads": 1},
            "systems": [{"name": "lab", "hosts": ["sut"], "power": {
                "client_dir": str(tmp_path / "sut-client"), "server": f"127.0.0.1:{port}", "ntp": "127.0.0.1",
                "analyzer": "| benchfleet | PTDaemon test double |", "settings": "none",
                "source": str(POWER_DOUBLE), "director": "director", "ptd": ptd_settings()}}]}))
        proc = subprocess.run([BENCHFLEET, "sweep", str(sweep), "--inventory", str(inv), "--runs-dir",
                               str(tmp_path / "runs")], capture_output=True, text=True, cwd=tmp_path,
                              env={**os.environ, pw.UNVERIFIED_ENV: "1"})
        text = proc.stdout + proc.stderr
        log = (tmp_path / "dir" / "server.log").read_text()
        assert "Ready to accept connections" in log and ",start,testing'" in log, text + log
        (run_dir,) = (tmp_path / "runs").iterdir()
        perf = next(run_dir.rglob("cells/sut.*/results/SingleStream/performance"))
        assert sorted(p.name for p in (perf / "power").iterdir()) == sorted(pw.POWER_FILES)
        assert not _listening(port) and not (tmp_path / "dir" / ".benchfleet-power-server.json").exists()
        assert not (tmp_path / "sut-client" / "server.conf").exists()  # the server's files only on the director
    finally:
        fleet.stop()


def test_a_sweep_whose_every_cell_host_fails_still_stops_the_power_server(cache_dir, tmp_path):
    """Ansible ends a playbook as soon as every host of a play has failed (and keeps a host that failed out of the
    later plays), so the sweep playbook's own stop play never stops this director, whose only cell host is itself
    and fails its set-up: the CLI then runs playbooks/power_stop.yml for it, and no power server is left running."""
    port = free_port()
    out = tmp_path / "run"
    director = tmp_path / "director"
    proc = subprocess.run([BENCHFLEET, "run", "--inventory", str(_inventory(
        tmp_path, benchfleet_power_server_dir=str(director), benchfleet_harness_python="/nonexistent/python")),
        "--synthetic-width", "8", "--scenarios", "SingleStream", "--out", str(out), "--cache-dir", str(cache_dir),
        "--run-id", "nohost", *_power_flags(tmp_path, port, free_port())], capture_output=True, text=True,
        cwd=tmp_path, env={**os.environ, pw.UNVERIFIED_ENV: "1"})
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0, text
    assert "The benchfleet harness does not import with /nonexistent/python" in text, text
    assert (director / "server.log").is_file()  # the director's server had started
    assert "stopping the power server on localhost (the sweep did not get to it)" in text, text
    assert not _listening(port) and not (director / ".benchfleet-power-server.json").exists()
