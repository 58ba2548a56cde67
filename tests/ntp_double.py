#!/usr/bin/env python3
"""A test double of an NTP server: answers every NTP request on UDP with this machine's own clock, so that MLCommons'
power client and server (which insist on an NTP server) find their clocks in sync on a machine without a network.

    ntp_double.py [--port 123] [--host 127.0.0.1]
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys
import time

NTP_EPOCH = 2208988800  # seconds from 1900-01-01 to 1970-01-01


def ntp_time(t: float) -> bytes:
    seconds = int(t) + NTP_EPOCH
    return struct.pack("!II", seconds, int((t - int(t)) * (1 << 32)))


def answer(request: bytes, now: float) -> bytes:
    """A server reply (mode 4, stratum 1, version of the request) to a client's request."""
    version = (request[0] >> 3) & 0x7 if request else 4
    head = struct.pack("!BBbb", (0 << 6) | (version << 3) | 4, 1, 4, -20)
    return (head + struct.pack("!II", 0, 0) + b"LOCL" + ntp_time(now) + request[40:48].ljust(8, b"\0")
            + ntp_time(now) + ntp_time(time.time()))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=123)
    a = p.parse_args(argv)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a.host, a.port))
    while True:
        data, peer = s.recvfrom(512)
        if len(data) >= 48:
            s.sendto(answer(data, time.time()), peer)


if __name__ == "__main__":
    sys.exit(main())
