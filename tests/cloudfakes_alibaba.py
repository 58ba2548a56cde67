"""A local Alibaba Cloud ECS for the real SDK (``alibabacloud_ecs20140526``: its request models, its ACS3-HMAC-SHA256
signing, its error handling).

One plain-HTTP server plays ECS API 2014-05-26 in three regions as the SDK calls it: ``POST /`` with the action in
``x-acs-action``, the request fields in the query string (``Tag.1.Key``, ``InstanceId.1``, ``SystemDisk.Size``),
``RegionId`` naming the region; answers are JSON with a ``RequestId``, errors ``{"Code", "Message", "RequestId"}``
with the HTTP status ECS uses (403 OperationDenied.NoStock, 404 InvalidAccessKeyId.NotFound, 400
SignatureDoesNotMatch, ...). The signature is checked as ECS computes it (the canonical request, HMAC-SHA256 with the
AccessKey secret), so a wrong AccessKey id or secret is refused with ECS's own codes.

ECS as a region behaves: a new instance is Pending, then Starting, then Running (one step per read) with a public
and a private address; RunInstances over the region's vCPU quota is refused with 403 QuotaExceed.ElasticQuota, in a
zone ``no_stock`` names with 403 OperationDenied.NoStock; a deleted instance is listed ``linger`` more times
(Stopping) and then gone; every request first releases the instances whose AutoReleaseTime is past on the fake's
clock (``advance``); a security group, vSwitch or VPC still used cannot be deleted (403 DependencyViolation).
Only the actions benchfleet calls are served.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import http.server
import json
import re
import threading
import urllib.parse
import uuid

from tests.cloudhosts import AddressHosts


def _fmt(t: dt.datetime, seconds: bool = False) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ" if seconds else "%Y-%m-%dT%H:%MZ")


class Fail(Exception):
    def __init__(self, status: int, code: str, message: str):
        self.status, self.code, self.message = status, code, message


class FakeEcs:
    """One Alibaba Cloud account in three regions, in memory."""

    KEY_ID = "LTAI5tBenchfleetTestKey0"
    SECRET = "bf-ali-secret-7c31e9d4a0b2"  # the tests look for it in logs and results
    REGIONS = {"cn-hangzhou": ["cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-j"],
               "us-west-1": ["us-west-1a", "us-west-1b"], "eu-central-1": ["eu-central-1a", "eu-central-1b"]}
    # type -> (vCPUs, memory GiB, GPUs, {region: zones} or None for every zone)
    TYPES = {"ecs.g7.xlarge": (4, 16.0, 0, None), "ecs.c7.large": (2, 4.0, 0, None),
             "ecs.gn7i-c8g1.2xlarge": (8, 30.0, 1, {"cn-hangzhou": ["cn-hangzhou-i"]})}
    # pay-as-you-go vCPU quota per region; spot quota
    QUOTA = {"cn-hangzhou": 100, "us-west-1": 8, "eu-central-1": 100}
    SPOT_QUOTA = 16
    # public images every region lists: (image id = name, created)
    IMAGES = (("ubuntu_22_04_x64_20G_alibase_20240926.vhd", "2024-09-27T02:00:00Z"),
              ("ubuntu_22_04_x64_20G_alibase_20241120.vhd", "2024-11-21T02:00:00Z"),
              ("ubuntu_22_04_uefi_x64_20G_alibase_20241201.vhd", "2024-12-02T02:00:00Z"),
              ("ubuntu_24_04_x64_20G_alibase_20241115.vhd", "2024-11-16T02:00:00Z"),
              ("aliyun_3_x64_20G_alibase_20241103.vhd", "2024-11-04T02:00:00Z"))
    # USD per hour (instance and its 40 GiB ESSD) where DescribePrice answers: (type, spot) -> price
    PRICES = {("ecs.g7.xlarge", False): 0.2316, ("ecs.g7.xlarge", True): 0.0531, ("ecs.c7.large", False): 0.0962}

    def __init__(self):
        self.lock = threading.RLock()
        self.offset = dt.timedelta()
        self.instances: dict[str, dict] = {}
        self.vpcs: dict[str, dict] = {}
        self.vswitches: dict[str, dict] = {}
        self.groups: dict[str, dict] = {}
        self.key_pairs: dict[tuple[str, str], dict] = {}  # (region, name) -> key pair
        self.no_stock: list[dict] = []  # {"region", "zone" (optional), "times" (optional)}
        self.rules: list[dict] = []  # {"action", "status", "code", "message", "times"}: injected errors
        self.log: list[tuple[str, str, str]] = []  # (action, region, answered code or "ok")
        self.released: list[str] = []  # instance ids ECS released at their AutoReleaseTime
        self.ips = 0
        self.linger = 0  # reads a deleted instance is still listed (Stopping) before it is gone
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                status, body = fake.answer(self.command, self.path, dict(self.headers.items()), raw)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    # -- what the tests use
    def env(self) -> dict[str, str]:
        return {"ALIBABA_CLOUD_ACCESS_KEY_ID": self.KEY_ID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": self.SECRET,
                "BENCHFLEET_ALIBABA_ENDPOINT": self.url}

    def stop(self) -> None:
        self.server.shutdown()

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc) + self.offset

    def advance(self, **delta) -> None:
        """The fake's clock moves on (ECS releases what is due at the next request)."""
        with self.lock:
            self.offset += dt.timedelta(**delta)
            self._release_due()

    def live(self) -> list[dict]:
        return list(self.instances.values())

    def nothing_left(self) -> bool:
        return not (self.instances or self.vpcs or self.vswitches or self.groups or self.key_pairs)

    def user_data(self, inst: dict) -> str:
        return base64.b64decode(inst["_user_data"]).decode()

    def reclaim(self, iid: str) -> None:
        """ECS takes a spot instance back: it is released."""
        with self.lock:
            self.instances.pop(iid, None)

    # -- the protocol
    def answer(self, method: str, path: str, headers: dict, raw: bytes) -> tuple[int, dict]:
        rid = str(uuid.uuid4()).upper()
        h = {k.lower(): v for k, v in headers.items()}
        url = urllib.parse.urlsplit(path)
        q = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        if raw and "form" in h.get("content-type", ""):
            q.update(urllib.parse.parse_qsl(raw.decode(), keep_blank_values=True))
        action = h.get("x-acs-action") or q.get("Action", "")
        region = q.get("RegionId", "")
        with self.lock:
            try:
                self._authenticate(method, url.path or "/", url.query, h)
                for rule in self.rules:
                    if rule.get("action", action) == action and rule.get("region", region) == region and \
                            rule.get("times", 1) != 0:
                        if "times" in rule:
                            rule["times"] -= 1
                        raise Fail(rule["status"], rule["code"], rule.get("message", f"injected: {rule['code']}"))
                self._release_due()
                if action not in ("DescribeRegions", "DescribeInstanceTypes") and region not in self.REGIONS:
                    raise Fail(404, "InvalidRegionId.NotFound", "The specified RegionId does not exist.")
                handler = getattr(self, f"_{action}", None)
                if handler is None:
                    raise Fail(404, "InvalidAction.NotFound", f"Specified api {action} is not found by this fake.")
                body = handler(region, q)
                self.log.append((action, region, "ok"))
                return 200, {"RequestId": rid, **body}
            except Fail as f:
                self.log.append((action, region, f.code))
                return f.status, {"Code": f.code, "Message": f.message, "RequestId": rid,
                                  "HostId": "ecs.aliyuncs.com", "Recommend": "https://api.aliyun.com/troubleshoot"}

    def _authenticate(self, method: str, path: str, query: str, h: dict) -> None:
        """ACS3-HMAC-SHA256 as ECS checks it: the AccessKey id, then the signature over the canonical request."""
        m = re.fullmatch(r"ACS3-HMAC-SHA256 Credential=([^,]+),SignedHeaders=([^,]+),Signature=([0-9a-f]+)",
                         h.get("authorization", ""))
        if not m:
            raise Fail(400, "IncompleteSignature", "The request signature does not conform to Aliyun standards.")
        if m.group(1) != self.KEY_ID:
            raise Fail(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        pairs = sorted(urllib.parse.parse_qsl(query, keep_blank_values=True))
        canon_query = "&".join(f"{k}={urllib.parse.quote(v, safe='~')}" for k, v in pairs)
        signed = m.group(2).split(";")
        canon_headers = "".join(f"{k}:{h.get(k, '').strip()}\n" for k in signed)
        canonical = "\n".join([method, path, canon_query, canon_headers, ";".join(signed),
                               h.get("x-acs-content-sha256", "")])
        to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
        want = hmac.new(self.SECRET.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, m.group(3)):
            raise Fail(400, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation.")

    # -- helpers
    @staticmethod
    def _list(q: dict, name: str) -> list[str]:
        """``Name.1``, ``Name.2``, ... of a request."""
        return [q[k] for k in sorted((k for k in q if re.fullmatch(rf"{name}\.\d+", k)),
                                     key=lambda k: int(k.rsplit(".", 1)[1]))]

    @staticmethod
    def _tags(q: dict, name: str = "Tag") -> list[tuple[str, str | None]]:
        out = []
        n = 1
        while f"{name}.{n}.Key" in q:
            out.append((q[f"{name}.{n}.Key"], q.get(f"{name}.{n}.Value")))
            n += 1
        return out

    @staticmethod
    def _tag_view(tags: dict) -> dict:
        return {"Tags": {"Tag": [{"TagKey": k, "TagValue": v} for k, v in tags.items()]}}

    @staticmethod
    def _page(items: list, q: dict, key: tuple[str, str], size: int = 10) -> dict:
        n, size = int(q.get("PageNumber") or 1), int(q.get("PageSize") or size)
        return {key[0]: {key[1]: items[(n - 1) * size:n * size]}, "TotalCount": len(items), "PageNumber": n,
                "PageSize": size}

    def _view(self, x: dict) -> dict:
        return {k: v for k, v in x.items() if not k.startswith("_")}

    def _release_due(self) -> None:
        now = self.now()
        for iid, i in list(self.instances.items()):
            at = i.get("AutoReleaseTime")
            if at and dt.datetime.strptime(at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc) <= now:
                del self.instances[iid]
                self.released.append(iid)

    def _offered(self, itype: str, region: str, zone: str) -> bool:
        where = self.TYPES[itype][3]
        return where is None or zone in where.get(region, [])

    def used_vcpus(self, region: str, spot: bool) -> int:
        return sum(self.TYPES[i["InstanceType"]][0] for i in self.instances.values()
                   if i["RegionId"] == region and (i["SpotStrategy"] != "NoSpot") == spot)

    # -- regions, types, zones, quotas, images, prices
    def _DescribeRegions(self, region, q):
        return {"Regions": {"Region": [{"RegionId": r, "LocalName": r, "RegionEndpoint": f"ecs.{r}.aliyuncs.com",
                                        "Status": "available"} for r in self.REGIONS]}}

    def _DescribeInstanceTypes(self, region, q):
        wanted = self._list(q, "InstanceTypes")
        return {"InstanceTypes": {"InstanceType": [
            {"InstanceTypeId": t, "CpuCoreCount": c, "MemorySize": m, "GPUAmount": g,
             "InstanceTypeFamily": t.rsplit(".", 1)[0]} for t, (c, m, g, _) in self.TYPES.items()
            if not wanted or t in wanted]}}

    def _DescribeAvailableResource(self, region, q):
        if q.get("DestinationResource") != "InstanceType":
            raise Fail(400, "InvalidParameter", "DestinationResource: only InstanceType is served by this fake")
        itype = q.get("InstanceType", "")
        zones = []
        for z in self.REGIONS[region]:
            offered = itype in self.TYPES and self._offered(itype, region, z)
            stock = offered and not any(r["region"] == region and r.get("zone", z) == z for r in self.no_stock
                                        if r.get("times", 1) != 0 and r.get("listed", False))
            if offered:
                zones.append({"ZoneId": z, "RegionId": region, "Status": "Available", "StatusCategory": "WithStock",
                              "AvailableResources": {"AvailableResource": [{"Type": "InstanceType",
                                                                            "SupportedResources": {
                                  "SupportedResource": [{"Value": itype, "Status": "Available" if stock else
                                                         "SoldOut", "StatusCategory": "WithStock" if stock else
                                                         "WithoutStock"}]}}]}})
        return {"AvailableZones": {"AvailableZone": zones}}

    def _DescribeAccountAttributes(self, region, q):
        out = []
        for name in self._list(q, "AttributeName"):
            value = {"max-postpaid-instance-vcpu-count": self.QUOTA[region],
                     "used-postpaid-instance-vcpu-count": self.used_vcpus(region, False),
                     "max-spot-instance-vcpu-count": self.SPOT_QUOTA,
                     "used-spot-instance-vcpu-count": self.used_vcpus(region, True)}.get(name)
            if value is not None:
                out.append({"AttributeName": name, "AttributeValues": {"ValueItem": [
                    {"Value": str(value), "Count": 1}]}})
        return {"AccountAttributeItems": {"AccountAttributeItem": out}}

    def _image(self, name: str, made: str) -> dict:
        return {"ImageId": name, "ImageName": name, "CreationTime": made, "OSType": "linux", "Status": "Available",
                "ImageOwnerAlias": "system", "Architecture": "x86_64", "Size": 20,
                "OSName": name.split("_x64")[0].replace("_", " ").title(), "Platform": "Ubuntu"}

    def _DescribeImages(self, region, q):
        items = [self._image(n, made) for n, made in self.IMAGES
                 if q.get("ImageId", n) == n and (not q.get("ImageName") or q["ImageName"] in n)
                 and q.get("ImageOwnerAlias", "system") == "system" and q.get("OSType", "linux") == "linux"]
        if q.get("InstanceType") and q["InstanceType"] not in self.TYPES:
            items = []
        return self._page(items, q, ("Images", "Image"))

    def _DescribePrice(self, region, q):
        itype, spot = q.get("InstanceType", ""), q.get("SpotStrategy", "NoSpot") != "NoSpot"
        if q.get("PriceUnit") != "Hour" or q.get("ResourceType") != "instance":
            raise Fail(400, "InvalidParameter", "only hourly instance prices are served by this fake")
        if (itype, spot) not in self.PRICES:
            raise Fail(400, "InvalidInstanceType.ValueNotSupported", f"The specified InstanceType {itype} is not "
                                                                      "supported.")
        p = self.PRICES[(itype, spot)]
        return {"PriceInfo": {"Price": {"OriginalPrice": p, "DiscountPrice": 0.0, "TradePrice": p, "Currency": "USD",
                                        "DetailInfos": {"DetailInfo": []}}, "Rules": {"Rule": []}}}

    # -- VPCs and vSwitches
    def _DescribeVpcs(self, region, q):
        items = []
        for v in self.vpcs.values():
            if v["RegionId"] != region or q.get("VpcId", v["VpcId"]) != v["VpcId"]:
                continue
            if v["Status"] == "Pending" and v["_reads"] >= 1:
                v["Status"] = "Available"
            v["_reads"] += 1
            items.append({**self._view(v), "VSwitchIds": {"VSwitchId": [s["VSwitchId"] for s in
                                                                         self.vswitches.values()
                                                                         if s["VpcId"] == v["VpcId"]]}})
        return self._page(items, q, ("Vpcs", "Vpc"), size=2)

    def _CreateVpc(self, region, q):
        vid = f"vpc-{uuid.uuid4().hex[:20]}"
        self.vpcs[vid] = {"VpcId": vid, "RegionId": region, "VpcName": q.get("VpcName", ""),
                          "Description": q.get("Description", ""), "CidrBlock": q.get("CidrBlock", "172.16.0.0/12"),
                          "Status": "Pending", "CreationTime": _fmt(self.now(), True), "IsDefault": False,
                          "_reads": 0}
        return {"VpcId": vid, "VRouterId": f"vrt-{uuid.uuid4().hex[:20]}",
                "RouteTableId": f"vtb-{uuid.uuid4().hex[:20]}"}

    def _vpc(self, region: str, vid: str) -> dict:
        v = self.vpcs.get(vid)
        if v is None or v["RegionId"] != region:
            raise Fail(404, "InvalidVpcId.NotFound", f"Specified VPC {vid} does not exist.")
        return v

    def _ModifyVpcAttribute(self, region, q):
        v = self._vpc(region, q.get("VpcId", ""))
        for k in ("Description", "VpcName"):
            if k in q:
                v[k] = q[k]
        return {}

    def _DeleteVpc(self, region, q):
        v = self._vpc(region, q.get("VpcId", ""))
        if any(s["VpcId"] == v["VpcId"] for s in self.vswitches.values()):
            raise Fail(403, "DependencyViolation.VSwitch", "Specified VPC has vSwitches.")
        if any(g["VpcId"] == v["VpcId"] for g in self.groups.values()):
            raise Fail(403, "DependencyViolation.SecurityGroup", "Specified VPC has security groups.")
        del self.vpcs[v["VpcId"]]
        return {}

    def _DescribeVSwitches(self, region, q):
        items = []
        for s in self.vswitches.values():
            if s["RegionId"] == region and q.get("VpcId", s["VpcId"]) == s["VpcId"] and \
                    q.get("VSwitchId", s["VSwitchId"]) == s["VSwitchId"]:
                if s["Status"] == "Pending":
                    s["Status"] = "Available"
                items.append(self._view(s))
        return self._page(items, q, ("VSwitches", "VSwitch"))

    def _CreateVSwitch(self, region, q):
        v = self._vpc(region, q.get("VpcId", ""))
        if v["Status"] != "Available":
            raise Fail(400, "IncorrectVpcStatus", "The current status of the VPC does not support this operation.")
        if q.get("ZoneId") not in self.REGIONS[region]:
            raise Fail(400, "InvalidZoneId.NotFound", "The specified zone does not exist.")
        cidr = q.get("CidrBlock", "")
        if any(s["VpcId"] == v["VpcId"] and s["CidrBlock"] == cidr for s in self.vswitches.values()):
            raise Fail(400, "InvalidCidrBlock.Overlapped", "Specified CIDR block overlaps with other vSwitches.")
        sid = f"vsw-{uuid.uuid4().hex[:20]}"
        self.vswitches[sid] = {"VSwitchId": sid, "VpcId": v["VpcId"], "RegionId": region, "ZoneId": q["ZoneId"],
                               "CidrBlock": cidr, "VSwitchName": q.get("VSwitchName", ""),
                               "Description": q.get("Description", ""), "Status": "Pending",
                               "AvailableIpAddressCount": 252}
        return {"VSwitchId": sid}

    def _DeleteVSwitch(self, region, q):
        s = self.vswitches.get(q.get("VSwitchId", ""))
        if s is None or s["RegionId"] != region:
            raise Fail(404, "InvalidVSwitchId.NotFound", "The specified vSwitch does not exist.")
        if any(i["_vswitch"] == s["VSwitchId"] for i in self.instances.values()):
            raise Fail(403, "DependencyViolation", "Specified vSwitch still has instances.")
        del self.vswitches[s["VSwitchId"]]
        return {}

    # -- security groups
    def _DescribeSecurityGroups(self, region, q):
        want = self._tags(q)
        items = [{**self._view(g), **self._tag_view(g["_tags"])} for g in self.groups.values()
                 if g["RegionId"] == region and q.get("VpcId", g["VpcId"]) == g["VpcId"]
                 and q.get("SecurityGroupName", g["SecurityGroupName"]) == g["SecurityGroupName"]
                 and all(g["_tags"].get(k) == v if v is not None else k in g["_tags"] for k, v in want)]
        return self._page(items, q, ("SecurityGroups", "SecurityGroup"))

    def _CreateSecurityGroup(self, region, q):
        self._vpc(region, q.get("VpcId", ""))
        gid = f"sg-{uuid.uuid4().hex[:20]}"
        self.groups[gid] = {"SecurityGroupId": gid, "RegionId": region, "VpcId": q["VpcId"],
                            "SecurityGroupName": q.get("SecurityGroupName", ""), "Description": q.get(
                                "Description", ""), "SecurityGroupType": q.get("SecurityGroupType", "normal"),
                            "CreationTime": _fmt(self.now(), True), "_tags": dict(self._tags(q)),
                            "_permissions": []}
        return {"SecurityGroupId": gid}

    def _group(self, region: str, gid: str) -> dict:
        g = self.groups.get(gid)
        if g is None or g["RegionId"] != region:
            raise Fail(404, "InvalidSecurityGroupId.NotFound", "The specified SecurityGroupId does not exist.")
        return g

    def _AuthorizeSecurityGroup(self, region, q):
        g = self._group(region, q.get("SecurityGroupId", ""))
        n = 1
        while f"Permissions.{n}.IpProtocol" in q:
            p = {k: q.get(f"Permissions.{n}.{k}", "") for k in ("IpProtocol", "PortRange", "SourceCidrIp", "Policy",
                                                                 "Description")}
            if not re.fullmatch(r"\d+/\d+", p["PortRange"]):
                raise Fail(400, "InvalidPortRange.Malformed", "The specified parameter PortRange is not valid.")
            g["_permissions"].append({**p, "Policy": (p["Policy"] or "accept").capitalize(), "Direction": "ingress"})
            n += 1
        return {}

    def _DescribeSecurityGroupAttribute(self, region, q):
        g = self._group(region, q.get("SecurityGroupId", ""))
        return {"SecurityGroupId": g["SecurityGroupId"], "VpcId": g["VpcId"],
                "Permissions": {"Permission": [p for p in g["_permissions"]
                                               if q.get("Direction", "all") in ("all", p["Direction"])]}}

    def _DeleteSecurityGroup(self, region, q):
        g = self._group(region, q.get("SecurityGroupId", ""))
        if any(g["SecurityGroupId"] == i["_group"] for i in self.instances.values()):
            raise Fail(403, "DependencyViolation", "There is still instance(s) in the specified security group.")
        del self.groups[g["SecurityGroupId"]]
        return {}

    # -- key pairs
    def _ImportKeyPair(self, region, q):
        name, body = q.get("KeyPairName", ""), q.get("PublicKeyBody", "")
        if (region, name) in self.key_pairs:
            raise Fail(400, "KeyPair.AlreadyExist", "The key pair already exist.")
        try:
            text = body.split()[1]
            blob = base64.b64decode(text + "=" * (-len(text) % 4))
        except (IndexError, ValueError):
            raise Fail(400, "InvalidPublicKeyBody.Malformed", "The public key body is malformed.") from None
        fp = hashlib.md5(blob).hexdigest()  # noqa: S324 -- ECS's key pair fingerprint
        self.key_pairs[(region, name)] = {"KeyPairName": name, "KeyPairFingerPrint": fp, "_public_key": body,
                                          "_tags": dict(self._tags(q)), "CreationTime": _fmt(self.now(), True)}
        return {"KeyPairName": name, "KeyPairFingerPrint": fp}

    def _DescribeKeyPairs(self, region, q):
        items = [{**self._view(k), **self._tag_view(k["_tags"])} for (r, n), k in self.key_pairs.items()
                 if r == region and q.get("KeyPairName", n) == n]
        return self._page(items, q, ("KeyPairs", "KeyPair"))

    def _DeleteKeyPairs(self, region, q):
        for name in json.loads(q.get("KeyPairNames") or "[]"):
            self.key_pairs.pop((region, name), None)
        return {}

    # -- instances
    def _RunInstances(self, region, q):
        zone, itype, image = q.get("ZoneId", ""), q.get("InstanceType", ""), q.get("ImageId", "")
        if zone not in self.REGIONS[region]:
            raise Fail(400, "InvalidZoneId.NotFound", f"The specified zone {zone} does not exist.")
        if itype not in self.TYPES:
            raise Fail(400, "InvalidInstanceType.ValueNotSupported", f"The specified InstanceType {itype} is not "
                                                                      "supported.")
        if not self._offered(itype, region, zone):
            raise Fail(403, "InvalidResourceType.NotSupported", "This resource type is not supported; please try "
                                                                "other resource types.")
        if image not in {n for n, _ in self.IMAGES}:
            raise Fail(404, "InvalidImageId.NotFound", "The specified ImageId does not exist.")
        if q.get("InstanceChargeType") != "PostPaid":
            raise Fail(400, "InvalidParameter", "only PostPaid instances are served by this fake")
        at = q.get("AutoReleaseTime", "")
        if at:
            try:
                when = dt.datetime.strptime(at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
            except ValueError:
                raise Fail(400, "InvalidAutoReleaseTime.Malformed", "The specified AutoReleaseTime is invalid; "
                                                                    "use yyyy-MM-ddTHH:mm:ssZ in UTC.") from None
            if when < self.now() + dt.timedelta(minutes=30) or when > self.now() + dt.timedelta(days=3 * 365):
                raise Fail(400, "InvalidAutoReleaseTime.Malformed", "AutoReleaseTime must be at least 30 minutes "
                                                                    "and at most 3 years later than now.")
        s = self.vswitches.get(q.get("VSwitchId", ""))
        g = self.groups.get(q.get("SecurityGroupId", ""))
        if s is None or s["ZoneId"] != zone or s["Status"] != "Available":
            raise Fail(400, "InvalidVSwitchId.NotFound", "The specified vSwitch does not exist in this zone.")
        if g is None or g["VpcId"] != s["VpcId"]:
            raise Fail(400, "InvalidSecurityGroupId.NotFound", "The security group is not in the vSwitch's VPC.")
        if (region, q.get("KeyPairName", "")) not in self.key_pairs:
            raise Fail(404, "InvalidKeyPairName.NotFound", "The specified KeyPairName does not exist.")
        if int(q.get("SystemDisk.Size") or 40) < 20:
            raise Fail(400, "InvalidSystemDiskSize.LessThanImageSize", "The system disk is smaller than the image.")
        spot = q.get("SpotStrategy", "NoSpot")
        if spot not in ("NoSpot", "SpotAsPriceGo", "SpotWithPriceLimit"):
            raise Fail(400, "InvalidSpotStrategy", f"The specified SpotStrategy {spot} is invalid.")
        need = self.TYPES[itype][0]
        quota = self.SPOT_QUOTA if spot != "NoSpot" else self.QUOTA[region]
        if self.used_vcpus(region, spot != "NoSpot") + need > quota:
            raise Fail(403, "QuotaExceed.ElasticQuota", f"The number of vCPUs assigned to the ECS instances has "
                                                        f"exceeded the quota ({quota}) in the region {region}.")
        for rule in self.no_stock:
            if rule["region"] == region and rule.get("zone", zone) == zone and rule.get("times", 1) != 0:
                if "times" in rule:
                    rule["times"] -= 1
                raise Fail(403, "OperationDenied.NoStock", "The requested resource is sold out in the specified "
                                                           "zone; try other types of resources or other regions and "
                                                           "zones.")
        iid = f"i-{uuid.uuid4().hex[:20]}"
        tags = dict(self._tags(q))
        self.instances[iid] = {
            "InstanceId": iid, "InstanceName": q.get("InstanceName", ""), "RegionId": region, "ZoneId": zone,
            "InstanceType": itype, "ImageId": image, "Status": "Pending", "CreationTime": _fmt(self.now()),
            "InstanceChargeType": "PostPaid", "SpotStrategy": spot, "AutoReleaseTime": at,
            "KeyPairName": q.get("KeyPairName", ""), "Cpu": need, "Memory": int(self.TYPES[itype][1] * 1024),
            "InternetMaxBandwidthOut": int(q.get("InternetMaxBandwidthOut") or 0),
            "InternetChargeType": q.get("InternetChargeType", ""), "PublicIpAddress": {"IpAddress": []},
            "VpcAttributes": {"VpcId": s["VpcId"], "VSwitchId": s["VSwitchId"], "PrivateIpAddress": {"IpAddress": []}},
            "SecurityGroupIds": {"SecurityGroupId": [g["SecurityGroupId"]]}, "ExpiredTime": "2099-12-31T15:59Z",
            "_tags": tags, "_reads": 0, "_vswitch": s["VSwitchId"], "_group": g["SecurityGroupId"],
            "_user_data": q.get("UserData", ""), "_system_disk": {"Size": int(q.get("SystemDisk.Size") or 40),
                                                                  "Category": q.get("SystemDisk.Category", "")},
            "_client_token": q.get("ClientToken", "")}
        return {"InstanceIdSets": {"InstanceIdSet": [iid]}, "TradePrice": 0.0}

    def _advance(self, i: dict) -> None:
        """A read moves an instance on: Pending -> Starting -> Running (with its addresses); a deleted one is listed
        ``linger`` times as Stopping, then it is gone."""
        if i.get("_deleted"):
            i["_deleted"] += 1
            if i["_deleted"] > 1 + self.linger:
                del self.instances[i["InstanceId"]]
            return
        if i["Status"] == "Pending":
            i["Status"] = "Starting"
        elif i["Status"] == "Starting":
            i["Status"] = "Running"
            self.ips += 1
            if i["InternetMaxBandwidthOut"] > 0:
                i["PublicIpAddress"] = {"IpAddress": [f"198.18.{self.ips // 200}.{10 + self.ips % 200}"]}
            cidr = self.vswitches[i["_vswitch"]]["CidrBlock"].rsplit(".", 1)[0]
            i["VpcAttributes"]["PrivateIpAddress"] = {"IpAddress": [f"{cidr}.{10 + self.ips % 200}"]}

    def _DescribeInstances(self, region, q):
        want = self._tags(q)
        ids = json.loads(q["InstanceIds"]) if q.get("InstanceIds") else None
        items = []
        for i in list(self.instances.values()):
            if i["RegionId"] != region or (ids is not None and i["InstanceId"] not in ids):
                continue
            if not all(i["_tags"].get(k) == v if v else k in i["_tags"] for k, v in want):
                continue
            self._advance(i)
            if i["InstanceId"] in self.instances:
                items.append({**self._view(i), **self._tag_view(i["_tags"])})
        return self._page(items, q, ("Instances", "Instance"), size=2)

    def _DeleteInstances(self, region, q):
        ids = self._list(q, "InstanceId")
        missing = [x for x in ids if x not in self.instances or self.instances[x]["RegionId"] != region]
        if missing:
            raise Fail(404, "InvalidInstanceId.NotFound", f"The specified InstanceId {missing[0]} does not exist.")
        for x in ids:
            i = self.instances[x]
            if i["Status"] not in ("Stopped",) and str(q.get("Force")).lower() != "true":
                raise Fail(403, "IncorrectInstanceStatus", "The current status of the resource does not support "
                                                           "this operation; stop it first or use Force.")
            i["Status"], i["_deleted"] = "Stopping", i.get("_deleted") or 1
        return {}


class AlibabaInstanceHosts(AddressHosts):
    """Each Running instance of the fake becomes a real SSH host on this machine, as ``tests/cloudhosts.py``'s
    ``InstanceHosts`` does for EC2: its public address goes on the loopback device and an sshd listens there that
    accepts the instance's key pair (the public key ImportKeyPair was given). An instance released or stopped loses
    its sshd, everything it ran and its address. Needs root (``ip addr``) and openssh-server."""

    def __init__(self, cloud: FakeEcs, fleet):
        super().__init__(fleet)
        self.cloud = cloud

    def sync(self) -> None:
        with self.cloud.lock:
            insts = {}
            for iid, i in self.cloud.instances.items():
                kp = self.cloud.key_pairs.get((i["RegionId"], i["KeyPairName"]), {})
                ip = (i["PublicIpAddress"]["IpAddress"] or [""])[0]
                insts[iid] = ("gone" if i.get("_deleted") else i["Status"], ip, kp.get("_public_key", ""))
        for iid, (state, ip, key) in insts.items():
            if state == "Running" and iid not in self.up and ip:
                self._boot(iid, ip, key)
        for iid in list(self.up):
            if insts.get(iid, ("gone",))[0] != "Running":
                self.lose(iid)
