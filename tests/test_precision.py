"""Issue 19: INT8 models calibrated only on the official calibration lists, cached by fingerprint, refused where
a backend, device or benchmark cannot run them, and stated in the tree as the rules require."""

from __future__ import annotations

import json

import pytest

from benchfleet.backends.registry import precision_problem
from benchfleet.benchmarks import calibration
from benchfleet.benchmarks.calibration import CalibrationError, choose
from benchfleet.benchmarks.imagenet.task import TASK as IMAGENET
from benchfleet.harness import quantize
from benchfleet.harness.run import Harness
from benchfleet.harness.spec import HarnessSpec
from benchfleet.submission.tree import SystemRun, write_tree
from tests.conftest import tiny_spec
from tests.test_trust_input import NO_INVENTORY, cli, refused
from tests.treeparts import system_description

OPTION_1, OPTION_2 = calibration.OFFICIAL["imagenet"]


def test_the_shipped_lists_are_the_published_ones_and_the_default_is_the_first():
    for official in (OPTION_1, OPTION_2):
        names = official.names()  # checks the file's SHA-256 against the published one
        assert len(names) == 500 and all(n.startswith("ILSVRC2012_val_") and n.endswith(".JPEG") for n in names)
    cal = choose("imagenet")
    assert cal.official is OPTION_1 and list(cal.names) == OPTION_1.names()
    assert choose("imagenet", count=16).names == tuple(OPTION_1.names()[:16])
    assert cal.record()["official_list_url"].endswith("/calibration/ImageNet/cal_image_list_option_1.txt")


def test_a_list_with_one_image_outside_the_official_lists_is_refused(tmp_path):
    mine = tmp_path / "mine.txt"
    part = OPTION_2.names()[100:140]
    mine.write_text("\n".join(part) + "\n")
    cal = choose("imagenet", mine)
    assert cal.official is OPTION_2 and list(cal.names) == part and cal.given == str(mine)

    extra = "ILSVRC2012_val_00000001.JPEG"
    assert extra not in OPTION_1.names() and extra not in OPTION_2.names()
    mine.write_text("\n".join([*part, extra]) + "\n")
    with pytest.raises(CalibrationError, match=r"names 1 sample\(s\) outside every official imagenet calibration "
                                               r"list \('ILSVRC2012_val_00000001.JPEG'\)"):
        choose("imagenet", mine)
    # two lists mixed is not one official list either
    mine.write_text("\n".join([OPTION_1.names()[0], OPTION_2.names()[0]]) + "\n")
    with pytest.raises(CalibrationError, match="outside every official"):
        choose("imagenet", mine)
    mine.write_text(f"{part[0]}\n{part[0]}\n")
    with pytest.raises(CalibrationError, match="twice"):
        choose("imagenet", mine)
    with pytest.raises(CalibrationError, match="calibration_count: 501 is not between 1 and the list's 500"):
        choose("imagenet", count=501)
    # the harness spec refuses the same list before anything runs, naming its field
    mine.write_text("\n".join([*part, extra]) + "\n")
    with pytest.raises(ValueError, match=r"calibration_list: .* outside every official"):
        HarnessSpec(precision="int8", calibration_list=str(mine))


def test_each_precision_a_backend_device_or_benchmark_cannot_run_is_refused_up_front(tmp_path):
    assert precision_problem("int8", "onnxruntime", "cpu") == ""
    cases = [
        (dict(precision="int8", backend="pytorch"), "precision: int8 applies to backend onnxruntime only; pytorch "
                                                    "does not run int8"),
        (dict(precision="int8", device="cuda"), "precision: int8 on onnxruntime runs on cpu only"),
        (dict(precision="int8", backend="tflite", benchmark="mobilenet-v1-1.0-224-tflite"),
         "precision: int8 applies to backend onnxruntime only; tflite runs the model file's fp32"),
        (dict(precision="int8", benchmark="bert-99"), "precision: int8 needs the benchmark's official calibration "
                                                      "list, and benchfleet ships those of imagenet"),
        (dict(precision="bf16"), "precision: bf16 applies to backend pytorch only"),
        (dict(calibration_count=5), "calibration_count: calibrates a quantized model: it applies with precision "
                                    "int8 only"),
    ]
    for kw, message in cases:
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
            HarnessSpec(**kw)
    # the command line says it with its flags, exit 2, before any run directory exists
    refused(cli("run", "--precision", "int8", "--backend", "pytorch", "--inventory", NO_INVENTORY,
                "--runs-dir", str(tmp_path / "runs")),
            "--precision: int8 applies to --backend onnxruntime only", "use --backend onnxruntime")
    refused(cli("run", "--precision", "int8", "--benchmark", "bert-99", "--inventory", NO_INVENTORY,
                "--runs-dir", str(tmp_path / "runs")), "int8 needs the benchmark's official calibration list")
    refused(cli("run", "--calibration-count", "9", "--inventory", NO_INVENTORY, "--runs-dir", str(tmp_path / "runs")),
            "--calibration-count: ", "precision int8 only")
    assert not (tmp_path / "runs").exists()


def test_the_int8_model_is_built_once_per_fingerprint_and_a_run_states_what_was_done(cache_dir, tmp_path):
    """The generated ResNet50 (width 2) quantized on 16 generated pictures named as option 1 names them: reused
    while nothing it depends on changes, rebuilt for another calibration set; an int8 run's tree states the data
    types, the transformation and the list."""
    spec = tiny_spec(cache_dir, synthetic_width=2, dataset_count=64, precision="int8", calibration_count=16)
    inputs = IMAGENET.resolve(spec, lambda m: None)
    logs: list[str] = []
    model, record = quantize.ensure_int8(IMAGENET, spec, inputs, logs.append)
    assert model.is_file() and record["precision"] == "int8"
    assert record["calibration"]["official_list"] == "ImageNet/cal_image_list_option_1.txt"
    assert record["calibration"]["samples"] == 16 and record["calibration"]["synthetic"] is True
    assert record["method"]["calibrated_on"] == 16 and record["method"]["format"] == "QDQ"
    assert any(m.startswith("int8: quantizing") for m in logs)
    again, _ = quantize.ensure_int8(IMAGENET, spec, inputs, logs.append)
    assert again == model and logs[-1].startswith("int8: reusing the quantized model")
    other, rec2 = quantize.ensure_int8(IMAGENET, spec.model_copy(update={"calibration_count": 8}), inputs,
                                       logs.append)
    assert other != model and rec2["fingerprint"] != record["fingerprint"] and other.is_file()

    import onnx

    ops = {n.op_type for n in onnx.load(str(model)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops  # QDQ: the integer kernels are ONNX Runtime's fusion
    assert record["method"]["kept_fp32_nodes"]  # the classifier

    out = tmp_path / "int8-run"
    meta = Harness(spec.model_copy(update={"only": ["SingleStream"], "threads": 1}), out, log=lambda m: None).run()
    (ss,) = meta["scenarios"]
    assert ss["accuracy"] >= 75.6954  # agreement with the fp32 model's answers, above ResNet50's closed target
    assert meta["backend"]["precision"] == "int8" and meta["model_file"] == "model.int8.onnx"
    assert meta["quantization"]["fingerprint"] == record["fingerprint"]
    write_tree(tmp_path / "tree", "TestOrg", [SystemRun("Int8_CPU", system_description(), out)])
    (mj,) = (tmp_path / "tree").glob("*/TestOrg/measurements/Int8_CPU/*/SingleStream/*.json")
    m = json.loads(mj.read_text())
    assert m["weight_data_types"] == "int8, fp32" and m["input_data_types"] == "fp32"  # the last FC stays fp32
    assert "calibrated on 16 samples of MLCommons' calibration/ImageNet/cal_image_list_option_1.txt" in \
        m["weight_transformations"] and "synthetic" in m["weight_transformations"]
    readme = (mj.parent / "README.md").read_text()
    assert "Precision int8 (`--precision int8`): post-training static quantization (QDQ)" in readme
    assert mj.name == "Int8_CPU_benchfleet-onnxruntime-cpu-int8_SingleStream.json"  # the implementation says int8


def test_a_sweep_runs_int8_where_it_can_and_says_so_and_refuses_a_system_where_nothing_can():
    from benchfleet.sweep.schema import SweepError, parse

    base = {"submitter": "Lab", "systems": [{"name": "lab", "hosts": ["h1"]}], "defaults": {"precision": "int8"}}
    sweep = parse({**base, "benchmarks": ["resnet50", "bert-99"], "devices": ["cpu"]})
    (system,) = sweep.systems
    assert sweep.harness_spec(system, "resnet50", "onnxruntime", "cpu", "closed").precision == "int8"
    assert sweep.harness_spec(system, "bert-99", "onnxruntime", "cpu", "closed").precision == "fp32"
    with pytest.raises(SweepError, match=r"defaults.precision: system 'lab': int8 needs the benchmark's official "
                                         r"calibration list"):
        parse({**base, "benchmarks": ["bert-99"]})
    with pytest.raises(SweepError, match=r"defaults.precision: fp16 is for cuda; system 'lab' runs pytorch on the "
                                         r"cpu too"):
        parse({**base, "defaults": {"precision": "fp16"}, "backends": ["pytorch"], "devices": ["cpu", "cuda"]})
    with pytest.raises(SweepError, match=r"defaults.calibration_count: 600 is out of range; allowed 1 to 500"):
        parse({**base, "defaults": {"precision": "int8", "calibration_count": 600}})


def test_a_hostile_quantization_record_does_not_stop_the_tree(recorded_run, tmp_path):
    """A host's harness.json says int8 with a record of the wrong shape and a sample count no list holds: the
    tree is written, and states benchfleet's own sentence without the host's values."""
    meta = json.loads((recorded_run / "harness.json").read_text())
    meta["backend"]["precision"] = "int8"
    meta["spec"]["precision"] = "int8"
    meta["quantization"] = {"calibration": {"official_list": [], "samples": 10 ** 400, "synthetic": "yes"}}
    (recorded_run / "harness.json").write_text(json.dumps(meta))
    write_tree(tmp_path / "tree", "TestOrg", [SystemRun("Hostile_CPU", system_description(), recorded_run)])
    texts = [json.loads(p.read_text())["weight_transformations"]
             for p in (tmp_path / "tree").glob("*/TestOrg/measurements/Hostile_CPU/*/*/*.json")]
    assert texts and all(t.endswith("calibrated on samples of an official MLCommons calibration list") for t in texts)
