"""Host setup roles (playbooks/setup.yml): twice on localhost and on an SSH test host with no route to any
registry (offline mode; the second run changes nothing), the NVIDIA role's plan for recorded hosts of three
distributions, a sweep that sets its host up before its cell, and the system description the roles' facts give
for this machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from benchfleet import hostsetup
from benchfleet.runner import ansible_env
from tests.sshfleet import Fleet

ROOT = Path(__file__).resolve().parents[1]
FACTS = Path(__file__).resolve().parent / "fixtures" / "hostfacts"


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheelhouse")
    hostsetup.bundle(out, log=lambda m: None)
    return out


def _nvidia_plan(tmp_path: Path, facts: dict, check: bool = True) -> tuple[int, dict]:
    """Run only the NVIDIA role on localhost with the given host facts; returns (rc, task name -> result)."""
    return _run_role(tmp_path, "benchfleet_nvidia", {"benchfleet_nvidia_facts": facts,
                                                     "benchfleet_nvidia_plan_only": check}, check)


def _run_role(tmp_path: Path, role: str, extravars: dict, check: bool) -> tuple[int, dict]:
    import ansible_runner

    play = tmp_path / "role.yml"
    play.write_text(yaml.safe_dump([{"name": "one role", "hosts": "localhost", "gather_facts": False,
                                     "roles": [role]}]))
    tasks: dict[str, dict] = {}

    def on_event(e: dict) -> bool:
        d = e.get("event_data") or {}
        if e.get("event") in ("runner_on_ok", "runner_on_failed", "runner_on_skipped"):
            tasks[d["task"]] = {**(d.get("res") or {}), "skipped": e["event"] == "runner_on_skipped"}
        return False

    r = ansible_runner.run(private_data_dir=str(tmp_path / "private"), playbook=str(play), inventory="localhost,",
                           extravars=extravars,
                           envvars=ansible_env(tmp_path / "private"),
                           cmdline="-c local" + (" --check" if check else ""), quiet=True, event_handler=on_event)
    return r.rc, tasks


@pytest.mark.parametrize(("distro", "manager", "repository", "prerequisites"), [
    ("ubuntu-22.04", "apt", "https://developer.download.nvidia.com/compute/cuda/repos/ubuntu2204/x86_64/"
                            "cuda-keyring_1.1-1_all.deb", ["linux-headers-generic"]),
    ("debian-12", "apt", "https://developer.download.nvidia.com/compute/cuda/repos/debian12/x86_64/"
                         "cuda-keyring_1.1-1_all.deb", ["linux-headers-amd64"]),
    ("rocky-9", "dnf", "https://developer.download.nvidia.com/compute/cuda/repos/rhel9/x86_64/cuda-rhel9.repo",
     ["kernel-devel", "kernel-headers", "epel-release"]),
])
def test_nvidia_role_plans_packages_for_recorded_hosts(distro, manager, repository, prerequisites, tmp_path):
    facts = json.loads((FACTS / f"{distro}.json").read_text())
    rc, tasks = _nvidia_plan(tmp_path, facts)
    assert rc == 0, tasks
    plan = tasks["Plan the driver and CUDA runtime for this distribution"]["ansible_facts"]["benchfleet_nvidia_plan"]
    assert plan == {"distro": "rhel-9" if distro == "rocky-9" else distro, "needed": True, "gpus_on_pci": 2,
                    "driver_loaded": False, "manager": manager, "repository": repository,
                    "prerequisites": prerequisites, "packages": ["cuda-drivers", "cuda-runtime-12-8"]}
    ran = [name for name, t in tasks.items() if not t["skipped"] and not name.startswith("Validating arguments")]
    assert ran == ["Plan the driver and CUDA runtime for this distribution", "Report the plan"]  # plan only


def test_nvidia_role_skips_hosts_without_a_gpu_and_refuses_unknown_distributions(tmp_path):
    no_gpu = {**json.loads((FACTS / "debian-12.json").read_text()), "pci_gpus": []}
    rc, tasks = _nvidia_plan(tmp_path, no_gpu, check=False)  # not plan-only, not check mode: a real run
    assert rc == 0 and tasks["Plan the driver and CUDA runtime for this distribution"]["ansible_facts"][
        "benchfleet_nvidia_plan"]["needed"] is False
    arch = {**json.loads((FACTS / "debian-12.json").read_text()), "os_id": "arch", "os_version": ""}
    rc, tasks = _nvidia_plan(tmp_path, arch)
    assert rc != 0
    msg = tasks["Refuse an NVIDIA host on a distribution without a plan"]["msg"]
    assert "arch- has an NVIDIA GPU but no NVIDIA repository entry; supported: ubuntu-22.04" in msg


def test_frameworks_role_adds_what_each_benchmark_needs(tmp_path):
    """The host's benchmarks pick extra packages (RNN-T: torch and its audio/text libraries); others add none."""
    rc, tasks = _run_role(tmp_path, "benchfleet_frameworks", {
        "benchfleet_frameworks_venv": sys.prefix, "benchfleet_frameworks_device": "cpu",
        "ansible_python_interpreter": sys.executable,
        "benchfleet_frameworks_backends": ["onnxruntime"],
        "benchfleet_frameworks_benchmarks": ["resnet50", "rnnt", "3d-unet-99"]}, check=True)
    assert rc == 0, tasks
    extra = tasks["Install what the host's benchmarks need beyond their backends"]
    assert [r["item"] for r in extra["results"]] == ["rnnt", "3d-unet-99"]
    assert [r["invocation"]["module_args"]["name"] for r in extra["results"]] == [
        ["torch==2.13.0", "soundfile==0.14.0", "inflect==7.6.0", "Unidecode==1.4.0"],
        ["nibabel==5.4.2", "scipy==1.17.1"]]


def test_python_role_says_what_is_wrong_with_the_system_python(tmp_path):
    rc, tasks = _run_role(tmp_path, "benchfleet_python", {
        "benchfleet_python_venv": str(tmp_path / ".benchfleet" / "venv"),  # the set-up play passes it
        "benchfleet_python_interpreter": "/usr/bin/python2.1"}, False)
    assert rc != 0
    msg = tasks["Stop without a usable system Python"]["msg"]
    assert msg.startswith("/usr/bin/python2.1 on this host is missing, older than 3.10, or has no venv module "
                          "(Debian/Ubuntu: apt install python3-venv")
    assert not (tmp_path / ".benchfleet").exists()  # nothing was created


def _inventory(path: Path, fleet: Fleet, tmp_path: Path, local: bool = True) -> Path:
    fleet.inventory(path)
    inv = yaml.safe_load(path.read_text())
    for name, hv in inv["all"]["children"]["lab"]["hosts"].items():
        hv.update(benchfleet_setup_venv_path=str(fleet.host(name).root / "venv"),
                  benchfleet_setup_wheelhouse_path=str(fleet.host(name).root / "wheels"),
                  benchfleet_assets_root=str(fleet.host(name).root))
    if local:
        inv["all"]["hosts"] = {"localhost": {
            "ansible_connection": "local", "benchfleet_setup_venv_path": str(tmp_path / "local-venv"),
            "benchfleet_setup_wheelhouse_path": str(tmp_path / "local-wheels"),
            "benchfleet_assets_root": str(tmp_path)}}
    path.write_text(yaml.safe_dump(inv))
    return path


def _sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


@pytest.fixture()
def airgap(tmp_path):
    """A host in a network namespace whose only link is to this machine: no route to any registry."""
    if os.geteuid() != 0:
        pytest.skip("needs root for ip netns")
    tag = uuid.uuid4().hex[:6]
    ns, a, b = f"bfair{tag}", f"bfa{tag}", f"bfb{tag}"
    _sh("ip", "netns", "add", ns)
    try:
        _sh("ip", "link", "add", a, "type", "veth", "peer", "name", b)
        _sh("ip", "link", "set", b, "netns", ns)
        _sh("ip", "addr", "add", "10.213.0.1/30", "dev", a)
        _sh("ip", "link", "set", a, "up")
        _sh("ip", "netns", "exec", ns, "ip", "addr", "add", "10.213.0.2/30", "dev", b)
        _sh("ip", "netns", "exec", ns, "ip", "link", "set", b, "up")
        _sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        fleet = Fleet.start(tmp_path / "fleet", 0)
        # The host's own pip configuration names the public registry, as on any fresh machine.
        fleet.add("airgapped", "10.213.0.2", netns=ns, env={
            "PIP_CONFIG_FILE": "/dev/null", "PIP_INDEX_URL": "https://pypi.org/simple", "PIP_RETRIES": "0",
            "PIP_TIMEOUT": "5"})
        yield ns, fleet
        fleet.stop()
    finally:
        subprocess.run(["ip", "link", "del", a], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@pytest.fixture()
def ssh_host(request, tmp_path):
    """The set-up test's SSH host: as root, the airgapped one (no route to any registry); otherwise a loopback
    host (the wheelhouse is used all the same, but nothing shows it has to be)."""
    if os.geteuid() == 0:
        ns, fleet = request.getfixturevalue("airgap")
        yield fleet, "airgapped", ns
        return
    fleet = Fleet.start(tmp_path / "fleet", 1)
    yield fleet, "node1", None
    fleet.stop()


def test_setup_twice_on_localhost_and_a_host_without_a_route_changes_nothing_the_second_time(
        ssh_host, wheelhouse, cache_dir, tmp_path):
    """localhost and one SSH host (each connection kind once); the SSH host has no route to any registry (as root),
    so what it gets comes from the wheelhouse (offline mode)."""
    fleet, name, ns = ssh_host
    if ns:
        out = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c",
                              "import socket; socket.create_connection(('151.101.0.223', 443), timeout=3)"],
                             capture_output=True, text=True)
        assert "Network is unreachable" in out.stderr  # no route out: not to PyPI, not anywhere
    inv = _inventory(tmp_path / "inventory.yml", fleet, tmp_path)
    hosts = ["localhost", name]
    remote = fleet.host(name).root
    # an "official" model in the controller's cache goes to every host's cache, checked by sha256
    cache = tmp_path / "controller-cache"
    (cache / "models").mkdir(parents=True)
    (cache / "models" / "resnet50_v1.onnx").write_bytes(os.urandom(300_000))
    (cache / "synthetic").mkdir()
    (cache / "synthetic" / "made-on-each-host.onnx").write_bytes(b"x")
    push = hostsetup.cache_manifest(cache, dest_root="cache")  # under each host's benchfleet_assets_root
    assert [p["dest"].rsplit("/", 2)[-2:] for p in push] == [["models", "resnet50_v1.onnx"]]
    kw = {"offline": wheelhouse, "push": push, "log": lambda m: None}
    check = hostsetup.setup(inv, tmp_path / "work", check=True, **kw)
    assert check.rc == 0, check.messages
    assert all(check.changed.get(h, 0) > 0 for h in hosts), check.changed  # it says what it would do
    assert not (tmp_path / "local-venv").exists() and not (remote / "venv").exists()

    if ns:  # without the wheelhouse, the host without a route fails where it would reach the registry
        online = hostsetup.setup(inv, tmp_path / "work", limit=[name], log=lambda m: None)
        assert online.rc != 0 and online.failed.get(name)
        assert any("Install the pinned packages" in m for m in online.messages), online.messages

    # A sweep with `setup: always` sets the host up first (from the wheelhouse), then runs its cell in its venv.
    _sweep_with_setup(wheelhouse, cache_dir, tmp_path, fleet, inv, name)

    first = hostsetup.setup(inv, tmp_path / "work", **kw)
    assert first.rc == 0, first.messages
    assert first.changed.get("localhost", 0) >= 5, first.changed  # wheels, venv, packages, harness
    assert first.changed.get(name, 0) >= 1, first.changed  # only the model pushed: the sweep set up the rest
    pushed = remote / "cache" / "models" / "resnet50_v1.onnx"
    assert pushed.read_bytes() == (cache / "models" / "resnet50_v1.onnx").read_bytes()
    second = hostsetup.setup(inv, tmp_path / "work", **kw)
    assert second.rc == 0, second.messages
    assert {h: second.changed.get(h, 0) for h in hosts} == {h: 0 for h in hosts}
    assert {h: second.failed.get(h, 0) for h in hosts} == {h: 0 for h in hosts}
    for venv in (tmp_path / "local-venv", remote / "venv"):
        out = subprocess.run([str(venv / "bin" / "python"), "-c",
                              "import benchfleet, mlperf_loadgen, onnxruntime; print(onnxruntime.__version__)"],
                             capture_output=True, text=True)
        assert out.stdout.strip() == "1.32.0", out.stderr
    assert second.facts[name]["harness"]["ok"]  # the harness probe passes in the new venv, on the host

    # The system description from these facts passes the checker's system rules and names this CPU.
    from benchfleet.rules import get_round
    from benchfleet.submission.check import Checker
    from benchfleet.submission.system import describe

    facts = second.facts["localhost"]
    desc = describe(facts, division="closed", submitter="TestLab", framework="onnxruntime 1.32.0",
                    software="benchfleet", synthetic=False)
    path = tmp_path / "system.json"
    path.write_text(json.dumps(desc.values))
    checker = Checker(tmp_path, get_round("v3.1"))
    checker.check_system(path, "closed", "TestLab")
    assert not [f for f in checker.report.findings if f.level == "ERROR"], checker.report.findings
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("model name"))
    assert desc.values["host_processor_model_name"] == model
    assert int(desc.values["host_processor_core_count"]) == facts["cores_per_socket"] * facts["sockets"]
    assert facts["vcpus"] == os.cpu_count()


def _sweep_with_setup(wheelhouse: Path, cache_dir: Path, tmp_path: Path, fleet: Fleet, inv: Path, host: str) -> None:
    """A sweep over ``host`` with `setup: always`: it sets the host up first, then runs its cell in its venv."""
    data = yaml.safe_load(inv.read_text())
    del data["all"]["vars"]["benchfleet_harness_python"]  # the sweep's set-up decides
    data["all"].pop("hosts", None)  # the SSH host only
    sweep_inv = tmp_path / "sweep-inventory.yml"
    sweep_inv.write_text(yaml.safe_dump(data))
    sweep = tmp_path / "lab.yml"
    sweep.write_text(yaml.safe_dump({
        "submitter": "TestLab", "scenarios": ["SingleStream"], "model": "synthetic", "dataset": "synthetic",
        "synthetic_width": 2, "dataset_count": 32, "cache_dir": str(cache_dir), "defaults": {"threads": 1},
        "setup": "always", "setup_wheelhouse": str(wheelhouse), "systems": [{"name": "lab", "hosts": ["lab"]}]}))
    runs = tmp_path / "runs"
    venv_python = fleet.host(host).root / "venv" / "bin" / "python"
    assert not venv_python.exists() or subprocess.run([str(venv_python), "-c", "import benchfleet"],
                                                      capture_output=True).returncode != 0  # not set up yet
    out = subprocess.run([str(Path(sys.executable).parent / "benchfleet"), "sweep", str(sweep), "--inventory",
                          str(sweep_inv), "--runs-dir", str(runs)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert venv_python.exists()
    (run_dir,) = runs.iterdir()
    facts = json.loads((run_dir / "hosts" / f"{host}.json").read_text())["facts"]
    assert facts["harness"]["python"] == str(venv_python) and facts["harness"]["ok"]
    assert json.loads((run_dir / "results.json").read_text())["cells"]["done"] == 1
