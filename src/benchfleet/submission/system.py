"""The v3.1 system description (``systems/<id>.json``) from Ansible facts.

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


@dataclass
class SystemDescription:
    values: dict[str, str]
    unknown: list[str] = field(default_factory=list)


def _cpu_model(facts: dict) -> str:
    proc = facts.get("ansible_processor") or []
    # Ansible lists [index, vendor, model, index, vendor, model, ...]
    names = [p for p in proc if isinstance(p, str) and not p.isdigit() and not p.startswith(("Genuine", "Authentic"))]
    return names[0].strip() if names else ""


def system_id(facts: dict, backend: str, device: str) -> str:
    """A hardware-derived id (no hostname or address), safe as a folder name."""
    cpu = _cpu_model(facts) or "cpu"
    cpu = re.sub(r"\(R\)|\(TM\)|CPU|Processor|@.*$|\d+-Core", "", cpu)
    cpu = re.sub(r"[^A-Za-z0-9]+", "_", cpu).strip("_")
    cores = facts.get("ansible_processor_vcpus") or facts.get("ansible_processor_nproc") or 0
    return f"{cpu}_{cores}c_{backend}_{device}"


def describe(facts: dict, *, division: str, submitter: str, status: str = "available",
             system_type: str = "edge", framework: str, software: str, synthetic: bool,
             overrides: dict | None = None) -> SystemDescription:
    unknown: list[str] = []

    def known(name: str, value) -> str:
        if value in (None, "", 0):
            unknown.append(name)
            return UNKNOWN
        return str(value)

    cpu = _cpu_model(facts)
    sockets = facts.get("ansible_processor_count")
    cores_per_socket = facts.get("ansible_processor_cores")
    vcpus = facts.get("ansible_processor_vcpus")
    mem_mb = facts.get("ansible_memtotal_mb")
    os_name = " ".join(str(x) for x in (facts.get("ansible_distribution"), facts.get("ansible_distribution_version"))
                       if x)
    kernel = facts.get("ansible_kernel")
    disks = facts.get("ansible_devices") or {}
    disk_bytes = 0
    for name, dev in disks.items():
        if name.startswith(("loop", "ram", "dm-", "sr", "zram")):
            continue
        size = str(dev.get("size", ""))
        m = re.match(r"([\d.]+)\s*(TB|GB|MB)", size)
        if m:
            disk_bytes += float(m.group(1)) * {"TB": 1e12, "GB": 1e9, "MB": 1e6}[m.group(2)]
    nics = [i for i in facts.get("ansible_interfaces") or [] if i != "lo"]
    virt = facts.get("ansible_virtualization_role")
    values = {
        "division": division,
        "submitter": submitter,
        "status": status,
        "system_type": system_type,
        "system_type_detail": "virtual machine" if virt == "guest" else "on-premise",
        "system_name": f"{cpu or 'CPU'} ({vcpus or '?'} vCPU) with {framework}",
        "number_of_nodes": "1",
        "host_processors_per_node": known("host_processors_per_node", sockets),
        "host_processor_model_name": known("host_processor_model_name", cpu),
        "host_processor_core_count": known("host_processor_core_count",
                                           (cores_per_socket or 0) * (sockets or 1) if cores_per_socket else vcpus),
        "host_processor_frequency": known("host_processor_frequency", facts.get("benchfleet_cpu_mhz")),
        "host_processor_caches": known("host_processor_caches", facts.get("benchfleet_cpu_caches")),
        "host_processor_interconnect": "N/A" if (sockets or 1) == 1 else UNKNOWN,
        "host_memory_capacity": known("host_memory_capacity", f"{mem_mb / 1024:.0f} GB" if mem_mb else None),
        "host_memory_configuration": known("host_memory_configuration", facts.get("benchfleet_memory_configuration")),
        "host_storage_type": known("host_storage_type", facts.get("benchfleet_storage_type")),
        "host_storage_capacity": known("host_storage_capacity", f"{disk_bytes / 1e9:.0f} GB" if disk_bytes else None),
        "host_networking": "N/A (single-node benchmark, no network in the SUT)",
        "host_network_card_count": str(len(nics)) if nics else "0 (no network card used)",
        "host_networking_topology": "N/A",
        "accelerators_per_node": "0",
        "accelerator_model_name": "N/A",
        "accelerator_memory_capacity": "N/A",
        "accelerator_memory_configuration": "N/A",
        "accelerator_host_interconnect": "N/A",
        "accelerator_interconnect": "N/A",
        "accelerator_frequency": "N/A",
        "accelerator_interconnect_topology": "N/A",
        "accelerator_on-chip_memories": "N/A",
        "cooling": "air" if virt != "guest" else "provider managed (virtual machine)",
        "framework": framework,
        "other_software_stack": f"{software}; kernel {kernel}" if kernel else software,
        "operating_system": known("operating_system", os_name),
        "hw_notes": "",
        "sw_notes": "",
    }
    if synthetic:
        values["sw_notes"] = ("SYNTHETIC: generated model and dataset; a pipeline check, "
                              "not a result for publication")
    for k, v in (overrides or {}).items():
        values[k] = str(v)  # the inventory knows best; unknown keys only warn in the checker
        if k in unknown:
            unknown.remove(k)
    return SystemDescription(values, unknown)
