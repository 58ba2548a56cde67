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
(BERT_FEATURES,) = calibration.OFFICIAL["squad"]


def test_the_shipped_lists_are_the_published_ones_and_the_default_is_the_first():
    for official in (OPTION_1, OPTION_2):
        names = official.names()  # checks the file's SHA-256 against the published one
        assert len(names) == 500 and all(n.startswith("ILSVRC2012_val_") and n.endswith(".JPEG") for n in names)
    cal = choose("imagenet")
    assert cal.official is OPTION_1 and list(cal.names) == OPTION_1.names()
    assert choose("imagenet", count=16).names == tuple(OPTION_1.names()[:16])
    assert cal.record()["official_list_url"].endswith("/calibration/ImageNet/cal_image_list_option_1.txt")
    bert = BERT_FEATURES.names()  # 100 indices into dev-v1.1.json's 10,833 features
    assert len(bert) == 100 and bert[:3] == ["4547", "9556", "2033"] and max(map(int, bert)) < 10833
    assert choose("squad").official is BERT_FEATURES


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
        (dict(precision="int8", benchmark="dlrm-v2-99"), "precision: int8 needs the benchmark's official calibration "
                                                         "list, and benchfleet ships those of imagenet, squad"),
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
    refused(cli("run", "--precision", "int8", "--benchmark", "dlrm-v2-99", "--inventory", NO_INVENTORY,
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
    sweep = parse({**base, "benchmarks": ["resnet50", "bert-99", "3d-unet-99"], "devices": ["cpu"]})
    (system,) = sweep.systems
    assert sweep.harness_spec(system, "resnet50", "onnxruntime", "cpu", "closed").precision == "int8"
    assert sweep.harness_spec(system, "bert-99", "onnxruntime", "cpu", "closed").precision == "int8"
    assert sweep.harness_spec(system, "3d-unet-99", "onnxruntime", "cpu", "closed").precision == "fp32"
    with pytest.raises(SweepError, match=r"defaults.precision: system 'lab': int8 needs the benchmark's official "
                                         r"calibration list"):
        parse({**base, "benchmarks": ["3d-unet-99"]})
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


def test_bert_int8_calibrates_on_the_official_feature_list_and_is_gated_on_its_f1(cache_dir, tmp_path):
    """The generated BERT quantized on generated features standing in for the official list's first 8 indices (a
    generated set has no dev-v1.1.json features): a list with one index outside the official one is refused; the
    int8 model answers the generated questions (F1 against the fp32 model's answers) and its tree says int8; a real
    dev set too short for an index is refused naming it."""
    from benchfleet.benchmarks.squad.task import TASK as SQUAD

    mine = tmp_path / "features.txt"
    mine.write_text("\n".join([*BERT_FEATURES.names()[:5], "10"]) + "\n")
    assert "10" not in BERT_FEATURES.names()
    with pytest.raises(CalibrationError, match=r"names 1 sample\(s\) outside every official squad calibration list "
                                               r"\('10'\)"):
        choose("squad", mine)
    spec = tiny_spec(cache_dir, benchmark="bert-99", dataset_count=24, synthetic_width=16, precision="int8",
                     calibration_count=8, division="closed", threads=1, only=["SingleStream"])
    inputs = SQUAD.resolve(spec, lambda m: None)
    feeds = list(SQUAD.calibration_feeds(spec, inputs, choose("squad", count=8).names, lambda m: None))
    assert len(feeds) == 8 and set(feeds[0]) == set(inputs.args["inputs"])
    assert all(v.shape == (1, 384) and v.dtype.name == "int64" for f in feeds for v in f.values())
    assert len({f[inputs.args["inputs"][0]].tobytes() for f in feeds}) == 8  # eight different questions
    logs: list[str] = []
    model, record = quantize.ensure_int8(SQUAD, spec, inputs, logs.append)
    assert record["calibration"]["official_list"] == "SQuAD-v1.1/bert_calibration_features.txt"
    assert record["calibration"]["samples"] == 8 and record["calibration"]["synthetic"] is True
    assert any("generated features" in m and "synthetic" in m for m in logs)
    again, _ = quantize.ensure_int8(SQUAD, spec, inputs, logs.append)
    assert again == model and logs[-1].startswith("int8: reusing the quantized model")

    out = tmp_path / "bert-int8"
    meta = Harness(spec, out, log=lambda m: None).run()
    (ss,) = meta["scenarios"]
    assert meta["backend"]["precision"] == "int8" and ss["accuracy"] >= 90.874 * 0.99  # gated before performance
    assert record["method"]["quantized_ops"] == ["MatMul"]  # the encoder's and the head's products (task.py)
    write_tree(tmp_path / "tree", "TestOrg", [SystemRun("Int8_CPU", system_description(), out)])
    (mj,) = (tmp_path / "tree").glob("*/TestOrg/measurements/Int8_CPU/bert-99/SingleStream/*.json")
    how = json.loads(mj.read_text())["weight_transformations"]
    assert "operators quantized: MatMul" in how and "calibration/SQuAD-v1.1/bert_calibration_features.txt" in how
    assert "(generated features standing in for those indices: synthetic)" in how

    real = inputs.__class__(inputs.model_path, inputs.data_dir, {}, inputs.args, inputs.count, inputs.scoring_files)
    with pytest.raises(CalibrationError, match=r"feature 4547 of the official list is not among the \d+ features"):
        list(SQUAD.calibration_feeds(spec, real, ("4547",), lambda m: None))


def test_a_compiler_applies_to_pytorch_only_and_is_refused_elsewhere_before_anything_runs(tmp_path):
    from benchfleet.backends.registry import compiler_problem
    from benchfleet.sweep.schema import SweepError, parse

    assert compiler_problem("inductor", "pytorch") == "" and compiler_problem("none", "tflite") == ""
    with pytest.raises(ValueError, match=r"compiler: inductor \(torch.compile\) applies to backend pytorch only; "
                                         r"onnxruntime compiles its graph itself"):
        HarnessSpec(compiler="inductor")
    assert HarnessSpec(backend="pytorch", compiler="inductor").compiler == "inductor"
    refused(cli("run", "--compiler", "inductor", "--inventory", NO_INVENTORY, "--runs-dir", str(tmp_path / "runs")),
            "--compiler: inductor (torch.compile) applies to --backend pytorch only", "use --backend pytorch")
    assert not (tmp_path / "runs").exists()
    base = {"submitter": "Lab", "systems": [{"name": "lab", "hosts": ["h1"]}], "defaults": {"compiler": "inductor"}}
    sweep = parse({**base, "benchmarks": ["resnet50"], "backends": ["onnxruntime", "pytorch"]})
    (system,) = sweep.systems
    assert sweep.harness_spec(system, "resnet50", "pytorch", "cpu", "open").compiler == "inductor"
    assert sweep.harness_spec(system, "resnet50", "onnxruntime", "cpu", "open").compiler == "none"
    with pytest.raises(SweepError, match=r"defaults.compiler: inductor \(torch.compile\) applies to backend pytorch "
                                         r"only; system 'lab' runs onnxruntime"):
        parse({**base, "benchmarks": ["resnet50"]})


def _small_cnn(path) -> None:
    """Conv, Relu, pooling and a fully connected layer: enough graph for torch.compile, small enough to compile in
    seconds (the generated ResNet50 takes ~15 s a batch size on a cold cache here; bench/precision.py --compiled
    measures it)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name) for name, shape in
             (("w", (4, 3, 3, 3)), ("b", (4,)), ("fc", (5, 4)), ("fcb", (5,)))]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]), helper.make_node("GlobalAveragePool", ["r"], ["p"]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "fc", "fcb"], ["y"], transB=1)]
    graph = helper.make_graph(nodes, "small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


_COMPILED_CHECK = """
import sys
import numpy as np
from benchfleet.backends import make_backend
from benchfleet.harness.loadgen_run import warm_up

model = sys.argv[1]
eager = make_backend("pytorch", model, threads=1)
compiled = make_backend("pytorch", model, threads=1, compiler="inductor")
assert compiled.forward is not compiled.module and eager.forward is eager.module
x = np.random.default_rng(1).standard_normal((4, 3, 8, 8)).astype(np.float32)


class Worker:  # the task worker's two calls warm_up makes
    def __init__(self, backend):
        self.backend, self.sizes = backend, []

    def load(self, index):
        return x[index]

    def infer(self, samples):
        self.sizes.append(len(samples))
        return list(self.backend.run({"x": np.stack(samples)}, ["y"])[0])


w = Worker(compiled)
assert warm_up(w, "Offline", 3) == [1, 3] == w.sizes  # compiled at the sizes the test will use
# Server batches what is queued: every size up to its batch (a larger batch: 1 and itself, the rest padded)
assert warm_up(Worker(eager), "Server", 5) == [1, 2, 3, 4, 5] and warm_up(Worker(eager), "Server", 64) == [1, 64]
assert warm_up(Worker(eager), "SingleStream", 8) == [1]
for n in (1, 2, 3):  # 2, Offline's last batch say, runs padded to 3: answers the same, nothing compiled anew
    np.testing.assert_allclose(compiled.run({"x": x[:n]}, ["y"])[0], eager.run({"x": x[:n]}, ["y"])[0],
                               rtol=1e-5, atol=1e-6)
assert compiled._compiled_sizes == {1, 3} and eager._compiled_sizes == set(), compiled._compiled_sizes
print("compiled-ok")
"""


def test_a_compiled_pytorch_model_answers_as_the_eager_one_and_its_tree_says_so(recorded_run, tmp_path):
    """torch.compile (inductor): the same answers as the eager model, compiled by the LoadGen process's warm-up at
    each batch size its test uses, a smaller batch padded to a compiled size; a compiled cell's tree names the
    implementation and says it was compiled. The compiling runs in a fresh interpreter, as a LoadGen process is
    (in this one, Ansible's module_utils, imported by other tests, has replaced sys.intern, which torch._dynamo
    cannot trace)."""
    import subprocess
    import sys

    from benchfleet.backends import make_backend

    model = tmp_path / "small.onnx"
    _small_cnn(model)
    done = subprocess.run([sys.executable, "-c", _COMPILED_CHECK, str(model)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and done.stdout.strip().endswith("compiled-ok"), done.stderr[-3000:]
    with pytest.raises(ValueError, match="compiler: inductor .torch.compile. applies to backend pytorch only"):
        make_backend("onnxruntime", str(model), compiler="inductor")

    planned = {"division": "closed", "benchmark": "resnet50", "backend": "pytorch", "device": "cpu",
               "precision": "fp32", "compiler": "inductor", "mode": "quick", "scenarios": ["SingleStream"],
               "synthetic": True}
    write_tree(tmp_path / "tree", "TestOrg", [SystemRun("Torch_CPU", system_description(), recorded_run, planned)])
    (mj,) = (tmp_path / "tree").glob("*/TestOrg/measurements/Torch_CPU/*/SingleStream/*.json")
    assert mj.name == "Torch_CPU_benchfleet-pytorch-cpu-inductor_SingleStream.json"
    assert "Compiled (`--compiler inductor`): the model's graph compiled by torch.compile" in \
        (mj.parent / "README.md").read_text()
