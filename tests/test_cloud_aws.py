"""Cloud systems on AWS, end to end against moto's server: each instance moto launches becomes a real SSH
host on this machine (tests/cloudhosts.py), so provisioning, the inventory plugin, the benchmark over SSH
and the teardown all run for real. Faults are injected one per test."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import benchfleet
from benchfleet.runner import ansible_env
from benchfleet.submission.check import check_tree
from tests.browser import visit
from tests.cloudhosts import FaultProxy, InstanceHosts, ec2, moto_ec2, run_resources, tagged_instances, workdir_vars
from tests.sshfleet import Fleet
from tests.test_report import keep_screenshot

BENCHFLEET = str(Path(sys.executable).parent / "benchfleet")
PACKAGE = Path(benchfleet.__file__).resolve().parent
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to add loopback addresses (ip addr)")


@pytest.fixture()
def aws(tmp_path):
    with moto_ec2() as env:
        fleet = Fleet.start(tmp_path / "fleet", 0)
        with InstanceHosts(fleet) as hosts:
            yield env, fleet, hosts
        fleet.stop()
        assert not hosts.errors, hosts.errors


def _sweep(tmp_path: Path, fleet: Fleet, cache_dir: Path, count: int = 3, regions=("us-east-1",),
           scenarios=("SingleStream",), **cloud) -> Path:
    f = tmp_path / "clouds.yml"
    f.write_text(yaml.safe_dump({
        "submitter": "TestLab", "division": "open", "scenarios": list(scenarios), "model": "synthetic",
        "dataset": "synthetic", "synthetic_width": 2, "cache_dir": str(cache_dir), "defaults": {"threads": 1},
        "dataset_count": 64,  # accuracy runs scale with it; the cloud life cycle these tests check does not
        "setup": "never",  # the instances are this machine, with this venv (set-up is tested in test_setup.py)
        "systems": [{"name": "aws-m5", "cloud": {
            "provider": "aws", "regions": list(regions), "instance_type": "m5.large", "image": "ami-785db401",
            "count": count, "ssh_user": "root", "ssh_cidr": "127.0.0.1/32",
            # every instance is this machine: its own work folder, and this venv's Python
            "vars": {**workdir_vars(fleet.root), "ansible_python_interpreter": sys.executable,
                     "benchfleet_harness_python": sys.executable}, **cloud}}],
    }))
    return f


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


def _start(sweep: Path, runs: Path, *extra: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([BENCHFLEET, "sweep", str(sweep), "--runs-dir", str(runs), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {})}, start_new_session=True)


def test_sweep_of_three_instances_is_listed_benchmarked_and_torn_down(aws, cache_dir, tmp_path):
    env, fleet, hosts = aws
    sweep = _sweep(tmp_path, fleet, cache_dir)
    runs = tmp_path / "runs"
    proc = _start(sweep, runs)
    _wait(lambda: len(hosts.up) == 3, 120, "three instances", proc)
    run_dir = next(runs.iterdir())
    run = run_dir.name
    private_key = (run_dir / "ssh" / "id_ed25519").read_text()
    assert oct((run_dir / "ssh" / "id_ed25519").stat().st_mode & 0o777) == "0o600"

    # The inventory plugin lists the run's instances by their plan names, at their public addresses.
    listed = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(run_dir / "cloud.benchfleet_cloud.yml"),
         "--list"], capture_output=True, text=True, env={**os.environ, **ansible_env(tmp_path / "inv-private")})
    assert listed.returncode == 0, listed.stderr
    inv = json.loads(listed.stdout, object_hook=lambda d: d.get("__ansible_unsafe", d))
    live = {next(t["Value"] for t in i["Tags"] if t["Key"] == "benchfleet-host"): i
            for i in tagged_instances(run, states=["pending", "running"])}
    assert sorted(inv["aws_m5"]["hosts"]) == sorted(live) == ["aws-m5-1", "aws-m5-2", "aws-m5-3"]
    assert sorted(inv["benchfleet_cloud"]["children"]) == ["aws_m5"]
    for name, i in live.items():
        hv = inv["_meta"]["hostvars"][name]
        assert hv["ansible_host"] == i["PublicIpAddress"] and hv["benchfleet_instance"]["id"] == i["InstanceId"]
        tags = {t["Key"]: t["Value"] for t in i["Tags"]}
        assert tags["benchfleet-run"] == run and tags["benchfleet-owner"]
        assert len(tags["benchfleet-expires"]) == 14
        assert i["MetadataOptions"]["HttpTokens"] == "required"  # IMDSv2 only
        attr = ec2().describe_instance_attribute(InstanceId=i["InstanceId"],
                                                 Attribute="instanceInitiatedShutdownBehavior")
        assert attr["InstanceInitiatedShutdownBehavior"]["Value"] == "terminate"
    (sg,) = ec2().describe_security_groups(Filters=[{"Name": "tag:benchfleet-run", "Values": [run]}])[
        "SecurityGroups"]
    ingress = [(p["FromPort"], [r["CidrIp"] for r in p["IpRanges"]]) for p in sg["IpPermissions"]]
    assert ingress == [(22, ["127.0.0.1/32"])]

    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    assert "teardown: confirmed by listing: nothing of this run is left" in out
    assert run_resources(run) == []  # no instance, security group or key pair with the run tag
    assert not (run_dir / "ssh").exists()  # the run's key is gone with its key pair
    report = check_tree(run_dir / "submission", "v3.1", accuracy_logs=run_dir / "cells", allow_quick=True)
    assert report.ok, [str(e) for e in report.errors]
    summary = json.loads((run_dir / "results.json").read_text())
    assert summary["cells"]["done"] == 3
    cost = summary["cloud_cost"]
    assert len(cost["instances"]) == 3 and all(i["deleted_at"] and i["uptime_s"] > 0 for i in cost["instances"])
    assert cost["total_usd"] == pytest.approx(sum(i["uptime_s"] for i in cost["instances"]) * 0.096 / 3600, abs=1e-3)
    rows = list(csv.DictReader(open(run_dir / "results.csv")))
    for r in rows:  # SingleStream: 1000/latency samples per second at 0.096 USD/h
        # results.csv gives the figure to 4 decimals: a rounding of up to 5e-5
        assert float(r["usd_per_million_samples"]) == pytest.approx(0.096 / 3600 / (1000 / float(r["value"])) * 1e6,
                                                                  rel=1e-3, abs=5e-5)
    records = {json.loads(p.read_text())["instance"] for p in run_dir.glob("cells/*/cell.json")}
    assert records == {i["InstanceId"] for i in live.values()}  # each cell names the one instance it ran on

    # The run's report: three cloud systems, their latency and what a million samples cost, in a real browser
    seen = visit(run_dir / "report.html", tmp_path / "report.png")
    keep_screenshot(tmp_path / "report.png", "report-cloud-sweep.png")
    assert seen.console_errors == [] and seen.page_errors == [] and seen.requests == []
    assert seen.figures == 3  # resnet50 SingleStream latency per system, accuracy, the cost of a million samples
    systems = {r["system"] for r in rows}
    assert len(systems) == 3 and all(s in seen.text for s in systems)
    assert seen.text.count("0.096") >= 3  # each system's USD/h in the table of results

    # Secrets and addresses: none in any log, event file, result or the tree.
    secrets = [env["AWS_SECRET_ACCESS_KEY"], env["AWS_ACCESS_KEY_ID"],
               "".join(private_key.strip().splitlines()[1:-1])[:60]]
    addresses = [i["PublicIpAddress"] for i in live.values()] + [i["PrivateIpAddress"] for i in live.values()]
    for p in run_dir.rglob("*"):
        if p.is_file():
            text = p.read_bytes().decode(errors="replace")
            for s in secrets:
                assert s not in text, f"a secret is in {p}"
            parts = p.relative_to(run_dir).parts
            if "benchfleet_harness" in parts:  # the sources that ran: our package's files, byte for byte
                rel = parts[parts.index("benchfleet_harness") + 1:]
                src = PACKAGE.joinpath(*rel) if len(rel) > 1 else PACKAGE / "harness" / rel[0]
                assert p.read_bytes() == src.read_bytes(), f"{p} is not a copy of {src}"
            elif "submission" in parts:
                for a in [*addresses, socket.gethostname(), *live.keys(), *(i["InstanceId"] for i in live.values())]:
                    assert a not in text, f"{a!r} is in the submission tree: {p}"


def test_provisioning_failures_fail_over_report_and_leave_nothing(aws, cache_dir, tmp_path):
    """No capacity in us-east-1a -> next zone; after two instances the vCPU quota is used up in every region
    -> the third host gets none. The two run, the third is an infrastructure failure, all is torn down."""
    env, fleet, hosts = aws
    rules = [{"action": "RunInstances", "contains": "us-east-1a", "code": "InsufficientInstanceCapacity"},
             {"action": "RunInstances", "code": "VcpuLimitExceeded", "after": 2}]
    with FaultProxy(env["AWS_ENDPOINT_URL"], rules) as proxy:
        sweep = _sweep(tmp_path, fleet, cache_dir, regions=("us-east-1", "us-west-2"))
        runs = tmp_path / "runs"
        proc = _start(sweep, runs, env={"AWS_ENDPOINT_URL": proxy.url})
        out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 1, out
    run_dir = next(runs.iterdir())
    attempts = [json.loads(line) for line in (run_dir / "cloud" / "attempts.jsonl").read_text().splitlines()]
    outcome = [(a["host"], a["zone"], a["outcome"]) for a in attempts]
    assert outcome[:4] == [("aws-m5-1", "us-east-1a", "capacity"), ("aws-m5-1", "us-east-1b", "created"),
                           ("aws-m5-2", "us-east-1b", "created"), ("aws-m5-3", "us-east-1b", "quota")]
    # quota skips the rest of us-east-1; us-west-2 is tried next and is out of quota too
    assert outcome[4:] == [("aws-m5-3", "us-west-2a", "quota")]
    summary = json.loads((run_dir / "results.json").read_text())
    assert summary["cells"]["done"] == 2
    (fail,) = summary["failures"]
    assert fail["host"] == "aws-m5-3" and fail["kind"] == "provision" and fail["infrastructure"]
    assert "VcpuLimitExceeded" in fail["message"]
    assert "aws-m5-3 / aws-m5-3.resnet50.onnxruntime-cpu.open.SingleStream: provision" in out
    assert check_tree(run_dir / "submission", "v3.1", accuracy_logs=run_dir / "cells", allow_quick=True).ok
    assert run_resources(run_dir.name, ("us-east-1", "us-west-2")) == []


def test_instance_lost_mid_benchmark_reruns_its_cell_on_a_new_instance(aws, cache_dir, tmp_path):
    env, fleet, hosts = aws
    # one instance (the three-instance test shows instances beside each other)
    sweep = _sweep(tmp_path, fleet, cache_dir, count=1, scenarios=("SingleStream", "MultiStream"))
    runs = tmp_path / "runs"
    proc = _start(sweep, runs)
    run_dir = _wait(lambda: next(iter(runs.glob("*/plan.json")), None), 60, "the run", proc).parent
    # Once aws-m5-1's first cell is home, its instance is preempted (terminated) mid second cell.
    _wait(lambda: list(run_dir.glob("cells/aws-m5-1.*SingleStream/cell.json")), 300, "aws-m5-1's first cell", proc)
    (victim,) = [i for i in tagged_instances(run_dir.name, states=["running", "pending"])
                 if {"Key": "benchfleet-host", "Value": "aws-m5-1"} in i["Tags"]]
    ec2().terminate_instances(InstanceIds=[victim["InstanceId"]])
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out
    assert "round 2: 1 cell(s) lost with their instance" in out
    lost = "aws-m5-1.resnet50.onnxruntime-cpu.open.MultiStream"
    rec = json.loads((run_dir / "cells" / lost / "cell.json").read_text())
    assert rec["instance"] and rec["instance"] != victim["InstanceId"]  # all of it on the new instance
    first = json.loads(next(run_dir.glob("cells/aws-m5-1.*SingleStream/cell.json")).read_text())
    assert first["instance"] == victim["InstanceId"]
    summary = json.loads((run_dir / "results.json").read_text())
    assert summary["cells"]["done"] == 2 and not summary["failures"]
    assert len(summary["cloud_cost"]["instances"]) == 2  # one, and the replacement
    assert check_tree(run_dir / "submission", "v3.1", accuracy_logs=run_dir / "cells", allow_quick=True).ok
    assert run_resources(run_dir.name) == []


def test_sigint_tears_down_before_exit(aws, cache_dir, tmp_path):
    env, fleet, hosts = aws
    # one SingleStream cell per instance (the lost-instance test runs MultiStream cells)
    sweep = _sweep(tmp_path, fleet, cache_dir, count=2)
    runs = tmp_path / "runs"
    proc = _start(sweep, runs)
    _wait(lambda: list(runs.glob("*/status/*.json")) and len(hosts.up) == 2, 120, "cells running", proc)
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 130, out
    run_dir = next(runs.iterdir())
    assert "teardown: confirmed by listing: nothing of this run is left" in out
    assert run_resources(run_dir.name) == []
    # --resume gives the unfinished cells new instances, finishes them and tears down again
    res = subprocess.run([BENCHFLEET, "sweep", "--resume", run_dir.name, "--runs-dir", str(runs)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert json.loads((run_dir / "results.json").read_text())["cells"]["done"] == 2
    assert run_resources(run_dir.name) == []


def test_controller_killed_then_reap_deletes_what_it_left(aws, cache_dir, tmp_path):
    env, fleet, hosts = aws
    sweep = _sweep(tmp_path, fleet, cache_dir, count=2)
    runs = tmp_path / "runs"
    proc = _start(sweep, runs)
    _wait(lambda: len(hosts.up) == 2, 120, "two instances", proc)
    run = next(runs.iterdir()).name
    os.killpg(proc.pid, signal.SIGKILL)  # the controller dies with everything it started
    proc.wait()
    left = run_resources(run)
    assert len(left) == 4, left  # two instances, the security group and the key pair
    reap = [BENCHFLEET, "reap", "--provider", "aws", "--region", "us-east-1,us-west-2"]
    dry = subprocess.run([*reap, "--dry-run"], capture_output=True, text=True, cwd=tmp_path)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "reap: 0 resource(s) would delete" in dry.stdout  # nothing is past its expiry yet
    dry = subprocess.run([*reap, "--older-than", "0s", "--dry-run"], capture_output=True, text=True, cwd=tmp_path)
    assert "reap: 0 resource(s) would delete" in dry.stdout  # launched within the grace period: maybe still busy
    reap += ["--grace", "0s"]
    dry = subprocess.run([*reap, "--older-than", "0s", "--dry-run"], capture_output=True, text=True, cwd=tmp_path)
    assert dry.stdout.count(f"run {run})") == 2 and run_resources(run) == left  # listed, not deleted
    done = subprocess.run([*reap, "--older-than", "0s"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"deleted aws:us-east-1:security-group/benchfleet-{run}" in done.stdout
    assert run_resources(run) == []
    _wait(lambda: not hosts.up, 30, "the instances' hosts to go")


def test_check_and_max_cost_create_nothing(aws, cache_dir, tmp_path):
    env, fleet, hosts = aws
    sweep = _sweep(tmp_path, fleet, cache_dir)
    runs = tmp_path / "runs"
    before = (tagged_instances(), ec2().describe_security_groups()["SecurityGroups"],
              ec2().describe_key_pairs()["KeyPairs"])
    chk = subprocess.run([BENCHFLEET, "sweep", str(sweep), "--check", "--runs-dir", str(runs)], capture_output=True,
                         text=True)
    assert chk.returncode == 0, chk.stdout + chk.stderr
    assert "cloud check aws-m5 (aws m5.large x 3 in us-east-1): OK" in chk.stdout
    assert "aws-m5: 3 x 0.0960 USD/h" in chk.stdout
    cap = subprocess.run([BENCHFLEET, "sweep", str(sweep), "--max-cost", "0.001", "--runs-dir", str(runs)],
                         capture_output=True, text=True)
    assert cap.returncode == 2 and "--max-cost: the estimate" in cap.stderr, cap.stdout + cap.stderr
    bad = _sweep(tmp_path, fleet, cache_dir, instance_type="m5.huge")
    res = subprocess.run([BENCHFLEET, "sweep", str(bad), "--runs-dir", str(runs)], capture_output=True, text=True)
    assert res.returncode == 2 and "m5.huge is not offered in any zone of us-east-1" in res.stdout, res.stdout
    after = (tagged_instances(), ec2().describe_security_groups()["SecurityGroups"],
             ec2().describe_key_pairs()["KeyPairs"])
    assert after == before and not hosts.up
    assert not runs.exists()


def test_bad_credentials_are_refused_before_anything_is_created(aws, cache_dir, tmp_path):
    env, fleet, hosts = aws
    sweep = _sweep(tmp_path, fleet, cache_dir)
    rules = [{"action": a, "code": "AuthFailure", "status": 401}
             for a in ("DescribeInstanceTypeOfferings", "RunInstances", "DescribeInstances")]
    with FaultProxy(env["AWS_ENDPOINT_URL"], rules) as proxy:
        out = subprocess.run([BENCHFLEET, "sweep", str(sweep), "--runs-dir", str(tmp_path / "runs")],
                             capture_output=True, text=True, env={**os.environ, "AWS_ENDPOINT_URL": proxy.url})
    assert out.returncode == 2, out.stdout + out.stderr
    assert "cloud check aws-m5 (aws m5.large x 3 in us-east-1): aws: AuthFailure" in out.stdout
    assert "the cloud checks above failed; nothing was created" in out.stderr
    # nothing but the check and the estimate's price (the Price List: moto has none, so the table is used)
    assert [a for a, _ in proxy.seen if a not in ("DescribeInstanceTypeOfferings",
                                                  "AWSPriceListService.GetProducts")] == []
    assert not (tmp_path / "runs").exists() and tagged_instances() == []


def test_preflight_counts_vcpus_against_service_quotas_less_what_runs(tmp_path, monkeypatch):
    """The type's vCPU quota from Service Quotas (a local server speaking its JSON API; moto has no EC2 quotas),
    on-demand or spot, less the vCPUs of that quota's instances running in the region (moto's EC2)."""
    from benchfleet.cloud import fleet as cloud_fleet
    from tests.cloudfakes import FakeServiceQuotas

    quotas = FakeServiceQuotas(tmp_path / "quotas")
    for k, v in quotas.env().items():
        monkeypatch.setenv(k, v)
    try:
        with moto_ec2():
            p = cloud_fleet.provider("aws")
            assert p.preflight(["us-east-1"], "m5.large", 16) == []  # 16 x 2 = 32: the quota, exactly
            assert p.preflight(["us-east-1"], "m5.large", 17) == [
                "aws: Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances quota of us-east-1: "
                "17 x 2 = 34 vCPUs asked, 32 of 32 free"]
            assert p.preflight(["us-east-1"], "m5.large", 9, spot=True) == [
                "aws: All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests quota of us-east-1: "
                "9 x 2 = 18 vCPUs asked, 16 of 16 free"]
            assert "0 of 0 free" in p.preflight(["us-east-1"], "g5.xlarge", 1, spot=True)[0]
            ec2().run_instances(ImageId="ami-785db401", InstanceType="m5.xlarge", MinCount=3, MaxCount=3)
            assert "20 of 32 free" in p.preflight(["us-east-1"], "m5.large", 11)[0]  # 3 x 4 vCPUs run
            assert p.preflight(["us-east-1", "us-west-2"], "m5.large", 11) == []  # the next region holds it
            assert p.preflight(["us-east-1"], "g5.xlarge", 2) == []  # another quota: G and VT, 8 vCPUs
        with moto_ec2():  # Service Quotas unreachable for this account (here: moto's, which has no EC2 quotas)
            monkeypatch.delenv("AWS_ENDPOINT_URL_SERVICE_QUOTAS")
            assert cloud_fleet.provider("aws").preflight(["us-east-1"], "m5.large", 1000) == []
    finally:
        quotas.stop()
    assert any(m == "POST" for m, _, _ in quotas.log)


def test_types_sharing_a_family_quota_are_checked_together(tmp_path, monkeypatch):
    """m5.xlarge and c6i.2xlarge both count against the Standard on-demand quota (32 vCPUs): 4 x 4 + 3 x 8 = 40 do
    not fit though each system alone would; another family's system (G and VT) and a spot one are not counted."""
    from benchfleet.cloud import fleet as cloud_fleet
    from benchfleet.cloud.base import Demand
    from tests.cloudfakes import FakeServiceQuotas

    quotas = FakeServiceQuotas(tmp_path / "quotas")
    for k, v in quotas.env().items():
        monkeypatch.setenv(k, v)
    try:
        with moto_ec2():
            p = cloud_fleet.provider("aws")
            assert p.preflight(["us-east-1"], "m5.xlarge", 4) == []
            assert p.preflight(["us-east-1"], "c6i.2xlarge", 3) == []
            others = [Demand("aws-c6i", "c6i.2xlarge", 3), Demand("aws-g5", "g5.xlarge", 2),
                      Demand("aws-spot", "m5.xlarge", 4, spot=True)]
            assert p.preflight(["us-east-1"], "m5.xlarge", 4, system="aws-m5", others=others) == [
                "aws: Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances quota of us-east-1: "
                "aws-m5 4 x 4 + aws-c6i 3 x 8 = 40 vCPUs asked, 32 of 32 free"]
            assert p.preflight(["us-east-1"], "g5.xlarge", 2, system="aws-g5", others=others[:1]) == []
            assert p.preflight(["us-east-1"], "m5.xlarge", 2, system="aws-m5", others=others[:1]) == []  # 8 + 24
    finally:
        quotas.stop()


def test_p6_counts_against_the_p_quotas_of_p5_and_later():
    """P6 (p6-b200, p6e-gb200) draws on the on-demand P quota, and for spot on the P5-and-later one, not P4's."""
    from benchfleet.cloud.aws import quota_name

    for itype in ("p6-b200.48xlarge", "p6e-gb200.36xlarge", "p5en.48xlarge", "p5.4xlarge"):
        assert quota_name(itype, spot=False) == "Running On-Demand P instances", itype
        assert quota_name(itype, spot=True) == "All P5 Spot Instance Requests", itype
    assert quota_name("p4d.24xlarge", spot=True) == "All P4, P3 and P2 Spot Instance Requests"
    assert quota_name("p3.2xlarge", spot=False) == "Running On-Demand P instances"


def test_prices_come_from_the_aws_price_list_and_spot_price_history(tmp_path, monkeypatch):
    from benchfleet.cloud import prices
    from tests.cloudfakes import FakeAwsPricing

    monkeypatch.setenv("BENCHFLEET_PRICE_CACHE", str(tmp_path / "prices.json"))
    api = FakeAwsPricing(tmp_path / "pricing")
    for k, v in api.env().items():
        monkeypatch.setenv(k, v)
    try:
        with moto_ec2():
            rate, source = prices.quote("aws", "m5.large", region="us-west-2")
            assert rate == 0.099 and source.startswith("AWS Price List API, us-west-2, read ")  # Linux, not Windows
            spot, source = prices.quote("aws", "m5.large", spot=True, region="us-east-1")
            assert source.startswith("EC2 spot price history, us-east-1") and 0 < spot < 1
            # a type the Price List does not have: the table
            assert prices.quote("aws", "m5.xlarge", region="us-east-1") == (
                0.192, prices.quote("aws", "m5.xlarge")[1])
    finally:
        api.stop()
    assert any(m == "POST" for m, _, _ in api.log)


def test_image_aliases_resolve_to_the_newest_matching_ami_of_its_publisher(tmp_path, monkeypatch):
    """On a listing as AWS has it (Canonical's jammy and noble amd64 and arm64 server images, its pro and minimal
    ones, Debian's, and a look-alike of another owner: moto's server loading them through MOTO_AMIS_PATH), each
    alias resolves to its publisher's newest amd64 server image; a missing AMI is refused by pre-flight."""
    from benchfleet.cloud import aws

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                              env={**os.environ, "MOTO_AMIS_PATH": str(Path(__file__).parent / "fixtures" /
                                                                       "aws-amis.json")},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        for k, v in {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "AKIABENCHFLEETTEST",
                     "AWS_SECRET_ACCESS_KEY": "bf-test-secret-4f9c2e7a1d", "AWS_DEFAULT_REGION": "us-east-1"}.items():
            monkeypatch.setenv(k, v)
        p = aws.AwsProvider()
        assert {alias: p._image("us-east-1", alias)[0] for alias in aws.IMAGES} == {
            "ubuntu-22.04": "ami-00000000000000002", "ubuntu-24.04": "ami-00000000000000007",
            "debian-12": "ami-0000000000000000a"}
        assert p.preflight(["us-east-1"], "m5.large", 1, image="ubuntu-22.04") == []
        (problem,) = p.preflight(["us-east-1"], "m5.large", 1, image="ami-0123456789abcdef0")
        assert problem.startswith("aws: InvalidAMIID.NotFound: ") and "ami-0123456789abcdef0" in problem
    finally:
        server.terminate()
        server.wait(timeout=10)


class _Imds:
    """The instance metadata service of AWS as a spot instance sees it (IMDSv2: a session token first), on
    loopback: ``spot/instance-action`` is 404 until ``action`` is set, then the notice AWS gives two minutes ahead."""

    def __init__(self):
        import http.server
        import threading

        imds = self
        self.action: dict | None = None
        self.reads = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, status: int, body: str = ""):
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_PUT(self):
                ok = self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
                self._send(200 if ok else 400, "imds-token-1" if ok else "")

            def do_GET(self):
                if self.headers.get("X-aws-ec2-metadata-token") != "imds-token-1":
                    return self._send(401)
                if self.path != "/latest/meta-data/spot/instance-action":
                    return self._send(404)
                imds.reads += 1
                self._send(200, json.dumps(imds.action)) if imds.action else self._send(404)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_spot_interruption_notice_marks_the_cell_preempted_at_once_and_it_completes_on_a_new_instance(
        aws, cache_dir, tmp_path):
    env, fleet, hosts = aws
    imds = _Imds()
    sweep = _sweep(tmp_path, fleet, cache_dir, count=1, scenarios=("SingleStream", "MultiStream"), spot=True)
    data = yaml.safe_load(sweep.read_text())
    data["systems"][0]["cloud"]["vars"]["benchfleet_benchmark_preemption_url"] = imds.url
    data["dataset_count"] = 256  # a MultiStream cell long enough to be interrupted
    sweep.write_text(yaml.safe_dump(data))
    runs = tmp_path / "runs"
    proc = _start(sweep, runs)
    try:
        run_dir = _wait(lambda: next(iter(runs.glob("*/plan.json")), None), 60, "the run", proc).parent
        _wait(lambda: list(run_dir.glob("cells/aws-m5-1.*SingleStream/cell.json")), 300, "the first cell", proc)
        _wait(lambda: imds.reads > 0, 120, "the second cell's follower to read the metadata service", proc)
        (victim,) = [i for i in tagged_instances(run_dir.name, states=["running", "pending"])
                     if {"Key": "benchfleet-host", "Value": "aws-m5-1"} in i["Tags"]]
        imds.action = {"action": "terminate", "time": "2026-12-04T16:40:00Z"}
        noticed = time.time()
        lost = "aws-m5-1.resnet50.onnxruntime-cpu.open.MultiStream"

        def preempted():
            f = run_dir / "status" / f"{lost}.json"
            st = json.loads(f.read_text()) if f.is_file() else {}
            return st if st.get("state") == "failed" and st.get("kind") == "preempted" else None

        st = _wait(preempted, 30, "the cell marked preempted within 30 s of the notice", proc)
        assert time.time() - noticed < 30 and "AWS spot interruption notice: terminate" in st["message"]
        imds.action = None  # AWS takes the instance back; its replacement has no notice
        ec2().terminate_instances(InstanceIds=[victim["InstanceId"]])
        out, _ = proc.communicate(timeout=900)
    finally:
        imds.server.shutdown()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "round 2: 1 cell(s) lost with their instance" in out
    rec = json.loads((run_dir / "cells" / lost / "cell.json").read_text())
    assert rec["instance"] and rec["instance"] != victim["InstanceId"]  # all of it on the new instance
    summary = json.loads((run_dir / "results.json").read_text())
    assert summary["cells"]["done"] == 2 and not summary["failures"]
    assert run_resources(run_dir.name) == []
