"""GPU harness efficiency: our LoadGen harness (pytorch backend) against a raw PyTorch loop of the same
model, batch and precision, for ResNet50 and BERT-large.

Prints, per model:
  * Offline samples/s of the harness / raw loop (goal >= 0.9). On CUDA the raw loop replays one
    captured CUDA graph over inputs already on the GPU; the harness pays LoadGen, host-to-device
    copies and response handling on top.
  * SingleStream p90: LoadGen's, and the raw loop's over batch-1 calls.

Models are the generated variants at the real shapes on a GPU (ResNet50 width 64; BERT-large:
24 layers, width 1024, sequence 384), synthetic weights and data. Without a GPU the script runs on
the CPU at reduced sizes and SAYS SO in its output: those figures are not GPU results.

Usage: python bench/gpu_harness.py [--device auto|cpu|cuda] [--precision bf16] [--batch 32]
                                   [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from benchfleet.backends import default_threads, make_backend
from benchfleet.benchmarks.registry import task_for
from benchfleet.harness.logs import DetailLog
from benchfleet.harness.run import Harness
from benchfleet.harness.spec import HarnessSpec


def _feeds(task_name: str, worker, samples: list) -> dict[str, np.ndarray]:
    """The backend inputs the task's worker would build for these samples."""
    if task_name == "imagenet":
        return {worker.args["input"]: np.stack(samples)}
    batch = np.stack(samples)
    return {name: batch[:, k] for k, name in enumerate(worker.args["inputs"])}


def raw_loop(backend, feeds_list: list[dict], total_batches: int) -> float:
    """Seconds for ``total_batches`` batches: CUDA-graph replays over device-resident inputs on CUDA,
    plain module calls on the CPU."""
    torch = backend.torch
    staged = [backend._tensors(f) for f in feeds_list]
    if backend.device == "cuda":
        graph, static, _ = backend._graph_for(staged[0])
        torch.cuda.synchronize()
        t = time.perf_counter()
        for i in range(total_batches):
            for k, v in staged[i % len(staged)].items():
                static[k].copy_(v)
            graph.replay()
        torch.cuda.synchronize()
        return time.perf_counter() - t
    with torch.inference_mode():
        backend.module(staged[0])
        t = time.perf_counter()
        for i in range(total_batches):
            backend.module(staged[i % len(staged)])
        return time.perf_counter() - t


def raw_single_p90_ns(backend, feeds_list: list[dict], queries: int) -> float:
    torch = backend.torch
    staged = [backend._tensors(f) for f in feeds_list]
    lat = []
    with torch.inference_mode():
        for q in range(queries):
            t = time.perf_counter_ns()
            if backend.device == "cuda":
                graph, static, _ = backend._graph_for(staged[q % len(staged)])
                for k, v in staged[q % len(staged)].items():
                    static[k].copy_(v)
                graph.replay()
                torch.cuda.synchronize()
            else:
                backend.module(staged[q % len(staged)])
            lat.append(time.perf_counter_ns() - t)
    return float(np.percentile(lat[min(10, queries // 10):], 90))


def _raw(benchmark: str, spec: HarnessSpec, a, device: str, threads: int) -> tuple[float, float]:
    """Raw Offline samples/s and batch-1 p90 (ns), same model file, samples, batch and precision."""
    task = task_for(benchmark, "pytorch")
    inputs = task.resolve(spec, log=lambda m: None)
    backend = make_backend("pytorch", str(inputs.model_path), threads=threads, device=device, precision=a.precision)
    worker = task.worker(inputs.args, backend)
    samples = [worker.load(i) for i in range(inputs.count)]
    batches = [_feeds(task.name, worker, [samples[(b * a.batch + k) % len(samples)] for k in range(a.batch)])
               for b in range(max(1, min(8, len(samples) // a.batch)))]
    n_batches = max(8, a.raw_samples // a.batch)
    raw_s = raw_loop(backend, batches, n_batches)
    singles = [_feeds(task.name, worker, [samples[i]]) for i in range(min(len(samples), 16))]
    return n_batches * a.batch / raw_s, raw_single_p90_ns(backend, singles, a.raw_queries)


def measure(benchmark: str, width: int, count: int, a, device: str, cache: str) -> dict:
    threads = default_threads()
    spec = HarnessSpec(benchmark=benchmark, backend="pytorch", device=device, precision=a.precision,
                       model="synthetic", dataset="synthetic", synthetic_width=width, dataset_count=count,
                       division="open", scenarios=["SingleStream", "Offline"], offline="measured", batch=a.batch,
                       threads=threads, cache_dir=cache)
    task_for(benchmark, "pytorch").resolve(spec, log=lambda m: print(f"  [{benchmark}] {m}", flush=True))
    # The raw loop runs before and after the harness and the ratio uses their mean, so that a machine whose
    # speed drifts (shared cloud CPUs do) does not decide the comparison; both raw figures are reported.
    before = _raw(benchmark, spec, a, device, threads)
    with tempfile.TemporaryDirectory() as tmp:
        meta = Harness(spec, Path(tmp) / "out", log=lambda m: print(f"  [{benchmark}] {m}", flush=True)).run()
        offline = next(s for s in meta["scenarios"] if s["scenario"] == "Offline")
        ss_detail = DetailLog(Path(tmp) / "out" / "SingleStream" / "performance" / "run_1" / "mlperf_log_detail.txt")
        harness_p90 = float(ss_detail["result_90.00_percentile_latency_ns"])
    after = _raw(benchmark, spec, a, device, threads)
    raw_sps = (before[0] + after[0]) / 2
    raw_p90 = (before[1] + after[1]) / 2
    return {"benchmark": benchmark, "width": width, "harness_offline_sps": offline["metric"],
            "raw_offline_sps": round(raw_sps, 2), "raw_offline_sps_before_after": [round(before[0], 2),
                                                                                round(after[0], 2)],
            "ratio": round(offline["metric"] / raw_sps, 3),
            "harness_ss_p90_ms": round(harness_p90 / 1e6, 3), "raw_ss_p90_ms": round(raw_p90 / 1e6, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--precision", default="", help="fp32, fp16 or bf16 (default: bf16 on cuda, fp32 on cpu)")
    ap.add_argument("--batch", type=int, default=0, help="Offline batch (default: 32 on cuda, 8 on cpu)")
    ap.add_argument("--raw-samples", type=int, default=0, help="samples in the raw Offline loop")
    ap.add_argument("--raw-queries", type=int, default=512, help="batch-1 calls in the raw SingleStream loop")
    ap.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "benchfleet"))
    ap.add_argument("--json", default="", help="also write the results here")
    a = ap.parse_args()
    import torch

    device = a.device if a.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    a.precision = a.precision or ("bf16" if device == "cuda" else "fp32")
    a.batch = a.batch or (32 if device == "cuda" else 8)
    a.raw_samples = a.raw_samples or (24576 if device == "cuda" else 512)
    if device == "cuda":
        gpu = torch.cuda.get_device_name(0)
        sizes = {"resnet50": (64, 1024), "bert-99": (1024, 512)}
        print(f"GPU: {gpu}; torch {torch.__version__}; precision {a.precision}; batch {a.batch}")
    else:
        gpu = None
        sizes = {"resnet50": (8, 256), "bert-99": (64, 64)}
        print("NO GPU: running on the CPU at reduced sizes (ResNet50 width 8, a 2-layer BERT of width 64); "
              "these figures are NOT GPU results. Run on a GPU machine for the real comparison.")
    results = []
    for bench, (width, count) in sizes.items():
        r = measure(bench, width, count, a, device, a.cache_dir)
        results.append(r)
        print(f"{bench} (width {width}): Offline harness {r['harness_offline_sps']:.1f} samples/s, raw loop "
              f"{r['raw_offline_sps']:.1f} (before/after: {r['raw_offline_sps_before_after']}), ratio "
              f"{r['ratio']:.3f} (goal >= 0.9); SingleStream p90 harness "
              f"{r['harness_ss_p90_ms']:.2f} ms, raw {r['raw_ss_p90_ms']:.2f} ms", flush=True)
    out = {"device": device, "gpu": gpu, "precision": a.precision, "batch": a.batch, "torch": torch.__version__,
           "results": results}
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
