"""A test double of MLCommons' power client, for CI (issue 22, part 3).

MLCommons' code (mlcommons/power-dev) is not available in CI, and benchfleet never ships it. The harness runs the
power client as ``python -m ptd_client_server.client`` from the user's power-dev folder; pointed at this folder it
runs this double instead, which takes the client's command line (-a -p -n -T -f -w -L -o), connects to the power
server at -a/-p (the server double, server.py beside it; no server there: it fails as the client does), runs the
workload twice (ranging, then testing) as the client does, and writes what the client and server bring back:
ranging/ and run_1/ (LoadGen's logs and a spl.txt of generated samples around LoadGen's power window) and power/
(client.json, server.json, client.log, server.log, ptd_logs.txt), consistent with each other as the real session's
are (one UUID pair and session name, phases around the runs, the same messages, the SHA-1 of every result file,
PTDaemon's replies).

Its sources are its own: a power check names them as not an accepted version of the power client (the one check
that must fail; it is not MLCommons' code). BENCHFLEET_POWER_DOUBLE_FAIL=testing makes it lose the server after the
ranging run (exit 1), as a power server that goes away mid-run does; so does a server that is gone.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

MAGIC_CLIENT, MAGIC_SERVER = "mlcommons/power client v3", "mlcommons/power server v3"
FMT = "%m-%d-%Y %H:%M:%S.%f"
GO = "Starting untimed measurement, maximum 500000 samples at 1000ms with 0 rampup samples"
IDENTIFY = ("YokogawaWT310E,1000,1,1,1,1,0,1,1,version=1.10.0-82175bac-20220817,OS=Linux,mode=power,1,1,1,0,0,"
            "no_cal_date,YOKOGAWA;WT310E;BENCHFLEET-TEST-DOUBLE;F1.04")


def stamp(t: float) -> str:
    d = datetime.fromtimestamp(t, tz=timezone.utc)
    return d.strftime("%m-%d-%Y %H:%M:%S.") + f"{d.microsecond // 1000:03d}"


def window(detail: Path) -> tuple[float, float]:
    values = {}
    for line in detail.read_text().splitlines():
        if line.startswith(":::MLLOG"):
            e = json.loads(line[len(":::MLLOG"):])
            values[e["key"]] = e["value"]
    return tuple(datetime.strptime(values[k], FMT).replace(tzinfo=timezone.utc).timestamp()
                 for k in ("power_begin", "power_end"))


def ask(server, line: str) -> str:
    """One command to the server double, its one-line reply."""
    server.write(line + "\n")
    server.flush()
    reply = server.readline()
    if not reply:
        raise OSError("the server closed the connection")
    return reply.strip()


def sha1(p: Path) -> str:
    return hashlib.sha1(p.read_bytes()).hexdigest()  # noqa: S324 - the power tooling's digest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="benchfleet's test double of MLCommons' power client and server")
    p.add_argument("-a", "--addr", required=True)
    p.add_argument("-w", "--run-workload", required=True)
    p.add_argument("-L", "--loadgen-logs", required=True)
    p.add_argument("-o", "--output", required=True)
    p.add_argument("-n", "--ntp", required=True)
    p.add_argument("-p", "--port", type=int, default=4950)
    p.add_argument("-T", "--no-timestamp-path", action="store_true")
    p.add_argument("-f", "--force", action="store_true")
    a = p.parse_args(argv)
    out, logs = Path(a.output), Path(a.loadgen_logs)
    rng = random.Random(0)
    session = datetime.now(timezone.utc).strftime("%Y-%m-%d_%H-%M-%S")
    ids = {"client": str(uuid.uuid4()), "server": str(uuid.uuid4())}
    phases: dict[str, list[list[float]]] = {}
    ptd_log = [f"{stamp(time.time() - 1)}: benchfleet power TEST DOUBLE: no PTDaemon, no analyzer",
               f"{stamp(time.time() - 1)}: Uncertainty checking for YokogawaWT310E is activated"]
    ptd = [("Hello", "Hello, PTDaemon here!"), ("Identify", IDENTIFY), ("RR", "Ranges,0,0.500000,0,300.000000")]
    messages = [(MAGIC_CLIENT, MAGIC_SERVER), ("time", str(time.time())),
                ("set_ntp", "OK"), (f"new,,{ids['client']}", f"OK {session},{ids['server']}")]
    out.mkdir(parents=True, exist_ok=True)
    try:  # the server double (server.py beside this file) at the address and port the client was given
        server = socket.create_connection((a.addr, a.port), timeout=10).makefile("rw")
        if ask(server, MAGIC_CLIENT) != MAGIC_SERVER:
            raise OSError("it is not a power server")
    except OSError as exc:
        print(f"client: cannot connect to the power server at {a.addr}:{a.port}: {exc}", file=sys.stderr)
        return 1
    for mode, run in (("ranging", "ranging"), ("testing", "run_1")):
        if mode == "testing" and os.environ.get("BENCHFLEET_POWER_DOUBLE_FAIL") == "testing":
            print("client: connection to the power server lost (test double)", file=sys.stderr)
            return 1
        try:
            ask(server, f"session,{session},start,{mode}")
        except OSError as exc:
            print(f"client: connection to the power server lost: {exc}", file=sys.stderr)
            return 1
        if logs.exists():
            shutil.rmtree(logs)
        t0 = time.time()
        messages.append((f"session,{session},start,{mode}", "OK"))
        ptd += [("SR,V,Auto", "Range V changed"), ("SR,A,Auto", "Range A changed")] if mode == "ranging" else [
            ("SR,V,231.000000", "Range V changed"), ("SR,A,0.160000", "Range A changed")]
        ptd.append((f"Go,1000,0,{session}_{mode}", GO))
        ptd_log.append(f"{stamp(time.time())}: Go with mark '{session}_{mode}'")
        go = time.time()
        rc = subprocess.run(a.run_workload, shell=True).returncode  # noqa: S602 - the client runs a shell command
        if rc != 0:
            print(f"client: the workload failed (exit {rc})", file=sys.stderr)
            return rc
        time.sleep(0.2)
        stop = time.time()
        ptd.append(("Stop", "Stopping untimed measurement"))
        ptd_log.append(f"{stamp(stop)}: Completed test")
        folder = out / run
        shutil.copytree(logs, folder)
        begin, end = window(folder / "mlperf_log_detail.txt")
        lines, t = [], begin - 1.5
        while t < end + 1.5:
            w = rng.gauss(30.0, 0.5)
            lines.append(f"Time,{stamp(t)},Watts,{w:.6f},Volts,230.000000,Amps,{w / 230 / 0.95:.6f},PF,0.950000,"
                         f"Mark,{session}_{mode}")
            t += 0.5
        (folder / "spl.txt").write_text("\n".join(lines) + "\n")
        ptd += [("RL", f"Last {len(lines)} samples"), ("Uncertainty", f"Uncertainty,0.0059,0.0058,0.0060,"
                                                                     f"{len(lines)},0,{len(lines)},0"),
                ("Watts", f"Watts,30.0,29.0,31.0,{len(lines)},0,{len(lines)}")]
        messages.append((f"session,{session},stop,{mode}", "OK"))
        phases[mode] = [[t0, 0.0], [go, 0.0], [stop, 0.0], [time.time(), 0.0]]
    ptd += [("SR,V,300.000000", "Range V changed"), ("SR,A,0.500000", "Range A changed")]
    power = out / "power"
    power.mkdir()
    (power / "ptd_logs.txt").write_text("\n".join(ptd_log) + "\n")
    (power / "client.log").write_text("benchfleet power TEST DOUBLE: client\n")
    (power / "server.log").write_text("benchfleet power TEST DOUBLE: server\n")
    results = {f"{d}/{f}": sha1(out / d / f) for d, names in (
        ("power", ("client.log", "ptd_logs.txt", "server.log")),
        ("ranging", ("mlperf_log_detail.txt", "mlperf_log_summary.txt", "spl.txt")),
        ("run_1", ("mlperf_log_detail.txt", "mlperf_log_summary.txt", "spl.txt"))) for f in names}
    own = {"client.py": sha1(Path(__file__))}  # not MLCommons' sources: the sources check names it
    common = {"version": "benchfleet-test-double", "timezone": 0, "modules": {}, "sources": own,
              "messages": [{"cmd": c, "reply": r} for c, r in messages], "uuid": ids, "session_name": session,
              "results": results, "phases": phases}
    (power / "client.json").write_text(json.dumps(common, indent=2))
    # the server's own record: its clock a few ms off the client's, its own answer to `time`
    server_phases = {m: [[t + 0.004, d] for t, d in ph] for m, ph in phases.items()}
    server_messages = [{"cmd": c, "reply": str(time.time()) if c == "time" else r} for c, r in messages]
    (power / "server.json").write_text(json.dumps({
        **common, "phases": server_phases, "messages": server_messages,
        "ptd_messages": [{"cmd": c, "reply": r} for c, r in ptd],
        "ptd_config": {"command": ["ptd_double", "-l", "log", "-p", "8888", "49", "/dev/null"], "device_type": 49,
                       "interface_flag": "", "device_port": "/dev/null", "channel": None}}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
