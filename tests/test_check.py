"""benchfleet check: accepts a passing tree and rejects each mutation of the contract's table."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from treeparts import SYSTEM, set_log_value, system_description

from benchfleet.submission.check import check_tree
from benchfleet.submission.system import UNKNOWN, describe, system_id
from benchfleet.submission.tree import SystemRun, write_tree


@pytest.fixture()
def tree(recorded_run, tmp_path) -> Path:
    root = tmp_path / "tree"
    write_tree(root, "TestOrg", [SystemRun(SYSTEM, system_description(), recorded_run)])
    return root


def _sub(root: Path) -> Path:
    return root / "closed" / "TestOrg"


def _errors(root: Path, allow_quick: bool = True, **kw) -> list[str]:
    # the recorded run is a quick run: its tree passes only where quick trees are allowed
    return [str(f) for f in check_tree(root, "v3.1", allow_quick=allow_quick, **kw).errors]


def test_recorded_tree_passes_with_accuracy_recomputed(tree, recorded_run):
    from benchfleet.submission.check import check_tree

    dataset = recorded_run / "dataset"
    report = check_tree(tree, "v3.1", accuracy_logs=recorded_run, dataset=dataset, allow_quick=True)
    assert report.ok, [str(f) for f in report.errors]
    assert {r["scenario"] for r in report.results} == {"SingleStream", "MultiStream", "Offline"}
    warnings = [f.message for f in report.findings if f.level == "WARNING"]
    assert any("quick mode" in w for w in warnings)  # short durations are flagged, not hidden
    assert not any("not recomputed" in w for w in warnings)


def _detail(root: Path, scen: str) -> Path:
    return _sub(root) / "results" / SYSTEM / "resnet50" / scen / "performance" / "run_1" / "mlperf_log_detail.txt"


def test_wrong_seed(tree):
    set_log_value(_detail(tree, "SingleStream"), "effective_qsl_rng_seed", 1)
    assert any("qsl_rng_seed is wrong, expected=148687905518835231, found=1" in e for e in _errors(tree))


def test_missing_scenario(tree):
    shutil.rmtree(_sub(tree) / "results" / SYSTEM / "resnet50" / "MultiStream")
    assert any("missing ['MultiStream']" in e for e in _errors(tree))


def test_extra_file_in_performance(tree):
    (_detail(tree, "SingleStream").parent / "extra.log").write_text("x")
    assert any("file list mismatch (['extra.log'])" in e for e in _errors(tree))


def test_missing_compliance_test(tree):
    shutil.rmtree(_sub(tree) / "compliance" / SYSTEM / "resnet50" / "Offline" / "TEST04")
    assert any("Missing TEST04 in compliance dir" in e for e in _errors(tree))


def test_empty_folder_under_code(tree):
    (_sub(tree) / "code" / "resnet50" / "empty").mkdir()
    assert any("empty directory" in e for e in _errors(tree))


def _acc_txt(tree: Path, scen="SingleStream") -> Path:
    return _sub(tree) / "results" / SYSTEM / "resnet50" / scen / "accuracy" / "accuracy.txt"


def test_accuracy_below_target(tree):
    p = _acc_txt(tree)
    p.write_text(re.sub(r"accuracy=[\d.]+%", "accuracy=75.000%", p.read_text()))
    assert any("accuracy not valid: acc 75.0 < target 75.6954" in e for e in _errors(tree))


def test_accuracy_that_the_log_does_not_support(tree, recorded_run):
    p = _acc_txt(tree)
    p.write_text(re.sub(r"accuracy=[\d.]+%", "accuracy=99.000%", p.read_text()))
    errs = _errors(tree, accuracy_logs=recorded_run, dataset=recorded_run / "dataset")
    assert any("reports 99.0 but the accuracy log scores" in e for e in errs)


def test_missing_hash_line(tree):
    p = _acc_txt(tree)
    p.write_text("".join(line for line in p.read_text().splitlines(True) if not line.startswith("hash=")))
    assert any("not hash value for mlperf_log_accuracy.json" in e for e in _errors(tree))


def _system_json(tree: Path) -> Path:
    return _sub(tree) / "systems" / f"{SYSTEM}.json"


def _edit_system(tree: Path, **kw) -> None:
    p = _system_json(tree)
    d = json.loads(p.read_text())
    d.update(kw)
    p.write_text(json.dumps(d))


def test_invalid_status(tree):
    _edit_system(tree, status="beta")
    assert any("has invalid status (beta)" in e for e in _errors(tree))


def test_empty_cooling(tree):
    _edit_system(tree, cooling="")
    assert any("field cooling requires a meaningful response but is empty" in e for e in _errors(tree))


def test_numbers_in_system_json(tree):
    # accepted trees write counts as numbers; a 0 reads as empty to the official checker; a boolean or list is
    # refused
    _edit_system(tree, accelerators_per_node=2, host_processor_core_count=64)
    assert _errors(tree) == []
    _edit_system(tree, accelerators_per_node=0, cooling=True, sw_notes=["x"])
    errors = _errors(tree)
    assert any("field accelerators_per_node requires a meaningful response but is empty" in e for e in errors)
    assert any("field cooling must be a string (or a number), found a boolean True" in e for e in errors)
    assert any("field sw_notes must be a string (or a number), found a list" in e for e in errors)


def test_file_in_root(tree):
    (tree / "notes.txt").write_text("x")
    assert any("notes.txt: the submission root may hold only" in e for e in _errors(tree))


def test_short_duration_in_a_tree_that_claims_to_be_real(tree):
    # The table's last row: the official checker only logs this. A tree that does not declare
    # quick mode must run 600 s.
    for readme in (_sub(tree) / "measurements").rglob("README.md"):
        readme.write_text(readme.read_text().replace("QUICK MODE", "Full run"))
    errs = _errors(tree)
    assert any("test duration less than 600s" in e for e in errs)
    # nor does a QUICK MODE line make them pass where quick trees are not allowed
    for readme in (_sub(tree) / "measurements").rglob("README.md"):
        readme.write_text(readme.read_text() + "\nQUICK MODE\n")
    errs = _errors(tree, allow_quick=False)
    assert any("test duration less than 600s" in e for e in errs)
    assert any("declares QUICK MODE" in e and "--allow-quick" in e for e in errs)


def test_logged_duration_must_match_user_conf(tree):
    set_log_value(_detail(tree, "MultiStream"), "effective_min_duration_ms", 500)
    assert any("min duration 500 ms does not match user.conf (1000 ms)" in e for e in _errors(tree))


def test_compliance_rule_is_recomputed(tree):
    t04 = _sub(tree) / "compliance" / SYSTEM / "resnet50" / "SingleStream" / "TEST04" / "performance" / "run_1"
    summary = t04 / "mlperf_log_summary.txt"
    text = summary.read_text()
    # pretend the same-sample run was 3x faster (caching): verify_performance.txt still says PASS
    new = re.sub(r"(Early stopping 90(?:\.0)?th percentile estimate\s*:\s*)(\d+)",
                 lambda m: m.group(1) + str(int(m.group(2)) // 3), text)
    assert new != text
    summary.write_text(new)
    assert any("TEST04 performance rule fails when recomputed" in e for e in _errors(tree))


def test_early_stopping_not_met(tree):
    set_log_value(_detail(tree, "SingleStream"), "early_stopping_met", False)
    assert any("early stopping condition was not met" in e for e in _errors(tree))


def test_undetected_values_are_marked_and_listed_never_guessed():
    host = {"cpu_model": "Test CPU", "vcpus": 4, "mem_total_mb": 8192, "kernel": "6.1"}
    d = describe(host, division="open", submitter="T", framework="onnxruntime", software="x", synthetic=False)
    for k in ("host_processor_frequency", "host_processor_caches", "host_memory_configuration", "host_storage_type",
              "host_storage_capacity", "operating_system", "host_processors_per_node"):
        assert d.values[k] == UNKNOWN and k in d.unknown
    assert d.values["host_processor_core_count"] == "4" and d.values["host_memory_capacity"] == "8 GB"
    gpu = {**host, "gpus": [{"name": "NVIDIA H200", "memory_mib": 143771, "driver": "570.1"}]}
    d = describe(gpu, division="open", submitter="T", framework="onnxruntime", software="x", synthetic=False,
                 device="cuda")
    assert d.values["accelerators_per_node"] == "1" and d.values["accelerator_model_name"] == "NVIDIA H200"
    assert "accelerator_frequency" in d.unknown
    assert system_id(gpu, "onnxruntime", "cuda") == "Test_4c_1xH200_onnxruntime_cuda"
    assert system_id(gpu, "onnxruntime", "cpu") == "Test_4c_onnxruntime_cpu"


def test_every_plugin_documents_itself_for_ansible_doc():
    """ansible-doc parses DOCUMENTATION/EXAMPLES/RETURN of every module and plugin (a YAML slip breaks it)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    doc = str(Path(sys.executable).parent / "ansible-doc")
    env = {"ANSIBLE_INVENTORY_PLUGINS": str(root / "plugins" / "inventory"),
           "ANSIBLE_CALLBACK_PLUGINS": str(root / "plugins" / "callback"), "PATH": "/usr/bin:/bin"}
    plugins = [("module", p.stem, ["-M", str(root / "plugins" / "modules")])
               for p in (root / "plugins" / "modules").glob("*.py")]
    plugins += [("inventory", "benchfleet_cloud", []), ("callback", "benchfleet_submission", [])]
    for kind, name, extra in plugins:
        out = subprocess.run([doc, "-t", kind, *extra, "--json", name], capture_output=True, text=True, env=env)
        assert out.returncode == 0 and name in out.stdout, f"{kind} {name}: {out.stderr}"


def _gptj_accuracy_dir(tmp_path, recorded_run, line: str) -> Path:
    adir = tmp_path / "acc"
    adir.mkdir()
    for f in ("mlperf_log_summary.txt", "mlperf_log_detail.txt"):
        shutil.copy2(recorded_run / "SingleStream" / "accuracy" / f, adir / f)
    (adir / "mlperf_log_accuracy.json").write_text("[]\n")
    (adir / "accuracy.txt").write_text(line + "\nhash=" + "0" * 64 + "\n")
    return adir


@pytest.mark.parametrize(("line", "quick", "expected"), [
    # all four values at the v3.1 targets: rouge1 42.556635, rouge2 19.922265, rougeL 29.688219, gen_len 3615190.2
    ("{'rouge1': 42.6, 'rouge2': 20.0, 'rougeL': 29.7, 'gen_len': 3615191, 'gen_num': 13368}", False, []),
    ("{'rouge1': 42.6, 'rouge2': 19.0, 'rougeL': 29.7, 'gen_len': 3615191, 'gen_num': 13368}", False,
     ["ROUGE2 19.0 < target 19.9223"]),
    ("{'rouge1': 42.6, 'rouge2': 20.0, 'rougeL': 29.7, 'gen_len': 4000, 'gen_num': 13368}", False,
     ["GEN_LEN 4000.0 < target 3615190.2"]),
    # numpy >= 2 prints np.float64(...): the checker's regex finds nothing (contract §0.6)
    ("{'rouge1': np.float64(42.6), 'rouge2': 20.0, 'rougeL': 29.7, 'gen_len': 3615191, 'gen_num': 13368}", False,
     ["no ROUGE1 line found"]),
    # a quick tree scored 8 samples: GEN_LEN's target is scaled to 8/13368 of the total (2163.489)
    ("{'rouge1': 100.0, 'rouge2': 100.0, 'rougeL': 100.0, 'gen_len': 2200, 'gen_num': 8}", True, []),
    ("{'rouge1': 100.0, 'rouge2': 100.0, 'rougeL': 100.0, 'gen_len': 2100, 'gen_num': 8}", True,
     ["GEN_LEN 2100.0 < target 2163.4890"]),
])
def test_gptj_needs_all_four_values(line, quick, expected, tmp_path, recorded_run):
    from benchfleet.rules import get_round
    from benchfleet.submission.check import Checker

    rules = get_round("v3.1")
    checker = Checker(tmp_path, rules)
    ok = checker.check_accuracy(_gptj_accuracy_dir(tmp_path, recorded_run, line), rules.benchmark("gptj-99"),
                                closed=True, quick=quick)
    errors = [f.message for f in checker.report.errors]
    assert ok == (not expected)
    assert len(errors) == len(expected) and all(e in msg for e, msg in zip(expected, errors, strict=True)), errors


def test_open_model_is_mapped_for_the_checker(tree, tmp_path):
    # an open-division result folder named for its model; model_mapping.json says which benchmark it stands for
    sub = tree / "closed" / "TestOrg"
    open_sub = tree / "open" / "TestOrg"
    shutil.copytree(sub, open_sub)
    shutil.rmtree(tree / "closed")
    shutil.rmtree(open_sub / "compliance")
    for kind in ("results", "measurements", "code"):
        base = open_sub / kind / SYSTEM if kind != "code" else open_sub / kind
        (base / "resnet50").rename(base / "my-net")
    sj = open_sub / "systems" / f"{SYSTEM}.json"
    sj.write_text(sj.read_text().replace('"closed"', '"open"'))
    (open_sub / "model_mapping.json").write_text(json.dumps({"my-net": "resnet"}))
    assert _errors(tree) == []
    (open_sub / "model_mapping.json").write_text(json.dumps({"my-net": "resnet152"}))
    assert any("maps my-net to 'resnet152', which is not a v3.1 model key" in e for e in _errors(tree))
