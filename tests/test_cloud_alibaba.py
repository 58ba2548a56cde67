"""Alibaba Cloud ECS: the real ``alibabacloud_ecs20140526`` SDK (its request models, ACS3-HMAC-SHA256 signing and
error handling) against a local ECS that speaks the 2014-05-26 RPC API as the SDK calls it
(tests/cloudfakes_alibaba.py). Create, list and delete confirmed by listing; OperationDenied.NoStock drives the
failover to the next zone and QuotaExceed to the next region; what a killed controller left is reaped by tag, owner
and grace period; the vCPU quota and bad input are refused before anything is created; AutoReleaseTime releases an
instance past its expiry; prices come from DescribePrice, else the estimate asks for one; the sweep runs its
benchmark over SSH on instances mapped onto loopback sshd hosts; no AccessKey secret reaches a log or a result."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from benchfleet.cloud import fleet, prices
from benchfleet.cloud.alibaba import kind, release_time
from benchfleet.cloud.base import owner
from benchfleet.submission.check import check_tree
from tests.cloudfakes_alibaba import AlibabaInstanceHosts, FakeEcs
from tests.sshfleet import Fleet

BENCHFLEET = str(Path(sys.executable).parent / "benchfleet")
PUB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBenchfleetTestKeyOnlyForTheFakes0000000000 test"
CIDR = "198.51.100.7/32"
OTHER = "mallory-at-elsewhere"
G7 = "ecs.g7.xlarge"
HZ, SV, FR = "cn-hangzhou", "us-west-1", "eu-central-1"
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to add loopback addresses (ip addr)")


@pytest.fixture()
def ecs(monkeypatch):
    f = FakeEcs()
    for k, v in f.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("ALIBABA_CLOUD_REGION_ID", raising=False)
    yield f
    f.stop()


def _system(name: str = "ali-g7", regions=(HZ,), itype: str = G7, count: int = 2, **kw):
    return fleet.SystemRequest(name=name, provider="alibaba", regions=list(regions), zones=kw.pop("zones", []),
                               instance_type=itype, image=kw.pop("image", "ubuntu-22.04"), ssh_cidr=CIDR,
                               hosts=[f"{name}-{i + 1}" for i in range(count)], ssh_user="ubuntu", **kw)


def _targets(regions=()):
    return [(fleet.provider("alibaba"), list(regions))]


def test_alibaba_create_list_and_teardown_confirmed_by_listing(ecs):
    res = fleet.provision("al-run", [_system()], PUB)
    assert res.created == ["ali-g7-1", "ali-g7-2"] and not res.failed, res
    assert [(a.region, a.zone, a.outcome) for a in res.attempts] == [(HZ, "cn-hangzhou-h", "created")] * 2
    (vpc,) = ecs.vpcs.values()
    assert vpc["VpcName"] == "benchfleet-al-run" and vpc["CidrBlock"] == "10.0.0.0/16"
    assert "benchfleet-run=al-run " in vpc["Description"] and f"benchfleet-owner={owner()}" in vpc["Description"]
    assert "benchfleet-heartbeat=" in vpc["Description"]
    (sw,) = ecs.vswitches.values()
    assert (sw["VpcId"], sw["ZoneId"], sw["CidrBlock"]) == (vpc["VpcId"], "cn-hangzhou-h", "10.0.0.0/24")
    (sg,) = ecs.groups.values()
    assert sg["VpcId"] == vpc["VpcId"] and sg["_tags"]["benchfleet-run"] == "al-run"
    assert [(p["IpProtocol"], p["PortRange"], p["SourceCidrIp"], p["Policy"]) for p in sg["_permissions"]] == [
        ("TCP", "22/22", CIDR, "Accept")]
    (kp,) = ecs.key_pairs.values()
    assert kp["KeyPairName"] == "benchfleet-al-run" and kp["_public_key"] == PUB
    assert kp["_tags"]["benchfleet-owner"] == owner()
    for i in ecs.live():
        t = i["_tags"]
        assert t["benchfleet-run"] == "al-run" and t["benchfleet-owner"] == owner()
        assert t["benchfleet-host"] == i["InstanceName"] and t["benchfleet-system"] == "ali-g7"
        assert i["InstanceChargeType"] == "PostPaid" and i["SpotStrategy"] == "NoSpot"
        assert i["ImageId"] == "ubuntu_22_04_x64_20G_alibase_20241120.vhd"  # the newest x64 22.04, not the UEFI one
        assert i["_system_disk"] == {"Size": 50, "Category": "cloud_essd"} and i["InternetMaxBandwidthOut"] > 0
        assert i["KeyPairName"] == "benchfleet-al-run" and i["_group"] == sg["SecurityGroupId"]
        assert "shutdown -h +" in ecs.user_data(i) and "AutoReleaseTime" in ecs.user_data(i)
    listed = fleet.provider("alibaba").list([], "al-run")  # every region
    assert sorted((i.host, i.state, i.instance_type, i.region) for i in listed) == [
        ("ali-g7-1", "running", G7, HZ), ("ali-g7-2", "running", G7, HZ)]
    assert all(i.public_ip.startswith("198.18.") and i.private_ip.startswith("10.0.0.") and not i.spot
               and i.launched_at.endswith(":00Z") for i in listed)
    # idempotent: both hosts keep their instance
    assert fleet.provision("al-run", [_system()], PUB).created == []
    assert len(ecs.live()) == 2
    ecs.linger = 1  # deleted instances stay listed (Stopping) for a read
    rep = fleet.teardown("al-run", _targets())
    assert rep.ok, rep
    assert f"alibaba:{HZ}:vpc/benchfleet-al-run" in rep.deleted
    assert ecs.nothing_left()
    # the teardown waited for the listing: after DeleteInstances, DescribeInstances ran until nothing was listed
    actions = [a for a, _r, c in ecs.log if c == "ok"]
    last_delete = len(actions) - 1 - actions[::-1].index("DeleteInstances")
    assert "DescribeInstances" in actions[last_delete:] and actions.index("DeleteVpc") > last_delete


def test_alibaba_failover_nostock_next_zone_quota_next_region_auth_stops_bad_image_stops_the_system(ecs):
    # Hangzhou H has no stock once: I takes the first instance, the second starts at I
    ecs.no_stock.append({"region": HZ, "zone": "cn-hangzhou-h", "times": 1})
    res = fleet.provision("al-cap", [_system("ali-c")], PUB)
    got = [(a.host, a.zone, a.outcome) for a in res.attempts]
    assert got == [("ali-c-1", "cn-hangzhou-h", "capacity"), ("ali-c-1", "cn-hangzhou-i", "created"),
                   ("ali-c-2", "cn-hangzhou-i", "created")], got
    assert "403 OperationDenied.NoStock" in res.attempts[0].message
    assert fleet.teardown("al-cap", _targets()).ok and ecs.nothing_left()

    # Silicon Valley's vCPU quota is 8: two 4-vCPU instances fit, the third is QuotaExceed: Frankfurt
    res = fleet.provision("al-q", [_system("ali-q", (SV, FR), count=3)], PUB)
    got = [(a.host, a.region, a.outcome) for a in res.attempts]
    assert got == [("ali-q-1", SV, "created"), ("ali-q-2", SV, "created"), ("ali-q-3", SV, "quota"),
                   ("ali-q-3", FR, "created")], got
    assert "403 QuotaExceed.ElasticQuota" in res.attempts[2].message
    assert fleet.teardown("al-q", _targets()).ok and ecs.nothing_left()

    # a RAM user without the permission: auth stops this cloud after one try
    ecs.rules = [{"action": "RunInstances", "status": 403, "code": "Forbidden.RAM",
                  "message": "User not authorized to operate on the specified resource, or this API doesn't support "
                             "RAM."}]
    res = fleet.provision("al-auth", [_system("ali-a", (HZ, FR))], PUB)
    assert [a.outcome for a in res.attempts] == ["auth"] and "alibaba stopped" in res.failed["ali-a-2"], res
    ecs.rules = []
    assert fleet.teardown("al-auth", _targets()).ok and ecs.nothing_left()
    # an image the region does not list is a bad request: that system stops, no instance is created
    launched = [a for a, _r, c in ecs.log if a == "RunInstances"]
    res = fleet.provision("al-img", [_system("ali-i", (HZ, FR), image="centos_6_10_x64_20G_alibase.vhd")], PUB)
    assert [(a.host, a.region, a.outcome) for a in res.attempts] == [("ali-i-1", HZ, "bad-request"),
                                                                       ("ali-i-2", HZ, "bad-request")]
    assert all(f"{HZ} lists no available image" in why for why in res.failed.values())
    assert not ecs.instances and [a for a, _r, c in ecs.log if a == "RunInstances"] == launched
    assert fleet.teardown("al-img", _targets()).ok and ecs.nothing_left()


def test_error_kinds_follow_ecs_codes_and_the_release_time_follows_ecs_rules():
    assert kind(403, "OperationDenied.NoStock") == "capacity"
    assert kind(403, "Zone.NotOnSale") == "capacity" and kind(403, "InvalidResourceType.NotSupported") == "capacity"
    assert kind(403, "QuotaExceed.ElasticQuota") == "quota" and kind(400, "InvalidParameter.QuotaExceed") == "quota"
    assert kind(403, "InvalidAccountStatus.NotEnoughBalance") == "quota-global"
    assert kind(404, "InvalidAccessKeyId.NotFound") == "auth" and kind(400, "SignatureDoesNotMatch") == "auth"
    assert kind(403, "Forbidden.RAM") == "auth"
    assert kind(404, "InvalidImageId.NotFound") == "bad-request" and kind(400, "InvalidParameter") == "bad-request"
    assert kind(404, "InvalidInstanceId.NotFound") == "not-found" and kind(404, "InvalidVpcId.NotFound") == "not-found"
    assert kind(403, "DependencyViolation") == "other" and kind(400, "Throttling.User") == "other"
    assert kind(503, "ServiceUnavailable") == "other"
    now = datetime(2026, 12, 4, 10, 0, 30, tzinfo=timezone.utc)
    assert release_time(now + timedelta(hours=2, seconds=17), now) == "2026-12-04T12:00:00Z"  # to the minute
    assert release_time(now + timedelta(minutes=5), now) == "2026-12-04T10:31:00Z"  # at least 30 minutes ahead


def test_alibaba_spot_is_spot_as_price_go_and_a_reclaimed_instance_is_gone(ecs):
    res = fleet.provision("al-spot", [_system("ali-s", count=1, spot=True)], PUB)
    assert res.created == ["ali-s-1"], res
    (i,) = ecs.live()
    assert i["SpotStrategy"] == "SpotAsPriceGo" and i["InstanceChargeType"] == "PostPaid"
    assert fleet.provider("alibaba").list([HZ], "al-spot")[0].spot
    ecs.reclaim(i["InstanceId"])  # ECS takes it back: released
    assert fleet.provider("alibaba").list([HZ], "al-spot") == []
    assert fleet.teardown("al-spot", _targets()).ok and ecs.nothing_left()


def test_auto_release_time_is_the_expiry_and_ecs_releases_the_instance_past_it(ecs):
    before = datetime.now(timezone.utc)
    fleet.provision("al-ttl", [_system("ali-t", count=1, hours=2)], PUB)
    (i,) = ecs.live()
    at = datetime.strptime(i["AutoReleaseTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert before + timedelta(minutes=119) <= at <= before + timedelta(hours=2)
    assert i["AutoReleaseTime"].endswith(":00Z")
    expires = datetime.strptime(i["_tags"]["benchfleet-expires"], "%Y%m%dt%H%Mz").replace(tzinfo=timezone.utc)
    assert at == expires  # the tag reap reads and the time ECS releases it at are the same minute
    minutes = int(ecs.user_data(i).rsplit("shutdown -h +", 1)[1].split()[0])
    assert 118 <= minutes <= 120
    p = fleet.provider("alibaba")
    ecs.advance(minutes=110)
    assert [x.host for x in p.list([HZ], "al-ttl")] == ["ali-t-1"]  # not yet
    ecs.advance(minutes=11)  # past its AutoReleaseTime: ECS released it, with no controller
    assert p.list([HZ], "al-ttl") == [] and ecs.released == [i["InstanceId"]]
    assert fleet.teardown("al-ttl", _targets()).ok and ecs.nothing_left()  # the VPC and the rest go at teardown


def test_alibaba_reap_deletes_what_a_killed_controller_left_by_tag_owner_and_grace(ecs, tmp_path):
    fleet.provision("al-left", [_system("ali-l", count=1)], PUB)
    fleet.provision("al-theirs", [_system("ali-t", (FR,), count=1)], PUB)
    for x in [*ecs.instances.values(), *ecs.groups.values(), *ecs.key_pairs.values()]:
        if x["_tags"].get("benchfleet-run") == "al-theirs":  # the second run is someone else's
            x["_tags"]["benchfleet-owner"] = OTHER
    for v in ecs.vpcs.values():
        if "al-theirs" in v["VpcName"]:
            v["Description"] = v["Description"].replace(owner(), OTHER)
    # no teardown: the controller died. Nothing is past its expiry, so a plain reap keeps both.
    assert fleet.reap(_targets()).deleted == []
    assert fleet.reap(_targets(), older_than_s=0).deleted == []  # launched just now: within the grace period
    dry = fleet.reap(_targets(), older_than_s=0, dry_run=True, grace_s=0)
    assert [d.split(" ")[0].split("/")[0] for d in dry.deleted] == [f"alibaba:{HZ}:instance"], dry.deleted
    assert len(ecs.live()) == 2
    # the CLI, with the AccessKey from the environment only, every region scanned
    done = subprocess.run([BENCHFLEET, "reap", "--provider", "alibaba", "--older-than", "0s", "--grace", "0s"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"deleted alibaba:{HZ}:vpc/benchfleet-al-left" in done.stdout, done.stdout
    assert [i["_tags"]["benchfleet-run"] for i in ecs.live()] == ["al-theirs"]  # only ours went
    assert [v["VpcName"] for v in ecs.vpcs.values()] == ["benchfleet-al-theirs"]
    assert {r for a, r, _ in ecs.log if a == "DescribeInstances"} == set(FakeEcs.REGIONS)
    # past its expiry tag (its AutoReleaseTime moved on by hand): only --all-owners deletes another owner's
    (i,) = ecs.live()
    i["_tags"]["benchfleet-expires"] = "20260101t0000z"
    assert fleet.reap(_targets(), grace_s=0).deleted == []
    rep = fleet.reap(_targets(), grace_s=0, all_owners=True)
    assert rep.ok and any("instance/" in d for d in rep.deleted), rep
    assert ecs.live() == []
    (v,) = ecs.vpcs.values()  # its VPC's expiry is not past: it stays until it is (or a teardown)
    v["Description"] = v["Description"].replace(i["_tags"]["benchfleet-run"] + " benchfleet-expires=",
                                                "al-theirs benchfleet-expires=20260101t0000z x=")
    rep = fleet.reap(_targets(), grace_s=0, all_owners=True)
    assert rep.deleted == [f"alibaba:{FR}:vpc/benchfleet-al-theirs", f"alibaba:{FR}:key-pair/benchfleet-al-theirs"]
    assert ecs.nothing_left()


def test_alibaba_preflight_counts_the_vcpu_quota_and_names_unknown_regions_types_and_images(ecs):
    p = fleet.provider("alibaba")
    assert p.regions() == [HZ, FR, SV]
    assert p.zones(HZ, "ecs.gn7i-c8g1.2xlarge") == ["cn-hangzhou-i"] and p.zones(SV, "ecs.gn7i-c8g1.2xlarge") == []
    assert p.offered("ecs.gn7i-c8g1.2xlarge") == {HZ: 8} and p.shape(G7) == (4, 16.0)
    assert p.preflight([SV], G7, 2) == []  # 8 vCPUs: exactly the quota
    assert p.preflight([SV], G7, 3) == [
        "alibaba: vCPU quota max-postpaid-instance-vcpu-count of us-west-1: 3 x 4 = 12 vCPUs asked, 8 of 8 left (0 "
        "used); ask for more in the Quota Center or use another region"]
    assert p.preflight([SV, FR], G7, 3) == []  # the next region holds it
    assert p.preflight([HZ], G7, 5, spot=True) == [
        "alibaba: vCPU quota max-spot-instance-vcpu-count of cn-hangzhou: 5 x 4 = 20 vCPUs asked, 16 of 16 left (0 "
        "used); ask for more in the Quota Center or use another region"]
    assert p.preflight([SV], "ecs.gn7i-c8g1.2xlarge", 1) == [
        "alibaba: instance type ecs.gn7i-c8g1.2xlarge (cloud.instance_type) is not available in any zone of us-west-1"]
    assert p.preflight([SV], "ecs.g9.xlarge", 1)[0].startswith("alibaba: instance type ecs.g9.xlarge (cloud."
                                                               "instance_type) is not one ECS knows")
    assert p.preflight(["us-west-2"], G7, 1) == [
        "alibaba: region 'us-west-2' (cloud.regions) is not one ECS offers this account (cn-hangzhou, "
        "eu-central-1, us-west-1); did you mean 'us-west-1'?"]
    assert "lists no available image" in p.preflight([HZ], G7, 1, image="centos_6_10_x64_20G_alibase.vhd")[0]
    assert p.resolve_image(HZ, "ubuntu-24.04") == "ubuntu_24_04_x64_20G_alibase_20241115.vhd"
    assert p.resolve_image(HZ, "aliyun_3_x64_20G_alibase_20241103.vhd") == "aliyun_3_x64_20G_alibase_20241103.vhd"
    # one vCPU quota for every type: the account's other systems of the region count, whatever their type
    from benchfleet.cloud.base import Demand

    gpu = Demand("ali-gpu", "ecs.gn7i-c8g1.2xlarge", 1)
    assert p.preflight([SV], G7, 1, system="ali-g7", others=[gpu]) == [
        "alibaba: vCPU quota max-postpaid-instance-vcpu-count of us-west-1: ali-g7 1 x 4 + ali-gpu 1 x 8 = 12 vCPUs "
        "asked, 8 of 8 left (0 used); ask for more in the Quota Center or use another region"]
    assert p.preflight([SV], G7, 1, system="ali-g7", others=[Demand("s", G7, 4, spot=True)]) == []  # spot's own
    # what is running counts: two 4-vCPU instances use Silicon Valley's 8
    fleet.provision("al-pq", [_system("ali-pq", (SV,))], PUB)
    assert "0 of 8 left (8 used)" in p.preflight([SV], G7, 1)[0]
    assert fleet.teardown("al-pq", _targets()).ok and ecs.nothing_left()


def _sweep_file(tmp_path: Path, cache_dir: Path, count: int = 2, **cloud) -> Path:
    f = tmp_path / "alibaba.yml"
    f.write_text(yaml.safe_dump({
        "submitter": "TestLab", "division": "open", "scenarios": ["SingleStream"], "model": "synthetic",
        "dataset": "synthetic", "synthetic_width": 2, "cache_dir": str(cache_dir), "defaults": {"threads": 1},
        "dataset_count": 64, "setup": "never",  # the instances are this machine, with this venv
        "systems": [{"name": "ali-g7", "cloud": {
            "provider": "alibaba", "regions": [SV], "instance_type": G7, "count": count, "ssh_user": "root",
            "ssh_cidr": "127.0.0.1/32",
            "vars": {"ansible_python_interpreter": sys.executable, "benchfleet_harness_python": sys.executable},
            **cloud}}]}))
    return f


def test_bad_alibaba_input_is_refused_before_anything_is_created_and_prices_say_their_source(ecs, tmp_path,
                                                                                               cache_dir):
    runs = tmp_path / "runs"
    cases = [
        ({"regions": ["Hangzhou"]}, "systems[0].cloud.regions[0]: 'Hangzhou' is not an Alibaba Cloud region id",
         "err"),
        ({"regions": ["CN-HANGZHOU"]}, "did you mean 'cn-hangzhou'?", "err"),
        ({"instance_type": "g7.xlarge"}, "systems[0].cloud.instance_type: 'g7.xlarge' is not an ECS instance type; "
                                         "give it as ECS names it, ecs.<family>.<size> (ecs.g7.xlarge, ecs.c7.large, "
                                         "ecs.gn7i-c8g1.2xlarge); did you mean 'ecs.g7.xlarge'?", "err"),
        ({"instance_type": "VM.Standard.E4.Flex:2:16"}, "is not an ECS instance type", "err"),
        ({"project": "my-project"}, "systems[0].cloud.project: a GCP, OVHcloud or OCI setting", "err"),
        ({"subscription": "0000"}, "systems[0].cloud.subscription: an Azure setting", "err"),
        ({"zones": ["eu-central-1a"]}, "systems[0].cloud.zones[0]: 'eu-central-1a' is not a zone of us-west-1",
         "err"),
        ({"regions": ["us-west-2"]}, "cloud check ali-g7 (alibaba ecs.g7.xlarge x 2 in us-west-2): alibaba: region "
                                     "'us-west-2' (cloud.regions) is not one ECS offers this account", "out"),
        ({"count": 3}, "alibaba: vCPU quota max-postpaid-instance-vcpu-count of us-west-1: 3 x 4 = 12 vCPUs asked, "
                       "8 of 8 left", "out"),
        ({"instance_type": "ecs.gn7i-c8g1.2xlarge"}, "is not available in any zone of us-west-1", "out"),
        ({"image": "centos_6_10_x64_20G_alibase.vhd"}, "(cloud.image): us-west-1 lists no available image", "out"),
    ]
    for extra, message, where in cases:
        out = subprocess.run([BENCHFLEET, "sweep", str(_sweep_file(tmp_path, cache_dir, **extra)), "--runs-dir",
                              str(runs)], capture_output=True, text=True)
        assert out.returncode == 2, (extra, out.stdout + out.stderr)
        assert message in (out.stderr if where == "err" else out.stdout), (extra, out.stdout + out.stderr)
        if where == "out":
            assert "the cloud checks above failed; nothing was created" in out.stderr
    assert not runs.exists() and ecs.nothing_left()
    assert {a for a, _r, _c in ecs.log} <= {"DescribeRegions", "DescribeInstanceTypes", "DescribeAvailableResource",
                                            "DescribeImages", "DescribeAccountAttributes", "DescribePrice"}
    # DescribePrice answers: the estimate uses it and says so
    today = datetime.now(timezone.utc).date().isoformat()
    chk = subprocess.run([BENCHFLEET, "sweep", str(_sweep_file(tmp_path, cache_dir)), "--check", "--runs-dir",
                          str(runs)], capture_output=True, text=True)
    assert chk.returncode == 0, chk.stdout + chk.stderr
    assert "cloud check ali-g7 (alibaba ecs.g7.xlarge x 2 in us-west-1): OK" in chk.stdout
    assert "ali-g7: 2 x 0.2316 USD/h" in chk.stdout and \
        f"(Alibaba Cloud ECS DescribePrice API, us-west-1, read {today})" in chk.stdout, chk.stdout
    assert prices.quote("alibaba", G7, True, region=SV)[0] == 0.0531  # spot: SpotAsPriceGo's price
    # no price from DescribePrice for the type, and none in the table (it ships no unverified figures): asked for
    assert "ecs.gn7i-c8g1.2xlarge" not in prices.PRICES["alibaba"] and not prices.PRICES["alibaba"]
    with pytest.raises(prices.PriceError, match="none from its price API .* set price_per_hour"):
        prices.quote("alibaba", "ecs.gn7i-c8g1.2xlarge", region=HZ)
    priced = subprocess.run([BENCHFLEET, "sweep", str(_sweep_file(tmp_path, cache_dir, price_per_hour=0.07)),
                             "--check", "--runs-dir", str(runs)], capture_output=True, text=True)
    assert priced.returncode == 0 and "ali-g7: 2 x 0.0700 USD/h" in priced.stdout, priced.stdout + priced.stderr
    assert ecs.nothing_left()


def test_wrong_access_key_is_refused_and_no_secret_is_shown(ecs, tmp_path, cache_dir, monkeypatch):
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "bf-wrong-secret-19d2")  # ECS: SignatureDoesNotMatch
    (why,) = fleet.provider("alibaba").preflight([SV], G7, 1)
    assert why.startswith("alibaba: 400 SignatureDoesNotMatch: ") and "ALIBABA_CLOUD_ACCESS_KEY_ID" in why, why
    assert "bf-wrong-secret-19d2" not in why
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAI5tSomeoneElse000000")
    out = subprocess.run([BENCHFLEET, "sweep", str(_sweep_file(tmp_path, cache_dir)), "--runs-dir",
                          str(tmp_path / "runs")], capture_output=True, text=True)
    assert out.returncode == 2 and "cloud check ali-g7 (alibaba ecs.g7.xlarge x 2 in us-west-1): alibaba: 404 " \
        "InvalidAccessKeyId.NotFound" in out.stdout, out.stdout + out.stderr
    assert "bf-wrong-secret-19d2" not in out.stdout + out.stderr and FakeEcs.SECRET not in out.stdout + out.stderr
    monkeypatch.delenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
    (why,) = fleet.provider("alibaba").preflight([SV], G7, 1)
    assert why.startswith("alibaba: NoCredentials: no Alibaba Cloud AccessKey") and "RAM user" in why, why
    none = subprocess.run([BENCHFLEET, "reap", "--provider", "alibaba"], capture_output=True, text=True, cwd=tmp_path)
    assert none.returncode == 2 and "alibaba: skipped, ALIBABA_CLOUD_ACCESS_KEY_ID and " \
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET are not both set" in none.stdout + none.stderr
    assert ecs.nothing_left() and "RunInstances" not in {a for a, _r, _c in ecs.log}


def test_a_group_or_vpc_named_after_the_run_but_not_as_benchfleet_made_it_is_refused(ecs):
    fleet.provision("al-own", [_system("ali-o", count=1)], PUB)
    (sg,) = ecs.groups.values()
    sg["_permissions"][0]["SourceCidrIp"] = "0.0.0.0/0"  # someone opened the run's group to the world
    again = fleet.provision("al-own", [_system("ali-o", count=2)], PUB)
    assert again.created == [] and "lets in tcp:22/22 from 0.0.0.0/0" in again.failed["ali-o-2"], again
    sg["_permissions"][0]["SourceCidrIp"] = CIDR
    (vpc,) = ecs.vpcs.values()
    vpc["Description"] = vpc["Description"].replace(owner(), OTHER)
    again = fleet.provision("al-own", [_system("ali-o", count=2)], PUB)
    assert f"is not this controller's (owner {OTHER}" in again.failed["ali-o-2"], again
    assert fleet.teardown("al-own", _targets()).ok  # not ours: the teardown leaves the VPC
    assert [v["VpcName"] for v in ecs.vpcs.values()] == ["benchfleet-al-own"] and ecs.live() == []


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
def ecs_hosts(ecs, tmp_path):
    sshd = Fleet.start(tmp_path / "fleet", 0)
    with AlibabaInstanceHosts(ecs, sshd) as hosts:
        yield ecs, hosts
    sshd.stop()
    assert not hosts.errors, hosts.errors


@root_only
def test_alibaba_sweep_benchmarks_over_ssh_and_tears_down_with_no_secret_in_the_run(ecs_hosts, cache_dir, tmp_path):
    ecs, hosts = ecs_hosts
    runs = tmp_path / "runs"
    proc = subprocess.Popen([BENCHFLEET, "sweep", str(_sweep_file(tmp_path, cache_dir)), "--runs-dir", str(runs)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    _wait(lambda: len(hosts.up) == 2, 120, "two instances", proc)
    run_dir = next(runs.iterdir())
    insts = {i["_tags"]["benchfleet-host"]: i for i in ecs.live()}
    assert sorted(insts) == ["ali-g7-1", "ali-g7-2"]
    assert all(i["_tags"]["benchfleet-run"] == run_dir.name and i["AutoReleaseTime"] for i in insts.values())
    assert {kp["_public_key"] for kp in ecs.key_pairs.values()} == {
        (run_dir / "ssh" / "id_ed25519.pub").read_text().strip()}
    private_key = (run_dir / "ssh" / "id_ed25519").read_text()
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    assert "teardown: confirmed by listing: nothing of this run is left" in out
    assert ecs.nothing_left() and not hosts.up
    report = check_tree(run_dir / "submission", "v3.1", accuracy_logs=run_dir / "cells", allow_quick=True)
    assert report.ok, [str(e) for e in report.errors]
    summary = json.loads((run_dir / "results.json").read_text())
    assert summary["cells"]["done"] == 2
    cost = summary["cloud_cost"]  # priced from DescribePrice
    assert len(cost["instances"]) == 2 and all(i["deleted_at"] and i["usd_per_hour"] == 0.2316
                                               for i in cost["instances"])
    records = {json.loads(p.read_text())["instance"] for p in run_dir.glob("cells/*/cell.json")}
    assert records == set(i["InstanceId"] for i in insts.values())  # each cell names the instance it ran on
    secrets = [FakeEcs.SECRET, "".join(private_key.strip().splitlines()[1:-1])[:60]]
    for p in run_dir.rglob("*"):
        if p.is_file():
            text = p.read_bytes().decode(errors="replace")
            for s in secrets:
                assert s not in text, f"a secret is in {p}"
    assert FakeEcs.SECRET not in out


@root_only
def test_alibaba_controller_killed_then_reap_deletes_what_it_left(ecs_hosts, cache_dir, tmp_path):
    ecs, hosts = ecs_hosts
    runs = tmp_path / "runs"
    proc = subprocess.Popen([BENCHFLEET, "sweep", str(_sweep_file(tmp_path, cache_dir, price_per_hour=0.07)),
                             "--runs-dir", str(runs)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    _wait(lambda: len(hosts.up) == 2, 120, "two instances", proc)
    run = next(runs.iterdir()).name
    os.killpg(proc.pid, signal.SIGKILL)  # the controller dies with everything it started
    proc.wait()
    assert len(ecs.live()) == 2 and len(ecs.vpcs) == 1
    reap = [BENCHFLEET, "reap", "--provider", "alibaba", "--region", f"{HZ},{SV}"]
    dry = subprocess.run([*reap, "--older-than", "0s", "--dry-run"], capture_output=True, text=True, cwd=tmp_path)
    assert "reap: 0 resource(s) would delete" in dry.stdout, dry.stdout  # within the grace period
    done = subprocess.run([*reap, "--older-than", "0s", "--grace", "0s"], capture_output=True, text=True,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(f"run {run})") == 2 and f"deleted alibaba:{SV}:vpc/benchfleet-{run}" in done.stdout
    assert ecs.nothing_left()
    _wait(lambda: not hosts.up, 30, "the instances' hosts to go")
