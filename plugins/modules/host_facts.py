#!/usr/bin/python
# Copyright: benchfleet contributors
# Apache License 2.0
"""Describe a host for its MLPerf system description, and probe the benchfleet harness there."""

from __future__ import annotations

DOCUMENTATION = r"""
module: host_facts
short_description: Describe a host for benchfleet (CPU, caches, memory, storage, network, OS, GPUs)
description:
  - Reads C(/proc), C(/sys), C(/etc/os-release), and C(dmidecode) and C(nvidia-smi) where present, and
    returns them as the C(benchfleet_host) fact. It is far lighter than the setup module, so a
    controller can describe many hosts quickly.
  - Values it cannot read are left out (never guessed); the system description marks them unknown.
  - With I(python), also checks that the benchfleet harness, LoadGen and ONNX Runtime are importable by
    that interpreter (C(benchfleet_host.harness)).
options:
  python:
    description: Interpreter to probe for the harness; no probe when empty.
    type: str
    default: ""
  description:
    description:
      - System description values that win over what is read (the inventory's C(benchfleet_system));
        returned as C(benchfleet_host.overrides) for the system description.
    type: dict
    default: {}
attributes:
  check_mode:
    description: Reads only; the same in check mode.
    support: full
author: benchfleet contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Describe the host and probe the harness
  benchfleet.mlperf.host_facts:
    python: /opt/benchfleet/venv/bin/python
"""

RETURN = r"""
ansible_facts:
  description: C(benchfleet_host), a dict with cpu_model, sockets, cores_per_socket, vcpus, cpu_mhz,
    cpu_mhz_source, caches, mem_total_mb, memory_configuration, os, os_id, os_version, os_like, kernel,
    machine, disks, storage_type, storage_bytes, nics, virtualization, gpus (nvidia-smi), cuda_version,
    pci_gpus (NVIDIA devices on the PCI bus, with or without a driver), home, harness, overrides.
  type: dict
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.benchfleet.mlperf.plugins.module_utils._host_probe import READERS, probe

ARGUMENT_SPEC = dict(
    python=dict(type="str", default=""),
    description=dict(type="dict", default={}),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    host = {}
    for part in READERS:
        try:
            host.update(part())
        except Exception as exc:  # one unreadable source must not hide the others
            host.setdefault("errors", []).append(f"{part.__name__}: {exc}")
    if module.params["python"]:
        host["harness"] = probe(module.params["python"])
    host["overrides"] = {k: str(v) for k, v in module.params["description"].items()}
    module.exit_json(changed=False, ansible_facts={"benchfleet_host": host})


if __name__ == "__main__":
    main()
