"""What tests of submission trees share: a system id and description, and an edit of one LoadGen log value."""

from __future__ import annotations

import json
from pathlib import Path

from benchfleet.submission.system import describe

SYSTEM = "Test_CPU_2c_onnxruntime_cpu"


def system_description() -> dict:
    """The description of a 2-core test system in the closed division of TestOrg (every field filled)."""
    facts = {"cpu_model": "Test CPU", "sockets": 1, "cores_per_socket": 2, "vcpus": 2, "mem_total_mb": 24000,
             "os": "Debian GNU/Linux 12 (bookworm)", "storage_bytes": 252_000_000_000, "nics": [{"name": "eth0"}],
             "kernel": "6.1"}
    return describe(facts, division="closed", submitter="TestOrg", framework="onnxruntime 1.x",
                    software="benchfleet", synthetic=True,
                    overrides={"host_processor_frequency": "2.0 GHz", "host_processor_caches": "L2 1 MB",
                               "host_memory_configuration": "1x 24 GB", "host_storage_type": "SSD"}).values


def set_log_value(path: Path, key: str, value) -> None:
    """Set ``key``'s value in every ``:::MLLOG`` line of a LoadGen detail log that logs it."""
    lines = []
    for line in path.read_text().splitlines():
        if f'"key": "{key}"' in line:
            head, body = line.split(":::MLLOG", 1)
            d = json.loads(body)
            d["value"] = value
            line = head + ":::MLLOG " + json.dumps(d)
        lines.append(line)
    path.write_text("\n".join(lines) + "\n")
