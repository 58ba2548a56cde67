"""Owner-scoped clouds (issue 12): runs of different users of one controller or one account never reuse,
adopt or reap each other's resources; SSH ingress is never world-open by accident; the ledger survives a
torn line; AWS boots from the image's own root device, encrypted. Against moto's server (AWS) and the
REST fakes of tests/cloudfakes.py (Azure, GCP), with the real SDK clients."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from benchfleet.cli import main
from benchfleet.cloud import fleet
from benchfleet.cloud.aws import AwsProvider
from benchfleet.cloud.base import EXPIRES_FORMAT, LaunchRequest, owner, tags
from benchfleet.sweep import cloud as sweep_cloud
from benchfleet.sweep.plan import expand
from benchfleet.sweep.rundir import RunDir
from benchfleet.sweep.schema import parse
from tests.cloudfakes import FakeAzure, FakeGcp
from tests.cloudhosts import ec2, moto_ec2, tagged_instances

BENCHFLEET = str(Path(sys.executable).parent / "benchfleet")
CIDR = "198.51.100.7/32"
OTHER = "mallory-at-elsewhere"


@pytest.fixture()
def aws():
    with moto_ec2() as env:
        yield env


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("keys")
    out = {}
    for name in ("ours", "theirs"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)], check=True)
        out[name] = (d / f"{name}.pub").read_text().strip()
    return out


def _system(provider: str = "aws", name: str = "aws-m5", count: int = 1, **kw) -> fleet.SystemRequest:
    defaults = {"aws": ("us-east-1", "m5.large", "ami-785db401"),
                "azure": ("eastus", "Standard_D2s_v5", "ubuntu-22.04"),
                "gcp": ("us-central1", "n2-standard-4", "ubuntu-22.04")}[provider]
    return fleet.SystemRequest(**{"name": name, "provider": provider, "regions": [defaults[0]], "zones": [],
                                  "instance_type": defaults[1], "image": defaults[2], "ssh_cidr": CIDR,
                                  "hosts": [f"{name}-{i + 1}" for i in range(count)], "ssh_user": "bench", **kw})


def _foreign_tags(run: str, who: str = OTHER, hours: float = 4, **extra) -> list[dict]:
    exp = (datetime.now(timezone.utc) + timedelta(hours=hours)).strftime(EXPIRES_FORMAT)
    t = {"benchfleet-run": run, "benchfleet-expires": exp, "benchfleet-owner": who, **extra}
    return [{"Key": k, "Value": v} for k, v in t.items()]


def _launch(run: str, tag_list: list[dict]) -> str:
    i = ec2().run_instances(ImageId="ami-785db401", InstanceType="m5.large", MinCount=1, MaxCount=1,
                            TagSpecifications=[{"ResourceType": "instance", "Tags": tag_list}])["Instances"][0]
    return i["InstanceId"]


def _alive(ids: list[str]) -> set[str]:
    got = ec2().describe_instances(InstanceIds=ids)["Reservations"]
    return {i["InstanceId"] for r in got for i in r["Instances"] if i["State"]["Name"] not in
            ("shutting-down", "terminated")}


# -- reuse: security groups and key pairs named after the run ------------------------------------------------

def test_a_security_group_named_after_the_run_but_not_ours_or_world_open_is_refused(aws, keys):
    c = ec2()
    sg = c.create_security_group(GroupName="benchfleet-sg-theirs", Description="someone else's",
                                 TagSpecifications=[{"ResourceType": "security-group",
                                                     "Tags": _foreign_tags("sg-theirs")}])["GroupId"]
    c.authorize_security_group_ingress(GroupId=sg, IpPermissions=[{
        "IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    res = fleet.provision("sg-theirs", [_system()], keys["ours"])
    assert res.instances == [] and res.created == [], res
    why = res.failed["aws-m5-1"]
    assert "security group benchfleet-sg-theirs" in why and OTHER in why, why
    assert tagged_instances() == [] and c.describe_key_pairs()["KeyPairs"] == []  # nothing created

    # Ours by its tags, but someone opened it to the world: refused rule by rule.
    res = fleet.provision("sg-ours", [_system()], keys["ours"])
    assert res.created == ["aws-m5-1"], res
    (mine,) = c.describe_security_groups(GroupNames=["benchfleet-sg-ours"])["SecurityGroups"]
    c.authorize_security_group_ingress(GroupId=mine["GroupId"], IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    res = fleet.provision("sg-ours", [_system(count=2)], keys["ours"])
    assert res.created == [] and "0.0.0.0/0" in res.failed["aws-m5-2"], res
    # an untouched group of ours is reused as it is
    req = _request("sg-reuse", keys["ours"])
    AwsProvider().prepare("sg-reuse", "us-east-1", req)
    AwsProvider().prepare("sg-reuse", "us-east-1", req)
    assert len(c.describe_security_groups(GroupNames=["benchfleet-sg-reuse"])["SecurityGroups"]) == 1


def _request(run: str, public_key: str, cidr: str = CIDR) -> LaunchRequest:
    t, exp = tags(run, 2, "h-1", "aws-m5")
    return LaunchRequest(run, "h-1", "aws-m5", "us-east-1", "us-east-1a", "m5.large", "ami-785db401", 20, False,
                         "bench", public_key, cidr, t, exp)


def test_a_key_pair_named_after_the_run_with_another_key_is_refused(aws, keys):
    c = ec2()
    c.import_key_pair(KeyName="benchfleet-kp-theirs", PublicKeyMaterial=keys["theirs"].encode(),
                      TagSpecifications=[{"ResourceType": "key-pair", "Tags": _foreign_tags("kp-theirs", owner())}])
    res = fleet.provision("kp-theirs", [_system()], keys["ours"])
    assert res.instances == [], res
    why = res.failed["aws-m5-1"]
    assert "key pair benchfleet-kp-theirs" in why and "fingerprint" in why, why
    assert tagged_instances() == [] and c.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["benchfleet-kp-theirs"]}])["SecurityGroups"] == []
    # the run's own key pair is reused
    AwsProvider().prepare("kp-ours", "us-east-1", _request("kp-ours", keys["ours"]))
    AwsProvider().prepare("kp-ours", "us-east-1", _request("kp-ours", keys["ours"]))


def test_an_instance_a_third_party_tagged_with_the_run_is_not_adopted(aws, keys):
    theirs = _launch("adopt", _foreign_tags("adopt", **{"benchfleet-host": "aws-m5-1",
                                                         "benchfleet-system": "aws-m5"}))
    hand = _launch("adopt", [{"Key": "benchfleet-run", "Value": "adopt"},
                             {"Key": "benchfleet-host", "Value": "aws-m5-2"}])
    res = fleet.provision("adopt", [_system(count=2)], keys["ours"])
    got = {i.id for i in res.instances}
    assert theirs not in got and hand not in got, res
    assert set(res.failed) == {"aws-m5-1", "aws-m5-2"}
    assert "not adopted" in res.failed["aws-m5-1"] and OTHER in res.failed["aws-m5-1"], res.failed
    assert _alive([theirs, hand]) == {theirs, hand}  # and left alone


# -- reap ----------------------------------------------------------------------------------------------------

def test_reap_touches_only_this_owners_instances_and_never_hand_tagged_ones(aws, keys):
    mine_expired = _launch("r-mine", _foreign_tags("r-mine", owner(), hours=-1, **{"benchfleet-host": "h"}))
    theirs_expired = _launch("r-theirs", _foreign_tags("r-theirs", hours=-1, **{"benchfleet-host": "h"}))
    theirs_live = _launch("r-live", _foreign_tags("r-live", hours=4, **{"benchfleet-host": "h"}))
    hand = _launch("r-hand", [{"Key": "benchfleet-run", "Value": "r-hand"}])
    targets = [(fleet.provider("aws"), ["us-east-1"])]
    rep = fleet.reap(targets, older_than_s=0, grace_s=0)
    assert rep.ok, rep
    assert _alive([mine_expired, theirs_expired, theirs_live, hand]) == {theirs_expired, theirs_live, hand}
    # --all-owners: every owner's benchfleet instances; an instance benchfleet did not tag is never one of them
    rep = fleet.reap(targets, grace_s=0, all_owners=True)
    assert _alive([theirs_expired, theirs_live, hand]) == {theirs_live, hand}, rep  # not before its expiry
    rep = fleet.reap(targets, older_than_s=0, grace_s=0, all_owners=True)
    assert _alive([theirs_live, hand]) == {hand}, rep


def test_reap_leaves_a_run_that_is_still_provisioning(aws, keys):
    # prepare ran (key pair and security group exist) and the first instance was just launched
    AwsProvider().prepare("busy", "us-east-1", _request("busy", keys["ours"]))
    (inst,) = fleet.provision("busy", [_system()], keys["ours"]).instances
    AwsProvider().prepare("busy2", "us-east-1", _request("busy2", keys["ours"]))  # no instance yet
    targets = [(fleet.provider("aws"), ["us-east-1"])]
    rep = fleet.reap(targets, older_than_s=0)  # the default grace period
    assert rep.ok and rep.deleted == [], rep
    assert _alive([inst.id]) == {inst.id}
    names = {g["GroupName"] for g in ec2().describe_security_groups()["SecurityGroups"]}
    assert {"benchfleet-busy", "benchfleet-busy2"} <= names
    assert {k["KeyName"] for k in ec2().describe_key_pairs()["KeyPairs"]} == {"benchfleet-busy", "benchfleet-busy2"}
    # past the grace period it goes, with the security group and key pair of both runs
    rep = fleet.reap(targets, older_than_s=0, grace_s=0, poll_s=0.2)
    assert rep.ok and _alive([inst.id]) == set(), rep
    assert "aws:us-east-1:security-group/benchfleet-busy2" in rep.deleted
    assert ec2().describe_key_pairs()["KeyPairs"] == []


def test_reap_cli_is_owner_scoped_and_has_a_grace_period(aws, keys, tmp_path):
    theirs = _launch("cli-theirs", _foreign_tags("cli-theirs", hours=-1, **{"benchfleet-host": "h"}))
    mine = _launch("cli-mine", _foreign_tags("cli-mine", owner(), hours=-1, **{"benchfleet-host": "h"}))
    reap = [BENCHFLEET, "reap", "--provider", "aws", "--region", "us-east-1"]
    out = subprocess.run([*reap, "--older-than", "0s"], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0 and "reap: 0 resource(s) deleted" in out.stdout, out.stdout + out.stderr  # grace
    out = subprocess.run([*reap, "--older-than", "0s", "--grace", "0s"], capture_output=True, text=True,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert _alive([theirs, mine]) == {theirs}


# -- SSH ingress ---------------------------------------------------------------------------------------------

def _cloud_sweep(tmp_path: Path, **cloud) -> Path:
    f = tmp_path / "clouds.yml"
    f.write_text(yaml.safe_dump({
        "submitter": "TestLab", "division": "open", "scenarios": ["SingleStream"], "model": "synthetic",
        "dataset": "synthetic", "systems": [{"name": "aws-m5", "cloud": {
            "provider": "aws", "regions": ["us-east-1"], "instance_type": "m5.large", "image": "ami-785db401",
            "ssh_user": "root", **cloud}}]}))
    return f


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "::/0", "10.0.0.0/6"])
def test_world_open_ssh_needs_allow_world_ssh(tmp_path, capsys, cidr):
    f = _cloud_sweep(tmp_path, ssh_cidr=cidr)
    inv = tmp_path / "inv.yml"
    inv.write_text("all: {}\n")
    runs = tmp_path / "runs"
    assert main(["sweep", str(f), "--inventory", str(inv), "--runs-dir", str(runs)]) == 2
    err = capsys.readouterr().err
    assert "systems (aws-m5).cloud.ssh_cidr" in err and "--allow-world-ssh" in err, err
    assert not runs.exists()
    plan = expand(parse(yaml.safe_load(f.read_text())), inv, "world")
    with pytest.raises(ValueError, match="--allow-world-ssh"):
        sweep_cloud.resolve_cidrs(plan)
    allowed = sweep_cloud.resolve_cidrs(plan, allow_world_ssh=True)
    assert allowed == {"aws-m5": str(ipaddress.ip_network(cidr, strict=False))}
    assert "WARNING" in capsys.readouterr().err
    # the module's own check: a world-open range reaches provision only with allow_world_ssh
    res = fleet.provision("world", [_system(ssh_cidr=cidr)], "ssh-ed25519 AAAA x")
    assert "--allow-world-ssh" in res.failed["aws-m5-1"] and not res.attempts


def test_auto_with_private_addresses_uses_the_controllers_private_address(tmp_path):
    f = _cloud_sweep(tmp_path, ssh_cidr="auto", address="private")
    inv = tmp_path / "inv.yml"
    inv.write_text("all: {}\n")
    plan = expand(parse(yaml.safe_load(f.read_text())), inv, "priv")
    (cidr,) = sweep_cloud.resolve_cidrs(plan).values()
    net = ipaddress.ip_network(cidr)
    assert net.prefixlen == net.max_prefixlen and net.network_address.is_private, cidr
    local = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
    assert f" {net.network_address}/" in local, (cidr, local)  # one of this controller's own addresses


# -- run id, ledger, disks -----------------------------------------------------------------------------------

def test_two_users_of_one_sweep_file_get_different_run_ids(tmp_path):
    inv = tmp_path / "inv.yml"
    inv.write_text(yaml.safe_dump({"all": {"hosts": {"n1": {}}}}))
    f = tmp_path / "lab.yml"
    f.write_text(yaml.safe_dump({"submitter": "TestLab", "division": "open", "scenarios": ["SingleStream"],
                                 "model": "synthetic", "dataset": "synthetic",
                                 "systems": [{"name": "lab", "hosts": ["n1"]}]}))

    def run_id(user: str) -> str:
        env = {"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin", "USER": user, "LOGNAME": user,
               "HOME": str(tmp_path)}
        out = subprocess.run([BENCHFLEET, "sweep", str(f), "--inventory", str(inv), "--check", "--runs-dir",
                              str(tmp_path / "runs")], capture_output=True, text=True, env=env)
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout.split("Plan for run ", 1)[1].split(" ", 1)[0]

    alice, bob = run_id("alice"), run_id("bob")
    assert alice != bob and alice.startswith("lab-") and bob.startswith("lab-")
    assert run_id("alice") == alice  # the same user, the same sweep: the same run (resumable)


def test_a_torn_last_ledger_line_is_skipped_and_later_appends_start_a_new_line(tmp_path, capsys):
    rd = RunDir(tmp_path / "run")
    ledger = sweep_cloud.ledger(rd)
    ledger.parent.mkdir(parents=True)
    good = {"event": "created", "at": "2026-12-01T10:00:00Z", "id": "i-1", "host": "h-1", "provider": "aws",
            "instance_type": "m5.large"}
    ledger.write_text(json.dumps(good) + "\n" + '{"event": "created", "at": "2026-12-01T10:0')  # killed mid-write
    assert sweep_cloud.vanished_hosts(rd) == {"h-1"}
    assert "ledger.jsonl line 2" in capsys.readouterr().err
    inst = fleet.Instance("aws", "i-2", "h-2", "s", "r", "us-east-1", "us-east-1a", "m5.large", "running")
    fleet.record(ledger, "created", inst)
    lines = ledger.read_text().splitlines()
    assert json.loads(lines[-1])["id"] == "i-2" and len(lines) == 3
    assert sweep_cloud.vanished_hosts(rd) == {"h-1", "h-2"}
    assert [e["id"] for e in fleet.read_ledger(ledger)] == ["i-1", "i-2"]


def test_aws_boots_from_the_images_root_device_encrypted(aws, keys):
    res = fleet.provision("disks", [_system(image="ami-760aaa0f", disk_gb=30)], keys["ours"])  # root: /dev/xvda
    (inst,) = res.instances
    (d,) = ec2().describe_instances(InstanceIds=[inst.id])["Reservations"][0]["Instances"]
    (bdm,) = d["BlockDeviceMappings"]
    assert bdm["DeviceName"] == "/dev/xvda"
    (vol,) = ec2().describe_volumes(VolumeIds=[bdm["Ebs"]["VolumeId"]])["Volumes"]
    assert vol["Encrypted"] is True and vol["Size"] == 30


# -- Azure and GCP -------------------------------------------------------------------------------------------

@pytest.fixture()
def azure(tmp_path, monkeypatch):
    f = FakeAzure(tmp_path / "azure")
    for k, v in f.env().items():
        monkeypatch.setenv(k, v) if v else monkeypatch.delenv(k, raising=False)
    yield f
    f.stop()


@pytest.fixture()
def gcp(tmp_path, monkeypatch):
    f = FakeGcp(tmp_path / "gcp")
    for k, v in f.env().items():
        monkeypatch.setenv(k, v)
    yield f
    f.stop()


def _retag(res: dict, who: str) -> None:
    key = "labels" if "labels" in res else "tags"
    res[key] = {**res[key], "benchfleet-owner": who}


def test_azure_is_owner_scoped_and_encrypts_at_host(azure, keys):
    res = fleet.provision("az-own", [_system("azure", "az-d2")], keys["ours"])
    assert res.created == ["az-d2-1"], res
    vm = next(r for k, r in azure.resources.items() if k.endswith("/virtualmachines/az-d2-1"))
    assert vm["properties"]["securityProfile"]["encryptionAtHost"] is True
    for r in azure.resources.values():  # the run is someone else's now
        if "tags" in r:
            _retag(r, OTHER)
    targets = [(fleet.provider("azure"), [])]
    assert fleet.reap(targets, older_than_s=0, grace_s=0).deleted == []
    again = fleet.provision("az-own", [_system("azure", "az-d2", count=2)], keys["ours"])
    assert again.created == [] and all(OTHER in why for why in again.failed.values()), again
    rep = fleet.reap(targets, older_than_s=0, grace_s=0, all_owners=True)
    assert rep.ok and "azure:eastus:resource-group/benchfleet-az-own" in rep.deleted, rep


def test_gcp_is_owner_scoped_and_refuses_a_world_open_firewall(gcp, keys):
    res = fleet.provision("gc-own", [_system("gcp", "gcp-n2")], keys["ours"])
    assert res.created == ["gcp-n2-1"], res
    for i in gcp.instances.values():
        _retag(i, OTHER)
    targets = [(fleet.provider("gcp"), [])]
    assert fleet.reap(targets, older_than_s=0, grace_s=0).deleted == []
    # someone made the run's firewall rule world-open: the next prepare refuses it
    (fw,) = gcp.firewalls.values()
    fw["sourceRanges"] = ["0.0.0.0/0"]
    again = fleet.provision("gc-own", [_system("gcp", "gcp-n2", count=2)], keys["ours"])
    assert again.created == [] and "not adopted" in again.failed["gcp-n2-1"], again
    assert "0.0.0.0/0" in again.failed["gcp-n2-2"] and "firewall" in again.failed["gcp-n2-2"], again
