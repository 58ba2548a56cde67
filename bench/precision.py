"""fp32 against INT8 on this machine's CPU, through benchfleet's harness, with a generated ResNet50 (the ResNet50
v1.5 architecture at --width; 64 is ResNet50's own widths).

Prints, in one run:
  * Offline samples/s and SingleStream p90 latency (ms) of the fp32 model and of its INT8 model (quantized on
    --calibration-count samples of the official calibration list, generated pictures bearing those names), each
    a LoadGen run of --long-s seconds through the harness (its worker, its SUT, its sample cache);
  * a raw ONNX Runtime loop over the same preprocessed images (batch 8, all cores) for each model: the harness's
    share of what the engine alone does;
  * the agreement of INT8's top-1 answers with fp32's on the generated dataset (goal >= 99%), and INT8 Offline
    over fp32 Offline (goal >= 2x);
  * the time quantization took (calibration included), and that a second build reuses the cached model.

With --reference DIR (a folder holding mlcommons/inference's ``mlperf.conf`` and
``vision/classification_and_detection/python`` of the round, for example
``git archive v3.1 vision/classification_and_detection/python mlperf.conf | tar -x -C DIR``; never committed here),
the MLPerf reference harness (its main.py, profile resnet50-onnxruntime, ONNX Runtime on the CPU) runs the same
models on the same JPEGs (it preprocesses them itself) with the same run lengths, from a copy in the work folder:
Offline at batch 8 (benchfleet's batch) and at its profile's 32, SingleStream; benchfleet over the reference is
printed for each.

With --compiled, the pytorch backend runs the same fp32 model eagerly and compiled by torch.compile (inductor),
Offline and SingleStream each. With --bert-width W, a generated BERT of that width (1024: BERT-large's shape) runs
fp32 and INT8 (calibrated on the official SQuAD feature list's indices, generated features standing in), and the
share of features whose answer span (argmax start, argmax end) INT8 keeps is printed.

Not measured here (issue 19 leaves them open): PyTorch's own quantization, TensorRT, GPUs.

Usage: python bench/precision.py [--width 64] [--count 256] [--long-s 20] [--calibration-count 500] [--cache-dir D]
                                 [--reference DIR] [--compiled] [--bert-width W --bert-count N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchfleet.backends import make_backend
from benchfleet.data.samples import SampleFile
from benchfleet.harness import quantize
from benchfleet.harness import settings as st
from benchfleet.harness.logs import DetailLog
from benchfleet.harness.run import Harness, _batch_latency
from benchfleet.harness.spec import HarnessSpec

BATCH = 8


def _spec(a: argparse.Namespace, precision: str, benchmark: str = "resnet50", backend: str = "onnxruntime",
          compiler: str = "none") -> HarnessSpec:
    bert = benchmark.startswith("bert")
    return HarnessSpec(model="synthetic", dataset="synthetic", benchmark=benchmark, backend=backend,
                       compiler=compiler, synthetic_width=a.bert_width if bert else a.width,
                       dataset_count=a.bert_count if bert else a.count, division="open", system_type="edge",
                       scenarios=["SingleStream", "Offline"], offline="measured", cache_dir=a.cache_dir,
                       precision=precision,
                       calibration_count=(min(a.calibration_count, 100) if bert else a.calibration_count)
                       if precision == "int8" else None)


def _run(h: Harness, work: Path, scenario: str, single: float, multi: float, long_s: float) -> DetailLog:
    batch = BATCH if scenario == "Offline" else 1
    sset = st.build(h.rules, h.bench, scenario, True, single, _batch_latency((single, multi), h._timing_batch, batch),
                    batch, None)
    sset.user_values["min_duration"] = int(long_s * 1000)
    sset.user_values["min_query_count"] = 1 if scenario == "Offline" else 64
    if scenario == "Offline":  # the warm-up's batch is slower than a warm run: ask for enough samples to last
        sset.user_values["target_qps"] = round(1.5 * sset.user_values["target_qps"], 3)
    return DetailLog(h._loadgen(work, sset, accuracy_mode=False, threads=os.cpu_count() or 1, batch=batch)
                     / "mlperf_log_detail.txt")


def _answers(model: Path, args: dict, count: int) -> tuple[np.ndarray, float]:
    """Top-1 of every image and the images/s of a raw loop (batches of BATCH, all cores, after one warm batch)."""
    backend = make_backend("onnxruntime", str(model), threads=os.cpu_count() or 1)
    data = SampleFile(args["samples"])
    x = np.stack([data.read(i) for i in range(count)]).astype(np.float32)
    name, out = args["input"], [args["output"]]
    backend.session.run(out, {name: x[:BATCH]})
    top, t0 = [], time.perf_counter()
    for i in range(0, count, BATCH):
        r = backend.session.run(out, {name: x[i:i + BATCH]})
        top.append(np.asarray(r[0]).reshape(len(x[i:i + BATCH]), -1)[:, 0])
    return np.concatenate(top), count / (time.perf_counter() - t0)


def _bert_answers(h: Harness) -> np.ndarray:
    """(count, 2): the start and end token each feature's logits point at (the model's answer span's ends)."""
    worker = h.task.worker(h.inputs.args, make_backend("onnxruntime", str(h.inputs.model_path),
                                                        threads=os.cpu_count() or 1))
    out = []
    for i in range(0, h.inputs.count, BATCH):
        for r in worker.infer([worker.load(j) for j in range(i, min(i + BATCH, h.inputs.count))]):
            out.append(np.asarray(r).argmax(axis=0))  # (384, 2) -> (start, end)
    return np.asarray(out)


def _measure(h: Harness, work: Path, long_s: float) -> dict:
    """Prepare (an int8 model is quantized or taken from the cache), then Offline and SingleStream runs."""
    h.out.mkdir(parents=True)
    t0 = time.monotonic()
    single, multi = h.prepare()
    prep_s = time.monotonic() - t0
    off = _run(h, work / "off", "Offline", single, multi, long_s)
    ss = _run(h, work / "ss", "SingleStream", single, multi, long_s)
    return {"offline": float(off["result_samples_per_second"]),
            "p90_ms": float(ss["result_90.00_percentile_latency_ns"]) / 1e6, "prep_s": prep_s,
            "valid": (off["result_validity"], ss["result_validity"])}


REFERENCE_CODE = Path("vision/classification_and_detection/python")


def _reference(ref: Path, work: Path, model: Path, data_dir: Path, args: dict, scenario: str, batch: int,
               long_s: float, expected_qps: float, expected_ms: float) -> DetailLog:
    """One performance run of the MLPerf reference harness (main.py, run from a copy under ``work``) on ``model`` and
    the JPEGs of ``data_dir``, as long as benchfleet's runs; its LoadGen detail log."""
    code = work / "python"
    if not code.exists():
        shutil.copytree(ref / REFERENCE_CODE, code)
    out = work / f"{scenario}-b{batch}"
    conf = work / f"user-{scenario}-b{batch}.conf"
    conf.write_text(f"resnet50.{scenario}.min_duration = {int(long_s * 1000)}\n"
                    f"resnet50.Offline.min_query_count = 1\nresnet50.SingleStream.min_query_count = 64\n"
                    f"resnet50.Offline.target_qps = {expected_qps:.3f}\n"
                    f"resnet50.SingleStream.target_latency = {max(1, round(expected_ms))}\n")
    cmd = [sys.executable, "main.py", "--profile", "resnet50-onnxruntime", "--model", str(model), "--dataset-path",
           str(data_dir), "--inputs", args["input"], "--outputs", args["output"], "--scenario", scenario,
           "--threads", str(os.cpu_count() or 1), "--max-batchsize", str(batch), "--mlperf_conf",
           str(ref / "mlperf.conf"), "--user_conf", str(conf), "--output", str(out), "--cache_dir", str(work)]
    done = subprocess.run(cmd, cwd=code, env={**os.environ, "USE_GPU": "no"}, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the reference harness failed ({' '.join(cmd)}):\n{done.stderr[-3000:]}")
    return DetailLog(out / "mlperf_log_detail.txt")


def _print_onnxruntime(a: argparse.Namespace, rows: dict, record: dict, reuse_s: float) -> None:
    f, q = rows["fp32"], rows["int8"]
    agree = float((f["top"] == q["top"]).mean())
    print(f"machine: {os.cpu_count()} vCPUs; generated ResNet50 v1.5 architecture, width {a.width}; {a.count} "
          f"generated images; runs of {a.long_s:g} s; INT8 calibrated on {a.calibration_count} samples of "
          f"{record['calibration']['official_list']} (generated pictures)")
    print("| | fp32 | int8 | int8 / fp32 |")
    print("|---|---|---|---|")
    gain = q["offline"] / f["offline"]
    print(f"| Offline samples/s (harness) | {f['offline']:.1f} | {q['offline']:.1f} | {gain:.2f}x "
          f"(goal >= 2x: {'met' if gain >= 2 else 'NOT met'}) |")
    print(f"| SingleStream p90 ms (harness) | {f['p90_ms']:.2f} | {q['p90_ms']:.2f} | "
          f"{q['p90_ms'] / f['p90_ms']:.2f} |")
    print(f"| raw ORT loop images/s | {f['raw']:.1f} | {q['raw']:.1f} | {q['raw'] / f['raw']:.2f}x |")
    print(f"| harness Offline / raw loop | {f['offline'] / f['raw']:.3f} | {q['offline'] / q['raw']:.3f} | |")
    if a.reference:
        print()
        print("| against the MLPerf reference harness (main.py, same models, same JPEGs) | fp32 | int8 |")
        print("|---|---|---|")
        print(f"| reference Offline samples/s, batch {BATCH} / 32 | {f['ref_offline_b8']:.1f} / "
              f"{f['ref_offline_b32']:.1f} | {q['ref_offline_b8']:.1f} |")
        ref_best = max(f["ref_offline_b8"], f["ref_offline_b32"])
        print(f"| benchfleet Offline / reference's best | {f['offline'] / ref_best:.2f}x (goal >= 1.0: "
              f"{'met' if f['offline'] >= ref_best else 'NOT met'}) | {q['offline'] / q['ref_offline_b8']:.2f}x |")
        print(f"| reference SingleStream p90 ms | {f['ref_p90_ms']:.2f} | {q['ref_p90_ms']:.2f} |")
        print(f"| benchfleet int8 Offline / reference fp32's best | | {q['offline'] / ref_best:.2f}x |")
    print(f"agreement of int8 top-1 with fp32 top-1: {agree:.2%} over {len(f['top'])} images (goal >= 99%: "
          f"{'met' if agree >= 0.99 else 'NOT met'})")
    print(f"int8 prepare (quantization on first use, or the cached model): {q['prep_s']:.1f} s; the same call again: "
          f"{reuse_s:.2f} s")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--count", type=int, default=256)
    p.add_argument("--long-s", type=float, default=20.0)
    p.add_argument("--calibration-count", type=int, default=500)
    p.add_argument("--cache-dir", default=str(Path(tempfile.gettempdir()) / "bf-bench-cache"))
    p.add_argument("--bert-width", type=int, default=0, help="also a generated BERT of this width (1024 and above: "
                   "BERT-large's 24 layers; below, 2 layers); 0: none")
    p.add_argument("--bert-count", type=int, default=64)
    p.add_argument("--compiled", action="store_true", help="also the pytorch backend, eager and torch.compile'd")
    p.add_argument("--no-onnxruntime", action="store_true", help="skip the onnxruntime fp32/int8 part (and the "
                   "reference): run only what --compiled and --bert-width ask for")
    p.add_argument("--reference", type=Path, help="a folder holding the round's mlperf.conf and "
                   f"{REFERENCE_CODE} from mlcommons/inference: run the reference harness too")
    a = p.parse_args()
    if a.reference and not (a.reference / REFERENCE_CODE / "main.py").is_file():
        p.error(f"--reference: {a.reference / REFERENCE_CODE / 'main.py'} not found; extract the round's "
                f"{REFERENCE_CODE} and mlperf.conf there (git archive v3.1 {REFERENCE_CODE} mlperf.conf)")
    out = Path(tempfile.mkdtemp(prefix="bf-precision-"))
    say = lambda m: print("  " + m)  # noqa: E731
    rows = {}
    for precision in () if a.no_onnxruntime else ("fp32", "int8"):
        h = Harness(_spec(a, precision), out / precision, log=say)
        row = rows[precision] = _measure(h, out / precision, a.long_s)
        if precision == "int8":  # again, from the fp32 inputs: the cached model is found, not rebuilt
            t1 = time.monotonic()
            fresh = h.task.resolve(h.spec, lambda m: None)
            _, record = quantize.ensure_int8(h.task, h.spec, fresh, say)
            reuse_s = time.monotonic() - t1
        row["top"], row["raw"] = _answers(h.inputs.model_path, h.inputs.args, h.inputs.count)
        print(f"{precision}: Offline {row['offline']:.1f} samples/s, SingleStream p90 "
              f"{row['p90_ms']:.2f} ms, raw loop {row['raw']:.1f} images/s ({row['valid']})", flush=True)
        if a.reference:
            ref_work = out / precision / "reference"
            ref_work.mkdir()
            for batch in ((BATCH, 32) if precision == "fp32" else (BATCH,)):
                d = _reference(a.reference, ref_work, h.inputs.model_path, h.inputs.data_dir, h.inputs.args, "Offline",
                               batch, a.long_s, 1.5 * row["offline"], row["p90_ms"])
                row[f"ref_offline_b{batch}"] = float(d["result_samples_per_second"])
                print(f"{precision}: reference harness Offline, batch {batch}: {row[f'ref_offline_b{batch}']:.1f} "
                      f"samples/s ({d['result_validity']})", flush=True)
            d = _reference(a.reference, ref_work, h.inputs.model_path, h.inputs.data_dir, h.inputs.args,
                           "SingleStream", 1, a.long_s, 1.5 * row["offline"], row["p90_ms"])
            row["ref_p90_ms"] = float(d["result_90.00_percentile_latency_ns"]) / 1e6
            print(f"{precision}: reference harness SingleStream p90 {row['ref_p90_ms']:.2f} ms "
                  f"({d['result_validity']})", flush=True)
    torch_rows = {}
    if a.compiled:
        for compiler in ("none", "inductor"):
            h = Harness(_spec(a, "fp32", backend="pytorch", compiler=compiler), out / f"pytorch-{compiler}", log=say)
            torch_rows[compiler] = _measure(h, out / f"pytorch-{compiler}", a.long_s)
            t = torch_rows[compiler]
            print(f"pytorch fp32, compiler {compiler}: Offline {t['offline']:.1f} samples/s, SingleStream p90 "
                  f"{t['p90_ms']:.2f} ms (prepare {t['prep_s']:.1f} s)", flush=True)
    bert = {}
    if a.bert_width:
        for precision in ("fp32", "int8"):
            h = Harness(_spec(a, precision, benchmark="bert-99"), out / f"bert-{precision}", log=say)
            bert[precision] = _measure(h, out / f"bert-{precision}", a.long_s)
            bert[precision]["spans"] = _bert_answers(h)
            print(f"bert {precision}: Offline {bert[precision]['offline']:.2f} samples/s, SingleStream p90 "
                  f"{bert[precision]['p90_ms']:.1f} ms", flush=True)
    print()
    if rows:
        _print_onnxruntime(a, rows, record, reuse_s)
    if torch_rows:
        e, c = torch_rows["none"], torch_rows["inductor"]
        print()
        print("| pytorch backend, fp32 | eager | torch.compile (inductor) | compiled / eager |")
        print("|---|---|---|---|")
        print(f"| Offline samples/s | {e['offline']:.1f} | {c['offline']:.1f} | {c['offline'] / e['offline']:.2f}x |")
        print(f"| SingleStream p90 ms | {e['p90_ms']:.2f} | {c['p90_ms']:.2f} | {c['p90_ms'] / e['p90_ms']:.2f} |")
        print(f"| prepare s (compiling included) | {e['prep_s']:.1f} | {c['prep_s']:.1f} | |")
    if bert:
        bf, bq = bert["fp32"], bert["int8"]
        same = float((bf["spans"] == bq["spans"]).all(axis=1).mean())
        print()
        print(f"| generated BERT (width {a.bert_width}, {a.bert_count} features) | fp32 | int8 | int8 / fp32 |")
        print("|---|---|---|---|")
        print(f"| Offline samples/s | {bf['offline']:.2f} | {bq['offline']:.2f} | "
              f"{bq['offline'] / bf['offline']:.2f}x |")
        print(f"| SingleStream p90 ms | {bf['p90_ms']:.1f} | {bq['p90_ms']:.1f} | {bq['p90_ms'] / bf['p90_ms']:.2f} |")
        print(f"| answer spans (start and end) the same as fp32's | | {same:.2%} (goal >= 99%: "
              f"{'met' if same >= 0.99 else 'NOT met'}) | |")
    print(f"work folder: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
