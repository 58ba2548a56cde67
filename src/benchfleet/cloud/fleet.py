"""A run's cloud instances across providers: provision with failover, teardown and reap.

The same functions serve the Ansible module (``benchfleet.mlperf.cloud_instances``), the inventory
plugin and the CLI (``benchfleet teardown``/``reap`` and the teardown after every sweep).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from benchfleet.cloud.base import (
    AUTH,
    BAD_REQUEST,
    QUOTA,
    QUOTA_GLOBAL,
    REAP_GRACE_S,
    TAG_HOST,
    TAG_RUN,
    WORLD_SSH_FLAG,
    Instance,
    LaunchRequest,
    Provider,
    ProviderError,
    owner,
    parse_expires,
    recent,
    tags,
    utcnow_iso,
    world_open,
)

PROVIDERS = ("aws", "azure", "gcp", "ovh", "oci", "alibaba")


def provider(name: str, **options) -> Provider:
    """The provider module for a cloud; options are its account coordinates (Azure subscription, GCP project, OVHcloud
    OpenStack project id)."""
    if name == "aws":
        from benchfleet.cloud.aws import AwsProvider

        return AwsProvider()
    if name == "azure":
        from benchfleet.cloud.azure import AzureProvider

        return AzureProvider(subscription=options.get("subscription") or "")
    if name == "gcp":
        from benchfleet.cloud.gcp import GcpProvider

        return GcpProvider(project=options.get("project") or "")
    if name == "ovh":
        from benchfleet.cloud.ovh import OvhProvider

        return OvhProvider(project=options.get("project") or "")
    if name == "oci":
        from benchfleet.cloud.oci import OciProvider

        return OciProvider(project=options.get("project") or "")  # a compartment OCID (default: the tenancy)
    if name == "alibaba":
        from benchfleet.cloud.alibaba import AlibabaProvider

        return AlibabaProvider()  # the account is the AccessKey's
    raise ValueError(f"unknown cloud provider {name!r}; choose from {', '.join(PROVIDERS)}")




@dataclass
class Attempt:
    system: str
    host: str
    provider: str
    region: str
    zone: str
    outcome: str  # created | capacity | quota | ... (an error kind)
    message: str = ""


@dataclass
class SystemRequest:
    """One cloud system of a sweep, as the CLI and the module pass it (a dict only in Ansible's extravars)."""

    name: str
    provider: str
    regions: list[str]
    zones: list[str] = field(default_factory=list)
    instance_type: str = ""  # provisioning needs it; a teardown does not
    image: str = ""
    hosts: list[str] = field(default_factory=list)  # the plan's host names, one instance each
    disk_gb: int = 50
    spot: bool = False
    ssh_user: str = "ubuntu"
    ssh_cidr: str = ""  # SSH ingress from here only (default: provision's ssh_cidr)
    hours: float = 6.0  # until expiry
    options: dict = field(default_factory=dict)  # subscription / project
    allow_world_ssh: bool = False  # an ssh_cidr open to the world (world_open) is refused without it

    @classmethod
    def from_dict(cls, d: dict) -> SystemRequest:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def targets_for(systems: list[SystemRequest]) -> list[tuple[Provider, list[str]]]:
    """(provider, regions) for the clouds a list of systems uses; one provider object per account."""
    seen: dict[tuple, tuple[Provider, list[str]]] = {}
    for s in systems:
        options = s.options or {}
        key = (s.provider, tuple(sorted(options.items())))
        if key not in seen:
            seen[key] = (provider(s.provider, **options), [])
        seen[key][1].extend(r for r in s.regions if r not in seen[key][1])
    return list(seen.values())


@dataclass
class ProvisionResult:
    instances: list[Instance] = field(default_factory=list)
    created: list[str] = field(default_factory=list)  # hosts given a new instance
    attempts: list[Attempt] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # host -> why it has no instance

    def to_dict(self) -> dict:
        return {"instances": [i.to_dict() for i in self.instances], "created": self.created,
                "attempts": [asdict(a) for a in self.attempts], "failed": self.failed}


def _zones(p: Provider, region: str, system: SystemRequest) -> list[str]:
    # AWS and GCP zones name their region (us-east-1a, us-central1-a); Azure's (1, 2, 3) apply to every region.
    wanted = [z for z in system.zones if z.startswith(region)
              or not any(z.startswith(r) for r in system.regions)]
    if wanted:
        return wanted
    finder = getattr(p, "zones", None)
    return finder(region, system.instance_type) if finder else [""]


def provision(run: str, systems: list[SystemRequest], public_key: str, ssh_cidr: str = "",
              check: bool = False, ledger: Path | None = None,
              on_attempt: Callable[[Attempt], None] | None = None) -> ProvisionResult:
    """Give every host of every system a running instance; existing ones are kept (idempotent).

    Failover: capacity or a zone's limit -> next zone; regional quota -> next region; auth or global quota -> that cloud
    stops; a bad request stops that system. Every attempt is recorded.
    """
    out = ProvisionResult()
    stopped: dict[str, str] = {}  # provider -> why
    me = owner()
    for system in systems:
        cidr = system.ssh_cidr or ssh_cidr
        if cidr and world_open(cidr) and not system.allow_world_ssh:
            for host in system.hosts:
                out.failed[host] = (f"systems ({system.name}).cloud.ssh_cidr: {cidr} opens SSH to the world; "
                                    f"give the controller's range, or {WORLD_SSH_FLAG} if you mean it")
            continue
        p = provider(system.provider, **system.options)
        most = getattr(p, "max_hours", None)
        if most is not None and system.hours > most:
            for host in system.hosts:
                out.failed[host] = (f"systems ({system.name}).cloud.expires_h: {system.hours:g} hours; "
                                    f"{system.provider} instances expire within {most:g} hours (its last line at "
                                    f"expiry repeats daily): set expires_h to {most:g} or less, or split the sweep")
            continue
        existing: dict[str, Instance] = {}
        foreign: dict[str, Instance] = {}
        for i in p.list(system.regions, run):
            if not i.alive:
                continue
            if adoptable(i, run, system.name, me):
                existing[i.host] = i
            elif i.host:
                foreign[i.host] = i
        prepared: set[str] = set()
        start = 0  # (region, zone) index that worked last: the next instance starts there
        for host in system.hosts:
            if host in existing:
                out.instances.append(existing[host])
                continue
            if host in foreign:
                i = foreign[host]
                why = (f"its owner is {i.owner or 'not set'} (ours: {me})" if i.owner != me else
                       "it is not as benchfleet made it (its system, expiry tag or key pair differ)")
                out.failed[host] = (f"{system.provider}: instance {i.id} in {i.region} is tagged {TAG_RUN}={run} "
                                    f"{TAG_HOST}={host} but {why}; not adopted, and nothing was created beside "
                                    "it: use another --run-id")
                continue
            if system.provider in stopped:
                out.failed[host] = stopped[system.provider]
                continue
            if check:
                out.created.append(host)
                continue
            places = [(r, z) for r in system.regions for z in _zones(p, r, system)]
            i = start
            reason = "no region or zone left to try"
            while i < len(places):
                region, zone = places[i]
                t, expires = tags(run, system.hours, host, system.name)
                req = LaunchRequest(run, host, system.name, region, zone, system.instance_type, system.image,
                                    system.disk_gb, system.spot, system.ssh_user, public_key, cidr, t, expires)
                try:
                    if region not in prepared:
                        p.prepare(run, region, req)
                        prepared.add(region)
                    inst = p.create(req)
                except ProviderError as exc:
                    att = Attempt(system.name, host, system.provider, region, zone, exc.kind, str(exc))
                    out.attempts.append(att)
                    if on_attempt:
                        on_attempt(att)
                    reason = str(exc)
                    if exc.kind in (AUTH, QUOTA_GLOBAL):
                        stopped[system.provider] = f"{system.provider} stopped: {exc}"
                        break
                    if exc.kind == BAD_REQUEST:
                        break
                    if exc.kind == QUOTA:  # skip the rest of this region
                        i += 1
                        while i < len(places) and places[i][0] == region:
                            i += 1
                        continue
                    i += 1  # capacity, a zone's limit (QUOTA_ZONE) or anything else: next zone
                    continue
                att = Attempt(system.name, host, system.provider, region, zone, "created", inst.id)
                out.attempts.append(att)
                if on_attempt:
                    on_attempt(att)
                start = i
                out.instances.append(inst)
                out.created.append(host)
                record(ledger, "created", inst)
                break
            else:
                out.failed[host] = reason
                continue
            if host not in out.created:
                out.failed[host] = stopped.get(system.provider, reason)
    return out


def adoptable(i: Instance, run: str, system: str, me: str) -> bool:
    """An instance listed under the run is ours to use only when it carries every tag benchfleet sets on
    the instances it creates, with this owner and this system (and, on AWS, the run's key pair)."""
    return (i.run == run and i.owner == me and i.system == system and bool(i.host)
            and parse_expires(i.expires) is not None
            and i.extra.get("key_name", f"benchfleet-{run}") == f"benchfleet-{run}")


def record(ledger: Path | None, event: str, inst: Instance) -> None:
    """Append to the run's instance ledger (uptime -> actual cost). A line torn by a killed writer is
    closed first, so this record starts on a line of its own."""
    if ledger is None:
        return
    ledger.parent.mkdir(parents=True, exist_ok=True)
    with open(ledger, "a+b") as f:
        torn = False
        if f.seek(0, os.SEEK_END) > 0:
            f.seek(-1, os.SEEK_END)
            torn = f.read(1) != b"\n"
        f.write((("\n" if torn else "") + json.dumps({"event": event, "at": utcnow_iso(), **inst.to_dict()})
                 + "\n").encode())


def read_ledger(ledger: Path, warn: Callable[[str], None] | None = None) -> list[dict]:
    """The ledger's records; a line that is not a JSON object (torn by a killed writer) is skipped with a
    warning naming it."""
    import sys

    warn = warn or (lambda m: print(m, file=sys.stderr))
    out = []
    if not ledger.is_file():
        return out
    for n, line in enumerate(ledger.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            e = json.loads(line)
        except ValueError:
            e = None
        if not isinstance(e, dict) or "event" not in e or "id" not in e:
            warn(f"warning: {ledger} line {n} is not a whole record (torn by a killed run?); skipped")
            continue
        out.append(e)
    return out


@dataclass
class TeardownReport:
    deleted: list[str] = field(default_factory=list)  # instance ids and run-scoped resources
    remaining: list[str] = field(default_factory=list)  # still there after the retries
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.remaining and not self.errors


def _scan(targets: list[tuple[Provider, list[str]]], run: str | None,
          select: Callable[[Instance], bool]) -> list[tuple[Provider, Instance]]:
    found = []
    for p, regions in targets:
        found += [(p, i) for i in p.list(regions, run) if select(i)]
    return found


def delete(targets: list[tuple[Provider, list[str]]], run: str | None, select: Callable[[Instance], bool],
           expired_before: datetime | None = None, dry_run: bool = False, ledger: Path | None = None,
           timeout_s: float = 600, poll_s: float = 2.0, log: Callable[[str], None] = lambda s: None,
           owner: str | None = None, grace_s: float = 0) -> TeardownReport:
    """Delete the selected instances, confirm by listing until none is left, then run-scoped resources
    (of ``owner`` only unless it is None; not those a controller prepared within ``grace_s``)."""
    rep = TeardownReport()
    try:
        victims = _scan(targets, run, select)
    except ProviderError as exc:
        rep.errors.append(str(exc))
        return rep
    rep.deleted += [f"{p.name}:{i.region}:instance/{i.id} ({i.host or '?'}, run {i.run})" for p, i in victims]
    if dry_run:
        for p, regions in targets:
            rep.deleted += p.cleanup(regions, run, expired_before, dry_run=True, owner=owner, grace_s=grace_s)
        return rep
    for p, insts in _group(victims):
        log(f"deleting {len(insts)} instance(s) on {p.name}: {', '.join(i.host or i.id for i in insts)}")
        try:
            p.delete_instances(insts)
        except ProviderError as exc:
            rep.errors.append(str(exc))
    deadline = time.time() + timeout_s
    ids = {(p.name, i.id) for p, i in victims}
    left: list[tuple[Provider, Instance]] = []
    while ids:
        try:
            left = [(p, i) for p, i in _scan(targets, run, lambda i: True) if (p.name, i.id) in ids]
        except ProviderError as exc:
            rep.errors.append(str(exc))
            break
        if not left:
            break
        if time.time() > deadline:
            rep.remaining += [f"{p.name}:{i.region}:instance/{i.id} ({i.state})" for p, i in left]
            break
        # Retry the delete for anything still running (a lost request, a provider hiccup).
        for p, insts in _group(left):
            try:
                p.delete_instances([i for i in insts if i.state not in ("shutting-down", "deleting", "stopping")])
            except ProviderError:
                pass
        time.sleep(poll_s)
    for _p, i in victims:
        if not any(i.id == x.id for _q, x in left):
            record(ledger, "deleted", i)
    for p, regions in targets:
        try:
            rep.deleted += p.cleanup(regions, run, expired_before, owner=owner, grace_s=grace_s)
        except ProviderError as exc:
            rep.errors.append(str(exc))
    return rep


def _group(pairs: list[tuple[Provider, Instance]]) -> list[tuple[Provider, list[Instance]]]:
    out: dict[int, tuple[Provider, list[Instance]]] = {}
    for p, i in pairs:
        out.setdefault(id(p), (p, []))[1].append(i)
    return list(out.values())


def teardown(run: str, targets: list[tuple[Provider, list[str]]], ledger: Path | None = None,
             log: Callable[[str], None] = lambda s: None, timeout_s: float = 600, all_owners: bool = False
             ) -> TeardownReport:
    """Everything of the run that this owner made (every owner's with ``all_owners``)."""
    me = None if all_owners else owner()
    return delete(targets, run, lambda i: i.run == run and (me is None or i.owner == me), ledger=ledger, log=log,
                  timeout_s=timeout_s, owner=me)


def benchfleet_made(i: Instance) -> bool:
    """Does an instance carry every tag benchfleet puts on the instances it creates? (A hand-tagged one
    does not, and reap never touches it.)"""
    return bool(i.run and i.host and i.owner and parse_expires(i.expires) is not None)


def reap(targets: list[tuple[Provider, list[str]]], older_than_s: float | None = None, dry_run: bool = False,
         log: Callable[[str], None] = lambda s: None, all_owners: bool = False, grace_s: float = REAP_GRACE_S,
         poll_s: float = 2.0) -> TeardownReport:
    """This owner's instances (every owner's with ``all_owners``) that are past their expiry tag, or, when
    ``older_than_s`` is given, launched more than that long ago; then the run-scoped resources of runs left
    with no instance. Never a run with an instance launched, or resources prepared, within ``grace_s``: its
    controller may still be provisioning it. Instances without benchfleet's full set of tags are never
    touched."""
    now = datetime.now(timezone.utc)
    me = None if all_owners else owner()
    try:
        listed = [i for p, regions in targets for i in p.list(regions)]
    except ProviderError as exc:
        return TeardownReport(errors=[str(exc)])
    busy = {i.run for i in listed if recent(i.launched_at, grace_s)}

    def launched_before(i: Instance, seconds: float) -> bool:
        try:
            launched = datetime.strptime(i.launched_at[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
        except ValueError:
            return False
        return (now - launched).total_seconds() >= seconds

    def expired(i: Instance) -> bool:
        if not benchfleet_made(i) or (me is not None and i.owner != me) or i.run in busy:
            return False
        exp = parse_expires(i.expires)
        if exp is not None and exp <= now:
            return True
        return older_than_s is not None and launched_before(i, older_than_s)

    cutoff = now if older_than_s is None else now + _far()
    return delete(targets, None, expired, expired_before=cutoff, dry_run=dry_run, log=log, owner=me,
                  grace_s=grace_s, poll_s=poll_s)


def _far():
    from datetime import timedelta

    return timedelta(days=3650)  # --older-than: run-scoped leftovers of any run with no instance left


def ssh_key(folder: Path, run: str) -> tuple[Path, str]:
    """A fresh ed25519 key for this run (mode 0600); returns its path and public key line."""
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    key = folder / "id_ed25519"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"benchfleet-{run}", "-f", str(key)],
                       check=True)
    os.chmod(key, 0o600)
    return key, (folder / "id_ed25519.pub").read_text().strip()


def controller_cidr(timeout: float = 4.0) -> str:
    """This controller's public address as a /32, asked of AWS's checkip service."""
    import urllib.request

    with urllib.request.urlopen("https://checkip.amazonaws.com", timeout=timeout) as r:  # noqa: S310
        ip = r.read().decode().strip()
    return f"{ip}/32"


def controller_private_cidr() -> str:
    """This controller's private address as a /32 (or /128): the source address the kernel picks for a route
    into private address space (a UDP connect sends nothing), for instances reached at their private
    addresses, i.e. a controller inside the cloud network or peered with it."""
    import ipaddress
    import socket

    probes = [(socket.AF_INET, "10.255.255.254"), (socket.AF_INET, "172.31.255.254"),
              (socket.AF_INET, "192.168.255.254"), (socket.AF_INET6, "fd00::1")]
    for family, target in probes:
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.connect((target, 22))
                ip = ipaddress.ip_address(s.getsockname()[0].split("%")[0])
        except OSError:
            continue
        if ip.is_private and not ip.is_loopback and not ip.is_link_local:
            return f"{ip}/{ip.max_prefixlen}"
    raise OSError("no route from this controller into private address space")


def configured(providers: list[str] | None = None, regions: list[str] | None = None
               ) -> tuple[list[tuple[Provider, list[str]]], list[str]]:
    """Every cloud whose account the SDK chains can name, with the regions to scan (AWS: all enabled
    regions unless given; Azure and GCP list subscription- or project-wide; OVHcloud: every region of the project's
    catalog unless given; OCI: every region the tenancy subscribes to unless given; Alibaba Cloud: every region ECS
    offers unless given). Returns (targets, notes)."""
    out, notes = [], []
    for name in providers or list(PROVIDERS):
        if name == "aws":
            import boto3

            if boto3.session.Session().get_credentials() is None:
                notes.append("aws: skipped, no credentials in boto3's chain")
                continue
            p = provider("aws")
            out.append((p, regions or p.regions()))
        elif name == "azure":
            sub = os.environ.get("AZURE_SUBSCRIPTION_ID", "")
            if not sub:
                notes.append("azure: skipped, AZURE_SUBSCRIPTION_ID is not set")
                continue
            out.append((provider("azure", subscription=sub), regions or []))
        elif name == "gcp":
            project = os.environ.get("GOOGLE_CLOUD_PROJECT", "") or os.environ.get("CLOUDSDK_CORE_PROJECT", "")
            if not project:
                notes.append("gcp: skipped, GOOGLE_CLOUD_PROJECT is not set")
                continue
            out.append((provider("gcp", project=project), regions or []))
        elif name == "ovh":
            if not (os.environ.get("OS_CLOUD") or os.environ.get("OS_AUTH_URL")):
                notes.append("ovh: skipped, neither OS_CLOUD nor OS_AUTH_URL is set (source the project's openrc.sh)")
                continue
            out.append((provider("ovh"), regions or []))  # every region of the project's catalog unless given
        elif name == "oci":
            path = os.environ.get("OCI_CONFIG_FILE") or str(Path.home() / ".oci" / "config")
            if not os.path.isfile(os.path.expanduser(path)):
                notes.append(f"oci: skipped, no OCI config file at {path} (OCI_CONFIG_FILE; `oci setup config`)")
                continue
            out.append((provider("oci"), regions or []))  # every subscribed region unless given
        elif name == "alibaba":
            from benchfleet.cloud.alibaba import KEY_ID_ENV, SECRET_ENV

            if not (os.environ.get(KEY_ID_ENV) and os.environ.get(SECRET_ENV)):
                notes.append(f"alibaba: skipped, {KEY_ID_ENV} and {SECRET_ENV} are not both set")
                continue
            out.append((provider("alibaba"), regions or []))  # every region ECS offers unless given
        else:
            raise ValueError(f"--provider: unknown cloud {name!r}; choose from {', '.join(PROVIDERS)}")
    return out, notes
