"""AWS EC2 through boto3: every EC2 call benchfleet makes is in this module.

Credentials and endpoints come only from boto3's standard chain (environment, shared files, SSO,
instance roles; ``AWS_ENDPOINT_URL`` for an alternative endpoint such as moto's server).
Per run and region: one key pair and one security group (SSH from the controller only), both tagged;
instances require IMDSv2 and terminate themselves when they power off at their expiry. A key pair or
security group named after the run is reused only when it is this owner's and unchanged: the key pair's
fingerprint must be the run key's, the group's ingress exactly the one SSH rule from ``ssh_cidr``; anything
else is refused before anything is created. Instances boot from the image's own root device
(``RootDeviceName``: ``/dev/sda1`` on Ubuntu, ``/dev/xvda`` on Amazon Linux), an EBS volume with
``Encrypted`` set (the account's default EBS key).
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
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

NAME = "aws"
# Image aliases: owner and name pattern (the newest match wins). Anything starting with ami- is used as is.
IMAGES = {
    "ubuntu-22.04": ("099720109477", "ubuntu/images/hvm-ssd*/ubuntu-jammy-22.04-amd64-server-*"),
    "ubuntu-24.04": ("099720109477", "ubuntu/images/hvm-ssd*/ubuntu-noble-24.04-amd64-server-*"),
    "debian-12": ("136693071363", "debian-12-amd64-*"),
}
_KINDS = {
    "InsufficientInstanceCapacity": CAPACITY, "Unsupported": CAPACITY, "InsufficientCapacity": CAPACITY,
    "SpotMaxPriceTooLow": CAPACITY, "InsufficientHostCapacity": CAPACITY,
    "InstanceLimitExceeded": QUOTA, "VcpuLimitExceeded": QUOTA, "MaxSpotInstanceCountExceeded": QUOTA,
    "RequestLimitExceeded": OTHER, "AccountLimitExceeded": QUOTA_GLOBAL,
    "AuthFailure": AUTH, "UnauthorizedOperation": AUTH, "InvalidClientTokenId": AUTH, "ExpiredToken": AUTH,
    "OptInRequired": AUTH, "Blocked": AUTH,
}


# instance family -> the quota group Service Quotas names it by (vCPU quotas per region)
_QUOTA_GROUPS = {"g": "G and VT", "gr": "G and VT", "vt": "G and VT", "p": "P", "f": "F", "x": "X", "inf": "Inf",
                 "dl": "DL", "trn": "Trn", "u": "High Memory", "hpc": "HPC"}
_STANDARD = "Standard (A, C, D, H, I, M, R, T, Z)"


def quota_name(instance_type: str, spot: bool) -> str | None:
    """The Service Quotas name of the vCPU quota an instance type counts against (on-demand or spot), or None
    for a family without one known here (mac, ...)."""
    m = re.match(r"([a-z]+)(\d*)", instance_type.lower())
    if not m:
        return None
    family, generation = m.groups()
    group = _QUOTA_GROUPS.get(family) or (_STANDARD if family[0] in "acdhimrtz" and family != "mac" else None)
    if group is None:
        return None
    if not spot:
        return f"Running On-Demand {group} instances"
    if group == "P":  # spot P quotas are split by generation: P5 and later (p5en, p6-b200) in the P5 one
        newer = generation.isdigit() and int(generation) >= 5
        return "All P5 Spot Instance Requests" if newer else "All P4, P3 and P2 Spot Instance Requests"
    return f"All {group} Spot Instance Requests"


def _kind(code: str) -> str:
    if code in _KINDS:
        return _KINDS[code]
    if code.endswith(".NotFound"):
        return NOT_FOUND
    if code.startswith("Invalid") or code in ("MissingParameter", "ValidationError"):
        return BAD_REQUEST
    return OTHER


def _client_error(exc, region: str) -> ProviderError:
    """A botocore ClientError as a ProviderError of its kind."""
    err = exc.response.get("Error", {})
    code = err.get("Code", "Unknown")
    return ProviderError(_kind(code), code, f"{err.get('Message', exc)} ({region})", NAME)


def _tags(d: dict) -> list[dict]:
    return [{"Key": k, "Value": v} for k, v in d.items()]


def _untag(tags: list[dict] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or []}


def key_fingerprints(public_key: str) -> set[str]:
    """Every form EC2 gives an imported key's fingerprint in, normalised (see ``_norm``): MD5 of the DER
    public key for RSA, SHA-256 for ed25519 (base64 of the OpenSSH key blob's digest on AWS, hex of the DER
    key's in moto), and the other digests of both encodings, all computed from our own key."""
    from cryptography.hazmat.primitives import serialization

    blob = base64.b64decode(public_key.split()[1])
    der = serialization.load_ssh_public_key(public_key.encode()).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    out = set()
    for data in (der, blob):
        for digest in (hashlib.md5(data, usedforsecurity=False).digest(), hashlib.sha256(data).digest()):
            out |= {digest.hex(), base64.b64encode(digest).decode().rstrip("=")}
    return out


def _norm(fingerprint: str) -> str:
    fp = fingerprint.strip().removeprefix("SHA256:").removeprefix("MD5:")
    if ":" in fp and re.fullmatch(r"[0-9a-fA-F:]+", fp):
        return fp.replace(":", "").lower()
    return fp.rstrip("=")


def _rule_text(p: dict) -> list[str]:
    ports = "all ports" if p.get("IpProtocol") == "-1" else f"{p.get('IpProtocol')} {p.get('FromPort')}" + (
        f"-{p.get('ToPort')}" if p.get("ToPort") != p.get("FromPort") else "")
    sources = ([r["CidrIp"] for r in p.get("IpRanges", [])] + [r["CidrIpv6"] for r in p.get("Ipv6Ranges", [])]
               + [g.get("GroupId", "?") for g in p.get("UserIdGroupPairs", [])]
               + [x.get("PrefixListId", "?") for x in p.get("PrefixListIds", [])])
    return [f"{ports} from {src}" for src in sources] or [f"{ports} from nowhere"]


class AwsProvider:
    name = NAME

    def __init__(self):
        import boto3

        self._session = boto3.session.Session()
        self._clients: dict[str, object] = {}

    def _ec2(self, region: str):
        if region not in self._clients:
            from botocore.config import Config

            self._clients[region] = self._session.client(
                "ec2", region_name=region, config=Config(retries={"max_attempts": 5, "mode": "standard"}))
        return self._clients[region]

    def _call(self, region: str, op: str, **kw):
        from botocore.exceptions import ClientError, NoCredentialsError, NoRegionError

        try:
            return getattr(self._ec2(region), op)(**kw)
        except ClientError as exc:
            raise _client_error(exc, region) from None
        except NoCredentialsError:
            raise ProviderError(AUTH, "NoCredentials", "no AWS credentials found: set AWS_PROFILE or "
                                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run `aws configure`", NAME) from None
        except NoRegionError:
            raise ProviderError(BAD_REQUEST, "NoRegion", "no region given", NAME) from None

    # -- before anything is created
    shares_quotas = True  # preflight takes the other systems of the account (see Provider.preflight)

    def preflight(self, regions: list[str], instance_type: str, count: int, spot: bool = False,
                  image: str = "", system: str = "", others: Sequence[Demand] = ()) -> list[str]:
        """Refused (a problem per region) unless one region offers the type in a zone and has the vCPUs for
        ``count`` instances free under the type's Service Quotas quota (on-demand or spot), less what runs there,
        with those of the ``others`` whose types count against the same quota (m5 and c6i: the Standard one).
        Where Service Quotas cannot be read (no permission, an endpoint without it), the quota is not checked."""
        demands = [Demand(system or "this system", instance_type, count, spot), *others]
        why = []
        for region in regions:
            try:
                offered = self._call(region, "describe_instance_type_offerings", LocationType="availability-zone",
                                     Filters=[{"Name": "instance-type", "Values": [instance_type]}])
            except ProviderError as exc:
                why.append(str(exc))
                if exc.kind == AUTH:
                    return why
                continue
            if not offered.get("InstanceTypeOfferings"):
                why.append(f"aws: {instance_type} is not offered in any zone of {region}")
                continue
            if image:
                try:
                    self._image(region, image)
                except ProviderError as exc:
                    why.append(str(exc))
                    continue
            short = self._quota_short(region, demands)
            if not short:
                return []  # this region can hold the system (earlier ones are failed over)
            why.append(short)
        return why

    def _vcpus(self, region: str, types: set[str]) -> dict[str, int]:
        got = self._call(region, "describe_instance_types", InstanceTypes=sorted(types)) if types else {}
        return {t["InstanceType"]: int(t["VCpuInfo"]["DefaultVCpus"]) for t in got.get("InstanceTypes", [])}

    def _quota_short(self, region: str, demands: list[Demand]) -> str:
        """'' when the quota of the first demand's type holds it and the others' that count against the same quota,
        else the figures; '' too when it cannot be read."""
        from botocore.exceptions import BotoCoreError, ClientError

        spot = demands[0].spot
        name = quota_name(demands[0].instance_type, spot)
        if name is None:
            return ""
        sharing = [d for d in demands if d.spot == spot and quota_name(d.instance_type, d.spot) == name]
        try:
            client = self._session.client("service-quotas", region_name=region)
            limit = next((q["Value"] for page in client.get_paginator("list_service_quotas").paginate(
                ServiceCode="ec2") for q in page.get("Quotas", []) if q.get("QuotaName") == name), None)
        except (BotoCoreError, ClientError):
            return ""
        if limit is None:
            return ""
        try:
            pages = self._ec2(region).get_paginator("describe_instances").paginate(Filters=[
                {"Name": "instance-state-name", "Values": ["pending", "running"]}])
            running = [i for page in pages for r in page.get("Reservations", []) for i in r.get("Instances", [])
                       if quota_name(i["InstanceType"], spot) == name
                       and (i.get("InstanceLifecycle") == "spot") == spot]
        except ClientError as exc:
            raise _client_error(exc, region) from None
        cpus = self._vcpus(region, {d.instance_type for d in sharing} | {i["InstanceType"] for i in running})
        used = sum(cpus.get(i["InstanceType"], 0) for i in running)
        need, figures = asked([(d.system, d.count, cpus.get(d.instance_type, 0)) for d in sharing])
        if need <= limit - used:
            return ""
        return f"aws: {name} quota of {region}: {figures} vCPUs asked, {max(0, limit - used):.0f} of {limit:.0f} free"

    def regions(self) -> list[str]:
        import os

        home = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        return sorted(r["RegionName"] for r in self._call(home, "describe_regions").get("Regions", []))

    def zones(self, region: str, instance_type: str) -> list[str]:
        offered = self._call(region, "describe_instance_type_offerings", LocationType="availability-zone",
                             Filters=[{"Name": "instance-type", "Values": [instance_type]}])
        return sorted(o["Location"] for o in offered.get("InstanceTypeOfferings", []))

    # -- run-scoped resources
    def prepare(self, run: str, region: str, req: LaunchRequest) -> None:
        """The run's key pair and security group: reused only when they are ours and as we made them (checked
        both before creating either), created otherwise; either way their heartbeat tag is set to now."""
        name = f"benchfleet-{run}"
        keys = self._call(region, "describe_key_pairs", Filters=[{"Name": "key-name", "Values": [name]}])
        groups = self._call(region, "describe_security_groups", Filters=[{"Name": "group-name", "Values": [name]}])
        for kp in keys.get("KeyPairs", []):
            self._check_key_pair(kp, req, region)
        for sg in groups.get("SecurityGroups", []):
            self._check_group(sg, req, region)
        beat = {TAG_HEARTBEAT: heartbeat()}
        tags = _tags({**self._run_tags(req), **beat})
        if not keys.get("KeyPairs"):
            self._call(region, "import_key_pair", KeyName=name, PublicKeyMaterial=req.public_key.encode(),
                       TagSpecifications=[{"ResourceType": "key-pair", "Tags": tags}])
        if not groups.get("SecurityGroups"):
            sg = self._call(region, "create_security_group", GroupName=name,
                            Description=f"benchfleet run {run}: SSH from the controller only",
                            TagSpecifications=[{"ResourceType": "security-group", "Tags": tags}])
            self._call(region, "authorize_security_group_ingress", GroupId=sg["GroupId"], IpPermissions=[{
                "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                "IpRanges": [{"CidrIp": req.ssh_cidr, "Description": "benchfleet controller"}]}])
        reused = [k["KeyPairId"] for k in keys.get("KeyPairs", []) if k.get("KeyPairId")] + [
            g["GroupId"] for g in groups.get("SecurityGroups", [])]
        if reused:
            self._call(region, "create_tags", Resources=reused, Tags=_tags(beat))

    @staticmethod
    def _refuse(code: str, what: str, why: str, region: str) -> ProviderError:
        return ProviderError(BAD_REQUEST, code, f"{what} in {region} {why}; nothing was created. Use another "
                             "--run-id, or delete it if it is a leftover of yours (benchfleet teardown <run>)", NAME)

    def _check_owner(self, resource: dict, code: str, what: str, req: LaunchRequest, region: str) -> None:
        """Refuse a run-named resource (key pair, security group) that this controller did not make."""
        t = _untag(resource.get("Tags"))
        if not ours(t, req.run, req.tags[TAG_OWNER]):
            raise self._refuse(code, what, f"is not this controller's (owner tag {t.get(TAG_OWNER) or 'none'}, "
                               f"ours is {req.tags[TAG_OWNER]})", region)

    def _check_key_pair(self, kp: dict, req: LaunchRequest, region: str) -> None:
        what = f"key pair {kp['KeyName']}"
        self._check_owner(kp, "ForeignKeyPair", what, req, region)
        got = kp.get("KeyFingerprint", "")
        if _norm(got) not in key_fingerprints(req.public_key):
            raise self._refuse("ForeignKeyPair", what, f"holds another key (fingerprint {got}) than the run's "
                               "own key", region)

    def _check_group(self, sg: dict, req: LaunchRequest, region: str) -> None:
        what = f"security group {sg['GroupName']} ({sg['GroupId']})"
        self._check_owner(sg, "ForeignSecurityGroup", what, req, region)
        rules = [r for p in sg.get("IpPermissions", []) for r in _rule_text(p)]
        if rules != [f"tcp 22 from {req.ssh_cidr}"]:
            raise self._refuse("ChangedSecurityGroup", what, f"lets in {', '.join(rules) or 'nothing'}; "
                               f"benchfleet's group lets in only tcp 22 from {req.ssh_cidr}", region)

    @staticmethod
    def _run_tags(req: LaunchRequest) -> dict[str, str]:
        return {k: v for k, v in req.tags.items() if k in (TAG_RUN, TAG_EXPIRES, TAG_OWNER)}

    def _image(self, region: str, image: str) -> tuple[str, str]:
        """The image id and its root device name (the block device mapping must name it)."""
        if image.startswith("ami-"):
            found = self._call(region, "describe_images", ImageIds=[image]).get("Images", [])
            if not found:
                raise ProviderError(BAD_REQUEST, "UnknownImage", f"image {image} does not exist in {region}", NAME)
        else:
            if image not in IMAGES:
                raise ProviderError(BAD_REQUEST, "UnknownImage", f"image {image!r}: give an ami-... id or one of "
                                    f"{', '.join(IMAGES)}", NAME)
            owner, pattern = IMAGES[image]
            found = self._call(region, "describe_images", Owners=[owner],
                               Filters=[{"Name": "name", "Values": [pattern]}]).get("Images", [])
            if not found:
                raise ProviderError(BAD_REQUEST, "UnknownImage", f"no {image} image in {region}; give an ami-... "
                                    "id", NAME)
        best = max(found, key=lambda i: i.get("CreationDate", ""))
        return best["ImageId"], best.get("RootDeviceName") or "/dev/sda1"

    def create(self, req: LaunchRequest) -> Instance:
        name = f"benchfleet-{req.run}"
        region = req.region
        sg = self._call(region, "describe_security_groups",
                        Filters=[{"Name": "group-name", "Values": [name]}])["SecurityGroups"][0]["GroupId"]
        image, root = self._image(region, req.image)
        kw = dict(
            ImageId=image, InstanceType=req.instance_type, MinCount=1, MaxCount=1,
            KeyName=name, SecurityGroupIds=[sg], Placement={"AvailabilityZone": req.zone},
            InstanceInitiatedShutdownBehavior="terminate", UserData=req.user_data(),
            MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled"},
            BlockDeviceMappings=[{"DeviceName": root, "Ebs": {"VolumeSize": req.disk_gb, "DeleteOnTermination": True,
                                                              "Encrypted": True}}],
            TagSpecifications=[{"ResourceType": t, "Tags": _tags({**req.tags, "Name": req.host})}
                               for t in ("instance", "volume")],
        )
        if req.spot:
            kw["InstanceMarketOptions"] = {"MarketType": "spot", "SpotOptions": {
                "SpotInstanceType": "one-time", "InstanceInterruptionBehavior": "terminate"}}
        out = self._call(region, "run_instances", **kw)
        return self._instance(region, out["Instances"][0])

    @staticmethod
    def _instance(region: str, d: dict) -> Instance:
        t = _untag(d.get("Tags"))
        launched = d.get("LaunchTime")
        return Instance(
            provider=NAME, id=d["InstanceId"], host=t.get(TAG_HOST, ""), system=t.get(TAG_SYSTEM, ""),
            run=t.get(TAG_RUN, ""), region=region, zone=d.get("Placement", {}).get("AvailabilityZone", ""),
            instance_type=d.get("InstanceType", ""), state=d.get("State", {}).get("Name", ""),
            public_ip=d.get("PublicIpAddress", ""), private_ip=d.get("PrivateIpAddress", ""),
            spot=d.get("InstanceLifecycle") == "spot",
            launched_at=launched.strftime("%Y-%m-%dT%H:%M:%SZ") if hasattr(launched, "strftime") else str(launched),
            expires=t.get(TAG_EXPIRES, ""), owner=t.get(TAG_OWNER, ""), extra={"key_name": d.get("KeyName", "")},
        )

    def list(self, regions: list[str], run: str | None = None) -> list[Instance]:
        from botocore.exceptions import ClientError

        filters = [{"Name": f"tag:{TAG_RUN}", "Values": [run]} if run else {"Name": "tag-key", "Values": [TAG_RUN]},
                   {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped",
                                                              "shutting-down"]}]
        out = []
        for region in regions:
            pages = self._ec2(region).get_paginator("describe_instances").paginate(Filters=filters)
            try:
                for page in pages:
                    for r in page.get("Reservations", []):
                        out += [self._instance(region, d) for d in r.get("Instances", [])]
            except ClientError as exc:
                raise _client_error(exc, region) from None
            except Exception as exc:  # noqa: BLE001 - an endpoint or connection failure mid-listing
                raise ProviderError(OTHER, type(exc).__name__, f"{exc} ({region})", NAME) from None
        return out

    def delete_instances(self, instances: list[Instance]) -> None:
        by_region: dict[str, list[str]] = {}
        for i in instances:
            by_region.setdefault(i.region, []).append(i.id)
        for region, ids in by_region.items():
            try:
                self._call(region, "terminate_instances", InstanceIds=ids)
            except ProviderError as exc:
                if exc.kind != NOT_FOUND:
                    raise

    def cleanup(self, regions: list[str], run: str | None = None, expired_before: datetime | None = None,
                dry_run: bool = False, owner: str | None = None, grace_s: float = 0) -> list[str]:
        """Key pairs and security groups of the run (or of expired runs not prepared within ``grace_s``) once no
        instance uses them; only ``owner``'s unless it is None."""
        done = []
        tag_filter = ([{"Name": f"tag:{TAG_RUN}", "Values": [run]}] if run
                      else [{"Name": "tag-key", "Values": [TAG_RUN]}])
        for region in regions:
            live = {i.run for i in self.list([region])} if not run else set()  # reap only
            for sg in self._call(region, "describe_security_groups", Filters=tag_filter).get("SecurityGroups", []):
                if leftover(_untag(sg.get("Tags")), run, expired_before, live, owner, grace_s):
                    done.append(f"aws:{region}:security-group/{sg['GroupName']}")
                    if not dry_run:
                        self._retry(lambda g=sg, r=region: self._call(r, "delete_security_group", GroupId=g["GroupId"]))
            for kp in self._call(region, "describe_key_pairs", Filters=tag_filter).get("KeyPairs", []):
                if leftover(_untag(kp.get("Tags")), run, expired_before, live, owner, grace_s):
                    done.append(f"aws:{region}:key-pair/{kp['KeyName']}")
                    if not dry_run:
                        self._call(region, "delete_key_pair", KeyName=kp["KeyName"])
        return done

    @staticmethod
    def _retry(fn, attempts: int = 10, delay: float = 3.0):
        """A security group is in use until its instances are gone: retry DependencyViolation."""
        for i in range(attempts):
            try:
                return fn()
            except ProviderError as exc:
                if exc.kind == NOT_FOUND:
                    return None
                if exc.code != "DependencyViolation" or i == attempts - 1:
                    raise
                time.sleep(delay)
