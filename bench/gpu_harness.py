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

Usage: python bench/gpu_harness.py [--device auto|cpu|cuda] [--precisions bf16,fp16,fp32] [--batch 256]
                                   [--models resnet50,bert-99] [--compiler none|inductor] [--json results.json]

Each (model, precision) is one row; the JSON file is rewritten after each row, so a run stopped at its time
limit keeps what it measured. ``--layout-ab`` adds, for ResNet50, the raw loop without channels-last.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from benchfleet.backends import default_threads
from benchfleet.backends.base import stacked
from benchfleet.benchmarks.registry import task_for
from benchfleet.harness.logs import DetailLog
from benchfleet.harness.run import Harness
from benchfleet.harness.spec import HarnessSpec


def _inputs(task_name: str, worker, samples: list) -> dict:
    """The model's inputs, on the backend's device, that the task's worker would build for these (loaded)
    samples."""
    if task_name == "imagenet":
        feeds = {worker.args["input"]: stacked(worker.backend, worker.args["input"], samples)}
    else:
        batch = np.stack(samples)
        feeds = {name: batch[:, k] for k, name in enumerate(worker.args["inputs"])}
    inputs = worker.backend._tensors(feeds)
    if worker.backend.device == "cuda":  # a pinned buffer is reused by the next stack: let its copy finish
        worker.backend.torch.cuda.synchronize()
    return inputs


def raw_loop(backend, staged: list[dict], seconds: float) -> tuple[int, float]:
    """(batches, seconds) of a loop sized to last about ``seconds``: CUDA-graph replays over device-resident
    inputs on CUDA, plain module calls on the CPU."""
    torch = backend.torch

    def loop(n: int) -> float:
        if backend.device == "cuda":
            graph, static, _ = backend._graph_for(staged[0])
            torch.cuda.synchronize()
            t = time.perf_counter()
            for i in range(n):
                for k, v in staged[i % len(staged)].items():
                    static[k].copy_(v)
                graph.replay()
            torch.cuda.synchronize()
            return time.perf_counter() - t
        with torch.inference_mode():
            t = time.perf_counter()
            for i in range(n):
                backend.module(staged[i % len(staged)])
            return time.perf_counter() - t

    loop(2)  # warm-up (and the graph's capture)
    probe = loop(3) / 3
    n = max(4, int(seconds / max(probe, 1e-6)))
    return n, loop(n)


def raw_single_p90_ns(backend, staged: list[dict], queries: int) -> float:
    torch = backend.torch
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


def _raw(benchmark: str, spec: HarnessSpec, a, device: str, threads: int,
         channels_last: bool | None = None) -> tuple[float, float]:
    """Raw Offline samples/s and batch-1 p90 (ns), same model file, samples, batch and precision."""
    from benchfleet.backends.pytorch import TorchBackend

    task = task_for(benchmark, "pytorch")
    inputs = task.resolve(spec, log=lambda m: None)
    backend = TorchBackend(model_path=str(inputs.model_path), threads=threads, device=device, precision=spec.precision,
                           compiler=spec.compiler, channels_last=channels_last)
    worker = task.worker(inputs.args, backend)
    samples = [worker.load(i) for i in range(inputs.count)]
    batches = [_inputs(task.name, worker, [samples[(b * a.batch + k) % len(samples)] for k in range(a.batch)])
               for b in range(max(1, min(4, len(samples) // a.batch)))]
    n_batches, raw_s = raw_loop(backend, batches, a.raw_seconds)
    singles = [_inputs(task.name, worker, [samples[i]]) for i in range(min(len(samples), 16))]
    return n_batches * a.batch / raw_s, raw_single_p90_ns(backend, singles, a.raw_queries)


def measure(benchmark: str, width: int, count: int, precision: str, a, device: str, cache: str) -> dict:
    threads = default_threads()
    spec = HarnessSpec(benchmark=benchmark, backend="pytorch", device=device, precision=precision,
                       model="synthetic", dataset="synthetic", synthetic_width=width, dataset_count=count,
                       division="open", scenarios=["SingleStream", "Offline"], offline="measured", batch=a.batch,
                       threads=threads, cache_dir=cache, compiler=a.compiler)
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
    extra = {}
    if a.layout_ab and benchmark == "resnet50" and device == "cuda":
        extra["raw_offline_sps_nchw"] = round(_raw(benchmark, spec, a, device, threads, channels_last=False)[0], 2)
    return {"benchmark": benchmark, "width": width, "precision": precision, "compiler": a.compiler, **extra,
            "harness_offline_sps": offline["metric"],
            "raw_offline_sps": round(raw_sps, 2), "raw_offline_sps_before_after": [round(before[0], 2),
                                                                                round(after[0], 2)],
            "ratio": round(offline["metric"] / raw_sps, 3),
            "harness_ss_p90_ms": round(harness_p90 / 1e6, 3), "raw_ss_p90_ms": round(raw_p90 / 1e6, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--precisions", default="", help="comma list of fp32, fp16, bf16 (default: bf16 on cuda, fp32 on "
                    "cpu)")
    ap.add_argument("--models", default="resnet50,bert-99", help="comma list: resnet50, bert-99")
    ap.add_argument("--compiler", default="none", choices=["none", "inductor"])
    ap.add_argument("--batch", type=int, default=0, help="Offline batch (default: 256 on cuda, 8 on cpu)")
    ap.add_argument("--bert-count", type=int, default=0, help="BERT questions (default 64 on cuda: the generator "
                    "answers each with the model on the CPU)")
    ap.add_argument("--raw-seconds", type=float, default=3.0, help="length of each raw Offline loop")
    ap.add_argument("--raw-queries", type=int, default=512, help="batch-1 calls in the raw SingleStream loop")
    ap.add_argument("--layout-ab", action="store_true", help="ResNet50 on cuda: also the raw loop without "
                    "channels-last")
    ap.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "benchfleet"))
    ap.add_argument("--json", default="", help="also write the results here")
    a = ap.parse_args()
    import torch

    device = a.device if a.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    precisions = [p for p in (a.precisions or ("bf16" if device == "cuda" else "fp32")).split(",") if p]
    a.batch = a.batch or (256 if device == "cuda" else 8)
    if device == "cuda":
        gpu = torch.cuda.get_device_name(0)
        sizes = {"resnet50": (64, 1024), "bert-99": (1024, a.bert_count or 64)}
        print(f"GPU: {gpu}; torch {torch.__version__}; precisions {precisions}; batch {a.batch}; compiler "
              f"{a.compiler}")
    else:
        gpu = None
        sizes = {"resnet50": (8, 256), "bert-99": (64, 64)}
        print("NO GPU: running on the CPU at reduced sizes (ResNet50 width 8, a 2-layer BERT of width 64); "
              "these figures are NOT GPU results. Run on a GPU machine for the real comparison.")
    results = []
    out = {"device": device, "gpu": gpu, "batch": a.batch, "torch": torch.__version__, "results": results}
    for bench in [m for m in a.models.split(",") if m]:
        width, count = sizes[bench]
        for precision in precisions:
            t0 = time.perf_counter()
            try:
                r = measure(bench, width, count, precision, a, device, a.cache_dir)
            except Exception as exc:  # one broken path must not hide the others' figures
                import traceback

                traceback.print_exc()
                r = {"benchmark": bench, "precision": precision, "compiler": a.compiler,
                     "error": f"{type(exc).__name__}: {exc}"[:2000]}
                print(f"{bench} {precision}: FAILED: {r['error']}", flush=True)
            else:
                print(f"{bench} (width {width}) {precision} compiler {a.compiler}: Offline harness "
                      f"{r['harness_offline_sps']:.1f} samples/s, raw loop {r['raw_offline_sps']:.1f} (before/after: "
                      f"{r['raw_offline_sps_before_after']}), ratio {r['ratio']:.3f} (goal >= 0.9); SingleStream p90 "
                      f"harness {r['harness_ss_p90_ms']:.2f} ms, raw {r['raw_ss_p90_ms']:.2f} ms"
                      + (f"; raw NCHW {r['raw_offline_sps_nchw']:.1f}" if "raw_offline_sps_nchw" in r else ""),
                      flush=True)
            r["seconds"] = round(time.perf_counter() - t0, 1)
            results.append(r)
            if a.json:
                Path(a.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
