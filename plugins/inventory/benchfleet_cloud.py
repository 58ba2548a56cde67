# Copyright: benchfleet contributors; Apache-2.0
"""Inventory of a benchfleet run's cloud instances across AWS, Azure and GCP."""

from __future__ import annotations

DOCUMENTATION = r"""
name: benchfleet_cloud
short_description: The instances of a benchfleet run, on every cloud, found by their tags
description:
  - Lists the instances tagged C(benchfleet-run=<run>) on each cloud system's provider and regions, and names
    each host by its C(benchfleet-host) tag (the sweep plan's host name), so a replaced instance keeps its name.
  - Groups hosts by system name, by provider (C(provider_aws)) and under C(benchfleet_cloud).
  - The configuration file name must end with C(benchfleet_cloud.yml) or C(benchfleet_cloud.yaml).
  - Credentials come from each SDK's standard chain; none are read from this file.
version_added: "0.1.0"
author: benchfleet contributors (!UNKNOWN)
extends_documentation_fragment:
  - constructed
options:
  plugin:
    description: The name of this plugin.
    required: true
    choices: [benchfleet.mlperf.benchfleet_cloud, benchfleet_cloud]
  run:
    description: The run id whose instances to list.
    type: str
    required: true
  systems:
    description:
      - Cloud systems of the run; each has name, provider, regions, options (subscription, project), ssh_user,
        address (public or private) and vars (host variables for its instances).
    type: list
    elements: dict
    default: []
  private_key_file:
    description: The run's SSH private key.
    type: path
  known_hosts_file:
    description:
      - Where the instances' host keys are recorded (first use accepted; a fresh run, fresh keys); a key that
        differs from the recorded one is refused.
    type: path
"""

EXAMPLES = r"""
# runs/clouds-3f2a9c01d4/cloud.benchfleet_cloud.yml (benchfleet sweep writes this file)
plugin: benchfleet.mlperf.benchfleet_cloud
run: clouds-3f2a9c01d4
private_key_file: runs/clouds-3f2a9c01d4/ssh/id_ed25519
systems:
  - name: aws-c6i
    provider: aws
    regions: [us-east-1, us-west-2]
    ssh_user: ubuntu
compose:
  ansible_python_interpreter: "'/usr/bin/python3'"
"""

import re

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Constructable
from ansible.utils.unsafe_proxy import wrap_var


class InventoryModule(BaseInventoryPlugin, Constructable):
    NAME = "benchfleet.mlperf.benchfleet_cloud"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(("benchfleet_cloud.yml", "benchfleet_cloud.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        try:
            from benchfleet.cloud import fleet
            from benchfleet.cloud.base import ProviderError, owner
            from benchfleet.runner import CLOUD_VARS_ALLOWED, cloud_ssh_args, refused_host_vars
        except ImportError as exc:
            raise AnsibleParserError(f"benchfleet_cloud needs the benchfleet package: {exc}") from None
        run = self.get_option("run")
        me = owner()
        key = self.get_option("private_key_file")
        known = self.get_option("known_hosts_file") or "/dev/null"
        self.inventory.add_group("benchfleet_cloud")
        for s in self.get_option("systems"):
            refused = refused_host_vars(s.get("vars") or {})
            if refused:
                raise AnsibleParserError(f"benchfleet_cloud: systems ({s['name']}).cloud.vars: {', '.join(refused)} "
                                         "may not be set by a sweep file (connection settings stay benchfleet's); "
                                         f"allowed: {', '.join(CLOUD_VARS_ALLOWED)}")
            try:
                found = fleet.provider(s["provider"], **(s.get("options") or {})).list(s["regions"], run)
            except ProviderError as exc:
                raise AnsibleParserError(f"benchfleet_cloud: listing {s['name']} failed: {exc}") from None
            group = self.inventory.add_group(_group(s["name"]))
            by_provider = self.inventory.add_group(f"provider_{s['provider']}")
            for inst in found:
                # another owner's instance tagged with this run never takes a plan host's name
                if inst.system != s["name"] or not inst.alive or not inst.host or inst.owner != me:
                    continue
                host = self.inventory.add_host(inst.host, group=group)
                self.inventory.add_child("benchfleet_cloud", group)
                self.inventory.add_child(by_provider, host)
                address = inst.private_ip if s.get("address") == "private" else (inst.public_ip or inst.private_ip)
                hostvars = {
                    "ansible_host": address,
                    "ansible_user": s.get("ssh_user") or "ubuntu",
                    # Replaces the lab hosts' strict ssh_args: first use accepted into the run's own known_hosts,
                    # a changed key refused; keep-alives for preempted instances (runner.cloud_ssh_args).
                    "ansible_ssh_args": cloud_ssh_args(known),
                    "benchfleet_instance": {k: getattr(inst, k) for k in (
                        "provider", "id", "region", "zone", "instance_type", "spot", "launched_at", "expires")},
                    # the sweep file's text: data, never rendered as a template on the controller
                    **{k: wrap_var(v) for k, v in (s.get("vars") or {}).items()},
                }
                if key:
                    hostvars["ansible_ssh_private_key_file"] = key
                for k, v in hostvars.items():
                    self.inventory.set_variable(host, k, v)
                strict = self.get_option("strict")
                self._set_composite_vars(self.get_option("compose"), hostvars, host, strict=strict)
                self._add_host_to_composed_groups(self.get_option("groups"), hostvars, host, strict=strict)
                self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hostvars, host, strict=strict)


def _group(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)
