"""Harness overhead: our LoadGen harness against a raw loop of the same model, batch and threads.

For any benchmark benchfleet runs (default resnet50), on its generated model and dataset. Prints, in one run:
  * Offline samples/s of the harness / raw loop (goal >= 0.95)
  * SingleStream p90 latency of the harness (LoadGen's) and of the raw loop
  * peak RSS of the harness's LoadGen processes / the raw loop's process (goal <= 1.1x)

The raw loop runs in a process of its own: the benchmark's own worker (the same samples file, preprocessing
and response code the LoadGen processes use) on the same backend, batch and threads, with the samples LoadGen's
runs hold (the performance sample count) loaded into RAM first, as the reference's harness keeps them; then
timed ``worker.infer`` calls, without LoadGen.

Usage: python bench/harness_overhead.py [--benchmark resnet50] [--width 16] [--batch 8] [--count 1024]
                                        [--offline-samples N] [--cache-dir DIR]

--offline-samples: the Offline run's sample count in place of the round's minimum (24,576 in v3.1), for models
whose samples take a second (3D-UNet's cases); both loops then time the same number of samples.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchfleet.backends import default_threads, make_backend
from benchfleet.benchmarks import registry
from benchfleet.harness.logs import DetailLog
from benchfleet.harness.run import Harness
from benchfleet.harness.spec import HarnessSpec


def raw_offline(worker, data: list, batch: int, total: int) -> float:
    n = len(data)
    t = time.perf_counter()
    done = 0
    while done < total:
        idx = [(done + k) % n for k in range(min(batch, total - done))]
        worker.infer([data[i] for i in idx])
        done += len(idx)
    return total / (time.perf_counter() - t)


def raw_single_stream_p90(worker, data: list, queries: int) -> float:
    lat = []
    for q in range(queries):
        x = data[q % len(data)]
        t = time.perf_counter_ns()
        worker.infer([x])
        lat.append(time.perf_counter_ns() - t)
    return float(np.percentile(lat, 90))


def peak_rss_mb(who: int) -> float:
    """Peak RSS in MB of this process (RUSAGE_SELF) or of its largest waited-for child (RUSAGE_CHILDREN)."""
    return resource.getrusage(who).ru_maxrss / 1024  # Linux: kilobytes


def raw_child(a: argparse.Namespace) -> None:
    """The raw loop in a process of its own: samples loaded into RAM, then timed worker.infer calls."""
    spec = HarnessSpec.model_validate_json(a.spec)
    task = registry.task_for(spec.benchmark, spec.backend)
    inputs = task.resolve(spec, log=lambda m: None)
    backend = make_backend(spec.backend, str(inputs.model_path), threads=spec.threads, device=spec.device)
    worker = task.worker(inputs.args, backend)
    data = [worker.load(i) for i in range(min(inputs.count, a.in_ram))]
    worker.infer(data[:spec.batch])  # warm-up, as the harness's
    qps = raw_offline(worker, data, spec.batch, a.total)
    p90 = raw_single_stream_p90(worker, data, a.queries)
    print(json.dumps({"qps": qps, "p90_ns": p90, "peak_rss_mb": peak_rss_mb(resource.RUSAGE_SELF),
                      "backend": backend.name, "version": backend.version}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--benchmark", default="resnet50", help="a benchmark benchfleet runs (default resnet50)")
    ap.add_argument("--backend", default="onnxruntime")
    ap.add_argument("--width", type=int, default=16, help="width of the generated model (the real one's: "
                    "ResNet50 64, BERT 1024)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--count", type=int, default=1024, help="samples in the generated dataset")
    ap.add_argument("--system-type", default="edge", help="edge or datacenter (DLRM-v2 is datacenter only)")
    ap.add_argument("--offline-samples", type=int, default=0, help="Offline sample count (default: the round's)")
    ap.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "benchfleet"))
    ap.add_argument("--raw-child", action="store_true", help=argparse.SUPPRESS)
    for name, kind in (("spec", str), ("total", int), ("queries", int), ("in-ram", int)):
        ap.add_argument(f"--{name}", type=kind, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.raw_child:
        raw_child(a)
        return
    if a.offline_samples:
        from benchfleet.harness import settings

        round_build = settings.build

        def build(*args, **kw):
            s = round_build(*args, **kw)
            if s.scenario == "Offline":
                s.user_values["min_query_count"] = a.offline_samples
            return s

        settings.build = build
    threads = default_threads()
    spec = HarnessSpec(benchmark=a.benchmark, backend=a.backend, model="synthetic", dataset="synthetic",
                       synthetic_width=a.width, dataset_count=a.count, division="open", system_type=a.system_type,
                       scenarios=["Offline", "SingleStream"], offline="measured", batch=a.batch,
                       threads=threads, cache_dir=a.cache_dir)
    with tempfile.TemporaryDirectory() as tmp:
        meta = Harness(spec, Path(tmp), log=lambda m: None).run()
        off = DetailLog(Path(tmp) / "Offline" / "performance" / "run_1" / "mlperf_log_detail.txt")
        ss = DetailLog(Path(tmp) / "SingleStream" / "performance" / "run_1" / "mlperf_log_detail.txt")
        harness_qps = float(off["result_samples_per_second"])
        total = int(off["result_query_count"] and off["effective_samples_per_query"])
        harness_p90 = float(ss["result_90.00_percentile_latency_ns"])
        ss_queries = int(ss["result_query_count"])
        in_ram = int(ss["effective_performance_sample_count"])  # what LoadGen asked the SUT to keep
    harness_rss = peak_rss_mb(resource.RUSAGE_CHILDREN)  # the largest LoadGen process
    harness_main_rss = peak_rss_mb(resource.RUSAGE_SELF)
    child = subprocess.run([sys.executable, __file__, "--raw-child", "--spec", spec.model_dump_json(),
                            "--total", str(total), "--queries", str(ss_queries), "--in-ram", str(in_ram)],
                           check=True, capture_output=True, text=True)
    raw = json.loads(child.stdout.splitlines()[-1])
    raw_qps, raw_p90, raw_rss = raw["qps"], raw["p90_ns"], raw["peak_rss_mb"]
    family = registry.lookup(a.benchmark, a.backend).family
    result = {
        "benchmark": a.benchmark, "model": f"{family} architecture, width {a.width} (synthetic)",
        "backend": raw["backend"], "threads": threads, "batch": a.batch, "offline_samples": total,
        "ss_queries": ss_queries, "offline_harness_sps": round(harness_qps, 2), "offline_raw_sps": round(raw_qps, 2),
        "offline_ratio": round(harness_qps / raw_qps, 3),
        "ss_p90_harness_ms": round(harness_p90 / 1e6, 3), "ss_p90_raw_ms": round(raw_p90 / 1e6, 3),
        "samples_in_ram": in_ram, "peak_rss_harness_loadgen_mb": round(harness_rss, 1),
        "peak_rss_harness_main_mb": round(harness_main_rss, 1), "peak_rss_raw_mb": round(raw_rss, 1),
        "rss_ratio": round(harness_rss / raw_rss, 3),
        "loadgen": meta["host"]["loadgen"], "backend_version": meta["backend"]["version"],
    }
    print(json.dumps(result, indent=2))
    print(f"{a.benchmark} Offline: harness {harness_qps:.1f} samples/s, raw loop {raw_qps:.1f} samples/s, "
          f"ratio {harness_qps / raw_qps:.3f} (goal >= 0.95)")
    print(f"{a.benchmark} SingleStream p90: harness {harness_p90 / 1e6:.2f} ms, raw loop {raw_p90 / 1e6:.2f} ms")
    print(f"{a.benchmark} peak RSS: harness LoadGen process {harness_rss:.0f} MB, raw loop {raw_rss:.0f} MB, "
          f"ratio {harness_rss / raw_rss:.3f} (goal <= 1.1); harness main process {harness_main_rss:.0f} MB")


if __name__ == "__main__":
    main()
