"""Bad input is refused before anything runs, naming the option and the fix."""

from __future__ import annotations

import subprocess
import sys

import pytest

from benchfleet.cli import main


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--scenarios", "Sometimes"], "--scenarios: unknown scenario 'Sometimes'"),
        (["run", "--division", "closed", "--scenarios", "SingleStream"], "missing MultiStream, Offline"),
        (["run", "--round", "v9.9"], "--round: unknown MLPerf round 'v9.9'"),
        (["run", "--system-type", "laptop"], "--system-type: must be one of"),
        (["run", "--dataset", "/no/such/folder"], "--dataset: /no/such/folder is not a folder"),
        (["run", "--model", "/no/such.onnx"], "--model: /no/such.onnx is not a file"),
        (["run", "--model", "synthetic", "--dataset", "/tmp"], "--dataset: a generated model only scores"),
        (["run", "--submitter", "My Lab"], "--submitter: give your organisation's name without spaces"),
        (["run", "--benchmark", "resnet101"], "--benchmark: 'resnet101' is not a v3.1 benchmark"),
        (["run", "--offline", "inferred", "--system-type", "datacenter"], "--offline: 'inferred' needs an edge"),
        (["run", "--inventory", "/no/inventory"], "--inventory: /no/inventory does not exist"),
        (["check", "/no/tree"], "tree: /no/tree is not a folder"),
    ],
)
def test_bad_input_names_the_field(args, message, capsys, tmp_path):
    rc = main(args + (["--out", str(tmp_path / "o")] if args[0] == "run" else []))
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err
    assert not (tmp_path / "o").exists()  # nothing created


def test_help_teaches():
    out = subprocess.run([sys.executable, "-m", "benchfleet.cli", "run", "--help"], capture_output=True,
                         text=True).stdout
    assert "embedded default" in out and "--division" in out and "SYNTHETIC" in out
