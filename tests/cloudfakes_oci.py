"""A local HTTPS Oracle Cloud Infrastructure for the real ``oci`` SDK (its clients, its request signing, its
pagination and its models).

One server plays every service of every region (built on ``FakeServer`` of tests/cloudfakes.py, so it shares its
TLS certificate and its injected error rules); the SDK's ``service_endpoint`` is ``<url>/<region>``:

    /<region>/20160918/...   Core Services (instances, shapes, images, VNIC attachments, VCNs, internet gateways,
                             route tables, security lists, subnets, VNICs) and Identity (region subscriptions,
                             availability domains), as the SDK calls them
    /<region>/20190729/...   Limits: services/compute/limits/<name>/resourceAvailability per availability domain

Every request must carry the SDK's signature header (``Signature version="1",keyId="<tenancy>/<user>/<fingerprint>"``
with the config's fingerprint): the fake checks who signed, not the signature itself. The config the tests use holds
a freshly generated RSA key so the SDK can sign.

OCI as a region behaves: a launched instance is PROVISIONING on its first read and RUNNING after, with a primary
VNIC on the run's subnet and a public address; a launch over a limit of its availability domain is refused with
400 LimitExceeded, one where ``no_capacity`` says so with 500 InternalError "Out of host capacity."; a terminated
instance is TERMINATING on its next read and TERMINATED (still listed, as OCI does) after; a subnet cannot be deleted
while a VNIC of a live instance is on it, nor a VCN while it has subnets, gateways, route tables or security lists of
its own (409 Conflict). Errors are OCI's own bodies ({"code", "message"}).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from pathlib import Path

from tests.cloudfakes import FakeServer
from tests.cloudhosts import AddressHosts


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class FakeOci(FakeServer):
    """One tenancy in three regions, in memory."""

    TENANCY = "ocid1.tenancy.oc1..aaaaaaaabenchfleettenancy0000000000000000000000000000"
    USER = "ocid1.user.oc1..aaaaaaaabenchfleetuser000000000000000000000000000000000"
    COMPARTMENT = "ocid1.compartment.oc1..aaaaaaaabenchfleetcompartment00000000000000000000000"
    PASSPHRASE = "bf-oci-key-passphrase-5e1d07"  # the tests look for it (and the key) in logs and results
    REGIONS = {"us-ashburn-1": "IAD", "us-phoenix-1": "PHX", "eu-frankfurt-1": "FRA"}
    # shape -> (ocpus, memory GB, gpus, flexible, quota names, where: {region: AD numbers} or None for every AD)
    SHAPES = {
        "VM.Standard.E4.Flex": (1, 16, 0, True, ["standard-e4-core-count", "standard-e4-memory-count"], None),
        "VM.Standard3.Flex": (1, 16, 0, True, ["standard3-core-count", "standard3-memory-count"], None),
        "VM.GPU.A10.1": (15, 240, 1, False, ["gpu-a10-count"], {"us-ashburn-1": [2], "eu-frankfurt-1": [1]}),
        "BM.GPU.H100.8": (112, 2048, 8, False, ["gpu-h100-count"], {"us-ashburn-1": [3]}),
    }
    # platform images every region lists: (display name, os, version, created, shapes it is for: None = x86)
    IMAGES = (
        ("Canonical-Ubuntu-22.04-2026.09.30-0", "Canonical Ubuntu", "22.04", "2026-10-02T08:00:00.000Z"),
        ("Canonical-Ubuntu-22.04-2026.11.14-0", "Canonical Ubuntu", "22.04", "2026-11-16T08:00:00.000Z"),
        ("Canonical-Ubuntu-22.04-Minimal-2026.11.14-0", "Canonical Ubuntu", "22.04 Minimal",
         "2026-11-16T09:00:00.000Z"),
        ("Canonical-Ubuntu-24.04-2026.11.20-0", "Canonical Ubuntu", "24.04", "2026-11-21T08:00:00.000Z"),
        ("Oracle-Linux-9.5-2026.11.01-0", "Oracle Linux", "9", "2026-11-02T08:00:00.000Z"),
    )
    # service limits per (region, AD number): {limit name: value}; anything not here: DEFAULT_LIMIT
    LIMITS = {("us-ashburn-1", 1): {"standard-e4-core-count": 4}, ("us-ashburn-1", 2): {"standard-e4-core-count": 0},
              ("us-ashburn-1", 3): {"standard-e4-core-count": 0}}
    DEFAULT_LIMIT = {"standard-e4-core-count": 64, "standard-e4-memory-count": 1024, "standard3-core-count": 64,
                     "standard3-memory-count": 1024, "gpu-a10-count": 2, "gpu-h100-count": 0}

    def __init__(self, folder: Path):
        self.folder = folder
        self.instances: dict[str, dict] = {}
        self.vnics: dict[str, dict] = {}
        self.attachments: dict[str, dict] = {}
        self.net: dict[str, dict] = {}  # id -> VCN, gateway, route table, security list, subnet (with "_kind")
        self.no_capacity: list[dict] = []  # {"region", "ad" (number, optional), "times" (optional)}
        self.signers: set[str] = set()  # keyIds that signed a request
        self.ips = 0
        # as OCI names them: a tenancy prefix and the region without its number (Xbf1:US-ASHBURN-AD-1)
        self.ads = {r: [f"Xbf1:{r.upper().rsplit('-', 1)[0]}-AD-{n}" for n in (1, 2, 3)] for r in self.REGIONS}
        self.images = {f"ocid1.image.oc1.{self.REGIONS[r].lower()}.{uuid.uuid5(uuid.NAMESPACE_URL, r + n).hex}":
                       (r, n, os_, v, made) for r in self.REGIONS for n, os_, v, made in self.IMAGES}
        super().__init__(folder)
        self.key_file, self.fingerprint = self._key()

    # -- what the tests use
    def _key(self) -> tuple[Path, str]:
        """A real RSA API key, encrypted with PASSPHRASE, and its fingerprint as OCI computes it (MD5 of the DER
        public key)."""
        import hashlib

        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        path = self.folder / "oci_api_key.pem"
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.BestAvailableEncryption(self.PASSPHRASE.encode())))
        path.chmod(0o600)
        der = key.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
        digest = hashlib.md5(der).hexdigest()  # noqa: S324 -- OCI's fingerprint is MD5
        return path, ":".join(digest[i:i + 2] for i in range(0, 32, 2))

    def config_file(self, fingerprint: str = "") -> Path:
        path = self.folder / "config"
        path.write_text(f"[DEFAULT]\nuser={self.USER}\nfingerprint={fingerprint or self.fingerprint}\n"
                        f"key_file={self.key_file}\ntenancy={self.TENANCY}\nregion=us-ashburn-1\n"
                        f"pass_phrase={self.PASSPHRASE}\n")
        path.chmod(0o600)
        return path

    def env(self) -> dict[str, str]:
        return {"OCI_CONFIG_FILE": str(self.config_file()), "OCI_CLI_PROFILE": "DEFAULT",
                "BENCHFLEET_OCI_ENDPOINT": self.url + "/{region}", "REQUESTS_CA_BUNDLE": str(self.cert)}

    def live(self) -> list[dict]:
        return [i for i in self.instances.values() if i["lifecycleState"] != "TERMINATED"]

    def of(self, kind: str) -> list[dict]:
        return [x for x in self.net.values() if x["_kind"] == kind and x["lifecycleState"] != "TERMINATED"]

    def public_ip(self, inst: dict) -> str:
        att = next((a for a in self.attachments.values() if a["instanceId"] == inst["id"]), None)
        return self.vnics[att["vnicId"]]["publicIp"] or "" if att else ""

    def preempt(self, iid: str) -> None:
        """OCI reclaims a preemptible instance: it is terminated (its VNIC goes with it)."""
        with self.lock:
            self._terminated(self.instances[iid])

    def user_data(self, inst: dict) -> str:
        import base64

        return base64.b64decode(inst["metadata"]["user_data"]).decode()

    # -- FakeServer
    def error(self, status, code, message):
        return status, {"code": code, "message": message}, {"opc-request-id": uuid.uuid4().hex.upper()}

    def handle(self, method, path, query, raw, headers):
        auth = headers.get("Authorization") or ""
        m = re.search(r'keyId="([^"]+)"', auth)
        if not auth.startswith("Signature ") or not m or 'version="1"' not in auth or "signature=" not in auth:
            return self.error(401, "NotAuthenticated", "The required information to complete authentication was "
                                                       "not provided or was incorrect.")
        if m.group(1) != f"{self.TENANCY}/{self.USER}/{self.fingerprint}":
            return self.error(401, "NotAuthenticated", "The required information to complete authentication was "
                                                       "not provided or was incorrect.")
        self.signers.add(m.group(1))
        pm = re.fullmatch(r"/([a-z0-9-]+)/(20160918|20190729)(/.*)", path)
        if not pm or pm.group(1) not in self.REGIONS:
            return self.error(404, "NotAuthorizedOrNotFound", f"{path} not served by this fake")
        region, rest = pm.group(1), pm.group(3)
        body = json.loads(raw) if raw else {}
        if pm.group(2) == "20190729":
            return self._limits(region, rest, query)
        c = query.get("compartmentId") or body.get("compartmentId")
        if c is not None and c not in (self.TENANCY, self.COMPARTMENT):
            return self.error(404, "NotAuthorizedOrNotFound", f"Authorization failed or requested resource not "
                                                              f"found for compartment {c}.")
        if rest.startswith("/tenancies/") and rest.endswith("/regionSubscriptions"):
            return 200, [{"regionKey": k, "regionName": r, "status": "READY", "isHomeRegion": r == "us-ashburn-1"}
                         for r, k in self.REGIONS.items()], None
        if rest == "/availabilityDomains":
            return 200, [{"name": a, "id": f"ocid1.availabilitydomain.oc1..{uuid.uuid5(uuid.NAMESPACE_URL, a).hex}",
                          "compartmentId": self.TENANCY} for a in self.ads[region]], None
        if rest == "/shapes" and method == "GET":
            return self._page([self._shape(s) for s in self.SHAPES if self._offered(s, region,
                                                                                      query.get("availabilityDomain"))],
                              query)
        if rest == "/images" and method == "GET":
            return self._images(region, query)
        m = re.fullmatch(r"/images/([^/]+)", rest)
        if m and method == "GET":
            if m.group(1) not in self.images or self.images[m.group(1)][0] != region:
                return self.error(404, "NotAuthorizedOrNotFound", "Authorization failed or requested resource not "
                                                                  "found.")
            return 200, self._image(m.group(1)), None
        if rest.startswith("/instances") or rest.startswith("/vnicAttachments") or rest.startswith("/vnics/"):
            return self._compute(region, method, rest, query, body)
        return self._network(region, method, rest, query, body)

    def _page(self, items: list, query: dict, size: int = 0):
        start = int(query.get("page") or 0)
        size = int(query.get("limit") or size or 1000)
        page = items[start:start + size]
        headers = {"opc-next-page": str(start + size)} if start + size < len(items) else {}
        return 200, page, headers

    # -- shapes, images, limits
    def _offered(self, shape: str, region: str, ad: str | None) -> bool:
        where = self.SHAPES[shape][5]
        if where is None:
            return True
        if region not in where:
            return False
        return ad is None or any(ad == self.ads[region][n - 1] for n in where[region])

    def _shape(self, name: str) -> dict:
        ocpus, mem, gpus, flex, quotas, _ = self.SHAPES[name]
        out = {"shape": name, "ocpus": ocpus, "memoryInGBs": mem, "gpus": gpus,
               "isFlexible": flex, "quotaNames": quotas, "isBilledForStoppedInstance": gpus > 0 and "A10" not in name,
               "processorDescription": "2.55 GHz AMD EPYC 7J13" if "E4" in name else "x86"}
        if flex:
            out["ocpuOptions"] = {"min": 1, "max": 64 if "E4" in name else 32}
            out["memoryOptions"] = {"minInGBs": 1, "maxInGBs": 1024 if "E4" in name else 512,
                                    "defaultPerOcpuInGBs": 16, "minPerOcpuInGBs": 1, "maxPerOcpuInGBs": 64}
        return out

    def _image(self, iid: str) -> dict:
        _, name, os_, v, made = self.images[iid]
        return {"id": iid, "displayName": name, "operatingSystem": os_, "operatingSystemVersion": v,
                "timeCreated": made, "lifecycleState": "AVAILABLE", "compartmentId": None, "createImageAllowed": True,
                "launchMode": "NATIVE", "listingType": "NONE", "sizeInMBs": 47694}

    def _images(self, region: str, query: dict):
        ids = [i for i, (r, name, os_, v, _) in self.images.items() if r == region
               and query.get("operatingSystem", os_) == os_ and query.get("operatingSystemVersion", v) == v
               and query.get("displayName", name) == name]
        ids.sort(key=lambda i: self.images[i][4], reverse=query.get("sortOrder") == "DESC")
        return self._page([self._image(i) for i in ids], query, size=1)  # one a page: the SDK follows the pages

    def limit(self, region: str, ad_number: int, name: str) -> int:
        return self.LIMITS.get((region, ad_number), {}).get(name, self.DEFAULT_LIMIT.get(name, 0))

    def used(self, region: str, ad: str, name: str) -> float:
        total = 0.0
        for i in self.live():
            if i["_region"] != region or i["availabilityDomain"] != ad:
                continue
            ocpus, mem, gpus, _, quotas, _ = self.SHAPES[i["shape"]]
            if name not in quotas:
                continue
            cfg = i["shapeConfig"]
            total += cfg["memoryInGBs"] if "memory" in name else cfg["gpus"] if name.startswith("gpu") else \
                cfg["ocpus"]
        return total

    def _limits(self, region: str, rest: str, query: dict):
        m = re.fullmatch(r"/services/([^/]+)/limits/([^/]+)/resourceAvailability", rest)
        if not m:
            return self.error(404, "NotAuthorizedOrNotFound", f"{rest} not served by this fake")
        name = m.group(2)
        if m.group(1) != "compute" or name not in self.DEFAULT_LIMIT:
            return self.error(404, "NotAuthorizedOrNotFound", f"Limit {name} not found for service {m.group(1)}")
        ad = query.get("availabilityDomain")
        if ad not in self.ads[region]:
            return self.error(400, "InvalidParameter", "availabilityDomain is required for AD-scoped limits")
        limit, used = self.limit(region, self.ads[region].index(ad) + 1, name), self.used(region, ad, name)
        return 200, {"used": used, "available": max(0, limit - used), "fractionalUsage": used,
                     "fractionalAvailability": max(0, limit - used), "effectiveQuotaValue": None}, None

    # -- instances
    def _compute(self, region: str, method: str, rest: str, query: dict, body: dict):
        if rest == "/instances" and method == "POST":
            return self._launch(region, body)
        if rest == "/instances" and method == "GET":
            items = [self._read_listed(i) for i in list(self.instances.values()) if i["_region"] == region
                     and query.get("compartmentId") == i["compartmentId"]]
            return self._page(items, query, size=2)
        m = re.fullmatch(r"/instances/([^/]+)", rest)
        if m:
            i = self.instances.get(m.group(1))
            if i is None or i["_region"] != region:
                return self.error(404, "NotAuthorizedOrNotFound", "Authorization failed or requested resource not "
                                                                  "found.")
            if method == "GET":
                return 200, self._read(i), None
            if method == "DELETE":
                if query.get("preserveBootVolume") != "false":
                    i["_boot_volume_kept"] = True
                if i["lifecycleState"] not in ("TERMINATING", "TERMINATED"):
                    i["lifecycleState"] = "TERMINATING"
                return 204, None, None
        if rest == "/vnicAttachments" and method == "GET":
            return self._page([a for a in self.attachments.values() if a["_region"] == region
                               and query.get("instanceId", a["instanceId"]) == a["instanceId"]], query)
        m = re.fullmatch(r"/vnics/([^/]+)", rest)
        if m and method == "GET" and m.group(1) in self.vnics:
            return 200, {k: v for k, v in self.vnics[m.group(1)].items() if not k.startswith("_")}, None
        return self.error(404, "NotAuthorizedOrNotFound", f"{method} {rest}: not served by this fake")

    def _view(self, i: dict) -> dict:
        return {k: v for k, v in i.items() if not k.startswith("_")}

    def _read_listed(self, i: dict) -> dict:
        """A listing moves a terminating instance on (TERMINATING once more, then TERMINATED)."""
        if i["lifecycleState"] == "TERMINATING":
            i["_term_reads"] = i.get("_term_reads", 0) + 1
            if i["_term_reads"] > 1:
                self._terminated(i)
        return self._view(i)

    def _terminated(self, i: dict) -> None:
        i["lifecycleState"] = "TERMINATED"
        for a in self.attachments.values():
            if a["instanceId"] == i["id"]:
                a["lifecycleState"] = "DETACHED"
                self.vnics[a["vnicId"]]["lifecycleState"] = "TERMINATED"

    def _read(self, i: dict) -> dict:
        """A read moves an instance on: PROVISIONING -> RUNNING (with its VNIC), TERMINATING -> TERMINATED."""
        if i["lifecycleState"] == "PROVISIONING":
            i["_reads"] += 1
            if i["_reads"] >= 2:
                i["lifecycleState"] = "RUNNING"
                self.ips += 1
                vid = f"ocid1.vnic.oc1.{self.REGIONS[i['_region']].lower()}.{uuid.uuid4().hex}"
                self.vnics[vid] = {"id": vid, "publicIp": f"203.0.113.{10 + self.ips % 200}",
                                   "privateIp": f"10.0.0.{1 + self.ips % 250}", "isPrimary": True,
                                   "lifecycleState": "AVAILABLE", "subnetId": i["_subnet"],
                                   "availabilityDomain": i["availabilityDomain"], "compartmentId": i["compartmentId"],
                                   "freeformTags": i["_vnic_tags"], "displayName": i["displayName"],
                                   "timeCreated": _now()}
                aid = f"ocid1.vnicattachment.oc1.{uuid.uuid4().hex}"
                self.attachments[aid] = {"id": aid, "instanceId": i["id"], "vnicId": vid, "subnetId": i["_subnet"],
                                         "lifecycleState": "ATTACHED", "availabilityDomain": i["availabilityDomain"],
                                         "compartmentId": i["compartmentId"], "nicIndex": 0, "timeCreated": _now(),
                                         "_region": i["_region"]}
        elif i["lifecycleState"] == "TERMINATING":
            self._terminated(i)
        return self._view(i)

    def _launch(self, region: str, body: dict):
        ad, shape = body.get("availabilityDomain"), body.get("shape")
        if ad not in self.ads[region]:
            return self.error(400, "InvalidParameter", f"Invalid availabilityDomain {ad!r}")
        if shape not in self.SHAPES or not self._offered(shape, region, ad):
            return self.error(400, "InvalidParameter", f"Shape {shape} is not valid for {ad}")
        ocpus, mem, gpus, flex, quotas, _ = self.SHAPES[shape]
        cfg = body.get("shapeConfig") or {}
        if flex and not cfg.get("ocpus"):
            return self.error(400, "InvalidParameter", "shapeConfig.ocpus is required for a flexible shape")
        if not flex and cfg:
            return self.error(400, "InvalidParameter", f"shapeConfig is not allowed for {shape}")
        src = body.get("sourceDetails") or {}
        if src.get("sourceType") != "image" or src.get("imageId") not in self.images or \
                self.images[src["imageId"]][0] != region:
            return self.error(404, "NotAuthorizedOrNotFound", f"Image {src.get('imageId')} not found")
        if (src.get("bootVolumeSizeInGBs") or 50) < 50:
            return self.error(400, "InvalidParameter", "bootVolumeSizeInGBs must be at least 50")
        vnic = body.get("createVnicDetails") or {}
        subnet = self.net.get(vnic.get("subnetId") or "")
        if subnet is None or subnet["_kind"] != "subnet" or subnet["lifecycleState"] != "AVAILABLE":
            return self.error(404, "NotAuthorizedOrNotFound", f"Subnet {vnic.get('subnetId')} not found")
        md = body.get("metadata") or {}
        if not str(md.get("ssh_authorized_keys", "")).startswith("ssh-"):
            return self.error(400, "InvalidParameter", "metadata.ssh_authorized_keys is not an SSH public key")
        if body.get("preemptibleInstanceConfig") and shape.startswith("BM."):
            return self.error(400, "InvalidParameter", "Preemptible instances are not supported for bare metal")
        want = {"ocpus": cfg.get("ocpus", ocpus), "memoryInGBs": cfg.get("memoryInGBs", mem), "gpus": gpus}
        n = self.ads[region].index(ad) + 1
        for q in quotas:
            need = want["memoryInGBs"] if "memory" in q else want["gpus"] if q.startswith("gpu") else want["ocpus"]
            if self.used(region, ad, q) + need > self.limit(region, n, q):
                return self.error(400, "LimitExceeded", f"You have reached your service limit of "
                                                        f"{self.limit(region, n, q)} for {q} in {ad}. Please try "
                                                        "launching the instance in a different availability domain "
                                                        "or Region, or try using a different shape.")
        for rule in self.no_capacity:
            if rule["region"] == region and rule.get("ad", n) == n and rule.get("times", 1) != 0:
                if "times" in rule:
                    rule["times"] -= 1
                return self.error(500, "InternalError", "Out of host capacity.")
        iid = f"ocid1.instance.oc1.{self.REGIONS[region].lower()}.{uuid.uuid4().hex}"
        self.instances[iid] = {
            "id": iid, "availabilityDomain": ad, "compartmentId": body.get("compartmentId"),
            "displayName": body.get("displayName"), "freeformTags": dict(body.get("freeformTags") or {}),
            "definedTags": {}, "lifecycleState": "PROVISIONING", "shape": shape, "region": region,
            "shapeConfig": {**want, "vcpus": int(want["ocpus"] * 2)}, "timeCreated": _now(),
            "metadata": dict(md), "imageId": src["imageId"], "faultDomain": "FAULT-DOMAIN-1",
            "sourceDetails": {"sourceType": "image", "imageId": src["imageId"],
                              "bootVolumeSizeInGBs": src.get("bootVolumeSizeInGBs")},
            "preemptibleInstanceConfig": body.get("preemptibleInstanceConfig"), "launchMode": "PARAVIRTUALIZED",
            "_region": region, "_reads": 0, "_subnet": subnet["id"], "_vnic_tags": vnic.get("freeformTags") or {},
            "_assign_public_ip": vnic.get("assignPublicIp")}
        return 200, self._view(self.instances[iid]), {"etag": uuid.uuid4().hex}

    # -- networking
    KINDS = {"vcns": "vcn", "internetGateways": "internet_gateway", "routeTables": "route_table",
             "securityLists": "security_list", "subnets": "subnet"}

    def _network(self, region: str, method: str, rest: str, query: dict, body: dict):
        m = re.fullmatch(r"/(vcns|internetGateways|routeTables|securityLists|subnets)(?:/([^/]+))?", rest)
        if not m:
            return self.error(404, "NotAuthorizedOrNotFound", f"{method} {rest}: not served by this fake")
        kind, oid = self.KINDS[m.group(1)], m.group(2)
        if oid is None and method == "GET":
            items = [self._net_view(x) for x in self.net.values() if x["_kind"] == kind and x["_region"] == region
                     and query.get("compartmentId") == x["compartmentId"]
                     and query.get("vcnId", x.get("vcnId")) == x.get("vcnId")
                     and query.get("displayName", x["displayName"]) == x["displayName"]]
            return self._page(items, query)
        if oid is None and method == "POST":
            return self._net_create(region, kind, body)
        x = self.net.get(oid or "")
        if x is None or x["_kind"] != kind or x["_region"] != region or x["lifecycleState"] == "TERMINATED":
            return self.error(404, "NotAuthorizedOrNotFound", "Authorization failed or requested resource not found.")
        if method == "GET":
            if x["lifecycleState"] == "PROVISIONING":
                x["lifecycleState"] = "AVAILABLE"
            return 200, self._net_view(x), None
        if method == "PUT":
            for k in ("freeformTags", "displayName", "ingressSecurityRules", "egressSecurityRules", "routeRules"):
                if k in body and body[k] is not None:
                    x[k] = body[k]
            return 200, self._net_view(x), None
        if method == "DELETE":
            busy = self._in_use(x)
            if busy:
                return self.error(409, "Conflict", f"The {kind} {oid} references {busy}; delete it first.")
            x["lifecycleState"] = "TERMINATED"
            if kind == "vcn":
                for d in (x["defaultRouteTableId"], x["defaultSecurityListId"]):
                    self.net[d]["lifecycleState"] = "TERMINATED"
            return 204, None, None
        return self.error(405, "MethodNotAllowed", method)

    def _in_use(self, x: dict) -> str:
        live = [y for y in self.net.values() if y["lifecycleState"] != "TERMINATED" and y is not x]
        if x["_kind"] == "vcn":
            mine = [y for y in live if y.get("vcnId") == x["id"] and y["id"] not in (x["defaultRouteTableId"],
                                                                                       x["defaultSecurityListId"])]
            return mine[0]["id"] if mine else ""
        if x["_kind"] == "subnet":
            on = [a for a in self.attachments.values()
                  if a["subnetId"] == x["id"] and a["lifecycleState"] == "ATTACHED"]
            return f"VNIC {on[0]['vnicId']} (instance {on[0]['instanceId']})" if on else ""
        if x["_kind"] in ("route_table", "security_list"):
            key = "routeTableId" if x["_kind"] == "route_table" else "securityListIds"
            users = [y for y in live if y["_kind"] == "subnet" and (y[key] == x["id"] or x["id"] in (y[key] or []))]
            return f"subnet {users[0]['id']}" if users else ""
        if x["_kind"] == "internet_gateway":
            users = [y for y in live if y["_kind"] == "route_table" and any(
                r.get("networkEntityId") == x["id"] for r in y.get("routeRules") or [])]
            return f"route table {users[0]['id']}" if users else ""
        return ""

    def _net_view(self, x: dict) -> dict:
        return {k: v for k, v in x.items() if not k.startswith("_")}

    def _net_create(self, region: str, kind: str, body: dict):
        if body.get("compartmentId") is None:
            return self.error(400, "MissingParameter", "compartmentId is required")
        oid = f"ocid1.{kind.replace('_', '')}.oc1.{self.REGIONS[region].lower()}.{uuid.uuid4().hex}"
        x = {"id": oid, "compartmentId": body["compartmentId"], "displayName": body.get("displayName") or oid,
             "freeformTags": dict(body.get("freeformTags") or {}), "definedTags": {}, "timeCreated": _now(),
             "lifecycleState": "PROVISIONING", "_kind": kind, "_region": region}
        if kind != "vcn":
            vcn = self.net.get(body.get("vcnId") or "")
            if vcn is None or vcn["_kind"] != "vcn" or vcn["lifecycleState"] == "TERMINATED":
                return self.error(404, "NotAuthorizedOrNotFound", f"VCN {body.get('vcnId')} not found")
            x["vcnId"] = vcn["id"]
        if kind == "vcn":
            x["cidrBlocks"] = body.get("cidrBlocks") or [body.get("cidrBlock")]
            x["cidrBlock"] = x["cidrBlocks"][0]
            for dk, d in (("defaultRouteTableId", "route_table"), ("defaultSecurityListId", "security_list")):
                did = f"ocid1.{d.replace('_', '')}.oc1.{self.REGIONS[region].lower()}.{uuid.uuid4().hex}"
                self.net[did] = {"id": did, "compartmentId": body["compartmentId"], "vcnId": oid, "_kind": d,
                                 "displayName": f"Default {d.replace('_', ' ').title()} for {x['displayName']}",
                                 "freeformTags": {}, "definedTags": {}, "timeCreated": _now(), "_region": region,
                                 "lifecycleState": "AVAILABLE", "routeRules": [], "egressSecurityRules": [
                                     {"destination": "0.0.0.0/0", "protocol": "all", "isStateless": False}],
                                 "ingressSecurityRules": [{"source": "0.0.0.0/0", "protocol": "6", "isStateless": False,
                                                           "tcpOptions": {"destinationPortRange": {"min": 22,
                                                                                                   "max": 22}}}]}
                if d == "route_table":
                    for k in ("egressSecurityRules", "ingressSecurityRules"):
                        self.net[did].pop(k)
                else:
                    self.net[did].pop("routeRules")
                x[dk] = did
            x["defaultDhcpOptionsId"] = f"ocid1.dhcpoptions.oc1.{uuid.uuid4().hex}"
        elif kind == "internet_gateway":
            x["isEnabled"] = body.get("isEnabled", True)
        elif kind == "route_table":
            x["routeRules"] = body.get("routeRules") or []
        elif kind == "security_list":
            x["ingressSecurityRules"] = body.get("ingressSecurityRules") or []
            x["egressSecurityRules"] = body.get("egressSecurityRules") or []
        elif kind == "subnet":
            x.update({"cidrBlock": body.get("cidrBlock"), "routeTableId": body.get("routeTableId"),
                      "securityListIds": body.get("securityListIds") or [],
                      "prohibitPublicIpOnVnic": body.get("prohibitPublicIpOnVnic", False),
                      "availabilityDomain": body.get("availabilityDomain"), "virtualRouterIp": "10.0.0.1",
                      "virtualRouterMac": "00:00:17:00:00:01"})
        self.net[oid] = x
        return 200, self._net_view(x), {"etag": uuid.uuid4().hex}


class OciInstanceHosts(AddressHosts):
    """Each RUNNING instance of the fake becomes a real SSH host on this machine, as ``tests/cloudhosts.py``'s
    ``InstanceHosts`` does for EC2: its public address goes on the loopback device and an sshd listens there that
    accepts the instance's ``ssh_authorized_keys`` metadata (as cloud-init would). An instance terminated or
    stopped loses its sshd, everything it ran and its address. Needs root (``ip addr``) and openssh-server."""

    def __init__(self, cloud: FakeOci, fleet):
        super().__init__(fleet)
        self.cloud = cloud

    def sync(self) -> None:
        with self.cloud.lock:
            insts = {iid: (i["lifecycleState"], self.cloud.public_ip(i), i["metadata"].get("ssh_authorized_keys", ""))
                     for iid, i in self.cloud.instances.items()}
        for iid, (state, ip, key) in insts.items():
            if state == "RUNNING" and iid not in self.up and ip:
                self._boot(iid, ip, key)
        for iid in list(self.up):
            if insts.get(iid, ("TERMINATED",))[0] != "RUNNING":
                self.lose(iid)
