"""Harness overhead: our LoadGen harness against a raw ONNX Runtime loop, same model, batch, threads.

Prints, in one run:
  * Offline samples/s of the harness / raw loop (goal >= 0.95)
  * SingleStream p90 latency of the harness (LoadGen's) and of the raw loop

Usage: python bench/harness_overhead.py [--width 64] [--samples 2048] [--batch 8]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from benchfleet.harness.backend import default_threads, make_backend
from benchfleet.harness.logs import DetailLog
from benchfleet.harness.preprocessed import ensure, open_samples
from benchfleet.harness.run import Harness
from benchfleet.harness.spec import HarnessSpec
from benchfleet.models import resnet50_onnx as r50


def raw_offline(backend, samples: np.ndarray, batch: int, total: int) -> float:
    n = samples.shape[0]
    data = [np.ascontiguousarray(samples[i]) for i in range(n)]
    t = time.perf_counter()
    done = 0
    while done < total:
        idx = [(done + k) % n for k in range(min(batch, total - done))]
        backend.run({r50.INPUT_NAME: np.stack([data[i] for i in idx])}, [r50.ARGMAX_NAME])
        done += len(idx)
    return total / (time.perf_counter() - t)


def raw_single_stream_p90(backend, samples: np.ndarray, queries: int) -> float:
    lat = []
    for q in range(queries):
        x = np.ascontiguousarray(samples[q % samples.shape[0]])[None]
        t = time.perf_counter_ns()
        backend.run({r50.INPUT_NAME: x}, [r50.ARGMAX_NAME])
        lat.append(time.perf_counter_ns() - t)
    return float(np.percentile(lat, 90))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--width", type=int, default=16, help="ResNet50 width (64 = the real network)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "benchfleet"))
    a = ap.parse_args()
    threads = default_threads()
    spec = HarnessSpec(model="synthetic", dataset="synthetic", synthetic_width=a.width, division="open",
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
    from benchfleet.data.imagenet import ImageNetVal
    from benchfleet.models.synthetic import make_pair

    pair = make_pair(Path(a.cache_dir).expanduser() / "synthetic", width=a.width)
    samples = open_samples(ensure(ImageNetVal.open(pair.dataset_dir), Path(a.cache_dir).expanduser(),
                                  log=lambda m: None))
    backend = make_backend("onnxruntime", str(pair.model_path), threads=threads)
    backend.run({r50.INPUT_NAME: np.ascontiguousarray(samples[:a.batch])}, [r50.ARGMAX_NAME])
    raw_qps = raw_offline(backend, samples, a.batch, total)
    raw_p90 = raw_single_stream_p90(backend, samples, ss_queries)
    result = {
        "model": f"ResNet50 v1.5 architecture, width {a.width} (synthetic)",
        "threads": threads, "batch": a.batch, "offline_samples": total, "ss_queries": ss_queries,
        "offline_harness_sps": round(harness_qps, 2), "offline_raw_sps": round(raw_qps, 2),
        "offline_ratio": round(harness_qps / raw_qps, 3),
        "ss_p90_harness_ms": round(harness_p90 / 1e6, 3), "ss_p90_raw_ms": round(raw_p90 / 1e6, 3),
        "loadgen": meta["host"]["loadgen"], "onnxruntime": meta["backend"]["version"],
    }
    print(json.dumps(result, indent=2))
    print(f"Offline: harness {harness_qps:.1f} samples/s, raw loop {raw_qps:.1f} samples/s, "
          f"ratio {harness_qps / raw_qps:.3f} (goal >= 0.95)")
    print(f"SingleStream p90: harness {harness_p90 / 1e6:.2f} ms, raw loop {raw_p90 / 1e6:.2f} ms")


if __name__ == "__main__":
    main()
