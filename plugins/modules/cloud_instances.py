#!/usr/bin/python
# Copyright: benchfleet contributors; Apache-2.0
"""Create or delete a benchfleet run's cloud instances (AWS, Azure, GCP)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: cloud_instances
short_description: Create or delete the cloud instances of a benchfleet run, with zone and region failover
description:
  - C(state=present) gives every host of every cloud system a running instance; hosts that already have
    one keep it, so a second run changes nothing.
  - Capacity errors move to the next zone, regional quota errors to the next region; credential errors or
    an account-wide quota stop that cloud. Every attempt is returned.
  - C(state=absent) deletes every instance and run-scoped resource (key pairs, security groups, resource
    groups, firewall rules) tagged with the run and owned by this controller's user, and confirms it by listing.
  - Every resource carries the tags C(benchfleet-run), C(benchfleet-expires) and C(benchfleet-owner).
  - "Owner-scoped: an instance tagged with the run is adopted only when its C(benchfleet-owner) is ours, and a
    key pair, security group, resource group or firewall rule named after the run is reused only when it is ours
    and as benchfleet made it (key fingerprint, SSH-only ingress from ssh_cidr); otherwise that host fails with
    the reason and nothing is created."
  - A world-open ssh_cidr (0.0.0.0/0, ::/0, shorter than /8) is refused unless the system sets allow_world_ssh.
  - Credentials come from each SDK's standard chain only (environment, profiles, managed identities).
  - "Runs on the controller (C(delegate_to: localhost)); needs the benchfleet package there."
version_added: "0.1.0"
author: benchfleet contributors (!UNKNOWN)
options:
  run:
    description: "The run id (tag C(benchfleet-run)); lowercase letters, digits and dashes."
    type: str
    required: true
  state:
    description: "C(present) to create what is missing, C(absent) to delete everything of the run."
    type: str
    choices: [present, absent]
    default: present
  systems:
    description:
      - Cloud systems; each has name, provider (aws, azure, gcp, ovh, oci, alibaba), regions, zones, instance_type,
        image, hosts (the plan's host names, one instance each), disk_gb, spot, ssh_user, ssh_cidr, allow_world_ssh,
        hours (until the resources expire, by their tag and the instances' own power-off) and options (subscription,
        project).
    type: list
    elements: dict
    default: []
  public_key_file:
    description: The run's SSH public key (imported as the run's key pair).
    type: path
  ssh_cidr:
    description: The only source address range allowed to reach port 22 (a system's own ssh_cidr wins).
    type: str
    default: ""
  ledger:
    description: File on the controller where created and deleted instances are appended (for cost).
    type: path
  timeout_s:
    description: How long C(state=absent) waits for deletions to show in the listing.
    type: float
    default: 600
"""

EXAMPLES = r"""
- name: Instances for the run
  benchfleet.mlperf.cloud_instances:
    run: clouds-3f2a9c01d4
    public_key_file: runs/clouds-3f2a9c01d4/ssh/id_ed25519.pub
    ssh_cidr: 203.0.113.7/32
    systems:
      - name: aws-c6i
        provider: aws
        regions: [us-east-1, us-west-2]
        zones: []
        instance_type: c6i.2xlarge
        image: ubuntu-22.04
        hosts: [aws-c6i-1, aws-c6i-2]
  delegate_to: localhost

- name: Delete everything of the run
  benchfleet.mlperf.cloud_instances:
    run: clouds-3f2a9c01d4
    state: absent
    systems: "{{ benchfleet_cloud_systems }}"
  delegate_to: localhost
"""

RETURN = r"""
instances:
  description: The run's instances after the call (provider, id, host, region, zone, addresses, state).
  returned: state=present
  type: list
  elements: dict
created:
  description: Hosts that got a new instance (in check mode, that would get one).
  returned: always
  type: list
  elements: str
attempts:
  description: Every create attempt with its outcome (created, capacity, quota, quota-global, auth, bad-request).
  returned: state=present
  type: list
  elements: dict
failed_hosts:
  description: Hosts left without an instance, and why.
  returned: state=present
  type: dict
deleted:
  description: What state=absent deleted (instances and run-scoped resources).
  returned: state=absent
  type: list
  elements: str
"""

from pathlib import Path

from ansible.module_utils.basic import AnsibleModule


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "run": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "systems": {"type": "list", "elements": "dict", "default": []},
            "public_key_file": {"type": "path"},
            "ssh_cidr": {"type": "str", "default": ""},
            "ledger": {"type": "path"},
            "timeout_s": {"type": "float", "default": 600.0},
        },
        required_if=[("state", "present", ("public_key_file",))],
        supports_check_mode=True,
    )
    try:
        from benchfleet.cloud import fleet
        from benchfleet.cloud.base import ProviderError, check_run_id, owner
    except ImportError as exc:
        module.fail_json(msg=f"the benchfleet package is needed on the controller: {exc}; pip install "
                             "'benchfleet[cloud]'")
    p = module.params
    try:
        check_run_id(p["run"])
    except ValueError as exc:
        module.fail_json(msg=f"run: {exc}")
    ledger = Path(p["ledger"]) if p["ledger"] else None
    try:
        systems = [fleet.SystemRequest.from_dict(s) for s in p["systems"]]
    except TypeError as exc:  # a system without name, provider or regions
        module.fail_json(msg=f"systems: {exc}")
    try:
        if p["state"] == "absent":
            targets = fleet.targets_for(systems)
            if module.check_mode:
                me = owner()
                rep = fleet.delete(targets, p["run"], lambda i: i.run == p["run"] and i.owner == me, dry_run=True,
                                   owner=me)
            else:
                rep = fleet.teardown(p["run"], targets, ledger=ledger, timeout_s=p["timeout_s"])
            if rep.remaining or rep.errors:
                module.fail_json(msg="teardown incomplete: " + "; ".join(rep.remaining + rep.errors),
                                 deleted=rep.deleted, remaining=rep.remaining)
            module.exit_json(changed=bool(rep.deleted), deleted=rep.deleted, created=[])
        public_key = Path(p["public_key_file"]).read_text().strip() if Path(p["public_key_file"]).is_file() else ""
        if not public_key and not module.check_mode:
            module.fail_json(msg=f"public_key_file: {p['public_key_file']} does not exist")
        missing = [s.name for s in systems if not (s.ssh_cidr or p["ssh_cidr"])]
        if missing:
            module.fail_json(msg=f"ssh_cidr: none for {', '.join(missing)}; give the controller's address range")
        res = fleet.provision(p["run"], systems, public_key, p["ssh_cidr"], check=module.check_mode, ledger=ledger)
    except ProviderError as exc:
        module.fail_json(msg=str(exc), kind=exc.kind)
    out = res.to_dict()
    module.exit_json(changed=bool(res.created), failed_hosts=out.pop("failed"), **out)


if __name__ == "__main__":
    main()
