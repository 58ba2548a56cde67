"""Google Compute Engine through google-cloud-compute: every GCP call benchfleet makes is here.

Credentials come only from Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud's
application-default login, the metadata server); the project from the sweep or GOOGLE_CLOUD_PROJECT.
``BENCHFLEET_GCP_COMPUTE_ENDPOINT`` points at another Compute endpoint (private service connect, a test
server). Per run: one firewall rule (SSH from the controller to instances tagged with the run). Each
instance deletes itself at its expiry (``max_run_duration`` with termination action DELETE).

The run's firewall rule is reused only when it is this owner's (its description holds the tags) and
exactly as benchfleet makes it (ingress tcp:22 from ``ssh_cidr`` to the run's network tag); anything else is
refused before anything is created. Disks: Compute Engine encrypts every persistent disk at rest
(Google-managed keys) and offers no way to turn that off, so there is nothing to request.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from datetime import datetime

from benchfleet.cloud.base import (
    AUTH,
    BAD_REQUEST,
    CAPACITY,
    NOT_FOUND,
    OTHER,
    QUOTA,
    QUOTA_GLOBAL,
    TAG_EXPIRES,
    TAG_HEARTBEAT,
    TAG_HOST,
    TAG_OWNER,
    TAG_RUN,
    TAG_SYSTEM,
    Demand,
    Instance,
    LaunchRequest,
    ProviderError,
    asked,
    heartbeat,
    leftover,
    ours,
)

NAME = "gcp"
IMAGES = {
    "ubuntu-22.04": "projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts",
    "ubuntu-24.04": "projects/ubuntu-os-cloud/global/images/family/ubuntu-2404-lts-amd64",
    "debian-12": "projects/debian-cloud/global/images/family/debian-12",
    "rocky-9": "projects/rocky-linux-cloud/global/images/family/rocky-linux-9",
}
_CODES = {
    "ZONE_RESOURCE_POOL_EXHAUSTED": CAPACITY, "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS": CAPACITY,
    "RESOURCE_POOL_EXHAUSTED": CAPACITY, "UNSUPPORTED_OPERATION": CAPACITY,
    "QUOTA_EXCEEDED": QUOTA, "RESOURCE_NOT_FOUND": NOT_FOUND, "NOT_FOUND": NOT_FOUND,
}
_STATES = {"PROVISIONING": "provisioning", "STAGING": "staging", "RUNNING": "running", "STOPPING": "stopping",
           "SUSPENDING": "stopping", "SUSPENDED": "stopped", "TERMINATED": "terminated", "REPAIRING": "pending"}


def _kind(code: str, message: str) -> str:
    if code == "QUOTA_EXCEEDED" and "ALL_REGIONS" in message:  # e.g. 'CPUS_ALL_REGIONS': the project's
        return QUOTA_GLOBAL
    return _CODES.get(code, OTHER)


def instance_name(run: str, host: str) -> str:
    """Instance names are unique per project: the plan's host name and a short hash of the run."""
    return f"{host}-{hashlib.sha1(run.encode()).hexdigest()[:6]}"[:63]


def _firewall(run: str) -> str:
    return f"benchfleet-{run}-ssh"[:63]


def _description_tags(description: str | None) -> dict[str, str]:
    return dict(re.findall(r"(benchfleet-[a-z]+)=(\S+)", description or ""))


def _metrics(d: Demand, preemptible: bool) -> set[str]:
    """The regional quotas (metrics) a system's instances count against: CPUS and their family's (N2_CPUS), or,
    for spot where the project has it, PREEMPTIBLE_CPUS alone."""
    if d.spot and preemptible:
        return {"PREEMPTIBLE_CPUS"}
    return {"CPUS", f"{d.instance_type.split('-')[0].upper()}_CPUS"}


class GcpProvider:
    name = NAME

    def __init__(self, project: str = ""):
        from google.api_core.client_options import ClientOptions
        from google.cloud import compute_v1

        self.project = project or os.environ.get("GOOGLE_CLOUD_PROJECT", "")
        if not self.project:
            raise ProviderError(AUTH, "NoProject", "no GCP project: set project in the system's cloud section or "
                                "GOOGLE_CLOUD_PROJECT", NAME)
        endpoint = os.environ.get("BENCHFLEET_GCP_COMPUTE_ENDPOINT")
        opts = {"client_options": ClientOptions(api_endpoint=endpoint)} if endpoint else {}
        self.c = compute_v1
        self.instances = compute_v1.InstancesClient(**opts)
        self.firewalls = compute_v1.FirewallsClient(**opts)
        self.regions_client = compute_v1.RegionsClient(**opts)
        self.machine_types = compute_v1.MachineTypesClient(**opts)
        self.images = compute_v1.ImagesClient(**opts)
        self._offered: dict[str, dict[str, int]] = {}  # machine type -> {zone: vCPUs}
        self._memory: dict[str, int] = {}  # machine type -> MiB
        if endpoint:
            # The operation pollers inside each client are built without its client options (they would poll
            # compute.googleapis.com); hand them pollers for the same endpoint.
            ops = {"zone_operations": compute_v1.ZoneOperationsClient(**opts),
                   "global_operations": compute_v1.GlobalOperationsClient(**opts)}
            for client in (self.instances, self.firewalls):
                client.transport._extended_operations_services.update(ops)

    def _call(self, fn, *args, where: str = "", wait: bool = True, **kw):
        from google.api_core import exceptions as gex
        from google.auth import exceptions as aex

        op = None
        try:
            op = fn(*args, **kw)
            if wait and hasattr(op, "result") and hasattr(op, "error_code"):
                op.result(timeout=600)
            return op
        except aex.GoogleAuthError as exc:
            raise ProviderError(AUTH, "Credentials", f"{exc} {where}".strip(), NAME) from None
        except gex.GoogleAPICallError as exc:
            code, message = "", exc.message or str(exc)
            errs = getattr(getattr(op, "error", None), "errors", None) if op is not None else None
            if errs:
                code, message = errs[0].code, errs[0].message
            else:
                reasons = [e.get("reason", "") for e in (exc.errors or []) if isinstance(e, dict)]
                code = {"quotaExceeded": "QUOTA_EXCEEDED", "notFound": "NOT_FOUND"}.get(reasons[0] if reasons else "",
                                                                                        exc.__class__.__name__)
            kind = _kind(code, message)
            if kind == OTHER:
                kind = (NOT_FOUND if isinstance(exc, gex.NotFound) else AUTH
                        if isinstance(exc, gex.Unauthorized | gex.Forbidden) else BAD_REQUEST
                        if isinstance(exc, gex.BadRequest) else OTHER)
            raise ProviderError(kind, code, f"{message} {where}".strip(), NAME) from None

    # -- before anything is created
    def offered(self, instance_type: str) -> dict[str, int]:
        """The zones that offer the machine type, with its vCPUs there (Compute Engine's aggregated list). A custom
        type (``n2-custom-4-8192``) is not listed: its vCPUs are in its name and the zones are those of its
        family's standard types."""
        custom = re.fullmatch(r"([a-z0-9]+)-custom-(\d+)-(\d+)(?:-ext)?", instance_type)
        if custom:
            family, cpus, mem = custom.groups()
            if instance_type not in self._offered:
                pages = self._call(self.machine_types.aggregated_list, request={
                    "project": self.project, "filter": f'name = "{family}-standard-*"'}, where=f"({instance_type})")
                zones = {mt.zone.rsplit("/", 1)[-1] for _, scoped in pages for mt in scoped.machine_types
                         if mt.name.startswith(f"{family}-standard-")}
                self._offered[instance_type] = {z: int(cpus) for z in zones}
                self._memory[instance_type] = int(mem)
            return self._offered[instance_type]
        if instance_type not in self._offered:
            pages = self._call(self.machine_types.aggregated_list, request={
                "project": self.project, "filter": f'name = "{instance_type}"'}, where=f"({instance_type})")
            found = [mt for _, scoped in pages for mt in scoped.machine_types if mt.name == instance_type]
            self._offered[instance_type] = {mt.zone.rsplit("/", 1)[-1]: int(mt.guest_cpus) for mt in found}
            self._memory[instance_type] = int(found[0].memory_mb) if found else 0
        return self._offered[instance_type]

    def shape(self, instance_type: str) -> tuple[int, float]:
        """(vCPUs, memory in GiB) of a machine type, from the same listing; (0, 0) where it is not offered."""
        zones = self.offered(instance_type)
        return (next(iter(zones.values())) if zones else 0), self._memory.get(instance_type, 0) / 1024

    shares_quotas = True  # preflight takes the other systems of the project (see Provider.preflight)

    def preflight(self, regions: list[str], instance_type: str, count: int, spot: bool = False,
                  image: str = "", system: str = "", others: Sequence[Demand] = ()) -> list[str]:
        """Refused (a problem per region) unless one region offers the type with the vCPUs for ``count``
        instances free in its CPUS quota and the type's family quota (N2_CPUS, ...), with those of the ``others``
        that draw on the same quota (n2-standard-4 and n2-highmem-8: N2_CPUS and CPUS); spot instances count
        against PREEMPTIBLE_CPUS where the project has that quota."""
        try:
            offered = self.offered(instance_type)
            if image:
                self.resolve_image(image)
        except ProviderError as exc:
            return [str(exc)]
        demands = [Demand(system or "this system", instance_type, count, spot), *others]
        why = []
        for region in regions:
            zones = sorted(z for z in offered if z.startswith(region + "-"))
            if not zones:
                why.append(f"gcp: {instance_type} is not offered in any zone of {region}")
                continue
            try:
                r = self._call(self.regions_client.get, project=self.project, region=region, where=f"({region})")
                short = self._quota_short(region, r.quotas, demands)
            except ProviderError as exc:
                why.append(str(exc))
                if exc.kind == AUTH:
                    return why
                continue
            if not short:
                return []  # this region can hold the system (earlier ones are failed over)
            why.append("gcp: " + "; ".join(short))
        return why

    def _quota_short(self, region: str, quotas: list, demands: list[Demand]) -> list[str]:
        """The quotas of the region that the first demand draws on and cannot hold it with the others drawing on
        them, with their figures."""
        preemptible = any(q.metric == "PREEMPTIBLE_CPUS" and q.limit > 0 for q in quotas)
        short = []
        for q in quotas:
            if q.metric not in _metrics(demands[0], preemptible):
                continue
            need, figures = asked([(d.system, d.count, max(self.offered(d.instance_type).values(), default=0))
                                   for d in demands if q.metric in _metrics(d, preemptible)])
            if need > q.limit - q.usage:
                short.append(f"{q.metric} quota of {region}: {figures} vCPUs asked, "
                             f"{max(0.0, q.limit - q.usage):.0f} of {q.limit:.0f} free")
        return short

    def zones(self, region: str, instance_type: str) -> list[str]:
        try:
            return sorted(z for z in self.offered(instance_type) if z.startswith(region + "-"))
        except ProviderError:
            return [f"{region}-{z}" for z in "abc"]  # the listing failed: the usual zones, each tried in turn

    # -- run-scoped: a firewall rule for SSH from the controller to this run's instances
    def prepare(self, run: str, region: str, req: LaunchRequest) -> None:
        c = self.c
        try:
            got = self._call(self.firewalls.get, project=self.project, firewall=_firewall(run))
        except ProviderError as exc:
            if exc.kind != NOT_FOUND:
                raise
        else:
            self._check_firewall(got, run, req)
            return
        fw = c.Firewall(name=_firewall(run), network="global/networks/default", direction="INGRESS",
                        source_ranges=[req.ssh_cidr], target_tags=[f"benchfleet-{run}"],
                        allowed=[c.Allowed(I_p_protocol="tcp", ports=["22"])],
                        description=f"{TAG_RUN}={run} {TAG_EXPIRES}={req.tags[TAG_EXPIRES]} "
                                    f"{TAG_OWNER}={req.tags[TAG_OWNER]} {TAG_HEARTBEAT}={heartbeat()}")
        self._call(self.firewalls.insert, project=self.project, firewall_resource=fw)

    def _check_firewall(self, fw, run: str, req: LaunchRequest) -> None:
        tags = _description_tags(fw.description)
        what = f"firewall rule {fw.name} of project {self.project}"
        if not ours(tags, run, req.tags[TAG_OWNER]):
            raise ProviderError(BAD_REQUEST, "ForeignFirewall", f"{what} is not this controller's (owner "
                                f"{tags.get(TAG_OWNER) or 'not set'}, ours is {req.tags[TAG_OWNER]}); nothing was "
                                "created. Use another --run-id", NAME)
        allowed = sorted(f"{a.I_p_protocol}:{','.join(a.ports)}" for a in fw.allowed)
        if (fw.direction != "INGRESS" or list(fw.source_ranges) != [req.ssh_cidr] or allowed != ["tcp:22"]
                or list(fw.target_tags) != [f"benchfleet-{run}"] or list(fw.source_tags) or list(fw.denied)):
            raise ProviderError(BAD_REQUEST, "ChangedFirewall", f"{what} lets in {', '.join(allowed) or 'nothing'} "
                                f"from {', '.join(fw.source_ranges) or 'nowhere'}; benchfleet's rule lets in only "
                                f"tcp:22 from {req.ssh_cidr}; nothing was created. Delete it (benchfleet teardown "
                                f"{run}) or use another --run-id", NAME)

    def resolve_image(self, image: str) -> str:
        """The image (alias, family or image path) as the path of the image it names now; refused when the
        project does not list it."""
        path = IMAGES.get(image, image)
        # the forms Compute Engine takes: a URL, projects/P/global/images/..., or global/images/... (this project)
        m = re.fullmatch(r"(?:https://[^/]+/compute/v1/)?(?:projects/([^/]+)/)?global/images/(family/)?([^/]+)", path)
        if not m:
            raise ProviderError(BAD_REQUEST, "UnknownImage", f"image {image!r}: give projects/P/global/images/NAME, "
                                f"projects/P/global/images/family/FAMILY or one of {', '.join(IMAGES)}", NAME)
        project, family, name = m.groups()
        project = project or self.project
        try:
            got = self._call(self.images.get_from_family if family else self.images.get, project=project,
                             **({"family": name} if family else {"image": name}), where=f"(image {image})")
        except ProviderError as exc:
            if exc.kind in (NOT_FOUND, BAD_REQUEST):
                raise ProviderError(BAD_REQUEST, "UnknownImage", f"image {image!r}: project {project!r} lists no "
                                    f"{'family' if family else 'image'} {name!r}; give an existing image or family, "
                                    f"or one of {', '.join(IMAGES)}", NAME) from None
            raise
        return f"projects/{project}/global/images/{got.name}"

    def create(self, req: LaunchRequest) -> Instance:
        c = self.c
        image = IMAGES.get(req.image, req.image)
        if "/" not in image:
            raise ProviderError(BAD_REQUEST, "UnknownImage", f"image {req.image!r}: give projects/.../images/... or "
                                f"one of {', '.join(IMAGES)}", NAME)
        hours = max(1, int((req.expires_at - datetime.now(req.expires_at.tzinfo)).total_seconds()))
        sched = c.Scheduling(max_run_duration=c.Duration(seconds=hours), instance_termination_action="DELETE")
        if req.spot:
            sched.provisioning_model = "SPOT"
        inst = c.Instance(
            name=instance_name(req.run, req.host), machine_type=f"zones/{req.zone}/machineTypes/{req.instance_type}",
            labels=req.tags, tags=c.Tags(items=[f"benchfleet-{req.run}"]), scheduling=sched,
            disks=[c.AttachedDisk(boot=True, auto_delete=True, initialize_params=c.AttachedDiskInitializeParams(
                source_image=image, disk_size_gb=req.disk_gb, labels=req.tags))],
            network_interfaces=[c.NetworkInterface(network="global/networks/default", access_configs=[
                c.AccessConfig(name="external", type_="ONE_TO_ONE_NAT")])],
            metadata=c.Metadata(items=[c.Items(key="ssh-keys", value=f"{req.ssh_user}:{req.public_key}"),
                                       c.Items(key="startup-script", value=req.user_data())]),
        )
        where = f"({req.zone})"
        self._call(self.instances.insert, project=self.project, zone=req.zone, instance_resource=inst, where=where)
        got = self._call(self.instances.get, project=self.project, zone=req.zone, instance=inst.name, where=where)
        return self._instance(got)

    def _instance(self, i) -> Instance:
        labels = dict(i.labels)
        zone = i.zone.rsplit("/", 1)[-1]
        nic = i.network_interfaces[0] if i.network_interfaces else None
        return Instance(
            provider=NAME, id=i.name, host=labels.get(TAG_HOST, ""), system=labels.get(TAG_SYSTEM, ""),
            run=labels.get(TAG_RUN, ""), region=zone.rsplit("-", 1)[0], zone=zone,
            instance_type=i.machine_type.rsplit("/", 1)[-1], state=_STATES.get(i.status, i.status.lower()),
            public_ip=(nic.access_configs[0].nat_i_p if nic and nic.access_configs else "") if nic else "",
            private_ip=nic.network_i_p if nic else "", spot=i.scheduling.provisioning_model == "SPOT",
            launched_at=re.sub(r"\.\d+", "", i.creation_timestamp)[:19] + "Z" if i.creation_timestamp else "",
            expires=labels.get(TAG_EXPIRES, ""), owner=labels.get(TAG_OWNER, ""), extra={"project": self.project},
        )

    def list(self, regions: list[str], run: str | None = None) -> list[Instance]:
        flt = f'labels.{TAG_RUN} = "{run}"' if run else f"labels.{TAG_RUN}:*"
        pages = self._call(self.instances.aggregated_list, request=self.c.AggregatedListInstancesRequest(
            project=self.project, filter=flt), wait=False)
        out = []
        try:
            for _zone, scoped in pages:
                out += [self._instance(i) for i in scoped.instances]
        except Exception as exc:  # noqa: BLE001 - a page fetch failing mid-listing
            raise ProviderError(OTHER, type(exc).__name__, str(exc), NAME) from None
        if regions:
            out = [i for i in out if i.region in regions or not i.region]
        return out

    def delete_instances(self, instances: list[Instance]) -> None:
        for i in instances:
            try:
                self._call(self.instances.delete, project=self.project, zone=i.zone, instance=i.id,
                           where=f"({i.zone})")
            except ProviderError as exc:
                if exc.kind != NOT_FOUND:
                    raise

    def cleanup(self, regions: list[str], run: str | None = None, expired_before: datetime | None = None,
                dry_run: bool = False, owner: str | None = None, grace_s: float = 0) -> list[str]:
        """The run's firewall rule (firewalls carry no labels: its description holds the tags)."""
        done = []
        live = {i.run for i in self.list([])} if not run else set()
        for fw in self._call(self.firewalls.list, project=self.project, wait=False):
            if not leftover(_description_tags(fw.description), run, expired_before, live, owner, grace_s):
                continue
            done.append(f"gcp:global:firewall/{fw.name}")
            if not dry_run:
                try:
                    self._call(self.firewalls.delete, project=self.project, firewall=fw.name)
                except ProviderError as exc:
                    if exc.kind != NOT_FOUND:
                        raise
        return done
