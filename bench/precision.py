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

Not measured here (issue 19 leaves them open): the MLPerf reference harness on the same model and data (its
vision/classification_and_detection/python/main.py), BERT, PyTorch's quantization and compiled paths, GPUs.

Usage: python bench/precision.py [--width 64] [--count 256] [--long-s 20] [--calibration-count 500] [--cache-dir D]
"""

from __future__ import annotations

import argparse
import os
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


def _spec(a: argparse.Namespace, precision: str) -> HarnessSpec:
    return HarnessSpec(model="synthetic", dataset="synthetic", synthetic_width=a.width, dataset_count=a.count,
                       division="open", system_type="edge", scenarios=["SingleStream", "Offline"],
                       offline="measured", cache_dir=a.cache_dir, precision=precision,
                       calibration_count=a.calibration_count if precision == "int8" else None)


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


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--count", type=int, default=256)
    p.add_argument("--long-s", type=float, default=20.0)
    p.add_argument("--calibration-count", type=int, default=500)
    p.add_argument("--cache-dir", default=str(Path(tempfile.gettempdir()) / "bf-bench-cache"))
    a = p.parse_args()
    out = Path(tempfile.mkdtemp(prefix="bf-precision-"))
    rows = {}
    for precision in ("fp32", "int8"):
        h = Harness(_spec(a, precision), out / precision, log=lambda m: print("  " + m))
        h.out.mkdir(parents=True)
        t0 = time.monotonic()
        single, multi = h.prepare()  # int8: quantizes (or reuses the cached model)
        prep_s = time.monotonic() - t0
        if precision == "int8":  # again, from the fp32 inputs: the cached model is found, not rebuilt
            t1 = time.monotonic()
            fresh = h.task.resolve(h.spec, lambda m: None)
            _, record = quantize.ensure_int8(h.task, h.spec, fresh, lambda m: print("  " + m))
            reuse_s = time.monotonic() - t1
        off = _run(h, out / precision / "off", "Offline", single, multi, a.long_s)
        ss = _run(h, out / precision / "ss", "SingleStream", single, multi, a.long_s)
        top, raw = _answers(h.inputs.model_path, h.inputs.args, h.inputs.count)
        rows[precision] = {"offline": float(off["result_samples_per_second"]),
                           "p90_ms": float(ss["result_90.00_percentile_latency_ns"]) / 1e6, "raw": raw, "top": top,
                           "prep_s": prep_s, "valid": (off["result_validity"], ss["result_validity"])}
        print(f"{precision}: Offline {rows[precision]['offline']:.1f} samples/s, SingleStream p90 "
              f"{rows[precision]['p90_ms']:.2f} ms, raw loop {raw:.1f} images/s ({rows[precision]['valid']})",
              flush=True)
    f, q = rows["fp32"], rows["int8"]
    agree = float((f["top"] == q["top"]).mean())
    print()
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
    print(f"agreement of int8 top-1 with fp32 top-1: {agree:.2%} over {len(f['top'])} images (goal >= 99%: "
          f"{'met' if agree >= 0.99 else 'NOT met'})")
    print(f"int8 prepare (quantization on first use, or the cached model): {q['prep_s']:.1f} s; the same call again: "
          f"{reuse_s:.2f} s")
    print(f"work folder: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
