"""Alibaba Cloud ECS through Alibaba's official Python SDK (``alibabacloud_ecs20140526``): every Alibaba Cloud call
benchfleet makes is here.

One ``Client`` per region (ECS API 2014-05-26, RPC style, signed ACS3-HMAC-SHA256 by the SDK). The same API version
holds the VPC calls benchfleet needs (CreateVpc, CreateVSwitch, DescribeVpcs, DescribeVSwitches, ...), so no second
SDK is used.

Credentials come only from the SDK's documented variables ``ALIBABA_CLOUD_ACCESS_KEY_ID`` and
``ALIBABA_CLOUD_ACCESS_KEY_SECRET`` (a RAM user's AccessKey). benchfleet never logs or stores them; an error names
the variables, never a value. ``BENCHFLEET_ALIBABA_ENDPOINT`` (a URL, ``http://127.0.0.1:8080``) points every
region's client elsewhere (tests, private endpoints); otherwise the SDK picks each region's ECS endpoint.

Per run and region: a VPC ``benchfleet-<run>`` (10.0.0.0/16) whose description holds benchfleet's tags (the ECS API
does not tag VPCs), one vSwitch per zone used (10.0.<n>.0/24), a security group ``benchfleet-<run>`` in that VPC
letting in only tcp:22 from ``ssh_cidr`` (tagged), and a key pair ``benchfleet-<run>`` holding the run's public key
(tagged; imported with ImportKeyPair). The VPC is the anchor of reap and teardown: it carries the heartbeat. A VPC,
group or key pair named after the run is reused only when it is this owner's and as benchfleet makes it.

Instances (RunInstances, pay-as-you-go): ``InstanceName`` the plan's host name, tags benchfleet-run/-expires/-owner/
-host/-system, a public address (``InternetMaxBandwidthOut``, pay by traffic), the system disk ``disk_gb``
(cloud_essd, released with the instance). ``spot: true`` asks ``SpotStrategy=SpotAsPriceGo`` (pay the market price,
up to the pay-as-you-go price).

The last line at expiry: ``AutoReleaseTime``. ECS releases (deletes) the instance itself at that time, whatever
happens to the controller, which stops its bill. ECS takes the time in UTC as ``yyyy-MM-ddTHH:mm:ssZ``, rounded down
to the minute, at least 30 minutes ahead and at most three years: an expiry sooner than 30 minutes is set 31 minutes
ahead. The user data also halts the instance at its expiry, so the work stops even where the release is late.
``benchfleet reap`` deletes anything past its ``benchfleet-expires`` tag as on every cloud.

Preemption notices: a spot instance's metadata service answers
``http://100.100.100.200/latest/meta-data/instance/spot/termination-time`` (404 while none) with the release time
once ECS is to reclaim it; the ``_preemption`` module utility reads it.
"""

from __future__ import annotations

import base64
import os
import re
import time
import urllib.parse
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

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
    heartbeat,
    leftover,
    ours,
    unknown_regions,
)

NAME = "alibaba"
ENDPOINT_ENV = "BENCHFLEET_ALIBABA_ENDPOINT"
KEY_ID_ENV, SECRET_ENV = "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
HOME_REGION_ENV = "ALIBABA_CLOUD_REGION_ID"  # where the region listing is asked (default cn-hangzhou)
CREDENTIALS_FIX = (f"set {KEY_ID_ENV} and {SECRET_ENV} to a RAM user's AccessKey allowed to use ECS "
                   "(the RAM console makes one)")
# alias -> the name prefix of Alibaba's public (system) images (the newest available one is used)
IMAGES = {"ubuntu-22.04": "ubuntu_22_04_x64", "ubuntu-24.04": "ubuntu_24_04_x64", "debian-12": "debian_12_",
          "alibaba-cloud-linux-3": "aliyun_3_x64"}
VPC_CIDR = "10.0.0.0/16"
REGION_RE = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d+|[a-z]{2}-[a-z]+")  # cn-hangzhou, us-west-1, ap-southeast-1
TYPE_RE = re.compile(r"ecs\.[a-z0-9][a-z0-9-]*\.[a-z0-9][a-z0-9-]*")  # ecs.g7.xlarge, ecs.gn7i-c8g1.2xlarge
SPOT = "SpotAsPriceGo"
BANDWIDTH_MBPS = 10  # a public address needs a bandwidth; billed by traffic
MIN_RELEASE = timedelta(minutes=31)  # ECS refuses an AutoReleaseTime less than 30 minutes ahead
LAUNCH_TIMEOUT_S = 900.0
DELETE_WAIT_S = 300.0
QUOTAS = {False: ("max-postpaid-instance-vcpu-count", "used-postpaid-instance-vcpu-count"),
          True: ("max-spot-instance-vcpu-count", "used-spot-instance-vcpu-count")}
_STATES = {"Pending": "pending", "Starting": "starting", "Running": "running", "Stopping": "stopping",
           "Stopped": "stopped"}

# ECS error codes (RunInstances and the rest) and what failover does with them
_CAPACITY = ("OperationDenied.NoStock", "Zone.NotOnSale", "InvalidResourceType.NotSupported",
             "ResourceNotAvailable", "InvalidZoneId.NotSupportShareEncryptedImage", "OperationDenied.NoStockForSpot")
_QUOTA_GLOBAL = ("InvalidAccountStatus.NotEnoughBalance", "Account.Arrearage", "Forbidden.RiskControl",
                 "InvalidAccount.NotExist")
_AUTH = ("InvalidAccessKeyId.NotFound", "InvalidAccessKeyId.Inactive", "InvalidAccessKeyId", "SignatureDoesNotMatch",
         "IncompleteSignature", "Forbidden.RAM", "Forbidden", "Forbidden.AccessKeyDisabled", "NoPermission",
         "Forbidden.NotAuthorized", "InvalidSecurityToken.Expired", "InvalidSecurityToken.MismatchWithAccessKey")
_TRANSIENT = ("DependencyViolation", "IncorrectInstanceStatus", "IncorrectVpcStatus", "IncorrectVSwitchStatus",
              "IncorrectSecurityGroupStatus", "Throttling", "OperationConflict", "LastTokenProcessing",
              "ServiceUnavailable", "InternalError")


def _name(run: str) -> str:
    """The run's VPC, vSwitches, security group and key pair in a region."""
    return f"benchfleet-{run}"


def kind(status: int | None, code: str) -> str:
    """Failover's reading of an ECS error code (and its HTTP status where the code says nothing)."""
    code = code or ""
    if code in _CAPACITY or code.endswith(".NoStock"):
        return CAPACITY  # this zone has none left of the type: the next zone
    if code in _QUOTA_GLOBAL:
        return QUOTA_GLOBAL  # the account (balance, risk control): stop this cloud
    if code.startswith("QuotaExceed") or code.startswith("InvalidParameter.Quota") or code == "QuotaExceeded":
        return QUOTA  # vCPU and instance quotas are per region: the next region
    if code in _AUTH or code.startswith("Forbidden"):
        return AUTH
    if code.startswith(("InvalidImageId", "InvalidInstanceType", "InvalidParameter", "MissingParameter",
                        "InvalidSystemDisk", "InvalidRegionId", "InvalidZoneId", "InvalidSpotStrategy",
                        "InvalidAutoReleaseTime", "InvalidKeyPair.", "InvalidUserData")):
        return BAD_REQUEST
    if code.endswith(".NotFound") or code.startswith("InvalidInstanceId"):
        return NOT_FOUND
    if code.startswith(_TRANSIENT):
        return OTHER  # a resource still in use or changing state, throttling: retried where it matters
    if status in (401, 403):
        return AUTH
    if status == 400:
        return BAD_REQUEST
    return OTHER  # throttling, dependency violations, 5xx


def release_time(expires_at: datetime, now: datetime | None = None) -> str:
    """ECS's AutoReleaseTime for an expiry: UTC ``yyyy-MM-ddTHH:mm:00Z``, at least 31 minutes ahead."""
    now = now or datetime.now(timezone.utc)
    at = max(expires_at.astimezone(timezone.utc), now + MIN_RELEASE)
    return at.strftime("%Y-%m-%dT%H:%M:00Z")


def _tags_of(x: dict) -> dict[str, str]:
    return {t.get("TagKey") or t.get("Key"): t.get("TagValue") or t.get("Value") or ""
            for t in ((x.get("Tags") or {}).get("Tag") or [])}


def _description_tags(description: str | None) -> dict[str, str]:
    return dict(re.findall(r"(benchfleet-[a-z]+)=(\S+)", description or ""))


def _fingerprint(public_key: str) -> str:
    """The MD5 fingerprint of an OpenSSH public key (RFC 4716), as ECS shows a key pair's; hex without colons."""
    import hashlib

    try:
        text = public_key.split()[1]
        blob = base64.b64decode(text + "=" * (-len(text) % 4))
    except (IndexError, ValueError):
        return ""
    return hashlib.md5(blob).hexdigest()  # noqa: S324 -- the fingerprint format ECS uses


class AlibabaProvider:
    name = NAME
    shares_quotas = True  # one vCPU quota per region for every type: preflight takes the account's other systems

    def __init__(self) -> None:
        import alibabacloud_ecs20140526  # noqa: F401 -- fails early, naming the extra, where the SDK is missing

        self._clients: dict[str, Any] = {}
        self._regions: list[str] | None = None
        self._zones: dict[tuple[str, str, bool], list[str]] = {}
        self._types: dict[str, dict] = {}
        self._prepared: dict[tuple[str, str], dict] = {}  # (region, run) -> {"vpc", "sg", "key"}

    # -- clients and errors
    def _client(self, region: str):
        if region not in self._clients:
            from alibabacloud_ecs20140526.client import Client
            from alibabacloud_tea_openapi.models import Config

            key_id, secret = os.environ.get(KEY_ID_ENV, ""), os.environ.get(SECRET_ENV, "")
            if not key_id or not secret:
                raise ProviderError(AUTH, "NoCredentials", f"no Alibaba Cloud AccessKey; {CREDENTIALS_FIX}", NAME)
            cfg = Config(access_key_id=key_id, access_key_secret=secret, region_id=region,
                         connect_timeout=10000, read_timeout=30000)
            endpoint = os.environ.get(ENDPOINT_ENV, "")
            if endpoint:
                url = urllib.parse.urlsplit(endpoint)
                cfg.endpoint, cfg.protocol = url.netloc, url.scheme or "https"
            self._clients[region] = Client(cfg)
        return self._clients[region]

    def _call(self, region: str, action: str, where: str = "", **fields) -> dict:
        """One ECS call: ``action`` (``RunInstances``) with its request fields as the API names them; the
        response body as a dict."""
        from alibabacloud_ecs20140526 import models
        from Tea.exceptions import TeaException

        client = self._client(region)
        request = getattr(models, f"{action}Request")().from_map({"RegionId": region, **fields})
        method = getattr(client, re.sub(r"(?<!^)(?=[A-Z])", "_", action).lower().replace("v_switch", "vswitch"))
        try:
            return method(request).body.to_map()
        except TeaException as exc:
            code = str(getattr(exc, "code", "") or "Error")
            status = getattr(exc, "status_code", None) or (getattr(exc, "data", None) or {}).get("statusCode")
            message = str((getattr(exc, "data", None) or {}).get("Message") or exc.message or "")[:400]
            k = kind(status, code)
            fix = f"; {CREDENTIALS_FIX}" if k == AUTH and code.startswith(("InvalidAccessKeyId", "Signature")) else ""
            raise ProviderError(k, f"{status or ''} {code}".strip(), f"{message} {where}".strip() + fix,
                                NAME) from None
        except (OSError, ValueError) as exc:  # unreachable, TLS, timeouts, an unreadable answer
            raise ProviderError(OTHER, type(exc).__name__, f"{str(exc)[:300]} {where}".strip(), NAME) from None

    def _pages(self, region: str, action: str, path: tuple[str, str], where: str = "", **fields) -> list[dict]:
        """Every page of a Describe call (PageNumber/PageSize)."""
        out: list[dict] = []
        for page in range(1, 1000):
            body = self._call(region, action, where, PageNumber=page, PageSize=50, **fields)
            items = (body.get(path[0]) or {}).get(path[1]) or []
            out += items
            if not items or len(out) >= int(body.get("TotalCount") or 0):
                break
        return out

    # -- before anything is created
    def regions(self) -> list[str]:
        """The regions ECS offers this account."""
        if self._regions is None:
            home = os.environ.get(HOME_REGION_ENV) or "cn-hangzhou"
            body = self._call(home, "DescribeRegions", "(region listing)")
            self._regions = sorted(r["RegionId"] for r in (body.get("Regions") or {}).get("Region") or [])
        return self._regions

    def _available_zones(self, region: str, instance_type: str, spot: bool = False) -> list[str]:
        key = (region, instance_type, spot)
        if key not in self._zones:
            body = self._call(region, "DescribeAvailableResource", f"({region})", DestinationResource="InstanceType",
                              InstanceType=instance_type, InstanceChargeType="PostPaid",
                              SpotStrategy=SPOT if spot else "NoSpot", IoOptimized="optimized")
            zones = []
            for z in (body.get("AvailableZones") or {}).get("AvailableZone") or []:
                if z.get("Status") != "Available":
                    continue
                for res in (z.get("AvailableResources") or {}).get("AvailableResource") or []:
                    for s in (res.get("SupportedResources") or {}).get("SupportedResource") or []:
                        if s.get("Value") == instance_type and s.get("Status") == "Available" and \
                                s.get("StatusCategory", "WithStock") == "WithStock":
                            zones.append(z["ZoneId"])
            self._zones[key] = sorted(set(zones))
        return self._zones[key]

    def zones(self, region: str, instance_type: str) -> list[str]:
        """The region's zones with the type in stock (none: failover goes on to the next region)."""
        try:
            return self._available_zones(region, instance_type)
        except ProviderError:
            return [""]  # the listing failed: create() says why

    def instance_type(self, instance_type: str, region: str = "") -> dict:
        if instance_type not in self._types:
            body = self._call(region or (os.environ.get(HOME_REGION_ENV) or "cn-hangzhou"), "DescribeInstanceTypes",
                              f"({instance_type})", InstanceTypes=[instance_type])
            found = [t for t in (body.get("InstanceTypes") or {}).get("InstanceType") or []
                     if t.get("InstanceTypeId") == instance_type]
            self._types[instance_type] = found[0] if found else {}
        return self._types[instance_type]

    def shape(self, instance_type: str) -> tuple[int, float]:
        """(vCPUs, memory in GiB) of an instance type; (0, 0) where ECS does not know it."""
        t = self.instance_type(instance_type)
        return int(t.get("CpuCoreCount") or 0), float(t.get("MemorySize") or 0)

    def offered(self, instance_type: str, regions: list[str] | None = None) -> dict[str, int]:
        return {r: self.shape(instance_type)[0] for r in regions or self.regions()
                if [z for z in self.zones(r, instance_type) if z]}

    def _unknown_regions(self, regions: list[str]) -> list[str]:
        return unknown_regions("alibaba", regions, self.regions(), "ECS offers this account")

    def vcpus_left(self, region: str, spot: bool) -> tuple[int, int, int] | None:
        """(quota, used, left) of the region's pay-as-you-go (or spot) vCPU quota; None where ECS gives none."""
        names = QUOTAS[spot]
        body = self._call(region, "DescribeAccountAttributes", f"({region})", AttributeName=list(names))
        got: dict[str, int] = {}
        for item in (body.get("AccountAttributeItems") or {}).get("AccountAttributeItem") or []:
            values = (item.get("AttributeValues") or {}).get("ValueItem") or []
            try:
                got[item.get("AttributeName")] = sum(int(v.get("Value")) for v in values)
            except (TypeError, ValueError):
                continue
        if names[0] not in got or got[names[0]] < 0:
            return None
        used = got.get(names[1], 0)
        return got[names[0]], used, max(0, got[names[0]] - used)

    def preflight(self, regions: list[str], instance_type: str, count: int, spot: bool = False,
                  image: str = "", system: str = "", others: Sequence[Demand] = ()) -> list[str]:
        """Refused (a problem per region) unless one region has a zone with the type in stock, lists the image,
        and has ``count`` x the type's vCPUs left in its pay-as-you-go (spot: spot) vCPU quota, with the vCPUs of
        ``others`` (the account's other systems of the same first region and spot setting, whatever their type:
        ECS has one such quota per region)."""
        if not TYPE_RE.fullmatch(instance_type):
            return [f"alibaba: cloud.instance_type: {instance_type!r} is not an ECS instance type (ecs.g7.xlarge)"]
        try:
            unknown = self._unknown_regions(regions)
            if unknown:
                return unknown
            cpus = self.shape(instance_type)[0]
        except ProviderError as exc:
            return [str(exc)]
        if not cpus:
            return [f"alibaba: instance type {instance_type} (cloud.instance_type) is not one ECS knows "
                    "(DescribeInstanceTypes); give it as ECS names it (ecs.g7.xlarge)"]
        shares: list[tuple[str, int, int]] = []  # (system, instances, vCPUs each) of the others on this quota
        try:
            for d in others:
                if d.spot == spot:
                    shares.append((d.system, d.count, self.shape(d.instance_type)[0] or 0))
        except ProviderError as exc:
            return [str(exc)]
        asked = cpus * count + sum(n * c for _, n, c in shares)
        why = []
        for region in regions:
            try:
                if not self._available_zones(region, instance_type, spot):
                    why.append(f"alibaba: instance type {instance_type} (cloud.instance_type) is not available"
                               f"{' as spot' if spot else ''} in any zone of {region}")
                    continue
                if image:
                    self.resolve_image(region, image, instance_type)
                left = self.vcpus_left(region, spot)
            except ProviderError as exc:
                why.append(str(exc))
                if exc.kind == AUTH:
                    return why
                continue
            if left is not None and asked > left[2]:
                name = QUOTAS[spot][0]
                parts = " + ".join([f"{system + ' ' if shares and system else ''}{count} x {cpus}",
                                    *(f"{o} {n} x {c}" for o, n, c in shares)])
                why.append(f"alibaba: vCPU quota {name} of {region}: {parts} = {asked} vCPUs asked, {left[2]} of "
                           f"{left[0]} left ({left[1]} used); ask for more in the Quota Center or use another region")
                continue
            return []  # this region can hold the system (earlier ones are failed over)
        return why

    def resolve_image(self, region: str, image: str, instance_type: str = "") -> str:
        """The id of the image an alias (``ubuntu-22.04``: the newest public ``ubuntu_22_04_x64*`` image), an
        image id or an image name names in the region."""
        where = f"(image {image} in {region})"
        fields: dict[str, Any] = {"Status": "Available"}
        if instance_type:
            fields["InstanceType"] = instance_type
        if image in IMAGES:
            found = [i for i in self._pages(region, "DescribeImages", ("Images", "Image"), where,
                                            ImageOwnerAlias="system", OSType="linux", **fields)
                     if str(i.get("ImageName") or i.get("ImageId") or "").startswith(IMAGES[image])]
        else:
            found = self._pages(region, "DescribeImages", ("Images", "Image"), where, ImageId=image, **fields) or \
                [i for i in self._pages(region, "DescribeImages", ("Images", "Image"), where, ImageName=image,
                                        **fields) if i.get("ImageName") == image]
        if not found:
            raise ProviderError(BAD_REQUEST, "UnknownImage", f"image {image!r} (cloud.image): {region} lists no "
                                f"available image of that id or name{' for ' + instance_type if instance_type else ''}"
                                f"; give an image id, a name, or one of {', '.join(IMAGES)}", NAME)
        return max(found, key=lambda i: str(i.get("CreationTime") or ""))["ImageId"]

    # -- run-scoped: VPC, vSwitches, security group and key pair of a region
    def _vpcs(self, region: str, run: str | None = None) -> list[dict]:
        return [v for v in self._pages(region, "DescribeVpcs", ("Vpcs", "Vpc"), f"({region})")
                if (v.get("VpcName") or "").startswith("benchfleet-") and (run is None or v["VpcName"] == _name(run))]

    def _description(self, req: LaunchRequest, beat: bool = True) -> str:
        out = f"{TAG_RUN}={req.run} {TAG_EXPIRES}={req.tags[TAG_EXPIRES]} {TAG_OWNER}={req.tags[TAG_OWNER]}"
        return out + (f" {TAG_HEARTBEAT}={heartbeat()}" if beat else "")

    def _tag_list(self, req: LaunchRequest) -> list[dict]:
        return [{"Key": k, "Value": v} for k, v in {TAG_RUN: req.run, TAG_EXPIRES: req.tags[TAG_EXPIRES],
                                                     TAG_OWNER: req.tags[TAG_OWNER]}.items()]

    def prepare(self, run: str, region: str, req: LaunchRequest) -> None:
        where, name = f"({region})", _name(run)
        vpcs = self._vpcs(region, run)
        if vpcs:
            vpc = vpcs[0]
            tags = _description_tags(vpc.get("Description"))
            if not ours(tags, run, req.tags[TAG_OWNER]):
                raise ProviderError(BAD_REQUEST, "ForeignVpc", f"VPC {name} ({vpc['VpcId']}) of {region} is not this "
                                    f"controller's (owner {tags.get(TAG_OWNER) or 'not set'}, ours is "
                                    f"{req.tags[TAG_OWNER]}); nothing was created. Use another --run-id", NAME)
            # refresh the heartbeat that keeps reap away while this run is being provisioned
            self._call(region, "ModifyVpcAttribute", where, VpcId=vpc["VpcId"], Description=self._description(req))
            vpc_id = vpc["VpcId"]
        else:
            vpc_id = self._call(region, "CreateVpc", where, VpcName=name, CidrBlock=VPC_CIDR,
                                Description=self._description(req))["VpcId"]
        self._wait_vpc(region, vpc_id)
        sg = self._group(region, run, vpc_id, req)
        self._key_pair(region, run, req)
        self._prepared[(region, run)] = {"vpc": vpc_id, "sg": sg}

    def _wait_vpc(self, region: str, vpc_id: str, timeout_s: float = 120) -> None:
        deadline, pause = time.time() + timeout_s, 0.2
        while True:
            found = self._call(region, "DescribeVpcs", f"({region})", VpcId=vpc_id)
            vpcs = (found.get("Vpcs") or {}).get("Vpc") or []
            if vpcs and vpcs[0].get("Status") == "Available":
                return
            if time.time() > deadline:
                raise ProviderError(OTHER, "VpcNotAvailable", f"VPC {vpc_id} of {region} is not Available within "
                                    f"{timeout_s:.0f} s", NAME)
            time.sleep(pause)
            pause = min(5.0, pause * 1.5)

    def _group(self, region: str, run: str, vpc_id: str, req: LaunchRequest) -> str:
        where, name = f"({region})", _name(run)
        groups = [g for g in self._pages(region, "DescribeSecurityGroups", ("SecurityGroups", "SecurityGroup"),
                                         where, VpcId=vpc_id, SecurityGroupName=name)
                  if g.get("SecurityGroupName") == name]
        if not groups:
            sg = self._call(region, "CreateSecurityGroup", where, VpcId=vpc_id, SecurityGroupName=name,
                            Description=f"benchfleet run {run}: SSH from one address", SecurityGroupType="normal",
                            Tag=self._tag_list(req))["SecurityGroupId"]
            self._call(region, "AuthorizeSecurityGroup", where, SecurityGroupId=sg, Permissions=[
                {"IpProtocol": "TCP", "PortRange": "22/22", "SourceCidrIp": req.ssh_cidr, "Policy": "accept",
                 "Description": f"benchfleet run {run}"}])
            return sg
        g = groups[0]
        what = f"security group {name} ({g['SecurityGroupId']}) of {region}"
        tags = _tags_of(g)
        if not ours(tags, run, req.tags[TAG_OWNER]):
            raise ProviderError(BAD_REQUEST, "ForeignSecurityGroup", f"{what} is not this controller's (owner "
                                f"{tags.get(TAG_OWNER) or 'not set'}, ours is {req.tags[TAG_OWNER]}); nothing was "
                                "created. Use another --run-id", NAME)
        attrs = self._call(region, "DescribeSecurityGroupAttribute", where, SecurityGroupId=g["SecurityGroupId"],
                           Direction="ingress")
        shown = [f"{(p.get('IpProtocol') or '').lower()}:{p.get('PortRange')} from "
                 f"{p.get('SourceCidrIp') or p.get('Ipv6SourceCidrIp') or p.get('SourceGroupId') or 'anywhere'}"
                 for p in (attrs.get("Permissions") or {}).get("Permission") or []
                 if (p.get("Policy") or "Accept").lower() == "accept"]
        if shown != [f"tcp:22/22 from {req.ssh_cidr}"]:
            raise ProviderError(BAD_REQUEST, "ChangedSecurityGroup", f"{what} lets in {', '.join(shown) or 'nothing'}; "
                                f"benchfleet's lets in only tcp:22/22 from {req.ssh_cidr}; nothing was created. "
                                f"Delete it (benchfleet teardown {run}) or use another --run-id", NAME)
        return g["SecurityGroupId"]

    def _key_pair(self, region: str, run: str, req: LaunchRequest) -> None:
        where, name = f"({region})", _name(run)
        pairs = [k for k in self._pages(region, "DescribeKeyPairs", ("KeyPairs", "KeyPair"), where, KeyPairName=name)
                 if k.get("KeyPairName") == name]
        if not pairs:
            self._call(region, "ImportKeyPair", where, KeyPairName=name, PublicKeyBody=req.public_key,
                       Tag=self._tag_list(req))
            return
        tags, fp = _tags_of(pairs[0]), (pairs[0].get("KeyPairFingerPrint") or "").replace(":", "").lower()
        if not ours(tags, run, req.tags[TAG_OWNER]) or fp != _fingerprint(req.public_key):
            raise ProviderError(BAD_REQUEST, "ForeignKeyPair", f"key pair {name} of {region} is not this run's (owner "
                                f"{tags.get(TAG_OWNER) or 'not set'}, or another public key); nothing was created. "
                                f"Use another --run-id, or delete it (benchfleet teardown {run})", NAME)

    def _vswitch(self, region: str, run: str, vpc_id: str, zone: str) -> str:
        """The run's vSwitch in a zone (10.0.<n>.0/24, n the next free one), made when missing."""
        where = f"({region} {zone})"
        switches = self._pages(region, "DescribeVSwitches", ("VSwitches", "VSwitch"), where, VpcId=vpc_id)
        for s in switches:
            if s.get("ZoneId") == zone and s.get("VSwitchName") == _name(run):
                return s["VSwitchId"]
        taken = {int(s["CidrBlock"].split(".")[2]) for s in switches if s.get("CidrBlock")}
        n = next(i for i in range(256) if i not in taken)
        sid = self._call(region, "CreateVSwitch", where, VpcId=vpc_id, ZoneId=zone, CidrBlock=f"10.0.{n}.0/24",
                         VSwitchName=_name(run), Description=f"benchfleet run {run}")["VSwitchId"]
        deadline = time.time() + 120
        while time.time() < deadline:
            got = self._pages(region, "DescribeVSwitches", ("VSwitches", "VSwitch"), where, VSwitchId=sid)
            if got and got[0].get("Status") == "Available":
                break
            time.sleep(0.3)
        return sid

    # -- instances
    @staticmethod
    def user_data(req: LaunchRequest) -> str:
        """Cloud-init script: the instance halts at its expiry; ECS releases it at its AutoReleaseTime."""
        minutes = max(1, int((req.expires_at - datetime.now(timezone.utc)).total_seconds() // 60))
        return (f"#!/bin/sh\n# benchfleet run {req.run}: halt at expiry ({req.expires_at:%Y-%m-%d %H:%M} UTC); ECS "
                f"releases this instance at its AutoReleaseTime.\nshutdown -h +{minutes}\n")

    def create(self, req: LaunchRequest) -> Instance:
        if not TYPE_RE.fullmatch(req.instance_type):
            raise ProviderError(BAD_REQUEST, "InvalidInstanceType", f"cloud.instance_type: {req.instance_type!r} is "
                                "not an ECS instance type (ecs.g7.xlarge)", NAME)
        region = req.region
        zone = req.zone or (self._available_zones(region, req.instance_type, req.spot) or [""])[0]
        where = f"({region} {zone})".replace(" )", ")")
        if not zone:
            raise ProviderError(CAPACITY, "NoZone", f"no zone of {region} has {req.instance_type} in stock {where}",
                                NAME)
        run_scoped = self._prepared.get((region, req.run))
        if run_scoped is None:
            raise ProviderError(OTHER, "NotPrepared", f"the run's VPC in {region} is not prepared", NAME)
        image = self.resolve_image(region, req.image, req.instance_type)
        vswitch = self._vswitch(region, req.run, run_scoped["vpc"], zone)
        tags = [{"Key": k, "Value": v} for k, v in req.tags.items()]
        body = self._call(
            region, "RunInstances", where, ZoneId=zone, InstanceType=req.instance_type, ImageId=image,
            SecurityGroupId=run_scoped["sg"], VSwitchId=vswitch, InstanceName=req.host, KeyPairName=_name(req.run),
            InstanceChargeType="PostPaid", SpotStrategy=SPOT if req.spot else "NoSpot",
            InternetChargeType="PayByTraffic", InternetMaxBandwidthOut=BANDWIDTH_MBPS,
            SystemDisk={"Size": str(req.disk_gb), "Category": "cloud_essd"}, AutoReleaseTime=release_time(
                req.expires_at), UserData=base64.b64encode(self.user_data(req).encode()).decode(), Tag=tags,
            Amount=1, ClientToken=uuid.uuid4().hex)
        ids = (body.get("InstanceIdSets") or {}).get("InstanceIdSet") or []
        if not ids:
            raise ProviderError(OTHER, "NoInstanceId", f"RunInstances answered no instance id {where}", NAME)
        return self._instance(region, self._wait_running(region, ids[0], where))

    def _describe(self, region: str, **fields) -> list[dict]:
        return self._pages(region, "DescribeInstances", ("Instances", "Instance"), f"({region})", **fields)

    def _wait_running(self, region: str, iid: str, where: str) -> dict:
        """Poll the new instance until Running. Gone (ECS released it after accepting it) or not Running in time
        deletes it, so a failed attempt leaves nothing failover would not see."""
        deadline, pause = time.time() + LAUNCH_TIMEOUT_S, 0.2
        while True:
            found = self._describe(region, InstanceIds=f'["{iid}"]')
            state = found[0].get("Status") if found else "gone"
            if state == "Running":
                return found[0]
            if state in ("gone", "Stopped") or time.time() > deadline:
                try:
                    self._call(region, "DeleteInstances", where, InstanceId=[iid], Force=True)
                except ProviderError:
                    pass
                raise ProviderError(CAPACITY, f"instance {state}", f"{iid} is {state}, not Running within "
                                    f"{LAUNCH_TIMEOUT_S:.0f} s {where}", NAME)
            time.sleep(pause)
            pause = min(5.0, pause * 1.5)

    def _instance(self, region: str, i: dict) -> Instance:
        tags = _tags_of(i)
        public = ((i.get("PublicIpAddress") or {}).get("IpAddress") or [""])[0]
        eip = (i.get("EipAddress") or {}).get("IpAddress") or ""
        private = (((i.get("VpcAttributes") or {}).get("PrivateIpAddress") or {}).get("IpAddress") or [""])[0]
        created = str(i.get("CreationTime") or "")
        if re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\dZ", created):
            created = created[:-1] + ":00Z"  # ECS gives minutes
        return Instance(
            provider=NAME, id=i["InstanceId"], host=tags.get(TAG_HOST, ""), system=tags.get(TAG_SYSTEM, ""),
            run=tags.get(TAG_RUN, ""), region=region, zone=i.get("ZoneId") or "",
            instance_type=i.get("InstanceType") or "",
            state="deleting" if i.get("_deleting") else _STATES.get(i.get("Status") or "",
                                                                    (i.get("Status") or "").lower()),
            public_ip=public or eip, private_ip=private, spot=(i.get("SpotStrategy") or "NoSpot") != "NoSpot",
            launched_at=created, expires=tags.get(TAG_EXPIRES, ""), owner=tags.get(TAG_OWNER, ""),
            extra={"key_name": i.get("KeyPairName") or "", "auto_release_time": i.get("AutoReleaseTime") or ""})

    def list(self, regions: list[str], run: str | None = None) -> list[Instance]:
        """Instances carrying the run tag (of any run), in ``regions`` (every region when empty), stopped ones
        too (pay-as-you-go instances may be billed stopped); released ones are gone from ECS's listing."""
        out = []
        for region in regions or self.regions():
            tag = {"Key": TAG_RUN, **({"Value": run} if run else {})}
            out += [self._instance(region, i) for i in self._describe(region, Tag=[tag])
                    if TAG_RUN in _tags_of(i) and (run is None or _tags_of(i)[TAG_RUN] == run)]
        return out

    def delete_instances(self, instances: list[Instance]) -> None:
        by_region: dict[str, list[str]] = {}
        for i in instances:
            by_region.setdefault(i.region, []).append(i.id)
        for region, ids in by_region.items():
            for n in range(0, len(ids), 100):  # DeleteInstances takes up to 100
                try:
                    self._call(region, "DeleteInstances", f"({region})", InstanceId=ids[n:n + 100], Force=True)
                except ProviderError as exc:
                    if exc.kind != NOT_FOUND:
                        raise

    def cleanup(self, regions: list[str], run: str | None = None, expired_before: datetime | None = None,
                dry_run: bool = False, owner: str | None = None, grace_s: float = 0) -> list[str]:
        """The run's VPC in each region (its description's tags decide) with its security groups, vSwitches and
        the run's key pair."""
        done = []
        live = {i.run for i in self.list([])} if not run else set()
        for region in regions or self.regions():
            for v in self._vpcs(region, run):
                tags = _description_tags(v.get("Description"))
                if not leftover(tags, run, expired_before, live, owner, grace_s) or v["VpcName"] != _name(
                        tags[TAG_RUN]):
                    continue
                done += [f"alibaba:{region}:vpc/{v['VpcName']}", f"alibaba:{region}:key-pair/{v['VpcName']}"]
                if not dry_run:
                    self._delete_vpc(region, v)
        return done

    def _delete_vpc(self, region: str, vpc: dict) -> None:
        """Security groups, the key pair, vSwitches, then the VPC. ECS refuses (DependencyViolation) while a
        released instance still holds a resource for a few seconds: each delete is retried until DELETE_WAIT_S."""
        where, vid = f"({region})", vpc["VpcId"]
        for g in self._pages(region, "DescribeSecurityGroups", ("SecurityGroups", "SecurityGroup"), where, VpcId=vid):
            self._retry(region, "DeleteSecurityGroup", SecurityGroupId=g["SecurityGroupId"])
        self._retry(region, "DeleteKeyPairs", KeyPairNames=f'["{vpc["VpcName"]}"]')
        for s in self._pages(region, "DescribeVSwitches", ("VSwitches", "VSwitch"), where, VpcId=vid):
            self._retry(region, "DeleteVSwitch", VSwitchId=s["VSwitchId"])
        self._retry(region, "DeleteVpc", VpcId=vid)

    def _retry(self, region: str, action: str, **fields) -> None:
        deadline = time.time() + DELETE_WAIT_S
        while True:
            try:
                self._call(region, action, f"({region})", **fields)
                return
            except ProviderError as exc:
                if exc.kind == NOT_FOUND:
                    return
                if exc.kind != OTHER or time.time() > deadline:
                    raise
            time.sleep(1)

    # -- prices
    def price(self, region: str, instance_type: str, spot: bool = False) -> tuple[float, str] | None:
        """(price per hour, currency) of a pay-as-you-go (spot: spot) instance with a 40 GiB ESSD system disk, as
        ECS's DescribePrice gives it; None where it gives none."""
        body = self._call(region, "DescribePrice", f"({region})", ResourceType="instance", InstanceType=instance_type,
                          PriceUnit="Hour", Period=1, SpotStrategy=SPOT if spot else "NoSpot",
                          InstanceNetworkType="vpc", SystemDisk={"Category": "cloud_essd", "Size": 40})
        price = (body.get("PriceInfo") or {}).get("Price") or {}
        value = price.get("TradePrice")
        if value is None:
            return None
        return float(value), str(price.get("Currency") or "")
