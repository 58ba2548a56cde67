"""What every cloud provider shares: instances, tags, error kinds and the provider interface.

Each cloud's API calls live in one module (``aws``, ``azure``, ``gcp``, ``ovh``, ``oci``, ``alibaba``); this module
holds no SDK code.
Every resource benchfleet creates carries three tags (labels on GCP), so that ``teardown`` and
``reap`` work from the cloud alone, with no local state:

    benchfleet-run      the run id
    benchfleet-expires  UTC time after which anything left is garbage (``20261129t1030z``)
    benchfleet-owner    who started the run (user@controller, slugged)

and run-scoped resources (key pair, security group, resource group, firewall rule) also carry

    benchfleet-heartbeat  when a controller last prepared them (same format as the expiry)

Ownership decides everything: a resource named after the run is reused, and an instance tagged with the
run is adopted, only when its owner tag is this controller's; ``reap`` touches only this owner's
resources unless told ``--all-owners``, and never a run that was launched or prepared within its grace
period (a controller may still be provisioning it).
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
TAG_HEARTBEAT = "benchfleet-heartbeat"  # run-scoped resources: when a controller last prepared them
REAP_GRACE_S = 15 * 60  # reap leaves a run launched or prepared this recently (it may still be provisioning)

# Provider error kinds and what failover does with them.
CAPACITY = "capacity"  # this zone has no room: try the next zone
QUOTA = "quota"  # the region's quota is used up: try the next region
QUOTA_ZONE = "quota-zone"  # a limit of this zone is used up (OCI's per-AD service limits): try the next zone
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


@dataclass(frozen=True)
class Demand:
    """What another system of the same account and first region asks of the quotas: ``count`` instances."""

    system: str
    instance_type: str
    count: int
    spot: bool = False


def asked(parts: list[tuple[str, int, int]]) -> tuple[int, str]:
    """The vCPUs that systems ``(name, count, vCPUs each)`` ask of one quota, and its figures: ``4 x 4 = 16`` for
    one system, ``gcp-a 4 x 4 + gcp-b 2 x 8 = 32`` for several."""
    need = sum(n * cpus for _, n, cpus in parts)
    if len(parts) == 1:
        return need, f"{parts[0][1]} x {parts[0][2]} = {need}"
    return need, " + ".join(f"{name} {n} x {cpus}" for name, n, cpus in parts) + f" = {need}"


class Provider(Protocol):
    name: str

    def preflight(self, regions: list[str], instance_type: str, count: int, spot: bool = False,
                  image: str = "") -> list[str]:
        """Problems found before creating anything (credentials, offering, quota); empty when fine.
        A provider with ``shares_quotas = True`` also takes ``system`` (this system's name) and ``others`` (the
        ``Demand`` of the other systems of its account whose first region is the same): every quota this system
        draws on is checked with the vCPUs those of them that draw on it ask, type by type (an instance family's
        quota, a regional total). Without it, the caller adds the others of the same type and spot to ``count``."""
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
                dry_run: bool = False, owner: str | None = None, grace_s: float = 0) -> list[str]:
        """Run-scoped resources other than instances (key pairs, security groups, resource groups,
        firewalls) of ``run`` (or of every run expired before ``expired_before``, not prepared within
        ``grace_s``), of ``owner`` only unless it is None; returns what it deleted (or would delete)."""
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


def unknown_regions(cloud: str, regions: list[str], known: list[str], whose: str) -> list[str]:
    """A problem per region of ``regions`` that is not in ``known`` (the provider's list; ``whose`` says whose:
    "ECS offers this account"), with the closest known name as a hint."""
    import difflib

    out = []
    for r in regions:
        if r not in known:
            close = difflib.get_close_matches(r, known, n=1)
            out.append(f"{cloud}: region {r!r} (cloud.regions) is not one {whose} ({', '.join(known)})"
                       + (f"; did you mean {close[0]!r}?" if close else ""))
    return out


def leftover(tags: dict[str, str], run: str | None, expired_before: datetime | None, live: set[str],
             owner: str | None = None, grace_s: float = 0) -> bool:
    """Is a run-scoped resource (key pair, security group, resource group, firewall rule) to be deleted?
    Never when ``owner`` is given and the resource's owner tag is another. With ``run``: when it is that
    run's (teardown). Without: when its run has no instance left, its expiry tag is at or before
    ``expired_before`` and no controller prepared it within ``grace_s`` (reap)."""
    if owner is not None and tags.get(TAG_OWNER) != owner:
        return False
    if run:
        return tags.get(TAG_RUN) == run
    exp = parse_expires(tags.get(TAG_EXPIRES, ""))
    if TAG_RUN not in tags or tags[TAG_RUN] in live or exp is None or expired_before is None or exp > expired_before:
        return False
    return not recent(tags.get(TAG_HEARTBEAT, ""), grace_s)


def recent(stamp: str, grace_s: float) -> bool:
    """Is a heartbeat (``EXPIRES_FORMAT``) or an ISO launch time within the last ``grace_s`` seconds?
    Minute-resolution stamps count as the end of their minute."""
    if grace_s <= 0 or not stamp:
        return False
    at = parse_expires(stamp)
    if at is not None:
        at += timedelta(minutes=1)
    else:
        try:
            at = datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
        except ValueError:
            return False
    return (datetime.now(timezone.utc) - at).total_seconds() < grace_s


def heartbeat() -> str:
    return datetime.now(timezone.utc).strftime(EXPIRES_FORMAT)


def ours(tags: dict[str, str], run: str, me: str | None = None) -> bool:
    """Did this owner create this resource for this run (every tag benchfleet sets, with our owner)?"""
    return (tags.get(TAG_RUN) == run and tags.get(TAG_OWNER) == (me or owner())
            and parse_expires(tags.get(TAG_EXPIRES, "")) is not None)


def owner() -> str:
    """Who runs this controller: ``user-at-host``, slugged to fit a tag or label value (63 characters)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return re.sub(r"[^a-z0-9_-]+", "-", f"{user}-at-{socket.gethostname()}".lower())[:63]


WORLD_SSH_FLAG = "--allow-world-ssh"


def world_open(cidr: str) -> bool:
    """Is an SSH source range open to (a large part of) the world: shorter than /8 (IPv4) or /16 (IPv6)?"""
    import ipaddress

    net = ipaddress.ip_network(cidr, strict=False)
    return net.prefixlen < (8 if net.version == 4 else 16)


def owned_fingerprint(fingerprint: str) -> str:
    """A plan's fingerprint mixed with its owner: the default run id part that keeps two users of one sweep
    file (on one controller or one cloud account) apart, and stays the same for the same user."""
    import hashlib

    return hashlib.sha256(f"{fingerprint}:{owner()}".encode()).hexdigest()[:10]


def utcnow_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_run_id(run: str) -> str:
    if not RUN_ID_RE.match(run):
        raise ValueError(f"run id {run!r} cannot name cloud resources: use 2-40 lowercase letters, digits and '-', "
                         "starting with a letter (e.g. --run-id clouds-nov)")
    return run
