"""OVHcloud Public Cloud through openstacksdk: every OVHcloud call benchfleet makes is here.

OVHcloud's Public Cloud is OpenStack: Keystone v3 signs in (``https://auth.cloud.ovh.net/v3``) and its service
catalog names each region's Nova (servers, flavors, key pairs, limits), Neutron (the public network ``Ext-Net``,
security groups) and Glance (images). Regions are the catalog's (GRA11, SBG5, BHS5, DE1, UK1, WAW1, ...); each
has its own quota, key pairs and flavor ids, so a region is to OVHcloud what a region is to AWS.

Credentials come only from openstacksdk's own chain: the ``OS_*`` variables of the project's ``openrc.sh`` (the
OVHcloud control panel makes one per OpenStack user), or ``OS_CLOUD`` naming an entry of ``clouds.yaml``. The
project is the sweep's ``project`` (an OpenStack project id) or the chain's. benchfleet never logs or stores them;
an error says which variables to set, never their values.

Per run and region: a key pair ``benchfleet-<run>`` (the run's public key) and a security group
``benchfleet-<run>`` letting in only tcp:22 from ``ssh_cidr`` (OVHcloud's ``default`` group lets everything in,
so instances get the run's group instead of it). Neutron's tags are short strings, so the group's description
holds benchfleet's tags (``benchfleet-run=... benchfleet-expires=... benchfleet-owner=... benchfleet-heartbeat=...``)
as GCP's firewall rule does; Nova key pairs carry nothing, so a key pair goes with its region's security group. A
group or key pair named after the run is reused only when it is this owner's and exactly as benchfleet makes it.

Each instance carries the tags as server metadata (key = value, 255 characters each), and two server tags that
Nova can filter on: ``benchfleet`` and ``benchfleet-run=<run>`` (an owner does not fit Nova's 60-character tags).

The last line at expiry, and what it costs: Nova has no time to live (nothing in its API deletes, stops or shelves
a server at a time), and an instance cannot delete or shelve itself without API credentials, which benchfleet
never puts on an instance. So each instance's cloud-init user data halts it at its expiry (``shutdown -h``), but
**OVHcloud bills a stopped (SHUTOFF) instance like a running one**: the halt stops the work, not the bill. What
stops the bill is deleting it: ``benchfleet reap`` deletes every instance past its ``benchfleet-expires`` tag,
stopped or not, and the teardown after every sweep deletes the run's instances. Run ``benchfleet reap`` from
cron where a controller may die.

OVHcloud has no spot or preemptible instances: ``spot: true`` is refused before anything is created. Disks: an
OVHcloud flavor comes with its local disk (b3-8: 50 GB), which is what the instance gets; ``disk_gb`` is not
applied (a larger disk would be a Cinder volume: not done yet). Nothing is claimed about disk encryption.
"""

from __future__ import annotations

import base64
import difflib
import re
import time
from datetime import datetime, timezone

from benchfleet.cloud.base import (
    AUTH,
    BAD_REQUEST,
    CAPACITY,
    NOT_FOUND,
    OTHER,
    QUOTA,
    TAG_EXPIRES,
    TAG_HEARTBEAT,
    TAG_HOST,
    TAG_OWNER,
    TAG_RUN,
    TAG_SYSTEM,
    Instance,
    LaunchRequest,
    ProviderError,
    heartbeat,
    leftover,
    ours,
)

NAME = "ovh"
# alias -> the image name OVHcloud's Glance lists in every region (the newest active image of that name is used)
IMAGES = {"ubuntu-22.04": "Ubuntu 22.04", "ubuntu-24.04": "Ubuntu 24.04", "debian-12": "Debian 12",
          "rocky-9": "Rocky Linux 9"}
PUBLIC_NETWORK = "Ext-Net"  # OVHcloud's public network in every region
ALL_TAG = "benchfleet"  # the server tag every benchfleet instance carries: a listing of every run
NO_SPOT = ("OVHcloud Public Cloud has no spot or preemptible instances; remove spot: true from the system's cloud "
           "section (or set it to false)")
CREDENTIALS_FIX = ("source the project's OpenStack openrc.sh from the OVHcloud control panel (OS_AUTH_URL, "
                   "OS_USERNAME, OS_PASSWORD, OS_PROJECT_ID, ...) or set OS_CLOUD to an entry of clouds.yaml")
BUILD_TIMEOUT_S = 900.0  # an OVHcloud instance is ACTIVE in one to three minutes; GPU flavors take longer
_STATES = {"ACTIVE": "running", "BUILD": "pending", "REBUILD": "pending", "REBOOT": "running",
           "HARD_REBOOT": "running", "PASSWORD": "running", "MIGRATING": "running", "RESIZE": "running",
           "VERIFY_RESIZE": "running", "REVERT_RESIZE": "running", "RESCUE": "running", "SHUTOFF": "stopped",
           "STOPPED": "stopped", "PAUSED": "stopped", "SUSPENDED": "stopped", "SHELVED": "stopped",
           "SHELVED_OFFLOADED": "stopped", "ERROR": "failed", "DELETED": "terminated",
           "SOFT_DELETED": "terminated", "UNKNOWN": "failed"}
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _name(run: str) -> str:
    """The run's key pair and security group in each region."""
    return f"benchfleet-{run}"


def _description_tags(description: str | None) -> dict[str, str]:
    return dict(re.findall(r"(benchfleet-[a-z]+)=(\S+)", description or ""))


def kind(status: int | None, message: str) -> str:
    """Failover's reading of a Nova, Neutron, Glance or Keystone error."""
    text = message.lower()
    if status == 401:
        return AUTH
    if "no valid host" in text or status == 503:
        return CAPACITY  # the scheduler found no hypervisor with room: the next zone or region
    if status == 413 or "quota exceeded" in text:
        return QUOTA  # quotas are per region on OVHcloud: the next region
    if status == 403:
        return AUTH
    if status == 404:
        return NOT_FOUND
    if status == 400:
        return BAD_REQUEST  # an image or flavor not found, a request Nova refuses
    return OTHER


class OvhProvider:
    name = NAME

    def __init__(self, project: str = ""):
        import openstack  # noqa: F401 -- fails early, naming the extra, where the SDK is missing

        self.project = project
        self._conn = None  # signed in once; each region's connection shares its session
        self._regions: dict[str, object] = {}
        self._flavors: dict[str, dict] = {}  # region -> {flavor name: flavor}
        self._catalog: list[str] | None = None

    # -- connections and errors
    def _base(self):
        if self._conn is None:
            import openstack
            from keystoneauth1 import exceptions as kex
            from openstack import exceptions as oex

            kw = {"app_name": "benchfleet"}
            if self.project:
                kw["project_id"] = self.project
            try:
                self._conn = openstack.connect(**kw)
            except (oex.ConfigException, kex.MissingRequiredOptions, kex.MissingAuthPlugin) as exc:
                raise ProviderError(AUTH, "NoCredentials", f"no OpenStack credentials ({type(exc).__name__}); "
                                    f"{CREDENTIALS_FIX}", NAME) from None
        return self._conn

    def _in(self, region: str):
        """A connection to one region (the catalog's endpoints of that region, the same token)."""
        if region not in self._regions:
            from openstack import connection

            self._regions[region] = connection.Connection(session=self._base().session, region_name=region,
                                                          app_name="benchfleet")
        return self._regions[region]

    def _call(self, fn, *args, where: str = "", **kw):
        from keystoneauth1 import exceptions as kex
        from openstack import exceptions as oex

        try:
            return fn(*args, **kw)
        except ProviderError:
            raise
        except oex.HttpException as exc:
            status = exc.status_code
            message = str(exc.details or exc.message or "").strip()
            code = type(exc).__name__.replace("Exception", "") or "HttpError"
            raise ProviderError(kind(status, message), f"{status} {code}".strip(), f"{message} {where}".strip(),
                                NAME) from None
        except kex.http.HttpError as exc:  # Keystone (sign-in): its messages never hold the password
            k = AUTH if exc.http_status in (401, 403) else kind(exc.http_status, exc.message or "")
            fix = f"; {CREDENTIALS_FIX}" if k == AUTH else ""
            raise ProviderError(k, f"{exc.http_status} {type(exc).__name__}", f"Keystone: {exc.message} {where}"
                                f"{fix}".strip(), NAME) from None
        except kex.EndpointNotFound as exc:
            raise ProviderError(BAD_REQUEST, "EndpointNotFound", f"{exc} {where}; the project's catalog has no such "
                                f"region (regions: {', '.join(self._catalog or [])})".strip(), NAME) from None
        except (kex.MissingRequiredOptions, kex.MissingAuthPlugin, oex.ConfigException) as exc:
            raise ProviderError(AUTH, "NoCredentials", f"no OpenStack credentials ({type(exc).__name__}); "
                                f"{CREDENTIALS_FIX}", NAME) from None
        except (kex.ClientException, oex.SDKException) as exc:  # unreachable, TLS, discovery, timeouts
            raise ProviderError(OTHER, type(exc).__name__, f"{exc} {where}".strip(), NAME) from None

    # -- before anything is created
    def regions(self) -> list[str]:
        """The regions of the project's service catalog that have a compute endpoint."""
        if self._catalog is None:
            conn = self._base()
            access = self._call(conn.session.auth.get_access, conn.session, where="(signing in to Keystone)")
            eps = access.service_catalog.get_endpoints(service_type="compute", interface="public")
            self._catalog = sorted({e.get("region_id") or e.get("region") for e in eps.get("compute", [])} - {None})
        return self._catalog

    def flavors(self, region: str) -> dict:
        """The flavors a region offers, by name."""
        if region not in self._flavors:
            conn = self._in(region)
            self._flavors[region] = {f.name: f for f in self._call(
                lambda: list(conn.compute.flavors(details=True)), where=f"({region})")}
        return self._flavors[region]

    def offered(self, instance_type: str, regions: list[str] | None = None) -> dict[str, int]:
        """The regions (of ``regions``, default the catalog's) whose flavors list the type, with its vCPUs."""
        out = {}
        for r in regions or self.regions():
            f = self.flavors(r).get(instance_type)
            if f is not None:
                out[r] = int(f.vcpus)
        return out

    def shape(self, instance_type: str) -> tuple[int, float]:
        """(vCPUs, memory in GiB) of a flavor, from the first region that lists it; (0, 0) where none does."""
        for r in self.regions():
            f = self.flavors(r).get(instance_type)
            if f is not None:
                return int(f.vcpus), int(f.ram) / 1024
        return 0, 0.0

    def zones(self, region: str, instance_type: str) -> list[str]:
        """The region's available zones (``nova`` in most OVHcloud regions, three in the 3-AZ ones); none where
        the region does not offer the flavor, so failover goes on to the next region."""
        try:
            if instance_type not in self.flavors(region):
                return []
            conn = self._in(region)
            zones = self._call(lambda: [z.name for z in conn.compute.availability_zones()
                                        if (z.state or {}).get("available", True)], where=f"({region})")
        except ProviderError:
            return [""]  # the listing failed: let Nova place it
        return sorted(zones) or [""]

    def _unknown_regions(self, regions: list[str]) -> list[str]:
        known = self.regions()
        out = []
        for r in regions:
            if r in known:
                continue
            close = difflib.get_close_matches(r.upper(), known, n=1)
            out.append(f"ovh: region {r!r} (cloud.regions) is not in this project's catalog, whose regions are "
                       f"{', '.join(known)}" + (f"; did you mean {close[0]!r}?" if close else ""))
        return out

    def preflight(self, regions: list[str], instance_type: str, count: int, spot: bool = False,
                  image: str = "") -> list[str]:
        """Refused (a problem per region) unless one region lists the flavor and the image and has the vCPUs, RAM
        and instances for ``count`` instances free in its Nova quota (limits: maxTotalCores - totalCoresUsed, ...).
        A region the catalog does not have, and spot, are refused whatever the other regions hold."""
        if spot:
            return [f"ovh: cloud.spot: {NO_SPOT}"]
        try:
            unknown = self._unknown_regions(regions)
        except ProviderError as exc:
            return [str(exc)]
        if unknown:
            return unknown
        why = []
        for region in regions:
            try:
                flavors = self.flavors(region)
                f = flavors.get(instance_type)
                if f is None:
                    close = difflib.get_close_matches(instance_type, list(flavors), n=3)
                    why.append(f"ovh: flavor {instance_type} (cloud.instance_type) is not offered in {region}"
                               + (f"; close ones there: {', '.join(close)}" if close else ""))
                    continue
                if image:
                    self.resolve_image(region, image)
                conn = self._in(region)
                lim = self._call(conn.compute.get_limits, where=f"({region})").absolute
            except ProviderError as exc:
                why.append(str(exc))
                if exc.kind == AUTH:
                    return why
                continue
            cpus, ram = int(f.vcpus), int(f.ram)
            short = []
            for what, key, each, limit, used, unit in (
                    ("cores", "maxTotalCores", cpus, lim.total_cores, lim.total_cores_used, "vCPUs"),
                    ("RAM", "maxTotalRAMSize", ram, lim.total_ram, lim.total_ram_used, "MiB"),
                    ("instances", "maxTotalInstances", 1, lim.instances, lim.instances_used, "instances")):
                if limit is None or int(limit) < 0:  # -1: unlimited
                    continue
                free = max(0, int(limit) - int(used or 0))
                if each * count > free:
                    short.append(f"{what} quota ({key}) of {region}: {count} x {each} = {each * count} {unit} asked, "
                                 f"{free} of {int(limit)} free")
            if not short:
                return []  # this region can hold the system (earlier ones are failed over)
            why.append("ovh: " + "; ".join(short))
        return why

    def resolve_image(self, region: str, image: str) -> str:
        """The id of the image an alias, a Glance name ("Ubuntu 22.04") or an image id names in the region (the
        newest active one of that name); refused when the region does not list it."""
        conn = self._in(region)
        if _UUID.match(image):
            try:
                return self._call(conn.image.get_image, image, where=f"(image {image} in {region})").id
            except ProviderError as exc:
                if exc.kind != NOT_FOUND:
                    raise
                found = []
        else:
            name = IMAGES.get(image, image)
            found = [i for i in self._call(lambda: list(conn.image.images(name=name)),
                                           where=f"(image {image} in {region})") if i.status == "active"]
        if not found:
            raise ProviderError(BAD_REQUEST, "UnknownImage", f"image {image!r} (cloud.image): {region} lists no active "
                                f"image of that name or id; give a name as `openstack image list` shows it, an image "
                                f"id, or one of {', '.join(IMAGES)}", NAME)
        return max(found, key=lambda i: i.created_at or "").id

    # -- run-scoped: the key pair and the security group of a region
    def prepare(self, run: str, region: str, req: LaunchRequest) -> None:
        if req.spot:
            raise ProviderError(BAD_REQUEST, "NoSpot", NO_SPOT, NAME)
        conn = self._in(region)
        where = f"({region})"
        desc = (f"{TAG_RUN}={run} {TAG_EXPIRES}={req.tags[TAG_EXPIRES]} {TAG_OWNER}={req.tags[TAG_OWNER]} "
                f"{TAG_HEARTBEAT}={heartbeat()}")
        groups = self._call(lambda: list(conn.network.security_groups(name=_name(run))), where=where)
        if groups:
            group = groups[0]
            self._check_group(group, run, req, region)
            # refresh the heartbeat that keeps reap away while this run is being provisioned
            self._call(conn.network.update_security_group, group, description=desc, where=where)
        else:
            group = self._call(conn.network.create_security_group, name=_name(run), description=desc, where=where)
            self._call(conn.network.create_security_group_rule, security_group_id=group.id, direction="ingress",
                       ethertype="IPv6" if ":" in req.ssh_cidr else "IPv4", protocol="tcp", port_range_min=22,
                       port_range_max=22, remote_ip_prefix=req.ssh_cidr, where=where)
        try:
            kp = self._call(conn.compute.get_keypair, _name(run), where=where)
        except ProviderError as exc:
            if exc.kind != NOT_FOUND:
                raise
            self._call(conn.compute.create_keypair, name=_name(run), public_key=req.public_key, where=where)
            return
        if (kp.public_key or "").split()[:2] != req.public_key.split()[:2]:
            raise ProviderError(BAD_REQUEST, "ForeignKeyPair", f"key pair {_name(run)} of {region} holds another "
                                "public key than this run's; nothing was created. Use another --run-id, or delete "
                                f"the key pair (benchfleet teardown {run})", NAME)

    def _check_group(self, group, run: str, req: LaunchRequest, region: str) -> None:
        tags = _description_tags(group.description)
        what = f"security group {group.name} ({group.id}) of {region}"
        if not ours(tags, run, req.tags[TAG_OWNER]):
            raise ProviderError(BAD_REQUEST, "ForeignSecurityGroup", f"{what} is not this controller's (owner "
                                f"{tags.get(TAG_OWNER) or 'not set'}, ours is {req.tags[TAG_OWNER]}); nothing was "
                                "created. Use another --run-id", NAME)
        ingress = [r for r in group.security_group_rules or [] if r.get("direction") == "ingress"]
        shown = [f"{r.get('protocol') or 'any'}:{r.get('port_range_min') or '*'}-{r.get('port_range_max') or '*'} "
                 f"from {r.get('remote_ip_prefix') or r.get('remote_group_id') or 'anywhere'}" for r in ingress]
        if shown != [f"tcp:22-22 from {req.ssh_cidr}"]:
            raise ProviderError(BAD_REQUEST, "ChangedSecurityGroup", f"{what} lets in {', '.join(shown) or 'nothing'}; "
                                f"benchfleet's group lets in only tcp:22 from {req.ssh_cidr}; nothing was created. "
                                f"Delete it (benchfleet teardown {run}) or use another --run-id", NAME)

    def _public_network(self, region: str) -> str:
        conn = self._in(region)
        nets = self._call(lambda: list(conn.network.networks(name=PUBLIC_NETWORK)), where=f"({region})")
        if not nets:
            raise ProviderError(BAD_REQUEST, "NoPublicNetwork", f"{region} has no {PUBLIC_NETWORK} network", NAME)
        return nets[0].id

    @staticmethod
    def user_data(req: LaunchRequest) -> str:
        """Cloud-init script: the instance halts at its expiry. OVHcloud goes on billing a halted instance:
        ``benchfleet reap`` deletes it."""
        minutes = max(1, int((req.expires_at - datetime.now(timezone.utc)).total_seconds() // 60))
        return (f"#!/bin/sh\n# benchfleet run {req.run}: halt at expiry ({req.expires_at:%Y-%m-%d %H:%M} UTC). "
                "OVHcloud bills a halted instance: benchfleet reap deletes it.\n"
                f"shutdown -h +{minutes}\n")

    def create(self, req: LaunchRequest) -> Instance:
        if req.spot:
            raise ProviderError(BAD_REQUEST, "NoSpot", NO_SPOT, NAME)
        region = req.region
        where = f"({region}{' ' + req.zone if req.zone else ''})"
        flavor = self.flavors(region).get(req.instance_type)
        if flavor is None:
            raise ProviderError(BAD_REQUEST, "UnknownFlavor", f"flavor {req.instance_type} (cloud.instance_type) is "
                                f"not offered in {region}", NAME)
        image = self.resolve_image(region, req.image)
        network = self._public_network(region)
        conn = self._in(region)
        server = self._call(
            conn.compute.create_server, name=req.host, flavor_id=flavor.id, image_id=image, key_name=_name(req.run),
            networks=[{"uuid": network}], security_groups=[{"name": _name(req.run)}], metadata=dict(req.tags),
            tags=[ALL_TAG, f"{TAG_RUN}={req.run}"], user_data=base64.b64encode(self.user_data(req).encode()).decode(),
            availability_zone=req.zone or None, where=where)
        return self._instance(region, self._wait_active(conn, server.id, where))

    def _wait_active(self, conn, server_id: str, where: str):
        """Poll the new server until ACTIVE. ERROR (no valid host: capacity) or no ACTIVE in time deletes it again,
        so a failed attempt leaves nothing behind that failover would not see."""
        deadline, pause = time.time() + BUILD_TIMEOUT_S, 0.3
        while True:
            s = self._call(conn.compute.get_server, server_id, where=where)
            if s.status == "ACTIVE":
                return s
            if s.status == "ERROR" or time.time() > deadline:
                fault = s.fault or {}
                message = fault.get("message") or ("no ACTIVE state within "
                                                   f"{BUILD_TIMEOUT_S:.0f} s" if s.status != "ERROR" else "ERROR")
                try:
                    self._call(conn.compute.delete_server, server_id, ignore_missing=True)
                except ProviderError:
                    pass
                k = kind(fault.get("code"), message) if s.status == "ERROR" else CAPACITY
                if k == NOT_FOUND:
                    k = OTHER
                raise ProviderError(k, f"server {s.status}", f"{message} {where}", NAME)
            time.sleep(pause)
            pause = min(5.0, pause * 1.5)

    def _instance(self, region: str, s) -> Instance:
        md = dict(s.metadata or {})
        flavor = s.flavor
        itype = getattr(flavor, "original_name", None) or getattr(flavor, "name", None) or ""
        if not itype and getattr(flavor, "id", None):
            itype = next((n for n, f in self._flavors.get(region, {}).items() if f.id == flavor.id), flavor.id)
        public = private = ""
        for net, addrs in (s.addresses or {}).items():
            v4 = next((a.get("addr", "") for a in addrs if a.get("version") == 4), "")
            if net == PUBLIC_NETWORK:
                public = public or v4
            else:
                private = private or v4
        created = re.sub(r"\.\d+", "", s.created_at or "")[:19]
        state = "deleting" if s.task_state == "deleting" else _STATES.get(s.status or "", (s.status or "").lower())
        return Instance(
            provider=NAME, id=s.id, host=md.get(TAG_HOST, ""), system=md.get(TAG_SYSTEM, ""), run=md.get(TAG_RUN, ""),
            region=region, zone=s.availability_zone or "", instance_type=itype, state=state, public_ip=public,
            private_ip=private, spot=False, launched_at=created + "Z" if created else "",
            expires=md.get(TAG_EXPIRES, ""), owner=md.get(TAG_OWNER, ""),
            extra={"project": self.project, "key_name": s.key_name or ""},
        )

    def list(self, regions: list[str], run: str | None = None) -> list[Instance]:
        """Instances carrying the run's server tag (of any run: ``benchfleet``) and metadata, in ``regions`` (all of
        the catalog's when empty), stopped ones too (they are billed)."""
        out = []
        for region in regions or self.regions():
            conn = self._in(region)
            tag = f"{TAG_RUN}={run}" if run else ALL_TAG
            for s in self._call(lambda c=conn, t=tag: list(c.compute.servers(details=True, tags=t)),
                                where=f"({region})"):
                md = s.metadata or {}
                if TAG_RUN in md and (run is None or md[TAG_RUN] == run):
                    out.append(self._instance(region, s))
        return out

    def delete_instances(self, instances: list[Instance]) -> None:
        for i in instances:
            conn = self._in(i.region)
            self._call(conn.compute.delete_server, i.id, ignore_missing=True, where=f"({i.region})")

    def cleanup(self, regions: list[str], run: str | None = None, expired_before: datetime | None = None,
                dry_run: bool = False, owner: str | None = None, grace_s: float = 0) -> list[str]:
        """The run's security group and key pair in each region (the group's description holds the tags; the key
        pair goes with its group)."""
        done = []
        live = {i.run for i in self.list([])} if not run else set()
        for region in regions or self.regions():
            conn = self._in(region)
            groups = self._call(lambda c=conn: [g for g in c.network.security_groups(**({"name": _name(run)} if run
                                                                                       else {}))
                                                if (g.name or "").startswith("benchfleet-")], where=f"({region})")
            for g in groups:
                tags = _description_tags(g.description)
                if not leftover(tags, run, expired_before, live, owner, grace_s) or g.name != _name(tags[TAG_RUN]):
                    continue
                done += [f"ovh:{region}:security-group/{g.name}", f"ovh:{region}:key-pair/{g.name}"]
                if dry_run:
                    continue
                self._call(conn.compute.delete_keypair, g.name, ignore_missing=True, where=f"({region})")
                self._delete_group(conn, g, region)
        return done

    def _delete_group(self, conn, group, region: str, wait_s: float = 120) -> None:
        """Neutron refuses to delete a group while a port of a deleted server still holds it (409 in use): that
        lasts seconds after the server is gone from the listing."""
        deadline = time.time() + wait_s
        while True:
            try:
                self._call(conn.network.delete_security_group, group, ignore_missing=True, where=f"({region})")
                return
            except ProviderError as exc:
                if not exc.code.startswith("409") or time.time() > deadline:
                    raise
            time.sleep(2)
