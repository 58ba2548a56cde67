#!/usr/bin/python
# Copyright: benchfleet contributors
# Apache License 2.0
"""Start, restart or stop MLCommons' power server on the director (issue 22, part 2)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: power_server
short_description: Run MLCommons' power server (ptd_client_server/server.py) on the director, in the background
description:
  - Starts the power server of the mlcommons/power-dev copy in I(dir) with its configuration file, detached from
    the connection (its own session; output appended to I(dir)/server.log), and waits until it listens on I(port),
    as the kernel's socket table says (no connection is made, so the server logs no stray client).
  - A server this module started is recorded in I(dir)/.benchfleet-power-server.json (its process id and start
    time, so a reused process id is never taken for it). C(started) leaves a running one alone; C(restarted)
    stops it and starts it again (the role's handler, when the code or the configuration changed); C(stopped)
    stops it and PTDaemon with it (its process group).
  - A server that exits while starting fails the task with the last lines of its log (a wrong PTDaemon path,
    an analyzer that does not answer, NTP out of reach, the port taken).
  - Linux directors only (the socket table is read from /proc).
options:
  dir:
    description: Folder holding C(ptd_client_server/) (MLCommons' code, as the role unpacked it).
    type: path
    required: true
  config:
    description: The server's configuration file (server.conf). Defaults to I(dir)/server.conf.
    type: path
  python:
    description: The Python that runs the server. Defaults to the one running this module.
    type: path
  port:
    description: The TCP port the configuration makes the server listen on.
    type: int
    required: true
  state:
    description: What to make of the server.
    type: str
    choices: [started, restarted, stopped]
    default: started
  timeout:
    description: Seconds to wait for the server to listen (it first synchronises with NTP and checks PTDaemon).
    type: int
    default: 60
  ptd:
    description:
      - PTDaemon's executable, as the configuration names it. Checked before the server starts it, as sshd checks
        the files it trusts, because its path comes from a sweep file - it must be a regular executable file
        that it and every folder above it belong to root or to this user, and none of them is writable by
        others (a folder with the sticky bit, such as /tmp, excepted).
    type: path
attributes:
  check_mode:
    description: Says whether it would start, restart or stop the server; does nothing.
    support: full
author: benchfleet contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Start the power server
  benchfleet.mlperf.power_server:
    dir: ~/.benchfleet/power-server
    port: 4950
"""

RETURN = r"""
pid:
  description: The server's process id (0 when it is not running).
  type: int
  returned: always
log:
  description: The server's log file on the director.
  type: str
  returned: always
"""

import json
import os
import signal
import subprocess
import sys
import time

from ansible.module_utils.basic import AnsibleModule

RECORD = ".benchfleet-power-server.json"


def start_time(pid):
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return int(fields[19]) if len(fields) > 19 and fields[0] != "Z" else None


def running(record):
    """The recorded server's pid if that very process is alive."""
    pid = record.get("pid")
    return pid if isinstance(pid, int) and pid > 0 and start_time(pid) == record.get("start") else 0


def listening(port):
    """Whether some socket listens on TCP ``port`` (IPv4 or IPv6)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            parts = row.split()
            if len(parts) > 3 and parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False


def tail(path, n=3000):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - n))
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop(pid):
    """SIGTERM to the server's process group (PTDaemon is its child), SIGKILL to what is left of it after 10 s."""
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.time() + wait
        while time.time() < deadline:
            if not group_alive(pid):
                return
            time.sleep(0.1)


def untrusted(path):
    """Why ``path`` is not a program to run on a sweep file's word ('' when it is): see the ptd option."""
    if not os.path.isabs(path):
        return f"{path} is not an absolute path"
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        return f"{path} is not an executable file on the director"
    me = os.geteuid()
    p = os.path.realpath(path)
    while True:
        st = os.stat(p)
        if st.st_uid not in (0, me):
            return f"{p} belongs to another user (uid {st.st_uid})"
        sticky_dir = os.path.isdir(p) and st.st_mode & 0o1000
        if st.st_mode & 0o022 and not sticky_dir:
            return f"{p} is writable by other users (mode {st.st_mode & 0o7777:o})"
        if p == "/":
            return ""
        p = os.path.dirname(p)


def main():
    module = AnsibleModule(argument_spec=dict(
        dir=dict(type="path", required=True),
        config=dict(type="path"),
        python=dict(type="path"),
        port=dict(type="int", required=True),
        state=dict(type="str", choices=["started", "restarted", "stopped"], default="started"),
        timeout=dict(type="int", default=60),
        ptd=dict(type="path"),
    ), supports_check_mode=True)
    p = module.params
    folder = p["dir"]
    config = p["config"] or os.path.join(folder, "server.conf")
    log = os.path.join(folder, "server.log")
    record_path = os.path.join(folder, RECORD)
    try:
        with open(record_path) as f:
            record = json.load(f)
    except (OSError, ValueError):
        record = {}
    pid = running(record)
    result = dict(changed=False, pid=pid, log=log)
    if p["state"] == "started" and pid:
        module.exit_json(**result)
    if p["state"] == "stopped":
        if pid and not module.check_mode:
            stop(pid)
        if not module.check_mode and os.path.exists(record_path):
            os.unlink(record_path)
        module.exit_json(**dict(result, changed=bool(pid), pid=0))
    if module.check_mode:
        module.exit_json(**dict(result, changed=True))
    script = os.path.join(folder, "ptd_client_server", "server.py")
    for path, what in ((script, "MLCommons' power server"), (config, "the power server's configuration")):
        if not os.path.isfile(path):
            module.fail_json(msg=f"{path}: {what} is missing on the director; run the benchfleet_power role's "
                                 "server tasks", **result)
    why = untrusted(p["ptd"]) if p["ptd"] else ""
    if why:
        module.fail_json(msg=f"PTDaemon (ptd.command): {why}; install PTDaemon where only root or you can change "
                             "it (e.g. /opt/ptd) and name that path", **result)
    if pid:
        stop(pid)
    if listening(p["port"]):
        module.fail_json(msg=f"port {p['port']} on the director is taken by another program; stop it or give the "
                             "power server another port (power.server HOST:PORT)", **result)
    with open(log, "ab") as out:
        out.write(f"\n--- benchfleet: starting the power server, {time.strftime('%Y-%m-%d %H:%M:%S')} ---\n".encode())
        out.flush()
        proc = subprocess.Popen([p["python"] or sys.executable, "-I", script, "-c", config], cwd=folder,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True)
    record = {"pid": proc.pid, "start": start_time(proc.pid), "config": config}
    with open(record_path, "w") as f:
        json.dump(record, f)
    deadline = time.time() + p["timeout"]
    while time.time() < deadline:
        if proc.poll() is not None:
            os.unlink(record_path)
            module.fail_json(msg=f"the power server exited ({proc.returncode}) while starting; the last lines of "
                                 f"{log}:\n{tail(log)}", **dict(result, changed=True, pid=0))
        if listening(p["port"]):
            module.exit_json(**dict(result, changed=True, pid=proc.pid))
        time.sleep(0.2)
    stop(proc.pid)
    os.unlink(record_path)
    module.fail_json(msg=f"the power server did not listen on port {p['port']} within {p['timeout']} s; the last "
                         f"lines of {log}:\n{tail(log)}", **dict(result, changed=True, pid=0))


if __name__ == "__main__":
    main()
