"""Input that should be refused is refused: through the real CLI, before anything is created or run.

Every case runs the ``benchfleet`` command line and expects exit code 2 with one line on stderr that
names the flag or sweep field and the fix. Most cases call ``benchfleet.cli.main`` in this process (what
the installed command runs: ``sys.exit(main())``); the cases about the process itself (the installed
command's exit status and stderr, a memory limit on the YAML alias bomb) run it as a user would, in a
subprocess. ``run`` cases pass a missing ``--inventory`` as well, so that a regression can never start
Ansible: a refusal must come before the inventory is read.
"""

from __future__ import annotations

import contextlib
import io
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from benchfleet.cli import main

BENCHFLEET = str(Path(sys.executable).with_name("benchfleet"))
GOOD = {"submitter": "MyLab", "systems": [{"name": "lab", "hosts": ["all"]}]}
CLOUD = {"provider": "aws", "regions": ["us-east-1"], "instance_type": "m5.large", "ssh_cidr": "198.51.100.7/32"}
NO_INVENTORY = "/no/such/inventory"


def _limit_memory() -> None:
    # 2 GiB of address space: an input that makes benchfleet grow fails here instead of on the machine.
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def process(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """The installed ``benchfleet`` command in its own process, under a 2 GiB memory limit."""
    return subprocess.run([BENCHFLEET, *args], capture_output=True, text=True, timeout=timeout,
                          preexec_fn=_limit_memory)


def cli(*args: str) -> subprocess.CompletedProcess:
    """``benchfleet.cli.main`` in this process: its return code (or SystemExit code), stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(list(args))
        except SystemExit as exc:  # argparse's own errors
            rc = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
    return subprocess.CompletedProcess(["benchfleet", *args], rc, out.getvalue(), err.getvalue())


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    # A regression that wrote a default runs/ folder would write it here, not in the checkout.
    monkeypatch.chdir(tmp_path)


def refused(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit 2, one line on stderr holding every needle, no pydantic wording, no traceback."""
    err = proc.stderr
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-2000:], err[-2000:])
    assert err.startswith("benchfleet: error: ") and err.count("\n") == 1, err
    for n in needles:
        assert n in err, err
    assert "Value error" not in err and "Traceback" not in err, err
    return err


def sweep_file(tmp_path: Path, text: str | bytes, name: str = "s.yml") -> Path:
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p


def check_sweep(tmp_path: Path, f: Path, *extra: str, run=cli) -> subprocess.CompletedProcess:
    return run("sweep", str(f), "--check", "--runs-dir", str(tmp_path / "runs"), *extra)


# --- the YAML itself ------------------------------------------------------------------------------------------

BOMB = """submitter: MyLab
systems:
  - name: aws
    cloud:
      provider: aws
      regions: [us-east-1]
      instance_type: m5.large
      ssh_cidr: 198.51.100.7/32
      vars:
        a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
        b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
        c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
        d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
        e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
        f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
        g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
        h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
        i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_a_yaml_alias_bomb_is_refused_at_its_first_anchor(tmp_path):
    assert len(BOMB) < 800
    f = sweep_file(tmp_path, BOMB)
    t0 = time.monotonic()
    proc = check_sweep(tmp_path, f, run=process)  # its own process, under the 2 GiB limit
    assert time.monotonic() - t0 < 60
    refused(proc, f"{f}: line 10: anchors and aliases (&a, *a) are not accepted in a sweep YAML file; "
                  "write each value out")
    assert not (tmp_path / "runs").exists()


def test_a_duplicate_key_is_refused_naming_the_key_and_both_lines(tmp_path):
    f = sweep_file(tmp_path, "submitter: MyLab\nmodel: official\nsystems: [{name: lab, hosts: [all]}]\n"
                             "model: synthetic\n")
    refused(check_sweep(tmp_path, f), f"{f}: line 4: duplicate key 'model' (first at line 2); "
                                      "give each key once")
    nested = sweep_file(tmp_path, "submitter: MyLab\nsystems:\n  - name: lab\n    hosts: [all]\n"
                                  "    name: other\n", "nested.yml")
    refused(check_sweep(tmp_path, nested), f"{nested}: line 5: duplicate key 'name' (first at line 3)")


def test_a_sweep_file_that_is_not_utf8_is_named_with_the_byte_offset(tmp_path):
    f = sweep_file(tmp_path, b"submitter: My\xffLab\nsystems: [{name: lab, hosts: [all]}]\n")
    refused(check_sweep(tmp_path, f), f"{f}: not UTF-8 text: byte 13 (0xff) cannot be decoded; "
                                      "save the file as UTF-8")


def test_a_folder_given_as_the_sweep_file_is_named_as_a_folder(tmp_path):
    folder = tmp_path / "sweeps"
    folder.mkdir()
    refused(check_sweep(tmp_path, folder), f"{folder}: is a folder; give the sweep YAML file")


# --- bounds ---------------------------------------------------------------------------------------------------

def _with(**kw) -> dict:
    d = yaml.safe_load(yaml.safe_dump(GOOD))
    d.update(kw)
    return d


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_with(dataset_count=10**9), "dataset_count: 1000000000 is out of range; allowed 1 to 330067"),
        (_with(synthetic_width=10**6), "synthetic_width: 1000000 is out of range; allowed 1 to 1024"),
        (_with(defaults={"threads": 100000}), "defaults.threads: 100000 is out of range; allowed 0 to 1024"),
        (_with(defaults={"batch": 10**6}), "defaults.batch: 1000000 is out of range; allowed 0 to 4096"),
        (_with(systems=[{"name": "lab", "hosts": ["all"], "overrides": {"threads": 5000}}]),
         "systems[0].overrides.threads: 5000 is out of range; allowed 0 to 1024"),
        (_with(cell_timeout_s=10**9), "cell_timeout_s: 1000000000 is out of range; allowed 0 to 604800"),
        (_with(systems=[{"name": "aws", "cloud": {**CLOUD, "count": 100000}}]),
         "systems[0].cloud.count: 100000 is out of range; allowed 1 to 64"),
        (_with(systems=[{"name": "aws", "cloud": {**CLOUD, "disk_gb": 10**7}}]),
         "systems[0].cloud.disk_gb: 10000000 is out of range; allowed 8 to 16384"),
    ],
)
def test_sizes_in_a_sweep_file_have_upper_bounds(data, message, tmp_path):
    f = sweep_file(tmp_path, yaml.safe_dump(data))
    refused(check_sweep(tmp_path, f), message)


def test_connection_variables_in_cloud_vars_are_refused_before_anything_is_created(tmp_path):
    hostile = {"ansible_connection": "local", "ansible_ssh_args": "-o StrictHostKeyChecking=no", "ansible_user": "u"}
    f = sweep_file(tmp_path, yaml.safe_dump(_with(systems=[{"name": "aws", "cloud": {**CLOUD, "vars": hostile}}])))
    refused(check_sweep(tmp_path, f), "systems[0].cloud.vars: ansible_connection, ansible_ssh_args may not be set by "
                                      "a sweep file")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--threads", "5000"], "--threads: 5000 is out of range; allowed 0 to 1024"),
        (["--dataset-count", "1000000000"], "--dataset-count: 1000000000 is out of range; allowed 1 to 330067"),
        (["--batch", "1000000"], "--batch: 1000000 is out of range; allowed 0 to 4096"),
        (["--threads", "-1"], "--threads: -1 is out of range; allowed 0 to 1024"),
    ],
)
def test_sizes_on_the_command_line_have_upper_bounds(args, message, tmp_path):
    refused(cli("run", *args, "--inventory", NO_INVENTORY, "--runs-dir", str(tmp_path / "runs")), message)
    assert not (tmp_path / "runs").exists()


# --- options that do not apply --------------------------------------------------------------------------------

def test_fp16_on_onnxruntime_is_refused_not_run_as_fp32(tmp_path):
    refused(cli("run", "--precision", "fp16", "--inventory", NO_INVENTORY),
            "--precision: fp16 applies to --backend pytorch only; ", "remove it or use --backend pytorch")
    f = sweep_file(tmp_path, yaml.safe_dump(_with(defaults={"precision": "bf16"})))
    refused(check_sweep(tmp_path, f), "defaults.precision: bf16 applies to backend pytorch only; system "
                                      "'lab' runs onnxruntime")


def test_scenarios_that_name_nothing_are_refused(tmp_path):
    refused(cli("run", "--scenarios", ",,,", "--inventory", NO_INVENTORY),
            "--scenarios: ',,,' names no scenario; give a comma list of SingleStream, MultiStream, Offline, "
            "Server, or leave --scenarios out")


# --- run ids --------------------------------------------------------------------------------------------------

BAD_IDS = ["../escape", "..", "a..b", "a/b", "my run", "-rf", "{{ lookup('pipe', 'id') }}", "x" * 65]
RULE = "1-64 letters, digits, '.', '_' or '-', starting with a letter or digit, without '..'"


@pytest.mark.parametrize("run_id", BAD_IDS)
def test_a_bad_run_id_is_refused_by_sweep(run_id, tmp_path):
    f = sweep_file(tmp_path, yaml.safe_dump(GOOD))
    refused(check_sweep(tmp_path, f, f"--run-id={run_id}"), f"--run-id: {run_id!r} is not a run id; use {RULE}")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("run_id", ["../escape", "-rf", "{{ x }}"])
def test_a_bad_run_id_is_refused_by_run_resume_and_status(run_id, tmp_path):
    runs = tmp_path / "runs"
    refused(cli("run", f"--run-id={run_id}", "--inventory", NO_INVENTORY, "--runs-dir", str(runs)),
            "--run-id: ", RULE)
    refused(cli("sweep", f"--resume={run_id}", "--runs-dir", str(runs)), "--resume: ", RULE)
    refused(cli("status", f"--runs-dir={runs}", "--", run_id), "run id: ", RULE)
    assert not runs.exists() and not (tmp_path / "escape").exists()


def test_the_default_run_id_from_an_odd_file_name_stays_inside_runs(tmp_path):
    f = sweep_file(tmp_path, yaml.safe_dump(GOOD), name="my lab {{x}}.yml")
    proc = check_sweep(tmp_path, f)
    assert proc.returncode == 0, proc.stderr
    assert "Plan for run my-lab-x-" in proc.stdout, proc.stdout


def test_a_run_directory_that_links_out_of_runs_is_refused(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (runs / "linked").symlink_to(outside)
    refused(cli("status", "linked", "--runs-dir", str(runs)), f"run id: {runs / 'linked'} leads out of {runs} (to "
                                                             f"{outside}); remove that link or choose another run id")


# --- messages name what the user typed ------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backend", "tensorrt"], "--backend: unknown backend 'tensorrt'; did you mean 'tensorflow'? allowed: "
                                    "onnxruntime, pytorch, tensorflow, tflite"),
        (["--benchmark", "bert-99", "--backend", "tflite"],
         "--backend: bert-99 has no tflite model; use --backend onnxruntime, pytorch or tensorflow"),
        (["--benchmark", "efficientnet-lite0-tflite"],
         "--backend: efficientnet-lite0-tflite is a tflite model; use --backend tflite"),
        (["--backend", "tflite", "--device", "cuda"], "--device: tflite runs on cpu only; use --device cpu"),
        (["--round", "v9.9"], "--round: unknown MLPerf round 'v9.9'; known rounds: v3.1"),
        (["--scenarios", "Sometimes"], "--scenarios: unknown scenario 'Sometimes'; allowed: SingleStream"),
        (["--division", "closed", "--scenarios", "SingleStream"],
         "--scenarios: the closed division needs SingleStream, MultiStream, Offline for resnet50"),
        (["--system-type", "laptop"], "--system-type: must be one of"),
        (["--benchmark", "resnet101"], "--benchmark: 'resnet101' is not a v3.1 benchmark"),
        (["--offline", "inferred", "--system-type", "datacenter"], "--offline: 'inferred' needs an edge system"),
    ],
)
def test_errors_from_run_name_the_flag_the_user_typed(args, message):
    err = refused(cli("run", *args, "--inventory", NO_INVENTORY), message)
    for sweep_word in ("backends", "benchmarks[", "--spec", "defaults."):
        assert sweep_word not in err, err


def test_the_installed_command_exits_2_with_one_line_on_stderr(tmp_path):
    """The refusals above as the installed command gives them (its process's exit status and stderr): a
    ``run`` flag, a sweep file field and a ``status`` run id. (The alias bomb case runs a sweep file in its
    own process too.)"""
    runs = tmp_path / "runs"
    refused(process("run", "--threads", "5000", "--inventory", NO_INVENTORY, "--runs-dir", str(runs)),
            "--threads: 5000 is out of range; allowed 0 to 1024")
    f = sweep_file(tmp_path, yaml.safe_dump(_with(defaults={"precision": "bf16"})))
    refused(check_sweep(tmp_path, f, run=process), "defaults.precision: bf16 applies to backend pytorch only")
    refused(process("status", f"--runs-dir={runs}", "--", "../escape"), "run id: ", RULE)
    assert not runs.exists() and not (tmp_path / "escape").exists()
