"""One LoadGen test in its own process.

LoadGen keeps state across tests in one process (a second test logs "Multiple conf files are
used"), so the harness starts this module once per test, as the reference harnesses do.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel

NO_AUDIT = "benchfleet-no-audit.config"  # never exists: no stray audit.config in cwd is read


class RunRequest(BaseModel):
    round: str
    benchmark: str
    scenario: str
    accuracy_mode: bool
    round_values: dict[str, float]
    user_values: dict[str, float]
    audit: str | None = None
    test05: bool = False
    workdir: str
    backend: str
    device: str
    model_path: str
    task: str
    args: dict
    count: int
    threads: int
    batch: int
    precision: str = "fp32"
    compiler: str = "none"


# A Server run batches what is queued: every batch size up to this one is met, so each is warmed up.
WARM_EVERY_SIZE_UP_TO = 8


def warm_up(worker, scenario: str, batch: int) -> list[int]:
    """Run the engine once at each batch size the test will use, before LoadGen starts (the reference's main.py
    warms up too): first calls allocate, pick kernels and (a compiled model) compile, and in a run of seconds those
    few slow queries are more than a percentile's share. Returns the sizes warmed."""
    batch = max(1, batch)
    if scenario == "Server" and batch <= WARM_EVERY_SIZE_UP_TO:
        sizes = list(range(1, batch + 1))
    elif scenario in ("SingleStream",):
        sizes = [1]
    else:
        sizes = sorted({1, batch})
    sample = worker.load(0)
    for size in sizes:
        worker.infer([sample] * size)
    return sizes


def run(req: RunRequest) -> Path:
    import mlperf_loadgen as lg

    from benchfleet.backends import make_backend
    from benchfleet.benchmarks import registry
    from benchfleet.harness import settings as st
    from benchfleet.harness.sut import SUT, SampleCache
    from benchfleet.rules import get_round

    rules = get_round(req.round)
    bench = rules.benchmark(req.benchmark)
    sset = st.ScenarioSettings(bench.loadgen_model, req.scenario, req.round_values, req.user_values)
    work = Path(req.workdir)
    work.mkdir(parents=True, exist_ok=True)
    user_conf = work / "user.conf"
    user_conf.write_text(sset.user_conf(rules.version))
    audit_path = work / "audit.config"
    if req.audit:
        audit_path.write_text(req.audit)
    ts = lg.TestSettings()
    ts.FromConfig(str(user_conf), sset.model, sset.scenario)
    ts.scenario = getattr(lg.TestScenario, req.scenario)
    ts.mode = lg.TestMode.AccuracyOnly if req.accuracy_mode else lg.TestMode.PerformanceOnly
    st.apply(ts, sset, rules, test05=req.test05)

    backend = make_backend(req.backend, req.model_path, threads=req.threads, device=req.device,
                           precision=req.precision, compiler=req.compiler)
    task = registry.task(req.task)
    worker = task.worker(req.args, backend)
    warming = task.warm_up or req.compiler != "none"
    cache = SampleCache(worker.load, req.count)
    logdir = work / "logs"
    logdir.mkdir(exist_ok=True)
    lo = lg.LogOutputSettings()
    lo.outdir = str(logdir)
    lo.copy_summary_to_stdout = False
    ls = lg.LogSettings()
    ls.log_output = lo
    ls.enable_trace = False
    # the SUT warms each of its worker threads (a CUDA backend's graphs and buffers are per thread)
    impl = SUT(worker, cache, req.scenario, req.batch,
               warm=(lambda: warm_up(worker, req.scenario, req.batch)) if warming else None)
    sut = lg.ConstructSUT(impl.issue, impl.flush)
    qsl = lg.ConstructQSL(cache.count, min(cache.count, bench.performance_sample_count), cache.load, cache.unload)
    try:
        lg.StartTestWithLogSettings(sut, qsl, ts, ls, str(audit_path if req.audit else work / NO_AUDIT))
    finally:
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)
        impl.close()
    (logdir / "mlperf_log_trace.json").unlink(missing_ok=True)
    return logdir


def main() -> int:
    req = RunRequest.model_validate(json.loads(Path(sys.argv[1]).read_text()))
    run(req)
    return 0


if __name__ == "__main__":
    sys.exit(main())
