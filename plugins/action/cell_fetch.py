# Copyright: benchfleet contributors
# Apache License 2.0
"""Controller side of benchfleet.mlperf.cell_fetch: transfer, verify, unpack, move in atomically.

Nothing the host sends is trusted: the archive is size-capped before and while it is read, only regular
files and folders under ``results/`` are unpacked (no links, devices, owners or mode bits), and the
cell's identity in ``results/harness.json`` must equal the run's own plan (``plan.json``), else the cell is
refused as ``tampered``. Validity comes from the LoadGen logs, not from the host's claims.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import tarfile
import time
import zlib
from pathlib import Path

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.benchfleet.mlperf.plugins.modules.cell_fetch import ARGUMENT_SPEC

from benchfleet.digest import sha256_file
from benchfleet.harness.result import HarnessResult

LIMIT_KEYS = ("max_transfer_bytes", "max_archive_bytes", "max_unpacked_bytes", "max_members")
MiB = 1024 * 1024
_FACTOR = 4  # headroom over what the largest cell of that shape writes


class Refused(Exception):
    """The archive or what it holds is not accepted; ``kind`` is the failure kind recorded for the cell."""

    def __init__(self, message: str, kind: str = "fetch"):
        super().__init__(message)
        self.kind = kind


def default_limits(spec: dict, scenarios: list[str]) -> dict[str, int]:
    """Caps sized from what a cell of this benchmark, sample count and scenario count can write.

    Per scenario a cell keeps the full accuracy log and a truncated copy, the LoadGen logs of the accuracy,
    performance and compliance runs (under 1 MiB together) and about 35 files; the scoring files come once.
    """
    from benchfleet.benchmarks import registry

    try:
        tasks = [registry.task_for(spec.get("benchmark", "resnet50"), spec.get("backend", "onnxruntime"))]
    except (KeyError, ValueError):
        tasks = [registry.task(n) for n in registry.TASK_NAMES]  # not known: the largest of each figure
    sample, scoring = max(t.response_bytes for t in tasks), max(t.scoring_bytes for t in tasks)
    count = int(spec.get("dataset_count") or 1024)
    n = max(1, len(scenarios))
    written = n * (2 * count * sample + MiB) + scoring
    unpacked = max(64 * MiB, _FACTOR * written)
    members = 200 + 100 * n
    archive = unpacked + 2048 * members + MiB  # tar headers and padding
    return {"max_transfer_bytes": archive, "max_archive_bytes": archive, "max_unpacked_bytes": unpacked,
            "max_members": members}


def _limits(defaults: dict[str, int], *overrides) -> dict[str, int]:
    out = dict(defaults)
    for source, values in overrides:
        if not values:
            continue
        if not isinstance(values, dict):
            raise AnsibleActionFail(f"cell_fetch: {source} must be a mapping of {', '.join(LIMIT_KEYS)}")
        for k, v in values.items():
            if k not in LIMIT_KEYS:
                raise AnsibleActionFail(f"cell_fetch: {source}.{k} is not a limit; use {', '.join(LIMIT_KEYS)}")
            if v is None:  # a sweep file's FetchLimits leaves the caps it does not set at their defaults
                continue
            try:
                value = int(v)
            except (TypeError, ValueError):
                value = 0
            if value < 1 or isinstance(v, bool):
                raise AnsibleActionFail(f"cell_fetch: {source}.{k} must be a positive whole number, not {v!r}")
            out[k] = value
    return out


def _cap(name: str, limit: int, figure: int, what: str) -> None:
    if figure > limit:
        raise Refused(f"refused: {what} is over {name} ({figure} > {limit}); nothing was unpacked. Raise "
                      f"fetch_limits.{name} in the sweep file if the cell really writes that much")


def _archive_bytes(path: str, limit: int) -> int:
    """Bytes of the tar stream inside the gzip file, reading no further than ``limit`` + 1."""
    total = 0
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 16)
            if not chunk:
                break
            while chunk:
                total += len(d.decompress(chunk, 1 << 20))
                chunk = d.unconsumed_tail
                _cap("max_archive_bytes", limit, total, "the unpacked archive stream")
                if d.eof and d.unused_data:  # a second gzip member: keep reading it as gzip does
                    rest = d.unused_data
                    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    chunk = rest
    return total


def _check_members(tar: tarfile.TarFile, limits: dict[str, int]) -> list[tarfile.TarInfo]:
    """Every member, checked: under results/, a regular file or a folder, within the caps."""
    members, unpacked = [], 0
    while True:
        m = tar.next()
        if m is None:
            break
        members.append(m)
        _cap("max_members", limits["max_members"], len(members), "the number of archive members")
        name = posixpath.normpath(m.name)
        parts = name.split("/")
        if m.name.startswith("/") or ".." in parts or parts[0] != "results":
            raise Refused(f"refused archive member {m.name!r}: only files under results/ are accepted")
        if m.issym() or m.islnk():
            raise Refused(f"refused archive member {m.name!r}: a link (to {m.linkname!r}); results hold plain files")
        if not (m.isfile() or m.isdir()) or m.issparse():
            raise Refused(f"refused archive member {m.name!r}: not a regular file or folder (a device, FIFO or "
                          "other special file)")
        unpacked += m.size if m.isfile() else 0
        _cap("max_unpacked_bytes", limits["max_unpacked_bytes"], unpacked, "the unpacked size of the files")
    return members


def _plain(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo:
    """The ``data`` filter, then no owner and plain modes: nothing of the host's set-up survives."""
    member = tarfile.data_filter(member, path)
    return member.replace(mode=0o755 if member.isdir() else 0o644, uid=None, gid=None, uname=None, gname=None,
                          deep=False)


def _unpack(archive: str, dest: str, limits: dict[str, int]) -> None:
    if not hasattr(tarfile, "data_filter"):
        raise AnsibleActionFail("cell_fetch needs a Python with tarfile extraction filters (3.9.17+, 3.10.12+, "
                                "3.11.4+ or 3.12) on the controller")
    _archive_bytes(archive, limits["max_archive_bytes"])
    with tarfile.open(archive, "r:gz") as tar:
        members = _check_members(tar, limits)
        try:
            tar.extractall(dest, members=members, filter=_plain)
        except tarfile.FilterError as exc:
            raise Refused(f"refused archive member: {exc}") from exc


def _plan_cell(dest: str):
    """The run's plan and the planned cell whose folder ``dest`` is (``<run_dir>/cells/<cell-id>``)."""
    from benchfleet.sweep.rundir import RunDir

    cells_dir, cell_id = os.path.split(dest)
    run_dir = os.path.dirname(cells_dir)
    rd = RunDir(run_dir)
    if os.path.basename(cells_dir) != "cells" or not os.path.isfile(rd.plan_path):
        raise AnsibleActionFail(f"cell_fetch: dest {dest} is not <run_dir>/cells/<cell-id> of a run directory "
                                "with a plan.json; the controller checks each cell against its plan")
    plan = rd.plan()
    cell = next((c for c in plan.cells if c.id == cell_id), None)
    if cell is None:
        raise AnsibleActionFail(f"cell_fetch: {cell_id} is not a cell of run {plan.run_id}'s plan")
    return plan, cell


def _expected(plan, cell) -> list[tuple[str, object]]:
    """(field of harness.json, value the plan gives) for everything that names the cell."""
    from benchfleet.benchmarks import registry
    from benchfleet.rules import get_round

    rule = registry.rule_benchmark(cell.benchmark)
    mlperf = get_round(plan.round).benchmark(rule).name
    precision = cell.spec.get("precision") or "fp32"
    return [
        ("round", plan.round),
        ("benchmark", cell.benchmark if rule != cell.benchmark else mlperf),
        ("spec.benchmark", cell.benchmark),
        ("spec.division", cell.division),
        ("spec.mode", cell.spec.get("mode")),
        ("spec.backend", cell.backend),
        ("spec.device", cell.device),
        ("spec.precision", precision),
        ("backend.name", cell.backend),
        ("backend.device", cell.device),
        ("backend.precision", precision),
    ]


def check_identity(results: str, plan, cell) -> HarnessResult:
    """harness.json, after checking that everything in it that names the cell equals the plan."""
    path = os.path.join(results, "harness.json")
    if not os.path.isfile(path):
        raise Refused("refused: the archive has no results/harness.json")
    try:
        meta = HarnessResult.read(Path(path))
    except ValueError as exc:
        raise Refused(f"tampered: results/{exc}", "tampered") from exc
    for name, want in _expected(plan, cell):
        got = meta.value(name)
        if got != want:
            raise Refused(f"tampered: harness.json {name} is {got!r} but the plan says {want!r}; the cell's results "
                          "were refused", "tampered")
    # a harness stopped early may leave a planned scenario out; it may not add one
    got = meta.scenario_names()
    if not set(got) <= set(cell.scenarios):
        raise Refused(f"tampered: harness.json scenarios is {got!r} but the plan says {sorted(cell.scenarios)!r}; the "
                      "cell's results were refused", "tampered")
    return meta


def fetch_and_accept(action: ActionBase, args: dict, task_vars: dict, remote_size: int | None = None) -> dict:
    """Fetch ``args['src']`` from the action's host and accept it into ``args['dest']`` (cell_fetch's arguments).

    The result of a task: ``changed``, ``files``, ``validity``, or ``failed`` with ``msg`` and ``failure_kind``.
    ``remote_size``: the archive's size as the host reported it with its checksum (benchfleet.mlperf.harness_cell
    does), which spares asking the host again before the transfer; it is the host's word either way, and the copy
    is capped again once it is here.
    """
    for key in ("src", "sha256", "dest"):  # given, but empty (a host that reported no archive)
        if not args.get(key):
            raise AnsibleActionFail(f"cell_fetch: {key} is required")
    dest = os.path.abspath(os.path.expanduser(str(args["dest"]))).rstrip("/")
    if os.path.isfile(os.path.join(dest, "cell.json")):
        return dict(dest=dest, changed=False, msg="already accepted")
    plan, cell = _plan_cell(dest)
    fetch_limits = plan.sweep.fetch_limits.model_dump() if plan.sweep.fetch_limits else None
    limits = _limits(default_limits(cell.spec, cell.scenarios), ("fetch_limits", fetch_limits),
                     ("limits", args.get("limits")))
    if action._task.check_mode:
        return dict(dest=dest, changed=True, msg="would fetch and accept the results")
    try:
        return dict(dest=dest, **_accept(action, args, dest, plan, cell, limits, task_vars, remote_size))
    except Refused as exc:
        return dict(dest=dest, failed=True, changed=False, msg=str(exc), failure_kind=exc.kind)


def _accept(action: ActionBase, args: dict, dest: str, plan, cell, limits: dict[str, int], task_vars: dict,
            remote_size: int | None) -> dict:
    from benchfleet.benchmarks import registry
    from benchfleet.sweep.aggregate import cell_validity

    parent, name = os.path.split(dest)
    incoming = os.path.join(os.path.dirname(parent), "incoming", f"{name}.tgz")
    os.makedirs(os.path.dirname(incoming), exist_ok=True)
    if remote_size is None:
        remote = action._execute_remote_stat(args["src"], all_vars=task_vars, follow=False, checksum=False)
        if not remote.get("exists") or not remote.get("isreg"):
            raise Refused(f"refused: {args['src']} is not a regular file on the host")
        remote_size = int(remote.get("size") or 0)
    _cap("max_transfer_bytes", limits["max_transfer_bytes"], remote_size, f"{args['src']} on the host")
    action._connection.fetch_file(args["src"], incoming)
    try:
        _cap("max_transfer_bytes", limits["max_transfer_bytes"], os.path.getsize(incoming), "the fetched archive")
    except Refused:
        os.unlink(incoming)
        raise
    actual = sha256_file(incoming)
    if actual != args["sha256"]:
        os.unlink(incoming)
        raise AnsibleActionFail(f"checksum mismatch for {args['src']}: the host said {args['sha256']}, the copy "
                                f"has {actual}; the copy was dropped and the cell stays pending")
    tmp_dir = os.path.join(parent, f".{name}.tmp")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    os.makedirs(tmp_dir)
    try:
        _unpack(incoming, tmp_dir, limits)
        results = os.path.join(tmp_dir, "results")
        meta = check_identity(results, plan, cell)
        sums, count = [], 0
        for d, _, files in sorted(os.walk(tmp_dir)):
            for f in sorted(files):
                full = os.path.join(d, f)
                sums.append(f"{sha256_file(full)}  {os.path.relpath(full, tmp_dir)}\n")
                count += 1
        with open(os.path.join(tmp_dir, "SHA256SUMS"), "w") as f:
            f.writelines(sums)
        validity = cell_validity(Path(results), cell.scenarios, registry.rule_benchmark(cell.benchmark),
                                 plan.round)
        elapsed = meta.elapsed_s
        record = dict(args.get("record") or {}, archive_sha256=actual, accepted=time.time(), files=count,
                      validity=validity,
                      harness_elapsed_s=elapsed if isinstance(elapsed, int | float) else None)
        with open(os.path.join(tmp_dir, "cell.json"), "w") as f:
            json.dump(record, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        if os.path.isdir(dest):  # a folder without cell.json is not a finished cell
            shutil.rmtree(dest)
        os.replace(tmp_dir, dest)
    except Refused:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        os.unlink(incoming)
        raise
    except AnsibleActionFail:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    except Exception as exc:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise AnsibleActionFail(f"could not accept {incoming}: {exc}") from exc
    os.unlink(incoming)
    return {"changed": True, "files": count, "validity": validity}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False  # only fetches; no temporary folder on the host (none to clean up either)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)  # raises AnsibleActionFail
        return dict(result, **fetch_and_accept(self, args, task_vars or {}))
