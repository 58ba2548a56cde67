"""One backend interface: the pytorch executor gives what onnxruntime gives on the same ONNX files;
bad backend/device/precision combinations are refused with the field named."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from benchfleet.backends import make_backend
from benchfleet.benchmarks import registry
from benchfleet.harness.spec import HarnessSpec
from benchfleet.models import resnet50_onnx as r50
from benchfleet.models import tiny_bert, tiny_gpt


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    onnx.save(r50.build_resnet50(seed=1, width=8), d / "resnet.onnx")
    onnx.save(tiny_bert.build(tiny_bert.BertConfig(vocab_size=50), seed=1), d / "bert.onnx")
    onnx.save(tiny_gpt.build(tiny_gpt.GptConfig(vocab_size=60), seed=1), d / "gpt.onnx")
    rng = np.random.default_rng(0)
    return {
        "resnet": (d / "resnet.onnx", {r50.INPUT_NAME: rng.standard_normal((2, 3, 224, 224)).astype(np.float32)},
                   [r50.SOFTMAX_NAME, r50.ARGMAX_NAME]),
        "bert": (d / "bert.onnx", {"input_ids": rng.integers(0, 50, (2, 384)),
                                   "input_mask": np.concatenate([np.ones((2, 300)), np.zeros((2, 84))], 1),
                                   "segment_ids": np.zeros((2, 384))}, list(tiny_bert.OUTPUTS)),
        "gpt": (d / "gpt.onnx", {"input_ids": rng.integers(0, 60, (3, 17)), "attention_mask": np.ones((3, 17)),
                                 "position_ids": np.tile(np.arange(17), (3, 1))}, [tiny_gpt.OUTPUT]),
    }


@pytest.mark.parametrize("backend", ["pytorch", "tensorflow"])
@pytest.mark.parametrize("name", ["resnet", "bert", "gpt"])
def test_onnx_graph_executors_match_onnxruntime(models, name, backend):
    path, feeds, outs = models[name]
    ref = make_backend("onnxruntime", str(path), threads=1).run(feeds, outs)
    be = make_backend(backend, str(path), threads=1)
    for _ in range(2):  # the second call reuses the traced function / module
        got = be.run(feeds, outs)
        for r, g in zip(ref, got, strict=True):
            assert g.dtype == r.dtype and g.shape == r.shape
            np.testing.assert_allclose(g, r, rtol=1e-4, atol=2e-5)
    one = be.run({k: v[:1] for k, v in feeds.items()}, outs)  # another batch size
    np.testing.assert_allclose(one[0], ref[0][:1], rtol=1e-4, atol=2e-5)
    if backend != "pytorch":
        return
    low = make_backend("pytorch", str(path), threads=1, precision="bf16").run(feeds, outs)
    assert low[0].dtype == np.float32  # outputs come back as float32
    scale = float(np.abs(ref[0]).max())
    assert float(np.abs(low[0] - ref[0]).max()) < 0.05 * scale + 0.05  # bf16 keeps ~3 significant digits


def test_pytorch_refuses_what_it_cannot_run(models, tmp_path):
    path, _, _ = models["resnet"]
    with pytest.raises(ValueError, match="precision: fp16 is for cuda"):
        make_backend("pytorch", str(path), precision="fp16")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="device: cuda asked, but torch"):
            make_backend("pytorch", str(path), device="cuda")
    with pytest.raises(ValueError, match="precision: bf16 applies to backend pytorch only; onnxruntime does not "
                                         "run bf16"):
        make_backend("onnxruntime", str(path), precision="bf16")
    with pytest.raises(ValueError, match="precision: int8 applies to backend onnxruntime only; tensorflow runs the "
                                         "model file's fp32"):
        make_backend("tensorflow", str(path), precision="int8")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    m = helper.make_model(helper.make_graph([helper.make_node("Sin", ["x"], ["y"])], "g", [x], [y]))
    onnx.save(m, tmp_path / "sin.onnx")
    with pytest.raises(ValueError, match="operator\\(s\\) Sin are not supported"):
        make_backend("pytorch", str(tmp_path / "sin.onnx"))


def test_registry_and_spec_name_the_combination():
    assert registry.lookup("bert-99.9", "pytorch").name == "bert-large-onnx"
    assert registry.runs_on("gptj-99", "onnxruntime", "cuda")
    assert not registry.runs_on("bert-99", "tflite", "cpu")
    assert not registry.runs_on("efficientnet-lite0-tflite", "tflite", "cuda")
    with pytest.raises(ValueError, match="backend: bert-99 runs on onnxruntime, pytorch"):
        registry.lookup("bert-99", "tflite")
    with pytest.raises(ValueError, match="efficientnet-lite0-tflite is an open-division model"):
        HarnessSpec(benchmark="efficientnet-lite0-tflite", backend="tflite", division="closed")
    with pytest.raises(ValueError, match="use backend tflite"):
        HarnessSpec(benchmark="mobilenet-v1-1.0-224-tflite", backend="onnxruntime")
    spec = HarnessSpec(benchmark="mobilenet-v1-1.0-224-tflite", backend="tflite")
    assert spec.rule_benchmark() == "resnet50" and spec.resolved_scenarios() == ["SingleStream", "Offline"]


def test_official_models_are_recorded_with_checksums_or_say_what_to_do(tmp_path):
    from benchfleet.benchmarks.registry import task_for

    for entry in registry.REGISTRY.values():
        assert entry.url.startswith("https://")
        assert (entry.md5 and len(entry.md5) == 32) or entry.conversion, entry.name
    for f in registry.REGISTRY["bert-large-onnx"].dataset_files:
        assert f.url.startswith("https://") and len(f.md5) == 32
    spec = HarnessSpec(benchmark="gptj-99", model="official", dataset=str(tmp_path), cache_dir=str(tmp_path))
    with pytest.raises(ValueError, match="export the model to ONNX with inputs input_ids"):
        task_for("gptj-99", "onnxruntime").resolve(spec, log=lambda m: None)
    (tmp_path / "x.onnx").write_bytes(b"")
    spec = HarnessSpec(benchmark="gptj-99", model=str(tmp_path / "x.onnx"), dataset="official", cache_dir=str(tmp_path))
    with pytest.raises(ValueError, match="dataset: gptj-99's dataset has no public download"):
        task_for("gptj-99", "onnxruntime").resolve(spec, log=lambda m: None)


def test_tensorflow_runs_frozen_graphs_with_one_logits_output(tmp_path):
    """A frozen graph shaped like the reference's BERT .pb (input_ids/input_mask/segment_ids:0 -> logits:0,
    (N, 384, 2)), through the SQuAD worker: the single output is read as start/end pairs."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2


    spec = [tf.TensorSpec([None, 384], tf.int32, name=n) for n in ("input_ids", "input_mask", "segment_ids")]

    @tf.function(input_signature=spec)
    def model(input_ids, input_mask, segment_ids):
        start = tf.cast(input_ids, tf.float32) * 0.5
        end = tf.cast(input_mask + segment_ids, tf.float32)
        return tf.identity(tf.stack([start, end], axis=-1), name="logits")

    frozen = convert_variables_to_constants_v2(model.get_concrete_function())
    path = tmp_path / "bert.pb"
    path.write_bytes(frozen.graph.as_graph_def().SerializeToString())
    be = make_backend("tensorflow", str(path), threads=1)
    samples = tmp_path / "samples.npy"
    rng = np.random.default_rng(1)
    feats = rng.integers(0, 50, (3, 3, 384)).astype(np.int32)
    np.save(samples, feats)
    entry = registry.REGISTRY["bert-large-tf"]
    worker = registry.task("squad").worker({"samples": str(samples), "inputs": list(entry.input_names),
                                    "outputs": list(entry.output_names)}, be)
    out = worker.infer([worker.load(0), worker.load(2)])
    assert out[0].shape == (384, 2) and out[0].dtype == np.float32
    np.testing.assert_allclose(out[1][:, 0], feats[2, 0] * 0.5)
    np.testing.assert_allclose(out[1][:, 1], feats[2, 1] + feats[2, 2])
    with pytest.raises(ValueError, match="output 'nope:0' not in"):
        be.run({"input_ids:0": feats[:1, 0]}, ["nope:0"])


def test_graph_walk_holds_only_live_values(tmp_path):
    """The ONNX walk drops each value after the last node that reads it: a deep model holds one layer's
    activations, not every layer's (BERT-large at batch 256 filled an H200's 140 GB before this)."""
    from benchfleet.backends import onnx_walk

    depth = 12
    nodes = [helper.make_node("Relu", ["x" if k == 0 else f"h{k - 1}"], [f"h{k}"]) for k in range(depth)]
    nodes.append(helper.make_node("Add", [f"h{depth - 1}", "x"], ["y"]))  # x is read again at the very end
    g = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    path = tmp_path / "chain.onnx"
    onnx.save(helper.make_model(g), path)
    graph = onnx_walk.load(str(path))
    peak = []

    class Env(dict):
        def __setitem__(self, k, v):
            super().__setitem__(k, v)
            peak.append(len(self))

    env = Env(x=np.array([-1.0, 2.0], dtype=np.float32))
    ops = {"Relu": lambda x, *, a: np.maximum(x, 0), "Add": lambda x, y, *, a: x + y}
    out = onnx_walk.execute(graph, env, {}, ops, shape_of=lambda x: np.array(x.shape), to_device=lambda v, like: v)
    np.testing.assert_array_equal(out["y"], [-1.0, 4.0])
    assert max(peak) <= 3, peak  # x, the previous layer's value and the new one; never the whole chain
    assert set(env) == {"y"}


def test_torch_backend_gives_a_thread_its_own_engine_state_only_when_asked(tmp_path):
    """The concurrent SUT's workers call own_state() and get a stream, graphs and buffers of their own; every other
    thread (LoadGen's issue thread in SingleStream, the warm-up) shares one set, so that what one captured another
    replays."""
    import threading

    from benchfleet.backends.pytorch import TorchBackend

    path = tmp_path / "resnet.onnx"
    onnx.save(r50.build_resnet50(seed=1, width=2), path)
    b = TorchBackend(model_path=str(path))
    assert b.concurrency == 1  # on the cpu: one worker
    seen = {}

    def worker(name, own):
        if own:
            b.own_state()
        seen[name] = b._state()

    threads = [threading.Thread(target=worker, args=(n, own)) for n, own in (("w1", True), ("w2", True),
                                                                             ("plain", False))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen["plain"] is b._shared and b._state() is b._shared
    assert seen["w1"] is not seen["w2"] and all(b._shared is not seen[w] for w in ("w1", "w2"))


@pytest.mark.parametrize("precision,channels_last", [("fp32", False), ("bf16", True)])
def test_torch_backend_prepared_samples_give_the_answers_of_plain_arrays(tmp_path, precision, channels_last):
    """The ResNet50 worker hands PyTorch its samples prepared at load (a host tensor in the model's precision,
    height-width-channel for a channels-last model) and stacks them through the backend (on CUDA into a pinned
    buffer): the answers are those of the same samples fed as plain float32 arrays, batch and single."""
    from benchfleet.backends.base import prepared, stacked
    from benchfleet.backends.pytorch import TorchBackend

    path = tmp_path / "resnet.onnx"
    onnx.save(r50.build_resnet50(seed=1, width=2, image_size=32), path)
    b = TorchBackend(model_path=str(path), precision=precision, channels_last=channels_last)
    name, out = "input_tensor:0", "softmax_tensor:0"
    rng = np.random.default_rng(3)
    xs = [rng.normal(size=(3, 32, 32)).astype(np.float32) for _ in range(5)]
    ready = [prepared(b, name, x) for x in xs]
    assert not isinstance(ready[0], np.ndarray)  # prepared once, at load
    plain = b.run({name: np.stack(xs)}, [out])[0]
    np.testing.assert_array_equal(b.run({name: stacked(b, name, ready)}, [out])[0], plain)
    np.testing.assert_array_equal(b.run({name: stacked(b, name, ready[2:3])}, [out])[0],
                                  b.run({name: xs[2][None]}, [out])[0])
    assert plain.shape[0] == 5 and np.isfinite(plain).all()
