#!/usr/bin/python
# Copyright: benchfleet contributors
# Apache License 2.0
"""Documentation of the cell_fetch action (the work is done on the controller by plugins/action/cell_fetch.py)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: cell_fetch
short_description: Bring a finished benchfleet cell home, checksummed, into the run directory in one step
description:
  - Runs on the controller as an action plugin; nothing is executed on the host but the file transfer
    over the host's own connection.
  - Copies the host's C(results.tgz) into C(<run_dir>/incoming/), verifies it against the sha256 the
    host reported, unpacks it into a hidden temporary folder, writes C(SHA256SUMS) and C(cell.json), and
    renames the folder to I(dest) in one step. A crash leaves either the finished cell or nothing.
  - Idempotent; an accepted cell is left as it is.
options:
  src:
    description: Path of C(results.tgz) on the host.
    type: str
    required: true
  sha256:
    description: sha256 of the archive as computed on the host.
    type: str
    required: true
  dest:
    description: The cell's folder in the run directory (C(runs/<run-id>/cells/<cell-id>)).
    type: path
    required: true
  record:
    description: What to keep in C(cell.json) beside the checksums (host, cell id, times).
    type: dict
    default: {}
attributes:
  check_mode:
    support: full
author: benchfleet contributors
"""

EXAMPLES = r"""
- name: Bring the results home
  benchfleet.mlperf.cell_fetch:
    src: "{{ cell.archive }}"
    sha256: "{{ cell.sha256 }}"
    dest: runs/sweep-1/cells/node1.resnet50.onnxruntime-cpu.open.SingleStream
    record: {host: node1}
"""

RETURN = r"""
dest:
  description: The accepted cell folder.
  type: str
  returned: always
files:
  description: Number of files accepted.
  type: int
  returned: when changed
validity:
  description: VALID when every performance run of the cell is valid, else INVALID.
  type: str
  returned: when changed
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec={}, supports_check_mode=True)
    module.fail_json(msg="benchfleet.mlperf.cell_fetch runs as an action plugin on the controller")


if __name__ == "__main__":
    main()
