"""What the roles deploy for a sweep's power set-ups (issue 22, part 2): MLCommons' power client and server
(``ptd_client_server/`` of the user's mlcommons/power-dev checkout, or of the git URL the controller clones), packed
once on the controller and pushed to each host of a power system and to its director (the hosts need no network:
offline mode works as online), with the power server's configuration for each director.

Code named by a sweep file runs on the hosts and the director: only sources the round accepts (their SHA-1s, as the
power check verifies them) are deployed, refused here before anything is created or started. benchfleet never ships
that code; the archive lives in the run directory only.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING

from benchfleet.harness import power_layout as pw
from benchfleet.rules import get_round, power_sources
from benchfleet.sweep.schema import PowerSetup, SweepError, SweepFile

if TYPE_CHECKING:
    from benchfleet.sweep.plan import Plan

CLONE_TIMEOUT_S = 300


def clones() -> Path:
    """Where the controller keeps its clones of URL sources (one per URL and version)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "benchfleet" / "power-src"


def fetch(setup: PowerSetup, field: str, into: Path | None = None) -> Path:
    """The power-dev folder of a source: the user's folder as it is, or a clone of the URL at ``version`` made
    once under ``into`` (default :func:`clones`)."""
    into = into or clones()
    if not setup.is_url():
        root = Path(setup.source).expanduser().resolve()
        if not (root / "ptd_client_server").is_dir():
            raise SweepError([f"{field}: {root} holds no ptd_client_server/ folder; give the folder of your "
                              "mlcommons/power-dev checkout on the controller (or its git URL)"])
        return root
    key = hashlib.sha256(f"{setup.source}@{setup.version}".encode()).hexdigest()[:16]
    root = into / f"source-{key}"
    if (root / "ptd_client_server").is_dir():
        return root
    git = shutil.which("git")
    if not git:
        raise SweepError([f"{field}: cloning {setup.source} needs git on the controller; install git, or give the "
                          "folder of a power-dev checkout"])
    tmp = into / f".clone-{key}"
    shutil.rmtree(tmp, ignore_errors=True)
    into.mkdir(parents=True, exist_ok=True)
    # a private URL fails here, never waits for a password; only transports that run no command (no ext::)
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ALLOW_PROTOCOL": "https:http:ssh:git:file",
           "GIT_SSH_COMMAND": "ssh -o BatchMode=yes"}  # ssh asks nothing on the terminal either
    steps = [[git, "-c", "credential.helper=", "clone", "--quiet", "--no-checkout", "--", setup.source, str(tmp)],
             [git, "-C", str(tmp), "checkout", "--quiet", "--detach", setup.version or "HEAD", "--"]]
    for cmd in steps:
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=CLONE_TIMEOUT_S, env=env, check=False,
                               stdin=subprocess.DEVNULL, start_new_session=True)  # no terminal to ask on
        except subprocess.TimeoutExpired:
            r = subprocess.CompletedProcess(cmd, 1, "", f"no answer in {CLONE_TIMEOUT_S} s")
        if r.returncode:
            shutil.rmtree(tmp, ignore_errors=True)
            last = (r.stderr.strip().splitlines() or ["git failed"])[-1][:300]
            what = "clone" if "clone" in cmd else f"check out {setup.version or 'HEAD'} of"
            raise SweepError([f"{field}: the controller could not {what} {setup.source} ({last}); without a "
                              "network give source: the folder of your power-dev checkout instead"])
    if not (tmp / "ptd_client_server").is_dir():
        shutil.rmtree(tmp, ignore_errors=True)
        raise SweepError([f"{field}: {setup.source} at {setup.version or 'HEAD'} holds no ptd_client_server/ "
                          "folder; is it mlcommons/power-dev?"])
    tmp.rename(root)
    return root


def plain(root: Path, field: str) -> dict[str, str]:
    """The sources of ``root`` (:func:`~benchfleet.harness.power_layout.client_sources`) when every one is a plain
    file in plain folders: a symbolic link (a cloned repository may carry one) could point at any file of the
    controller, and is refused before anything reads through it; an unreadable file names the field."""
    base = root / "ptd_client_server"
    for p in [base, *base.rglob("*")]:
        if p.is_symlink():
            raise SweepError([f"{field}: {p.relative_to(root)} in {root} is a symbolic link; MLCommons' power code "
                              "has none: use a plain checkout"])
    try:
        return pw.client_sources(root)
    except OSError as exc:
        raise SweepError([f"{field}: {exc.filename or root} cannot be read ({exc.strerror}); give a power-dev "
                          "checkout you can read"]) from None


def pack(root: Path, into: Path) -> tuple[Path, str]:
    """The Python files of ptd_client_server/ (exactly the sources the round's list and the fingerprint cover: nothing
    else of the folder travels) as a tar.gz under ``into``, named by its fingerprint; byte-identical for the same
    files (sorted, fixed owner and times), so the hosts' copies compare by fingerprint."""
    sources = plain(root, "power source")
    fingerprint = hashlib.sha1(json.dumps(sources, sort_keys=True).encode()).hexdigest()  # noqa: S324 - an id
    out = into / f"ptd_client_server-{fingerprint[:16]}.tar.gz"
    if out.is_file():
        return out, fingerprint
    into.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    base = root / "ptd_client_server"
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        files = [base / name for name in sources]  # client_sources: regular .py files, no cache folders
        folders = sorted({f.parent for f in files} | {base})
        for p in [*(d for d in folders), *files]:
            info = tarfile.TarInfo(p.relative_to(root).as_posix())
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if p in folders:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                data = p.read_bytes()
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    tmp = out.with_suffix(".part")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(out)
    return out, fingerprint


def server_config(setup: PowerSetup) -> dict:
    """The power server's configuration on the director (server.conf, as power-dev's server.template.conf names
    its keys): NTP, where it listens (every address, the port the clients are given) and PTDaemon's settings."""
    assert setup.ptd is not None
    ptd = setup.ptd
    conf = {"ptd": ptd.command, "deviceType": str(ptd.device_type), "interfaceFlag": ptd.interface_flag,
            "devicePort": ptd.device_port, "networkPort": str(ptd.network_port)}
    if ptd.channel:
        conf["channel"] = ptd.channel
    if ptd.gpib_board is not None:
        conf["gpibBoard"] = str(ptd.gpib_board)
    return {"server": {"ntpServer": setup.ntp, "listen": f"0.0.0.0 {setup.address()[1]}"}, "ptd": conf}


def verify(sweep: SweepFile, systems: set[str] | None = None) -> None:
    """Each power source of the sweep (of ``systems`` only, when given) can be read (a URL: cloned), holds no link
    and is a version the round accepts (unless the controller's environment says UNVERIFIED_ENV=1: tests with the
    doubles). Called when the plan is made, so nothing is created, deployed or started for a sweep that would be
    refused, and again before the playbook for the systems it runs."""
    accepted = power_sources(get_round(sweep.round).power.sources)
    for i, system in enumerate(sweep.systems):
        if system.power is None or not system.power.source or (systems is not None and system.name not in systems):
            continue
        field = f"systems[{i}].power.source"
        root = fetch(system.power, field)
        if plain(root, field) not in accepted and os.environ.get(pw.UNVERIFIED_ENV) != "1":
            raise SweepError([f"{field}: {root}/ptd_client_server is not a version of MLCommons' power client and "
                              f"server that {sweep.round} accepts (none of its {len(accepted)} accepted source "
                              "sets); check out the mlcommons/power-dev release the round names, unchanged"])


def deploy_vars(plan: Plan, hosts: list[str], into: Path) -> dict:
    """``benchfleet_power`` for the sweep playbook: per host of a power system with a source, the archive (packed
    under ``into``, the run directory) to unpack in its client_dir; per director, the archive and the server's
    configuration."""
    clients: dict[str, dict] = {}
    directors: dict[str, dict] = {}
    by: dict[str, int] = {}
    # again, for the systems this playbook runs: a source may have changed since the plan was made
    verify(plan.sweep, {s.name for s in plan.sweep.systems if any(h in hosts for h in plan.hosts_of(s.name))})
    for i, system in enumerate(plan.sweep.systems):
        setup = system.power
        mine = [h for h in plan.hosts_of(system.name) if h in hosts]
        if setup is None or not setup.source or not mine:
            continue
        archive, fingerprint = pack(fetch(setup, f"systems[{i}].power.source"), into)
        for h in mine:
            clients[h] = {"archive": str(archive), "dest": setup.client_dir, "fingerprint": fingerprint}
        if setup.director:
            server = {"archive": str(archive), "fingerprint": fingerprint, "config": server_config(setup),
                      "port": setup.address()[1]}
            if setup.director in directors and directors[setup.director] != server:
                raise SweepError([f"systems[{i}].power.director: {setup.director!r} already runs the power server "
                                  f"of systems[{by[setup.director]}] with other settings; one director runs one "
                                  "power server: give both systems the same source and ptd settings, or another "
                                  "director"])
            directors[setup.director] = server
            by[setup.director] = i
    return {"clients": clients, "directors": directors} if clients or directors else {}
