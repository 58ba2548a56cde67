"""A local HTTPS OpenStack, as OVHcloud Public Cloud runs it, for the real openstacksdk and keystoneauth1.

One server plays every service of every region (built on ``FakeServer`` of tests/cloudfakes.py, so it shares its
TLS certificate and its injected error rules):

    /v3                           Keystone v3: POST /v3/auth/tokens (password) returns a token and a service
                                  catalog whose compute, network and image endpoints point back here, per region
    /<REGION>/compute/v2.1        Nova: servers (metadata, tags, user data), flavors, key pairs, limits,
                                  availability zones; microversions from the OpenStack-API-Version header
    /<REGION>/network/v2.0        Neutron: networks (Ext-Net), security groups and their rules
    /<REGION>/image/v2            Glance: images, paged with ``next`` links

Nova behaves as a region does: a server is BUILD on its first read and ACTIVE after (or ERROR with the fault "No
valid host was found" where ``no_valid_host`` says so); a deleted server is listed as deleting once more before it
goes; the cores, RAM and instance quotas of each region are enforced with Nova's 403 "Quota exceeded"; a security
group still used by a server cannot be deleted (Neutron's 409). Errors are the services' own bodies.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import urllib.parse
import uuid
from pathlib import Path

from tests.cloudfakes import FakeServer
from tests.cloudhosts import AddressHosts

MAX_MICROVERSION = "2.96"  # Nova of OpenStack 2023.2/2024.1


def _mv(headers) -> tuple[int, int]:
    raw = headers.get("OpenStack-API-Version") or ""
    m = re.search(r"compute\s+(\d+)\.(\d+)", raw) or re.match(r"(\d+)\.(\d+)",
                                                               headers.get("X-OpenStack-Nova-API-Version") or "")
    if not m:
        return (2, 1)
    return (int(m.group(1)), int(m.group(2)))


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeOpenStack(FakeServer):
    """OVHcloud's Keystone, Nova, Neutron and Glance for one project, in memory."""

    USER, DOMAIN = "user-bf7Kq2", "Default"
    PASSWORD = "bf-ovh-secret-password-81c4e2"  # the tests look for it (and the token) in logs and results
    PROJECT = "5f0e1c2d3b4a49e8a7c6b5d4e3f2a1b0"
    REGIONS = ("GRA11", "SBG5", "BHS5", "DE1", "UK1", "WAW1")
    # flavor -> (vCPUs, RAM MiB, disk GB, regions offering it: None for all), as OVHcloud lists them
    FLAVORS = {
        "b3-8": (2, 8000, 50, None), "b3-16": (4, 16000, 100, None), "c3-16": (8, 16000, 100, None),
        "t2-45": (15, 45000, 400, ("GRA11", "BHS5")), "l4-90": (22, 90000, 400, ("GRA11",)),
        "h100-380": (30, 380000, 200, ("GRA11",)),
    }
    # images every region lists: (name, created); two builds of Ubuntu 22.04, the newest wins
    IMAGES = (("Ubuntu 22.04", "2026-09-02T08:11:00Z"), ("Ubuntu 22.04", "2026-11-10T07:40:00Z"),
              ("Ubuntu 24.04", "2026-11-12T09:05:00Z"), ("Debian 12", "2026-10-20T10:00:00Z"),
              ("Rocky Linux 9", "2026-10-01T12:00:00Z"), ("Windows Server 2022 Standard (Desktop)",
                                                          "2026-11-01T00:00:00Z"))
    QUOTAS = {"GRA11": {"cores": 24, "ram": 98304, "instances": 10}}  # the others: DEFAULT_QUOTA
    DEFAULT_QUOTA = {"cores": 64, "ram": 409600, "instances": 20}
    ZONES = {"GRA11": ["nova"]}  # the others: ["nova"] too; a test may give a region three

    def __init__(self, folder: Path):
        self.tokens: set[str] = set()
        self.servers: dict[str, dict] = {}  # id -> server (with private "_region", "_reads", "_user_data")
        self.keypairs: dict[tuple[str, str], dict] = {}  # (region, name) -> key pair
        self.groups: dict[str, dict] = {}  # id -> security group (with "_region")
        self.rules_made: dict[str, dict] = {}  # security group rule id -> rule
        self.no_valid_host: list[dict] = []  # {"region", "flavor" (optional), "times" (optional)}
        self.ips = 0
        self.zones = {r: list(self.ZONES.get(r, ["nova"])) for r in self.REGIONS}
        self.flavor_ids = {(r, name): str(uuid.uuid5(uuid.NAMESPACE_URL, f"{r}/{name}"))
                           for name, (*_, where) in self.FLAVORS.items() for r in self.REGIONS
                           if where is None or r in where}
        self.images = {str(uuid.uuid5(uuid.NAMESPACE_URL, f"{r}/{name}/{made}")): (r, name, made)
                       for r in self.REGIONS for name, made in self.IMAGES}
        self.networks = {r: {"Ext-Net": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{r}/Ext-Net")),
                             "bf-private": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{r}/bf-private"))}
                         for r in self.REGIONS}
        super().__init__(folder)

    # -- what the tests use
    def env(self) -> dict[str, str]:
        """The variables of an OVHcloud openrc.sh (v3), pointed here."""
        return {"OS_AUTH_URL": f"{self.url}/v3", "OS_IDENTITY_API_VERSION": "3", "OS_USERNAME": self.USER,
                "OS_PASSWORD": self.PASSWORD, "OS_USER_DOMAIN_NAME": self.DOMAIN,
                "OS_PROJECT_DOMAIN_NAME": self.DOMAIN, "OS_PROJECT_ID": self.PROJECT, "OS_REGION_NAME": "GRA11",
                "OS_CACERT": str(self.cert), "OS_CLOUD": "", "OS_INTERFACE": "public"}

    def live(self, region: str | None = None) -> list[dict]:
        """Servers not deleted (a deleting one still counts until it is gone)."""
        return [s for s in self.servers.values() if region is None or s["_region"] == region]

    def public_ip(self, server: dict) -> str:
        return next((a["addr"] for a in server["addresses"].get("Ext-Net", []) if a["version"] == 4), "")

    def user_data(self, server: dict) -> str:
        return server["_user_data"]

    # -- FakeServer
    def error(self, status, code, message):
        if code.startswith("Neutron:"):
            return status, {"NeutronError": {"type": code.split(":", 1)[1], "message": message, "detail": ""}}, None
        return status, {code: {"code": status, "message": message}}, None

    def handle(self, method, path, query, raw, headers):
        if path in ("/", "/v3", "/v3/"):
            return 200, self._keystone_version(), None
        if path == "/v3/auth/tokens" and method == "POST":
            return self._token(json.loads(raw or b"{}"))
        m = re.fullmatch(r"/([A-Z0-9-]+)/(compute|network|image)(/.*)?", path)
        if not m or m.group(1) not in self.REGIONS:
            return self.error(404, "itemNotFound", f"{path} not served by this fake")
        region, service, rest = m.group(1), m.group(2), (m.group(3) or "/").rstrip("/") or "/"
        if rest in ("/", "/v2.1", "/v2.0", "/v2"):
            return 200, self._versions(region, service, rest), None
        if headers.get("X-Auth-Token") not in self.tokens:
            return 401, {"error": {"code": 401, "title": "Unauthorized",
                                   "message": "The request you have made requires authentication."}}, None
        body = json.loads(raw) if raw else {}
        if service == "compute" and rest.startswith("/v2.1/"):
            return self._nova(region, method, rest[len("/v2.1"):], query, body, _mv(headers))
        if service == "network" and rest.startswith("/v2.0/"):
            return self._neutron(region, method, rest[len("/v2.0"):], query, body)
        if service == "image" and rest.startswith("/v2/"):
            return self._glance(region, method, rest[len("/v2"):], query)
        return self.error(404, "itemNotFound", f"{method} {path} not served by this fake")

    # -- Keystone
    def _keystone_version(self):
        return {"version": {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
                            "links": [{"rel": "self", "href": f"{self.url}/v3/"}],
                            "media-types": [{"base": "application/json",
                                             "type": "application/vnd.openstack.identity-v3+json"}]}}

    def _token(self, body: dict):
        ident = (body.get("auth") or {}).get("identity") or {}
        user = ((ident.get("password") or {}).get("user")) or {}
        scope = ((body.get("auth") or {}).get("scope") or {}).get("project") or {}
        if ident.get("methods") != ["password"] or user.get("name") != self.USER or \
                user.get("password") != self.PASSWORD or scope.get("id", self.PROJECT) != self.PROJECT:
            return 401, {"error": {"code": 401, "title": "Unauthorized",
                                   "message": "The request you have made requires authentication."}}, None
        token = "gAAAAAB" + uuid.uuid4().hex + uuid.uuid4().hex
        self.tokens.add(token)
        now = dt.datetime.now(dt.timezone.utc)

        def endpoints(service: str, suffix: str) -> list[dict]:
            return [{"id": uuid.uuid4().hex, "interface": "public", "region": r, "region_id": r,
                     "url": f"{self.url}/{r}/{service}{suffix}"} for r in self.REGIONS]

        catalog = [
            {"type": "identity", "name": "keystone", "id": "k", "endpoints": [
                {"id": "k1", "interface": "public", "region": "GRA", "region_id": "GRA", "url": f"{self.url}/v3"}]},
            {"type": "compute", "name": "nova", "id": "n", "endpoints": endpoints("compute", "/v2.1")},
            {"type": "network", "name": "neutron", "id": "q", "endpoints": endpoints("network", "/")},
            {"type": "image", "name": "glance", "id": "g", "endpoints": endpoints("image", "/")},
        ]
        out = {"token": {
            "methods": ["password"], "issued_at": now.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
            "expires_at": (now + dt.timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
            "user": {"id": "u" + self.USER, "name": self.USER, "domain": {"id": "default", "name": self.DOMAIN},
                     "password_expires_at": None},
            "project": {"id": self.PROJECT, "name": "1234567890123456", "domain": {"id": "default",
                                                                                    "name": self.DOMAIN}},
            "roles": [{"id": "r1", "name": "member"}], "catalog": catalog, "is_domain": False}}
        return 201, out, {"X-Subject-Token": token}

    def _versions(self, region: str, service: str, rest: str):
        base = f"{self.url}/{region}/{service}"
        if service == "compute":
            v = {"id": "v2.1", "status": "CURRENT", "version": MAX_MICROVERSION, "min_version": "2.1",
                 "updated": "2013-07-23T11:33:21Z", "links": [{"rel": "self", "href": f"{base}/v2.1/"}]}
            return {"version": v} if rest == "/v2.1" else {"versions": [v]}
        if service == "network":
            v = {"id": "v2.0", "status": "CURRENT", "links": [{"rel": "self", "href": f"{base}/v2.0/"}]}
            return {"versions": [v]} if rest == "/" else {"resources": []}
        return {"versions": [{"id": "v2.16", "status": "CURRENT", "links": [{"rel": "self", "href": f"{base}/v2/"}]},
                             {"id": "v2.0", "status": "SUPPORTED", "links": [
                                 {"rel": "self", "href": f"{base}/v2/"}]}]}

    # -- Nova
    def _quota(self, region: str) -> dict:
        return self.QUOTAS.get(region, self.DEFAULT_QUOTA)

    def _used(self, region: str) -> dict:
        used = {"cores": 0, "ram": 0, "instances": 0}
        for s in self.live(region):
            used["cores"] += s["flavor"]["vcpus"]
            used["ram"] += s["flavor"]["ram"]
            used["instances"] += 1
        return used

    def _flavor(self, region: str, name: str) -> dict:
        cpus, ram, disk, _ = self.FLAVORS[name]
        return {"id": self.flavor_ids[(region, name)], "name": name, "vcpus": cpus, "ram": ram, "disk": disk,
                "OS-FLV-EXT-DATA:ephemeral": 0, "swap": "", "rxtx_factor": 1.0, "os-flavor-access:is_public": True,
                "OS-FLV-DISABLED:disabled": False, "description": None, "extra_specs": {},
                "links": [{"rel": "self", "href": f"{self.url}/{region}/compute/v2.1/flavors/"
                                                  f"{self.flavor_ids[(region, name)]}"}]}

    def _server_view(self, s: dict, mv: tuple[int, int]) -> dict:
        out = {k: v for k, v in s.items() if not k.startswith("_")}
        if mv < (2, 47):
            out["flavor"] = {"id": s["_flavor_id"], "links": []}
        else:
            out["flavor"] = {"original_name": s["flavor"]["name"], "vcpus": s["flavor"]["vcpus"],
                             "ram": s["flavor"]["ram"], "disk": s["flavor"]["disk"], "ephemeral": 0, "swap": 0,
                             "extra_specs": {}}
        if mv < (2, 26):
            out.pop("tags", None)
        return out

    def _nova(self, region: str, method: str, rest: str, query: dict, body: dict, mv: tuple[int, int]):
        if rest in ("/flavors/detail", "/flavors") and method == "GET":
            names = [n for (r, n) in self.flavor_ids if r == region]
            return 200, {"flavors": [self._flavor(region, n) for n in names]}, None
        m = re.fullmatch(r"/flavors/([^/]+)", rest)
        if m and method == "GET":
            name = next((n for (r, n), i in self.flavor_ids.items() if r == region and m.group(1) in (i,)), None)
            if name is None:
                return self.error(404, "itemNotFound", f"Flavor {m.group(1)} could not be found.")
            return 200, {"flavor": self._flavor(region, name)}, None
        if rest == "/limits" and method == "GET":
            q, u = self._quota(region), self._used(region)
            return 200, {"limits": {"rate": [], "absolute": {
                "maxTotalCores": q["cores"], "totalCoresUsed": u["cores"], "maxTotalRAMSize": q["ram"],
                "totalRAMUsed": u["ram"], "maxTotalInstances": q["instances"], "totalInstancesUsed": u["instances"],
                "maxServerMeta": 128, "maxImageMeta": 128, "maxPersonality": 5, "maxPersonalitySize": 10240,
                "maxTotalKeypairs": 100, "maxServerGroups": 10, "maxServerGroupMembers": 10,
                "maxSecurityGroups": 10, "maxSecurityGroupRules": 20, "maxTotalFloatingIps": 10,
                "totalFloatingIpsUsed": 0, "totalSecurityGroupsUsed": 0, "totalServerGroupsUsed": 0}}}, None
        if rest == "/os-availability-zone" and method == "GET":
            return 200, {"availabilityZoneInfo": [{"zoneName": z, "zoneState": {"available": True}, "hosts": None}
                                                  for z in self.zones[region]]}, None
        if rest == "/os-keypairs":
            if method == "GET":
                return 200, {"keypairs": [{"keypair": {k: v for k, v in kp.items()}}
                                          for (r, _), kp in self.keypairs.items() if r == region]}, None
            if method == "POST":
                kp = body.get("keypair") or {}
                name, pub = kp.get("name", ""), kp.get("public_key", "")
                if (region, name) in self.keypairs:
                    return self.error(409, "conflictingRequest", f"Key pair '{name}' already exists.")
                if not pub.startswith("ssh-"):
                    return self.error(400, "badRequest", "Keypair data is invalid: failed to generate fingerprint")
                self.keypairs[(region, name)] = {"name": name, "public_key": pub, "type": "ssh",
                                                 "fingerprint": "fp:" + str(abs(hash(pub)) % 10 ** 12),
                                                 "user_id": "u" + self.USER}
                return 200, {"keypair": self.keypairs[(region, name)]}, None
        m = re.fullmatch(r"/os-keypairs/([^/]+)", rest)
        if m:
            kp = self.keypairs.get((region, m.group(1)))
            if kp is None:
                return self.error(404, "itemNotFound", f"Keypair {m.group(1)} not found for user u{self.USER}")
            if method == "GET":
                return 200, {"keypair": {**kp, "created_at": "2026-11-28T10:00:00.000000", "deleted": False,
                                         "id": 1}}, None
            if method == "DELETE":
                del self.keypairs[(region, m.group(1))]
                return 202, None, None
        if rest == "/servers" and method == "POST":
            return self._create(region, body.get("server") or {}, mv)
        if rest in ("/servers/detail", "/servers") and method == "GET":
            out = []
            for s in list(self.live(region)):
                if "tags" in query and mv >= (2, 26):
                    if not set(query["tags"].split(",")) <= set(s.get("tags") or []):
                        continue
                if "name" in query and not re.search(query["name"], s["name"]):
                    continue
                out.append(self._read(s, mv))
            return 200, {"servers": out}, None
        m = re.fullmatch(r"/servers/([^/]+)", rest)
        if m:
            s = self.servers.get(m.group(1))
            if s is None or s["_region"] != region:
                return self.error(404, "itemNotFound", "Instance could not be found.")
            if method == "GET":
                return 200, {"server": self._read(s, mv)}, None
            if method == "DELETE":
                s["OS-EXT-STS:task_state"] = "deleting"
                s["_deleting"] = 1  # listed once more, then gone
                return 204, None, None
        return self.error(404, "itemNotFound", f"{method} /compute/v2.1{rest}: not served by this fake")

    def _read(self, s: dict, mv: tuple[int, int]) -> dict:
        """A read of a server moves it on: BUILD -> ACTIVE (or ERROR), deleting -> gone."""
        if "_deleting" in s:
            s["_deleting"] -= 1
            if s["_deleting"] < 0:
                self.servers.pop(s["id"], None)
        elif s["status"] == "BUILD":
            s["_reads"] += 1
            if s["_reads"] >= 2:
                if s.get("_no_host"):
                    s.update({"status": "ERROR", "OS-EXT-STS:vm_state": "error", "fault": {
                        "code": 500, "created": _now(), "message": "No valid host was found. There are not enough "
                                                                   "hosts available."}})
                else:
                    self.ips += 1
                    s.update({"status": "ACTIVE", "OS-EXT-STS:vm_state": "active", "OS-EXT-STS:power_state": 1,
                              "OS-SRV-USG:launched_at": _now(), "addresses": {"Ext-Net": [
                                  {"version": 4, "addr": f"203.0.113.{130 + self.ips % 120}",
                                   "OS-EXT-IPS:type": "fixed", "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:00:00:01"},
                                  {"version": 6, "addr": f"2001:db8:ffff::{self.ips:x}", "OS-EXT-IPS:type": "fixed",
                                   "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:00:00:01"}]}})
        return self._server_view(s, mv)

    def _create(self, region: str, body: dict, mv: tuple[int, int]):
        allowed = {"name", "imageRef", "flavorRef", "key_name", "networks", "security_groups", "metadata",
                   "user_data", "availability_zone", "tags", "block_device_mapping_v2", "config_drive",
                   "description", "min_count", "max_count", "OS-DCF:diskConfig"}
        extra = sorted(set(body) - allowed)
        if extra:
            return self.error(400, "badRequest", f"Invalid input for field/attribute server. Additional properties "
                                                 f"are not allowed ({extra[0]!r} was unexpected)")
        if "tags" in body and mv < (2, 52):
            return self.error(400, "badRequest", "Invalid input for field/attribute server. Additional properties "
                                                 "are not allowed ('tags' was unexpected)")
        flavor = next((n for (r, n), i in self.flavor_ids.items() if r == region and i == body.get("flavorRef")),
                      None)
        if flavor is None:
            return self.error(400, "badRequest", "Invalid flavorRef provided.")
        image = self.images.get(body.get("imageRef", ""))
        if image is None or image[0] != region:
            return self.error(400, "badRequest", f"Image {body.get('imageRef')} could not be found.")
        if body.get("key_name") and (region, body["key_name"]) not in self.keypairs:
            return self.error(400, "badRequest", "Invalid key_name provided.")
        for sg in body.get("security_groups") or []:
            if not any(g["name"] == sg.get("name") and g["_region"] == region for g in self.groups.values()):
                return self.error(400, "badRequest", f"Security group {sg.get('name')} not found for project "
                                                     f"{self.PROJECT}.")
        nets = body.get("networks")
        if not nets or nets == "auto":
            return self.error(409, "conflictingRequest", "Multiple possible networks found, use a Network ID to be "
                                                         "more specific.")
        for n in nets:
            if n.get("uuid") not in self.networks[region].values():
                return self.error(400, "badRequest", f"Network {n.get('uuid')} could not be found.")
        if body.get("availability_zone") and body["availability_zone"] not in self.zones[region]:
            return self.error(400, "badRequest", "The requested availability zone is not available")
        try:
            user_data = base64.b64decode(body.get("user_data") or "", validate=True).decode()
        except ValueError:
            return self.error(400, "badRequest", "User data needs to be valid base 64.")
        for k, v in (body.get("metadata") or {}).items():
            if not isinstance(v, str) or len(k) > 255 or len(v) > 255:
                return self.error(400, "badRequest", f"Invalid input for field/attribute metadata. Value: {k}")
        for t in body.get("tags") or []:
            if len(t) > 60 or "," in t or "/" in t:
                return self.error(400, "badRequest", f"Invalid input for field/attribute tags. Value: {t}")
        cpus, ram, disk, _ = self.FLAVORS[flavor]
        q, u = self._quota(region), self._used(region)
        for what, need in (("cores", cpus), ("ram", ram), ("instances", 1)):
            if u[what] + need > q[what]:
                return self.error(403, "forbidden", f"Quota exceeded for {what}: Requested {need}, but already used "
                                                    f"{u[what]} of {q[what]} {what}")
        no_host = False
        for rule in self.no_valid_host:
            if rule["region"] == region and rule.get("flavor", flavor) == flavor and rule.get("times", 1) != 0:
                rule["times"] = rule.get("times", -1) - 1 if "times" in rule else -1
                no_host = True
                break
        sid = str(uuid.uuid4())
        self.servers[sid] = {
            "id": sid, "name": body.get("name", ""), "status": "BUILD", "tenant_id": self.PROJECT,
            "user_id": "u" + self.USER, "metadata": dict(body.get("metadata") or {}),
            "tags": list(body.get("tags") or []),
            "created": _now(), "updated": _now(), "addresses": {}, "key_name": body.get("key_name"),
            "image": {"id": body["imageRef"]}, "flavor": {"name": flavor, "vcpus": cpus, "ram": ram, "disk": disk},
            "security_groups": [{"name": g["name"]} for g in body.get("security_groups") or []],
            "OS-EXT-AZ:availability_zone": body.get("availability_zone") or self.zones[region][0],
            "OS-EXT-STS:task_state": None, "OS-EXT-STS:vm_state": "building", "OS-EXT-STS:power_state": 0,
            "accessIPv4": "", "accessIPv6": "", "hostId": "", "progress": 0, "config_drive": "",
            "links": [{"rel": "self", "href": f"{self.url}/{region}/compute/v2.1/servers/{sid}"}],
            "_region": region, "_reads": 0, "_user_data": user_data, "_flavor_id": body["flavorRef"],
            "_no_host": no_host, "_networks": [n["uuid"] for n in nets]}
        return 202, {"server": {"id": sid, "links": self.servers[sid]["links"], "OS-DCF:diskConfig": "MANUAL",
                                "security_groups": self.servers[sid]["security_groups"],
                                "adminPass": "bf-admin-pass-never-used"}}, None

    # -- Neutron
    def _neutron(self, region: str, method: str, rest: str, query: dict, body: dict):
        if rest == "/networks" and method == "GET":
            nets = [{"id": i, "name": n, "status": "ACTIVE", "router:external": n == "Ext-Net",
                     "shared": n == "Ext-Net", "admin_state_up": True, "subnets": [], "tags": [],
                     "project_id": self.PROJECT}
                    for n, i in self.networks[region].items() if query.get("name", n) == n]
            return 200, {"networks": nets}, None
        if rest == "/security-groups":
            if method == "GET":
                out = [self._sg_view(g) for g in self.groups.values() if g["_region"] == region
                       and query.get("name", g["name"]) == g["name"]]
                return 200, {"security_groups": out}, None
            if method == "POST":
                sg = body.get("security_group") or {}
                if len(sg.get("description", "")) > 255:
                    return self.error(400, "Neutron:HTTPBadRequest", "Invalid input for description. Reason: "
                                                                     "too long (max 255).")
                gid = str(uuid.uuid4())
                self.groups[gid] = {"id": gid, "name": sg.get("name", ""), "description": sg.get("description", ""),
                                    "project_id": self.PROJECT, "tenant_id": self.PROJECT, "tags": [],
                                    "stateful": True, "created_at": _now(), "updated_at": _now(),
                                    "revision_number": 1, "_region": region}
                for eth in ("IPv4", "IPv6"):  # Neutron's default egress rules of a new group
                    self._add_rule({"security_group_id": gid, "direction": "egress", "ethertype": eth})
                return 201, {"security_group": self._sg_view(self.groups[gid])}, None
        m = re.fullmatch(r"/security-groups/([^/]+)", rest)
        if m:
            g = self.groups.get(m.group(1))
            if g is None or g["_region"] != region:
                return self.error(404, "Neutron:SecurityGroupNotFound", f"Security group {m.group(1)} does not "
                                                                         "exist")
            if method == "GET":
                return 200, {"security_group": self._sg_view(g)}, None
            if method == "PUT":
                for k in ("name", "description"):
                    if k in (body.get("security_group") or {}):
                        g[k] = body["security_group"][k]
                g["revision_number"] += 1
                return 200, {"security_group": self._sg_view(g)}, None
            if method == "DELETE":
                if any(any(x["name"] == g["name"] for x in s["security_groups"]) for s in self.live(region)):
                    return self.error(409, "Neutron:SecurityGroupInUse", f"Security Group {g['id']} in use.")
                del self.groups[g["id"]]
                for rid in [r for r, rule in self.rules_made.items() if rule["security_group_id"] == g["id"]]:
                    del self.rules_made[rid]
                return 204, None, None
        if rest == "/security-group-rules":
            if method == "GET":
                gid = query.get("security_group_id")
                return 200, {"security_group_rules": [r for r in self.rules_made.values()
                                                      if gid in (None, r["security_group_id"])]}, None
            if method == "POST":
                rule = body.get("security_group_rule") or {}
                g = self.groups.get(rule.get("security_group_id", ""))
                if g is None or g["_region"] != region:
                    return self.error(404, "Neutron:SecurityGroupNotFound", "Security group does not exist")
                prefix = rule.get("remote_ip_prefix")
                if prefix and (":" in prefix) != (rule.get("ethertype") == "IPv6"):
                    return self.error(400, "Neutron:HTTPBadRequest", f"Conflicting value ethertype "
                                                                     f"{rule.get('ethertype')} for CIDR {prefix}")
                return 201, {"security_group_rule": self._add_rule(rule)}, None
        return self.error(404, "Neutron:HTTPNotFound", f"{method} /network/v2.0{rest}: not served by this fake")

    def _add_rule(self, rule: dict) -> dict:
        rid = str(uuid.uuid4())
        full = {"id": rid, "security_group_id": rule["security_group_id"], "direction": rule.get("direction"),
                "ethertype": rule.get("ethertype", "IPv4"), "protocol": rule.get("protocol"),
                "port_range_min": rule.get("port_range_min"), "port_range_max": rule.get("port_range_max"),
                "remote_ip_prefix": rule.get("remote_ip_prefix"), "remote_group_id": rule.get("remote_group_id"),
                "description": rule.get("description", ""), "project_id": self.PROJECT, "tenant_id": self.PROJECT}
        self.rules_made[rid] = full
        return full

    def _sg_view(self, g: dict) -> dict:
        return {**{k: v for k, v in g.items() if not k.startswith("_")},
                "security_group_rules": [r for r in self.rules_made.values() if r["security_group_id"] == g["id"]]}

    # -- Glance
    def _glance(self, region: str, method: str, rest: str, query: dict):
        def view(iid: str) -> dict:
            r, name, made = self.images[iid]
            return {"id": iid, "name": name, "status": "active", "visibility": "public", "created_at": made,
                    "updated_at": made, "disk_format": "raw", "container_format": "bare", "min_disk": 0,
                    "min_ram": 0, "os_hidden": False, "protected": False, "tags": [], "size": 2361393152,
                    "self": f"/v2/images/{iid}", "schema": "/v2/schemas/image"}

        if rest == "/images" and method == "GET":
            ids = sorted((i for i, (r, name, _) in self.images.items() if r == region
                          and query.get("name", name) == name), key=lambda i: self.images[i][2], reverse=True)
            limit = int(query.get("limit") or 2)  # two a page: the client has to follow "next"
            if query.get("marker"):
                ids = ids[ids.index(query["marker"]) + 1:] if query["marker"] in ids else []
            page = {"images": [view(i) for i in ids[:limit]], "first": "/v2/images", "schema": "/v2/schemas/images"}
            if len(ids) > limit:
                extra = urllib.parse.urlencode({k: v for k, v in query.items() if k not in ("marker", "limit")})
                page["next"] = f"/v2/images?marker={ids[limit - 1]}&limit={limit}" + (f"&{extra}" if extra else "")
            return 200, page, None
        m = re.fullmatch(r"/images/([^/]+)", rest)
        if m and method == "GET":
            if m.group(1) not in self.images or self.images[m.group(1)][0] != region:
                return 404, {"message": f"No image found with ID {m.group(1)}", "code": "404 Not Found",
                             "title": "Not Found"}, None
            return 200, view(m.group(1)), None
        return 404, {"message": f"{method} /image/v2{rest}: not served by this fake"}, None


class OpenStackInstanceHosts(AddressHosts):
    """Each ACTIVE server of the fake becomes a real SSH host on this machine, as ``tests/cloudhosts.py``'s
    ``InstanceHosts`` does for EC2: its public address goes on the loopback device and an sshd listens there that
    accepts the server's key pair (read back from Nova, as cloud-init would). A server deleted, halted or in
    ERROR loses its sshd, everything it ran and its address. Needs root (``ip addr``) and openssh-server."""

    def __init__(self, cloud: FakeOpenStack, fleet):
        super().__init__(fleet)
        self.cloud = cloud

    def sync(self) -> None:
        with self.cloud.lock:
            servers = {sid: (s["status"], s.get("OS-EXT-STS:task_state"), self.cloud.public_ip(s), s["_region"],
                             s.get("key_name")) for sid, s in self.cloud.servers.items()}
            keys = {k: kp["public_key"] for k, kp in self.cloud.keypairs.items()}
        for sid, (status, task, ip, region, key_name) in servers.items():
            if status == "ACTIVE" and task != "deleting" and sid not in self.up and ip:
                self._boot(sid, ip, keys[(region, key_name)])
        for sid in list(self.up):
            status, task = servers.get(sid, ("DELETED", None))[:2]
            if status != "ACTIVE" or task == "deleting":
                self.lose(sid)
