#!/usr/bin/python
# Copyright: benchfleet contributors
# Apache License 2.0
"""Start, follow or stop one benchfleet harness cell on a host."""

from __future__ import annotations

DOCUMENTATION = r"""
module: harness_cell
short_description: Start, follow or stop one benchfleet harness cell on a host
description:
  - Runs C(python -m benchfleet.harness) for one sweep cell, detached from the connection, so that a
    lost SSH connection does not kill a benchmark and a later run can collect what it measured.
  - The cell folder holds C(spec.json), C(pid), C(rc) (written when the harness exits), C(stdout.log),
    C(stderr.log), C(progress.log), C(measuring) (while performance and compliance runs are timed) and C(results/).
  - Idempotent; a finished cell is never started again and a running one is not started twice.
options:
  path:
    description: The cell folder on the host.
    type: path
    required: true
  state:
    description:
      - C(started) launches the harness unless it is running or finished (a failed cell is started again).
      - C(finished) first does what C(started) does when I(spec) and I(python) are given (one round trip
        for both), then waits up to I(wait) seconds; when the harness has exited 0 it packs C(results.tgz)
        and returns its sha256; when it failed, the module fails with the end of its stderr.
      - C(stopped) ends a running harness (used when a cell times out).
    type: str
    choices: [started, finished, stopped]
    default: started
  spec:
    description: The harness spec. Required with O(state=started); with O(state=finished) together with I(python).
    type: dict
  python:
    description: Python interpreter with benchfleet installed. Required with O(state=started).
    type: str
  wait:
    description:
      - Seconds to wait for the harness in one call (state=finished). The call returns earlier when the
        harness logs new progress lines, so that followers see each step, except while the harness
        times performance and compliance runs (it holds C(measuring)). Each return starts processes on
        the host, and returning at the progress line that opens a run slows the start of that run,
        skewing the runs the compliance rules compare.
    type: int
    default: 10
  session:
    description:
      - An id of the controller's run (state=finished). The first call of a session does what
        C(started) does; later calls of the same session only follow, so a harness that finished
        while being followed is not reported as "finished earlier", and one that died is not restarted.
    type: str
    default: ""
  min_wait:
    description: Seconds a state=finished call waits at least before returning for new progress lines.
    type: float
    default: 2.0
  timeout:
    description:
      - Ceiling, in seconds after the start, at which a running harness is stopped and the cell fails
        (state=finished), even one that is still progressing; 0 sets none. A slow host is held by I(stall).
    type: int
    default: 0
  stall:
    description:
      - Seconds without a new progress line or heartbeat after which a running harness is taken for hung,
        stopped, and the cell fails (state=finished); 0 never. The harness rewrites C(heartbeat) every 30 s in
        which it or its LoadGen run used CPU, so a long run on a slow host is not a stall.
    type: int
    default: 900
  preemption:
    description:
      - For a cloud instance that may be taken back (spot). While following (state=finished), its provider's
        interruption notice is read from the instance metadata service every few seconds; on a notice the
        harness is stopped and the call fails at once with RV(preempted), so the cell is run again on another
        instance without waiting for the connection to drop.
    type: dict
    suboptions:
      provider:
        description: Whose metadata service to read.
        type: str
        required: true
        choices: [aws, gcp, azure, alibaba]
      url:
        description: The metadata service's base URL (default the provider's link-local address).
        type: str
        default: ""
  fetch:
    description:
      - With O(state=finished), the call that finds the harness finished also brings C(results.tgz) home and
        accepts it into the run directory on the controller, with the code of M(benchfleet.mlperf.cell_fetch)
        (size caps, checksum, plain files under C(results/) only, the cell's identity checked against the plan),
        which saves one task and one round trip per cell. Done by the action plugin on the controller; the host
        never sees it. Not in check mode.
      - A refused archive fails the call with RV(failure_kind) C(tampered) or C(fetch).
    type: dict
    suboptions:
      dest:
        description: C(<run_dir>/cells/<cell-id>) on the controller.
        type: path
        required: true
      record:
        description: Extra fields for the cell's C(cell.json); the harness's times (RV(elapsed), RV(started_at),
          RV(ended_at)) are added as C(harness_seconds), C(harness_started_at) and C(harness_ended_at).
        type: dict
        default: {}
      limits:
        description: Caps over the sweep file's C(fetch_limits), as
          O(benchfleet.mlperf.cell_fetch#module:limits) of M(benchfleet.mlperf.cell_fetch).
        type: dict
        default: {}
attributes:
  action:
    description: The follow runs on the host; O(fetch) runs on the controller (plugins/action/harness_cell.py).
    support: full
  check_mode:
    description: Reports what a call would start, pack or stop, and does none of it.
    support: full
author: benchfleet contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Start the harness
  benchfleet.mlperf.harness_cell:
    path: /var/tmp/benchfleet/run-1/node1.resnet50.onnxruntime-cpu.open.SingleStream
    spec: "{{ cell.spec }}"
    python: /opt/benchfleet/venv/bin/python

- name: Wait for it, reporting progress
  benchfleet.mlperf.harness_cell:
    path: /var/tmp/benchfleet/run-1/node1.resnet50.onnxruntime-cpu.open.SingleStream
    state: finished
    wait: 10
  register: cell
  until: cell.finished
  retries: 360
  delay: 0
"""

RETURN = r"""
finished:
  description: Whether the harness has exited successfully (state=finished).
  type: bool
  returned: always
running:
  description: Whether the harness process is alive.
  type: bool
  returned: always
progress:
  description: The last line of the harness's progress log.
  type: str
  returned: always
progress_new:
  description: Progress lines logged since the previous state=finished call (a cursor kept in the cell folder).
  type: list
  elements: str
  returned: state=finished
archive:
  description: Path of C(results.tgz) on the host.
  type: str
  returned: when finished
sha256:
  description: sha256 of C(results.tgz).
  type: str
  returned: when finished
elapsed:
  description: Seconds since the harness was started.
  type: float
  returned: when known
started_at:
  description: When the harness started (epoch seconds, host clock).
  type: float
  returned: when finished
ended_at:
  description: When the harness exited (epoch seconds, host clock).
  type: float
  returned: when finished
archive_size:
  description: Bytes of C(results.tgz) (the host's word; the controller caps its copy again).
  type: int
  returned: when finished
fetched:
  description: The results were brought home and accepted into O(fetch.dest).
  type: bool
  returned: when O(fetch) is given and the harness finished
validity:
  description: The cell's validity from its LoadGen logs, read on the controller after O(fetch).
  type: str
  returned: when fetched
failure_kind:
  description: Why O(fetch) refused the archive, C(tampered) (it contradicts the plan) or C(fetch).
  type: str
  returned: when the fetch failed
timed_out:
  description: The harness was stopped for time (I(stall) or I(timeout)); the message says what was kept.
  type: bool
  returned: when stopped for time
stalled:
  description: It was stopped because it showed no progress for I(stall) seconds (not at the ceiling).
  type: bool
  returned: when stopped for time
preempted:
  description: It was stopped because the instance got an interruption notice (the message quotes it).
  type: bool
  returned: when stopped for a notice
power_failed:
  description: The harness exited because the power measurement (MLCommons' power client, the power server or the
    analyzer) failed; the benchmark itself did not.
  type: bool
  returned: when the power measurement failed
"""


import json
import os
import shlex
import signal
import subprocess
import tarfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.benchfleet.mlperf.plugins.module_utils._cell_folder import (
    ARCHIVE,
    HARNESS_JSON,
    MEASURING,
    PID,
    RESULTS,
    SCRIPT,
    SESSION,
    SPEC,
    STDERR,
    CellFolder,
    sha256_file,
)
from ansible_collections.benchfleet.mlperf.plugins.module_utils._preemption import notice

ARGUMENT_SPEC = dict(
    path=dict(type="path", required=True),
    state=dict(type="str", default="started", choices=["started", "finished", "stopped"]),
    spec=dict(type="dict"),
    python=dict(type="str"),
    wait=dict(type="int", default=10),
    timeout=dict(type="int", default=0),
    stall=dict(type="int", default=900),
    min_wait=dict(type="float", default=2.0),
    session=dict(type="str", default=""),
    preemption=dict(type="dict", options=dict(provider=dict(type="str", required=True,
                                                            choices=["aws", "gcp", "azure", "alibaba"]),
                                              url=dict(type="str", default=""))),
    # the controller's part (plugins/action/harness_cell.py); the module does not use it
    fetch=dict(type="dict", options=dict(dest=dict(type="path", required=True), record=dict(type="dict", default={}),
                                         limits=dict(type="dict", default={}))),
)
POWER_EXIT = 75  # the harness's exit status when the power set-up failed (benchfleet.harness.power_layout)
NOTICE_EVERY_S = 5.0  # how often a follow call reads the metadata service for an interruption notice
REQUIRED_IF = [("state", "started", ("spec", "python"))]


def start(module, cell):
    if cell.done():
        return dict(changed=False, finished_earlier=True, msg="finished earlier; collected, not run again")
    pid = cell.alive()
    if pid:
        return dict(changed=False, msg=f"already running (pid {pid})")
    if module.check_mode:
        return dict(changed=True, msg="would start the harness")
    spec, python = module.params["spec"], module.params["python"]
    if not spec or not python:
        module.fail_json(msg="state=started needs spec and python")
    os.makedirs(cell.path, exist_ok=True)
    cell.remove_for_start()
    with open(cell.file(SPEC), "w") as f:
        json.dump(spec, f, indent=2)
    # Detached on purpose: the harness must outlive this module and the connection (run_command waits for it).
    proc = subprocess.Popen(["/bin/sh", "-c", SCRIPT, python], cwd=cell.path, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            close_fds=True)
    cell.write(PID, str(proc.pid))
    for _ in range(100):  # until the child has exec'd the harness command line (followers look for it)
        if cell.alive() or proc.poll() is not None:
            break
        time.sleep(0.02)
    return dict(changed=True, msg=f"started: {shlex.join([python, '-m', 'benchfleet.harness'])} (pid {proc.pid})")


def finished(module, cell):
    launched = {}
    session = module.params["session"]
    first = not session or cell.read(SESSION).strip() != session
    if first and module.params["spec"] and module.params["python"]:
        launched = start(module, cell)
        if session and not module.check_mode:
            cell.write(SESSION, session)
        if module.check_mode and launched.get("changed"):
            return dict(launched, finished=True, running=False, progress="")
    result = _follow(module, cell)
    result["changed"] = bool(result.get("changed") or launched.get("changed"))
    if launched.get("finished_earlier"):
        result["start_msg"] = launched["msg"]  # collected now, not run again
    return result


def _elapsed(cell):
    started = cell.started_at()
    return round(time.time() - started, 1) if started else None


def _follow(module, cell):
    call_start = time.time()
    deadline = call_start + max(0, module.params["wait"])
    timeout = module.params["timeout"]
    next_notice = 0.0
    while True:
        rc = cell.rc()
        if rc is not None or module.check_mode:
            break
        if not cell.alive():
            time.sleep(0.5)  # the harness may be writing rc right now
            rc = cell.rc()
            if rc is None:
                module.fail_json(msg="the harness process ended without an exit status (killed, or the host "
                                     "rebooted); the next run starts this cell again",
                                 finished=False, running=False, progress=cell.last_line(),
                                 progress_new=cell.new_lines())
            break
        elapsed = _elapsed(cell)
        pre = module.params["preemption"]
        if pre and time.time() >= next_notice:
            next_notice = time.time() + NOTICE_EVERY_S
            said = notice(pre["provider"], pre["url"])
            if said:
                stop(module, cell)
                module.fail_json(msg=f"preempted: {said}; the harness was stopped and the cell runs again on another "
                                     "instance", finished=False, running=False, preempted=True,
                                 progress=cell.last_line(), progress_new=cell.new_lines())
        why, stalled = _overdue(cell, elapsed, timeout, module.params["stall"])
        if why:
            stop(module, cell)
            module.fail_json(msg=f"{why}; stopped. {_kept(cell)}", finished=False, running=False, timed_out=True,
                             stalled=stalled, progress=cell.last_line(), progress_new=cell.new_lines())
        # New progress lines end the call early, but not before min_wait: followers of many hosts
        # would otherwise spend more CPU on polling than the benchmarks they follow.
        early = (time.time() >= call_start + module.params["min_wait"] and cell.new_lines(peek=True)
                 and not cell.exists(MEASURING))
        if time.time() >= deadline or early:
            return dict(changed=False, finished=False, running=True, progress=cell.last_line(),
                        progress_new=cell.new_lines(), elapsed=elapsed)
        time.sleep(min(0.5, max(0.05, deadline - time.time())))
    elapsed = _elapsed(cell)
    if module.check_mode and rc is None:
        return dict(changed=False, finished=True, running=bool(cell.alive()), progress=cell.last_line(),
                    msg="check mode: not waiting")
    if rc != 0:
        err = cell.read(STDERR).strip()
        if rc == POWER_EXIT:  # the power set-up failed: infrastructure, the benchmark did not
            module.fail_json(msg=f"the power measurement failed: {err[-3000:]}", finished=False, running=False,
                             rc=rc, power_failed=True, progress=cell.last_line(), progress_new=cell.new_lines())
        module.fail_json(msg=f"the harness failed (exit {rc}): {err[-3000:]}", finished=False, running=False,
                         rc=rc, progress=cell.last_line(), progress_new=cell.new_lines())
    archive = cell.file(ARCHIVE)
    changed = False
    if not os.path.isfile(archive):
        if module.check_mode:
            return dict(changed=True, finished=True, running=False, progress=cell.last_line())
        tmp = archive + ".tmp"
        with tarfile.open(tmp, "w:gz") as tar:
            tar.add(cell.file(RESULTS), arcname=RESULTS)
        os.replace(tmp, archive)
        changed = True
    return dict(changed=changed, finished=True, running=False, progress=cell.last_line(),
                progress_new=cell.new_lines(), archive=archive, sha256=sha256_file(archive),
                archive_size=os.path.getsize(archive), elapsed=elapsed, **cell.times())


def _overdue(cell, elapsed, ceiling, stall):
    """Why a running harness is to be stopped now, and whether it stalled; (None, False) to let it run.

    Slow is not dead: a harness is stopped when neither a progress line nor a heartbeat came for ``stall``
    seconds, or at the ``ceiling``, which is set far above what the work takes on a slow host."""
    if not elapsed:
        return None, False
    if stall:
        last = cell.last_sign_of_life() or time.time()
        quiet = time.time() - last
        if quiet > stall:
            return (f"stalled: no progress line or heartbeat for {quiet:.0f} s (the stall limit is {stall} s) after "
                    f"{elapsed:.0f} s; last progress: {cell.last_line() or 'none'}"), True
    if ceiling and elapsed > ceiling:
        return (f"timed out: the cell ran {elapsed:.0f} s, over its {ceiling} s ceiling while still progressing "
                f"(last progress: {cell.last_line() or 'none'})"), False
    return None, False


def _kept(cell):
    """What a stopped harness had finished: results/harness.json on the host keeps it, and the next start
    of the cell measures only the rest."""
    try:
        with open(cell.file(RESULTS, HARNESS_JSON)) as f:
            scenarios = json.load(f).get("scenarios") or []
    except (OSError, ValueError, AttributeError):
        scenarios = []
    done = [str(s.get("scenario")) for s in scenarios if isinstance(s, dict) and not s.get("partial")]
    partial = [s for s in scenarios if isinstance(s, dict) and s.get("partial")]
    parts = []
    if done:
        parts.append(f"finished and kept: {', '.join(done)} (results/harness.json on the host); the next run of "
                     f"this cell (benchfleet sweep --resume) measures only what is left")
    for s in partial:
        rounds = len(s.get("earlier_rounds") or [])
        parts.append(f"{s.get('scenario')} was stopped partway (its accuracy run"
                     + (f" and {rounds} failed compliance round(s)" if rounds else "")
                     + " recorded in results/harness.json; the next run measures it again)")
    return "; ".join(parts) if parts else "nothing finished before the stop"


def stop(module, cell):
    pid = cell.alive()
    if not pid:
        return dict(changed=False, msg="not running")
    if not module.check_mode:
        try:
            os.killpg(pid, signal.SIGTERM)
            for _ in range(50):
                if not cell.alive():
                    break
                time.sleep(0.1)
            else:
                os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
    return dict(changed=True, msg=f"stopped pid {pid}")


HANDLERS = {"started": start, "finished": finished, "stopped": stop}


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, required_if=REQUIRED_IF, supports_check_mode=True)
    cell = CellFolder(module.params["path"])
    result = dict(finished=False, running=False, progress="")
    result.update(HANDLERS[module.params["state"]](module, cell))
    if module.params["state"] != "finished":
        result["running"] = bool(cell.alive())
        result["progress"] = cell.last_line()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
