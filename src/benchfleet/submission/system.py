"""The v3.1 system description (``systems/<id>.json``) from the host_facts module's facts.

Every value is a string (contract §0.5). Values that cannot be known from facts get an
explicit marker, are listed in ``unknown``, and can be overridden per host.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

UNKNOWN = "unknown (not detected by benchfleet; set it in the inventory)"

FIELDS = (
    "division", "submitter", "status", "system_type", "system_type_detail", "system_name",
    "number_of_nodes", "host_processors_per_node", "host_processor_model_name", "host_processor_core_count",
    "host_processor_frequency", "host_processor_caches", "host_processor_interconnect",
    "host_memory_capacity", "host_memory_configuration", "host_storage_type", "host_storage_capacity",
    "host_networking", "host_network_card_count", "host_networking_topology",
    "accelerators_per_node", "accelerator_model_name", "accelerator_memory_capacity",
    "accelerator_memory_configuration", "accelerator_host_interconnect", "accelerator_interconnect",
    "accelerator_frequency", "accelerator_interconnect_topology", "accelerator_on-chip_memories",
    "cooling", "framework", "other_software_stack", "operating_system", "hw_notes", "sw_notes",
)
# The fields a power system's description may add (every round's checker accepts them without a warning; v5.0 adds
# system_power_only); set them in the sweep's `description:` (no round's checker requires them so far).
POWER_FIELDS = (
    "power_management", "filesystem", "boot_firmware_version", "management_firmware_version", "other_hardware",
    "number_of_type_nics_installed", "nics_enabled_firmware", "nics_enabled_os", "nics_enabled_connected",
    "network_speed_mbit", "power_supply_quantity_and_rating_watts", "power_supply_details", "disk_drives",
    "disk_controllers", "system_power_only",
)


@dataclass
class SystemDescription:
    values: dict[str, str]
    unknown: list[str] = field(default_factory=list)


def _gib(mb: int) -> str:
    return f"{mb / 1024:.0f} GB"


def _id_part(value: object, default: str) -> str:
    """One part of a system id: letters, digits and single underscores only (hosts report free text)."""
    text = re.sub(r"[^A-Za-z0-9]+", "_", str(value or "")).strip("_")
    return text[:64] or default


def _count(value: object) -> int:
    """A count a host reports (vCPUs, GPUs) as a non-negative int; anything else counts as 0 (unknown)."""
    if isinstance(value, bool):
        return 0
    try:
        n = int(str(value).strip())
    except (TypeError, ValueError):
        return 0
    return n if 0 <= n < 1_000_000 else 0


def system_id(host: dict, backend: str, device: str) -> str:
    """A hardware-derived id (no hostname or address), safe as a folder name whatever the host reports."""
    cpu = str(host.get("cpu_model") or "cpu")
    cpu = re.sub(r"\(R\)|\(TM\)|CPU|Processor|@.*$|\d+-Core", "", cpu)
    cpu = _id_part(cpu, "cpu")
    gpu = ""
    gpus = host.get("gpus")
    if device == "cuda" and isinstance(gpus, list) and gpus:
        first = gpus[0] if isinstance(gpus[0], dict) else {}
        gpu = f"_{len(gpus)}x" + _id_part(str(first.get("name") or "").replace("NVIDIA", ""), "gpu")
    return f"{cpu}_{_count(host.get('vcpus'))}c{gpu}_{_id_part(backend, 'backend')}_{_id_part(device, 'device')}"


def describe(host: dict, *, division: str, submitter: str, status: str = "available",
             system_type: str = "edge", framework: str, software: str, synthetic: bool,
             device: str = "cpu", overrides: dict | None = None, power: bool = False) -> SystemDescription:
    """``host`` is the ``benchfleet_host`` fact of the benchfleet.mlperf.host_facts module. ``power``: the system
    was measured for power, and its description carries the power fields (:func:`power_fields`)."""
    unknown: list[str] = []

    def known(name: str, value) -> str:
        if value in (None, "", 0):
            unknown.append(name)
            return UNKNOWN
        return str(value)

    cpu = host.get("cpu_model", "")
    sockets = host.get("sockets")
    per_socket = host.get("cores_per_socket")
    vcpus = host.get("vcpus")
    mhz = host.get("cpu_mhz")
    nics = host.get("nics") or []
    virt = host.get("virtualization")
    gpus = host.get("gpus") or [] if device == "cuda" else []
    storage = host.get("storage_bytes")
    values = {
        "division": division,
        "submitter": submitter,
        "status": status,
        "system_type": system_type,
        "system_type_detail": "virtual machine" if virt == "guest" else "on-premise",
        "system_name": f"{cpu or 'CPU'} ({vcpus or '?'} vCPU)"
                       + (f" with {len(gpus)}x {gpus[0]['name']}" if gpus else "") + f", {framework}",
        "number_of_nodes": "1",
        "host_processors_per_node": known("host_processors_per_node", sockets),
        "host_processor_model_name": known("host_processor_model_name", cpu),
        "host_processor_core_count": known("host_processor_core_count",
                                           per_socket * (sockets or 1) if per_socket else vcpus),
        "host_processor_frequency": known("host_processor_frequency",
                                          f"{mhz} MHz ({host.get('cpu_mhz_source')})" if mhz else None),
        "host_processor_caches": known("host_processor_caches", host.get("caches")),
        "host_processor_interconnect": "N/A" if (sockets or 1) == 1 else UNKNOWN,
        "host_memory_capacity": known("host_memory_capacity",
                                      _gib(host["mem_total_mb"]) if host.get("mem_total_mb") else None),
        "host_memory_configuration": known("host_memory_configuration", host.get("memory_configuration")),
        "host_storage_type": known("host_storage_type", host.get("storage_type")),
        "host_storage_capacity": known("host_storage_capacity", f"{storage / 1e9:.0f} GB" if storage else None),
        "host_networking": "N/A (single-node benchmark, no network in the SUT)",
        "host_network_card_count": str(len(nics)) if nics else "0 (no network card used)",
        "host_networking_topology": "N/A",
        "accelerators_per_node": str(len(gpus)),
        "accelerator_model_name": gpus[0]["name"] if gpus else "N/A",
        "accelerator_memory_capacity": f"{gpus[0]['memory_mib'] / 1024:.0f} GB" if gpus else "N/A",
        "accelerator_memory_configuration": UNKNOWN if gpus else "N/A",
        "accelerator_host_interconnect": UNKNOWN if gpus else "N/A",
        "accelerator_interconnect": UNKNOWN if gpus else "N/A",
        "accelerator_frequency": UNKNOWN if gpus else "N/A",
        "accelerator_interconnect_topology": UNKNOWN if gpus else "N/A",
        "accelerator_on-chip_memories": UNKNOWN if gpus else "N/A",
        "cooling": "air" if virt != "guest" else "provider managed (virtual machine)",
        "framework": framework,
        "other_software_stack": f"{software}; kernel {host['kernel']}" if host.get("kernel") else software,
        "operating_system": known("operating_system", host.get("os")),
        "hw_notes": "",
        "sw_notes": "",
    }
    if gpus:
        unknown += [k for k, v in values.items() if k.startswith("accelerator_") and v == UNKNOWN]
        values["sw_notes"] = f"NVIDIA driver {gpus[0]['driver']}"
    if synthetic:
        values["sw_notes"] = "; ".join(x for x in (values["sw_notes"], "SYNTHETIC: generated model and dataset; "
                                                   "a pipeline check, not a result for publication") if x)
    if power:
        values.update(power_fields(host, unknown))
    for k, v in (overrides or {}).items():
        values[k] = str(v)  # the inventory knows best; unknown keys only warn in the checker
        if k in unknown:
            unknown.remove(k)
    return SystemDescription(values, unknown)


def _text(value: object, limit: int = 200) -> str:
    """A host's free text, one line, bounded (hosts report what they like)."""
    return re.sub(r"\s+", " ", str(value or "")).strip()[:limit]


def power_fields(host: dict, unknown: list[str]) -> dict[str, str]:
    """The power fields of a system measured for power (POWER_FIELDS but v5.0's system_power_only), from what the
    host reports where it can say (the CPU governor, the root file system, the boot firmware, the NICs and the
    disks); the rest (power supplies, BMC firmware, NIC firmware, disk controllers, other hardware) only the user
    knows: UNKNOWN, listed in ``unknown``, for the sweep file's ``description:`` or the inventory's
    ``benchfleet_system``."""
    def known(name: str, value: object) -> str:
        text = _text(value)
        if not text:
            unknown.append(name)
            return UNKNOWN
        return text

    nics = [n for n in host.get("nics") or [] if isinstance(n, dict)]
    drivers: dict[str, int] = {}
    for n in nics:
        drivers[_text(n.get("driver"), 40) or "unknown driver"] = drivers.get(_text(n.get("driver"), 40)
                                                                              or "unknown driver", 0) + 1
    speeds = [n["speed_mbps"] for n in nics if isinstance(n.get("speed_mbps"), int) and n["speed_mbps"] > 0]
    disks = [d for d in host.get("disks") or [] if isinstance(d, dict) and isinstance(d.get("bytes"), int)]
    governor = _text(host.get("cpu_governor"), 80)
    return {
        "power_management": known("power_management", f"Linux cpufreq governor: {governor}" if governor else ""),
        "filesystem": known("filesystem", host.get("root_filesystem")),
        "boot_firmware_version": known("boot_firmware_version", host.get("boot_firmware")),
        "management_firmware_version": known("management_firmware_version", ""),
        "other_hardware": known("other_hardware", ""),
        "number_of_type_nics_installed": ", ".join(f"{c}x {d}" for d, c in sorted(drivers.items())) if nics
        else "0",
        "nics_enabled_firmware": known("nics_enabled_firmware", ""),
        "nics_enabled_os": str(sum(1 for n in nics if n.get("up") is True)),
        "nics_enabled_connected": str(sum(1 for n in nics if n.get("carrier") is True)),
        "network_speed_mbit": str(max(speeds)) if speeds else known("network_speed_mbit", ""),
        "power_supply_quantity_and_rating_watts": known("power_supply_quantity_and_rating_watts", ""),
        "power_supply_details": known("power_supply_details", ""),
        "disk_drives": known("disk_drives", ", ".join(
            f"{d['bytes'] / 1e9:.0f} GB {_text(d.get('type'), 20) or 'disk'} ({_text(d.get('name'), 20)})"
            for d in disks[:16])),
        "disk_controllers": known("disk_controllers", ""),
    }
