"""Trust at the Ansible boundary: SSH host keys are checked, user text is data (never Jinja run on the
controller), and benchfleet runs the playbooks it was installed with, never the current folder's."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from benchfleet.runner import ansible_env
from benchfleet.sweep.execute import follow_min_wait_s
from tests.conftest import ROOT
from tests.sshfleet import Fleet

VENV_BIN = Path(sys.executable).parent
BENCHFLEET = str(VENV_BIN / "benchfleet")
# Runs `touch $BF_PROOF` on the controller if anything renders it. No slash in it: it is also a folder name.
PAYLOAD = "{{ lookup('pipe', 'touch $BF_PROOF') }}"


def _proof_env(tmp_path: Path) -> tuple[dict, Path]:
    proof = tmp_path / "PROOF"
    return {**os.environ, "BF_PROOF": str(proof)}, proof


def _hostile_paths(tmp_path: Path) -> dict[str, Path]:
    """A model file, a dataset folder and a cache folder that exist, each with the payload in its name."""
    root = tmp_path / "inputs"
    paths = {"model": root / f"m{PAYLOAD}.onnx", "dataset": root / f"d{PAYLOAD}", "cache_dir": root / f"c{PAYLOAD}",
             "wheelhouse": root / f"w{PAYLOAD}"}
    for k, p in paths.items():
        if k == "model":
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(b"not a model")
        else:
            p.mkdir(parents=True)
    return paths


# --- user text is data ------------------------------------------------------------------------------------------

def test_command_line_text_reaches_ansible_as_data(tmp_path):
    env, proof = _proof_env(tmp_path)
    p = _hostile_paths(tmp_path)
    out = tmp_path / "run"
    proc = subprocess.run([BENCHFLEET, "run", "--check", "--synthetic-width", "8", "--out", str(out), "--run-id", "chk",
                           "--model", str(p["model"]), "--dataset", str(p["dataset"]),
                           "--cache-dir", str(p["cache_dir"])], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "check mode: Ansible reported what would change for 1 cells (rc 0)" in proc.stdout
    assert not proof.exists(), "a command-line value was rendered as Jinja on the controller"
    # The values reach Ansible whole, marked !unsafe (the cell spec the module writes is the user's text).
    extravars = (out / "ansible" / "env" / "extravars").read_text()
    assert f'!unsafe "{p["model"]}"' in extravars
    spec = yaml.safe_load(extravars.replace("!unsafe ", ""))["benchfleet_sweep_cells"]["localhost"][0]["spec"]
    assert (spec["model"], spec["dataset"], spec["cache_dir"]) == (str(p["model"]), str(p["dataset"]),
                                                                   str(p["cache_dir"]))
    # one host: a follow call returns at new progress after 5 s (a large fleet's after longer: follow_min_wait_s)
    assert yaml.safe_load(extravars.replace("!unsafe ", ""))["benchfleet_benchmark_min_wait_s"] == 5
    assert [follow_min_wait_s(n) for n in (1, 40, 64, 1000)] == [5, 5, 8, 30]

    # --run-id: refused as a run id, or taken as data; never run.
    proc = subprocess.run([BENCHFLEET, "run", "--check", "--synthetic-width", "8", "--out", str(tmp_path / "run2"),
                           "--run-id", PAYLOAD.replace(" ", ""), "--cache-dir", str(tmp_path / "cache")],
                          capture_output=True, text=True, cwd=tmp_path, env=env)
    assert not proof.exists(), "--run-id was rendered as Jinja on the controller: " + proc.stdout + proc.stderr


def test_sweep_file_text_reaches_ansible_as_data(tmp_path):
    """model, dataset, cache_dir and setup_wheelhouse of a sweep file, through the real playbook (check mode, so the
    set-up roles plan their work on localhost and change nothing)."""
    from benchfleet.sweep import execute
    from benchfleet.sweep.plan import expand
    from benchfleet.sweep.rundir import RunDir
    from benchfleet.sweep.schema import load

    env, proof = _proof_env(tmp_path)
    os.environ["BF_PROOF"] = env["BF_PROOF"]
    try:
        p = _hostile_paths(tmp_path)
        sweep = tmp_path / "lab.yml"
        sweep.write_text(yaml.safe_dump({
            "submitter": "TestLab", "division": "open", "scenarios": ["SingleStream"], "model": str(p["model"]),
            "dataset": str(p["dataset"]), "cache_dir": str(p["cache_dir"]), "setup": "always",
            "setup_wheelhouse": str(p["wheelhouse"]),
            "systems": [{"name": "local", "hosts": ["all"]}],
        }))
        inventory = ROOT / "inventories" / "local"
        plan = expand(load(str(sweep)), inventory, "hostile")
        rd = RunDir(tmp_path / "runs" / "hostile")
        execute.prepare(rd, plan, sweep.read_text())
        out = execute.run(rd, inventory=inventory, check=True, live=False, stream=open(os.devnull, "w"))
    finally:
        os.environ.pop("BF_PROOF", None)
    assert out.ran, out
    assert not proof.exists(), "a sweep-file value was rendered as Jinja on the controller"
    extravars = (rd.root / "ansible" / "env" / "extravars").read_text()
    assert f'benchfleet_setup_wheelhouse_src: !unsafe "{p["wheelhouse"]}"' in extravars


def test_cloud_vars_reach_ansible_as_data(tmp_path):
    """A cloud system's ``vars`` (sweep-file text) are host variables of the benchfleet_cloud inventory: data."""
    pytest.importorskip("moto")
    from benchfleet.cloud.base import TAG_HOST, TAG_OWNER, TAG_RUN, TAG_SYSTEM, owner
    from tests.cloudhosts import ec2, moto_ec2

    env, proof = _proof_env(tmp_path)
    with moto_ec2() as aws:
        ec2().run_instances(ImageId="ami-785db401", InstanceType="m5.large", MinCount=1, MaxCount=1, TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": TAG_RUN, "Value": "trust"}, {"Key": TAG_HOST, "Value": "vm1"},
                                                  {"Key": TAG_SYSTEM, "Value": "aws-m5"},
                                                  {"Key": TAG_OWNER, "Value": owner()}]}])
        known = tmp_path / "run" / "known_hosts"
        inv = tmp_path / "cloud.benchfleet_cloud.yml"
        inv.write_text(yaml.safe_dump({
            "plugin": "benchfleet.mlperf.benchfleet_cloud", "run": "trust", "known_hosts_file": str(known),
            "systems": [{"name": "aws-m5", "provider": "aws", "regions": ["us-east-1"], "ssh_user": "root",
                         "vars": {"hostile": PAYLOAD, "ansible_ssh_timeout": 1}}]}))
        play = tmp_path / "play.yml"
        play.write_text("- hosts: all\n  gather_facts: false\n  tasks:\n"
                        "    - {ansible.builtin.debug: {msg: 'value={{ hostile }}'}, delegate_to: localhost}\n"
                        "    - {ansible.builtin.ping: {}}\n")
        run_env = {**env, **aws, **ansible_env(tmp_path / "ansible", tmp_path / "run")}
        proc = subprocess.run([str(VENV_BIN / "ansible-playbook"), "-vvv", "-i", str(inv), str(play)],
                              capture_output=True, text=True, env=run_env, cwd=tmp_path, timeout=300)
        # Connection settings stay benchfleet's: a sweep file cannot make an instance the controller itself.
        bad = yaml.safe_load(inv.read_text())
        bad["systems"][0]["vars"] = {"ansible_connection": "local", "ansible_ssh_args": "-o StrictHostKeyChecking=no"}
        inv.write_text(yaml.safe_dump(bad))
        listed = subprocess.run([str(VENV_BIN / "ansible-inventory"), "-i", str(inv), "--list"], capture_output=True,
                                text=True, env=run_env, cwd=tmp_path, timeout=300)
    assert "vm1" not in json.loads(listed.stdout or "{}").get("_meta", {}).get("hostvars", {}), listed.stdout
    assert "ansible_connection, ansible_ssh_args may not be set by a sweep file" in listed.stderr.replace("\n", " "), \
        listed.stderr
    text = proc.stdout + proc.stderr
    assert not proof.exists(), "a cloud system's vars were rendered as Jinja on the controller"
    assert "value={{ lookup('pipe', 'touch $BF_PROOF') }}" in text, text[-3000:]
    # The instance's ssh command: first use accepted into the run's own known_hosts, never StrictHostKeyChecking=no
    # (ssh keeps the first value of an option).
    cmd = next(line for line in text.splitlines() if "SSH: EXEC ssh" in line)
    assert cmd.index("StrictHostKeyChecking=accept-new") < cmd.find("StrictHostKeyChecking=no") \
        if "StrictHostKeyChecking=no" in cmd else "StrictHostKeyChecking=accept-new" in cmd, cmd
    assert f"UserKnownHostsFile=\"{known}\"" in cmd.replace("'", ""), cmd


# --- SSH host keys ----------------------------------------------------------------------------------------------

@pytest.fixture()
def one_host(tmp_path):
    f = Fleet.start(tmp_path / "fleet", 1)
    yield f
    f.stop()


def _careless_inventory(fleet: Fleet, path: Path, known_hosts: Path) -> Path:
    """The fleet's inventory as a careless one: an empty known_hosts and StrictHostKeyChecking=no."""
    fleet.inventory(path)
    inv = yaml.safe_load(path.read_text())
    inv["all"]["vars"]["ansible_ssh_common_args"] = (f"-o StrictHostKeyChecking=no -o UserKnownHostsFile={known_hosts}")
    inv["all"]["vars"]["ansible_host_key_checking"] = False
    path.write_text(yaml.safe_dump(inv))
    return path


def _impostor(fleet: Fleet, name: str) -> None:
    """Someone else answers at the host's address, with another host key."""
    h = fleet.host(name)
    fleet.kill(name)
    h.host_key = fleet.root / "impostor_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(h.host_key)], check=True)
    fleet.up(name)


def test_lab_host_with_an_unknown_key_is_refused_with_the_fix(one_host, cache_dir, tmp_path):
    fleet = one_host
    h = fleet.hosts[0]
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    inv = _careless_inventory(fleet, tmp_path / "inventory.yml", empty)
    out = tmp_path / "run"
    base = [BENCHFLEET, "run", "--inventory", str(inv), "--synthetic-width", "8", "--cache-dir", str(cache_dir),
            "--out", str(out), "--run-id", "keys"]
    proc = subprocess.run(base, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode != 0
    assert "unreachable" in proc.stdout, proc.stdout + proc.stderr
    assert f"ssh-keyscan -H -p {h.port} 127.0.0.1 >> ~/.ssh/known_hosts" in proc.stdout, proc.stdout
    assert "--accept-new-host-keys" in proc.stdout
    assert not (out / "known_hosts").exists() and empty.read_text() == ""  # nothing was trusted

    # --accept-new-host-keys: trusted on first use, into the run's own known_hosts (check mode: nothing runs)
    proc = subprocess.run([*base, "--check", "--accept-new-host-keys"], capture_output=True, text=True, cwd=tmp_path,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    key = (fleet.root / "host_key.pub").read_text().split()[1]
    assert key in (out / "known_hosts").read_text()
    assert empty.read_text() == "" and not (Path.home() / ".ssh" / "known_hosts").is_file() or \
        key not in (Path.home() / ".ssh" / "known_hosts").read_text()

    # On the next connection another key answers at that address: refused, with or without the flag.
    _impostor(fleet, h.name)
    for extra in ([], ["--accept-new-host-keys"]):
        proc = subprocess.run([*base, *extra], capture_output=True, text=True, cwd=tmp_path, timeout=600)
        assert proc.returncode != 0
        assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in proc.stdout or "differs from the one recorded" in \
            proc.stdout, proc.stdout + proc.stderr
        assert not list((out / "cells").glob("*/results")), "the impostor ran a cell"


def test_cloud_instance_key_is_trusted_on_first_use_and_an_impostor_is_refused(one_host, tmp_path):
    """The options the benchfleet_cloud inventory gives every instance, through real Ansible and ssh."""
    from benchfleet.runner import cloud_ssh_args

    fleet = one_host
    h = fleet.hosts[0]
    known = tmp_path / "run" / "ssh" / "known_hosts"
    known.parent.mkdir(parents=True)
    inv = fleet.inventory(tmp_path / "inventory.yml")
    data = yaml.safe_load(inv.read_text())
    data["all"]["vars"]["ansible_ssh_args"] = cloud_ssh_args(str(known))
    data["all"]["vars"]["ansible_ssh_common_args"] = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
    inv.write_text(yaml.safe_dump(data))
    env = {**os.environ, **ansible_env(tmp_path / "ansible", tmp_path / "run")}

    def ping() -> subprocess.CompletedProcess:
        return subprocess.run([str(VENV_BIN / "ansible"), "all", "-i", str(inv), "-m", "ansible.builtin.ping", "-o"],
                              capture_output=True, text=True, env=env, timeout=300)

    first = ping()
    assert first.returncode == 0, first.stdout + first.stderr
    assert (fleet.root / "host_key.pub").read_text().split()[1] in known.read_text() or \
        f"[127.0.0.1]:{h.port}" in known.read_text()
    _impostor(fleet, h.name)
    second = ping()
    assert second.returncode != 0
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in second.stdout + second.stderr, second.stdout + second.stderr


def test_ssh_options_keep_checking_on_whatever_an_inventory_says(tmp_path):
    """ssh keeps the first value of an option: ours come first, so an inventory cannot turn checking off."""
    from benchfleet.runner import cloud_ssh_args, ssh_args

    def effective(*args: str) -> dict[str, str]:
        out = subprocess.run(["ssh", "-G", *args, "-o", "StrictHostKeyChecking=no", "-o",
                              "UserKnownHostsFile=/dev/null", "somehost"], capture_output=True, text=True, check=True)
        return dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)

    import shlex

    strict = effective(*shlex.split(ssh_args(tmp_path)))
    assert strict["stricthostkeychecking"] == "true"
    assert str(tmp_path / "known_hosts") in strict["globalknownhostsfile"]
    tofu = effective(*shlex.split(ssh_args(tmp_path, accept_new_host_keys=True)))
    assert tofu["stricthostkeychecking"] == "accept-new"
    assert tofu["userknownhostsfile"] == str(tmp_path / "known_hosts")
    assert str(Path.home() / ".ssh" / "known_hosts") in tofu["globalknownhostsfile"]  # a changed key is still refused
    cloud = effective(*shlex.split(cloud_ssh_args(str(tmp_path / "k"))))
    assert (cloud["stricthostkeychecking"], cloud["userknownhostsfile"]) == ("accept-new", str(tmp_path / "k"))
    # The ansible.cfg benchfleet ships agrees (for ansible-playbook run by hand from the collection).
    cfg = (ROOT / "ansible.cfg").read_text()
    assert "host_key_checking = True" in cfg and "StrictHostKeyChecking=yes" in cfg


# --- the playbooks come from the installed package ----------------------------------------------------------------

def _install_wheel(tmp_path: Path) -> Path:
    """benchfleet built as a wheel and installed (no dependencies: this venv has them) into its own folder."""
    src = tmp_path / "src-copy"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "ansible.cfg", "galaxy.yml"):
        shutil.copy(ROOT / name, src / name)
    for name in ("playbooks", "roles", "plugins", "inventories", "meta"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "src", src / "src", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w",
                    str(wheels), str(src)], check=True, capture_output=True, cwd=tmp_path, timeout=600)
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site),
                    *map(str, wheels.glob("benchfleet-*.whl"))], check=True, capture_output=True, timeout=600)
    return site


def test_playbooks_come_from_the_installed_package_not_the_current_folder(cache_dir, tmp_path):
    site = _install_wheel(tmp_path)
    # A folder with its own playbooks, roles and ansible.cfg: each would leave a PROOF file if used.
    hostile = tmp_path / "hostile"
    proof = tmp_path / "PROOF"
    touch = f"      ansible.builtin.command: touch {proof}\n      check_mode: false\n"
    for play in ("sweep.yml", "setup.yml"):
        (hostile / "playbooks").mkdir(parents=True, exist_ok=True)
        (hostile / "playbooks" / play).write_text("- hosts: all\n  gather_facts: false\n  tasks:\n"
                                                  f"    - name: hostile\n{touch}")
    (hostile / "ansible.cfg").write_text("[defaults]\ncallbacks_enabled = hostile\n")
    (hostile / "inventories" / "local").mkdir(parents=True)
    (hostile / "inventories" / "local" / "hosts.yml").write_text(
        "all:\n  hosts:\n    localhost: {ansible_connection: local, ansible_python_interpreter: "
        f"{sys.executable}}}\n")
    env = {k: v for k, v in os.environ.items() if k != "BENCHFLEET_HOME"}
    env["PYTHONPATH"] = str(site)
    proc = subprocess.run([sys.executable, "-m", "benchfleet.cli", "run", "--synthetic-width", "8", "--check",
                           "--out", str(tmp_path / "run"), "--run-id", "pkg", "--cache-dir", str(cache_dir)],
                          capture_output=True, text=True, cwd=hostile, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "check mode: Ansible reported what would change for 1 cells (rc 0)" in proc.stdout
    assert not proof.exists(), "benchfleet ran the current folder's playbook"
    assert (site / "benchfleet" / "ansible_content" / "playbooks" / "sweep.yml").is_file()
    assert (site / "benchfleet" / "ansible_content" / "roles" / "benchfleet_benchmark" / "tasks" / "cell.yml").is_file()
    command = json.loads(next((tmp_path / "run" / "ansible" / "artifacts").glob("*/command")).read_text())
    assert any(str(site / "benchfleet" / "ansible_content" / "playbooks" / "sweep.yml") in a
               for a in command["command"]), command["command"]


def test_the_cloud_inventory_lists_only_this_owners_instances(tmp_path):
    """An instance someone else tagged with this run's name never takes a plan host's name in the inventory."""
    pytest.importorskip("moto")
    from benchfleet.cloud.base import TAG_HOST, TAG_OWNER, TAG_RUN, TAG_SYSTEM, owner
    from tests.cloudhosts import ec2, moto_ec2

    def tagged(host: str, who: str) -> list[dict]:
        return [{"ResourceType": "instance", "Tags": [{"Key": TAG_RUN, "Value": "shared"}, {"Key": TAG_HOST,
                 "Value": host}, {"Key": TAG_SYSTEM, "Value": "aws-m5"}, {"Key": TAG_OWNER, "Value": who}]}]

    with moto_ec2() as aws:
        for host, who in (("mine-1", owner()), ("theirs-1", "mallory-at-elsewhere")):
            ec2().run_instances(ImageId="ami-785db401", InstanceType="m5.large", MinCount=1, MaxCount=1,
                                TagSpecifications=tagged(host, who))
        inv = tmp_path / "cloud.benchfleet_cloud.yml"
        inv.write_text(yaml.safe_dump({"plugin": "benchfleet.mlperf.benchfleet_cloud", "run": "shared",
                                       "systems": [{"name": "aws-m5", "provider": "aws", "regions": ["us-east-1"]}]}))
        env = {**os.environ, **aws, **ansible_env(tmp_path / "ansible", tmp_path / "run")}
        listed = subprocess.run([str(VENV_BIN / "ansible-inventory"), "-i", str(inv), "--list"], capture_output=True,
                                text=True, env=env, cwd=tmp_path, timeout=300)
    hostvars = json.loads(listed.stdout or "{}").get("_meta", {}).get("hostvars", {})
    assert "mine-1" in hostvars, listed.stdout + listed.stderr
    assert "theirs-1" not in hostvars, listed.stdout
