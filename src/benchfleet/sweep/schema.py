"""The sweep file: what to run on which systems, validated before anything runs.

Every error names the field path (``systems[1].hosts``) and what is allowed there.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from benchfleet import safeyaml
from benchfleet.backends import BACKENDS as HARNESS_BACKENDS
from benchfleet.backends import DEVICES as BACKEND_DEVICES
from benchfleet.backends.registry import COMPILER_BACKENDS, PRECISION_BACKENDS, compiler_problem, precision_problem
from benchfleet.benchmarks import registry
from benchfleet.harness.spec import (
    MAX_BATCH,
    MAX_CALIBRATION_SAMPLES,
    MAX_DATASET_COUNT,
    MAX_SYNTHETIC_WIDTH,
    MAX_TARGET_QPS,
    MAX_THREADS,
    MAX_TUNE_BUDGET_S,
    HarnessSpec,
    PowerSpec,
    SystemType,
    error_text,
)
from benchfleet.rules import get_round, where_is
from benchfleet.rules.table import SCENARIOS
from benchfleet.submission.system import FIELDS as SYSTEM_FIELDS
from benchfleet.submission.system import POWER_FIELDS

# What the harness can run today: the closed benchmarks of the registry's models (a round may list more
# benchmarks than we implement); the open division also takes the registry's open models (MobileNet,
# EfficientNet on tflite).
IMPLEMENTED_BENCHMARKS = tuple(dict.fromkeys(b for e in registry.REGISTRY.values() if not e.open_only
                                             for b in e.benchmarks))
BACKENDS = HARNESS_BACKENDS
DEVICES = ("cpu", "cuda")
REQUIRED = "required"  # scenarios: what the division and system type need


class SweepError(ValueError):
    """A sweep file that cannot run; ``errors`` holds one line per problem, each naming its field."""

    def __init__(self, errors: list[str], source: str = "sweep"):
        self.errors = errors
        super().__init__(f"{source}: " + "; ".join(errors) if len(errors) == 1
                         else f"{source}: {len(errors)} problems:\n  " + "\n  ".join(errors))


class Tuning(BaseModel):
    """Per-system knobs passed to the harness."""

    model_config = ConfigDict(extra="forbid")

    threads: int = Field(0, ge=0, le=MAX_THREADS, description="inference threads (0: all cores)")
    batch: int = Field(0, ge=0, le=MAX_BATCH, description="batch for Offline/Server (0: 8; 64 on cuda)")
    server_target_qps: float | None = Field(None, gt=0, le=MAX_TARGET_QPS, description="Server scenario target QPS")
    precision: Literal["fp32", "fp16", "bf16", "int8"] = Field(
        "fp32", description="pytorch cells: fp32, fp16 (cuda) or bf16; onnxruntime cpu cells: fp32 or int8 (a "
                            "model quantized on the benchmark's official calibration list); other cells fp32")
    calibration_count: int | None = Field(None, ge=1, le=MAX_CALIBRATION_SAMPLES,
                                          description="int8: calibrate on the official list's first N samples "
                                                      "(default: all of them)")
    compiler: Literal["none", "inductor"] = Field(
        "none", description="pytorch cells: inductor compiles the model with torch.compile (on cuda with its CUDA "
                            "graphs); other cells run as they are")


CLOUD_PROVIDERS = ("aws", "azure", "gcp", "ovh", "oci", "alibaba")
OVH_REGION_RE = re.compile(r"[A-Z][A-Z0-9-]{1,30}")  # the catalog's region ids: GRA11, SBG5, DE1, EU-WEST-PAR
OVH_FLAVOR_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)+")  # b3-8, c3-16, t2-45, l4-90, h100-380, win-b3-8


PTD_COMMAND_RE = re.compile(r"/(?:[^/\s\0]+/)*ptd[A-Za-z0-9._-]*")  # PTDaemon's binary: ptd, ptd-linux-x86, ...
GIT_URL_RE = re.compile(r"(?:https?|ssh|git|file)://\S+|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:\S+")


class PtdSettings(BaseModel):
    """PTDaemon on the director, as MLCommons' power server starts it: its server.conf [ptd] section."""

    model_config = ConfigDict(extra="forbid")

    command: str = Field(max_length=4096, description="PTDaemon's executable on the director (absolute path; its "
                         "name begins with ptd, as SPEC ships it: ptd-linux-x86)")
    device_type: int = Field(ge=0, le=9999, description="the analyzer's PTDaemon device type (49: Yokogawa WT310)")
    device_port: str = Field(pattern=r"^[A-Za-z0-9._:/-]{1,255}$", description="the analyzer's port or address "
                             "(/dev/ttyUSB0, an IP address, a serial number)")
    interface_flag: Literal["", "-n", "-g", "-y", "-U"] = Field("", description="'' (RS232), -n (TCP/IP), -g "
                                                                 "(GPIB), -y (Yokogawa TMCTL), -U (USB)")
    network_port: int = Field(8888, ge=1, le=65535, description="the port PTDaemon listens on, on the director")
    channel: str = Field("", pattern=r"^(?:\d{1,3}(?:,\d{1,3})?)?$", description="channel(s) of a multichannel "
                         "analyzer: 1, or 1,2")
    gpib_board: int | None = Field(None, ge=0, le=255, description="GPIB board number (-b)")

    @field_validator("command")
    @classmethod
    def _command(cls, v: str) -> str:
        if not PTD_COMMAND_RE.fullmatch(v):
            raise ValueError(f"{v!r}: give the absolute path of PTDaemon on the director, a file whose name begins "
                             "with ptd (e.g. /opt/ptd/ptd-linux-x86)")
        return v


class PowerSetup(PowerSpec):
    """A sweep system's power set-up: what the harness needs on the hosts (:class:`PowerSpec`) and what the roles
    deploy. ``source`` is where MLCommons' power client and server come from (the user's mlcommons/power-dev
    checkout on the controller, or a git URL the controller clones; benchfleet never ships that code); the roles
    push it to ``client_dir`` on each host of the system and, with ``director`` (an inventory host), start the power
    server there with ``ptd``'s settings."""

    source: str = Field("", max_length=4096, description="a folder on the controller holding ptd_client_server/ "
                        "(your mlcommons/power-dev checkout), or a git URL of power-dev the controller clones")
    version: str = Field("", pattern=r"^(?:[A-Za-z0-9._/][A-Za-z0-9._/-]{0,199})?$",  # never an option to git
                         description="the git commit or tag of a URL source (the release the round accepts)")
    director: str = Field("", pattern=r"^[A-Za-z0-9._-]{0,255}$", description="the inventory host that runs the "
                          "power server and PTDaemon (benchfleet deploys and starts the server there)")
    ptd: PtdSettings | None = None

    @model_validator(mode="after")
    def _deploy(self) -> PowerSetup:
        if self.director and not self.source:
            raise _FieldError(("source",), "a director needs the power server's code: give source: (your "
                                           "mlcommons/power-dev checkout on the controller, or its git URL)")
        if self.director and self.ptd is None:
            raise _FieldError(("ptd",), "a director needs PTDaemon's settings: ptd: {command: /opt/ptd/ptd-linux-"
                                        "x86, device_type: 49, device_port: /dev/ttyUSB0}")
        if self.ptd is not None and not self.director:
            raise _FieldError(("director",), "ptd: settings are for a power server benchfleet starts: name its "
                                             "inventory host with director:, or remove ptd:")
        if self.source and not self.client_dir.startswith(("/", "~/")):
            raise _FieldError(("client_dir",), f"{self.client_dir!r}: with a source, give the folder the roles put "
                                               "the power client in as an absolute path or under ~/ (e.g. "
                                               "~/.benchfleet/power-dev)")
        if self.version and not GIT_URL_RE.fullmatch(self.source):
            raise _FieldError(("version",), "version: is the git ref of a URL source; a folder source is used as "
                                            "it is (check out the release there), remove version:")
        return self

    def is_url(self) -> bool:
        return bool(GIT_URL_RE.fullmatch(self.source))

    def host_spec(self) -> PowerSpec:
        """What the harness on a host is given (the deploy settings stay on the controller)."""
        return PowerSpec(**self.model_dump(include=set(PowerSpec.model_fields)))


class CloudSpec(BaseModel):
    """Instances benchfleet creates for a system, benchmarks and deletes."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["aws", "azure", "gcp", "ovh", "oci", "alibaba"]
    regions: list[str] = Field(min_length=1, description="tried in order (next one on a regional quota error)")
    zones: list[str] = Field(default_factory=list, description="zone candidates (default: every zone offering "
                                                               "the type), tried in order on capacity errors")
    instance_type: str = Field(min_length=1)
    image: str = Field("ubuntu-22.04", min_length=1)
    count: int = Field(1, ge=1, le=64)
    disk_gb: int = Field(50, ge=8, le=16384)  # 16 TiB: the largest single volume on AWS, Azure and GCP
    spot: bool = False
    ssh_user: str = "ubuntu"
    ssh_cidr: str = Field("auto", description="who may reach port 22 (auto: this controller's public address, or "
                                              "its private one with address: private)")
    address: Literal["public", "private"] = "public"
    allow_world_ssh: bool = Field(False, description="let ssh_cidr open port 22 to the world (0.0.0.0/0, ::/0, "
                                                     "shorter than /8); like --allow-world-ssh")
    expires_h: float = Field(0, ge=0, le=720, description="hard limit on the instances' life in hours, at most 30 "
                                                          "days (0: from the estimate)")
    price_per_hour: float | None = Field(None, ge=0, description="USD/hour when the price table has no entry")
    subscription: str = Field("", description="Azure subscription id (default: AZURE_SUBSCRIPTION_ID)")
    project: str = Field("", description="GCP project (default: GOOGLE_CLOUD_PROJECT); OVHcloud: the OpenStack "
                                          "project id (default: OS_PROJECT_ID or the clouds.yaml entry); OCI: the "
                                          "compartment OCID (default: the config's tenancy); not for Alibaba Cloud")
    vars: dict[str, Any] = Field(default_factory=dict, description="host variables for the instances")

    @field_validator("expires_h")
    @classmethod
    def _azure_expiry(cls, v: float, info: ValidationInfo) -> float:
        if info.data.get("provider") == "azure" and v > 24:
            raise ValueError(f"{v:g} hours; Azure instances expire within 24 hours (benchfleet deallocates them at "
                             "expiry with Azure's auto-shutdown, which repeats daily): set expires_h to 24 or less, "
                             "or split the sweep")
        return v

    @model_validator(mode="after")
    def _ovh(self) -> CloudSpec:
        """OVHcloud: what cannot be asked of it is refused here, before pre-flight signs in."""
        if self.provider != "ovh":
            return self
        if self.spot:
            raise _FieldError(("spot",), "OVHcloud Public Cloud has no spot or preemptible instances; remove spot: "
                                         "true (or set it to false)")
        for i, r in enumerate(self.regions):
            if not OVH_REGION_RE.fullmatch(r):
                near = f"; did you mean {r.upper()!r}?" if OVH_REGION_RE.fullmatch(r.upper()) else ""
                raise _FieldError(("regions", i), f"{r!r} is not an OVHcloud region; regions are named as the "
                                                  f"project's catalog lists them, in capitals (GRA11, SBG5, BHS5, DE1, "
                                                  f"UK1, WAW1, ...){near}")
        if not OVH_FLAVOR_RE.fullmatch(self.instance_type):
            low = self.instance_type.lower()
            near = f"; did you mean {low!r}?" if OVH_FLAVOR_RE.fullmatch(low) else ""
            raise _FieldError(("instance_type",), f"{self.instance_type!r} is not an OVHcloud flavor name (b3-8, "
                                                  f"c3-16, t2-45, l4-90, h100-380, ...: `openstack flavor list`){near}")
        if self.subscription:
            raise _FieldError(("subscription",), "an Azure setting; an OVHcloud system names its OpenStack project "
                                                 "with project: <project id> (default: OS_PROJECT_ID)")
        return self

    @model_validator(mode="after")
    def _oci(self) -> CloudSpec:
        """OCI: what cannot be asked of it is refused here, before pre-flight signs a request."""
        if self.provider != "oci":
            return self
        from benchfleet.cloud.oci import REGION_RE, parse_shape  # no SDK import: the module imports it lazily

        for i, r in enumerate(self.regions):
            if not REGION_RE.fullmatch(r):
                low = r.lower().replace("_", "-")
                near = f"; did you mean {low!r}?" if REGION_RE.fullmatch(low) else ""
                raise _FieldError(("regions", i), f"{r!r} is not an OCI region identifier; give regions as OCI names "
                                                  f"them (us-ashburn-1, eu-frankfurt-1, ap-tokyo-1, ...), not their "
                                                  f"keys (IAD) or display names{near}")
        try:
            shape = parse_shape(self.instance_type)[0]
        except ValueError as exc:
            raise _FieldError(("instance_type",), str(exc)) from None
        if self.spot and shape.startswith("BM."):
            raise _FieldError(("spot",), f"OCI has no preemptible capacity for bare metal shapes ({shape}); remove "
                                         "spot: true, or use a VM shape")
        if self.project and not self.project.startswith(("ocid1.compartment.", "ocid1.tenancy.")):
            raise _FieldError(("project",), f"{self.project!r} is not a compartment OCID; give ocid1.compartment.oc1.."
                                            "<id> (or leave it out for the config's tenancy)")
        if self.subscription:
            raise _FieldError(("subscription",), "an Azure setting; an OCI system names its compartment with project: "
                                                 "<compartment OCID> (default: the config's tenancy)")
        return self

    @model_validator(mode="after")
    def _alibaba(self) -> CloudSpec:
        """Alibaba Cloud: what cannot be asked of it is refused here, before pre-flight signs a request."""
        if self.provider != "alibaba":
            return self
        from benchfleet.cloud.alibaba import REGION_RE, TYPE_RE  # no SDK import: the module imports it lazily

        for i, r in enumerate(self.regions):
            if not REGION_RE.fullmatch(r):
                low = r.strip().lower().replace("_", "-")
                near = f"; did you mean {low!r}?" if REGION_RE.fullmatch(low) else ""
                raise _FieldError(("regions", i), f"{r!r} is not an Alibaba Cloud region id; give regions as ECS names "
                                                  f"them (cn-hangzhou, us-west-1, eu-central-1, ap-southeast-1, ...), "
                                                  f"not their display names{near}")
        if not TYPE_RE.fullmatch(self.instance_type):
            low = self.instance_type.strip().lower()
            fixed = low if low.startswith("ecs.") else f"ecs.{low}"
            near = f"; did you mean {fixed!r}?" if TYPE_RE.fullmatch(fixed) else ""
            raise _FieldError(("instance_type",), f"{self.instance_type!r} is not an ECS instance type; give it as ECS "
                                                  f"names it, ecs.<family>.<size> (ecs.g7.xlarge, ecs.c7.large, "
                                                  f"ecs.gn7i-c8g1.2xlarge){near}")
        for i, z in enumerate(self.zones):
            if not any(z.startswith(r) for r in self.regions):
                raise _FieldError(("zones", i), f"{z!r} is not a zone of {', '.join(self.regions)}; ECS zone ids "
                                                f"start with their region's (cn-hangzhou-h, us-west-1a)")
        if self.subscription:
            raise _FieldError(("subscription",), "an Azure setting; an Alibaba Cloud system uses the account of its "
                                                 "AccessKey (ALIBABA_CLOUD_ACCESS_KEY_ID): remove subscription")
        if self.project:
            raise _FieldError(("project",), "a GCP, OVHcloud or OCI setting; an Alibaba Cloud system uses the account "
                                            "of its AccessKey (ALIBABA_CLOUD_ACCESS_KEY_ID): remove project")
        return self

    @field_validator("regions", "zones", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("vars")
    @classmethod
    def _host_vars(cls, v: dict[str, Any]) -> dict[str, Any]:
        from benchfleet.runner import CLOUD_VARS_ALLOWED, refused_host_vars

        refused = refused_host_vars(v)
        if refused:  # refused here, before any instance exists (the inventory plugin refuses them too)
            raise ValueError(f"{', '.join(refused)} may not be set by a sweep file (connection settings stay "
                             f"benchfleet's); allowed: {', '.join(CLOUD_VARS_ALLOWED)}")
        return v

    @field_validator("ssh_cidr")
    @classmethod
    def _cidr(cls, v: str) -> str:
        import ipaddress

        if v == "auto":
            return v
        try:
            return str(ipaddress.ip_network(v, strict=False))
        except ValueError:
            raise ValueError(f"{v!r} is not an address range; give e.g. 203.0.113.7/32, or auto") from None


class FetchLimits(BaseModel):
    """Caps on one cell's results archive; a host past any of them has its results refused."""

    model_config = ConfigDict(extra="forbid")

    max_transfer_bytes: int | None = Field(None, ge=1, le=1 << 40, description="the archive file as fetched")
    max_archive_bytes: int | None = Field(None, ge=1, le=1 << 40, description="the decompressed tar stream")
    max_unpacked_bytes: int | None = Field(None, ge=1, le=1 << 40, description="the files' sizes added up")
    max_members: int | None = Field(None, ge=1, le=10_000_000, description="files and folders in the archive")


class SystemEntry(BaseModel):
    """One kind of system: inventory hosts, or cloud instances benchfleet creates (``cloud:``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    hosts: list[str] = Field(default_factory=list, description="inventory groups or host names")
    cloud: CloudSpec | None = None
    system_type: SystemType = "edge"
    backends: list[str] | None = None  # default: the sweep's
    devices: list[str] | None = None  # default: the sweep's
    overrides: Tuning = Field(default_factory=Tuning)
    description: dict[str, str] = Field(default_factory=dict, description="system JSON values that win over facts")
    # MLPerf power: each performance run of the system's cells is measured through MLCommons' power client (the
    # user's power-dev checkout on the hosts) and the power server (the director with PTDaemon and the analyzer)
    power: PowerSetup | None = None

    @field_validator("hosts", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _hosts_or_cloud(self) -> SystemEntry:
        if self.cloud and self.hosts:
            raise _FieldError(("hosts",), "give hosts (inventory) or cloud (instances benchfleet creates), not both")
        if not self.cloud and not self.hosts:
            raise _FieldError(("hosts",), "required" + _HINTS["hosts"] + "; or cloud: {provider: aws, ...}")
        if self.cloud and not re.match(r"^[a-z][a-z0-9-]{0,40}$", self.name):
            raise _FieldError(("name",), f"{self.name!r} names cloud instances: use lowercase letters, digits "
                                         "and '-' (at most 41), starting with a letter")
        return self

    def cloud_hosts(self) -> list[str]:
        """The plan's host names of a cloud system: <name>-1 .. <name>-<count>."""
        return [f"{self.name}-{i + 1}" for i in range(self.cloud.count)] if self.cloud else []

    @field_validator("backends")
    @classmethod
    def _backends(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else _choices(v, BACKENDS, "backend")

    @field_validator("devices")
    @classmethod
    def _devices(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else _choices(v, DEVICES, "device")

    @field_validator("description")
    @classmethod
    def _description(cls, v: dict[str, str]) -> dict[str, str]:
        for k in v:
            if k not in SYSTEM_FIELDS and k not in POWER_FIELDS:
                near = difflib.get_close_matches(k, SYSTEM_FIELDS + POWER_FIELDS, n=1)
                raise ValueError(f"{k!r} is not a system description key"
                                 + (f"; did you mean {near[0]!r}?" if near else ""))
        return {k: str(x) for k, x in v.items()}


class SweepFile(BaseModel):
    """benchmarks x backends x devices x scenarios x division on every host of every system."""

    model_config = ConfigDict(extra="forbid")

    submitter: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    round: str = "v3.1"
    mode: Literal["quick", "valid"] = "quick"
    division: list[Literal["open", "closed"]] = Field(default_factory=lambda: ["open"], min_length=1)
    benchmarks: list[str] = Field(default_factory=lambda: ["resnet50"], min_length=1)
    backends: list[str] = Field(default_factory=lambda: ["onnxruntime"], min_length=1)
    devices: list[str] = Field(default_factory=lambda: ["cpu"], min_length=1)
    scenarios: list[str] = Field(default_factory=lambda: [REQUIRED], min_length=1)
    offline: Literal["auto", "measured", "inferred"] = "auto"
    model: str = "auto"
    dataset: str = "auto"
    dataset_count: int = Field(1024, ge=1, le=MAX_DATASET_COUNT)
    synthetic_width: int = Field(64, ge=1, le=MAX_SYNTHETIC_WIDTH)
    cache_dir: str = "~/.cache/benchfleet"
    cell_timeout_s: int = Field(0, ge=0, le=7 * 86400,
                                description="ceiling: stop a cell after this long even while it progresses, at most "
                                            "a week (0: 20x its estimate + 1 h)")
    cell_stall_s: int = Field(900, ge=60, le=7 * 86400,
                              description="stop a cell when it has written no progress line or heartbeat for this long")
    fetch_limits: FetchLimits | None = Field(
        None, description="caps on what a host's results archive may hold (default: sized from each cell's benchmark)")
    setup: Literal["auto", "always", "never"] = Field(
        "auto", description="run the host set-up roles first: auto (cloud hosts only), always, never")
    setup_wheelhouse: str = Field("", description="offline mode: a controller folder from `benchfleet bundle`")
    defaults: Tuning = Field(default_factory=Tuning)
    tune: bool = Field(False, description="tune each cell first (threads, batch, Server target) with short runs; "
                                          "the settings go into the run's tuning/ and the tuning cache")
    tune_budget_s: float = Field(600.0, gt=0, le=MAX_TUNE_BUDGET_S,
                                 description="seconds of short tuning runs per cell at most")
    systems: list[SystemEntry] = Field(min_length=1)

    @field_validator("division", "benchmarks", "backends", "devices", "scenarios", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("round")
    @classmethod
    def _round(cls, v: str) -> str:
        try:
            get_round(v)
        except ValueError as exc:
            raise ValueError(str(exc).removeprefix("round: ")) from None
        return v

    @field_validator("backends")
    @classmethod
    def _backends(cls, v: list[str]) -> list[str]:
        return _choices(v, BACKENDS, "backend")

    @field_validator("devices")
    @classmethod
    def _devices(cls, v: list[str]) -> list[str]:
        return _choices(v, DEVICES, "device")

    @field_validator("scenarios")
    @classmethod
    def _scenarios(cls, v: list[str]) -> list[str]:
        if v == [REQUIRED]:
            return v
        return _choices(v, SCENARIOS, "scenario", extra=f" (or '{REQUIRED}' for what the division needs)")

    @model_validator(mode="after")
    def _semantics(self) -> SweepFile:
        rules = get_round(self.round)
        open_models = registry.open_models()
        for i, b in enumerate(self.benchmarks):
            if b in open_models:
                if "open" not in self.division:
                    raise _FieldError(("benchmarks", i), f"{b} is an open-division model; add open to division "
                                                         f"or use {open_models[b].benchmark}")
            else:
                runnable = [n for n in rules.benchmarks if n in IMPLEMENTED_BENCHMARKS]  # in the round's order
                try:
                    name = rules.benchmark(b).name
                except ValueError:
                    raise _FieldError(("benchmarks", i), f"{b!r} is not a {self.round} benchmark: "
                                                         f"{where_is(b, self.round)}; benchfleet runs "
                                                         f"{', '.join(runnable)} in {self.round}; open-division "
                                                         f"models: {', '.join(open_models)}") from None
                if name not in IMPLEMENTED_BENCHMARKS:
                    raise _FieldError(("benchmarks", i), f"{name!r} is a {self.round} benchmark that benchfleet "
                                                         f"does not run yet; choose from {', '.join(runnable)}")
            backends = {bk for sy in self.systems for bk in (sy.backends or self.backends)}
            devices = {d for sy in self.systems for d in (sy.devices or self.devices)}
            if not any(registry.runs_on(b, bk, d) for bk in backends for d in devices):
                own = any(sy.backends or sy.devices for sy in self.systems)
                if len(backends) == len(devices) == 1 and not own:  # one combination: say what to change
                    why = _why_not(b, *backends, *devices)
                    if why:
                        raise _FieldError(*why)
                have = registry.backends_for(b)
                raise _FieldError(("benchmarks", i), f"{b} has no model for backends {', '.join(sorted(backends))} "
                                                     f"on {', '.join(sorted(devices))}; add backend "
                                                     f"{' or '.join(have)} to backends")
        self._precisions()
        self._compilers()
        names = [s.name for s in self.systems]
        for i, n in enumerate(names):
            if n in names[:i]:
                raise _FieldError(("systems", i, "name"), f"{n!r} is used twice; give each system its own name")
        wanted = self.scenario_list()
        for i, system in enumerate(self.systems):
            for b in self.benchmarks:
                allowed = rules.benchmark(registry.rule_benchmark(b)).scenarios_for(system.system_type)
                where = f"for {b} on systems[{i}] ({system.name!r}, {system.system_type})"
                for j, scen in enumerate(wanted or []):
                    if scen not in allowed and "closed" in self.division:
                        raise _FieldError(("scenarios", j), f"{scen} is not allowed in the closed division "
                                                            f"{where}; allowed: {', '.join(allowed)}")
                if wanted and "closed" in self.division:
                    missing = [s for s in allowed if s not in wanted]
                    if missing:
                        raise _FieldError(("scenarios",), f"the closed division needs {', '.join(allowed)} "
                                                          f"{where}; missing {', '.join(missing)} "
                                                          f"(or use scenarios: {REQUIRED})")
                if self.offline == "inferred" and (system.system_type != "edge"
                                                   or (wanted and "SingleStream" not in wanted)):
                    raise _FieldError(("offline",), f"'inferred' needs an edge system running SingleStream {where}")
        return self

    def _precisions(self) -> None:
        """A precision other than fp32 applies to the cells whose backend, device and benchmark run it
        (PRECISION_BACKENDS; int8: a benchmark whose official calibration list ships): the system's other cells run
        fp32, as each cell's record and tree say; a system none of whose cells runs it is refused. fp16 on a cpu
        pytorch cell is refused (bf16 is the cpu's half precision)."""
        for i, system in enumerate(self.systems):
            own = "precision" in system.overrides.model_fields_set
            precision = system.overrides.precision if own else self.defaults.precision
            own_count = "calibration_count" in system.overrides.model_fields_set
            count = system.overrides.calibration_count if own_count else self.defaults.calibration_count
            if count is not None and precision != "int8":
                raise _FieldError(("systems", i, "overrides", "calibration_count") if own_count
                                  else ("defaults", "calibration_count"),
                                  f"calibrates a quantized model: it applies with precision int8 only (system "
                                  f"{system.name!r} runs {precision})")
            if precision == "fp32":
                continue
            where = ("systems", i, "overrides", "precision") if own else ("defaults", "precision")
            backends = system.backends or self.backends
            devices = system.devices or self.devices
            runs = PRECISION_BACKENDS[precision]
            if precision == "fp16" and "pytorch" in backends and "cpu" in devices:
                raise _FieldError(where, f"fp16 is for cuda; system {system.name!r} runs pytorch on the cpu too; "
                                         "use bf16 there, or use device cuda")
            if not any(b in runs for b in backends):
                names = " or ".join(runs)
                raise _FieldError(where, f"{precision} applies to backend {names} only; system {system.name!r} "
                                         f"runs {', '.join(backends)}; remove it or use backend {names}")
            problems = [_precision_problem(precision, bench, b, d) for bench in self.benchmarks
                        for b in backends if b in runs for d in devices]
            if all(problems):
                raise _FieldError(where, f"system {system.name!r}: {problems[0]}")

    def _compilers(self) -> None:
        """A compiler applies to the cells whose backend it compiles (the system's other cells run as they are);
        a system with no such backend is refused."""
        for i, system in enumerate(self.systems):
            own = "compiler" in system.overrides.model_fields_set
            compiler = system.overrides.compiler if own else self.defaults.compiler
            if compiler == "none":
                continue
            backends = system.backends or self.backends
            if not any(b in COMPILER_BACKENDS[compiler] for b in backends):
                names = " or ".join(COMPILER_BACKENDS[compiler])
                raise _FieldError(("systems", i, "overrides", "compiler") if own else ("defaults", "compiler"),
                                  f"{compiler} (torch.compile) applies to backend {names} only; system "
                                  f"{system.name!r} runs {', '.join(backends)}; remove it or use backend {names}")

    def scenario_list(self) -> list[str] | None:
        return None if self.scenarios == [REQUIRED] else self.scenarios

    def harness_spec(self, system: SystemEntry, benchmark: str, backend: str, device: str,
                     division: str, only: list[str] | None = None) -> HarnessSpec:
        t = self.defaults.model_copy(update=system.overrides.model_dump(exclude_unset=True))
        return HarnessSpec(
            benchmark=benchmark, round=self.round, division=division, system_type=system.system_type,
            mode=self.mode, scenarios=self.scenario_list(), backend=backend, device=device, model=self.model,
            dataset=self.dataset, dataset_count=self.dataset_count, synthetic_width=self.synthetic_width,
            offline=self.offline, threads=t.threads, batch=t.batch, server_target_qps=t.server_target_qps,
            precision="fp32" if _precision_problem(t.precision, benchmark, backend, device) else t.precision,
            calibration_count=t.calibration_count if t.precision == "int8" and not _precision_problem(
                t.precision, benchmark, backend, device) else None,
            compiler="none" if compiler_problem(t.compiler, backend) else t.compiler,
            cache_dir=self.cache_dir, only=only, tune=self.tune, tune_budget_s=self.tune_budget_s,
            power=system.power.host_spec() if system.power else None,
        )


def _precision_problem(precision: str, benchmark: str, backend: str, device: str) -> str:
    """Why a cell cannot run ``precision`` ('' when it can): its backend or device, or (int8) no official
    calibration list of its benchmark ships with benchfleet."""
    problem = precision_problem(precision, backend, device)
    if problem or precision != "int8":
        return problem
    from benchfleet.benchmarks import calibration

    try:
        task = registry.lookup(benchmark, backend).task
    except ValueError as exc:
        return str(exc)
    if task not in calibration.tasks():
        return (f"int8 needs the benchmark's official calibration list, and benchfleet ships those of "
                f"{', '.join(calibration.tasks())} (the {task} benchmarks) only; run {benchmark} in fp32")
    return ""


def _or(values: list[str] | tuple[str, ...]) -> str:
    return ", ".join(values[:-1]) + " or " + values[-1] if len(values) > 1 else "".join(values)


def _why_not(benchmark: str, backend: str, device: str) -> tuple[tuple, str] | None:
    """Why benchfleet has no model for one benchmark on one backend and device: the field to change and what to
    put there, as `benchfleet run` reports it too (``backends`` -> --backend)."""
    entry = registry.open_models().get(benchmark)
    if entry and backend not in entry.backends:
        return ("backends",), f"{benchmark} is a {entry.backend} model; use backend {entry.backend}"
    runs = BACKEND_DEVICES.get(backend, ())
    if runs and device not in runs:
        return ("devices",), f"{backend} runs on {' or '.join(runs)} only; use device {runs[0]}"
    have = registry.backends_for(benchmark)
    if have and backend not in have:
        return ("backends",), f"{benchmark} has no {backend} model; use backend {_or(have)}"
    return None


def _choices(values: list[str], allowed: tuple[str, ...], what: str, extra: str = "") -> list[str]:
    for v in values:
        if v not in allowed:
            near = difflib.get_close_matches(v, allowed, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ";"
            raise ValueError(f"unknown {what} {v!r}{hint} allowed: {', '.join(allowed)}{extra}")
    return list(dict.fromkeys(values))


class _FieldError(ValueError):
    def __init__(self, loc: tuple, msg: str):
        self.loc, self.msg = loc, msg
        super().__init__(msg)


def field_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "sweep"


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The model that holds the field at ``loc`` (``systems[0].cloud.count`` -> CloudSpec)."""
    model: type[BaseModel] = SweepFile
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        ann = model.model_fields.get(part)
        sub = ann and ann.annotation
        inner = getattr(sub, "__args__", (sub,))
        found = [t for t in inner if isinstance(t, type) and issubclass(t, BaseModel)]
        if not found:
            return None
        model = found[0]
    return model


def _allowed_keys(loc: tuple) -> list[str]:
    model = _model_at(loc)
    return list(model.model_fields) if model else []


def _messages(exc: ValidationError) -> list[str]:
    out, seen = [], set()
    errors = exc.errors()
    # A misspelt required key shows up twice (missing + unknown): report it once, as the typo.
    typos = set()
    for e in errors:
        if e["type"] == "extra_forbidden":
            loc = tuple(e["loc"])
            near = difflib.get_close_matches(str(loc[-1]), _allowed_keys(loc), n=1)
            if near:
                typos.add(loc[:-1] + (near[0],))
    for e in errors:
        if e["type"] == "missing" and tuple(e["loc"]) in typos:
            continue
        loc = tuple(e["loc"])
        ctx = e.get("ctx") or {}
        inner = ctx.get("error")
        if isinstance(inner, _FieldError):
            loc = loc + inner.loc
            msg = inner.msg
        elif e["type"] == "extra_forbidden":
            allowed = _allowed_keys(loc)
            near = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            msg = ("unknown key" + (f"; did you mean {near[0]!r}?" if near else "")
                   + f" allowed here: {', '.join(allowed)}")
        elif e["type"] == "missing":
            msg = "required" + _HINTS.get(str(loc[-1]), "")
        elif e["type"] == "string_pattern_mismatch":
            msg = "use letters, digits, '.', '_' or '-' (no spaces), starting with a letter or digit"
        else:
            msg = error_text(e, _model_at(loc))
        if loc in seen:
            continue
        seen.add(loc)
        out.append(f"{field_path(loc)}: {msg}")
    return out


_HINTS = {
    "submitter": ": your organisation's name as it appears in the submission, e.g. submitter: MyLab",
    "systems": ": a list of systems, e.g. systems: [{name: lab, hosts: [all]}]",
    "hosts": ": inventory groups or host names, e.g. hosts: [gpu_nodes]",
    "name": ": a short name for this system, e.g. name: lab-cpu",
}


def parse(data: Any, source: str = "sweep") -> SweepFile:
    if not isinstance(data, dict):
        raise SweepError([f"sweep: expected a mapping of keys (submitter, systems, ...), got {type(data).__name__}"],
                         source)
    try:
        return SweepFile.model_validate(data)
    except ValidationError as exc:
        raise SweepError(_messages(exc), source) from None


def load(path: str | Path) -> SweepFile:
    """Read a sweep file with the strict loader (no aliases, no duplicate keys, UTF-8) and validate it."""
    try:
        data = safeyaml.load_file(path, "sweep YAML file")
    except safeyaml.YamlInputError as exc:
        raise SweepError([str(exc)], str(path)) from None
    return parse(data, str(path))
