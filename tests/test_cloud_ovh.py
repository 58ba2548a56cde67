"""OVHcloud Public Cloud: the real openstacksdk and keystoneauth1 against a local HTTPS OpenStack that speaks Keystone
v3, Nova, Neutron and Glance as OVHcloud runs them (tests/cloudfakes_openstack.py). Create, list and delete
confirmed by listing; capacity ("No valid host was found") and quota errors drive the failover to the next region;
what a killed controller left is reaped by tag, owner and grace period; bad input is refused before anything is
created; the sweep runs its benchmark over SSH on instances mapped onto loopback sshd hosts; no password or token
reaches a log or a result."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from benchfleet.cloud import fleet
from benchfleet.cloud.base import owner
from benchfleet.submission.check import check_tree
from tests.cloudfakes_openstack import FakeOpenStack, OpenStackInstanceHosts
from tests.sshfleet import Fleet

BENCHFLEET = str(Path(sys.executable).parent / "benchfleet")
PUB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBenchfleetTestKeyOnlyForTheFakes0000000000 test"
CIDR = "198.51.100.7/32"
OTHER = "mallory-at-elsewhere"
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to add loopback addresses (ip addr)")


@pytest.fixture()
def ovh(tmp_path, monkeypatch):
    f = FakeOpenStack(tmp_path / "ovh")
    for k, v in f.env().items():
        monkeypatch.setenv(k, v) if v else monkeypatch.delenv(k, raising=False)
    yield f
    f.stop()


def _system(name: str = "ovh-b3", regions=("GRA11",), itype: str = "b3-8", count: int = 2, **kw):
    return fleet.SystemRequest(name=name, provider="ovh", regions=list(regions), zones=kw.pop("zones", []),
                               instance_type=itype, image=kw.pop("image", "ubuntu-22.04"), ssh_cidr=CIDR,
                               hosts=[f"{name}-{i + 1}" for i in range(count)], ssh_user="ubuntu", **kw)


def _targets():
    return [(fleet.provider("ovh"), [])]


def _nothing_left(cloud: FakeOpenStack) -> bool:
    return cloud.servers == {} and cloud.groups == {} and cloud.keypairs == {} and cloud.rules_made == {}


def test_ovh_create_list_and_teardown_confirmed_by_listing(ovh):
    res = fleet.provision("ov-run", [_system()], PUB)
    assert res.created == ["ovh-b3-1", "ovh-b3-2"] and not res.failed, res
    assert [(a.region, a.zone, a.outcome) for a in res.attempts] == [("GRA11", "nova", "created")] * 2
    (group,) = ovh.groups.values()
    assert group["name"] == "benchfleet-ov-run" and group["_region"] == "GRA11"
    assert {"benchfleet-run=ov-run", f"benchfleet-owner={owner()}"} <= set(group["description"].split())
    ingress = [r for r in ovh.rules_made.values() if r["direction"] == "ingress"]
    assert [(r["protocol"], r["port_range_min"], r["port_range_max"], r["remote_ip_prefix"]) for r in ingress] == [
        ("tcp", 22, 22, CIDR)]  # SSH from the controller only; the default group (everything in) is not used
    assert ovh.keypairs[("GRA11", "benchfleet-ov-run")]["public_key"] == PUB
    for s in ovh.servers.values():
        md = s["metadata"]
        assert md["benchfleet-run"] == "ov-run" and md["benchfleet-owner"] == owner()
        assert md["benchfleet-host"] == s["name"] and md["benchfleet-system"] == "ovh-b3"
        assert set(s["tags"]) == {"benchfleet", "benchfleet-run=ov-run"}  # Nova could take tags: microversion >= 2.52
        assert [g["name"] for g in s["security_groups"]] == ["benchfleet-ov-run"]
        assert s["key_name"] == "benchfleet-ov-run" and s["_networks"] == [ovh.networks["GRA11"]["Ext-Net"]]
        assert s["image"]["id"] == next(i for i, (r, n, made) in ovh.images.items()
                                        if (r, n, made) == ("GRA11", "Ubuntu 22.04", "2026-11-10T07:40:00Z"))
        assert "shutdown -h +" in ovh.user_data(s) and "OVHcloud bills a halted instance" in ovh.user_data(s)
    listed = fleet.provider("ovh").list([], "ov-run")
    assert sorted((i.host, i.state, i.instance_type, i.region) for i in listed) == [
        ("ovh-b3-1", "running", "b3-8", "GRA11"), ("ovh-b3-2", "running", "b3-8", "GRA11")]
    assert all(i.public_ip.startswith("203.0.113.") and not i.spot and i.launched_at for i in listed)
    # idempotent: both hosts keep their instance
    assert fleet.provision("ov-run", [_system()], PUB).created == []
    assert len(ovh.servers) == 2
    rep = fleet.teardown("ov-run", _targets())
    assert rep.ok, rep
    assert "ovh:GRA11:security-group/benchfleet-ov-run" in rep.deleted
    assert "ovh:GRA11:key-pair/benchfleet-ov-run" in rep.deleted
    assert _nothing_left(ovh)
    # the teardown waited for the listing: each deleted server was listed (deleting) once more before it went
    deletes = [i for i, (m, p, _) in enumerate(ovh.log) if m == "DELETE" and "/servers/" in p]
    assert any(m == "GET" and p.endswith("/servers/detail") for m, p, _ in ovh.log[deletes[-1]:])


def test_ovh_failover_no_valid_host_and_quota_go_to_the_next_region_auth_stops_bad_image_stops_the_system(ovh):
    # GRA11 has no host for the first instance (the server goes to ERROR: "No valid host was found"); SBG5 takes it.
    # The second fits GRA11's quota (24 cores: 2 x 8); the third does not (Nova's 403 "Quota exceeded"): SBG5.
    ovh.no_valid_host.append({"region": "GRA11", "times": 1})
    res = fleet.provision("ov-fail", [_system("ovh-c3", ("GRA11", "SBG5"), "c3-16", count=3)], PUB)
    got = [(a.host, a.region, a.outcome) for a in res.attempts]
    assert got == [("ovh-c3-1", "GRA11", "capacity"), ("ovh-c3-1", "SBG5", "created"),
                   ("ovh-c3-2", "SBG5", "created"), ("ovh-c3-3", "SBG5", "created")], got
    assert "No valid host was found" in res.attempts[0].message
    assert sorted(s["_region"] for s in ovh.servers.values() if "_deleting" not in s) == ["SBG5"] * 3
    assert [s["status"] for s in ovh.servers.values() if "_deleting" in s] == ["ERROR"]  # deleted at once
    assert fleet.teardown("ov-fail", _targets()).ok and _nothing_left(ovh)

    res = fleet.provision("ov-quota", [_system("ovh-q", ("GRA11", "SBG5"), "c3-16", count=4)], PUB)
    got = [(a.host, a.region, a.outcome) for a in res.attempts]
    assert got == [("ovh-q-1", "GRA11", "created"), ("ovh-q-2", "GRA11", "created"), ("ovh-q-3", "GRA11", "created"),
                   ("ovh-q-4", "GRA11", "quota"), ("ovh-q-4", "SBG5", "created")], got
    assert "Quota exceeded for cores: Requested 8, but already used 24 of 24 cores" in res.attempts[3].message
    assert fleet.teardown("ov-quota", _targets()).ok and _nothing_left(ovh)

    # a 503 from Nova is capacity too; a 401 stops this cloud after one try
    ovh.rules += [{"method": "POST", "path": "/GRA11/compute/v2.1/servers$", "status": 503,
                   "code": "serviceUnavailable", "message": "Service Unavailable", "times": 1}]
    res = fleet.provision("ov-503", [_system("ovh-s", ("GRA11", "SBG5"), count=1)], PUB)
    assert [(a.region, a.outcome) for a in res.attempts] == [("GRA11", "capacity"), ("SBG5", "created")]
    assert fleet.teardown("ov-503", _targets()).ok and _nothing_left(ovh)
    ovh.rules = [{"method": "POST", "path": "/compute/v2.1/servers$", "status": 401, "code": "unauthorized",
                  "message": "The request you have made requires authentication."}]
    res = fleet.provision("ov-auth", [_system("ovh-a", ("GRA11", "SBG5"))], PUB)
    assert [a.outcome for a in res.attempts] == ["auth"] and "ovh stopped" in res.failed["ovh-a-2"], res
    assert fleet.teardown("ov-auth", _targets()).ok and _nothing_left(ovh)
    ovh.rules = []
    # an image the region does not list is a bad request: that system stops, nothing is created
    res = fleet.provision("ov-img", [_system("ovh-i", ("GRA11", "SBG5"), image="Ubuntu 18.04")], PUB)
    assert [(a.host, a.region, a.outcome) for a in res.attempts] == [("ovh-i-1", "GRA11", "bad-request"),
                                                                       ("ovh-i-2", "GRA11", "bad-request")]
    assert all("GRA11 lists no active image of that name or id" in why for why in res.failed.values())
    assert not ovh.servers
    assert fleet.teardown("ov-img", _targets()).ok and _nothing_left(ovh)


def test_ovh_reap_deletes_what_a_killed_controller_left_by_tag_owner_and_grace(ovh, tmp_path):
    fleet.provision("ov-left", [_system("ovh-l", count=1)], PUB)
    fleet.provision("ov-theirs", [_system("ovh-t", ("SBG5",), count=1)], PUB)
    for s in ovh.servers.values():  # the second run is someone else's
        if s["metadata"]["benchfleet-run"] == "ov-theirs":
            s["metadata"]["benchfleet-owner"] = OTHER
    for g in ovh.groups.values():
        if g["name"] == "benchfleet-ov-theirs":
            g["description"] = g["description"].replace(f"benchfleet-owner={owner()}", f"benchfleet-owner={OTHER}")
    # no teardown: the controller died. Nothing is past its expiry, so a plain reap keeps both.
    assert fleet.reap(_targets()).deleted == []
    # launched just now: within the grace period (a controller may still be provisioning it) it stays
    assert fleet.reap(_targets(), older_than_s=0).deleted == []
    dry = fleet.reap(_targets(), older_than_s=0, dry_run=True, grace_s=0)
    # listed, not deleted (the run's group and key pair wait for a run with no instance left)
    assert [d.split(" ")[0].split("/")[0] for d in dry.deleted] == ["ovh:GRA11:instance"], dry.deleted
    assert len(ovh.servers) == 2
    # the CLI, with credentials from the OS_* variables only, every region of the catalog scanned
    reap = [BENCHFLEET, "reap", "--provider", "ovh", "--older-than", "0s", "--grace", "0s"]
    done = subprocess.run(reap, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "deleted ovh:GRA11:security-group/benchfleet-ov-left" in done.stdout, done.stdout
    assert [s["metadata"]["benchfleet-run"] for s in ovh.servers.values()] == ["ov-theirs"]  # only ours went
    assert [g["name"] for g in ovh.groups.values()] == ["benchfleet-ov-theirs"]
    assert list(ovh.keypairs) == [("SBG5", "benchfleet-ov-theirs")]
    assert {p.split("/")[1] for m, p, _ in ovh.log if m == "GET" and p.endswith("/servers/detail")} >= set(
        FakeOpenStack.REGIONS)
    # past its expiry the instance halted itself (SHUTOFF); OVHcloud bills it still, so a plain reap deletes it
    (s,) = ovh.servers.values()
    s["metadata"]["benchfleet-expires"] = "20260101t0000z"
    s["status"] = "SHUTOFF"
    assert fleet.provider("ovh").list(["SBG5"])[0].state == "stopped"
    assert fleet.reap(_targets(), grace_s=0).deleted == []  # not ours
    rep = fleet.reap(_targets(), grace_s=0, all_owners=True)
    assert rep.ok and any("instance/" in d for d in rep.deleted), rep
    assert ovh.servers == {}
    (g,) = ovh.groups.values()  # its group's expiry tag is not past: it stays until it is (or a teardown)
    g["description"] = g["description"].replace(g["description"].split("benchfleet-expires=")[1].split()[0],
                                                "20260101t0000z")
    rep = fleet.reap(_targets(), grace_s=0, all_owners=True)
    assert rep.deleted == ["ovh:SBG5:security-group/benchfleet-ov-theirs", "ovh:SBG5:key-pair/benchfleet-ov-theirs"]
    assert _nothing_left(ovh)


def test_ovh_preflight_counts_quota_and_names_unknown_regions_flavors_and_images(ovh):
    p = fleet.provider("ovh")
    assert p.regions() == ["BHS5", "DE1", "GRA11", "SBG5", "UK1", "WAW1"]
    assert p.offered("t2-45") == {"BHS5": 15, "GRA11": 15}
    assert p.shape("c3-16") == (8, 16000 / 1024)
    assert p.zones("SBG5", "t2-45") == [] and p.zones("GRA11", "t2-45") == ["nova"]
    assert p.preflight(["GRA11"], "c3-16", 3) == []  # 24 cores: exactly the quota
    assert p.preflight(["GRA11"], "c3-16", 4) == [
        "ovh: cores quota (maxTotalCores) of GRA11: 4 x 8 = 32 vCPUs asked, 24 of 24 free"]
    assert p.preflight(["GRA11", "SBG5"], "c3-16", 4) == []  # the next region holds it
    assert p.preflight(["GRA11"], "h100-380", 1) == [
        "ovh: cores quota (maxTotalCores) of GRA11: 1 x 30 = 30 vCPUs asked, 24 of 24 free; RAM quota "
        "(maxTotalRAMSize) of GRA11: 1 x 380000 = 380000 MiB asked, 98304 of 98304 free"]
    assert p.preflight(["SBG5"], "t2-45", 1) == ["ovh: flavor t2-45 (cloud.instance_type) is not offered in SBG5"]
    assert p.preflight(["GRA11"], "b3-9", 1) == [
        "ovh: flavor b3-9 (cloud.instance_type) is not offered in GRA11; close ones there: b3-8, b3-16"]
    assert p.preflight(["GRA11", "GRA12"], "b3-8", 1) == [
        "ovh: region 'GRA12' (cloud.regions) is not in this project's catalog, whose regions are BHS5, DE1, GRA11, "
        "SBG5, UK1, WAW1; did you mean 'GRA11'?"]
    assert p.preflight(["GRA11"], "b3-8", 1, spot=True)[0].startswith("ovh: cloud.spot: OVHcloud Public Cloud has no "
                                                                        "spot")
    assert "GRA11 lists no active image" in p.preflight(["GRA11"], "b3-8", 1, image="Ubuntu 18.04")[0]
    assert p.resolve_image("GRA11", "Debian 12") == p.resolve_image("GRA11", "debian-12")
    img = p.resolve_image("GRA11", "ubuntu-24.04")
    assert p.resolve_image("GRA11", img) == img  # an image id is taken as it is, when the region lists it
    # what is running counts: two c3-16 leave 8 of GRA11's 24 cores
    fleet.provision("ov-q", [_system("ovh-q", itype="c3-16")], PUB)
    assert "8 of 24 free" in p.preflight(["GRA11"], "c3-16", 2)[0]
    assert fleet.teardown("ov-q", _targets()).ok and _nothing_left(ovh)
    assert {m for m, p_, _ in ovh.log if "/compute/" in p_ and "/servers" not in p_ and "keypairs" not in p_} == {"GET"}


def _sweep_file(tmp_path: Path, cache_dir: Path, count: int = 2, fleet_root: Path | None = None, **cloud) -> Path:
    f = tmp_path / "ovh.yml"
    f.write_text(yaml.safe_dump({
        "submitter": "TestLab", "division": "open", "scenarios": ["SingleStream"], "model": "synthetic",
        "dataset": "synthetic", "synthetic_width": 2, "cache_dir": str(cache_dir), "defaults": {"threads": 1},
        "dataset_count": 64, "setup": "never",  # the instances are this machine, with this venv
        "systems": [{"name": "ovh-b3", "cloud": {
            "provider": "ovh", "regions": ["GRA11"], "instance_type": "b3-8", "count": count, "ssh_user": "root",
            "ssh_cidr": "127.0.0.1/32",
            "vars": {"ansible_python_interpreter": sys.executable, "benchfleet_harness_python": sys.executable},
            **cloud}}]}))
    return f


def test_bad_ovh_input_is_refused_before_anything_is_created(ovh, tmp_path, cache_dir):
    runs = tmp_path / "runs"
    cases = [
        ({"spot": True}, "systems[0].cloud.spot: OVHcloud Public Cloud has no spot or preemptible instances", "err"),
        ({"regions": ["gra11"]}, "systems[0].cloud.regions[0]: 'gra11' is not an OVHcloud region", "err"),
        ({"regions": ["GRA7"]}, "cloud check ovh-b3 (ovh b3-8 x 2 in GRA7): ovh: region 'GRA7' (cloud.regions) is "
                                "not in this project's catalog", "out"),
        ({"instance_type": "t2-45", "regions": ["SBG5"]}, "ovh: flavor t2-45 (cloud.instance_type) is not offered in "
                                                          "SBG5", "out"),
        ({"instance_type": "c3-16", "count": 4}, "ovh: cores quota (maxTotalCores) of GRA11: 4 x 8 = 32 vCPUs asked, "
                                                 "24 of 24 free", "out"),
        ({"image": "Ubuntu 18.04"}, "image 'Ubuntu 18.04' (cloud.image): GRA11 lists no active image", "out"),
    ]
    for extra, message, where in cases:
        out = subprocess.run([BENCHFLEET, "sweep", str(_sweep_file(tmp_path, cache_dir, **extra)), "--runs-dir",
                              str(runs)], capture_output=True, text=True)
        assert out.returncode == 2, (extra, out.stdout + out.stderr)
        assert message in (out.stderr if where == "err" else out.stdout), (extra, out.stdout + out.stderr)
        if where == "out":
            assert "the cloud checks above failed; nothing was created" in out.stderr
    assert not runs.exists()
    assert ovh.servers == {} and ovh.groups == {} and ovh.keypairs == {}
    assert {m for m, p, _ in ovh.log if p != "/v3/auth/tokens"} == {"GET"}  # nothing but reads
    # OVHcloud has no price API and benchfleet ships no unverified figures: the estimate asks for price_per_hour,
    # and uses it when the sweep gives one
    chk = subprocess.run([BENCHFLEET, "sweep", str(_sweep_file(tmp_path, cache_dir)), "--check", "--runs-dir",
                          str(runs)], capture_output=True, text=True)
    assert chk.returncode == 0, chk.stdout + chk.stderr
    assert "cloud check ovh-b3 (ovh b3-8 x 2 in GRA11): OK" in chk.stdout
    assert "OVHcloud has no price API" in chk.stdout and "set price_per_hour" in chk.stdout, chk.stdout
    priced = subprocess.run([BENCHFLEET, "sweep", str(_sweep_file(tmp_path, cache_dir, price_per_hour=0.05)),
                             "--check", "--runs-dir", str(runs)], capture_output=True, text=True)
    assert priced.returncode == 0 and "ovh-b3: 2 x 0.0500 USD/h" in priced.stdout, priced.stdout + priced.stderr
    assert "price_per_hour of the sweep file" in priced.stdout


def test_wrong_credentials_are_refused_and_no_secret_is_shown(ovh, tmp_path, cache_dir, monkeypatch):
    monkeypatch.setenv("OS_PASSWORD", "bf-a-wrong-password-77d0")
    problems = fleet.provider("ovh").preflight(["GRA11"], "b3-8", 1)
    assert len(problems) == 1 and problems[0].startswith("ovh: 401 Unauthorized: Keystone: "), problems
    assert "openrc.sh" in problems[0] and "bf-a-wrong-password-77d0" not in problems[0]
    out = subprocess.run([BENCHFLEET, "sweep", str(_sweep_file(tmp_path, cache_dir)), "--runs-dir",
                          str(tmp_path / "runs")], capture_output=True, text=True)
    assert out.returncode == 2 and "cloud check ovh-b3 (ovh b3-8 x 2 in GRA11): ovh: 401" in out.stdout, out.stdout
    assert "bf-a-wrong-password-77d0" not in out.stdout + out.stderr and ovh.tokens == set()
    monkeypatch.delenv("OS_AUTH_URL")
    none = subprocess.run([BENCHFLEET, "reap", "--provider", "ovh"], capture_output=True, text=True, cwd=tmp_path)
    assert none.returncode == 2 and "ovh: skipped, neither OS_CLOUD nor OS_AUTH_URL is set" in none.stdout + none.stderr


def _wait(cond, timeout: float, what: str, proc: subprocess.Popen | None = None):
    deadline = time.time() + timeout
    while True:
        value = cond()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"benchfleet exited while waiting for {what}: {proc.stdout.read()}")
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.fixture()
def ovh_hosts(ovh, tmp_path):
    sshd = Fleet.start(tmp_path / "fleet", 0)
    with OpenStackInstanceHosts(ovh, sshd) as hosts:
        yield ovh, hosts
    sshd.stop()
    assert not hosts.errors, hosts.errors


@root_only
def test_ovh_sweep_benchmarks_over_ssh_and_tears_down_with_no_secret_in_the_run(ovh_hosts, cache_dir, tmp_path):
    ovh, hosts = ovh_hosts
    runs = tmp_path / "runs"
    proc = subprocess.Popen([BENCHFLEET, "sweep", str(_sweep_file(tmp_path, cache_dir, price_per_hour=0.0508)),
                             "--runs-dir", str(runs)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    _wait(lambda: len(hosts.up) == 2, 120, "two instances", proc)
    run_dir = next(runs.iterdir())
    servers = {s["metadata"]["benchfleet-host"]: s for s in ovh.servers.values()}
    assert sorted(servers) == ["ovh-b3-1", "ovh-b3-2"]
    assert all(s["metadata"]["benchfleet-run"] == run_dir.name for s in servers.values())
    key = ovh.keypairs[("GRA11", f"benchfleet-{run_dir.name}")]["public_key"]
    assert key == (run_dir / "ssh" / "id_ed25519.pub").read_text().strip()
    private_key = (run_dir / "ssh" / "id_ed25519").read_text()
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    assert "teardown: confirmed by listing: nothing of this run is left" in out
    assert _nothing_left(ovh) and not hosts.up
    report = check_tree(run_dir / "submission", "v3.1", accuracy_logs=run_dir / "cells", allow_quick=True)
    assert report.ok, [str(e) for e in report.errors]
    summary = json.loads((run_dir / "results.json").read_text())
    assert summary["cells"]["done"] == 2
    cost = summary["cloud_cost"]
    assert len(cost["instances"]) == 2 and all(i["deleted_at"] and i["usd_per_hour"] == 0.0508
                                               for i in cost["instances"])
    records = {json.loads(p.read_text())["instance"] for p in run_dir.glob("cells/*/cell.json")}
    assert records == {s["id"] for s in servers.values()}  # each cell names the instance it ran on
    secrets = [FakeOpenStack.PASSWORD, *ovh.tokens, "".join(private_key.strip().splitlines()[1:-1])[:60]]
    assert ovh.tokens  # the controller and the Ansible module signed in
    for p in run_dir.rglob("*"):
        if p.is_file():
            text = p.read_bytes().decode(errors="replace")
            for s in secrets:
                assert s not in text, f"a secret is in {p}"
    for s in secrets[:-1]:
        assert s not in out


@root_only
def test_ovh_controller_killed_then_reap_deletes_what_it_left(ovh_hosts, cache_dir, tmp_path):
    ovh, hosts = ovh_hosts
    runs = tmp_path / "runs"
    proc = subprocess.Popen([BENCHFLEET, "sweep", str(_sweep_file(tmp_path, cache_dir, price_per_hour=0.0508)),
                             "--runs-dir", str(runs)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    _wait(lambda: len(hosts.up) == 2, 120, "two instances", proc)
    run = next(runs.iterdir()).name
    os.killpg(proc.pid, signal.SIGKILL)  # the controller dies with everything it started
    proc.wait()
    assert len(ovh.servers) == 2 and len(ovh.groups) == 1 and len(ovh.keypairs) == 1
    reap = [BENCHFLEET, "reap", "--provider", "ovh", "--region", "GRA11,SBG5"]
    dry = subprocess.run([*reap, "--older-than", "0s", "--dry-run"], capture_output=True, text=True, cwd=tmp_path)
    assert "reap: 0 resource(s) would delete" in dry.stdout, dry.stdout  # within the grace period
    done = subprocess.run([*reap, "--older-than", "0s", "--grace", "0s"], capture_output=True, text=True,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(f"run {run})") == 2 and f"deleted ovh:GRA11:key-pair/benchfleet-{run}" in done.stdout
    assert _nothing_left(ovh)
    _wait(lambda: not hosts.up, 30, "the instances' hosts to go")


def test_user_data_is_valid_base64_cloud_init_that_halts_at_expiry(ovh):
    fleet.provision("ov-ud", [_system("ovh-u", count=1, hours=2)], PUB)
    (s,) = ovh.servers.values()
    script = ovh.user_data(s)
    assert script.startswith("#!/bin/sh\n")
    minutes = int(script.rsplit("shutdown -h +", 1)[1].split()[0])
    assert 118 <= minutes <= 120
    assert fleet.teardown("ov-ud", _targets()).ok and _nothing_left(ovh)


def test_a_group_or_key_pair_named_after_the_run_but_not_as_benchfleet_made_it_is_refused(ovh):
    fleet.provision("ov-own", [_system("ovh-o", count=1)], PUB)
    (group,) = ovh.groups.values()
    rule = next(r for r in ovh.rules_made.values() if r["direction"] == "ingress")
    rule["remote_ip_prefix"] = "0.0.0.0/0"  # someone opened the run's group to the world
    again = fleet.provision("ov-own", [_system("ovh-o", count=2)], PUB)
    assert again.created == [] and "lets in tcp:22-22 from 0.0.0.0/0" in again.failed["ovh-o-2"], again
    rule["remote_ip_prefix"] = CIDR
    group["description"] = group["description"].replace(f"benchfleet-owner={owner()}", f"benchfleet-owner={OTHER}")
    again = fleet.provision("ov-own", [_system("ovh-o", count=2)], PUB)
    assert f"is not this controller's (owner {OTHER}" in again.failed["ovh-o-2"], again
    assert fleet.teardown("ov-own", _targets()).ok  # not ours: the teardown leaves the group
    assert [g["name"] for g in ovh.groups.values()] == ["benchfleet-ov-own"] and ovh.servers == {}
    ovh.groups.clear()
    ovh.rules_made.clear()
    ovh.keypairs[("GRA11", "benchfleet-ov-key")] = {"name": "benchfleet-ov-key", "public_key": "ssh-ed25519 AAAAother",
                                                     "type": "ssh", "fingerprint": "x", "user_id": "u"}
    res = fleet.provision("ov-key", [_system("ovh-k", count=1)], PUB)
    assert res.created == [] and "holds another public key than this run's" in res.failed["ovh-k-1"], res
    assert ovh.servers == {}
