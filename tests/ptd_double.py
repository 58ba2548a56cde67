#!/usr/bin/env python3
"""A test double of SPEC PTDaemon, the power analyzer daemon MLCommons' power server drives (issue 22, part 3).

There is no analyzer: the samples are generated (a steady load plus noise, one a second while a measurement runs).
It is started as the power server starts PTDaemon, with PTDaemon's command line::

    ptd_double.py -l LOGFILE -p PORT [-b BOARD] [-c CHANNELS] [INTERFACE_FLAG] DEVICE_TYPE DEVICE_PORT

and answers, over TCP on 127.0.0.1:PORT, lines ending in CRLF, the commands the power server sends: Hello,
Identify, RR, SR,V,<range>, SR,A,<range>, Go,1000,0,<mark>, Stop, RL (the unread samples), Watts and Uncertainty,
with the replies of PTDaemon 1.10.0. It writes what PTDaemon writes: its log on stdout (the server keeps it as
power/ptd_logs.txt: uncertainty checking activated before any measurement, "Go with mark", "Completed test") and a
sample line per second with its mark in LOGFILE (the server reads the ranging run's maximum volts and amps there).

Everything it writes says that it is a test double: the banner on stdout, and the analyzer's serial number in its
Identify reply (BENCHFLEET-TEST-DOUBLE), which the power server records in server.json. Figures measured with it are
not power measurements.

Options beyond PTDaemon's, for tests: ``--watts W`` (the mean load, default 30), ``--seed N``.
"""

from __future__ import annotations

import argparse
import random
import socket
import sys
import threading
import time
from datetime import datetime, timezone

VERSION = "1.10.0-82175bac-20220817"
MODELS = {8: "YokogawaWT210", 35: "YokogawaWT500", 48: "YokogawaWT500_multichannel", 49: "YokogawaWT310E",
          52: "YokogawaWT330E", 77: "YokogawaWT330_multichannel"}
GO_REPLY = "Starting untimed measurement, maximum 500000 samples at 1000ms with 0 rampup samples"
SERIAL = "BENCHFLEET-TEST-DOUBLE"


def stamp(t: float | None = None) -> str:
    """PTDaemon's time: UTC, MM-DD-YYYY HH:MM:SS.mmm."""
    d = datetime.fromtimestamp(time.time() if t is None else t, tz=timezone.utc)
    return d.strftime("%m-%d-%Y %H:%M:%S.") + f"{d.microsecond // 1000:03d}"


class Daemon:
    def __init__(self, a: argparse.Namespace):
        self.a = a
        self.model = MODELS.get(a.device_type, "YokogawaWT310E")
        self.rng = random.Random(a.seed)
        self.lock = threading.Lock()
        self.ranges = {"A": "0.500000", "V": "300.000000"}
        self.mark: str | None = None
        self.unread: list[str] = []
        self.measured: list[float] = []  # watts of the current (or last) measurement
        self.log_file = open(a.l, "a", buffering=1)  # noqa: SIM115 - open for the daemon's life

    def log(self, msg: str) -> None:
        print(f"{stamp()}: {msg}", flush=True)

    def sample(self) -> str:
        watts = max(0.1, self.rng.gauss(self.a.watts, self.a.watts * 0.02))
        volts = self.rng.gauss(230.0, 0.3)
        pf = 0.95
        amps = watts / (volts * pf)
        return f"Time,{stamp()},Watts,{watts:.6f},Volts,{volts:.6f},Amps,{amps:.6f},PF,{pf:.6f}"

    def sampler(self) -> None:
        while True:
            time.sleep(1.0)
            with self.lock:
                if self.mark is None:
                    continue
                line = self.sample()
                self.unread.append(line)
                self.measured.append(float(line.split(",")[3]))
                self.log_file.write(f"{line},Mark,{self.mark}\n")

    def reply(self, cmd: str) -> list[str]:
        with self.lock:
            if cmd == "Hello":
                return ["Hello, PTDaemon here!"]
            if cmd == "Identify":
                return [f"{self.model},1000,1,1,1,1,0,1,1,version={VERSION},OS=Linux,mode=power,1,1,1,0,0,"
                        f"no_cal_date,YOKOGAWA;{self.model.removeprefix('Yokogawa')};{SERIAL};F1.04"]
            if cmd == "RR":
                return [f"Ranges,0,{self.ranges['A']},0,{self.ranges['V']}"]
            if cmd.startswith(("SR,V,", "SR,A,")):
                which = cmd[3]
                self.ranges[which] = cmd[5:]
                self.log(f"{'Volt' if which == 'V' else 'Ampere'} range set to {cmd[5:]}")
                return [f"Range {which} changed"]
            if cmd.startswith("Go,"):
                parts = cmd.split(",")
                self.mark = parts[3] if len(parts) > 3 else ""
                self.unread, self.measured = [], []
                self.log(f"Go with mark '{self.mark}'")
                return [GO_REPLY]
            if cmd == "Stop":
                if self.mark is None:
                    return ["Error: no measurement to stop"]
                self.mark = None
                self.log("Completed test")
                return ["Stopping untimed measurement"]
            if cmd == "RL":
                lines, self.unread = self.unread, []
                return [f"Last {len(lines)} samples", *lines]
            if cmd in ("Watts", "Uncertainty"):
                w = self.measured or [0.0]
                n = len(self.measured)
                if cmd == "Watts":
                    return [f"Watts,{sum(w) / len(w):.6f},{min(w):.6f},{max(w):.6f},{n},0,{n}"]
                return [f"Uncertainty,0.005900,0.005800,0.006000,{n},0,{n},0"]
            return [f"Error: unknown command {cmd!r}"]

    def serve(self) -> None:
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", self.a.p))
        srv.listen(1)
        self.log(f"Establishing the listener on port {self.a.p}...")
        while True:
            self.log("Waiting for a connection...")
            conn, peer = srv.accept()
            self.log(f"Accepted connection from {peer[0]}:{peer[1]}")
            buf = b""
            with conn:
                while True:
                    data = conn.recv(4096)
                    if not data:
                        break
                    buf += data
                    while b"\n" in buf:
                        line, buf = buf.split(b"\n", 1)
                        cmd = line.rstrip(b"\r").decode(errors="replace")
                        out = self.reply(cmd)
                        conn.sendall(b"".join(x.encode() + b"\r\n" for x in out))
                        self.log(f"Response to client sent: {out[0]}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-l", required=True, help="the sample log file")
    p.add_argument("-p", type=int, default=8888, help="the TCP port")
    p.add_argument("-b", type=int, default=None, help="GPIB board (accepted, unused)")
    p.add_argument("-c", default=None, help="channels (accepted, unused)")
    p.add_argument("--watts", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("rest", nargs="+", help="[interface flag] device type, device port")
    a, flags = p.parse_known_args(argv)  # PTDaemon's interface flags (-g, -y, ...) are accepted and unused
    positional = [x for x in a.rest if not x.startswith("-")]
    a.device_type = int(positional[0]) if positional else 49
    d = Daemon(a)
    print("  benchfleet PTDaemon TEST DOUBLE: no analyzer is connected; every sample is generated", flush=True)
    print(f"                        Version {VERSION} (impersonated by the test double)", flush=True)
    d.log(f"Attempting to connect to measurement device type {a.device_type}...")
    d.log(f"Uncertainty checking for {d.model} is activated")
    d.log(f"Connected to {d.model} successfully")
    threading.Thread(target=d.sampler, daemon=True).start()
    d.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
