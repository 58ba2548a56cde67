#!/usr/bin/python
# Copyright: benchfleet contributors
# Apache License 2.0
"""Accept a fetched cell archive into the run directory: checksum, unpack, move in atomically."""

from __future__ import annotations

DOCUMENTATION = r"""
module: cell_accept
short_description: Move a fetched benchfleet cell into the run directory, atomically and checksummed
description:
  - Runs on the controller (C(delegate_to: localhost)).
  - Verifies the sha256 of the fetched C(results.tgz) against the one the host reported, unpacks it
    into a hidden temporary folder, writes C(SHA256SUMS) and C(cell.json), then renames the folder to
    I(dest) in one step. A crash leaves either the finished cell or nothing.
  - Idempotent; an accepted cell is left as it is.
options:
  archive:
    description: The fetched C(results.tgz).
    type: path
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
- name: Accept the results
  benchfleet.mlperf.cell_accept:
    archive: runs/sweep-1/incoming/node1.resnet50.onnxruntime-cpu.open.SingleStream.tgz
    sha256: "{{ cell.sha256 }}"
    dest: runs/sweep-1/cells/node1.resnet50.onnxruntime-cpu.open.SingleStream
    record: {host: node1}
  delegate_to: localhost
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

import hashlib
import json
import os
import shutil
import tarfile
import time

from ansible.module_utils.basic import AnsibleModule


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _safe_members(tar, root):
    for m in tar.getmembers():
        target = os.path.realpath(os.path.join(root, m.name))
        if not target.startswith(os.path.realpath(root) + os.sep) or m.issym() or m.islnk() or m.isdev():
            raise ValueError(f"refusing archive member {m.name!r}")
        yield m


def main():
    module = AnsibleModule(
        argument_spec=dict(
            archive=dict(type="path", required=True),
            sha256=dict(type="str", required=True),
            dest=dict(type="path", required=True),
            record=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )
    p = module.params
    dest = p["dest"].rstrip("/")
    if os.path.isfile(os.path.join(dest, "cell.json")):
        module.exit_json(changed=False, dest=dest, msg="already accepted")
    if module.check_mode:
        module.exit_json(changed=True, dest=dest, msg="would accept the archive")
    if not os.path.isfile(p["archive"]):
        module.fail_json(msg=f"archive {p['archive']} is missing; the fetch did not complete")
    actual = _sha256(p["archive"])
    if actual != p["sha256"]:
        os.unlink(p["archive"])
        module.fail_json(msg=f"checksum mismatch for {p['archive']}: host said {p['sha256']}, got {actual}; "
                             "the archive was dropped and the cell stays pending")
    parent, name = os.path.split(dest)
    tmp = os.path.join(parent, f".{name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        with tarfile.open(p["archive"], "r:gz") as tar:
            tar.extractall(tmp, members=list(_safe_members(tar, tmp)))
        sums, count = [], 0
        for d, _, files in sorted(os.walk(tmp)):
            for f in sorted(files):
                full = os.path.join(d, f)
                sums.append(f"{_sha256(full)}  {os.path.relpath(full, tmp)}\n")
                count += 1
        with open(os.path.join(tmp, "SHA256SUMS"), "w") as f:
            f.writelines(sums)
        meta_path = os.path.join(tmp, "results", "harness.json")
        meta = json.load(open(meta_path)) if os.path.isfile(meta_path) else {}
        runs = [r for s in meta.get("scenarios", []) for r in s.get("runs", []) if r.get("kind") == "performance"]
        validity = "VALID" if runs and all(r.get("validity") == "VALID" for r in runs) else "INVALID"
        record = dict(p["record"], archive_sha256=actual, accepted=time.time(), files=count, validity=validity,
                      harness_elapsed_s=meta.get("elapsed_s"))
        with open(os.path.join(tmp, "cell.json"), "w") as f:
            json.dump(record, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        if os.path.isdir(dest):  # a folder without cell.json is not a finished cell
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except Exception as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        module.fail_json(msg=f"could not accept {p['archive']}: {exc}")
    os.unlink(p["archive"])
    module.exit_json(changed=True, dest=dest, files=count, validity=validity)


if __name__ == "__main__":
    main()
