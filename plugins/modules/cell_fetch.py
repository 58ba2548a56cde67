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
  - Nothing from the host is trusted. The archive is refused (an infrastructure failure of kind C(fetch)
    naming the cap and the figure) when it is over a cap, namely the file's size before and after the transfer
    (C(max_transfer_bytes)), its unpacked tar stream (C(max_archive_bytes)), the files' total size
    (C(max_unpacked_bytes)) or the number of members (C(max_members)); or when a member is outside
    C(results/), a link, a device or another special file. Files are unpacked with the C(data) filter,
    without owners, setuid bits or the host's modes (files 0644, folders 0755).
  - The cell's identity in C(results/harness.json) (round, benchmark, division, mode, backend, device,
    precision, scenario names) must equal the run's plan (C(<run_dir>/plan.json)); otherwise the cell is
    refused as C(tampered) (an infrastructure failure) with a message naming the field and both values.
  - Validity in C(cell.json) comes from the LoadGen logs, not from the host's C(harness.json).
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
  limits:
    description:
      - Caps over the defaults, which are sized from the cell's benchmark, sample count and scenarios
        (4 times what such a cell writes; at least 64 MiB unpacked, 200 + 100 per scenario members), and
        over the sweep file's C(fetch_limits).
      - Keys C(max_transfer_bytes), C(max_archive_bytes), C(max_unpacked_bytes), C(max_members); positive
        whole numbers.
    type: dict
    default: {}
attributes:
  check_mode:
    description: Says whether the cell would be fetched; transfers and writes nothing.
    support: full
author: benchfleet contributors (!UNKNOWN)
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
  description: VALID when the performance log of every planned scenario of the cell says VALID, else INVALID.
  type: str
  returned: when changed
failure_kind:
  description: C(tampered) when the cell's harness.json does not match the plan, else C(fetch).
  type: str
  returned: when refused
"""

from ansible.module_utils.basic import AnsibleModule

# The arguments, declared once: plugins/action/cell_fetch.py validates the task's arguments against it.
ARGUMENT_SPEC = dict(
    src=dict(type="str", required=True),
    sha256=dict(type="str", required=True),
    dest=dict(type="path", required=True),
    record=dict(type="dict", default={}),
    limits=dict(type="dict", default={}),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.fail_json(msg="benchfleet.mlperf.cell_fetch runs as an action plugin on the controller")


if __name__ == "__main__":
    main()
