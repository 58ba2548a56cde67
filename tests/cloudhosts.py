"""Cloud instances made real for tests: moto's EC2 on loopback, and each instance it "launches" becomes a
real SSH host on this machine.

``InstanceHosts`` plays the cloud's part after a launch: it polls EC2 (moto) for instances, adds each one's
public address to the loopback device and starts an sshd on it that accepts the instance's key pair (read
back from EC2, as cloud-init would). When an instance is terminated, its sshd and everything it ran are
killed and the address removed. Needs root (``ip addr``) and openssh-server.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from tests.sshfleet import Fleet


@contextmanager
def moto_ec2(env: dict | None = None):
    """moto's server on a loopback port; yields the environment boto3 needs (standard variables only)."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    import urllib.request

    # moto keeps its state per process: start every test from an empty account
    urllib.request.urlopen(urllib.request.Request(f"http://{host}:{port}/moto-api/reset", method="POST")).read()
    values = {"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "AKIABENCHFLEETTEST",
              "AWS_SECRET_ACCESS_KEY": "bf-test-secret-4f9c2e7a1d", "AWS_DEFAULT_REGION": "us-east-1"}
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield values
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        server.stop()


def ec2(region: str = "us-east-1"):
    import boto3

    return boto3.client("ec2", region_name=region)


def tagged_instances(run: str | None = None, regions=("us-east-1", "us-west-2"), states=None) -> list[dict]:
    out = []
    for r in regions:
        filters = [{"Name": "tag-key", "Values": ["benchfleet-run"]}]
        if run:
            filters = [{"Name": "tag:benchfleet-run", "Values": [run]}]
        if states:
            filters.append({"Name": "instance-state-name", "Values": list(states)})
        for res in ec2(r).describe_instances(Filters=filters)["Reservations"]:
            out += res["Instances"]
    return out


def run_resources(run: str, regions=("us-east-1", "us-west-2")) -> list[str]:
    """Anything left in EC2 that carries the run's tag (instances not terminated, groups, key pairs)."""
    left = [f"instance {i['InstanceId']} ({i['State']['Name']})" for i in tagged_instances(run, regions)
            if i["State"]["Name"] != "terminated"]
    for r in regions:
        f = [{"Name": "tag:benchfleet-run", "Values": [run]}]
        left += [f"security group {g['GroupName']}" for g in ec2(r).describe_security_groups(Filters=f)[
            "SecurityGroups"]]
        left += [f"key pair {k['KeyName']}" for k in ec2(r).describe_key_pairs(Filters=f)["KeyPairs"]]
    return left


class HostFollower:
    """A thread that calls ``sync()`` every 0.3 s inside a ``with`` block (each error kept for the test to report)
    and, at the end, ``lose()``s every instance still up: what each cloud's loopback hosts share."""

    def __init__(self) -> None:
        self.up: dict = {}  # instance id -> what the cloud's class keeps of it
        self.errors: list[str] = []
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_event.set()
        self.thread.join(timeout=10)
        for iid in list(self.up):
            self.lose(iid)

    def _loop(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.sync()
            except Exception as exc:  # noqa: BLE001 - reported by the test
                self.errors.append(repr(exc))
            self.stop_event.wait(0.3)

    def sync(self) -> None:
        raise NotImplementedError

    def lose(self, iid: str) -> None:
        raise NotImplementedError


class AddressHosts(HostFollower):
    """Instances kept by address (``up``: instance id -> public address), as the OVHcloud, OCI and Alibaba fakes'
    loopback hosts are: an instance that comes up gets its address on the loopback device and an sshd there that
    accepts its public key, with a HOME of its own (so its work folder dies with it); one that goes loses all of it."""

    def __init__(self, fleet: Fleet):
        super().__init__()
        self.fleet = fleet
        self.up: dict[str, str] = {}

    def _boot(self, iid: str, ip: str, public_key: str) -> None:
        keys = self.fleet.root / f"{iid}.authorized_keys"
        keys.write_text(public_key.strip() + "\n")
        subprocess.run(["ip", "addr", "add", f"{ip}/32", "dev", "lo"], check=False, capture_output=True)
        self.fleet.add(iid, ip, 22, authorized_keys=keys, env={"HOME": str(self.fleet.root / iid)})
        self.up[iid] = ip

    def lose(self, iid: str) -> None:
        ip = self.up.pop(iid)
        self.fleet.kill(iid, with_work=True)
        subprocess.run(["ip", "addr", "del", f"{ip}/32", "dev", "lo"], check=False, capture_output=True)


class InstanceHosts(HostFollower):
    """Bring each launched EC2 instance up as an sshd on its public address; tear it down when terminated."""

    def __init__(self, fleet: Fleet, regions=("us-east-1", "us-west-2")):
        super().__init__()
        self.fleet, self.regions = fleet, regions
        self.up: dict[str, tuple[str, str]] = {}  # instance id -> (host name in the fleet, address)
        self.addresses: list[str] = []
        self.lock = threading.Lock()

    def sync(self) -> None:
        with self.lock:
            for r in self.regions:
                for res in ec2(r).describe_instances()["Reservations"]:
                    for i in res["Instances"]:
                        iid, state = i["InstanceId"], i["State"]["Name"]
                        if state in ("pending", "running") and iid not in self.up and i.get("PublicIpAddress"):
                            self._boot(r, i)
                        elif state in ("shutting-down", "terminated", "stopped") and iid in self.up:
                            self.lose(iid)

    def _boot(self, region: str, inst: dict) -> None:
        iid, ip = inst["InstanceId"], inst["PublicIpAddress"]
        keys = self.fleet.root / f"{iid}.authorized_keys"
        kp = ec2(region).describe_key_pairs(KeyNames=[inst["KeyName"]], IncludePublicKey=True)["KeyPairs"][0]
        keys.write_text(kp["PublicKey"].strip() + "\n")
        subprocess.run(["ip", "addr", "add", f"{ip}/32", "dev", "lo"], check=False, capture_output=True)
        self.addresses.append(ip)
        # Every instance is this machine: its sshd gives sessions their own HOME, so the default work folder
        # (~/.benchfleet/work) is the instance's own and dies with it.
        self.fleet.add(iid, ip, 22, authorized_keys=keys, env={"HOME": str(self.fleet.root / iid)})
        self.up[iid] = (iid, ip)

    def lose(self, iid: str) -> None:
        """The instance is gone: its sshd, its sessions and whatever it was running."""
        name, ip = self.up.pop(iid)
        self.fleet.kill(name, with_work=True)
        subprocess.run(["ip", "addr", "del", f"{ip}/32", "dev", "lo"], check=False, capture_output=True)

    def wait_for(self, count: int, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while len(self.up) < count and time.time() < deadline:
            time.sleep(0.2)


def workdir_vars(root: Path) -> dict:
    """Host variables that give every instance its own work folder: none any more (a sweep file's vars are data,
    never templates); each instance's sshd sets HOME to the instance's own folder (InstanceHosts._boot)."""
    return {}


class FaultProxy:
    """An HTTP proxy in front of moto that answers chosen EC2 calls with the errors a real region gives
    (no capacity in a zone, a vCPU quota), to drive benchfleet's failover. Point AWS_ENDPOINT_URL at it."""

    def __init__(self, upstream: str, rules: list[dict]):
        # rule: {"action": "RunInstances", "contains": "us-east-1a", "code": "...", "after": n successes}
        self.upstream, self.rules = upstream.rstrip("/"), rules
        self.successes: dict[str, int] = {}
        self.seen: list[tuple[str, str]] = []  # (action, answered code or "ok")
        import http.server
        import urllib.parse
        import urllib.request

        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                form = urllib.parse.parse_qs(body.decode(errors="replace"))
                # Query-protocol calls (EC2) name their Action in the form; JSON-protocol ones (the Price List) in
                # X-Amz-Target
                action = (form.get("Action") or [""])[0] or self.headers.get("X-Amz-Target", "")
                text = urllib.parse.unquote_plus(body.decode(errors="replace"))
                for rule in proxy.rules:
                    if rule["action"] == action and rule.get("contains", "") in text and \
                            proxy.successes.get(action, 0) >= rule.get("after", 0):
                        proxy.seen.append((action, rule["code"]))
                        err = (f"<?xml version='1.0' encoding='UTF-8'?><Response><Errors><Error><Code>{rule['code']}"
                               f"</Code><Message>injected by the test: {rule['code']}</Message></Error></Errors>"
                               "<RequestID>test</RequestID></Response>").encode()
                        self.send_response(rule.get("status", 400))
                        self.send_header("Content-Type", "text/xml")
                        self.send_header("Content-Length", str(len(err)))
                        self.end_headers()
                        self.wfile.write(err)
                        return
                req = urllib.request.Request(proxy.upstream + self.path, data=body, method="POST",
                                             headers={k: v for k, v in self.headers.items() if k.lower() != "host"})
                try:
                    with urllib.request.urlopen(req) as r:
                        status, headers, data = r.status, r.headers, r.read()
                except urllib.error.HTTPError as e:
                    status, headers, data = e.code, e.headers, e.read()
                if status == 200:
                    proxy.successes[action] = proxy.successes.get(action, 0) + 1
                proxy.seen.append((action, "ok" if status == 200 else str(status)))
                self.send_response(status)
                self.send_header("Content-Type", headers.get("Content-Type", "text/xml"))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
