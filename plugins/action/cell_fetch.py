# Copyright: benchfleet contributors
# Apache License 2.0
"""Controller side of benchfleet.mlperf.cell_fetch: transfer, verify, unpack, move in atomically."""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import time

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from benchfleet.harness.accuracy import sha256_file


def _safe_members(tar: tarfile.TarFile, root: str):
    base = os.path.realpath(root) + os.sep
    for m in tar.getmembers():
        target = os.path.realpath(os.path.join(root, m.name))
        if not target.startswith(base) or m.issym() or m.islnk() or m.isdev():
            raise AnsibleActionFail(f"refusing archive member {m.name!r}")
        yield m


class ActionModule(ActionBase):
    TRANSFERS_FILES = False  # only fetches; no temporary folder on the host (none to clean up either)
    _VALID_ARGS = frozenset(("src", "sha256", "dest", "record"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        for key in ("src", "sha256", "dest"):
            if not args.get(key):
                raise AnsibleActionFail(f"cell_fetch: {key} is required")
        dest = os.path.abspath(os.path.expanduser(str(args["dest"]))).rstrip("/")
        result["dest"] = dest
        if os.path.isfile(os.path.join(dest, "cell.json")):
            return dict(result, changed=False, msg="already accepted")
        if self._task.check_mode:
            return dict(result, changed=True, msg="would fetch and accept the results")
        parent, name = os.path.split(dest)
        incoming = os.path.join(os.path.dirname(parent), "incoming", f"{name}.tgz")
        os.makedirs(os.path.dirname(incoming), exist_ok=True)
        self._connection.fetch_file(args["src"], incoming)
        actual = sha256_file(incoming)
        if actual != args["sha256"]:
            os.unlink(incoming)
            raise AnsibleActionFail(f"checksum mismatch for {args['src']}: the host said {args['sha256']}, the copy "
                                    f"has {actual}; the copy was dropped and the cell stays pending")
        tmp_dir = os.path.join(parent, f".{name}.tmp")
        shutil.rmtree(tmp_dir, ignore_errors=True)
        os.makedirs(tmp_dir)
        try:
            with tarfile.open(incoming, "r:gz") as tar:
                tar.extractall(tmp_dir, members=list(_safe_members(tar, tmp_dir)))
            sums, count = [], 0
            for d, _, files in sorted(os.walk(tmp_dir)):
                for f in sorted(files):
                    full = os.path.join(d, f)
                    sums.append(f"{sha256_file(full)}  {os.path.relpath(full, tmp_dir)}\n")
                    count += 1
            with open(os.path.join(tmp_dir, "SHA256SUMS"), "w") as f:
                f.writelines(sums)
            meta_path = os.path.join(tmp_dir, "results", "harness.json")
            meta = json.load(open(meta_path)) if os.path.isfile(meta_path) else {}
            runs = [r for s in meta.get("scenarios", []) for r in s.get("runs", []) if r.get("kind") == "performance"]
            validity = "VALID" if runs and all(r.get("validity") == "VALID" for r in runs) else "INVALID"
            record = dict(args.get("record") or {}, archive_sha256=actual, accepted=time.time(), files=count,
                          validity=validity, harness_elapsed_s=meta.get("elapsed_s"))
            with open(os.path.join(tmp_dir, "cell.json"), "w") as f:
                json.dump(record, f, indent=2)
                f.flush()
                os.fsync(f.fileno())
            if os.path.isdir(dest):  # a folder without cell.json is not a finished cell
                shutil.rmtree(dest)
            os.replace(tmp_dir, dest)
        except AnsibleActionFail:
            shutil.rmtree(tmp_dir, ignore_errors=True)
            raise
        except Exception as exc:
            shutil.rmtree(tmp_dir, ignore_errors=True)
            raise AnsibleActionFail(f"could not accept {incoming}: {exc}") from exc
        os.unlink(incoming)
        return dict(result, changed=True, files=count, validity=validity)
