#!/usr/bin/python
# Copyright: benchfleet contributors
# Apache License 2.0
"""Documentation of the folder_push action (the work is done on the controller by plugins/action/folder_push.py)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: folder_push
short_description: Copy the files of a controller folder that a host lacks, in one transfer
description:
  - Runs on the controller as an action plugin. It lists I(dest) on the host once (C(ansible.builtin.find)),
    sends the files of I(src) that are missing there or differ in size as one uncompressed tar, unpacks it
    there (C(ansible.builtin.unarchive)) and checks every sent file's sha1 on the host against the controller's.
  - Made for the offline wheelhouse (about 40 wheels, 125 MB) that C(ansible.builtin.copy) pushed one module
    run per file (45 s on loopback, every run, even when nothing changed); here a run with nothing to send is
    one listing.
  - Only the regular files directly in I(src) are sent (no subfolders, no links). Files on the host that
    I(src) does not have are left alone.
  - A file whose name, size and modification time (whole seconds; the tar keeps it) match is taken as the same file,
    as C(rsync) does without C(--checksum).
options:
  src:
    description: Folder on the controller.
    type: path
    required: true
  dest:
    description: Folder on the host; made (with I(mode) for its files' folder 0755) when missing.
    type: str
    required: true
  mode:
    description: Mode of the sent files on the host, in octal digits.
    type: str
    default: "0644"
attributes:
  check_mode:
    description: Lists the files that would be sent; sends nothing.
    support: full
author: benchfleet contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Push the wheelhouse
  benchfleet.mlperf.folder_push:
    src: /home/me/.cache/benchfleet/wheels
    dest: "{{ benchfleet_host.home }}/.benchfleet/wheels"
"""

RETURN = r"""
sent:
  description: Names of the files sent (in check mode, that would be sent).
  type: list
  elements: str
  returned: always
bytes:
  description: Their total size.
  type: int
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule

# The arguments, declared once: plugins/action/folder_push.py validates the task's arguments against it.
ARGUMENT_SPEC = dict(
    src=dict(type="path", required=True),
    dest=dict(type="str", required=True),
    mode=dict(type="str", default="0644"),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.fail_json(msg="benchfleet.mlperf.folder_push runs as an action plugin on the controller")


if __name__ == "__main__":
    main()
