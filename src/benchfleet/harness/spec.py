"""What one harness invocation runs (serialised as JSON between controller and host)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from benchfleet.backends import BACKENDS, DEVICES
from benchfleet.backends.registry import compiler_problem, precision_problem
from benchfleet.rules import get_round
from benchfleet.rules.table import SCENARIOS, SYSTEM_TYPES

Division = Literal["closed", "open"]
Mode = Literal["quick", "valid"]
OfflinePolicy = Literal["auto", "measured", "inferred"]

# Upper bounds on what a user may ask for (the sweep file's fields share them).
MAX_THREADS = 1024
MAX_BATCH = 4096
# The largest validation set benchfleet reads (DLRM-v2's 330,067 groups of Criteo day 23; ImageNet has 50,000
# images); generated stand-ins are held to the same count.
MAX_DATASET_COUNT = 330_067
MAX_SYNTHETIC_WIDTH = 1024  # BERT-large's width; the generated BERT is BERT-large's shape from here on
MAX_TARGET_QPS = 1_000_000.0
MAX_COMPLIANCE_RETRIES = 10
MAX_CALIBRATION_SAMPLES = 500  # the longest official list benchfleet ships (ImageNet's)


class SpecError(ValueError):
    """A spec that cannot run. ``field`` is the spec field at fault (the CLI names its flag instead)."""

    def __init__(self, field: str, msg: str):
        self.field, self.msg = field, msg
        super().__init__(f"{field}: {msg}")


_BOUNDS = {"greater_than_equal", "less_than_equal", "greater_than", "less_than"}


def field_range(model: type[BaseModel], name: str) -> str:
    """A field's allowed range from its constraints, e.g. ``0 to 1024`` or ``at least 1``."""
    info = model.model_fields.get(name)
    lo = hi = None
    for m in info.metadata if info else ():
        lo = getattr(m, "ge", lo)
        hi = getattr(m, "le", hi)
        if getattr(m, "gt", None) is not None:
            lo = f"above {m.gt}"
        if getattr(m, "lt", None) is not None:
            hi = f"below {m.lt}"
    if lo is not None and hi is not None:
        return f"{lo} to {hi}" if not isinstance(lo, str) else f"{lo}, at most {hi}"
    if lo is not None:
        return f"at least {lo}" if not isinstance(lo, str) else lo
    return f"at most {hi}" if hi is not None else ""


def error_text(e: dict, model: type[BaseModel] | None = None) -> str:
    """One pydantic error as a user should read it: without 'Value error,', a bound with its allowed range."""
    inner = (e.get("ctx") or {}).get("error")
    if isinstance(inner, SpecError):
        return inner.msg
    if e["type"] in _BOUNDS and model is not None and e.get("loc"):
        allowed = field_range(model, str(e["loc"][-1]))
        if allowed:
            return f"{e.get('input')} is out of range; allowed {allowed}"
    return e["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _system_type(v: str) -> str:
    if v not in SYSTEM_TYPES:
        raise ValueError(f"must be one of {', '.join(SYSTEM_TYPES)}")
    return v


SystemType = Annotated[str, AfterValidator(_system_type)]


MAX_TUNE_BUDGET_S = 7 * 24 * 3600.0


class ScenarioTuning(BaseModel):
    """Settings one scenario takes from a tuning file (benchfleet tune); each one left out keeps the default."""

    model_config = ConfigDict(extra="forbid")

    threads: int | None = Field(None, ge=1, le=MAX_THREADS)
    batch: int | None = Field(None, ge=1, le=MAX_BATCH)
    offline_expected_qps: float | None = Field(None, gt=0, le=MAX_TARGET_QPS)
    server_target_qps: float | None = Field(None, gt=0, le=MAX_TARGET_QPS)


class PowerSpec(BaseModel):
    """A power measurement set-up (MLPerf power): MLCommons' power client on this host, the power server (the
    director, which runs SPEC PTDaemon and the analyzer) elsewhere. benchfleet never ships MLCommons' power code:
    ``client_dir`` is the user's checkout of mlcommons/power-dev (the release the round accepts) on this host; the
    harness runs its client with its own Python only when its sources are a version the round accepts."""

    model_config = ConfigDict(extra="forbid")

    client_dir: str = Field(min_length=1, max_length=4096, description="power-dev checkout on this host (holds "
                            "ptd_client_server/)")
    server: str = Field(pattern=r"^[A-Za-z0-9.:_\[\]-]{1,255}$", description="the power server: host or host:port "
                        "(port 4950 by default)")
    ntp: str = Field(pattern=r"^[A-Za-z0-9.:_\[\]-]{1,255}$", description="the NTP server the client and the "
                     "server sync with")
    analyzer: str = Field("", max_length=20_000, description="measurements' analyzer_table.md: the analyzer "
                          "(vendor, model, firmware, wiring, channels)")
    settings: str = Field("", max_length=20_000, description="measurements' power_settings.md: the system's power "
                          "management settings")

    @field_validator("analyzer", "settings", mode="before")
    @classmethod
    def _blank(cls, v: object) -> object:
        return "" if v is None else v  # Ansible's templating hands an empty string to the host as null

    @field_validator("server")
    @classmethod
    def _server(cls, v: str) -> str:
        host, port = _host_port(v)
        if not host or (port and not (port.isdigit() and 0 < int(port) < 65536)):
            raise ValueError(f"{v!r}: give HOST or HOST:PORT ([IPv6]:PORT), PORT a number from 1 to 65535")
        return v

    def address(self) -> tuple[str, int]:
        host, port = _host_port(self.server)
        return host, int(port) if port else 4950


def _host_port(v: str) -> tuple[str, str]:
    """(host, port or '') of HOST, HOST:PORT, [IPv6] or [IPv6]:PORT (a bare IPv6 address has no port)."""
    if v.startswith("["):
        host, _, rest = v[1:].partition("]")
        return host, rest[1:] if rest.startswith(":") else rest
    if v.count(":") == 1:
        host, _, port = v.partition(":")
        return host, port or "x"
    return v, ""


class HarnessSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    benchmark: str = "resnet50"
    round: str = "v3.1"
    division: Division = "open"
    system_type: SystemType = "edge"
    mode: Mode = "quick"
    scenarios: list[str] | None = None  # None: what the division and system type need
    backend: str = "onnxruntime"
    device: Literal["cpu", "cuda"] = "cpu"
    # pytorch: fp32, fp16 (cuda) or bf16; onnxruntime: fp32 or int8 (cpu; a model quantized on the benchmark's
    # official calibration list, or on calibration_list, a part of one); tflite and tensorflow: the model's fp32
    precision: Literal["fp32", "fp16", "bf16", "int8"] = "fp32"
    calibration_list: str | None = None  # a file naming the calibration samples (each in one official list)
    calibration_count: int | None = Field(None, ge=1, le=MAX_CALIBRATION_SAMPLES)  # the list's first N
    # pytorch: inductor compiles the model with torch.compile (on cuda with its CUDA graphs); none runs it eagerly
    compiler: Literal["none", "inductor"] = "none"
    model: str = "auto"  # auto | official | synthetic | path to a model file
    dataset: str = "auto"  # auto | synthetic | official (downloaded, where published) | path to the task's folder
    dataset_count: int = Field(1024, ge=1, le=MAX_DATASET_COUNT)
    synthetic_width: int = Field(64, ge=1, le=MAX_SYNTHETIC_WIDTH)
    offline: OfflinePolicy = "auto"
    threads: int = Field(0, ge=0, le=MAX_THREADS)
    batch: int = Field(0, ge=0, le=MAX_BATCH)
    server_target_qps: float | None = Field(None, gt=0, le=MAX_TARGET_QPS)
    cache_dir: str = "~/.cache/benchfleet"
    compliance: bool | None = None  # None: closed yes, open no
    # When a compliance test misses its rule twice (it gets a second attempt against the same performance
    # run), the performance run and its compliance tests are measured again, up to this many more times;
    # earlier rounds and attempts are kept in harness.json. None: 4 in quick mode
    # (its runs last seconds, and a shared CPU drifts by more than TEST05's 5% between two of them), 1 in
    # valid mode (its runs last 10 minutes each). 0: one round and one attempt per test.
    compliance_retries: int | None = Field(None, ge=0, le=MAX_COMPLIANCE_RETRIES)
    # The scenarios this invocation runs (one sweep cell), a subset of resolved_scenarios(); None: all.
    only: list[str] | None = None
    # Tune before measuring (harness/tune.py): threads and batch from short runs, the Server target searched;
    # at most tune_budget_s seconds of short runs. The tuned settings are kept in harness.json and tuning.json.
    tune: bool = False
    tune_budget_s: float = Field(600.0, gt=0, le=MAX_TUNE_BUDGET_S)
    # Settings per scenario from an earlier tuning on this system (a tuning file); the spec's own threads,
    # batch and server_target_qps win over them.
    tuned: dict[str, ScenarioTuning] | None = None
    # Power: each performance run is measured through MLCommons' power client and server (ranging, then testing);
    # the power files land in the results as the round requires. None: no power measurement.
    power: PowerSpec | None = None
    # What the tuned settings were found with; the harness drops them when its backend version differs.
    tuned_for_backend_version: str | None = Field(None, max_length=80)

    @field_validator("tuned")
    @classmethod
    def _tuned(cls, v: dict | None) -> dict | None:
        bad = [k for k in v or {} if k not in SCENARIOS]
        if bad:
            raise SpecError("tuned", f"unknown scenario {bad[0]!r}; choose from {', '.join(SCENARIOS)}")
        return v

    @field_validator("round")
    @classmethod
    def _round(cls, v: str) -> str:
        try:
            get_round(v)
        except ValueError as exc:
            raise SpecError("round", str(exc).removeprefix("round: ")) from None
        return v

    @field_validator("backend")
    @classmethod
    def _backend(cls, v: str) -> str:
        if v not in BACKENDS:
            raise SpecError("backend", f"unknown backend {v!r}; allowed: {', '.join(BACKENDS)}")
        return v

    @model_validator(mode="after")
    def _open_only(self) -> HarnessSpec:
        from benchfleet.benchmarks import registry

        entry = registry.open_models().get(self.benchmark)
        if entry and self.division == "closed":
            raise SpecError("benchmark", f"{self.benchmark} is an open-division model (it stands in for "
                                         f"{entry.benchmark}); use division open, or {entry.benchmark} in the "
                                         "closed division")
        if entry and self.backend not in entry.backends:
            raise SpecError("backend", f"{self.benchmark} is a {entry.backend} model; use backend {entry.backend}")
        if self.device not in DEVICES.get(self.backend, ()):
            raise SpecError("device", f"{self.backend} runs on {' or '.join(DEVICES[self.backend])} only; use "
                                      f"device {DEVICES[self.backend][0]}")
        problem = precision_problem(self.precision, self.backend, self.device)
        if problem:
            raise SpecError("precision", problem)
        problem = compiler_problem(self.compiler, self.backend)
        if problem:
            raise SpecError("compiler", problem)
        if self.precision == "int8":
            from benchfleet.benchmarks import calibration

            try:
                task = registry.lookup(self.benchmark, self.backend).task
            except ValueError:
                return self  # an unknown benchmark is named by the harness's own check
            if task not in calibration.tasks():
                raise SpecError("precision", f"int8 needs the benchmark's official calibration list, and benchfleet "
                                             f"ships those of {', '.join(calibration.tasks())} (the {task} "
                                             f"benchmarks) only; run {self.benchmark} in fp32")
            try:
                calibration.choose(task, Path(self.calibration_list).expanduser() if self.calibration_list else None,
                                   self.calibration_count)
            except calibration.CalibrationError as exc:
                field, _, msg = str(exc).partition(": ")
                if field not in ("calibration_list", "calibration_count"):
                    field, msg = "precision", str(exc)
                raise SpecError(field, msg) from None
        elif self.calibration_list is not None or self.calibration_count is not None:
            field = "calibration_list" if self.calibration_list is not None else "calibration_count"
            raise SpecError(field, "calibrates a quantized model: it applies with precision int8 only")
        return self

    @model_validator(mode="after")
    def _whole_dataset(self) -> HarnessSpec:
        """From v6.0 a closed accuracy run covers the benchmark's whole dataset: a valid run that scores fewer
        samples would only fail its check at the end, hours later."""
        from benchfleet.benchmarks import registry

        rules = get_round(self.round)
        if self.mode != "valid" or self.division != "closed" or rules.dataset_size_check != "error":
            return self
        name = registry.rule_benchmark(self.benchmark)
        need = rules.benchmark(name).dataset_size if rules.has(name) else None
        if need and self.dataset_count < need:
            raise SpecError("dataset_count", f"a valid closed {self.round} run scores {name}'s whole dataset: "
                                             f"set dataset_count to {need} (--dataset-count {need}), not "
                                             f"{self.dataset_count}")
        return self

    def rule_benchmark(self) -> str:
        """The round's benchmark whose rules apply (an open model's stands-in-for benchmark)."""
        from benchfleet.benchmarks import registry

        return registry.rule_benchmark(self.benchmark)

    @field_validator("scenarios")
    @classmethod
    def _scenarios(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        bad = [s for s in v if s not in SCENARIOS]
        if bad:
            raise SpecError("scenarios", f"unknown scenario {bad[0]!r}; choose from {', '.join(SCENARIOS)}")
        if not v:
            raise SpecError("scenarios", f"names no scenario; choose from {', '.join(SCENARIOS)}")
        return list(dict.fromkeys(v))

    def resolved_scenarios(self) -> list[str]:
        rules = get_round(self.round)
        try:
            bench = rules.benchmark(self.rule_benchmark())
        except ValueError as exc:
            raise SpecError("benchmark", str(exc).removeprefix("benchmark: ")) from None
        required = list(bench.scenarios_for(self.system_type))
        if self.scenarios is None:
            if self.division == "closed":
                return required
            # Open: the quick path volunteers start with.
            return [s for s in ("SingleStream", "Offline") if s in required] or required
        if self.division == "closed":
            missing = [s for s in required if s not in self.scenarios]
            extra = [s for s in self.scenarios if s not in required]
            if missing or extra:
                raise SpecError(
                    "scenarios", f"closed division on a {self.system_type} system needs exactly "
                    f"{', '.join(required)} for {bench.name}"
                    + (f"; missing {', '.join(missing)}" if missing else "")
                    + (f"; not allowed {', '.join(extra)}" if extra else "")
                )
        return self.scenarios

    def run_scenarios(self) -> list[str]:
        """What this invocation runs: ``only`` (checked against the division's set) or every scenario."""
        scen = self.resolved_scenarios()
        if self.only is None:
            return scen
        extra = [s for s in self.only if s not in scen]
        if extra:
            raise ValueError(f"only: {', '.join(extra)} not among this run's scenarios ({', '.join(scen)})")
        if "Offline" in self.only and self.offline_inferred() and "SingleStream" not in self.only:
            raise ValueError("only: an inferred Offline comes from SingleStream; run them together")
        return [s for s in scen if s in self.only]

    def retries(self) -> int:
        if self.compliance_retries is not None:
            return self.compliance_retries
        return 4 if self.mode == "quick" else 1

    def wants_compliance(self) -> bool:
        return self.division == "closed" if self.compliance is None else self.compliance

    def offline_inferred(self) -> bool:
        """Offline taken from the SingleStream run (allowed for edge systems)."""
        scen = self.resolved_scenarios()
        edge = self.system_type == "edge"
        if self.offline == "inferred":
            if not edge or "SingleStream" not in scen:
                raise SpecError("offline", "'inferred' needs an edge system that also runs SingleStream")
            return True
        if self.offline == "measured":
            return False
        return self.mode == "quick" and edge and "SingleStream" in scen and "Offline" in scen

    def cache_path(self) -> Path:
        return Path(self.cache_dir).expanduser()

    @classmethod
    def load(cls, path: str | Path) -> HarnessSpec:
        return cls.model_validate(json.loads(Path(path).read_text()))
