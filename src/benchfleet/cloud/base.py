"""What every cloud provider shares: instances, tags, error kinds and the provider interface.

Each cloud's API calls live in one module (``aws``, ``azure``, ``gcp``); this module holds no SDK code.
Every resource benchfleet creates carries three tags (labels on GCP), so that ``teardown`` and
``reap`` work from the cloud alone, with no local state:

    benchfleet-run      the run id
    benchfleet-expires  UTC time after which anything left is garbage (``20261129t1030z``)
    benchfleet-owner    who started the run (user@controller, slugged)
"""

from __future__ import annotations

import getpass
import re
import socket
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Protocol

TAG_RUN = "benchfleet-run"
TAG_EXPIRES = "benchfleet-expires"
TAG_OWNER = "benchfleet-owner"
TAG_HOST = "benchfleet-host"  # the plan's host name of an instance (stable across replacements)
TAG_SYSTEM = "benchfleet-system"

# Provider error kinds and what failover does with them.
CAPACITY = "capacity"  # this zone has no room: try the next zone
QUOTA = "quota"  # the region's quota is used up: try the next region
QUOTA_GLOBAL = "quota-global"  # the account's quota: stop this cloud
AUTH = "auth"  # credentials or permissions: stop this cloud
BAD_REQUEST = "bad-request"  # our request is wrong (image, type): stop this system
NOT_FOUND = "not-found"
OTHER = "other"

RUN_ID_RE = re.compile(r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$")
EXPIRES_FORMAT = "%Y%m%dt%H%Mz"


class ProviderError(Exception):
    """A cloud API error with its kind (see the constants above) and the provider's own code."""

    def __init__(self, kind: str, code: str, message: str, provider: str = ""):
        self.kind, self.code, self.provider = kind, code, provider
        super().__init__(f"{provider + ': ' if provider else ''}{code}: {message}")


@dataclass
class Instance:
    provider: str
    id: str  # the provider's id (AWS instance id, Azure VM name, GCP instance name)
    host: str  # the plan's host name
    system: str
    run: str
    region: str
    zone: str
    instance_type: str
    state: str  # running | pending | stopping | stopped | terminated | deleting
    public_ip: str = ""
    private_ip: str = ""
    spot: bool = False
    launched_at: str = ""  # ISO UTC
    expires: str = ""
    owner: str = ""
    extra: dict = field(default_factory=dict)  # provider specifics (Azure resource group, GCP project)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def alive(self) -> bool:
        return self.state in ("pending", "running", "provisioning", "staging", "creating", "starting")


@dataclass
class LaunchRequest:
    run: str
    host: str  # the plan's host name, also the instance's name
    system: str
    region: str
    zone: str
    instance_type: str
    image: str
    disk_gb: int
    spot: bool
    ssh_user: str
    public_key: str  # OpenSSH public key line
    ssh_cidr: str  # SSH ingress only from here
    tags: dict[str, str]
    expires_at: datetime

    def user_data(self) -> str:
        """Cloud-init script: the instance powers itself off at its expiry (last line of defence)."""
        minutes = max(1, int((self.expires_at - datetime.now(timezone.utc)).total_seconds() // 60))
        return f"#!/bin/sh\n# benchfleet run {self.run}: power off at expiry\nshutdown -P +{minutes}\n"


class Provider(Protocol):
    name: str

    def preflight(self, regions: list[str], instance_type: str, count: int) -> list[str]:
        """Problems found before creating anything (credentials, offering, quota); empty when fine."""
        ...

    def prepare(self, run: str, region: str, req: LaunchRequest) -> None:
        """Run-scoped resources of a region (key pair, firewall/security group, resource group)."""
        ...

    def create(self, req: LaunchRequest) -> Instance:
        """One instance; raises ProviderError with its kind."""
        ...

    def list(self, regions: list[str], run: str | None = None) -> list[Instance]:
        """Instances that carry the run tag (of ``run``, or of any run when None)."""
        ...

    def delete_instances(self, instances: list[Instance]) -> None:
        ...

    def cleanup(self, regions: list[str], run: str | None = None, expired_before: datetime | None = None,
                dry_run: bool = False) -> list[str]:
        """Run-scoped resources other than instances (key pairs, security groups, resource groups,
        firewalls) of ``run`` (or of every run expired before ``expired_before``); returns what it
        deleted (or would delete)."""
        ...


def tags(run: str, hours: float, host: str = "", system: str = "") -> tuple[dict[str, str], datetime]:
    expires = datetime.now(timezone.utc) + timedelta(hours=hours)
    out = {TAG_RUN: run, TAG_EXPIRES: expires.strftime(EXPIRES_FORMAT), TAG_OWNER: owner()}
    if host:
        out[TAG_HOST] = host
    if system:
        out[TAG_SYSTEM] = system
    return out, expires


def parse_expires(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, EXPIRES_FORMAT).replace(tzinfo=timezone.utc)
    except (TypeError, ValueError):
        return None


def leftover(tags: dict[str, str], run: str | None, expired_before: datetime | None, live: set[str]) -> bool:
    """Is a run-scoped resource (key pair, security group, resource group, firewall rule) to be deleted?
    With ``run``: when it is that run's (teardown). Without: when its run has no instance left and its
    expiry tag is at or before ``expired_before`` (reap)."""
    if run:
        return tags.get(TAG_RUN) == run
    exp = parse_expires(tags.get(TAG_EXPIRES, ""))
    return (TAG_RUN in tags and tags[TAG_RUN] not in live and exp is not None and expired_before is not None
            and exp <= expired_before)


def owner() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return re.sub(r"[^a-z0-9_-]+", "-", f"{user}-at-{socket.gethostname()}".lower())[:63]


def utcnow_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_run_id(run: str) -> str:
    if not RUN_ID_RE.match(run):
        raise ValueError(f"run id {run!r} cannot name cloud resources: use 2-40 lowercase letters, digits and '-', "
                         "starting with a letter (e.g. --run-id clouds-nov)")
    return run
