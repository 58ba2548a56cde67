"""Run one benchmark on this host: every scenario and mode the spec needs.

Output folder (one per harness invocation)::

    harness.json                               what ran, on what, with which settings, and the results
    <Scenario>/user.conf
    <Scenario>/performance/run_1/...           LoadGen logs
    <Scenario>/accuracy/...                    logs + accuracy.txt (with hash=) + truncated accuracy log
    <Scenario>/TEST01|TEST04|TEST05/...        compliance layout, verify_*.txt included

A scenario inferred from SingleStream holds copies of the SingleStream logs and says so in
harness.json.

harness.json is written after each scenario and each compliance round (``complete: false``, the scenario in
progress ``partial``), so a harness stopped for time leaves what it measured; started again on the same
folder and spec, it keeps the finished scenarios and measures the rest. A scenario whose compliance tests
still fail after its rounds carries ``failure``: the verdict, with how far apart its performance runs were.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from benchfleet import __version__
from benchfleet.backends import default_threads, make_backend
from benchfleet.benchmarks.base import Worker
from benchfleet.benchmarks.registry import task_for
from benchfleet.benchmarks.sources import copy_scoring_files
from benchfleet.harness import accuracy as acc
from benchfleet.harness import compliance as comp
from benchfleet.harness import power_layout as pw
from benchfleet.harness import server_search as ss
from benchfleet.harness import settings as st
from benchfleet.harness import tune
from benchfleet.harness.loadgen_run import RunRequest
from benchfleet.harness.logs import DetailLog, metric
from benchfleet.harness.result import FILE, HarnessResult
from benchfleet.harness.spec import HarnessSpec, PowerSpec
from benchfleet.harness.sut import SampleCache
from benchfleet.rules import get_round, power_sources
from benchfleet.rules.table import RUNNABLE_TESTS

LOG_FILES = ("mlperf_log_summary.txt", "mlperf_log_detail.txt")
DEFAULT_GPU_BATCH = 64
# A compliance test that misses its rule is measured once more against the same performance run before
# the round counts as failed: on a host whose speed wobbles, the test run alone is most often the outlier.
TEST_ATTEMPTS = 2
ACC_LOG = "mlperf_log_accuracy.json"
# Seconds between heartbeats: the harness_cell module's watchdog stops a cell that shows neither a progress
# line nor a heartbeat for its stall period (minutes), so a LoadGen run that lasts long on a slow host is not
# taken for a hung one. One small write per beat, in a process that is not the one being timed.
HEARTBEAT_S = 30.0
# A Server target search runs only where one probe (a quick Server run) takes at most this long; an LLM's
# Server queries take seconds each, and its run keeps the half-throughput estimate.
SERVER_PROBE_MAX_S = 20.0
# With no batch given, a Server batch is kept to at most this share of the benchmark's latency bound.
SERVER_BATCH_SHARE = 1 / 3
# A searched Server target whose run is INVALID (the probes are short; the run is not) is measured once more at
# the same target (near the edge, one run's verdict on a shared host is a coin toss: see bench/RESULTS.md), then
# lowered by this factor and measured again the same way, at most this many times.
SERVER_STEP_DOWN = 0.9
SERVER_CONFIRM_STEPS = 2
SERVER_CONFIRM_TRIES = 2  # runs at each target before stepping down
# The files the harness writes beside its --out folder (results/) in a cell folder on a host, by role. The
# harness_cell module reads them; its copy of these names is plugins/module_utils/_cell_folder.py (HARNESS_WRITES),
# held equal by tests/test_host_boundary.py. Kept here, free of Ansible: the harness runs on hosts without it.
CELL_FILES = {"progress": "progress.log", "measuring": "measuring", "heartbeat": "heartbeat"}


def _measure(worker: Worker, cache: SampleCache, batch: int, reps: int = 5) -> tuple[float, float]:
    cache.load(list(range(min(batch, cache.count))))
    one = cache.samples([0])
    worker.infer(one)
    t = time.perf_counter()
    for _ in range(reps):
        worker.infer(one)
    single = (time.perf_counter() - t) / reps
    if batch <= 1:
        return single, single
    many = cache.samples([i % cache.count for i in range(batch)])
    worker.infer(many)
    t = time.perf_counter()
    for _ in range(max(2, reps // 2)):
        worker.infer(many)
    multi = (time.perf_counter() - t) / max(2, reps // 2)
    return single, multi


def _batch_latency(timings: tuple[float, float], timed: int, batch: int) -> float:
    """A batch's latency from the warm-up's single sample and its batch of ``timed``: linear in between (and
    beyond, for a tuned batch larger than the one timed)."""
    single, multi = timings
    if batch <= 1 or timed <= 1:
        return single if batch <= 1 else single * batch
    return single + (multi - single) * (batch - 1) / (timed - 1)


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a live process has used, from /proc/<pid>/stat; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class _Heartbeat:
    """Rewrites ``path`` after every ``interval`` in which the harness or its LoadGen run used CPU.

    The watchdog of the harness_cell module takes a fresh heartbeat for progress between progress lines: a
    LoadGen run on a slow host lasts many minutes without a line. A hung process uses no CPU: its beats stop.
    """

    def __init__(self, path: Path, interval: float, child: Callable[[], tuple[int, str] | None]):
        self.path, self.interval, self.child = path, interval, child
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="heartbeat", daemon=True)

    def _work(self) -> tuple[float, int, float, str]:
        child = self.child()
        pid, step = child if child else (0, "")
        return time.process_time(), pid, _cpu_s(pid) if pid else 0.0, step

    def _loop(self) -> None:
        own, pid, cpu, _ = self._work()
        while not self._stop.wait(self.interval):
            now_own, now_pid, now_cpu, step = self._work()
            if now_own - own > 0.05 or (now_pid and (now_pid != pid or now_cpu - cpu > 0.05)):
                tmp = self.path.with_name(self.path.name + ".tmp")
                tmp.write_text(f"{time.strftime('%H:%M:%S')} working{' on ' + step if step else ''} "
                               f"({now_cpu:.0f} CPU seconds in this run)\n")
                os.replace(tmp, self.path)
            own, pid, cpu = now_own, now_pid, now_cpu

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


class Harness:
    def __init__(self, spec: HarnessSpec, out: Path, log: Callable[[str], None] = print,
                 measuring: Path | None = None, heartbeat: Path | None = None, heartbeat_s: float = HEARTBEAT_S):
        """``measuring``: a file that exists while performance and compliance runs are being timed: followers
        (the harness_cell module) then do not start processes on this host at each new progress line, so
        their CPU does not land at the start of the runs the compliance rules compare.
        ``heartbeat``: a file rewritten every ``heartbeat_s`` seconds in which work was done (see _Heartbeat)."""
        self.spec, self.out, self.log = spec, Path(out), log
        self.measuring = measuring
        self.heartbeat, self.heartbeat_s = heartbeat, heartbeat_s
        self._child: tuple[int, str] | None = None  # the LoadGen run in progress: pid, step
        self._results: dict[str, dict] = {}  # scenario -> record, as harness.json keeps them
        self._kept_names: list[str] = []  # scenarios an earlier start of this cell finished
        self._server_batch_size = 0  # the Server batch chosen for the latency bound; 0: the spec's
        # per scenario: settings tuned here or given by a tuning file (spec.tuned), and how they were found
        self._tuned: dict[str, dict] = {k: v.model_dump(exclude_none=True) for k, v in (spec.tuned or {}).items()}
        self._tuning: dict[str, dict] = {}
        self._budget: tune.Budget | None = None
        self._timing_batch = 1  # the batch the warm-up timed
        self._started = time.time()
        self.quantization: dict | None = None
        self.rules = get_round(spec.round)
        self.bench = self.rules.benchmark(spec.rule_benchmark())
        self.task = task_for(spec.benchmark, spec.backend)
        self.scenarios = spec.run_scenarios()

    def _batch_for(self, scenario: str) -> int:
        if scenario == "SingleStream":
            return 1
        if scenario == "Server" and self._server_batch_size:
            return self._server_batch_size  # chosen for the latency bound (_server_batch)
        if scenario == "MultiStream":
            return self.rules.multistream_samples_per_query
        # Offline/Server: batches the worker fills from LoadGen's queue; a GPU needs larger ones to stay busy
        tuned = self._tuned.get(scenario, {}).get("batch") or (
            self._tuned.get("Offline", {}).get("batch") if scenario == "Server" else None)
        return self.spec.batch or tuned or (DEFAULT_GPU_BATCH if self.spec.device == "cuda" else 8)

    def _threads_for(self, scenario: str) -> int:
        """The spec's threads, else the scenario's tuned threads (Server: Offline's), else the default."""
        tuned = self._tuned.get(scenario, {}).get("threads") or (
            self._tuned.get("Offline", {}).get("threads") if scenario == "Server" else None)
        return self.spec.threads or tuned or self.threads

    def _loadgen(self, workdir: Path, sset: st.ScenarioSettings, accuracy_mode: bool,
                 audit: str | None = None, test05: bool = False, threads: int | None = None,
                 batch: int | None = None, power: PowerSpec | None = None) -> Path:
        """Run one LoadGen test in a fresh process; returns the folder with its logs. ``threads`` and ``batch``
        default to the scenario's own (a tuning trial sets them). ``power``: measured through the power client
        (``_power_client``)."""
        if workdir.exists():
            shutil.rmtree(workdir)
        workdir.mkdir(parents=True)
        req = RunRequest(
            round=self.rules.version, benchmark=self.bench.name, scenario=sset.scenario,
            accuracy_mode=accuracy_mode, round_values=sset.round_values, user_values=sset.user_values,
            audit=audit, test05=test05, workdir=str(workdir), backend=self.spec.backend,
            device=self.spec.device, model_path=str(self.inputs.model_path), task=self.task.name,
            args=self.inputs.args, count=self.inputs.count, threads=threads or self._threads_for(sset.scenario),
            precision=self.spec.precision, compiler=self.spec.compiler,
            batch=batch or self._batch_for(sset.scenario),
        )
        req_path = workdir / "request.json"
        req_path.write_text(req.model_dump_json())
        command = [sys.executable, "-m", "benchfleet.harness.loadgen_run", str(req_path)]
        if power is not None:
            return self._power_client(workdir, sset, command, power)
        # output to files, not pipes: the heartbeat follows the run while it lasts (minutes on a slow host)
        with open(workdir / "loadgen.out", "w") as out, open(workdir / "loadgen.err", "w") as err:
            proc = subprocess.Popen(command, cwd=workdir, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
            self._child = (proc.pid, f"{sset.scenario} {workdir.name}")
            try:
                rc = proc.wait()
            finally:
                self._child = None
        if rc != 0:
            stderr = (workdir / "loadgen.err").read_text(errors="replace")
            raise RuntimeError(f"LoadGen run in {workdir} failed (exit {rc}):\n{stderr[-4000:]}")
        return workdir / "logs"

    def _power_client(self, workdir: Path, sset: st.ScenarioSettings, command: list[str], power: PowerSpec) -> Path:
        """The performance run measured for power: MLCommons' power client (the user's power-dev checkout) runs the
        LoadGen command twice, ranging then testing, while the power server records the analyzer's samples; the
        client brings the session's files back. Returns the testing run's folder (LoadGen's logs and spl.txt), with
        ranging/ and power/ beside it. A client that fails (the server gone, the analyzer lost) fails the cell, and
        nothing of the session is kept."""
        host, port = power.address()
        out_dir = workdir / "power_session"
        self._check_power_client(power)  # again, just before it runs
        # the client runs the workload through a shell in its own working folder: the LoadGen run goes back to this
        # one, in an isolated Python as well
        workload = f"cd {shlex.quote(str(workdir))} && {shlex.join([command[0], '-I', *command[1:]])}"
        client = [sys.executable, "-I", "-c", pw.CLIENT_BOOT, str(Path(power.client_dir).expanduser().resolve()),
                  "-a", host, "-p", str(port), "-n", power.ntp, "-T", "-f", "-w", workload,
                  "-L", str(workdir / "logs"), "-o", str(out_dir)]
        self.log(f"[{sset.scenario}] measuring power through the power server at {host}:{port} (ranging, then "
                 "testing)")
        with open(workdir / "power_client.log", "w") as out:
            proc = subprocess.Popen(client, cwd=workdir, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
            self._child = (proc.pid, f"{sset.scenario} {workdir.name} (power)")
            try:
                rc = proc.wait()
            finally:
                self._child = None
        if rc != 0:
            tail = (workdir / "power_client.log").read_text(errors="replace")[-3000:]
            shutil.rmtree(out_dir, ignore_errors=True)
            raise PowerFailure(f"power: MLCommons' power client failed (exit {rc}) with the power server at "
                               f"{host}:{port}; no power result is kept. Its last lines:\n{tail}")
        missing = [f"{run}/{f}" for run in pw.RUNS for f in pw.RUN_FILES if not (out_dir / run / f).is_file()]
        missing += [f"power/{f}" for f in pw.POWER_FILES if not (out_dir / "power" / f).is_file()]
        if missing:
            shutil.rmtree(out_dir, ignore_errors=True)
            raise PowerFailure(f"power: the power session in {out_dir} lacks {', '.join(missing)}; no power result "
                               "is kept")
        return out_dir / "run_1"

    def _check_power_client(self, power: PowerSpec) -> None:
        """Run only a power client whose sources are a version the round accepts (what it would record, and the
        power check compare): code named by a sweep file runs on this host, and a result measured with any other
        client would be refused anyway. UNVERIFIED_ENV on the host lets a test double run."""
        accepted = power_sources(self.rules.power.sources)
        try:
            sources = pw.client_sources(Path(power.client_dir).expanduser())
        except OSError as exc:
            raise RuntimeError(f"power.client_dir: {power.client_dir}/ptd_client_server cannot be read "
                               f"({exc.strerror}); give the folder of your mlcommons/power-dev checkout on this "
                               "host") from None
        if sources in accepted:
            return
        if os.environ.get(pw.UNVERIFIED_ENV) == "1":
            self.log(f"power: UNVERIFIED power client in {power.client_dir} ({pw.UNVERIFIED_ENV}=1): its results fail "
                     "the power check's sources check")
            return
        raise RuntimeError(f"power.client_dir: {power.client_dir}/ptd_client_server is not a version of MLCommons' "
                           f"power client that {self.rules.version} accepts ({len(sources)} Python files, none of the "
                           f"{len(accepted)} accepted source sets); check out the mlcommons/power-dev release the "
                           "round names there, unchanged")

    @staticmethod
    def _place_power(session_run: Path, perf: Path) -> None:
        """The power session's files, byte for byte (the session recorded their SHA-1), beside run_1: ranging/ and
        power/ whole, and the testing run's spl.txt in run_1 (the LoadGen logs are copied as for any run)."""
        session = session_run.parent
        for folder, names in (("ranging", pw.RUN_FILES), ("power", pw.POWER_FILES)):
            shutil.rmtree(perf / folder, ignore_errors=True)
            (perf / folder).mkdir(parents=True)
            for name in names:
                shutil.copyfile(session / folder / name, perf / folder / name)
        shutil.copyfile(session_run / "spl.txt", perf / "run_1" / "spl.txt")

    @contextlib.contextmanager
    def _measuring(self, scenario: str) -> Iterator[None]:
        if self.measuring:
            self.measuring.write_text(f"{scenario}\n")
        try:
            yield
        finally:
            if self.measuring:
                self.measuring.unlink(missing_ok=True)

    @staticmethod
    def _copy_logs(src: Path, dst: Path, with_accuracy: bool = False) -> None:
        dst.mkdir(parents=True, exist_ok=True)
        for name in LOG_FILES + ((ACC_LOG,) if with_accuracy else ()):
            shutil.copy2(src / name, dst / name)

    def _record(self, folder: str, kind: str, logdir: Path) -> dict:
        d = DetailLog(logdir / "mlperf_log_detail.txt")
        value, unit = metric(d, folder, self.rules.server_result_field, self.bench.result_fields) \
            if kind != "accuracy" else (None, "")
        return {
            "kind": kind,
            "scenario": folder,
            "logged_scenario": d["effective_scenario"],
            "validity": d["result_validity"],
            "metric": value,
            "unit": unit,
            "early_stopping_met": d["early_stopping_met"],
            "min_duration_ms": d["effective_min_duration_ms"],
            "duration_s": _window_s(d["power_begin"], d["power_end"]),
            "query_count": d["result_query_count"],
            "errors": d.errors(),
        }

    def run_scenario(self, scenario: str, timings: tuple[float, float]) -> dict:
        spec, rules, bench = self.spec, self.rules, self.bench
        scen_out = self.out / scenario
        work = self.out / "_work" / scenario
        batch = self._batch_for(scenario)
        single, multi = timings[0], _batch_latency(timings, self._timing_batch, batch)
        search = None
        if scenario == "Server" and not spec.batch:
            batch, multi = self._server_batch(single, multi, batch)
        tuned = self._tuned.get(scenario, {})
        if scenario == "Server" and spec.server_target_qps is None and (
                spec.tune or not tuned.get("server_target_qps")):
            search = self._search_server_target(work / "server-search", single, multi, batch)
        target = spec.server_target_qps or (search.best_qps if search else None) or tuned.get("server_target_qps")
        if search is not None and search.best_qps is None and search.probes:
            # nothing VALID down to the lowest probe: half of that, not half the throughput (above what failed)
            target = round(min(p.target_qps for p in search.probes) / 2, 3)
            self.log(f"[Server] no probe was VALID: the run asks for {target} queries/s, half the lowest probe")
        # a tuned rate only raises LoadGen's sample count: one below the warm-up's would end the run short of its
        # minimum duration (INVALID), whoever wrote the tuning file
        offline_qps = max(tuned["offline_expected_qps"], batch / max(multi, 1e-6)) \
            if scenario == "Offline" and tuned.get("offline_expected_qps") else None
        sset = st.build(rules, bench, scenario, spec.mode == "quick", single, multi, batch, target, offline_qps)
        scen_out.mkdir(parents=True, exist_ok=True)
        (scen_out / "user.conf").write_text(sset.user_conf(rules.version))
        result: dict = {"scenario": scenario, "settings": sset.values, "runs": [],
                        "threads": self._threads_for(scenario), "batch": batch}
        if search is not None:
            result["server_search"] = search.as_dict()
        if scenario in self._tuning:
            result["tuning"] = {"source": "tuned in this run", **self._tuning[scenario]}
        elif tuned:
            result["tuning"] = {"source": "tuning file", **tuned}

        self.log(f"[{scenario}] accuracy run over {self.cache.count} samples")
        logs = self._loadgen(work / "accuracy", sset, accuracy_mode=True)
        acc_dir = scen_out / "accuracy"
        self._copy_logs(logs, acc_dir, with_accuracy=True)
        scored = self.task.score(self.inputs, acc.read_accuracy_log(acc_dir / ACC_LOG))
        (acc_dir / "accuracy.txt").write_text(scored.text)
        full_dir = scen_out / "full_logs"
        full_dir.mkdir(exist_ok=True)
        shutil.copy2(acc_dir / ACC_LOG, full_dir / ACC_LOG)  # kept for `benchfleet check` to recompute
        acc.truncate_with_hash(acc_dir / ACC_LOG, acc_dir / "accuracy.txt")
        rec = self._record(scenario, "accuracy", acc_dir)
        rec.update(accuracy=scored.value, **{k: v for k, v in scored.details.items() if k not in rec})
        result["runs"].append(rec)
        result["accuracy"] = scored.value
        result["accuracy_details"] = scored.details
        full_acc_log = logs / ACC_LOG  # untruncated copy, for TEST01
        self._checkpoint(result)
        if spec.precision == "int8":
            self._accuracy_gate(scenario, scored.value)

        # A searched (or tuned) Server target is confirmed by the run itself; INVALID: step down and measure again,
        # with no compliance test against a run that is not kept.
        confirm = scenario == "Server" and not spec.server_target_qps and (search is not None or bool(tuned))

        def more_steps() -> bool:
            return confirm and len(result.get("server_confirmation", [])) < SERVER_CONFIRM_STEPS * SERVER_CONFIRM_TRIES

        rounds = 1 + (spec.retries() if spec.wants_compliance() else 0)
        with self._measuring(scenario):  # held across rounds: no gap for a follower at a round's first run
            for round_ in range(1, rounds + 1):
                runs, failed = self._performance_and_compliance(scenario, sset, work, scen_out, full_acc_log,
                                                                result, stop_if_invalid=more_steps())
                while more_steps() and result.get("validity") != "VALID":
                    current = sset.user_values["target_qps"]
                    tried = result.setdefault("server_confirmation", [])
                    tried.append({"target_qps": current, "validity": result.get("validity"),
                                  "errors": [e[:120] for e in runs[0].get("errors", [])][:3]})
                    if sum(1 for c in tried if c["target_qps"] == current) < SERVER_CONFIRM_TRIES:
                        self.log(f"[Server] the run at {current} queries/s was {result.get('validity')}; measuring "
                                 "it once more at the same target")
                    else:
                        lower = round(current * SERVER_STEP_DOWN, 3)
                        self.log(f"[Server] the run at {current} queries/s was {result.get('validity')} "
                                 f"{SERVER_CONFIRM_TRIES} times; stepping down to {lower} and measuring again")
                        sset = st.build(rules, bench, scenario, spec.mode == "quick", single, multi, batch, lower)
                        (scen_out / "user.conf").write_text(sset.user_conf(rules.version))
                        result["settings"] = sset.values
                    runs, failed = self._performance_and_compliance(scenario, sset, work, scen_out, full_acc_log,
                                                                    result, stop_if_invalid=more_steps())
                if not failed or round_ == rounds:
                    break
                # The rules compare timed runs; where the machine's speed drifts (shared or throttled CPUs) a
                # test can miss them against a lucky reference. Both are measured again and every round is
                # kept: a noisy host still passes in a quieter moment (seen here: 42% apart, then a pass), and
                # one that never does ends with the noise verdict below, not a timeout.
                metrics = _performance_metrics([*result.get("earlier_rounds", []), runs])
                self.log(f"[{scenario}] {', '.join(failed)} missed the rule against this performance run; "
                         f"measuring the performance run and its compliance tests again ({round_ + 1} of {rounds}; "
                         f"performance runs so far vary by {comp.spread(metrics):.0%})")
                result.setdefault("earlier_rounds", []).append(runs)
                self._checkpoint(result)
        result["runs"] += runs
        result.pop("partial", None)
        if scenario == "Server" and spec.tune and not spec.server_target_qps:  # a target the user set is not tuned
            confirmed = sset.user_values.get("target_qps") if result.get("validity") == "VALID" else None
            why = (search.stopped if search else "no search: a probe would take too long here") + (
                f"; confirmed by the run at {confirmed}" if confirmed else "; the run was not VALID: no target kept")
            found = tune.Tuned("Server", self._threads_for("Server"), batch, unit="queries/s", metric=confirmed,
                               server_target_qps=confirmed, server_search=search.as_dict() if search else None,
                               stopped=why)
            self._tuning["Server"] = found.as_dict()
            self._tuned["Server"] = found.settings()  # what a later run takes: nothing unless confirmed
            result["tuning"] = {"source": "tuned in this run", **self._tuning["Server"]}
            self._write_tuning()
        noise = compliance_verdict(result, failed)
        if noise:
            result["compliance_noise"] = {"metrics": noise["metrics"], "spread": noise["spread"]}
            result["failure"] = noise["failure"]
            self.log(f"[{scenario}] {noise['failure']}")
        return result

    def _accuracy_gate(self, scenario: str, value: float) -> None:
        """A quantized model below the benchmark's accuracy target is not measured further, and never submitted:
        the run stops with its score (the accuracy run's logs stay in the output folder)."""
        metric, _, target = self.bench.accuracy_targets(scenario)[0]
        if value < target:
            raise RuntimeError(f"precision int8: the quantized model's {metric} is {value:.4f}, below "
                               f"{self.bench.name}'s target {target:.4f}; it is refused, not submitted (run fp32, "
                               "or calibrate on more of the official list: --calibration-count)")
        self.log(f"[{scenario}] int8 accuracy {value:.4f} meets the target {target:.4f}")

    def _checkpoint(self, result: dict) -> None:
        """harness.json with the scenario in progress marked partial (its accuracy run and earlier rounds), so
        that a cell stopped for time keeps on the host what it measured."""
        self._results[result["scenario"]] = {**result, "partial": True}
        self._save(complete=False)

    def _save(self, complete: bool) -> dict:
        """Write harness.json (atomically): the scenarios measured so far, and whether that is all of them."""
        spec = self.spec
        return HarnessResult(
            benchfleet_version=__version__,
            round=spec.round,
            benchmark=spec.benchmark if spec.rule_benchmark() != spec.benchmark else self.bench.name,
            mlperf_benchmark=self.bench.name,
            task=self.task.name,
            spec=spec.model_dump(),
            complete=complete,
            scenarios=[self._results[s] for s in self.scenarios if s in self._results],
            failures=[f"{s}: {self._results[s]['failure']}" for s in self.scenarios
                      if s in self._results and self._results[s].get("failure")],
            kept_from_earlier_start=self._kept_names,
            synthetic=bool(self.inputs.provenance.get("synthetic")),
            provenance=self.inputs.provenance,
            not_for_submission=spec.mode == "quick" or bool(self.inputs.provenance.get("synthetic")),
            backend=self.backend_info,
            host={"python": platform.python_version(), "loadgen": _loadgen_version(),
                  "machine": platform.machine(), "cores": os.cpu_count()},
            model_file=self.inputs.model_path.name,
            quantization=self.quantization,
            elapsed_s=round(time.time() - self._started, 2),
        ).write(self.out)

    def _kept(self) -> dict[str, dict]:
        """Scenarios that an earlier start of this same cell (same spec, same benchfleet) finished before it
        was stopped: their records in harness.json, whose logs are still in the output folder. A folder whose
        harness.json is complete is measured anew (a run repeated on purpose)."""
        if not (self.out / FILE).is_file():
            return {}
        try:
            earlier = HarnessResult.read(self.out / FILE)
        except ValueError:
            return {}
        same = (earlier.complete is False and earlier.benchfleet_version == __version__
                and earlier.spec == json.loads(json.dumps(self.spec.model_dump(), default=str)))
        if not same:
            return {}
        return {s["scenario"]: s for s in earlier.scenarios
                if s.get("scenario") in self.scenarios and not s.get("partial")
                and not s.get("inferred_from") and (self.out / s["scenario"]).is_dir()}

    def _reload_tuning(self, kept: dict[str, dict]) -> None:
        """What an earlier start of this cell tuned for the scenarios it finished: kept in tuning.json, and
        Offline's threads are what Server runs on."""
        for scenario, rec in kept.items():
            found = rec.get("tuning") or {}
            if found.get("source") != "tuned in this run":
                continue
            fields = {k: v for k, v in found.items() if k in tune.Tuned.__dataclass_fields__ and k != "trials"}
            try:
                rec = tune.Tuned(**fields, trials=[tune.Trial(**t) for t in found.get("trials") or []])
            except TypeError:
                continue  # a record of another shape: that scenario is not reused for tuning
            self._tuning[scenario] = rec.as_dict()
            self._tuned[scenario] = rec.settings()
            self.log(f"[{scenario}] tuning kept from an earlier start of this cell: {rec.threads} threads, "
                     f"batch {rec.batch}")

    def _tune(self, scenarios: list[str], single: float, multi: float) -> None:
        """Threads and batch per scenario from short runs (harness/tune.py); Server's target is searched when its
        turn comes (run_scenario), with Offline's threads and within the same budget."""
        spec = self.spec
        threads = [spec.threads] if spec.threads else tune.thread_grid(tune.usable_cpus())
        self.log(f"tuning {', '.join(scenarios)} with short runs (threads {', '.join(map(str, threads))}; budget "
                 f"{spec.tune_budget_s:g} s)")
        for scenario in [s for s in ("Offline", "SingleStream", "MultiStream") if s in scenarios]:
            default = self._batch_for(scenario)
            batches = [default] if scenario != "Offline" or spec.batch else tune.batch_grid(spec.device)
            # Offline's close calls are measured again with longer runs (its throughput is what the run asks for)
            rec = tune.walk(scenario, lambda t, b, s=scenario: self._trial(s, t, b, single, multi), threads, batches,
                            default, self._budget.spent,
                            remeasure=(lambda t, b: self._trial("Offline", t, b, single, multi, tune.RUNOFF_FACTOR))
                            if scenario == "Offline" else None)
            if scenario == "Offline" and rec.metric:
                rec.offline_expected_qps = round(rec.metric, 3)
            self._tuning[scenario] = rec.as_dict()
            self._tuned[scenario] = rec.settings()
            self.log(f"[{scenario}] tuned: {rec.threads} threads, batch {rec.batch} ({rec.metric:.4g} {rec.unit}): "
                     f"{rec.stopped}" if rec.metric is not None else f"[{scenario}] not tuned: {rec.stopped}")
        self._write_tuning()

    def _trial(self, scenario: str, threads: int, batch: int, single: float, multi: float,
               longer: int = 1) -> tune.Trial:
        """One short performance run of ``scenario`` at ``threads`` and ``batch``: its throughput or latency
        (``longer``: a runoff, that many times the short run's duration)."""
        sset = st.build(self.rules, self.bench, scenario, True, single,
                        _batch_latency((single, multi), self._timing_batch, batch), batch)
        sset.user_values["min_duration"] = tune.PROBE_DURATION_MS * longer
        sset.user_values["min_query_count"] = tune.PROBE_MIN_QUERIES[scenario]
        work = self.out / "_work" / "tune" / (f"{scenario}-t{threads}-b{batch}" + (f"-x{longer}" if longer > 1 else ""))
        start = time.monotonic()
        try:
            d = DetailLog(self._loadgen(work, sset, accuracy_mode=False, threads=threads, batch=batch)
                          / "mlperf_log_detail.txt")
        except RuntimeError as exc:  # a batch too large for the memory, a backend refusing a thread count
            return tune.Trial(threads, batch, None, str(exc).splitlines()[-1][:200] if str(exc) else "failed")
        finally:
            if self._budget:
                self._budget.charge(time.monotonic() - start)
        if scenario == "Offline":
            value = d["result_samples_per_second"]
        else:
            value = d[f"result_{self.rules.latency_percentile[scenario] * 100:.2f}_percentile_latency_ns"]
            value = value / 1e6 if value is not None else None
        trial = tune.Trial(threads, batch, float(value) if value is not None else None,
                           "" if value is not None else "the log has no figure")
        self.log(f"[{scenario}] tuning{' (runoff)' if longer > 1 else ''}: {threads} threads, batch {batch}: "
                 + (f"{trial.value:.4g} {tune.GOALS[scenario][0]}" if trial.value is not None else trial.note))
        return trial

    def _write_tuning(self) -> None:
        """tuning.json beside harness.json: what a tuning file keeps for this system (benchfleet tune)."""
        path = self.out / tune.FILE
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps({
            "benchmark": self.spec.benchmark, "backend": self.spec.backend, "device": self.spec.device,
            "precision": self.spec.precision, "round": self.spec.round,
            "backend_version": self.backend_info.get("version"), "benchfleet_version": __version__,
            "cores": os.cpu_count(), "tuning_s": round(self._budget.used, 2) if self._budget else 0.0,
            "scenarios": {s: {"settings": self._tuned.get(s, {}), "found": rec} for s, rec in self._tuning.items()},
        }, indent=1, default=str))
        os.replace(tmp, path)

    def _server_batch(self, single: float, multi: float, batch: int) -> tuple[int, float]:
        """The largest Server batch (up to ``batch``) whose estimated latency is at most SERVER_BATCH_SHARE of the
        latency bound, and that latency: a query can wait for the batch in flight and then ride in the next, so a
        batch as long as the bound can never be VALID. Latencies in between are interpolated from the warm-up's
        single sample and full batch."""
        bound_s = self.bench.server_latency_ns / 1e9 if self.bench.server_latency_ns else None
        if not bound_s or batch <= 1:
            return batch, multi

        def latency(b: int) -> float:
            return _batch_latency((single, multi), batch, b)

        b = batch
        while b > 1 and latency(b) > bound_s * SERVER_BATCH_SHARE:
            b -= 1
        if b != batch:
            self.log(f"[Server] batch {b} (not {batch}): a batch of {batch} takes {multi * 1000:.1f} ms here, against "
                     f"a {bound_s * 1000:g} ms latency bound")
        self._server_batch_size = b
        return b, latency(b)

    def _search_server_target(self, work: Path, single: float, multi: float, batch: int) -> ss.Search | None:
        """The highest VALID Server target, from short probe runs (server_search.py); None where a probe would
        take too long (the half-throughput estimate stays)."""
        estimate = batch / max(multi, 1e-6)
        probe_s = st.QUICK_MIN_QUERIES["Server"] / (estimate * ss.START_SHARE)
        if probe_s > SERVER_PROBE_MAX_S:
            self.log(f"[Server] target: half the measured throughput ({estimate / 2:.3f} queries/s); a search "
                     f"probe would take about {probe_s:.0f} s here")
            return None
        key = f"result_{self.rules.latency_percentile['Server'] * 100:.2f}_percentile_latency_ns"
        # A probe is LoadGen's 662 queries, over which early stopping tolerates not one query over the bound: one
        # stray slow query of a shared CPU would fail it at any target. So a probe whose percentile latency is within
        # the bound counts as VALID (its duration and query count met); early stopping is left to the confirming run,
        # which is longer and is judged by LoadGen alone (run_scenario steps down when it is INVALID). Benchmarks
        # with TTFT and TPOT limits (the later rounds' LLMs) keep LoadGen's verdict: those are not a percentile this
        # reads.
        bound_ns = self.bench.server_latency_ns if "Server" not in self.bench.token_latency_ns else None

        probes = 0

        def probe(target: float) -> ss.Probe:
            nonlocal probes
            probes += 1
            n = probes
            pset = st.build(self.rules, self.bench, "Server", True, single, multi, batch, target)
            pset.user_values["min_query_count"] = st.QUICK_MIN_QUERIES["Server"]  # short: early stopping's minimum
            start = time.monotonic()
            d = DetailLog(self._loadgen(work / f"probe_{n}", pset, accuracy_mode=False) / "mlperf_log_detail.txt")
            if self._budget:
                self._budget.charge(time.monotonic() - start)
            achieved, latency = d[self.rules.server_result_field], d[key]
            loadgen_valid = d["result_validity"] == "VALID"
            within = bool(bound_ns and latency is not None and latency <= bound_ns
                          and d["result_min_duration_met"] and d["result_min_queries_met"])
            valid = loadgen_valid or within
            note = "" if loadgen_valid else (
                "percentile latency within the bound; LoadGen: INVALID (early stopping over a probe's 662 queries)"
                if within else "; ".join(e[:120] for e in d.errors()) or "INVALID")
            result = ss.Probe(target, valid, float(achieved) if achieved is not None else None,
                              latency / 1e6 if latency is not None else None, note)
            self.log(f"[Server] target search, probe {n}: {target} queries/s -> {'VALID' if valid else 'INVALID'}"
                     + (f" ({result.latency_ms:.1f} ms at the {key.split('_')[1]} percentile"
                        + (f", bound {bound_ns / 1e6:g} ms)" if bound_ns else ")")
                        if result.latency_ms is not None else ""))
            return result

        self.log(f"[Server] searching the highest VALID target from the measured throughput ({estimate:.3f} "
                 f"queries/s), with short runs")
        # no probe below the target at which one would take longer than SERVER_PROBE_MAX_S
        search = ss.find_server_target(probe, estimate, floor_qps=st.QUICK_MIN_QUERIES["Server"] / SERVER_PROBE_MAX_S,
                                       out_of_budget=self._budget.spent if self._budget else lambda: False)
        self.log(f"[Server] target {search.best_qps} queries/s: {search.stopped}" if search.best_qps else
                 f"[Server] {search.stopped}")
        return search

    def _performance_and_compliance(self, scenario: str, sset: st.ScenarioSettings, work: Path, scen_out: Path,
                                    full_acc_log: Path, result: dict,
                                    stop_if_invalid: bool = False) -> tuple[list[dict], list[str]]:
        """One performance run and the compliance tests checked against it; returns the runs' records and
        the tests that failed. ``stop_if_invalid``: no compliance test after an INVALID run (it is measured
        again at a lower target)."""
        spec, bench = self.spec, self.bench
        runs: list[dict] = []
        self.log(f"[{scenario}] performance run")
        logs = self._loadgen(work / "performance", sset, accuracy_mode=False, power=spec.power)
        perf_dir = scen_out / "performance" / "run_1"
        self._copy_logs(logs, perf_dir)
        if spec.power is not None:
            self._place_power(logs, perf_dir.parent)
        rec = self._record(scenario, "performance", perf_dir)
        runs.append(rec)
        result.update(metric=rec["metric"], unit=rec["unit"], validity=rec["validity"])
        if not spec.wants_compliance() or (stop_if_invalid and rec["validity"] != "VALID"):
            return runs, []
        result["compliance"] = {}
        for test in bench.compliance_tests:
            if test not in RUNNABLE_TESTS:
                raise RuntimeError(f"{bench.name} needs {test} in {self.rules.version}, which benchfleet's harness "
                                   f"does not run (it runs {', '.join(RUNNABLE_TESTS)})")
            attempts: list[dict] = []
            # compliance_retries 0: one round and one attempt per test, nothing measured twice
            tries = TEST_ATTEMPTS if spec.retries() > 0 else 1
            for attempt in range(1, tries + 1):
                self.log(f"[{scenario}] compliance {test}" + (f" (attempt {attempt})" if attempt > 1 else ""))
                rec = self._compliance_test(test, scenario, sset, work, scen_out, perf_dir, full_acc_log)
                if rec["passed"] or attempt == tries:
                    break
                attempts.append(rec)  # an unlucky run of the test alone: measured again against the same run
            if attempts:
                rec["earlier_attempts"] = attempts
            runs.append(rec)
            result["compliance"][test] = rec["passed"]
        return runs, [t for t, ok in result["compliance"].items() if not ok]

    def _compliance_test(self, test: str, scenario: str, sset: st.ScenarioSettings, work: Path, scen_out: Path,
                         perf_dir: Path, full_acc_log: Path) -> dict:
        """One compliance run, verified against the performance run in ``perf_dir``; its record."""
        rules, bench = self.rules, self.bench
        logs = self._loadgen(work / test, sset, accuracy_mode=False,
                             audit=st.audit_config(test, rules, bench, quick=self.spec.mode == "quick"),
                             test05=(test == "TEST05"))
        tdir = scen_out / test
        if tdir.exists():
            shutil.rmtree(tdir)
        self._copy_logs(logs, tdir / "performance" / "run_1")
        verify = comp.verify_performance(test, perf_dir / "mlperf_log_summary.txt",
                                         logs / "mlperf_log_summary.txt", rules)
        (tdir / "verify_performance.txt").write_text(verify)
        passed = "TEST PASS" in verify
        if test == "TEST01":
            text, acc_ok = comp.verify_accuracy(full_acc_log, logs / ACC_LOG)
            (tdir / "verify_accuracy.txt").write_text(text)
            tacc = tdir / "accuracy"
            tacc.mkdir(parents=True, exist_ok=True)
            shutil.copy2(logs / ACC_LOG, tacc / ACC_LOG)
            if not acc_ok:
                # Allowed non-determinism: compare scores instead (contract §4).
                sub = acc.read_accuracy_log(logs / ACC_LOG)
                idx = {int(e["qsl_idx"]) for e in sub}
                base = [e for e in acc.read_accuracy_log(full_acc_log) if int(e["qsl_idx"]) in idx]
                (tacc / "baseline_accuracy.txt").write_text(self.task.score(self.inputs, base).text)
                (tacc / "compliance_accuracy.txt").write_text(self.task.score(self.inputs, sub).text)
            (tacc / "accuracy.txt").write_text("")
            acc.truncate_with_hash(tacc / ACC_LOG, tacc / "accuracy.txt")
            passed = passed and acc_ok
        rec = self._record(scenario, test, tdir / "performance" / "run_1")
        rec["passed"] = passed
        return rec

    def infer(self, scenario: str, source: dict) -> dict:
        """Copy the SingleStream logs into ``scenario`` (the checker derives the metric)."""
        src, dst = self.out / source["scenario"], self.out / scenario
        shutil.copytree(src, dst, dirs_exist_ok=True)
        d = DetailLog(dst / "performance" / "run_1" / "mlperf_log_detail.txt")
        value, unit = metric(d, scenario, self.rules.server_result_field, self.bench.result_fields)
        res = {k: v for k, v in source.items() if k not in ("metric", "unit", "scenario")}
        res.update(scenario=scenario, metric=value, unit=unit, inferred_from=source["scenario"])
        return res

    def prepare(self) -> tuple[float, float]:
        """Resolve the model and data, load the samples' cache, and time a sample and a batch (the warm-up);
        returns (seconds per sample, seconds per batch). Then ``_loadgen`` can run LoadGen tests
        (bench/tuning.py calls both)."""
        spec = self.spec
        self.inputs = self.task.resolve(spec, self.log)
        if spec.precision == "int8":
            from benchfleet.harness import quantize

            self.inputs.model_path, self.quantization = quantize.ensure_int8(self.task, spec, self.inputs, self.log)
        self.threads = threads = spec.threads or default_threads()
        if spec.compiler != "none":
            self.log(f"compiling the model with torch.compile ({spec.compiler}) at each batch size it meets; each "
                     "LoadGen process compiles again before its test (inductor's cache makes that faster)")
        backend = make_backend(spec.backend, str(self.inputs.model_path), threads=threads, device=spec.device,
                               precision=spec.precision, compiler=spec.compiler)
        worker = self.task.worker(self.inputs.args, backend)
        self.cache = SampleCache(worker.load, self.inputs.count)
        self.backend_info = {"name": backend.name, "version": backend.version, "threads": threads,
                             "device": spec.device, "precision": spec.precision,
                             **({"compiler": spec.compiler} if spec.compiler != "none" else {})}
        if self._tuned and spec.tuned_for_backend_version and spec.tuned_for_backend_version != backend.version:
            self.log(f"tuned settings dropped: they were found with {backend.name} {spec.tuned_for_backend_version}, "
                     f"this host has {backend.version} (benchfleet tune again)")
            self._tuned = {}
        # the controller's `benchfleet check` rescores accuracy with these
        copy_scoring_files(self.inputs, self.out / "labels")
        inferred = spec.offline_inferred() and "Offline" in self.scenarios
        # an inferred Offline runs nothing of its own: its batch is not timed (a GPT-J batch of 8 takes seconds)
        timing_batch = max(self._batch_for(s) for s in self.scenarios if not (s == "Offline" and inferred))
        single, multi = _measure(worker, self.cache, timing_batch)
        self._timing_batch = timing_batch
        del worker, backend
        self.log(f"MLPerf Inference {self.rules.version} rules set as TestSettings attributes ({self.rules.source})")
        self.log(f"warm-up: {single * 1000:.1f} ms per sample" + (
            f", {multi * 1000:.1f} ms per batch of {timing_batch}" if timing_batch > 1 else ""))
        return single, multi

    def run(self) -> dict:
        beat = _Heartbeat(self.heartbeat, self.heartbeat_s, lambda: self._child) if self.heartbeat else None
        with beat or contextlib.nullcontext():
            return self._run()

    def _run(self) -> dict:
        spec = self.spec
        self._started = time.time()
        self.out.mkdir(parents=True, exist_ok=True)
        kept = self._kept()
        self._kept_names = list(kept)
        inferred = spec.offline_inferred() and "Offline" in self.scenarios
        if spec.power is not None:
            self._check_power_client(spec.power)
        single, multi = self.prepare()
        results = self._results = {}
        if spec.tune:
            self._budget = tune.Budget(spec.tune_budget_s)
            self._reload_tuning(kept)
            self._tune([s for s in self.scenarios if s not in kept and not (s == "Offline" and inferred)],
                       single, multi)
        for scenario in self.scenarios:
            if scenario == "Offline" and inferred:
                continue
            if scenario in kept:
                self.log(f"[{scenario}] kept from an earlier start of this cell (harness.json); not measured again")
                results[scenario] = kept[scenario]
                continue
            shutil.rmtree(self.out / scenario, ignore_errors=True)  # what a stopped start left half-measured
            results[scenario] = self.run_scenario(scenario, (single, multi))
            self._save(complete=False)
        if inferred:
            self.log("[Offline] inferred from SingleStream (edge rule); pass --offline measured to run it")
            results["Offline"] = self.infer("Offline", results["SingleStream"])
        shutil.rmtree(self.out / "_work", ignore_errors=True)
        return self._save(complete=True)


class PowerFailure(RuntimeError):
    """The power set-up failed (client, server or analyzer): infrastructure, not the benchmark."""


def _performance_metrics(rounds: list[list[dict]]) -> list[float]:
    """The metric of each round's performance run."""
    return [r["metric"] for runs in rounds for r in runs
            if r.get("kind") == "performance" and isinstance(r.get("metric"), (int, float))]


def compliance_verdict(scenario: dict, failed: list[str]) -> dict | None:
    """For a scenario whose compliance tests ``failed`` in its last round: how far apart the performance runs
    of all its rounds are, and the verdict that names it (None when nothing failed)."""
    if not failed:
        return None
    metrics = _performance_metrics([*scenario.get("earlier_rounds", []), scenario.get("runs", [])])
    return {"metrics": metrics, "spread": round(comp.spread(metrics), 4),
            "failure": comp.noise_verdict(metrics, failed)}


def _window_s(begin: str | None, end: str | None) -> float | None:
    """Seconds between LoadGen's power_begin and power_end stamps (the timed part of the test)."""
    from datetime import datetime

    try:
        fmt = "%m-%d-%Y %H:%M:%S.%f"
        return round((datetime.strptime(end, fmt) - datetime.strptime(begin, fmt)).total_seconds(), 3)
    except (TypeError, ValueError):
        return None


def _loadgen_version() -> str:
    try:
        from importlib.metadata import version

        return version("mlcommons-loadgen")
    except Exception:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m benchfleet.harness",
                                description="Run one benchmark on this host with LoadGen "
                                            "(used by the benchfleet roles).")
    p.add_argument("--spec", required=True, help="JSON file with the harness spec")
    p.add_argument("--out", required=True, help="output folder for logs and harness.json")
    a = p.parse_args(argv)
    spec = HarnessSpec.load(a.spec)
    out = Path(a.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    progress = out.parent / CELL_FILES["progress"]  # beside the results: not fetched, read by the CLI

    def log(message: str) -> None:
        print(message, flush=True)
        with open(progress, "a") as f:
            f.write(f"{time.strftime('%H:%M:%S')} {message}\n")

    try:
        meta = Harness(spec, out, log=log, measuring=out.parent / CELL_FILES["measuring"],
                       heartbeat=out.parent / CELL_FILES["heartbeat"]).run()
    except PowerFailure as exc:  # the cell fails as infrastructure (harness_cell reads the exit status)
        print(str(exc), file=sys.stderr, flush=True)
        return pw.POWER_EXIT
    print(json.dumps({"ok": True, "scenarios": [
        {k: s.get(k) for k in ("scenario", "metric", "unit", "validity", "accuracy")} for s in meta["scenarios"]
    ]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
