"""Oracle Cloud Infrastructure (OCI) through the official ``oci`` SDK: every OCI call benchfleet makes is here.

Clients: ``ComputeClient`` (shapes, images, instances, VNIC attachments), ``VirtualNetworkClient`` (VCN, internet
gateway, route table, security list, subnet, VNICs), ``IdentityClient`` (region subscriptions, availability domains)
and ``LimitsClient`` (service limits left). Each region gets its own clients; the SDK signs every request with the
API key of the config file.

Credentials come only from the SDK's config file: ``OCI_CONFIG_FILE`` (default ``~/.oci/config``), profile
``OCI_CLI_PROFILE`` (default ``DEFAULT``): user, fingerprint, key_file, tenancy, region and, for an encrypted key,
pass_phrase. benchfleet never logs or stores any of them; an error names the file and the profile, never a value.
The compartment is the sweep's ``project`` (a compartment OCID) or the config's tenancy (the root compartment).
``BENCHFLEET_OCI_ENDPOINT`` (a URL with ``{region}``) points every client elsewhere (tests, private endpoints).

Per run and region, one VCN ``benchfleet-<run>`` (10.0.0.0/16) with an internet gateway, a route table sending
0.0.0.0/0 to it, a security list letting in only tcp:22 from ``ssh_cidr`` (egress anywhere) and one regional subnet
(10.0.0.0/24) using that route table and security list only: the VCN's default security list (which lets SSH in
from anywhere) is on no subnet. Deleting the VCN's resources in reverse and then the VCN takes its defaults with it.
Every resource carries benchfleet's tags as freeform tags; the VCN also the heartbeat. A VCN named after the run is
reused only when it is this owner's and its security list is exactly as benchfleet makes it.

Instances: ``display_name`` the plan's host name, freeform tags benchfleet-run/-expires/-owner/-host/-system, the
run's public key in the metadata's ``ssh_authorized_keys``, a public address on the run's subnet, the boot volume
``disk_gb`` (deleted with the instance). Flexible shapes are named ``<shape>:<OCPUs>:<memory GB>``
(``VM.Standard.E4.Flex:2:16``); fixed ones as OCI lists them (``VM.GPU.A10.1``, ``BM.GPU.H100.8``). ``spot: true``
launches a preemptible instance (``preemptible_instance_config``, terminate on preemption, boot volume not kept);
OCI offers preemptible capacity for VM shapes only, so a ``BM.`` shape with spot is refused before anything is made.

The last line at expiry, and what it costs: OCI has no time to live for an instance, and an instance cannot stop or
terminate itself without API credentials, which benchfleet never puts on an instance. So each instance's cloud-init
user data halts it at its expiry (``shutdown -h``); but OCI's documentation says that shutting an instance down from
its own OS **does not stop billing for it** (only a stop through the API pauses billing, and for most GPU, Dense I/O
and HPC shapes not even that). The halt stops the work, not the bill: ``benchfleet reap`` terminates every instance
past its ``benchfleet-expires`` tag, halted or not, and the teardown after every sweep terminates the run's instances.
Run ``benchfleet reap`` from cron where a controller may die.

Preemption notices: OCI documents preemption through its Events service (an instance is terminated when its
capacity is reclaimed), not through the instance metadata service, so there is no live OCI watcher in the
``_preemption`` module utility; a preempted instance is seen as gone (TERMINATED) by the listing.
"""

from __future__ import annotations

import base64
import difflib
import os
import re
import time
from datetime import datetime, timezone
from typing import Any

from benchfleet.cloud.base import (
    AUTH,
    BAD_REQUEST,
    CAPACITY,
    NOT_FOUND,
    OTHER,
    QUOTA,
    QUOTA_ZONE,
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
    unknown_regions,
)

NAME = "oci"
ENDPOINT_ENV = "BENCHFLEET_OCI_ENDPOINT"
# alias -> (operating_system, operating_system_version) as OCI's platform images list them (newest one used)
IMAGES = {"ubuntu-22.04": ("Canonical Ubuntu", "22.04"), "ubuntu-24.04": ("Canonical Ubuntu", "24.04"),
          "oracle-linux-8": ("Oracle Linux", "8"), "oracle-linux-9": ("Oracle Linux", "9")}
VCN_CIDR, SUBNET_CIDR = "10.0.0.0/16", "10.0.0.0/24"
CREDENTIALS_FIX = ("give an OCI API key config: OCI_CONFIG_FILE (default ~/.oci/config) with a profile "
                   "(OCI_CLI_PROFILE, default DEFAULT) holding user, fingerprint, key_file, tenancy and region "
                   "(`oci setup config` writes one)")
LAUNCH_TIMEOUT_S = 900.0  # a VM is RUNNING within minutes; bare metal GPU shapes take longer
DELETE_WAIT_S = 600.0  # a subnet is deletable once its terminated instances' VNICs are gone
_STATES = {"PROVISIONING": "pending", "RUNNING": "running", "STARTING": "starting", "STOPPING": "stopping",
           "STOPPED": "stopped", "CREATING_IMAGE": "running", "TERMINATING": "deleting", "TERMINATED": "terminated",
           "MOVING": "running"}
SHAPE_RE = re.compile(r"(?P<shape>(?:VM|BM)\.[A-Za-z0-9]+(?:\.[A-Za-z0-9]+)*)"
                      r"(?::(?P<ocpus>\d+(?:\.\d+)?):(?P<mem>\d+(?:\.\d+)?))?")
REGION_RE = re.compile(r"[a-z]{2,3}(?:-[a-z]+)+-\d+")  # us-ashburn-1, eu-frankfurt-1, us-gov-ashburn-1


def _name(run: str) -> str:
    """The run's VCN (and each of its resources) in a region."""
    return f"benchfleet-{run}"


def parse_shape(instance_type: str) -> tuple[str, float | None, float | None]:
    """(shape, OCPUs, memory GB) of ``VM.Standard.E4.Flex:2:16``; (shape, None, None) of a fixed shape. Raises
    ValueError naming the fix."""
    m = SHAPE_RE.fullmatch(instance_type or "")
    if not m:
        raise ValueError(f"{instance_type!r} is not an OCI shape: give it as OCI lists it (VM.Standard3.Flex, "
                         "VM.GPU.A10.1, BM.GPU.H100.8), a flexible one as <shape>:<OCPUs>:<memory GB> "
                         "(VM.Standard.E4.Flex:2:16)")
    shape = m.group("shape")
    flex = shape.endswith(".Flex")
    if flex and m.group("ocpus") is None:
        raise ValueError(f"{instance_type!r} is a flexible shape: give its OCPUs and memory as <shape>:<OCPUs>:"
                         f"<memory GB>, e.g. {shape}:2:16")
    if not flex and m.group("ocpus") is not None:
        raise ValueError(f"{instance_type!r}: {shape} is a fixed shape; OCPUs and memory are given only for a "
                         f"flexible (.Flex) shape: use {shape}")
    return shape, (float(m.group("ocpus")) if flex else None), (float(m.group("mem")) if flex else None)


def kind(status: int | None, code: str, message: str, missing: str = NOT_FOUND) -> str:
    """Failover's reading of an OCI error (``missing``: what a 404 means for this call: a resource that is gone,
    or, for calls on a compartment, no permission there)."""
    text = (message or "").lower()
    if status == 401 or code == "NotAuthenticated":
        return AUTH
    if "out of host capacity" in text or "out of capacity" in text:
        return CAPACITY  # the availability domain has no room for the shape: the next one
    if code == "LimitExceeded":
        return QUOTA_ZONE  # many shapes' service limits are per AD: the next one, the next region after the last
    if code == "QuotaExceeded":
        return QUOTA
    if status == 404:
        return missing  # NotAuthorizedOrNotFound: OCI does not tell the two apart
    if status == 403:
        return AUTH
    if status == 400:
        return BAD_REQUEST  # InvalidParameter, CannotParseRequest, MissingParameter
    return OTHER  # 409 conflicts, 429 throttling, other 5xx


def _ocid_kind(ocid: str) -> str:
    return ocid.split(".")[1] if ocid.count(".") >= 3 else ""


class OciProvider:
    name = NAME

    def __init__(self, project: str = ""):
        import oci  # noqa: F401 -- fails early, naming the extra, where the SDK is missing

        self.project = project  # the compartment OCID (default: the config's tenancy)
        self._config: dict | None = None
        self._clients: dict[tuple[str, str], Any] = {}
        self._subscribed: list[str] | None = None
        self._ads: dict[str, list[str]] = {}  # region -> availability domain names
        self._shapes: dict[tuple[str, str], dict] = {}  # (region, AD) -> {shape name: Shape}
        self._subnets: dict[tuple[str, str], str] = {}  # (region, run) -> subnet id

    # -- config, clients and errors
    def _cfg(self) -> dict:
        if self._config is None:
            import oci

            path = os.environ.get("OCI_CONFIG_FILE") or oci.config.DEFAULT_LOCATION
            profile = os.environ.get("OCI_CLI_PROFILE") or oci.config.DEFAULT_PROFILE
            try:
                cfg = oci.config.from_file(path, profile)
                oci.config.validate_config(cfg)
            except (oci.exceptions.ClientError, ValueError, OSError) as exc:
                # the class only: a message could quote a value of the file
                raise ProviderError(AUTH, "NoCredentials", f"no usable OCI config ({type(exc).__name__} in {path}, "
                                    f"profile {profile}); {CREDENTIALS_FIX}", NAME) from None
            self._config = cfg
        return self._config

    @property
    def compartment(self) -> str:
        return self.project or self._cfg()["tenancy"]

    def _client(self, what: str, region: str):
        key = (what, region)
        if key not in self._clients:
            import oci

            classes = {"compute": oci.core.ComputeClient, "network": oci.core.VirtualNetworkClient,
                       "identity": oci.identity.IdentityClient, "limits": oci.limits.LimitsClient}
            kw: dict[str, Any] = {"retry_strategy": oci.retry.NoneRetryStrategy(),
                                  "circuit_breaker_strategy": oci.circuit_breaker.NoCircuitBreakerStrategy()}
            endpoint = os.environ.get(ENDPOINT_ENV, "")
            if endpoint:
                kw["service_endpoint"] = endpoint.format(region=region)
            try:
                self._clients[key] = classes[what](dict(self._cfg(), region=region), **kw)
            except (oci.exceptions.ClientError, ValueError, TypeError, OSError) as exc:
                # an unreadable or encrypted key without its pass_phrase: the class only
                raise ProviderError(AUTH, "NoCredentials", f"the OCI API key could not be loaded "
                                    f"({type(exc).__name__}); {CREDENTIALS_FIX}", NAME) from None
        return self._clients[key]

    def _call(self, fn, *args, where: str = "", missing: str = NOT_FOUND, **kw):
        import oci

        try:
            return fn(*args, **kw)
        except ProviderError:
            raise
        except oci.exceptions.ServiceError as exc:
            k = kind(exc.status, exc.code, exc.message, missing)
            fix = f"; {CREDENTIALS_FIX}" if k == AUTH and exc.status == 401 else ""
            if k == AUTH and exc.status == 404:
                fix = (f"; compartment {self.compartment} does not exist or this user may not use it there "
                       "(cloud.project, or the config's tenancy)")
            raise ProviderError(k, f"{exc.status} {exc.code}", f"{exc.message} {where}".strip() + fix, NAME) from None
        except (oci.exceptions.RequestException, oci.exceptions.ConnectTimeout,
                oci.exceptions.ClientError) as exc:  # unreachable, TLS, timeouts
            raise ProviderError(OTHER, type(exc).__name__, f"{str(exc)[:300]} {where}".strip(), NAME) from None

    def _all(self, fn, *args, where: str = "", missing: str = AUTH, **kw) -> list:
        """Every page of a list call (OCI pages with opc-next-page)."""
        import oci

        return self._call(lambda: oci.pagination.list_call_get_all_results(fn, *args, **kw).data, where=where,
                          missing=missing)

    # -- before anything is created
    def regions(self) -> list[str]:
        """The regions the tenancy subscribes to (READY)."""
        if self._subscribed is None:
            cfg = self._cfg()
            home = cfg.get("region") or "us-ashburn-1"
            ident = self._client("identity", home)
            subs = self._call(ident.list_region_subscriptions, cfg["tenancy"], where="(region subscriptions)",
                              missing=AUTH).data
            self._subscribed = sorted(s.region_name for s in subs if (s.status or "READY") == "READY")
        return self._subscribed

    def availability_domains(self, region: str) -> list[str]:
        if region not in self._ads:
            ident = self._client("identity", region)
            ads = self._call(ident.list_availability_domains, self.compartment, where=f"({region})",
                             missing=AUTH).data
            self._ads[region] = sorted(a.name for a in ads)
        return self._ads[region]

    def shapes(self, region: str, ad: str) -> dict:
        """The shapes an availability domain offers the compartment, by name."""
        if (region, ad) not in self._shapes:
            compute = self._client("compute", region)
            found = self._all(compute.list_shapes, self.compartment, availability_domain=ad, where=f"({ad})")
            self._shapes[(region, ad)] = {s.shape: s for s in found}
        return self._shapes[(region, ad)]

    def _ad(self, region: str, zone: str) -> str:
        """An AD by its full name (``Uocm:US-ASHBURN-AD-1``) or its short one (``AD-1``)."""
        ads = self.availability_domains(region)
        if zone in ads:
            return zone
        short = [a for a in ads if a.upper().endswith("-" + zone.upper()) or a.upper().endswith(":" + zone.upper())]
        if not short:
            raise ProviderError(BAD_REQUEST, "UnknownAvailabilityDomain", f"availability domain {zone!r} "
                                f"(cloud.zones) is not one of {region}'s: {', '.join(ads)}", NAME)
        return short[0]

    def zones(self, region: str, instance_type: str) -> list[str]:
        """The region's availability domains whose shape listing has the shape (none: failover goes on)."""
        try:
            shape = parse_shape(instance_type)[0]
            return [ad for ad in self.availability_domains(region) if shape in self.shapes(region, ad)]
        except (ProviderError, ValueError):
            return [""]  # the listing failed: create() says why

    def offered(self, instance_type: str, regions: list[str] | None = None) -> dict[str, int]:
        """The regions (of ``regions``, default the subscribed ones) with an AD offering the shape, with its
        vCPUs (two per OCPU on x86; what the shape listing says)."""
        out = {}
        for r in regions or self.regions():
            zones = [z for z in self.zones(r, instance_type) if z]
            if zones:
                out[r] = self.shape(instance_type, r)[0]
        return out

    def shape(self, instance_type: str, region: str = "") -> tuple[int, float]:
        """(vCPUs, memory in GB) of a shape, from the listing of the first AD offering it: its OCPUs (the flexible
        shape's own) as vCPUs, two per OCPU on x86 and one on Arm (Ampere A1/A2)."""
        shape, ocpus, mem = parse_shape(instance_type)
        per = 1 if re.search(r"\.A\d\b", shape) else 2
        for r in [region] if region else self.regions():
            for ad in self.availability_domains(r):
                s = self.shapes(r, ad).get(shape)
                if s is not None:
                    if ocpus is not None:
                        return int(ocpus * per), float(mem or 0)
                    return int((s.ocpus or 0) * per), float(s.memory_in_gbs or 0)
        return 0, 0.0

    def _unknown_regions(self, regions: list[str]) -> list[str]:
        return unknown_regions("oci", regions, self.regions(), "this tenancy subscribes to")

    def _needs(self, s, ocpus: float | None, mem: float | None) -> dict[str, float]:
        """What one instance takes of each limit its shape counts against (the shape's quota names)."""
        out = {}
        for q in s.quota_names or []:
            if "memory" in q:
                out[q] = float(mem if mem is not None else s.memory_in_gbs or 0)
            elif q.startswith("gpu") or "-gpu" in q:
                out[q] = float(s.gpus or 0)
            elif "core" in q:
                out[q] = float(ocpus if ocpus is not None else s.ocpus or 0)
        return out

    def _check_flex(self, s, shape: str, ocpus: float | None, mem: float | None) -> str:
        if ocpus is None or not s.is_flexible:
            return "" if not s.is_flexible else f"{shape} is flexible: give <shape>:<OCPUs>:<memory GB>"
        o, m = s.ocpu_options, s.memory_options
        if o is not None and not ((o.min or 0) <= ocpus <= (o.max or ocpus)):
            return f"{shape} takes {o.min:g} to {o.max:g} OCPUs, not {ocpus:g}"
        if m is not None:
            lo = max(m.min_in_g_bs or 0, (m.min_per_ocpu_in_gbs or 0) * ocpus)
            hi = min(m.max_in_g_bs or mem, (m.max_per_ocpu_in_gbs or mem) * ocpus) if m.max_per_ocpu_in_gbs else \
                (m.max_in_g_bs or mem)
            if not lo <= mem <= hi:
                return f"{shape} with {ocpus:g} OCPUs takes {lo:g} to {hi:g} GB of memory, not {mem:g}"
        return ""

    def preflight(self, regions: list[str], instance_type: str, count: int, spot: bool = False,
                  image: str = "") -> list[str]:
        """Refused (a problem per region) unless one region has ADs offering the shape (OCPUs and memory within a
        flexible shape's range), lists the image for it, and has what ``count`` instances take left in each of
        the shape's service limits (the Limits service's resource availability, summed over the ADs)."""
        try:
            shape, ocpus, mem = parse_shape(instance_type)
        except ValueError as exc:
            return [f"oci: cloud.instance_type: {exc}"]
        if spot and shape.startswith("BM."):
            return [f"oci: cloud.spot: OCI has no preemptible capacity for bare metal shapes ({shape}); remove "
                    "spot: true or use a VM shape"]
        try:
            unknown = self._unknown_regions(regions)
        except ProviderError as exc:
            return [str(exc)]
        if unknown:
            return unknown
        why = []
        for region in regions:
            try:
                ads = [ad for ad in self.availability_domains(region) if shape in self.shapes(region, ad)]
                if not ads:
                    names = sorted({n for ad in self.availability_domains(region)
                                    for n in self.shapes(region, ad)})
                    close = difflib.get_close_matches(shape, names, n=3)
                    why.append(f"oci: shape {shape} (cloud.instance_type) is not offered in {region}"
                               + (f"; close ones there: {', '.join(close)}" if close else ""))
                    continue
                s = self.shapes(region, ads[0])[shape]
                bad = self._check_flex(s, shape, ocpus, mem)
                if bad:
                    why.append(f"oci: cloud.instance_type: {bad}")
                    continue
                if image:
                    self.resolve_image(region, image, shape)
                short = []
                limits = self._client("limits", region)
                for limit, each in self._needs(s, ocpus, mem).items():
                    free, known = 0.0, False
                    for ad in ads:
                        try:
                            r = self._call(limits.get_resource_availability, "compute", limit, self.compartment,
                                           availability_domain=ad, where=f"({limit} in {ad})").data
                        except ProviderError as exc:
                            if exc.kind == NOT_FOUND:  # a limit this service does not define: not counted
                                break
                            raise
                        if r.available is None:
                            known = False
                            break
                        known = True
                        free += float(r.available)
                    if known and each * count > free:
                        short.append(f"{limit} of {region}: {count} x {each:g} = {each * count:g} asked, {free:g} "
                                     f"free in its ADs offering {shape}")
            except ProviderError as exc:
                why.append(str(exc))
                if exc.kind == AUTH:
                    return why
                continue
            if not short:
                return []  # this region can hold the system (earlier ones are failed over)
            why.append("oci: service limit " + "; ".join(short))
        return why

    def resolve_image(self, region: str, image: str, shape: str = "") -> str:
        """The OCID of the image an alias (``ubuntu-22.04``: the newest "Canonical Ubuntu" 22.04 platform image
        for the shape), a display name or an image OCID names in the region."""
        compute = self._client("compute", region)
        where = f"(image {image} in {region})"
        if image.startswith("ocid1.image."):
            try:
                return self._call(compute.get_image, image, where=where).data.id
            except ProviderError as exc:
                if exc.kind != NOT_FOUND:
                    raise
                found = []
        else:
            kw: dict[str, Any] = {"lifecycle_state": "AVAILABLE", "sort_by": "TIMECREATED", "sort_order": "DESC"}
            if shape:
                kw["shape"] = shape
            if image in IMAGES:
                kw["operating_system"], kw["operating_system_version"] = IMAGES[image]
            else:
                kw["display_name"] = image
            found = self._all(compute.list_images, self.compartment, where=where, **kw)
        if not found:
            raise ProviderError(BAD_REQUEST, "UnknownImage", f"image {image!r} (cloud.image): {region} lists no "
                                f"available image of that name or OCID{' for ' + shape if shape else ''}; give an "
                                f"image OCID, a display name, or one of {', '.join(IMAGES)}", NAME)
        return max(found, key=lambda i: str(i.time_created or "")).id

    # -- run-scoped: the VCN and its resources in a region
    def _tags(self, req: LaunchRequest, beat: bool = False) -> dict[str, str]:
        out = {TAG_RUN: req.run, TAG_EXPIRES: req.tags[TAG_EXPIRES], TAG_OWNER: req.tags[TAG_OWNER]}
        if beat:
            out[TAG_HEARTBEAT] = heartbeat()
        return out

    def _vcns(self, region: str, run: str | None = None) -> list:
        net = self._client("network", region)
        kw = {"display_name": _name(run)} if run else {}
        return [v for v in self._all(net.list_vcns, self.compartment, where=f"({region})", **kw)
                if (v.display_name or "").startswith("benchfleet-") and v.lifecycle_state not in
                ("TERMINATING", "TERMINATED")]

    def prepare(self, run: str, region: str, req: LaunchRequest) -> None:
        import oci.core.models as m

        if req.spot and req.instance_type.startswith("BM."):
            raise ProviderError(BAD_REQUEST, "NoPreemptibleBareMetal", "OCI has no preemptible capacity for bare "
                                "metal shapes: remove spot: true or use a VM shape", NAME)
        net = self._client("network", region)
        where = f"({region})"
        c = self.compartment
        tags = self._tags(req)
        vcns = self._vcns(region, run)
        if vcns:
            vcn = vcns[0]
            self._check_vcn(vcn, run, req, region)
            # refresh the heartbeat that keeps reap away while this run is being provisioned
            self._call(net.update_vcn, vcn.id, m.UpdateVcnDetails(freeform_tags=self._tags(req, beat=True)),
                       where=where)
        else:
            vcn = self._call(net.create_vcn, m.CreateVcnDetails(
                cidr_blocks=[VCN_CIDR], compartment_id=c, display_name=_name(run),
                freeform_tags=self._tags(req, beat=True)), where=where, missing=AUTH).data
            vcn = self._wait(net.get_vcn, vcn.id, "AVAILABLE", where)
        name = _name(run)
        igws = self._all(net.list_internet_gateways, c, vcn_id=vcn.id, where=where)
        igw = next((g for g in igws if g.display_name == name and g.lifecycle_state == "AVAILABLE"), None)
        if igw is None:
            igw = self._call(net.create_internet_gateway, m.CreateInternetGatewayDetails(
                compartment_id=c, vcn_id=vcn.id, is_enabled=True, display_name=name, freeform_tags=tags),
                where=where).data
            igw = self._wait(net.get_internet_gateway, igw.id, "AVAILABLE", where)
        rts = self._all(net.list_route_tables, c, vcn_id=vcn.id, where=where)
        rt = next((t for t in rts if t.display_name == name and t.lifecycle_state == "AVAILABLE"), None)
        if rt is None:
            rt = self._call(net.create_route_table, m.CreateRouteTableDetails(
                compartment_id=c, vcn_id=vcn.id, display_name=name, freeform_tags=tags, route_rules=[m.RouteRule(
                    destination="0.0.0.0/0", destination_type="CIDR_BLOCK", network_entity_id=igw.id)]),
                where=where).data
            rt = self._wait(net.get_route_table, rt.id, "AVAILABLE", where)
        sl = self._security_list(net, vcn.id, run, where)
        if sl is None:
            sl = self._call(net.create_security_list, m.CreateSecurityListDetails(
                compartment_id=c, vcn_id=vcn.id, display_name=name, freeform_tags=tags,
                ingress_security_rules=[m.IngressSecurityRule(
                    protocol="6", source=req.ssh_cidr, source_type="CIDR_BLOCK", is_stateless=False,
                    tcp_options=m.TcpOptions(destination_port_range=m.PortRange(min=22, max=22)))],
                egress_security_rules=[m.EgressSecurityRule(destination="0.0.0.0/0", destination_type="CIDR_BLOCK",
                                                            protocol="all", is_stateless=False)]),
                where=where).data
            sl = self._wait(net.get_security_list, sl.id, "AVAILABLE", where)
        subnets = self._all(net.list_subnets, c, vcn_id=vcn.id, where=where)
        subnet = next((s for s in subnets if s.display_name == name and s.lifecycle_state == "AVAILABLE"), None)
        if subnet is None:
            subnet = self._call(net.create_subnet, m.CreateSubnetDetails(
                cidr_block=SUBNET_CIDR, compartment_id=c, vcn_id=vcn.id, display_name=name, freeform_tags=tags,
                route_table_id=rt.id, security_list_ids=[sl.id], prohibit_public_ip_on_vnic=False),
                where=where).data
            subnet = self._wait(net.get_subnet, subnet.id, "AVAILABLE", where)
        elif subnet.security_list_ids != [sl.id] or subnet.route_table_id != rt.id:
            raise ProviderError(BAD_REQUEST, "ChangedSubnet", f"subnet {name} of {region} does not use (only) the "
                                "run's security list and route table; nothing was created. Delete it (benchfleet "
                                f"teardown {run}) or use another --run-id", NAME)
        self._subnets[(region, run)] = subnet.id

    def _security_list(self, net, vcn_id: str, run: str, where: str):
        lists = self._all(net.list_security_lists, self.compartment, vcn_id=vcn_id, where=where)
        return next((s for s in lists if s.display_name == _name(run) and s.lifecycle_state == "AVAILABLE"), None)

    def _check_vcn(self, vcn, run: str, req: LaunchRequest, region: str) -> None:
        what = f"VCN {vcn.display_name} ({vcn.id}) of {region}"
        tags = dict(vcn.freeform_tags or {})
        if not ours(tags, run, req.tags[TAG_OWNER]):
            raise ProviderError(BAD_REQUEST, "ForeignVcn", f"{what} is not this controller's (owner "
                                f"{tags.get(TAG_OWNER) or 'not set'}, ours is {req.tags[TAG_OWNER]}); nothing was "
                                "created. Use another --run-id", NAME)
        sl = self._security_list(self._client("network", region), vcn.id, run, f"({region})")
        if sl is None:
            return  # a controller died before making it: prepare() makes it
        shown = []
        for r in sl.ingress_security_rules or []:
            ports = r.tcp_options.destination_port_range if r.tcp_options else None
            shown.append(f"{'tcp' if r.protocol == '6' else r.protocol}:"
                         f"{f'{ports.min}-{ports.max}' if ports else '*'} from {r.source}")
        if shown != [f"tcp:22-22 from {req.ssh_cidr}"]:
            raise ProviderError(BAD_REQUEST, "ChangedSecurityList", f"{what}: its security list lets in "
                                f"{', '.join(shown) or 'nothing'}; benchfleet's lets in only tcp:22 from "
                                f"{req.ssh_cidr}; nothing was created. Delete it (benchfleet teardown {run}) or use "
                                "another --run-id", NAME)

    def _wait(self, get, ocid: str, state: str, where: str, timeout_s: float = 300):
        deadline, pause = time.time() + timeout_s, 0.2
        while True:
            obj = self._call(get, ocid, where=where).data
            if obj.lifecycle_state == state:
                return obj
            if obj.lifecycle_state in ("TERMINATED", "FAULTY") or time.time() > deadline:
                raise ProviderError(OTHER, f"{_ocid_kind(ocid)} {obj.lifecycle_state}", f"{ocid} is "
                                    f"{obj.lifecycle_state}, not {state} {where}", NAME)
            time.sleep(pause)
            pause = min(5.0, pause * 1.5)

    # -- instances
    @staticmethod
    def user_data(req: LaunchRequest) -> str:
        """Cloud-init script: the instance halts at its expiry. OCI bills an instance shut down from its own OS
        like a running one: ``benchfleet reap`` terminates it."""
        minutes = max(1, int((req.expires_at - datetime.now(timezone.utc)).total_seconds() // 60))
        return (f"#!/bin/sh\n# benchfleet run {req.run}: halt at expiry ({req.expires_at:%Y-%m-%d %H:%M} UTC). "
                "OCI bills an instance shut down from its OS: benchfleet reap terminates it.\n"
                f"shutdown -h +{minutes}\n")

    def create(self, req: LaunchRequest) -> Instance:
        import oci.core.models as m

        try:
            shape, ocpus, mem = parse_shape(req.instance_type)
        except ValueError as exc:
            raise ProviderError(BAD_REQUEST, "InvalidShape", f"cloud.instance_type: {exc}", NAME) from None
        if req.spot and shape.startswith("BM."):
            raise ProviderError(BAD_REQUEST, "NoPreemptibleBareMetal", "OCI has no preemptible capacity for bare "
                                "metal shapes: remove spot: true or use a VM shape", NAME)
        region = req.region
        ad = self._ad(region, req.zone) if req.zone else (self.zones(region, req.instance_type) or [""])[0]
        where = f"({region} {ad})".replace(" )", ")")
        if not ad:
            raise ProviderError(CAPACITY, "ShapeNotOffered", f"no availability domain of {region} offers {shape} "
                                f"{where}", NAME)
        if shape not in self.shapes(region, ad):
            raise ProviderError(CAPACITY, "ShapeNotOffered", f"{ad} does not offer {shape} {where}", NAME)
        image = self.resolve_image(region, req.image, shape)
        subnet = self._subnets.get((region, req.run))
        if subnet is None:
            raise ProviderError(OTHER, "NotPrepared", f"the run's subnet in {region} is not prepared", NAME)
        tags = {**req.tags}
        details = m.LaunchInstanceDetails(
            availability_domain=ad, compartment_id=self.compartment, display_name=req.host, shape=shape,
            shape_config=m.LaunchInstanceShapeConfigDetails(ocpus=ocpus, memory_in_gbs=mem) if ocpus else None,
            source_details=m.InstanceSourceViaImageDetails(image_id=image, boot_volume_size_in_gbs=req.disk_gb),
            create_vnic_details=m.CreateVnicDetails(subnet_id=subnet, assign_public_ip=True, display_name=req.host,
                                                    freeform_tags=tags),
            metadata={"ssh_authorized_keys": req.public_key,
                      "user_data": base64.b64encode(self.user_data(req).encode()).decode()},
            freeform_tags=tags,
            preemptible_instance_config=m.PreemptibleInstanceConfigDetails(
                preemption_action=m.TerminatePreemptionAction(preserve_boot_volume=False)) if req.spot else None)
        compute = self._client("compute", region)
        inst = self._call(compute.launch_instance, details, where=where, missing=AUTH).data
        return self._instance(region, self._wait_running(compute, inst.id, where))

    def _wait_running(self, compute, ocid: str, where: str):
        """Poll the new instance until RUNNING. TERMINATED while provisioning (OCI ran out of capacity after
        accepting it) or no RUNNING in time terminates it, so a failed attempt leaves nothing failover would
        not see."""
        deadline, pause = time.time() + LAUNCH_TIMEOUT_S, 0.3
        while True:
            i = self._call(compute.get_instance, ocid, where=where).data
            if i.lifecycle_state == "RUNNING":
                return i
            if i.lifecycle_state in ("TERMINATING", "TERMINATED", "STOPPED") or time.time() > deadline:
                try:
                    self._call(compute.terminate_instance, ocid, preserve_boot_volume=False)
                except ProviderError:
                    pass
                state = i.lifecycle_state if i.lifecycle_state != "PROVISIONING" else \
                    f"not RUNNING within {LAUNCH_TIMEOUT_S:.0f} s"
                raise ProviderError(CAPACITY, f"instance {i.lifecycle_state}", f"{ocid} is {state} (out of host "
                                    f"capacity after launch?) {where}", NAME)
            time.sleep(pause)
            pause = min(5.0, pause * 1.5)

    def _addresses(self, region: str, instance_ids: list[str]) -> dict[str, tuple[str, str]]:
        """instance id -> (public, private) address of its primary VNIC."""
        if not instance_ids:
            return {}
        compute, net = self._client("compute", region), self._client("network", region)
        out = {}
        atts = self._all(compute.list_vnic_attachments, self.compartment, where=f"({region})")
        for a in atts:
            if a.instance_id in instance_ids and a.lifecycle_state == "ATTACHED" and a.instance_id not in out:
                try:
                    v = self._call(net.get_vnic, a.vnic_id, where=f"({region})").data
                except ProviderError as exc:
                    if exc.kind == NOT_FOUND:
                        continue
                    raise
                out[a.instance_id] = (v.public_ip or "", v.private_ip or "")
        return out

    def _instance(self, region: str, i, addresses: dict | None = None) -> Instance:
        tags = dict(i.freeform_tags or {})
        itype = i.shape or ""
        cfg = i.shape_config
        if itype.endswith(".Flex") and cfg is not None and cfg.ocpus:
            itype = f"{itype}:{cfg.ocpus:g}:{cfg.memory_in_gbs:g}"
        if addresses is None:
            addresses = self._addresses(region, [i.id]) if i.lifecycle_state == "RUNNING" else {}
        public, private = addresses.get(i.id, ("", ""))
        created = i.time_created.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if i.time_created else ""
        return Instance(
            provider=NAME, id=i.id, host=tags.get(TAG_HOST, ""), system=tags.get(TAG_SYSTEM, ""),
            run=tags.get(TAG_RUN, ""), region=region, zone=i.availability_domain or "", instance_type=itype,
            state=_STATES.get(i.lifecycle_state or "", (i.lifecycle_state or "").lower()), public_ip=public,
            private_ip=private, spot=i.preemptible_instance_config is not None, launched_at=created,
            expires=tags.get(TAG_EXPIRES, ""), owner=tags.get(TAG_OWNER, ""),
            extra={"compartment": self.compartment})

    def list(self, regions: list[str], run: str | None = None) -> list[Instance]:
        """Instances of the compartment carrying the run tag (of any run), in ``regions`` (every subscribed one
        when empty), stopped ones too (they may be billed); terminated ones are gone."""
        out = []
        for region in regions or self.regions():
            compute = self._client("compute", region)
            found = [i for i in self._all(compute.list_instances, self.compartment, where=f"({region})")
                     if i.lifecycle_state != "TERMINATED" and TAG_RUN in (i.freeform_tags or {})
                     and (run is None or i.freeform_tags[TAG_RUN] == run)]
            addresses = self._addresses(region, [i.id for i in found if i.lifecycle_state == "RUNNING"])
            out += [self._instance(region, i, addresses) for i in found]
        return out

    def delete_instances(self, instances: list[Instance]) -> None:
        for i in instances:
            compute = self._client("compute", i.region)
            try:
                self._call(compute.terminate_instance, i.id, preserve_boot_volume=False, where=f"({i.region})")
            except ProviderError as exc:
                if exc.kind != NOT_FOUND:
                    raise

    def cleanup(self, regions: list[str], run: str | None = None, expired_before: datetime | None = None,
                dry_run: bool = False, owner: str | None = None, grace_s: float = 0) -> list[str]:
        """The run's VCN in each region with its subnet, security list, route table and internet gateway (the
        VCN's freeform tags decide)."""
        done = []
        live = {i.run for i in self.list([])} if not run else set()
        for region in regions or self.regions():
            for v in self._vcns(region, run):
                tags = dict(v.freeform_tags or {})
                if not leftover(tags, run, expired_before, live, owner, grace_s) or \
                        v.display_name != _name(tags[TAG_RUN]):
                    continue
                done.append(f"oci:{region}:vcn/{v.display_name}")
                if not dry_run:
                    self._delete_vcn(region, v)
        return done

    def _delete_vcn(self, region: str, vcn) -> None:
        """Subnets, then route tables and security lists of its own, internet gateways, then the VCN. OCI refuses
        (409 Conflict) while something still uses a resource (a terminated instance's VNIC for a few seconds, a
        subnet still terminating): each delete is retried until DELETE_WAIT_S."""
        net = self._client("network", region)
        c, where = self.compartment, f"({region})"

        def alive(items):
            return [x for x in items if x.lifecycle_state not in ("TERMINATING", "TERMINATED")]

        for s in alive(self._all(net.list_subnets, c, vcn_id=vcn.id, where=where)):
            self._retry_conflict(net.delete_subnet, s.id, where)
        for t in alive(self._all(net.list_route_tables, c, vcn_id=vcn.id, where=where)):
            if t.id != vcn.default_route_table_id:
                self._retry_conflict(net.delete_route_table, t.id, where)
        for sl in alive(self._all(net.list_security_lists, c, vcn_id=vcn.id, where=where)):
            if sl.id != vcn.default_security_list_id:
                self._retry_conflict(net.delete_security_list, sl.id, where)
        for g in alive(self._all(net.list_internet_gateways, c, vcn_id=vcn.id, where=where)):
            self._retry_conflict(net.delete_internet_gateway, g.id, where)
        self._retry_conflict(net.delete_vcn, vcn.id, where)

    def _retry_conflict(self, delete, ocid: str, where: str) -> None:
        deadline = time.time() + DELETE_WAIT_S
        while True:
            try:
                self._call(delete, ocid, where=where)
                return
            except ProviderError as exc:
                if exc.kind == NOT_FOUND:
                    return
                if not exc.code.startswith("409") or time.time() > deadline:
                    raise
            time.sleep(1)
