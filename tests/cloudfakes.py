"""Small local HTTPS servers that speak the REST calls benchfleet's Azure and GCP providers make, so the
real SDK clients (azure-mgmt-*, google-cloud-compute) and their real credential chains run against them.

Both serve over TLS with a certificate made for the test (REQUESTS_CA_BUNDLE points at it), issue tokens
the way the standard chains fetch them (App Service managed identity for Azure, an authorized-user token
endpoint for Google), keep resources in memory, make clients poll long-running operations, and answer
with injected errors (capacity, quota) by rule.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import http.server
import json
import re
import ssl
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

TOKEN = "bf-fake-access-token-93b1"


_CERT: tuple[Path, Path] | None = None


def make_cert(folder: Path) -> tuple[Path, Path]:
    """One certificate for every fake in this process, so one REQUESTS_CA_BUNDLE serves them all."""
    global _CERT
    if _CERT is None:
        import tempfile

        _CERT = _new_cert(Path(tempfile.mkdtemp(prefix="benchfleet-fake-tls-")))
    return _CERT


def _new_cert(folder: Path) -> tuple[Path, Path]:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return folder / "cert.pem", folder / "key.pem"


class FakeServer:
    """Base: TLS, JSON, a request log, error rules: {"method", "path" (regex), "body" (substring), "status",
    "code", "message", "times" (how often; default always)}."""

    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.cert, key = make_cert(folder)
        self.rules: list[dict] = []
        self.log: list[tuple[str, str, int]] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _do(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                with fake.lock:
                    status, body, headers = fake.injected(self.command, url.path, raw) or fake.handle(
                        self.command, url.path, query, raw, self.headers)
                    fake.log.append((self.command, url.path, status))
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _do

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, key)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()

    def injected(self, method: str, path: str, raw: bytes):
        for rule in self.rules:
            if rule.get("method", method) == method and re.search(rule.get("path", ""), path) and \
                    rule.get("body", "") in raw.decode(errors="replace") and rule.get("times", 1) != 0:
                if "times" in rule:
                    rule["times"] -= 1
                return self.error(rule["status"], rule["code"], rule.get("message", f"injected: {rule['code']}"))
        return None

    def error(self, status: int, code: str, message: str):
        raise NotImplementedError

    def handle(self, method, path, query, raw, headers):
        raise NotImplementedError


class FakeAzure(FakeServer):
    """Azure Resource Manager: generic resources by path, resource groups (cascading delete), async PUT and
    DELETE operations that need polling, compute usages for the quota check, VM instance views (power state),
    VM auto-shutdown schedules (Microsoft.DevTestLab/schedules, validated as Azure does, and run by
    ``deallocate_due``), and the App Service managed identity token endpoint that DefaultAzureCredential finds
    through IDENTITY_ENDPOINT/IDENTITY_HEADER."""

    IDENTITY_HEADER = "bf-identity-secret-7d41c0"
    # VM size -> (vCPUs, quota family, {region: zones}), as the resource SKU listing gives them
    SKUS = {
        "Standard_D2s_v5": (2, "standardDSv5Family", {"eastus": ["1", "2", "3"], "westus2": ["1", "2", "3"]}),
        "Standard_D4s_v5": (4, "standardDSv5Family", {"eastus": ["1", "2", "3"], "westus2": ["1", "2", "3"]}),
        "Standard_NC24ads_A100_v4": (24, "StandardNCADSA100v4Family", {"eastus": ["2", "3"]}),
        "Standard_ND96isr_H100_v5": (96, "standardNDSH100v5Family", {"eastus": ["2"], "westus2": ["1"]}),
    }
    # marketplace images as Azure lists them: (publisher, offer, sku) -> versions (every region here)
    IMAGES = {
        ("Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2"): ["22.04.202610140", "22.04.202611120"],
        ("Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts"): ["22.04.202611120"],
        ("Canonical", "ubuntu-24_04-lts", "server"): ["24.04.202610010", "24.04.202611180"],
        ("Canonical", "ubuntu-24_04-lts", "server-arm64"): ["24.04.202611180"],
        ("Debian", "debian-12", "12-gen2"): ["0.20261021.1904", "0.20261115.1935"],
    }
    # regional vCPU quotas: every family together ("cores"), and each family's own
    QUOTA_LIMITS = {"cores": 100, "standardDSv5Family": 48, "StandardNCADSA100v4Family": 24,
                    "standardNDSH100v5Family": 0}
    QUOTA_NAMES = {"cores": "Total Regional vCPUs", "standardDSv5Family": "Standard DSv5 Family vCPUs",
                   "StandardNCADSA100v4Family": "Standard NCADS_A100_v4 Family vCPUs",
                   "standardNDSH100v5Family": "Standard NDSH100v5 Family vCPUs"}

    def __init__(self, folder: Path, subscription: str = "00000000-0000-4000-8000-00000000b00f"):
        self.subscription = subscription
        self.resources: dict[str, dict] = {}  # lower-case id -> resource
        self.operations: dict[str, list[str]] = {}  # id -> statuses still to report
        self.ips = 0
        self.power: dict[str, str] = {}  # lower-case VM id -> power state (running until a schedule deallocates)
        self.schedule_made: dict[str, dt.datetime] = {}  # lower-case schedule id -> when it was made
        super().__init__(folder)

    def deallocate_due(self, now: dt.datetime) -> list[str]:
        """Run the auto-shutdown schedules as Azure does at ``now``: each enabled one whose daily time (UTC) has
        come since it was made deallocates its VM. Returns the VMs deallocated."""
        done = []
        for sid, made in self.schedule_made.items():
            sched = self.resources.get(sid)
            if sched is None or sched["properties"].get("status") != "Enabled":
                continue
            hhmm = sched["properties"]["dailyRecurrence"]["time"]
            first = made.replace(hour=int(hhmm[:2]), minute=int(hhmm[2:]), second=0, microsecond=0)
            if first <= made:
                first += dt.timedelta(days=1)
            vm = sched["properties"]["targetResourceId"].lower()
            if now >= first and vm in self.resources and self.power.get(vm) != "deallocated":
                self.power[vm] = "deallocated"
                done.append(self.resources[vm]["name"])
        return done

    def _schedule_problem(self, name: str, props: dict) -> str:
        """What Azure refuses in a VM auto-shutdown schedule (ComputeVmShutdownTask)."""
        target = str(props.get("targetResourceId", "")).lower()
        if target not in self.resources or not target.split("/providers/")[-1].startswith(
                "microsoft.compute/virtualmachines/"):
            return f"targetResourceId {props.get('targetResourceId')!r} is not a virtual machine"
        if name.lower() != "shutdown-computevm-" + self.resources[target]["name"].lower():
            return f"a VM's shutdown schedule is named shutdown-computevm-<vm name>, not {name}"
        if props.get("taskType") != "ComputeVmShutdownTask" or props.get("status") not in ("Enabled", "Disabled"):
            return "taskType must be ComputeVmShutdownTask and status Enabled or Disabled"
        t = str((props.get("dailyRecurrence") or {}).get("time", ""))
        if not re.fullmatch(r"([01]\d|2[0-3])[0-5]\d", t):
            return f"dailyRecurrence.time {t!r} is not HHmm"
        if props.get("timeZoneId") != "UTC":  # the only zone this fake knows (Azure takes Windows zone ids)
            return f"timeZoneId {props.get('timeZoneId')!r} unknown"
        return ""

    def env(self) -> dict[str, str]:
        return {"IDENTITY_ENDPOINT": f"{self.url}/msi/token", "IDENTITY_HEADER": self.IDENTITY_HEADER,
                "AZURE_SUBSCRIPTION_ID": self.subscription, "BENCHFLEET_AZURE_ARM_ENDPOINT": self.url,
                "REQUESTS_CA_BUNDLE": str(self.cert), "AZURE_CLIENT_ID": "", "MSI_ENDPOINT": ""}

    def error(self, status, code, message):
        return status, {"error": {"code": code, "message": message}}, None

    def _op(self, statuses: list[str]) -> str:
        op = uuid.uuid4().hex
        self.operations[op] = statuses
        return f"{self.url}/subscriptions/{self.subscription}/providers/Microsoft.Fake/operations/{op}"

    def handle(self, method, path, query, raw, headers):
        if path == "/msi/token":
            if headers.get("X-IDENTITY-HEADER") != self.IDENTITY_HEADER:
                return 401, {"error": "bad identity header"}, None
            return 200, {"access_token": TOKEN, "expires_on": str(int(time.time()) + 3600),
                         "resource": query.get("resource", ""), "token_type": "Bearer"}, None
        if headers.get("Authorization") != f"Bearer {TOKEN}":
            return self.error(401, "InvalidAuthenticationToken", "no or a wrong token")
        key = path.lower().rstrip("/")
        m = re.match(r".*/providers/microsoft\.fake/operations/(\w+)$", key)
        if m:
            left = self.operations.get(m.group(1), [])
            status = left.pop(0) if left else "Succeeded"
            if status == "Deleting":
                return 202, None, {"Location": self.url + path, "retry-after-ms": "100"}
            if status in ("InProgress",):
                return 200, {"status": status}, {"retry-after-ms": "100"}
            return 200, {"status": status} if status != "Deleted" else None, None
        m = re.match(r"(.*/providers/microsoft\.compute/virtualmachines/[^/]+)/instanceview$", key)
        if m and method == "GET":
            if m.group(1) not in self.resources:
                return self.error(404, "ResourceNotFound", f"{path} not found")
            return 200, {"statuses": [{"code": "ProvisioningState/succeeded"},
                                      {"code": f"PowerState/{self.power.get(m.group(1), 'running')}"}]}, None
        m = re.match(r".*/providers/microsoft\.compute/locations/([^/]+)/usages$", key)
        if m:
            used: dict[str, int] = {}
            for r in self.resources.values():
                if r["type"].lower().endswith("virtualmachines") and r["location"] == m.group(1):
                    cpus, family, _ = self.SKUS.get(r["properties"]["hardwareProfile"]["vmSize"], (2, "other", {}))
                    for name in ("cores", family):
                        used[name] = used.get(name, 0) + cpus
            return 200, {"value": [{"name": {"value": n, "localizedValue": self.QUOTA_NAMES[n]},
                                    "currentValue": used.get(n, 0),
                                    "limit": lim, "unit": "Count"} for n, lim in self.QUOTA_LIMITS.items()]}, None
        m = re.match(r".*/providers/microsoft\.compute/locations/([^/]+)/publishers/([^/]+)/artifacttypes/vmimage/"
                     r"offers/([^/]+)/skus/([^/]+)/versions$", key)
        if m and method == "GET":
            found = {(p.lower(), o.lower(), k.lower()): v for (p, o, k), v in self.IMAGES.items()}
            versions = found.get((m.group(2), m.group(3), m.group(4)))
            if versions is None:
                return self.error(404, "NotFound", f"Artifact: VMImage was not found: {path}")
            return 200, [{"name": v, "location": m.group(1), "id": f"{path}/{v}"} for v in versions], None
        if key.endswith("/providers/microsoft.compute/skus") and method == "GET":
            loc = re.search(r"location eq '([^']+)'", query.get("$filter", ""))
            return 200, {"value": [
                {"resourceType": "virtualMachines", "name": name, "tier": "Standard", "family": family,
                 "size": name.split("_", 1)[1], "locations": [region],
                 "locationInfo": [{"location": region, "zones": zones}],
                 "capabilities": [{"name": "vCPUs", "value": str(cpus)}], "restrictions": []}
                for name, (cpus, family, where) in self.SKUS.items() for region, zones in where.items()
                if not loc or loc.group(1) == region]}, None
        if method == "PUT":
            return self._put(path, key, json.loads(raw or b"{}"))
        if method == "GET":
            if key in self.resources:
                return 200, self.resources[key], None
            items = self._children(key)
            if items is not None:
                flt = query.get("$filter", "")
                tn = re.search(r"tagName eq '([^']+)'", flt)
                tv = re.search(r"tagValue eq '([^']+)'", flt)
                if tn:
                    items = [r for r in items if tn.group(1) in (r.get("tags") or {})
                             and (not tv or r["tags"][tn.group(1)] == tv.group(1))]
                return 200, {"value": items}, None
            return self.error(404, "ResourceNotFound", f"{path} not found")
        if method == "DELETE":
            if key not in self.resources:
                return 204, None, None
            for k in [k for k in self.resources if k == key or k.startswith(key + "/")]:
                del self.resources[k]
                self.power.pop(k, None)
                self.schedule_made.pop(k, None)
            return 202, None, {"Location": self._op(["Deleting", "Deleted"]), "retry-after-ms": "100"}
        return self.error(405, "MethodNotAllowed", method)

    def _children(self, key: str):
        """A collection GET: the resources directly of that type under that parent."""
        parts = key.split("/")
        if key.endswith("/resourcegroups"):
            return [r for k, r in self.resources.items() if re.fullmatch(re.escape(key) + r"/[^/]+", k)]
        if len(parts) >= 2 and parts[-2].startswith("microsoft."):
            return [r for k, r in self.resources.items() if re.fullmatch(re.escape(key) + r"/[^/]+", k)]
        return None

    def _put(self, path: str, key: str, body: dict):
        parts = path.rstrip("/").split("/")
        rtype = ("Microsoft.Resources/resourceGroups" if parts[-2].lower() == "resourcegroups"
                 else f"{parts[-4]}/{parts[-2]}" if len(parts) >= 4 else parts[-2])
        if "/resourcegroups/" in key and rtype != "Microsoft.Resources/resourceGroups":
            rg = key.split("/providers/")[0]
            if rg not in self.resources:
                return self.error(404, "ResourceGroupNotFound", f"resource group of {path} not found")
        res = {**body, "id": path.rstrip("/"), "name": parts[-1], "type": rtype}
        props = res.setdefault("properties", {})
        existed = key in self.resources
        if rtype == "Microsoft.Resources/resourceGroups":
            props["provisioningState"] = "Succeeded"
            self.resources[key] = res
            return (200 if existed else 201), res, None
        if f"{parts[-3]}/{parts[-2]}".lower() == "microsoft.devtestlab/schedules":
            problem = self._schedule_problem(parts[-1], props)
            if problem:
                return self.error(400, "InvalidSchedule", problem)
            self.schedule_made[key] = dt.datetime.now(dt.timezone.utc)
        props["provisioningState"] = "Succeeded"
        if rtype.lower().endswith("publicipaddresses"):
            self.ips += 1
            props["ipAddress"] = f"20.0.{self.ips // 250}.{self.ips % 250 + 1}"
        if rtype.lower().endswith("networkinterfaces"):
            for c in props.get("ipConfigurations", []):
                c.setdefault("properties", {})["privateIPAddress"] = f"10.42.0.{self.ips + 3}"
        if rtype.lower().endswith("virtualnetworks"):
            for sn in props.get("subnets", []):
                sn["id"] = f"{res['id']}/subnets/{sn['name']}"
                sub = {**sn, "type": "Microsoft.Network/virtualNetworks/subnets"}
                self.resources[sn["id"].lower()] = sub
        if rtype.lower().endswith("virtualmachines"):
            ref = props.get("storageProfile", {}).get("imageReference", {})
            known = {(p.lower(), o.lower(), k.lower()): v for (p, o, k), v in self.IMAGES.items()}
            versions = known.get((str(ref.get("publisher", "")).lower(), str(ref.get("offer", "")).lower(),
                                  str(ref.get("sku", "")).lower()))
            if "id" not in ref and (versions is None or ref.get("version") not in ("latest", *versions)):
                return self.error(404, "PlatformImageNotFound", f"The platform image '{ref.get('publisher')}:"
                                  f"{ref.get('offer')}:{ref.get('sku')}:{ref.get('version')}' is not available.")
            props["timeCreated"] = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self.resources[key] = res
        # Creating, then polled until Succeeded (the client must follow the async operation)
        shown = {**res, "properties": {**props, "provisioningState": "Creating"}}
        return 201, shown, {"Azure-AsyncOperation": self._op(["InProgress", "Succeeded"]), "retry-after-ms": "100"}

    def groups(self) -> list[str]:
        return [r["name"] for k, r in self.resources.items() if r["type"] == "Microsoft.Resources/resourceGroups"]


class FakeGcp(FakeServer):
    """Compute Engine v1: instances (insert, get, aggregated list with label filters, delete), firewalls,
    regions (quotas), zone and global operations that report RUNNING before DONE, and the OAuth token
    endpoint an authorized-user credentials file (GOOGLE_APPLICATION_CREDENTIALS) names."""

    CLIENT_EMAIL = "benchfleet-test@bf-test-project.iam.gserviceaccount.com"
    # machine type -> (vCPUs, zones offering it), as Compute Engine lists them: accelerator types in a few zones
    MACHINE_TYPES = {
        "e2-standard-2": (2, ["us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f", "europe-west4-a",
                              "europe-west4-b", "europe-west4-c"]),
        "n2-standard-4": (4, ["us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f", "europe-west4-a",
                              "europe-west4-b", "europe-west4-c"]),
        "n2-standard-16": (16, ["us-central1-a", "us-central1-b", "europe-west4-a"]),
        "g2-standard-8": (8, ["us-central1-a", "us-central1-b", "europe-west4-c"]),
        "a3-highgpu-8g": (208, ["us-central1-a"]),
    }
    # public images as Compute Engine lists them: (project, family) -> the family's images, oldest first
    IMAGES = {
        ("ubuntu-os-cloud", "ubuntu-2204-lts"): ["ubuntu-2204-jammy-v20261015", "ubuntu-2204-jammy-v20261118"],
        ("ubuntu-os-cloud", "ubuntu-2204-lts-arm64"): ["ubuntu-2204-jammy-arm64-v20261118"],
        ("ubuntu-os-cloud", "ubuntu-2404-lts-amd64"): ["ubuntu-2404-noble-amd64-v20261120"],
        ("debian-cloud", "debian-12"): ["debian-12-bookworm-v20261014", "debian-12-bookworm-v20261111"],
        ("rocky-linux-cloud", "rocky-linux-9"): ["rocky-linux-9-v20261105"],
    }
    # Compute Engine's SKUs in the Cloud Billing Catalog: (description, usage type, regions, USD, unit); decoys of
    # other kinds (custom, commitment) beside
    BILLING_SKUS = [
        ("N2 Custom Instance Core running in Americas", "OnDemand", ["us-central1"], 0.033174, "h"),
        ("N2 Instance Core running in Americas", "OnDemand", ["us-central1", "us-east1"], 0.031611, "h"),
        ("Commitment v1: N2 Cpu in Americas for 1 Year", "Commit1Yr", ["us-central1"], 0.019915, "h"),
        ("N2 Instance Ram running in Americas", "OnDemand", ["us-central1", "us-east1"], 0.004237, "GiBy.h"),
        ("Spot Preemptible N2 Instance Core running in Americas", "Preemptible", ["us-central1"], 0.00765, "h"),
        ("Spot Preemptible N2 Instance Ram running in Americas", "Preemptible", ["us-central1"], 0.001025, "GiBy.h"),
        ("N2 Instance Core running in Netherlands", "OnDemand", ["europe-west4"], 0.0348, "h"),
        ("N2 Instance Ram running in Netherlands", "OnDemand", ["europe-west4"], 0.004664, "GiBy.h"),
        ("E2 Instance Core running in Americas", "OnDemand", ["us-central1"], 0.021811, "h"),
        ("E2 Instance Ram running in Americas", "OnDemand", ["us-central1"], 0.002923, "GiBy.h"),
    ]
    # regional quota limits: every family's vCPUs together, and each family's own (N2_CPUS, ...)
    QUOTA_LIMITS = {"CPUS": 24.0, "N2_CPUS": 24.0, "E2_CPUS": 24.0, "G2_CPUS": 8.0, "A3_CPUS": 0.0}

    def __init__(self, folder: Path, project: str = "bf-test-project"):
        self.project = project
        self.instances: dict[str, dict] = {}  # zone/name -> instance
        self.firewalls: dict[str, dict] = {}
        self.operations: dict[str, dict] = {}
        self.n = 0
        self.folder = folder
        super().__init__(folder)

    def env(self) -> dict[str, str]:
        """A service-account key file (its token_uri is this server), as GOOGLE_APPLICATION_CREDENTIALS."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        creds = self.folder / "adc.json"
        if not getattr(self, "private_key", None):
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.private_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()).decode()
            creds.write_text(json.dumps({
                "type": "service_account", "project_id": self.project, "private_key_id": "bf-test-key",
                "private_key": self.private_key, "client_email": self.CLIENT_EMAIL, "client_id": "1",
                "token_uri": f"{self.url}/token"}))
        return {"GOOGLE_APPLICATION_CREDENTIALS": str(creds), "GOOGLE_CLOUD_PROJECT": self.project,
                "BENCHFLEET_GCP_COMPUTE_ENDPOINT": self.url, "REQUESTS_CA_BUNDLE": str(self.cert)}

    def _authorized(self, header: str) -> bool:
        """An access token from /token, or the self-signed JWT google-auth makes from the service account key
        (checked against that key)."""
        from tests import jwt_check

        return header == f"Bearer {TOKEN}" or jwt_check.valid(header.removeprefix("Bearer "), self.private_key,
                                                                self.CLIENT_EMAIL)

    def error(self, status, code, message):
        # Errors come back the way Compute reports them: a finished operation that carries the error.
        op = self._op("zone", "us-central1-a", error={"errors": [{"code": code, "message": message}]},
                      status_code=status, message=message)
        return 200, op, None

    def _op(self, scope: str, where: str, target: str = "", error: dict | None = None, status_code: int = 200,
            message: str = "") -> dict:
        name = f"operation-{uuid.uuid4().hex[:12]}"
        op = {"kind": "compute#operation", "name": name, "status": "RUNNING" if not error else "DONE",
              "targetLink": target, "progress": 0}
        if scope == "zone":
            op["zone"] = f"{self.url}/compute/v1/projects/{self.project}/zones/{where}"
        if error:
            op.update(error=error, httpErrorStatusCode=status_code, httpErrorMessage=message)
        self.operations[name] = op
        return op

    def image(self, project: str, family: str | None, name: str) -> dict | None:
        """An image by name, or a family's newest (images.get, images.getFromFamily)."""
        for (proj, fam), names in self.IMAGES.items():
            if proj != project or (family and fam != name) or (not family and name not in names):
                continue
            chosen = names[-1] if family else name
            return {"kind": "compute#image", "name": chosen, "family": fam, "status": "READY",
                    "selfLink": f"{self.url}/compute/v1/projects/{proj}/global/images/{chosen}", "architecture":
                    "ARM64" if "arm64" in fam else "X86_64", "diskSizeGb": "10"}
        return None

    def quotas(self, region: str) -> list[dict]:
        used: dict[str, float] = {}
        for i in self.instances.values():
            if not i["zone"].rsplit("/", 1)[-1].startswith(region + "-"):
                continue
            mtype = i["machineType"].rsplit("/", 1)[-1]
            cpus = self.MACHINE_TYPES.get(mtype, (2, []))[0]
            for metric in ("CPUS", f"{mtype.split('-')[0].upper()}_CPUS"):
                used[metric] = used.get(metric, 0.0) + cpus
        return [{"metric": m, "limit": lim, "usage": used.get(m, 0.0)} for m, lim in self.QUOTA_LIMITS.items()]

    def handle(self, method, path, query, raw, headers):
        if path == "/token":
            import base64

            form = dict(urllib.parse.parse_qsl(raw.decode()))
            claims = form.get("assertion", "..").split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
            if claims.get("iss") != self.CLIENT_EMAIL:
                return 400, {"error": "invalid_grant"}, None
            return 200, {"access_token": TOKEN, "expires_in": 3600, "token_type": "Bearer"}, None
        if not self._authorized(headers.get("Authorization") or ""):
            return 401, {"error": {"code": 401, "message": "no or a wrong token", "errors": [
                {"reason": "authError", "message": "bad token"}]}}, None
        if path == "/v1/services/6F81-5844-456A/skus" and method == "GET":
            start = int(query.get("pageToken") or 0)  # three SKUs a page: the reader has to follow nextPageToken
            skus = [{"name": f"services/6F81-5844-456A/skus/{k:04X}-{k:04X}-{k:04X}", "skuId": f"{k:04X}",
                     "description": d, "category": {"serviceDisplayName": "Compute Engine", "resourceFamily":
                                                    "Compute", "usageType": usage},
                     "serviceRegions": regions, "pricingInfo": [{"pricingExpression": {
                         "usageUnit": unit, "tieredRates": [{"startUsageAmount": 0, "unitPrice": {
                             "currencyCode": "USD", "units": str(int(usd)), "nanos": round((usd % 1) * 1e9)}}]}}]}
                    for k, (d, usage, regions, usd, unit) in enumerate(self.BILLING_SKUS)]
            page = {"skus": skus[start:start + 3]}
            if start + 3 < len(skus):
                page["nextPageToken"] = str(start + 3)
            return 200, page, None
        m = re.fullmatch(r"/compute/v1/projects/([^/]+)/global/images/(family/)?([^/]+)", path)
        if m and method == "GET":
            image = self.image(*m.groups())
            if image is None:
                return 404, {"error": {"code": 404, "message": f"The resource 'projects/{m.group(1)}/global/images/"
                                       f"{m.group(2) or ''}{m.group(3)}' was not found",
                                       "errors": [{"reason": "notFound"}]}}, None
            return 200, image, None
        base = f"/compute/v1/projects/{self.project}"
        if not path.startswith(base):
            return 404, {"error": {"code": 404, "message": f"{path} not found",
                                   "errors": [{"reason": "notFound"}]}}, None
        rest = path[len(base):]
        m = re.fullmatch(r"/(?:zones/[^/]+|global)/operations/([^/]+)", rest)
        if m:
            op = self.operations[m.group(1)]
            if op["status"] == "RUNNING":  # reported once, then done: the client has to poll
                op = self.operations[m.group(1)] = {**op, "status": "DONE", "progress": 100}
                return 200, {**op, "status": "RUNNING"}, None
            return 200, op, None
        m = re.fullmatch(r"/regions/([^/]+)", rest)
        if m:
            return 200, {"name": m.group(1), "quotas": self.quotas(m.group(1))}, None
        if rest == "/aggregated/machineTypes":
            want = re.search(r'name = "([^"]+)"', query.get("filter", ""))
            items: dict[str, dict] = {}
            for name, (cpus, zones) in self.MACHINE_TYPES.items():
                if want and not fnmatch.fnmatchcase(name, want.group(1)):  # the filter's * as Compute Engine's
                    continue
                for zone in zones:
                    items.setdefault(f"zones/{zone}", {"machineTypes": []})["machineTypes"].append(
                        {"name": name, "guestCpus": cpus, "zone": zone, "memoryMb": cpus * 4096})
            return 200, {"items": items}, None
        m = re.fullmatch(r"/zones/([^/]+)/instances(?:/([^/]+))?", rest)
        if m:
            zone, name = m.groups()
            key = f"{zone}/{name}"
            if method == "POST" and not name:
                body = json.loads(raw)
                src = ((body.get("disks") or [{}])[0].get("initializeParams") or {}).get("sourceImage", "")
                img = re.fullmatch(r"(?:.*/)?projects/([^/]+)/global/images/(family/)?([^/]+)", src)
                if not img or self.image(*img.groups()) is None:
                    return 404, {"error": {"code": 404, "message": f"The resource '{src}' was not found",
                                           "errors": [{"reason": "notFound"}]}}, None
                self.n += 1
                self.instances[f"{zone}/{body['name']}"] = {
                    **body, "zone": f"{self.url}{base}/zones/{zone}", "status": "RUNNING", "id": str(self.n),
                    "creationTimestamp": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f-00:00"),
                    "machineType": f"{self.url}{base}/{body['machineType']}",
                    "networkInterfaces": [{**nic, "networkIP": f"10.128.0.{self.n + 1}", "accessConfigs": [
                        {**ac, "natIP": f"34.1.0.{self.n + 1}"} for ac in nic.get("accessConfigs", [])]}
                        for nic in body.get("networkInterfaces", [])]}
                return 200, self._op("zone", zone, f"{base}/zones/{zone}/instances/{body['name']}"), None
            if method == "GET" and name:
                if key not in self.instances:
                    return 404, {"error": {"code": 404, "message": f"instance {name} not found",
                                           "errors": [{"reason": "notFound"}]}}, None
                return 200, self.instances[key], None
            if method == "DELETE" and name:
                if self.instances.pop(key, None) is None:
                    return 404, {"error": {"code": 404, "message": f"instance {name} not found",
                                           "errors": [{"reason": "notFound"}]}}, None
                return 200, self._op("zone", zone, f"{base}/zones/{zone}/instances/{name}"), None
        if rest == "/aggregated/instances":
            flt = query.get("filter", "")
            exact = re.search(r'labels\.([\w-]+) = "([^"]+)"', flt)
            present = re.search(r"labels\.([\w-]+):\*", flt)
            items: dict[str, dict] = {}
            for i in self.instances.values():
                labels = i.get("labels") or {}
                if exact and labels.get(exact.group(1)) != exact.group(2):
                    continue
                if present and present.group(1) not in labels:
                    continue
                zone = i["zone"].rsplit("/", 1)[-1]
                items.setdefault(f"zones/{zone}", {"instances": []})["instances"].append(i)
            return 200, {"items": items}, None
        m = re.fullmatch(r"/global/firewalls(?:/([^/]+))?", rest)
        if m:
            name = m.group(1)
            if method == "POST":
                body = json.loads(raw)
                self.firewalls[body["name"]] = body
                return 200, self._op("global", "", f"{base}/global/firewalls/{body['name']}"), None
            if method == "GET" and not name:
                return 200, {"items": list(self.firewalls.values())}, None
            if name not in self.firewalls:
                return 404, {"error": {"code": 404, "message": f"firewall {name} not found",
                                       "errors": [{"reason": "notFound"}]}}, None
            if method == "GET":
                return 200, self.firewalls[name], None
            if method == "DELETE":
                del self.firewalls[name]
                return 200, self._op("global", "", f"{base}/global/firewalls/{name}"), None
        return 404, {"error": {"code": 404, "message": f"{method} {path}: not served by this fake"}}, None


class FakeServiceQuotas(FakeServer):
    """AWS Service Quotas (JSON 1.1 over HTTPS, as boto3's service-quotas client speaks it): ListServiceQuotas
    for ec2, with the vCPU quotas of a new account's region (names and codes as AWS lists them). boto3 reaches it
    through AWS_ENDPOINT_URL_SERVICE_QUOTAS; EC2 stays on moto's server."""

    QUOTAS = {  # name -> (code, vCPUs)
        "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances": ("L-1216C47A", 32.0),
        "Running On-Demand G and VT instances": ("L-DB2E81BA", 8.0),
        "Running On-Demand P instances": ("L-417A185B", 0.0),
        "All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests": ("L-34B43A08", 16.0),
        "All G and VT Spot Instance Requests": ("L-3819A6DF", 0.0),
    }

    def env(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL_SERVICE_QUOTAS": self.url, "AWS_CA_BUNDLE": str(self.cert)}

    def error(self, status, code, message):
        return status, {"__type": code, "message": message}, None

    def handle(self, method, path, query, raw, headers):
        if not (headers.get("Authorization") or "").startswith("AWS4-HMAC-SHA256 Credential="):
            return self.error(400, "MissingAuthenticationTokenException", "not signed")
        target = headers.get("X-Amz-Target", "")
        body = json.loads(raw or b"{}")
        if target != "ServiceQuotasV20190624.ListServiceQuotas":
            return self.error(400, "UnknownOperationException", target)
        if body.get("ServiceCode") != "ec2":
            return self.error(400, "NoSuchResourceException", f"service {body.get('ServiceCode')} has no quotas here")
        names = sorted(self.QUOTAS)
        start = int(body.get("NextToken") or 0)  # two quotas a page: the client has to follow NextToken
        page = names[start:start + 2]
        out = {"Quotas": [{"ServiceCode": "ec2", "ServiceName": "Amazon Elastic Compute Cloud (Amazon EC2)",
                           "QuotaCode": self.QUOTAS[n][0], "QuotaName": n, "Value": self.QUOTAS[n][1],
                           "Unit": "None", "Adjustable": True, "GlobalQuota": False} for n in page]}
        if start + 2 < len(names):
            out["NextToken"] = str(start + 2)
        return 200, out, None


class FakeAzurePrices(FakeServer):
    """Azure's Retail Prices API (GET /api/retail/prices, OData $filter, NextPageLink pages), no sign-in: each VM
    size's meters as Azure lists them (Linux, Windows, Spot, Low Priority). urllib trusts it through
    SSL_CERT_FILE."""

    PRICES = {  # (region, size) -> (Linux, Windows, Spot) USD per hour
        ("eastus", "Standard_D4s_v5"): (0.201, 0.385, 0.0402),
        ("westus2", "Standard_D4s_v5"): (0.211, 0.395, 0.0455),
    }

    def env(self) -> dict[str, str]:
        return {"BENCHFLEET_AZURE_PRICES_ENDPOINT": self.url, "SSL_CERT_FILE": str(self.cert)}

    def error(self, status, code, message):
        return status, {"Error": {"Code": code, "Message": message}}, None

    def handle(self, method, path, query, raw, headers):
        if method != "GET" or path != "/api/retail/prices":
            return self.error(404, "NotFound", path)
        flt = query.get("$filter", "")
        region = re.search(r"armRegionName eq '([^']+)'", flt)
        sku = re.search(r"armSkuName eq '([^']+)'", flt)
        items = []
        for (r, size), (linux, windows, spot) in self.PRICES.items():
            if (region and region.group(1) != r) or (sku and sku.group(1) != size):
                continue
            short = size.split("_", 1)[1].replace("_", " ")
            for product, sku_name, price in (("Virtual Machines DSv5 Series", short, linux),
                                             ("Virtual Machines DSv5 Series Windows", short, windows),
                                             ("Virtual Machines DSv5 Series", f"{short} Spot", spot),
                                             ("Virtual Machines DSv5 Series", f"{short} Low Priority", spot * 2)):
                items.append({"currencyCode": "USD", "retailPrice": price, "unitPrice": price, "armRegionName": r,
                              "armSkuName": size, "productName": product, "skuName": sku_name,
                              "meterName": sku_name, "serviceName": "Virtual Machines", "type": "Consumption",
                              "unitOfMeasure": "1 Hour", "effectiveStartDate": "2026-11-01T00:00:00Z"})
        skip = int(query.get("$skip", 0))
        page = {"BillingCurrency": "USD", "Items": items[skip:skip + 2], "Count": len(items[skip:skip + 2]),
                "NextPageLink": None}
        if skip + 2 < len(items):  # two meters a page: the reader has to follow NextPageLink
            page["NextPageLink"] = f"{self.url}/api/retail/prices?" + urllib.parse.urlencode(
                {"$filter": flt, "$skip": skip + 2})
        return 200, page, None


class FakeAwsPricing(FakeServer):
    """AWS Price List (JSON 1.1, AWSPriceListService.GetProducts, TERM_MATCH filters), as boto3's pricing client
    speaks it; products as the Price List gives them (a JSON string each, OnDemand terms). Reached through
    AWS_ENDPOINT_URL_PRICING."""

    PRICES = {("us-east-1", "m5.large"): 0.101, ("us-west-2", "m5.large"): 0.099}

    def env(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL_PRICING": self.url, "AWS_CA_BUNDLE": str(self.cert)}

    def error(self, status, code, message):
        return status, {"__type": code, "message": message}, None

    def handle(self, method, path, query, raw, headers):
        if not (headers.get("Authorization") or "").startswith("AWS4-HMAC-SHA256 Credential="):
            return self.error(400, "MissingAuthenticationTokenException", "not signed")
        if headers.get("X-Amz-Target") != "AWSPriceListService.GetProducts":
            return self.error(400, "UnknownOperationException", headers.get("X-Amz-Target", ""))
        body = json.loads(raw or b"{}")
        f = {x["Field"]: x["Value"] for x in body.get("Filters", []) if x.get("Type") == "TERM_MATCH"}
        out = []
        for (region, itype), usd in self.PRICES.items():
            attrs = {"instanceType": itype, "regionCode": region, "operatingSystem": "Linux", "tenancy": "Shared",
                     "preInstalledSw": "NA", "capacitystatus": "Used"}
            for os_name, price in (("Linux", usd), ("Windows", usd * 2)):
                attrs = {**attrs, "operatingSystem": os_name}
                if body.get("ServiceCode") != "AmazonEC2" or any(attrs.get(k) != v for k, v in f.items()):
                    continue
                sku = f"SKU{abs(hash((region, itype, os_name))) % 10**8}"
                out.append(json.dumps({"product": {"sku": sku, "attributes": attrs}, "terms": {"OnDemand": {
                    f"{sku}.JRTCKXETXF": {"priceDimensions": {f"{sku}.JRTCKXETXF.6YS6EN2CT7": {
                        "unit": "Hrs", "pricePerUnit": {"USD": f"{price:.10f}"},
                        "description": f"${price} per On Demand {os_name} {itype} Instance Hour"}}}}}}))
        return 200, {"FormatVersion": "aws_v1", "PriceList": out}, None
