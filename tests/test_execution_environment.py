"""The execution environment for AWX / Ansible Automation Platform: ansible-builder makes its build context (the
image itself needs a container engine, which this machine has not), and what that context holds builds: the
collection with ansible-galaxy, the package with pip."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

from tests.conftest import ROOT

BIN = Path(sys.executable).parent


def test_ansible_builder_creates_a_context_whose_collection_and_package_build(tmp_path):
    ctx = tmp_path / "context"
    out = subprocess.run([str(BIN / "ansible-builder"), "create", "-f", str(ROOT / "execution-environment.yml"),
                          "-c", str(ctx)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    steps = (ctx / "Dockerfile").read_text()
    assert "pip install --no-cache-dir '/build/benchfleet[controller,cloud]'" in steps
    assert "ansible-galaxy collection install /tmp/bf-collection/benchfleet-mlperf-" in steps
    assert "ansible-runner" in steps and "ansible-core" in steps
    src = ctx / "_build" / "benchfleet"
    for part in ("pyproject.toml", "galaxy.yml", "src/benchfleet/cli.py", "playbooks/sweep.yml",
                 "roles/benchfleet_harness/tasks/main.yml", "plugins/callback/benchfleet_submission.py"):
        assert (src / part).is_file(), part
    assert not (src / "tests").exists() and not (src / ".venv").exists()
    built = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", str(src), "--output-path",
                            str(tmp_path / "coll")], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    (archive,) = (tmp_path / "coll").glob("benchfleet-mlperf-*.tar.gz")
    with tarfile.open(archive) as t:
        names = set(t.getnames())
    assert {"plugins/modules/harness_cell.py", "roles/benchfleet_benchmark/tasks/cell.yml",
            "playbooks/sweep.yml"} <= names
    wheel = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                            str(tmp_path / "wheel"), str(src)], capture_output=True, text=True, timeout=300)
    assert wheel.returncode == 0, wheel.stdout + wheel.stderr
    (whl,) = (tmp_path / "wheel").glob("benchfleet-*.whl")
    import zipfile

    inside = set(zipfile.ZipFile(whl).namelist())
    assert {"benchfleet/cli.py", "benchfleet/ansible_content/playbooks/sweep.yml"} <= inside
