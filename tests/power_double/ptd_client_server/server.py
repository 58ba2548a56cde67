"""A test double of MLCommons' power server, for CI (issue 22, part 3): started as the real one is on the director
(``python server.py -c server.conf``, by the benchfleet_power role), it reads the same configuration, starts
PTDaemon (here tests/ptd_double.py) with the command line the real server builds from the [ptd] section, checks
that it answers (Hello, Identify) and stops it, as the real server does at start, then listens where [server]
listen says and answers the client double's handshake and commands on each connection.

It takes no measurement: the client double (client.py beside it) writes the session's files itself. What it proves
is the orchestration: the role deployed the code and configuration, the server started from them and PTDaemon with
them, and the hosts' clients reached it at the address and port they were given.
"""

from __future__ import annotations

import argparse
import configparser
import os
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import time

MAGIC_CLIENT, MAGIC_SERVER = "mlcommons/power client v3", "mlcommons/power server v3"


def log(msg: str) -> None:
    print(f"ptd-server (benchfleet TEST DOUBLE) {time.strftime('%Y-%m-%d %H:%M:%S')} {msg}", flush=True)


def check_ptd(conf: configparser.ConfigParser, out: str) -> None:
    """Start PTDaemon as the real server does, say Hello and Identify, stop it; exit 1 if it does not answer."""
    port = conf.getint("ptd", "networkPort", fallback=8888)
    channel = conf.get("ptd", "channel", fallback="")
    board = conf.get("ptd", "gpibBoard", fallback="")
    flag = conf.get("ptd", "interfaceFlag")
    command = [conf.get("ptd", "ptd"), "-l", os.path.join(out, "ptd_logfile.txt"), "-p", str(port),
               *(["-b", board] if board else []), *(["-c", channel] if channel else []), *([flag] if flag else []),
               conf.get("ptd", "deviceType"), conf.get("ptd", "devicePort")]
    log(f"Running PTDaemon: {command}")
    ptd = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 20
        while True:
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                if ptd.poll() is not None or time.time() > deadline:
                    log(f"ERROR PTDaemon did not start (exit {ptd.poll()})")
                    sys.exit(1)
                time.sleep(0.1)
        with s, s.makefile("rw", newline="") as f:
            for cmd in ("Hello", "Identify"):
                f.write(cmd + "\r\n")
                f.flush()
                log(f"Reply from ptd: {f.readline().strip()!r}")
    finally:
        ptd.terminate()
        ptd.wait(10)


class Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        log(f"Connected {self.client_address}")
        for raw in self.rfile:
            line = raw.decode(errors="replace").strip()
            reply = MAGIC_SERVER if line == MAGIC_CLIENT else "OK"
            self.wfile.write((reply + "\n").encode())
            log(f"Got command from the client {line!r}")
        log("Connection closed")


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main() -> int:
    p = argparse.ArgumentParser(description="benchfleet's test double of MLCommons' power server")
    p.add_argument("-c", "--configurationFile", required=True)
    a = p.parse_args()
    conf = configparser.ConfigParser()
    if not conf.read(a.configurationFile):
        log(f"ERROR cannot read {a.configurationFile}")
        return 1
    host, port = conf.get("server", "listen", fallback="0.0.0.0 4950").split()
    log(f"NTP server {conf.get('server', 'ntpServer')} (not contacted by the double)")
    with tempfile.TemporaryDirectory() as out:
        check_ptd(conf, out)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with Server((host, int(port)), Handler) as server:
        log(f"Ready to accept connections at {host}:{port}")
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
