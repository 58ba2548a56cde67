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


def as_valid_mode(root: Path) -> None:
    """Edit a tree of the recorded quick run to read as a valid-mode one: its README no longer declares quick mode and
    every run's logged and declared minimum duration is the round's 600 s. A stand-in for a 600-second run (which a
    test cannot take) where what is tested is what comes after the strict check (submit), not the check itself."""
    for readme in root.rglob("README.md"):
        readme.write_text("\n".join(ln for ln in readme.read_text().splitlines() if "QUICK MODE" not in ln) + "\n")
    for detail in root.rglob("mlperf_log_detail.txt"):
        set_log_value(detail, "effective_min_duration_ms", 600000)
    for conf in root.rglob("user.conf"):
        conf.write_text(conf.read_text().replace("min_duration = 1000", "min_duration = 600000"))
