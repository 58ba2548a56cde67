# Copyright: benchfleet contributors
# Apache License 2.0
"""Controller side of benchfleet.mlperf.folder_push: list the host's folder once, send what it lacks as one tar."""

from __future__ import annotations

import hashlib
import os
import posixpath
import tarfile
import tempfile

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.benchfleet.mlperf.plugins.modules.folder_push import ARGUMENT_SPEC


def _sha1(path: str) -> str:
    h = hashlib.sha1()  # noqa: S324 - the checksum ansible.builtin.find reports; integrity, not security
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def local_files(src: str) -> dict[str, tuple[int, int]]:
    """The regular files directly in ``src`` (no links), name -> (size, whole seconds of mtime)."""
    if not os.path.isdir(src):
        raise AnsibleActionFail(f"folder_push: src {src} is not a folder on the controller")
    out = {}
    for entry in os.scandir(src):
        if entry.is_file(follow_symlinks=False):
            st = entry.stat(follow_symlinks=False)
            out[entry.name] = (st.st_size, int(st.st_mtime))
    return out


def to_send(local: dict[str, tuple[int, int]], there: dict[str, tuple[int, int]]) -> list[str]:
    """The names whose file the host lacks or holds at another size or modification time (the tar keeps it)."""
    return sorted(n for n, stamp in local.items() if there.get(n) != stamp)


class ActionModule(ActionBase):
    TRANSFERS_FILES = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        src, dest, mode = os.path.expanduser(args["src"]), args["dest"].rstrip("/") or "/", args["mode"]
        if not (mode.isdigit() and set(mode) <= set("01234567") and len(mode) <= 4):
            raise AnsibleActionFail(f"folder_push: mode {mode!r} is not an octal mode such as 0644")
        local = local_files(src)
        there = self._listing(dest, task_vars, checksums=False)
        send = to_send(local, {n: (f["size"], f["mtime"]) for n, f in there.items()})
        result.update(sent=send, bytes=sum(local[n][0] for n in send), changed=bool(send))
        if not send or self._task.check_mode:
            return result
        made = self._execute_module("ansible.builtin.file", module_args={"path": dest, "state": "directory",
                                                                          "mode": "0755"}, task_vars=task_vars)
        if made.get("failed"):
            raise AnsibleActionFail(f"folder_push: cannot make {dest} on the host: {made.get('msg')}")
        tmpdir = self._make_tmp_path()
        with tempfile.TemporaryDirectory(prefix="benchfleet-push-") as ltmp:
            archive = os.path.join(ltmp, "push.tar")
            with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
                for name in send:
                    info = tar.gettarinfo(os.path.join(src, name), arcname=name)
                    info.uid = info.gid = 0
                    info.uname = info.gname = ""
                    info.mode = int(mode, 8)  # validated as octal digits in run()
                    with open(os.path.join(src, name), "rb") as f:
                        tar.addfile(info, f)
            remote = posixpath.join(tmpdir, "push.tar")
            self._transfer_file(archive, remote)
        self._fixup_perms2((tmpdir, remote))
        try:
            res = self._execute_module("ansible.builtin.unarchive",
                                       module_args={"src": remote, "dest": dest, "remote_src": True, "mode": mode},
                                       task_vars=task_vars)
            if res.get("failed"):
                raise AnsibleActionFail(f"folder_push: unpacking into {dest} on the host failed: {res.get('msg')}")
        finally:
            self._remove_tmp_path(tmpdir)
        there = self._listing(dest, task_vars, checksums=True)
        bad = [n for n in send if there.get(n, {}).get("checksum") != _sha1(os.path.join(src, n))]
        if bad:
            raise AnsibleActionFail(f"folder_push: {', '.join(bad)} in {dest} on the host differ from the controller's "
                                    "after the transfer; run again, or check the host's disk")
        return result

    def _listing(self, dest: str, task_vars, checksums: bool) -> dict[str, dict]:
        """name -> {size, checksum} of the regular files directly in ``dest`` on the host ({} when it is missing)."""
        found = self._execute_module("ansible.builtin.find", module_args={
            "paths": [dest], "file_type": "file", "hidden": True, "recurse": False, "get_checksum": checksums},
            task_vars=task_vars)
        if found.get("failed"):
            raise AnsibleActionFail(f"folder_push: cannot list {dest} on the host: {found.get('msg')}")
        out = {}
        for f in found.get("files") or []:  # recurse is off: every file found is directly in dest
            mtime = f.get("mtime")
            out[posixpath.basename(str(f.get("path", "")))] = {
                "size": f.get("size"), "mtime": int(mtime) if isinstance(mtime, int | float) else None,
                "checksum": f.get("checksum")}
        return out
