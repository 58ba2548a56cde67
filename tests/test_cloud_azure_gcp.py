"""Azure and GCP: the real SDK clients and credential chains against local HTTPS servers that speak the REST
calls used (tests/cloudfakes.py). Create, list, poll and delete; quota and capacity errors from the server
drive the failover; what a dead controller leaves behind is found and deleted by reap."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from benchfleet.cloud import fleet
from benchfleet.runner import ansible_env
from tests.cloudfakes import FakeAzure, FakeGcp

BENCHFLEET = str(Path(sys.executable).parent / "benchfleet")
PUB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBenchfleetTestKeyOnlyForTheFakes0000000000 test"


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


def _system(provider: str, name: str, regions: list[str], itype: str, count: int = 2, **kw):
    return fleet.SystemRequest(name=name, provider=provider, regions=regions, zones=kw.pop("zones", []),
                               instance_type=itype, image="ubuntu-22.04", ssh_cidr="198.51.100.7/32",
                               hosts=[f"{name}-{i + 1}" for i in range(count)], ssh_user="bench", **kw)


def _targets(provider: str):
    return [(fleet.provider(provider), [])]


def test_azure_create_list_poll_delete(azure):
    res = fleet.provision("az-run", [_system("azure", "az-d4", ["eastus"], "Standard_D4s_v5", spot=True)], PUB)
    assert res.created == ["az-d4-1", "az-d4-2"] and not res.failed
    rg = azure.resources[f"/subscriptions/{azure.subscription}/resourcegroups/benchfleet-az-run"]
    assert set(rg["tags"]) == {"benchfleet-run", "benchfleet-expires", "benchfleet-owner", "benchfleet-heartbeat"}
    vm = next(r for k, r in azure.resources.items() if k.endswith("/virtualmachines/az-d4-1"))
    p = vm["properties"]
    assert p["priority"] == "Spot" and p["evictionPolicy"] == "Delete"
    assert p["osProfile"]["linuxConfiguration"]["ssh"]["publicKeys"][0]["keyData"] == PUB
    assert "shutdown -P" in __import__("base64").b64decode(p["osProfile"]["customData"]).decode()
    nsg = next(r for k, r in azure.resources.items() if "/networksecuritygroups/" in k)
    assert nsg["properties"]["securityRules"][0]["properties"]["sourceAddressPrefix"] == "198.51.100.7/32"
    # long-running operations were followed: each PUT's async operation was polled to Succeeded
    assert sum(1 for m, path, _ in azure.log if m == "GET" and "/operations/" in path) >= 8
    listed = fleet.provider("azure").list([], "az-run")
    assert sorted(i.host for i in listed) == ["az-d4-1", "az-d4-2"] and all(i.public_ip and i.spot for i in listed)
    again = fleet.provision("az-run", [_system("azure", "az-d4", ["eastus"], "Standard_D4s_v5", spot=True)], PUB)
    assert again.created == []  # idempotent: both hosts already have their VM
    rep = fleet.teardown("az-run", _targets("azure"))
    assert rep.ok and "azure:eastus:resource-group/benchfleet-az-run" in rep.deleted
    assert azure.resources == {}  # the group's delete took the NICs, IPs, NSG, network and disks with it


def test_azure_failover_capacity_zone_then_quota_region_then_auth_stops(azure):
    azure.rules += [
        {"method": "PUT", "path": "virtualMachines/az-f-1$", "body": '"zones": ["1"]', "status": 409,
         "code": "ZonalAllocationFailed"},
        {"method": "PUT", "path": "virtualMachines/az-f-2$", "body": '"location": "eastus"', "status": 409,
         "code": "QuotaExceeded"},
    ]
    system = _system("azure", "az-f", ["eastus", "westus2"], "Standard_D4s_v5", count=2, zones=["1", "2"])
    res = fleet.provision("az-fail", [system], PUB)
    got = [(a.host, a.region, a.zone, a.outcome) for a in res.attempts]
    assert got == [("az-f-1", "eastus", "1", "capacity"), ("az-f-1", "eastus", "2", "created"),
                   ("az-f-2", "eastus", "2", "quota"), ("az-f-2", "westus2", "1", "created")], got
    assert fleet.teardown("az-fail", _targets("azure")).ok and azure.resources == {}
    azure.rules = [{"method": "PUT", "path": "virtualMachines/", "status": 403, "code": "AuthorizationFailed"}]
    res = fleet.provision("az-auth", [_system("azure", "az-a", ["eastus", "westus2"], "Standard_D4s_v5")], PUB)
    assert [a.outcome for a in res.attempts] == ["auth"]  # one try, then this cloud stops
    assert set(res.failed) == {"az-a-1", "az-a-2"} and "azure stopped" in res.failed["az-a-2"]
    assert fleet.teardown("az-auth", _targets("azure")).ok and azure.resources == {}


def test_azure_reap_finds_what_a_dead_controller_left(azure):
    fleet.provision("az-left", [_system("azure", "az-l", ["eastus"], "Standard_D2s_v5", count=1)], PUB)
    # no teardown: the controller died. Nothing is past its expiry yet, so a plain reap keeps it.
    assert fleet.reap(_targets("azure")).deleted == []
    # launched just now: within the grace period (its controller may still be provisioning) it stays
    assert fleet.reap(_targets("azure"), older_than_s=0).deleted == []
    dry = fleet.reap(_targets("azure"), older_than_s=0, dry_run=True, grace_s=0)
    assert any("instance/az-l-1" in d for d in dry.deleted) and azure.groups() == ["benchfleet-az-left"]
    rep = fleet.reap(_targets("azure"), older_than_s=0, grace_s=0)
    assert rep.ok and "azure:eastus:resource-group/benchfleet-az-left" in rep.deleted
    assert azure.resources == {}


def test_gcp_create_list_poll_delete(gcp):
    res = fleet.provision("gc-run", [_system("gcp", "gcp-n2", ["us-central1"], "n2-standard-4", spot=True)], PUB)
    assert res.created == ["gcp-n2-1", "gcp-n2-2"] and not res.failed
    inst = next(iter(gcp.instances.values()))
    assert set(inst["labels"]) >= {"benchfleet-run", "benchfleet-expires", "benchfleet-owner"}
    assert inst["scheduling"]["instanceTerminationAction"] == "DELETE"  # deletes itself at its expiry
    assert int(inst["scheduling"]["maxRunDuration"]["seconds"]) > 0
    assert inst["scheduling"]["provisioningModel"] == "SPOT"
    assert {"key": "ssh-keys", "value": f"bench:{PUB}"} in inst["metadata"]["items"]
    (fw,) = gcp.firewalls.values()
    assert fw["sourceRanges"] == ["198.51.100.7/32"] and fw["targetTags"] == ["benchfleet-gc-run"]
    # operations were polled: each insert's operation was fetched while RUNNING, then DONE
    assert sum(1 for m, path, _ in gcp.log if m == "GET" and "/operations/" in path) >= 3
    listed = fleet.provider("gcp").list([], "gc-run")
    assert sorted(i.host for i in listed) == ["gcp-n2-1", "gcp-n2-2"] and all(i.public_ip for i in listed)
    assert fleet.provision("gc-run", [_system("gcp", "gcp-n2", ["us-central1"], "n2-standard-4")], PUB).created == []
    rep = fleet.teardown("gc-run", _targets("gcp"))
    assert rep.ok and "gcp:global:firewall/benchfleet-gc-run-ssh" in rep.deleted
    assert gcp.instances == {} and gcp.firewalls == {}


def test_gcp_failover_capacity_zone_then_quota_region_then_global_quota_stops(gcp):
    gcp.rules += [
        {"method": "POST", "path": "us-central1-a/instances$", "status": 503, "code": "ZONE_RESOURCE_POOL_EXHAUSTED"},
        {"method": "POST", "path": "us-central1-./instances$", "body": "gcp-f-2", "status": 403,
         "code": "QUOTA_EXCEEDED", "message": "Quota 'CPUS' exceeded. Limit: 8.0 in region us-central1."},
    ]
    res = fleet.provision("gc-fail", [_system("gcp", "gcp-f", ["us-central1", "europe-west4"], "n2-standard-4")], PUB)
    got = [(a.host, a.zone, a.outcome) for a in res.attempts]
    assert got == [("gcp-f-1", "us-central1-a", "capacity"), ("gcp-f-1", "us-central1-b", "created"),
                   ("gcp-f-2", "us-central1-b", "quota"), ("gcp-f-2", "europe-west4-a", "created")], got
    assert fleet.teardown("gc-fail", _targets("gcp")).ok and gcp.instances == {}
    gcp.rules = [{"method": "POST", "path": "/instances$", "status": 403, "code": "QUOTA_EXCEEDED",
                  "message": "Quota 'CPUS_ALL_REGIONS' exceeded. Limit: 32.0 globally."}]
    res = fleet.provision("gc-glob", [_system("gcp", "gcp-g", ["us-central1", "europe-west4"], "n2-standard-4")], PUB)
    assert [a.outcome for a in res.attempts] == ["quota-global"] and "gcp stopped" in res.failed["gcp-g-2"]
    assert fleet.teardown("gc-glob", _targets("gcp")).ok and gcp.firewalls == {}


def test_gcp_reap_finds_what_a_dead_controller_left(gcp):
    fleet.provision("gc-left", [_system("gcp", "gcp-l", ["us-central1"], "e2-standard-2", count=1)], PUB)
    assert fleet.reap(_targets("gcp")).deleted == []
    rep = fleet.reap(_targets("gcp"), older_than_s=0, grace_s=0)
    assert rep.ok and gcp.instances == {} and gcp.firewalls == {}
    assert "gcp:global:firewall/benchfleet-gc-left-ssh" in rep.deleted


def test_inventory_plugin_lists_a_run_across_clouds(azure, gcp, tmp_path):
    fleet.provision("multi", [_system("azure", "az-m", ["eastus"], "Standard_D2s_v5", count=1),
                              _system("gcp", "gcp-m", ["us-central1"], "e2-standard-2", count=2)], PUB)
    cfg = tmp_path / "multi.benchfleet_cloud.yml"
    cfg.write_text(yaml.safe_dump({
        "plugin": "benchfleet.mlperf.benchfleet_cloud", "run": "multi", "private_key_file": "/keys/multi",
        "systems": [{"name": "az-m", "provider": "azure", "regions": ["eastus"], "ssh_user": "azureuser"},
                    {"name": "gcp-m", "provider": "gcp", "regions": ["us-central1"], "address": "private",
                     "vars": {"benchfleet_harness_python": "/opt/venv/bin/python"}}],
        "keyed_groups": [{"key": "benchfleet_instance.region", "prefix": "region"}]}))
    out = subprocess.run([str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(cfg), "--list"],
                         capture_output=True, text=True, env={**os.environ, **ansible_env(tmp_path / "private")})
    assert out.returncode == 0, out.stderr
    inv = json.loads(out.stdout, object_hook=lambda d: d.get("__ansible_unsafe", d))
    hv = inv["_meta"]["hostvars"]
    assert sorted(hv) == ["az-m-1", "gcp-m-1", "gcp-m-2"]
    assert sorted(inv["benchfleet_cloud"]["children"]) == ["az_m", "gcp_m"]
    assert inv["provider_gcp"]["hosts"] == ["gcp-m-1", "gcp-m-2"] and inv["region_eastus"]["hosts"] == ["az-m-1"]
    assert hv["az-m-1"]["ansible_host"].startswith("20.") and hv["az-m-1"]["ansible_user"] == "azureuser"
    assert hv["gcp-m-1"]["ansible_host"].startswith("10.128.")  # address: private
    assert hv["gcp-m-2"]["benchfleet_harness_python"] == "/opt/venv/bin/python"
    assert hv["gcp-m-1"]["ansible_ssh_private_key_file"] == "/keys/multi"
    for p in ("azure", "gcp"):
        assert fleet.teardown("multi", _targets(p)).ok
    assert azure.resources == {} and gcp.instances == {}


def test_check_creates_nothing_on_any_cloud(azure, gcp, tmp_path):
    from tests.cloudhosts import ec2, moto_ec2, tagged_instances

    sweep = tmp_path / "clouds.yml"
    sweep.write_text(yaml.safe_dump({"submitter": "TestLab", "systems": [
        {"name": "aws-c", "cloud": {"provider": "aws", "regions": ["us-east-1"], "instance_type": "m5.large",
                                    "image": "ami-785db401", "count": 2}},
        {"name": "az-c", "cloud": {"provider": "azure", "regions": ["eastus"], "instance_type": "Standard_D4s_v5"}},
        {"name": "gcp-c", "cloud": {"provider": "gcp", "regions": ["us-central1"], "instance_type": "n2-standard-4",
                                    "spot": True}}]}))
    with moto_ec2():
        groups = ec2().describe_security_groups()["SecurityGroups"]
        out = subprocess.run([BENCHFLEET, "sweep", str(sweep), "--check", "--runs-dir", str(tmp_path / "runs")],
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr
        assert tagged_instances() == [] and ec2().describe_security_groups()["SecurityGroups"] == groups
        assert ec2().describe_key_pairs()["KeyPairs"] == []
    for system in ("aws-c (aws m5.large x 2", "az-c (azure Standard_D4s_v5 x 1", "gcp-c (gcp n2-standard-4 x 1"):
        assert f"cloud check {system}" in out.stdout and "): OK" in out.stdout
    assert "gcp-c: 1 x 0.0470 USD/h" in out.stdout  # spot price
    assert azure.resources == {} and {m for m, _, _ in azure.log} == {"GET"}
    assert gcp.instances == {} and {m for m, _, _ in gcp.log} <= {"GET", "POST"}
    assert all(p == "/token" for m, p, _ in gcp.log if m == "POST")
    assert not (tmp_path / "runs").exists()


def test_azure_vm_is_deallocated_at_expiry_by_its_auto_shutdown_schedule(azure):
    """The last line on Azure: each VM's auto-shutdown schedule at its expiry (UTC) deallocates it (compute billing
    stops), where the in-VM shutdown only powers it off."""
    from datetime import datetime, timedelta, timezone

    res = fleet.provision("az-ttl", [_system("azure", "az-t", ["eastus"], "Standard_D2s_v5", count=1, hours=3)], PUB)
    assert res.created == ["az-t-1"] and not res.failed
    rg = f"/subscriptions/{azure.subscription}/resourcegroups/benchfleet-az-ttl"
    vm = azure.resources[f"{rg}/providers/microsoft.compute/virtualmachines/az-t-1"]
    sched = azure.resources[f"{rg}/providers/microsoft.devtestlab/schedules/shutdown-computevm-az-t-1"]
    expires = datetime.strptime(vm["tags"]["benchfleet-expires"], "%Y%m%dt%H%Mz").replace(tzinfo=timezone.utc)
    assert sched["properties"]["dailyRecurrence"]["time"] == expires.strftime("%H%M")
    assert sched["properties"]["targetResourceId"].lower() == vm["id"].lower()
    assert sched["tags"]["benchfleet-run"] == "az-ttl"
    assert fleet.provider("azure").list([], "az-ttl")[0].state == "running"
    assert azure.deallocate_due(expires - timedelta(minutes=2)) == []
    assert azure.deallocate_due(expires + timedelta(minutes=1)) == ["az-t-1"]
    listed = fleet.provider("azure").list([], "az-ttl")
    assert [(i.host, i.state, i.alive) for i in listed] == [("az-t-1", "stopped", False)]
    assert fleet.teardown("az-ttl", _targets("azure")).ok and azure.resources == {}


def test_azure_vm_without_its_shutdown_schedule_is_deleted_and_a_longer_expiry_refused(azure):
    azure.rules.append({"method": "PUT", "path": "schedules/shutdown-computevm-", "status": 409,
                        "code": "MissingSubscriptionRegistration",
                        "message": "The subscription is not registered to use namespace 'Microsoft.DevTestLab'."})
    res = fleet.provision("az-nosched", [_system("azure", "az-n", ["eastus"], "Standard_D2s_v5", count=1)], PUB)
    assert res.created == [] and "az provider register --namespace Microsoft.DevTestLab" in res.failed["az-n-1"]
    assert not [k for k in azure.resources if "/virtualmachines/" in k or "/publicipaddresses/" in k]
    assert fleet.teardown("az-nosched", _targets("azure")).ok and azure.resources == {}
    azure.rules.clear()
    azure.log.clear()
    res = fleet.provision("az-long", [_system("azure", "az-l", ["eastus"], "Standard_D2s_v5", count=1, hours=30)],
                          PUB)
    assert res.created == [] and "cloud.expires_h: 30 hours" in res.failed["az-l-1"]
    assert azure.resources == {} and not [m for m, _, _ in azure.log if m == "PUT"]  # refused before anything


def test_gcp_preflight_counts_the_vcpus_asked_against_the_quotas_left_and_zones_are_listed(gcp, tmp_path):
    p = fleet.provider("gcp")
    assert p.zones("us-central1", "g2-standard-8") == ["us-central1-a", "us-central1-b"]  # as the API lists them
    assert p.zones("europe-west4", "a3-highgpu-8g") == []
    assert p.preflight(["us-central1"], "n2-standard-4", 6) == []  # 24 vCPUs: exactly the quota
    assert p.preflight(["us-central1"], "n2-standard-4", 7) == [
        "gcp: CPUS quota of us-central1: 7 x 4 = 28 vCPUs asked, 24 of 24 free; N2_CPUS quota of us-central1: "
        "7 x 4 = 28 vCPUs asked, 24 of 24 free"]
    assert p.preflight(["europe-west4", "us-central1"], "a3-highgpu-8g", 1) == [
        "gcp: a3-highgpu-8g is not offered in any zone of europe-west4",
        "gcp: CPUS quota of us-central1: 1 x 208 = 208 vCPUs asked, 24 of 24 free; A3_CPUS quota of us-central1: "
        "1 x 208 = 208 vCPUs asked, 0 of 0 free"]
    # what is running counts: two n2-standard-4 leave 16 vCPUs
    fleet.provision("gc-q", [_system("gcp", "gcp-q", ["us-central1"], "n2-standard-4")], PUB)
    assert "16 of 24 free" in p.preflight(["us-central1"], "n2-standard-4", 5)[0]
    assert p.preflight(["us-central1", "europe-west4"], "n2-standard-4", 5) == []  # the next region holds it
    assert fleet.teardown("gc-q", _targets("gcp")).ok
    # the sweep is refused before anything is created, naming the quota and the figures
    sweep = tmp_path / "gpus.yml"
    sweep.write_text(yaml.safe_dump({"submitter": "TestLab", "systems": [
        {"name": "gcp-l4", "cloud": {"provider": "gcp", "regions": ["us-central1"], "instance_type": "g2-standard-8",
                                     "count": 2, "ssh_cidr": "198.51.100.7/32", "price_per_hour": 0.9}}]}))
    before = len(gcp.log)
    out = subprocess.run([BENCHFLEET, "sweep", str(sweep), "--runs-dir", str(tmp_path / "runs")],
                         capture_output=True, text=True)
    assert out.returncode != 0
    assert ("cloud check gcp-l4 (gcp g2-standard-8 x 2 in us-central1): gcp: G2_CPUS quota of us-central1: "
            "2 x 8 = 16 vCPUs asked, 8 of 8 free") in out.stdout  # CPUS holds 16 of its 24; G2_CPUS does not
    assert "nothing was created" in out.stderr
    assert gcp.instances == {} and gcp.firewalls == {}
    assert {m for m, _, _ in gcp.log[before:]} <= {"GET", "POST"} and all(
        p == "/token" for m, p, _ in gcp.log[before:] if m == "POST")


def test_azure_preflight_counts_the_vcpus_asked_against_the_quotas_left(azure):
    p = fleet.provider("azure")
    assert p.sku("eastus", "Standard_NC24ads_A100_v4") == (24, "StandardNCADSA100v4Family", ["2", "3"])
    assert p.preflight(["eastus"], "Standard_D4s_v5", 12) == []  # 48 vCPUs: the family's quota, exactly
    assert p.preflight(["eastus"], "Standard_D4s_v5", 13) == [
        "azure: Standard DSv5 Family vCPUs quota (standardDSv5Family) of eastus: 13 x 4 = 52 vCPUs asked, 48 of 48 "
        "free"]
    assert p.preflight(["westus2", "eastus"], "Standard_NC24ads_A100_v4", 2) == [
        "azure: Standard_NC24ads_A100_v4 is not offered to this subscription in westus2",
        "azure: Standard NCADS_A100_v4 Family vCPUs quota (StandardNCADSA100v4Family) of eastus: 2 x 24 = 48 vCPUs "
        "asked, 24 of 24 free"]
    assert "0 of 0 free" in p.preflight(["eastus"], "Standard_ND96isr_H100_v5", 1)[0]
    fleet.provision("az-q", [_system("azure", "az-q", ["eastus"], "Standard_D4s_v5", count=2)], PUB)
    assert "40 of 48 free" in p.preflight(["eastus"], "Standard_D4s_v5", 11)[0]  # the running VMs count
    assert p.preflight(["eastus", "westus2"], "Standard_D4s_v5", 11) == []  # the next region holds it
    assert fleet.teardown("az-q", _targets("azure")).ok and azure.resources == {}


def test_prices_come_from_the_azure_retail_prices_api_cached_with_their_date(tmp_path, monkeypatch):
    """The estimate asks Azure's Retail Prices API (the Linux meter; spot: the Spot meter), keeps what it read with
    the date, and falls back to the dated table where the API does not answer, saying which it used."""
    import datetime as dt

    from benchfleet.cloud import prices
    from tests.cloudfakes import FakeAzurePrices

    cache = tmp_path / "prices.json"
    monkeypatch.setenv("BENCHFLEET_PRICE_CACHE", str(cache))
    api = FakeAzurePrices(tmp_path / "api")
    for k, v in api.env().items():
        monkeypatch.setenv(k, v)
    today = dt.date.today().isoformat()
    try:
        assert prices.quote("azure", "Standard_D4s_v5", region="eastus") == (
            0.201, f"Azure Retail Prices API, eastus, read {today}")
        assert prices.quote("azure", "Standard_D4s_v5", spot=True, region="eastus")[0] == 0.0402
        sweep = tmp_path / "az.yml"
        sweep.write_text(yaml.safe_dump({"submitter": "TestLab", "systems": [
            {"name": "az-p", "cloud": {"provider": "azure", "regions": ["westus2"], "instance_type": "Standard_D4s_v5",
                                       "count": 2, "ssh_cidr": "198.51.100.7/32"}}]}))
        out = subprocess.run([BENCHFLEET, "sweep", str(sweep), "--check", "--runs-dir", str(tmp_path / "runs")],
                             capture_output=True, text=True, env={**os.environ, "AZURE_SUBSCRIPTION_ID": ""})
        assert "az-p: 2 x 0.2110 USD/h x " in out.stdout and f"(Azure Retail Prices API, westus2, read {today})" \
            in out.stdout, out.stdout
        assert any(path == "/api/retail/prices" for _, path, _ in api.log)
    finally:
        api.stop()
    # the API gone: what was read stays in use (with its date) ...
    assert prices.quote("azure", "Standard_D4s_v5", region="eastus")[0] == 0.201
    # ... until it is older than a week; then, and for what was never read, the table, saying how old it is
    data = json.loads(cache.read_text())
    key = next(k for k in data if k.startswith("azure/eastus/Standard_D4s_v5/on-demand"))
    data[key]["read_on"] = (dt.date.today() - dt.timedelta(days=8)).isoformat()
    cache.write_text(json.dumps(data))
    rate, source = prices.quote("azure", "Standard_D4s_v5", region="eastus")
    age = (dt.date.today() - dt.date(2024, 6, 1)).days
    assert (rate, source) == (0.192, f"price table of 2024-06-01, {age} days old")
    assert prices.quote("azure", "Standard_D2s_v5", region="eastus")[1].startswith("price table")


def test_image_aliases_resolve_on_each_clouds_listing_and_unknown_images_are_refused_up_front(azure, gcp):
    """Every alias benchfleet offers names an image the cloud lists (the fakes list what Azure and Compute Engine
    publish, arm64 and older versions beside), the newest of it; a missing one is refused by pre-flight."""
    from benchfleet.cloud import azure as az
    from benchfleet.cloud import gcp as gc

    a = fleet.provider("azure")
    assert {alias: a.resolve_image("eastus", alias) for alias in az.IMAGES} == {
        "ubuntu-22.04": "Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:22.04.202611120",
        "ubuntu-24.04": "Canonical:ubuntu-24_04-lts:server:24.04.202611180",
        "debian-12": "Debian:debian-12:12-gen2:0.20261115.1935"}
    assert a.preflight(["eastus"], "Standard_D4s_v5", 1, image="Canonical:ubuntu-24_04-lts:server:24.04.1") == [
        "azure: UnknownImage: image 'Canonical:ubuntu-24_04-lts:server:24.04.1': Canonical:ubuntu-24_04-lts:server:"
        "24.04.1 is not listed in eastus; give an image that is (az vm image list --location eastus --all), or one "
        "of ubuntu-22.04, ubuntu-24.04, debian-12"]
    g = fleet.provider("gcp")
    assert {alias: g.resolve_image(alias) for alias in gc.IMAGES} == {
        "ubuntu-22.04": "projects/ubuntu-os-cloud/global/images/ubuntu-2204-jammy-v20261118",
        "ubuntu-24.04": "projects/ubuntu-os-cloud/global/images/ubuntu-2404-noble-amd64-v20261120",
        "debian-12": "projects/debian-cloud/global/images/debian-12-bookworm-v20261111",
        "rocky-9": "projects/rocky-linux-cloud/global/images/rocky-linux-9-v20261105"}
    (problem,) = g.preflight(["us-central1"], "n2-standard-4", 1, image="projects/ubuntu-os-cloud/global/images/"
                                                                      "family/ubuntu-1804-lts")
    assert "project 'ubuntu-os-cloud' lists no family 'ubuntu-1804-lts'" in problem
    # the other forms Compute Engine takes: a URL, and global/images/... of the project itself
    url = "https://www.googleapis.com/compute/v1/projects/debian-cloud/global/images/family/debian-12"
    assert g.resolve_image(url) == "projects/debian-cloud/global/images/debian-12-bookworm-v20261111"
    assert "project 'bf-test-project' lists no image 'mine'" in g.preflight(
        ["us-central1"], "n2-standard-4", 1, image="global/images/mine")[0]
    # a custom machine type is not listed: its vCPUs come from its name, its zones from its family's types
    assert g.zones("us-central1", "n2-custom-6-16384") == ["us-central1-a", "us-central1-b", "us-central1-c",
                                                           "us-central1-f"]
    assert g.preflight(["us-central1"], "n2-custom-6-16384", 4) == []  # 24 vCPUs
    assert "5 x 6 = 30 vCPUs asked" in g.preflight(["us-central1"], "n2-custom-6-16384", 5)[0]
    assert azure.resources == {} and gcp.instances == {}


def test_gcp_prices_come_from_the_cloud_billing_catalog(gcp, tmp_path, monkeypatch):
    """vCPUs x the family's core price + GiB x its RAM price in the region (spot: the Spot Preemptible SKUs), read
    through pages of Compute Engine's SKUs with the project's credentials; GPU types keep to the table."""
    from benchfleet.cloud import prices

    monkeypatch.setenv("BENCHFLEET_PRICE_CACHE", str(tmp_path / "prices.json"))
    monkeypatch.setenv("BENCHFLEET_GCP_BILLING_ENDPOINT", gcp.url)
    rate, source = prices.quote("gcp", "n2-standard-4", region="us-central1")
    assert rate == pytest.approx(4 * 0.031611 + 16 * 0.004237) and source.startswith("Cloud Billing Catalog API, ")
    assert prices.quote("gcp", "n2-standard-4", spot=True, region="us-central1")[0] == pytest.approx(
        4 * 0.00765 + 16 * 0.001025)
    assert prices.quote("gcp", "n2-standard-4", region="europe-west4")[0] == pytest.approx(
        4 * 0.0348 + 16 * 0.004664)
    assert prices.quote("gcp", "e2-standard-2", region="us-central1")[0] == pytest.approx(
        2 * 0.021811 + 8 * 0.002923)
    assert prices.quote("gcp", "g2-standard-4", region="us-central1")[1].startswith("price table")
    assert sum(1 for m, path, _ in gcp.log if path.endswith("/skus")) >= 4  # pages followed


def test_two_systems_on_one_quota_are_checked_together(gcp, tmp_path):
    """Two systems of one project asking for the same type in the same region draw on one quota: 4 + 3 n2-standard-4
    (28 vCPUs) do not fit 24 though each alone would."""
    sweep = tmp_path / "two.yml"
    sweep.write_text(yaml.safe_dump({"submitter": "TestLab", "systems": [
        {"name": f"gcp-{n}", "cloud": {"provider": "gcp", "regions": ["us-central1"], "instance_type": "n2-standard-4",
                                       "count": count, "ssh_cidr": "198.51.100.7/32", "price_per_hour": 0.2}}
        for n, count in (("a", 4), ("b", 3))]}))
    out = subprocess.run([BENCHFLEET, "sweep", str(sweep), "--check", "--runs-dir", str(tmp_path / "runs")],
                         capture_output=True, text=True)
    assert ("cloud check gcp-a (gcp n2-standard-4 x 4 in us-central1): gcp: CPUS quota of us-central1: gcp-a 4 x 4 + "
            "gcp-b 3 x 4 = 28 vCPUs asked, 24 of 24 free") in out.stdout, out.stdout
    assert gcp.instances == {}


def test_types_sharing_a_family_quota_are_checked_together(gcp, tmp_path):
    """n2-standard-4 and n2-standard-16 both draw on N2_CPUS and CPUS (24 each), e2-standard-2 on CPUS alone: each
    system fits alone, together they do not, and each refusal names the quota and every system's vCPUs."""
    sweep = tmp_path / "family.yml"
    sweep.write_text(yaml.safe_dump({"submitter": "TestLab", "systems": [
        {"name": name, "cloud": {"provider": "gcp", "regions": ["us-central1"], "instance_type": itype,
                                 "count": count, "ssh_cidr": "198.51.100.7/32", "price_per_hour": 0.2}}
        for name, itype, count in (("gcp-a", "n2-standard-4", 4), ("gcp-b", "n2-standard-16", 1),
                                   ("gcp-c", "e2-standard-2", 2))]}))
    out = subprocess.run([BENCHFLEET, "sweep", str(sweep), "--check", "--runs-dir", str(tmp_path / "runs")],
                         capture_output=True, text=True)
    assert ("cloud check gcp-a (gcp n2-standard-4 x 4 in us-central1): gcp: CPUS quota of us-central1: gcp-a 4 x 4 + "
            "gcp-b 1 x 16 + gcp-c 2 x 2 = 36 vCPUs asked, 24 of 24 free; N2_CPUS quota of us-central1: gcp-a 4 x 4 + "
            "gcp-b 1 x 16 = 32 vCPUs asked, 24 of 24 free") in out.stdout, out.stdout
    assert "gcp: CPUS quota of us-central1: gcp-c 2 x 2 + gcp-a 4 x 4 + gcp-b 1 x 16 = 36 vCPUs asked" in out.stdout
    assert "E2_CPUS" not in out.stdout and gcp.instances == {}


def test_azure_sizes_of_one_family_are_checked_together(azure):
    """Standard_D2s_v5 and Standard_D4s_v5 both draw on the DSv5 family quota (48 vCPUs) and the regional total:
    10 x 2 + 8 x 4 = 52 do not fit the family's though each alone would; a spot system draws on neither."""
    from benchfleet.cloud.base import Demand

    p = fleet.provider("azure", subscription=azure.subscription)
    assert p.preflight(["eastus"], "Standard_D2s_v5", 10) == [] and p.preflight(["eastus"], "Standard_D4s_v5", 8) == []
    others = [Demand("az-d4", "Standard_D4s_v5", 8), Demand("az-spot", "Standard_D4s_v5", 20, spot=True),
              Demand("az-a100", "Standard_NC24ads_A100_v4", 1)]
    assert p.preflight(["eastus"], "Standard_D2s_v5", 10, system="az-d2", others=others) == [
        "azure: Standard DSv5 Family vCPUs quota (standardDSv5Family) of eastus: az-d2 10 x 2 + az-d4 8 x 4 = 52 vCPUs "
        "asked, 48 of 48 free"]
    (short,) = p.preflight(["eastus"], "Standard_D2s_v5", 30, system="az-d2", others=others)
    assert ("Total Regional vCPUs quota (cores) of eastus: az-d2 30 x 2 + az-d4 8 x 4 + az-a100 1 x 24 = 116 vCPUs "
            "asked, 100 of 100 free") in short
