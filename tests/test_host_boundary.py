"""The host boundary: the cell folder's names are spelled once on each side, and the modules declare
their arguments (issue 14, place 3)."""

from __future__ import annotations

import configparser
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from benchfleet.harness import run as harness_run
from benchfleet.runner import ansible_env
from tests.conftest import ROOT

MODULE_UTILS = ROOT / "plugins" / "module_utils"


def _cell_folder():
    """plugins/module_utils/_cell_folder.py (standard library only), loaded without Ansible."""
    spec = importlib.util.spec_from_file_location("benchfleet_cell_folder", MODULE_UTILS / "_cell_folder.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _ansible(env: dict, module: str, args: dict) -> tuple[int, str]:
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible"), "localhost", "-c", "local", "-o",
                           "-m", module, "-a", json.dumps(args)],
                          capture_output=True, text=True, env={**os.environ, **env}, timeout=120)
    return proc.returncode, proc.stdout + proc.stderr


def test_the_harness_and_the_module_name_the_same_files():
    """The harness (no Ansible on the host) keeps its own copy of what it writes beside results/."""
    assert harness_run.CELL_FILES == _cell_folder().HARNESS_WRITES


def test_the_module_starts_the_harness_as_its_command_line_expects():
    folder = _cell_folder()
    assert f"-m {folder.HARNESS_MODULE} --spec {folder.SPEC} --out {folder.RESULTS} " in folder.SCRIPT
    assert importlib.util.find_spec(f"{folder.HARNESS_MODULE}.__main__") is not None
    # what the harness writes is cleared before a restart, so an earlier attempt is not read as this one's
    assert set(folder.HARNESS_WRITES.values()) <= set(folder.FRESH_START)


def test_no_module_spells_a_cell_file_name():
    folder = _cell_folder()
    names = {folder.SPEC, folder.RC, folder.PROGRESS, folder.MEASURING, folder.HEARTBEAT, folder.CURSOR,
             folder.ARCHIVE, folder.STDERR, folder.STDOUT}
    text = (ROOT / "plugins" / "modules" / "harness_cell.py").read_text()
    code = text[text.index("\nimport "):]  # the documentation may name them
    assert [n for n in names if f'"{n}"' in code or f"'{n}'" in code] == []


def test_the_follower_cursor_and_exit_status(tmp_path):
    cell = _cell_folder().CellFolder(str(tmp_path))
    assert cell.rc() is None and cell.new_lines() == [] and cell.last_line() == ""
    (tmp_path / "progress.log").write_text("10:00:00 one\n10:00:01 two\n")
    assert cell.new_lines(peek=True) == ["10:00:00 one", "10:00:01 two"]
    assert cell.new_lines() == ["10:00:00 one", "10:00:01 two"]
    assert cell.new_lines() == [] and cell.last_line() == "10:00:01 two"
    (tmp_path / "rc").write_text("-9\n")
    assert cell.rc() == -9 and not cell.done() and set(cell.times()) == {"ended_at"}


def test_module_utils_is_where_ansible_cfg_says_and_every_module_is_in_the_group():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "ansible.cfg")
    assert (ROOT / cfg["defaults"]["module_utils"]).is_dir()
    runtime = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())
    modules = {p.stem for p in (ROOT / "plugins" / "modules").glob("*.py")}
    assert set(runtime["action_groups"]["benchfleet"]) == modules


def test_the_modules_and_the_action_refuse_arguments_they_do_not_declare(tmp_path):
    env = ansible_env(tmp_path / "private")
    rc, out = _ansible(env, "benchfleet.mlperf.harness_cell", {"path": str(tmp_path / "cell"), "state": "started"})
    assert rc != 0 and "missing: spec, python" in out, out
    assert not (tmp_path / "cell").exists()
    rc, out = _ansible(env, "benchfleet.mlperf.cell_fetch",
                       {"src": "/x/results.tgz", "sha256": "0" * 64, "dest": str(tmp_path / "d"), "limit": {}})
    assert rc != 0 and "Unsupported parameters" in out and "limit" in out, out
    rc, out = _ansible(env, "benchfleet.mlperf.cell_fetch", {"src": "/x/results.tgz", "dest": str(tmp_path / "d")})
    assert rc != 0 and "missing required arguments: sha256" in out, out


def test_host_facts_reads_a_real_h200s_nvidia_smi_and_the_system_is_described_from_it(tmp_path):
    """nvidia-smi's output as an NVIDIA H200 host printed it (bench/gpu_check.sh, 2026-12-04), served by a stand-in
    on PATH: the module reports the GPU, its memory, driver and CUDA version, and the system description and id
    take them."""
    from benchfleet.submission.system import describe, system_id

    fixtures = ROOT / "tests" / "fixtures" / "nvidia-smi"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text(f"""#!/bin/sh
case "$*" in
  *--query-gpu=name,memory.total,driver_version*) cat '{fixtures / "h200-query.csv"}' ;;
  "") cat '{fixtures / "h200.txt"}' ;;
  *) exit 6 ;;
esac
""")
    smi.chmod(0o755)
    env = {**ansible_env(tmp_path / "private"), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    rc, out = _ansible(env, "benchfleet.mlperf.host_facts", {"python": ""})
    assert rc == 0, out
    facts = json.loads(out.split("=>", 1)[1].splitlines()[0])["ansible_facts"]["benchfleet_host"]
    assert facts["gpus"] == [{"name": "NVIDIA H200", "memory_mib": 143771, "driver": "580.159.04"}]
    assert facts["cuda_version"] == "13.0"
    facts = {**facts, "cpu_model": "Intel(R) Xeon(R) Processor", "vcpus": 16}
    assert system_id(facts, "pytorch", "cuda") == "Intel_Xeon_16c_1xH200_pytorch_cuda"  # as the H200 host's tree
    values = describe(facts, division="closed", submitter="benchfleet", framework="PyTorch 2.11.0", software="",
                      synthetic=True, device="cuda").values
    assert values["accelerator_model_name"] == "NVIDIA H200" and values["accelerators_per_node"] == "1"
    assert values["accelerator_memory_capacity"] == "140 GB"


def test_interruption_notices_of_each_cloud_are_read_as_their_metadata_services_give_them():
    """GCP's instance/preempted, Azure's Scheduled Events and Alibaba Cloud's spot termination-time (AWS's
    spot/instance-action: test_cloud_aws), each from a local server speaking that metadata API; no notice while there
    is none, nor when nothing answers."""
    import http.server
    import threading

    spec = importlib.util.spec_from_file_location("benchfleet_preemption", MODULE_UTILS / "_preemption.py")
    pre = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pre)
    state = {"gcp": "FALSE", "azure": [], "alibaba": ""}

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            if self.path == "/computeMetadata/v1/instance/preempted" and self.headers.get("Metadata-Flavor") == \
                    "Google":
                body = state["gcp"]
            elif self.path == "/metadata/scheduledevents?api-version=2020-07-01" and \
                    self.headers.get("Metadata") == "true":
                body = json.dumps({"DocumentIncarnation": 2, "Events": state["azure"]})
            elif self.path == "/latest/meta-data/instance/spot/termination-time" and state["alibaba"]:
                body = state["alibaba"]
            else:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert pre.notice("gcp", url) == "" and pre.notice("azure", url) == "" and pre.notice("alibaba", url) == ""
        state["azure"] = [{"EventId": "f020ba2e", "EventType": "Freeze", "NotBefore": "Fri, 04 Dec 2026 16:40:00 GMT"}]
        assert pre.notice("azure", url) == ""  # maintenance, not an eviction
        state["azure"].append({"EventId": "a1b2", "EventType": "Preempt", "NotBefore": "Fri, 04 Dec 2026 16:41:00 GMT"})
        state["gcp"] = "TRUE"
        assert pre.notice("gcp", url) == "GCP preemption notice: instance/preempted is TRUE"
        assert pre.notice("azure", url) == "Azure Scheduled Event Preempt, not before Fri, 04 Dec 2026 16:41:00 GMT"
        assert pre.notice("aws", url) == ""  # no instance-action there
        state["alibaba"] = "2026-12-04T16:41:00Z"  # Alibaba Cloud: 404 until the spot instance is to be released
        assert pre.notice("alibaba", url) == "Alibaba Cloud spot release notice: to be released at 2026-12-04T16:41:00Z"
    finally:
        server.shutdown()
    assert pre.notice("gcp", url) == ""  # nothing answers


def test_the_benchmark_role_asks_for_a_preemption_notice_only_where_the_module_reads_one():
    """A spot instance's cell passes its cloud to harness_cell only where the module knows that cloud's notice
    (OCI's metadata gives none: an OCI spot cell passed 'oci' and failed the module's argument check)."""
    import re

    import yaml

    from benchfleet.cloud.fleet import PROVIDERS

    spec = importlib.util.spec_from_file_location("benchfleet_preemption2", MODULE_UTILS / "_preemption.py")
    pre = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pre)
    clouds = yaml.safe_load((ROOT / "roles" / "benchfleet_benchmark" / "defaults" / "main.yml").read_text())[
        "benchfleet_benchmark_notice_clouds"]
    module = (ROOT / "plugins" / "modules" / "harness_cell.py").read_text()
    choices = re.search(r'provider=dict\(type="str", required=True,\s+choices=(\[[^]]*\])', module).group(1)
    assert sorted(clouds) == sorted(json.loads(choices)) == sorted(pre.BASES)
    assert set(PROVIDERS) - set(clouds) == {"ovh", "oci"}  # OVHcloud has no spot; OCI no notice
