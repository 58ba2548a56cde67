"""Real SSH test hosts on this machine: one sshd per host on its own loopback port and work folder.

Used by the fleet tests and by bench/fleet_overhead.py. Needs openssh-server (``/usr/sbin/sshd``);
``.ci/run`` installs it.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
SFTP = next((p for p in ("/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server") if Path(p).exists()),
            "internal-sftp")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in children.get(p, []):
            out.append(c)
            todo.append(c)
    return out


@dataclass
class Host:
    name: str
    port: int
    root: Path  # this host's own folder: work directory, sshd config and log
    proc: subprocess.Popen | None = None
    address: str = "127.0.0.1"
    authorized_keys: Path | None = None  # default: the fleet's test key
    netns: str = ""  # run sshd (and so every session) inside this network namespace
    env: dict[str, str] = field(default_factory=dict)  # set in every session (SetEnv)
    host_key: Path | None = None  # default: the fleet's host key

    @property
    def known_as(self) -> str:
        """The host's name in known_hosts."""
        return self.address if self.port == 22 else f"[{self.address}]:{self.port}"

    @property
    def workdir(self) -> Path:
        return self.root / "work"


@dataclass
class Fleet:
    root: Path
    hosts: list[Host] = field(default_factory=list)

    @classmethod
    def start(cls, root: Path, count: int, prefix: str = "node") -> Fleet:
        if not Path(SSHD).exists():
            raise RuntimeError("sshd not found: install openssh-server (apt-get install openssh-server); "
                               ".ci/run does this")
        root.mkdir(parents=True, exist_ok=True)
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # sshd's privilege-separation folder
        for key in ("host_key", "id_ed25519"):
            if not (root / key).exists():
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / key)], check=True)
        shutil.copy(root / "id_ed25519.pub", root / "authorized_keys")
        fleet = cls(root)
        for i in range(count):
            h = Host(f"{prefix}{i + 1}", _free_port(), root / f"{prefix}{i + 1}")
            h.workdir.mkdir(parents=True, exist_ok=True)
            fleet.hosts.append(h)
            fleet.up(h.name, wait=False)
        for h in fleet.hosts:
            fleet._wait(h)
        return fleet

    def add(self, name: str, address: str, port: int = 22, authorized_keys: Path | None = None, netns: str = "",
            env: dict[str, str] | None = None) -> Host:
        """Another host listening on ``address`` (on the loopback device, or inside network namespace ``netns``)."""
        h = Host(name, port, self.root / name, address=address, authorized_keys=authorized_keys, netns=netns,
                 env=env or {})
        h.workdir.mkdir(parents=True, exist_ok=True)
        self.hosts.append(h)
        self.up(name)
        return h

    def host(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)

    def up(self, name: str, wait: bool = True) -> None:
        h = self.host(name)
        conf = h.root / "sshd_config"
        conf.write_text("\n".join([
            f"Port {h.port}", f"ListenAddress {h.address}", f"HostKey {h.host_key or self.root / 'host_key'}",
            f"PidFile {h.root / 'sshd.pid'}",
            f"AuthorizedKeysFile {h.authorized_keys or self.root / 'authorized_keys'}",
            "StrictModes no", "UsePAM no", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password", "PubkeyAuthentication yes", f"Subsystem sftp {SFTP}",
            "MaxStartups 200", "MaxSessions 200", "LogLevel ERROR",
            # bash sources ~/.bashrc for commands from sshd only at SHLVL 0; the tests kill sessions
            # with SIGKILL, which must not leave a login script's locks (pyenv rehash) behind.
            "SetEnv SHLVL=1 " + " ".join(f"{k}={v}" for k, v in h.env.items()), "",
        ]))
        log = open(h.root / "sshd.log", "a")
        cmd = [SSHD, "-D", "-e", "-f", str(conf)]
        if h.netns:
            cmd = ["ip", "netns", "exec", h.netns, *cmd]
        h.proc = subprocess.Popen(cmd, stdout=log, stderr=log, start_new_session=True)
        if wait:
            self._wait(h)

    def _wait(self, h: Host, timeout: float = 15) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if h.proc and h.proc.poll() is not None:
                raise RuntimeError(f"sshd for {h.name} exited: {(h.root / 'sshd.log').read_text()[-2000:]}")
            try:
                with socket.create_connection((h.address, h.port), timeout=1) as s:
                    if s.recv(4).startswith(b"SSH-"):
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"sshd for {h.name} did not listen on port {h.port}")

    def kill(self, name: str, with_work: bool = False) -> None:
        """Lose the host: its sshd and every session under it; with_work, also everything it was running."""
        h = self.host(name)
        if h.proc and h.proc.poll() is None:
            victims = [h.proc.pid] + _descendants(h.proc.pid)
            if with_work:
                victims += self._processes_in(h.root)
            for pid in victims:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            h.proc.wait()
        h.proc = None

    @staticmethod
    def _processes_in(folder: Path) -> list[int]:
        out = []
        for d in Path("/proc").iterdir():
            if d.name.isdigit() and int(d.name) != os.getpid():
                try:
                    if Path(os.readlink(d / "cwd")).is_relative_to(folder):
                        out.append(int(d.name))
                except OSError:
                    continue
        return out

    def stop(self) -> None:
        for h in self.hosts:
            self.kill(h.name, with_work=True)

    def known_hosts(self, path: Path | None = None) -> Path:
        """A known_hosts file with every host's key, as a careful user records them (ssh-keyscan, then a check
        of the fingerprint): here read from the key files themselves."""
        path = path or self.root / "known_hosts"
        lines = []
        for h in self.hosts:
            key = ((h.host_key or self.root / "host_key").with_suffix(".pub")).read_text().split()
            lines.append(f"{h.known_as} {key[0]} {key[1]}")
        path.write_text("\n".join(lines) + "\n")
        return path

    def inventory(self, path: Path, group: str = "lab", extra_hosts: dict | None = None) -> Path:
        """An inventory of the fleet; its ssh args name a known_hosts with every host's key (host keys are checked)."""
        hosts = {h.name: {"ansible_host": h.address, "ansible_port": h.port,
                          "benchfleet_benchmark_workdir": str(h.workdir)} for h in self.hosts}
        data = {"all": {
            "vars": {
                "ansible_user": getpass.getuser(),
                "ansible_ssh_private_key_file": str(self.root / "id_ed25519"),
                "ansible_ssh_common_args": f"-o UserKnownHostsFile={self.known_hosts()}",
                "ansible_python_interpreter": sys.executable,
                "benchfleet_harness_python": sys.executable,
            },
            "children": {group: {"hosts": hosts}},
            "hosts": extra_hosts or {},
        }}
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path
