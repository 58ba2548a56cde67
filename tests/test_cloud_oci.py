"""Oracle Cloud Infrastructure: the real ``oci`` SDK (its clients, request signing with a real RSA key, pagination
and models) against a local HTTPS OCI that speaks Core Services, Identity and Limits as the SDK calls them
(tests/cloudfakes_oci.py). Create, list and terminate confirmed by listing; "Out of host capacity" drives the
failover to the next availability domain, and so does LimitExceeded (the next region after the last AD); what a
killed controller left is reaped by tag, owner and grace period; bad input is refused before anything is created; the
sweep runs its benchmark over SSH on instances mapped onto loopback sshd hosts; no key or pass phrase reaches a log or
a result."""

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
from benchfleet.cloud.oci import kind, parse_shape
from benchfleet.submission.check import check_tree
from tests.cloudfakes_oci import FakeOci, OciInstanceHosts
from tests.sshfleet import Fleet

BENCHFLEET = str(Path(sys.executable).parent / "benchfleet")
PUB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBenchfleetTestKeyOnlyForTheFakes0000000000 test"
CIDR = "198.51.100.7/32"
OTHER = "mallory-at-elsewhere"
E4 = "VM.Standard.E4.Flex:2:16"
ASH, PHX = "us-ashburn-1", "us-phoenix-1"
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to add loopback addresses (ip addr)")


@pytest.fixture()
def oci(tmp_path, monkeypatch):
    f = FakeOci(tmp_path / "oci")
    for k, v in f.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("OCI_SDK_DEFAULT_RETRY_ENABLED", raising=False)
    yield f
    f.stop()


def _system(name: str = "oci-e4", regions=(PHX,), itype: str = E4, count: int = 2, **kw):
    return fleet.SystemRequest(name=name, provider="oci", regions=list(regions), zones=kw.pop("zones", []),
                               instance_type=itype, image=kw.pop("image", "ubuntu-22.04"), ssh_cidr=CIDR,
                               hosts=[f"{name}-{i + 1}" for i in range(count)], ssh_user="ubuntu", **kw)


def _targets(regions=()):
    return [(fleet.provider("oci"), list(regions))]


def _nothing_left(cloud: FakeOci) -> bool:
    return not cloud.live() and not [x for x in cloud.net.values() if x["lifecycleState"] != "TERMINATED"]


def test_oci_create_list_and_teardown_confirmed_by_listing(oci):
    res = fleet.provision("oc-run", [_system()], PUB)
    assert res.created == ["oci-e4-1", "oci-e4-2"] and not res.failed, res
    assert [(a.region, a.zone, a.outcome) for a in res.attempts] == [(PHX, "Xbf1:US-PHOENIX-AD-1", "created")] * 2
    (vcn,) = oci.of("vcn")
    assert vcn["displayName"] == "benchfleet-oc-run" and vcn["_region"] == PHX
    assert vcn["compartmentId"] == FakeOci.TENANCY  # no project: the config's tenancy
    assert vcn["freeformTags"]["benchfleet-run"] == "oc-run" and vcn["freeformTags"]["benchfleet-owner"] == owner()
    assert "benchfleet-heartbeat" in vcn["freeformTags"]
    (sl,) = [x for x in oci.of("security_list") if x["id"] != vcn["defaultSecurityListId"]]
    (subnet,) = oci.of("subnet")
    (rt,) = [t for t in oci.of("route_table") if t["id"] != vcn["defaultRouteTableId"]]
    (igw,) = oci.of("internet_gateway")
    assert [(r["protocol"], r["tcpOptions"]["destinationPortRange"], r["source"]) for r in
            sl["ingressSecurityRules"]] == [("6", {"min": 22, "max": 22}, CIDR)]
    # the VCN's default list (OCI's lets SSH in from anywhere) is on no subnet: only the run's
    assert subnet["securityListIds"] == [sl["id"]] and subnet["routeTableId"] == rt["id"]
    assert rt["routeRules"][0]["networkEntityId"] == igw["id"] and rt["routeRules"][0]["destination"] == "0.0.0.0/0"
    for x in (sl, subnet, rt, igw):
        assert x["freeformTags"]["benchfleet-run"] == "oc-run" and x["displayName"] == "benchfleet-oc-run"
    newest = next(i for i, (r, n, *_) in oci.images.items() if (r, n) == (PHX, "Canonical-Ubuntu-22.04-2026.11.14-0"))
    for i in oci.live():
        t = i["freeformTags"]
        assert t["benchfleet-run"] == "oc-run" and t["benchfleet-owner"] == owner()
        assert t["benchfleet-host"] == i["displayName"] and t["benchfleet-system"] == "oci-e4"
        assert i["metadata"]["ssh_authorized_keys"] == PUB and i["preemptibleInstanceConfig"] is None
        assert i["shape"] == "VM.Standard.E4.Flex" and i["shapeConfig"]["ocpus"] == 2
        assert i["shapeConfig"]["memoryInGBs"] == 16 and i["sourceDetails"]["bootVolumeSizeInGBs"] == 50
        assert i["imageId"] == newest  # the newest "Canonical Ubuntu" 22.04, not the Minimal build
        assert "shutdown -h +" in oci.user_data(i) and "OCI bills an instance shut down from its OS" in \
            oci.user_data(i)
    listed = fleet.provider("oci").list([], "oc-run")  # every subscribed region
    assert sorted((i.host, i.state, i.instance_type, i.region) for i in listed) == [
        ("oci-e4-1", "running", E4, PHX), ("oci-e4-2", "running", E4, PHX)]
    assert all(i.public_ip.startswith("203.0.113.") and i.private_ip.startswith("10.0.0.") and not i.spot
               and i.launched_at for i in listed)
    # idempotent: both hosts keep their instance
    assert fleet.provision("oc-run", [_system()], PUB).created == []
    assert len(oci.live()) == 2
    rep = fleet.teardown("oc-run", _targets())
    assert rep.ok, rep
    assert f"oci:{PHX}:vcn/benchfleet-oc-run" in rep.deleted
    assert _nothing_left(oci)
    assert not any(i.get("_boot_volume_kept") for i in oci.instances.values())  # boot volumes go too
    # the teardown waited for the listing: each instance was listed TERMINATING before it was TERMINATED
    deletes = [n for n, (m, p, _) in enumerate(oci.log) if m == "DELETE" and "/instances/" in p]
    assert any(m == "GET" and p.endswith("/instances") for m, p, _ in oci.log[deletes[-1]:])
    assert oci.signers == {f"{FakeOci.TENANCY}/{FakeOci.USER}/{oci.fingerprint}"}  # every request signed


def test_oci_failover_capacity_next_ad_limit_next_region_auth_stops_bad_image_stops_the_system(oci):
    # Phoenix AD-1 is out of host capacity once: AD-2 takes the first instance, the second goes back to AD-2
    oci.no_capacity.append({"region": PHX, "ad": 1, "times": 1})
    res = fleet.provision("oc-cap", [_system("oci-c", (PHX,))], PUB)
    got = [(a.host, a.zone.rsplit("-", 1)[1], a.outcome) for a in res.attempts]
    assert got == [("oci-c-1", "1", "capacity"), ("oci-c-1", "2", "created"), ("oci-c-2", "2", "created")], got
    assert "Out of host capacity" in res.attempts[0].message and "500 InternalError" in res.attempts[0].message
    assert fleet.teardown("oc-cap", _targets()).ok and _nothing_left(oci)

    # Ashburn's E4 core limit is 4 (AD-1 only): two 2-OCPU instances fit, the third is LimitExceeded in every AD
    # of Ashburn: Phoenix
    res = fleet.provision("oc-lim", [_system("oci-q", (ASH, PHX), count=3)], PUB)
    got = [(a.host, a.region, a.outcome) for a in res.attempts]
    assert got == [("oci-q-1", ASH, "created"), ("oci-q-2", ASH, "created")] + [
        ("oci-q-3", ASH, "quota-zone")] * len(oci.ads[ASH]) + [("oci-q-3", PHX, "created")], got
    assert "400 LimitExceeded" in res.attempts[2].message and "standard-e4-core-count" in res.attempts[2].message
    assert fleet.teardown("oc-lim", _targets()).ok and _nothing_left(oci)

    # a 401 stops this cloud after one try
    oci.rules = [{"method": "POST", "path": "/instances$", "status": 401, "code": "NotAuthenticated",
                  "message": "The required information to complete authentication was not provided."}]
    res = fleet.provision("oc-auth", [_system("oci-a", (ASH, PHX))], PUB)
    assert [a.outcome for a in res.attempts] == ["auth"] and "oci stopped" in res.failed["oci-a-2"], res
    oci.rules = []
    assert fleet.teardown("oc-auth", _targets()).ok and _nothing_left(oci)
    # an image the region does not list is a bad request: that system stops, no instance is created
    launched = len(oci.instances)
    res = fleet.provision("oc-img", [_system("oci-i", (ASH, PHX), image="Canonical-Ubuntu-18.04-2020.01.01-0")],
                          PUB)
    assert [(a.host, a.region, a.outcome) for a in res.attempts] == [("oci-i-1", ASH, "bad-request"),
                                                                       ("oci-i-2", ASH, "bad-request")]
    assert all(f"{ASH} lists no available image" in why for why in res.failed.values())
    assert len(oci.instances) == launched
    assert fleet.teardown("oc-img", _targets()).ok and _nothing_left(oci)


def test_oci_limit_of_one_ad_tries_the_next_ad_of_the_region_before_the_next_region(oci):
    """OCI's service limits are per availability domain for many shapes: a LimitExceeded in Ashburn's AD-1 sends
    the instance to AD-2 of Ashburn, not to Phoenix."""
    oci.LIMITS = {(ASH, 1): {"standard-e4-core-count": 0}}  # AD-2 and AD-3: the default (64)
    res = fleet.provision("oc-adlim", [_system("oci-l", (ASH, PHX), count=1)], PUB)
    got = [(a.host, a.region, a.zone.rsplit("-", 1)[1], a.outcome) for a in res.attempts]
    assert got == [("oci-l-1", ASH, "1", "quota-zone"), ("oci-l-1", ASH, "2", "created")], got
    assert "400 LimitExceeded" in res.attempts[0].message and res.instances[0].region == ASH
    assert fleet.teardown("oc-adlim", _targets()).ok and _nothing_left(oci)


def test_error_kinds_follow_ocis_codes():
    assert kind(500, "InternalError", "Out of host capacity.") == "capacity"
    assert kind(400, "LimitExceeded", "You have reached your service limit") == "quota-zone"
    assert kind(400, "QuotaExceeded", "compartment quota exceeded") == "quota"
    assert kind(401, "NotAuthenticated", "") == "auth"
    assert kind(404, "NotAuthorizedOrNotFound", "", missing="auth") == "auth"
    assert kind(404, "NotAuthorizedOrNotFound", "") == "not-found"
    assert kind(400, "InvalidParameter", "bad shape") == "bad-request"
    assert kind(400, "CannotParseRequest", "") == "bad-request"
    assert kind(429, "TooManyRequests", "") == "other" and kind(500, "InternalError", "oops") == "other"
    assert parse_shape("VM.Standard.E4.Flex:2:16") == ("VM.Standard.E4.Flex", 2.0, 16.0)
    assert parse_shape("BM.GPU.H100.8") == ("BM.GPU.H100.8", None, None)
    for bad in ("VM.Standard.E4.Flex", "VM.GPU.A10.1:1:16", "vm.standard3.flex:1:16", "t3.micro"):
        with pytest.raises(ValueError):
            parse_shape(bad)


def test_oci_spot_is_preemptible_and_terminates_on_preemption(oci):
    res = fleet.provision("oc-spot", [_system("oci-s", count=1, spot=True)], PUB)
    assert res.created == ["oci-s-1"], res
    (i,) = oci.live()
    assert i["preemptibleInstanceConfig"] == {"preemptionAction": {"type": "TERMINATE", "preserveBootVolume": False}}
    assert fleet.provider("oci").list([PHX], "oc-spot")[0].spot
    # preempted: OCI terminates it; the listing no longer shows it
    oci.preempt(i["id"])
    assert fleet.provider("oci").list([PHX], "oc-spot") == []
    assert fleet.teardown("oc-spot", _targets()).ok and _nothing_left(oci)


def test_oci_reap_deletes_what_a_killed_controller_left_by_tag_owner_and_grace(oci, tmp_path):
    fleet.provision("oc-left", [_system("oci-l", count=1)], PUB)
    fleet.provision("oc-theirs", [_system("oci-t", ("eu-frankfurt-1",), count=1)], PUB)
    for x in [*oci.instances.values(), *oci.net.values()]:  # the second run is someone else's
        if x["freeformTags"].get("benchfleet-run") == "oc-theirs":
            x["freeformTags"]["benchfleet-owner"] = OTHER
    # no teardown: the controller died. Nothing is past its expiry, so a plain reap keeps both.
    assert fleet.reap(_targets()).deleted == []
    # launched just now: within the grace period (a controller may still be provisioning it) it stays
    assert fleet.reap(_targets(), older_than_s=0).deleted == []
    dry = fleet.reap(_targets(), older_than_s=0, dry_run=True, grace_s=0)
    # listed, not deleted (the run's VCN waits for a run with no instance left)
    assert [d.split(" ")[0].split("/")[0] for d in dry.deleted] == [f"oci:{PHX}:instance"], dry.deleted
    assert len(oci.live()) == 2
    # the CLI, with credentials from the config file only, every subscribed region scanned
    reap = [BENCHFLEET, "reap", "--provider", "oci", "--older-than", "0s", "--grace", "0s"]
    done = subprocess.run(reap, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"deleted oci:{PHX}:vcn/benchfleet-oc-left" in done.stdout, done.stdout
    assert [i["freeformTags"]["benchfleet-run"] for i in oci.live()] == ["oc-theirs"]  # only ours went
    assert [v["displayName"] for v in oci.of("vcn")] == ["benchfleet-oc-theirs"]
    assert {p.split("/")[1] for m, p, _ in oci.log if m == "GET" and p.endswith("/instances")} == set(
        FakeOci.REGIONS)
    # past its expiry the instance halted itself (STOPPED); OCI bills it still, so a plain reap terminates it
    (i,) = oci.live()
    i["freeformTags"]["benchfleet-expires"] = "20260101t0000z"
    i["lifecycleState"] = "STOPPED"
    assert fleet.provider("oci").list(["eu-frankfurt-1"])[0].state == "stopped"
    assert fleet.reap(_targets(), grace_s=0).deleted == []  # not ours
    rep = fleet.reap(_targets(), grace_s=0, all_owners=True)
    assert rep.ok and any("instance/" in d for d in rep.deleted), rep
    assert oci.live() == []
    (v,) = oci.of("vcn")  # its VCN's expiry tag is not past: it stays until it is (or a teardown)
    v["freeformTags"]["benchfleet-expires"] = "20260101t0000z"
    rep = fleet.reap(_targets(), grace_s=0, all_owners=True)
    assert rep.deleted == ["oci:eu-frankfurt-1:vcn/benchfleet-oc-theirs"], rep
    assert _nothing_left(oci)


def test_oci_preflight_counts_limits_and_names_unknown_regions_shapes_and_images(oci):
    p = fleet.provider("oci")
    assert p.regions() == ["eu-frankfurt-1", ASH, PHX]
    assert p.zones(ASH, "BM.GPU.H100.8") == ["Xbf1:US-ASHBURN-AD-3"] and p.zones(PHX, "BM.GPU.H100.8") == []
    assert p.offered("VM.GPU.A10.1") == {"eu-frankfurt-1": 30, ASH: 30}
    assert p.shape(E4) == (4, 16.0) and p.shape("VM.GPU.A10.1") == (30, 240.0)
    assert p.preflight([ASH], E4, 2) == []  # 4 OCPUs: exactly Ashburn's limit
    assert p.preflight([ASH], E4, 3) == [
        "oci: service limit standard-e4-core-count of us-ashburn-1: 3 x 2 = 6 asked, 4 free in its ADs offering "
        "VM.Standard.E4.Flex"]
    assert p.preflight([ASH, PHX], E4, 3) == []  # the next region holds it
    assert p.preflight([ASH], "BM.GPU.H100.8", 1) == [
        "oci: service limit gpu-h100-count of us-ashburn-1: 1 x 8 = 8 asked, 0 free in its ADs offering BM.GPU.H100.8"]
    assert p.preflight([PHX], "VM.GPU.A10.1", 1) == ["oci: shape VM.GPU.A10.1 (cloud.instance_type) is not offered "
                                                     "in us-phoenix-1"]
    assert p.preflight([PHX], "VM.Standard.E5.Flex:2:16", 1) == [
        "oci: shape VM.Standard.E5.Flex (cloud.instance_type) is not offered in us-phoenix-1; close ones there: "
        "VM.Standard.E4.Flex, VM.Standard3.Flex"]
    assert p.preflight([PHX], "VM.Standard3.Flex:40:64", 1) == [
        "oci: cloud.instance_type: VM.Standard3.Flex takes 1 to 32 OCPUs, not 40"]
    assert p.preflight([PHX], "VM.Standard3.Flex:2:200", 1) == [
        "oci: cloud.instance_type: VM.Standard3.Flex with 2 OCPUs takes 2 to 128 GB of memory, not 200"]
    assert p.preflight([ASH, "us-ashburn-2"], E4, 1) == [
        "oci: region 'us-ashburn-2' (cloud.regions) is not one this tenancy subscribes to (eu-frankfurt-1, "
        "us-ashburn-1, us-phoenix-1); did you mean 'us-ashburn-1'?"]
    assert p.preflight([ASH], "BM.GPU.H100.8", 1, spot=True)[0].startswith(
        "oci: cloud.spot: OCI has no preemptible capacity for bare metal shapes")
    assert "lists no available image" in p.preflight([PHX], E4, 1, image="Oracle-Linux-7.9-2020.01.01-0")[0]
    img = p.resolve_image(PHX, "ubuntu-24.04", "VM.Standard.E4.Flex")
    assert p.resolve_image(PHX, img) == img  # an image OCID is taken as it is, when the region lists it
    assert p.resolve_image(PHX, "Canonical-Ubuntu-24.04-2026.11.20-0") == img  # and a display name
    # a compartment that does not exist, or that this user may not use: OCI's 404 NotAuthorizedOrNotFound is auth
    other = fleet.provider("oci", project="ocid1.compartment.oc1..aaaaaaaanotmine")
    (why,) = other.preflight([PHX], E4, 1)
    assert why.startswith("oci: 404 NotAuthorizedOrNotFound") and "does not exist or this user may not use it" in why
    # what is running counts: two 2-OCPU instances leave none of Ashburn's 4
    fleet.provision("oc-q", [_system("oci-q", (ASH,))], PUB)
    assert "0 free" in p.preflight([ASH], E4, 1)[0]
    assert fleet.teardown("oc-q", _targets()).ok and _nothing_left(oci)


def _sweep_file(tmp_path: Path, cache_dir: Path, count: int = 2, **cloud) -> Path:
    f = tmp_path / "oci.yml"
    f.write_text(yaml.safe_dump({
        "submitter": "TestLab", "division": "open", "scenarios": ["SingleStream"], "model": "synthetic",
        "dataset": "synthetic", "synthetic_width": 2, "cache_dir": str(cache_dir), "defaults": {"threads": 1},
        "dataset_count": 64, "setup": "never",  # the instances are this machine, with this venv
        "systems": [{"name": "oci-e4", "cloud": {
            "provider": "oci", "regions": [PHX], "instance_type": E4, "count": count, "ssh_user": "root",
            "ssh_cidr": "127.0.0.1/32",
            "vars": {"ansible_python_interpreter": sys.executable, "benchfleet_harness_python": sys.executable},
            **cloud}}]}))
    return f


def test_bad_oci_input_is_refused_before_anything_is_created(oci, tmp_path, cache_dir):
    runs = tmp_path / "runs"
    cases = [
        ({"regions": ["IAD"]}, "systems[0].cloud.regions[0]: 'IAD' is not an OCI region identifier", "err"),
        ({"regions": ["US-ASHBURN-1"]}, "did you mean 'us-ashburn-1'?", "err"),
        ({"instance_type": "VM.Standard.E4.Flex"}, "systems[0].cloud.instance_type: 'VM.Standard.E4.Flex' is a "
                                                   "flexible shape: give its OCPUs and memory", "err"),
        ({"instance_type": "n2-standard-4"}, "systems[0].cloud.instance_type: 'n2-standard-4' is not an OCI shape",
         "err"),
        ({"instance_type": "BM.GPU.H100.8", "regions": [ASH], "spot": True},
         "systems[0].cloud.spot: OCI has no preemptible capacity for bare metal shapes", "err"),
        ({"project": "my-project"}, "systems[0].cloud.project: 'my-project' is not a compartment OCID", "err"),
        ({"regions": ["us-ashburn-2"]}, "cloud check oci-e4 (oci VM.Standard.E4.Flex:2:16 x 2 in us-ashburn-2): oci: "
                                        "region 'us-ashburn-2' (cloud.regions) is not one this tenancy subscribes to",
         "out"),
        ({"instance_type": "VM.GPU.A10.1"}, "oci: shape VM.GPU.A10.1 (cloud.instance_type) is not offered in "
                                            "us-phoenix-1", "out"),
        ({"regions": [ASH], "count": 3}, "oci: service limit standard-e4-core-count of us-ashburn-1: 3 x 2 = 6 asked, "
                                         "4 free", "out"),
        ({"image": "Canonical-Ubuntu-18.04"}, "image 'Canonical-Ubuntu-18.04' (cloud.image): us-phoenix-1 lists no "
                                              "available image", "out"),
    ]
    for extra, message, where in cases:
        out = subprocess.run([BENCHFLEET, "sweep", str(_sweep_file(tmp_path, cache_dir, **extra)), "--runs-dir",
                              str(runs)], capture_output=True, text=True)
        assert out.returncode == 2, (extra, out.stdout + out.stderr)
        assert message in (out.stderr if where == "err" else out.stdout), (extra, out.stdout + out.stderr)
        if where == "out":
            assert "the cloud checks above failed; nothing was created" in out.stderr
    assert not runs.exists()
    assert not oci.instances and not oci.net
    assert {m for m, _p, _ in oci.log} == {"GET"}  # nothing but reads
    # OCI has no documented price API and benchfleet ships no unverified figures: the estimate asks for
    # price_per_hour, and uses it when the sweep gives one
    chk = subprocess.run([BENCHFLEET, "sweep", str(_sweep_file(tmp_path, cache_dir)), "--check", "--runs-dir",
                          str(runs)], capture_output=True, text=True)
    assert chk.returncode == 0, chk.stdout + chk.stderr
    assert "cloud check oci-e4 (oci VM.Standard.E4.Flex:2:16 x 2 in us-phoenix-1): OK" in chk.stdout
    assert "OCI has no documented price API" in chk.stdout and "set price_per_hour" in chk.stdout, chk.stdout
    priced = subprocess.run([BENCHFLEET, "sweep", str(_sweep_file(tmp_path, cache_dir, price_per_hour=0.07)),
                             "--check", "--runs-dir", str(runs)], capture_output=True, text=True)
    assert priced.returncode == 0 and "oci-e4: 2 x 0.0700 USD/h" in priced.stdout, priced.stdout + priced.stderr


def test_wrong_key_is_refused_and_no_secret_is_shown(oci, tmp_path, cache_dir, monkeypatch):
    # the config names another key's fingerprint: OCI answers 401 NotAuthenticated
    monkeypatch.setenv("OCI_CONFIG_FILE", str(oci.config_file(fingerprint="aa:" * 15 + "aa")))
    problems = fleet.provider("oci").preflight([PHX], E4, 1)
    assert len(problems) == 1 and problems[0].startswith("oci: 401 NotAuthenticated: "), problems
    assert "OCI_CONFIG_FILE" in problems[0]
    out = subprocess.run([BENCHFLEET, "sweep", str(_sweep_file(tmp_path, cache_dir)), "--runs-dir",
                          str(tmp_path / "runs")], capture_output=True, text=True)
    assert out.returncode == 2 and "cloud check oci-e4 (oci VM.Standard.E4.Flex:2:16 x 2 in us-phoenix-1): oci: 401" \
        in out.stdout, out.stdout + out.stderr
    key = oci.key_file.read_text()
    body = "".join(key.strip().splitlines()[1:-1])
    for secret in (FakeOci.PASSPHRASE, body[:60], body[-60:]):
        assert secret not in out.stdout + out.stderr
    # an encrypted key with a wrong pass phrase: refused naming the file, never the phrase
    cfg = Path(oci.config_file())
    cfg.write_text(cfg.read_text().replace(FakeOci.PASSPHRASE, "bf-wrong-phrase-0c4a"))
    monkeypatch.setenv("OCI_CONFIG_FILE", str(cfg))
    (why,) = fleet.provider("oci").preflight([PHX], E4, 1)
    assert why.startswith("oci: NoCredentials: ") and "bf-wrong-phrase-0c4a" not in why, why
    monkeypatch.setenv("OCI_CONFIG_FILE", str(tmp_path / "missing-config"))
    (why,) = fleet.provider("oci").preflight([PHX], E4, 1)
    assert why.startswith("oci: NoCredentials: no usable OCI config") and "oci setup config" in why, why
    none = subprocess.run([BENCHFLEET, "reap", "--provider", "oci"], capture_output=True, text=True, cwd=tmp_path)
    assert none.returncode == 2 and "oci: skipped, no OCI config file" in none.stdout + none.stderr
    assert not oci.instances and not oci.net


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
def oci_hosts(oci, tmp_path):
    sshd = Fleet.start(tmp_path / "fleet", 0)
    with OciInstanceHosts(oci, sshd) as hosts:
        yield oci, hosts
    sshd.stop()
    assert not hosts.errors, hosts.errors


@root_only
def test_oci_sweep_benchmarks_over_ssh_and_tears_down_with_no_secret_in_the_run(oci_hosts, cache_dir, tmp_path):
    oci, hosts = oci_hosts
    runs = tmp_path / "runs"
    proc = subprocess.Popen([BENCHFLEET, "sweep", str(_sweep_file(tmp_path, cache_dir, price_per_hour=0.07)),
                             "--runs-dir", str(runs)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    _wait(lambda: len(hosts.up) == 2, 120, "two instances", proc)
    run_dir = next(runs.iterdir())
    insts = {i["freeformTags"]["benchfleet-host"]: i for i in oci.live()}
    assert sorted(insts) == ["oci-e4-1", "oci-e4-2"]
    assert all(i["freeformTags"]["benchfleet-run"] == run_dir.name for i in insts.values())
    assert {i["metadata"]["ssh_authorized_keys"] for i in insts.values()} == {
        (run_dir / "ssh" / "id_ed25519.pub").read_text().strip()}
    private_key = (run_dir / "ssh" / "id_ed25519").read_text()
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    assert "teardown: confirmed by listing: nothing of this run is left" in out
    assert _nothing_left(oci) and not hosts.up
    report = check_tree(run_dir / "submission", "v3.1", accuracy_logs=run_dir / "cells", allow_quick=True)
    assert report.ok, [str(e) for e in report.errors]
    summary = json.loads((run_dir / "results.json").read_text())
    assert summary["cells"]["done"] == 2
    cost = summary["cloud_cost"]
    assert len(cost["instances"]) == 2 and all(i["deleted_at"] and i["usd_per_hour"] == 0.07
                                               for i in cost["instances"])
    records = {json.loads(p.read_text())["instance"] for p in run_dir.glob("cells/*/cell.json")}
    assert records == set(i["id"] for i in insts.values())  # each cell names the instance it ran on
    api_key = "".join(oci.key_file.read_text().strip().splitlines()[1:-1])
    secrets = [FakeOci.PASSPHRASE, api_key[:60], api_key[-60:], "".join(private_key.strip().splitlines()[1:-1])[:60]]
    for p in run_dir.rglob("*"):
        if p.is_file():
            text = p.read_bytes().decode(errors="replace")
            for s in secrets:
                assert s not in text, f"a secret is in {p}"
    for s in secrets[:-1]:
        assert s not in out


@root_only
def test_oci_controller_killed_then_reap_deletes_what_it_left(oci_hosts, cache_dir, tmp_path):
    oci, hosts = oci_hosts
    runs = tmp_path / "runs"
    proc = subprocess.Popen([BENCHFLEET, "sweep", str(_sweep_file(tmp_path, cache_dir, price_per_hour=0.07)),
                             "--runs-dir", str(runs)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    _wait(lambda: len(hosts.up) == 2, 120, "two instances", proc)
    run = next(runs.iterdir()).name
    os.killpg(proc.pid, signal.SIGKILL)  # the controller dies with everything it started
    proc.wait()
    assert len(oci.live()) == 2 and len(oci.of("vcn")) == 1
    reap = [BENCHFLEET, "reap", "--provider", "oci", "--region", f"{ASH},{PHX}"]
    dry = subprocess.run([*reap, "--older-than", "0s", "--dry-run"], capture_output=True, text=True, cwd=tmp_path)
    assert "reap: 0 resource(s) would delete" in dry.stdout, dry.stdout  # within the grace period
    done = subprocess.run([*reap, "--older-than", "0s", "--grace", "0s"], capture_output=True, text=True,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(f"run {run})") == 2 and f"deleted oci:{PHX}:vcn/benchfleet-{run}" in done.stdout
    assert _nothing_left(oci)
    _wait(lambda: not hosts.up, 30, "the instances' hosts to go")


def test_user_data_is_valid_base64_cloud_init_that_halts_at_expiry(oci):
    fleet.provision("oc-ud", [_system("oci-u", count=1, hours=2)], PUB)
    (i,) = oci.live()
    script = oci.user_data(i)
    assert script.startswith("#!/bin/sh\n")
    minutes = int(script.rsplit("shutdown -h +", 1)[1].split()[0])
    assert 118 <= minutes <= 120
    assert fleet.teardown("oc-ud", _targets()).ok and _nothing_left(oci)


def test_a_vcn_named_after_the_run_but_not_as_benchfleet_made_it_is_refused(oci):
    fleet.provision("oc-own", [_system("oci-o", count=1)], PUB)
    (vcn,) = oci.of("vcn")
    (sl,) = [x for x in oci.of("security_list") if x["id"] != vcn["defaultSecurityListId"]]
    sl["ingressSecurityRules"][0]["source"] = "0.0.0.0/0"  # someone opened the run's list to the world
    again = fleet.provision("oc-own", [_system("oci-o", count=2)], PUB)
    assert again.created == [] and "lets in tcp:22-22 from 0.0.0.0/0" in again.failed["oci-o-2"], again
    sl["ingressSecurityRules"][0]["source"] = CIDR
    vcn["freeformTags"]["benchfleet-owner"] = OTHER
    again = fleet.provision("oc-own", [_system("oci-o", count=2)], PUB)
    assert f"is not this controller's (owner {OTHER}" in again.failed["oci-o-2"], again
    assert fleet.teardown("oc-own", _targets()).ok  # not ours: the teardown leaves the VCN
    assert [v["displayName"] for v in oci.of("vcn")] == ["benchfleet-oc-own"] and oci.live() == []
