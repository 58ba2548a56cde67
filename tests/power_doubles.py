"""The power test doubles started as a director runs them: the power server double (power_double/ptd_client_server/
server.py) with PTDaemon's double (ptd_double.py) named in its configuration, as the benchfleet_power role writes it."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).parent
POWER_DOUBLE = HERE / "power_double"  # a power-dev folder: ptd_client_server/ holds the client and server doubles
PTD_DOUBLE = HERE / "ptd_double.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ptd_settings(port: int | None = None) -> dict:
    """A sweep file's power.ptd for PTDaemon's double."""
    return {"command": str(PTD_DOUBLE), "device_type": 49, "device_port": "/dev/null",
            "network_port": port or free_port()}


@contextmanager
def server_double(folder: Path):
    """The server double listening on a free port of 127.0.0.1 (configured as the role configures the real one);
    yields the port."""
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    conf = folder / "server.conf"
    conf.write_text(f"[server]\nntpServer: 127.0.0.1\nlisten: 127.0.0.1 {port}\n\n[ptd]\nptd: {PTD_DOUBLE}\n"
                    f"deviceType: 49\ninterfaceFlag:\ndevicePort: /dev/null\nnetworkPort: {free_port()}\n")
    with open(folder / "server.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-I", str(POWER_DOUBLE / "ptd_client_server" / "server.py"),
                                 "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.time() < deadline, (folder / "server.log").read_text()
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)
