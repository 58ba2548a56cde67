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
    description: The harness spec (state=started).
    type: dict
  python:
    description: Python interpreter with benchfleet installed (state=started).
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
attributes:
  check_mode:
    support: full
author: benchfleet contributors
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
timed_out:
  description: The harness was stopped for time (I(stall) or I(timeout)); the message says what was kept.
  type: bool
  returned: when stopped for time
stalled:
  description: It was stopped because it showed no progress for I(stall) seconds (not at the ceiling).
  type: bool
  returned: when stopped for time
"""

import hashlib
import json
import os
import shlex
import signal
import subprocess
import tarfile
import time

from ansible.module_utils.basic import AnsibleModule

SCRIPT = ('"$0" -m benchfleet.harness --spec spec.json --out results >stdout.log 2>stderr.log; '
          'echo $? >rc.tmp; mv rc.tmp rc')


def _read(path, default=""):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def _alive(path):
    pid = _read(os.path.join(path, "pid")).strip()
    if not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except OSError:
        return None
    cmdline = _read(f"/proc/{pid}/cmdline")
    return int(pid) if "benchfleet.harness" in cmdline else None


def _rc(path):
    text = _read(os.path.join(path, "rc")).strip()
    return int(text) if text.lstrip("-").isdigit() else None


def _last_line(path):
    lines = _read(os.path.join(path, "progress.log")).strip().splitlines()
    return lines[-1] if lines else ""


def _new_lines(path, peek=False):
    """Progress lines after the follower's cursor; the cursor moves unless peek."""
    lines = _read(os.path.join(path, "progress.log")).splitlines()
    cursor_file = os.path.join(path, "progress.cursor")
    seen = _read(cursor_file).strip()
    seen = int(seen) if seen.isdigit() else 0
    new = lines[seen:]
    if new and not peek:
        with open(cursor_file + ".tmp", "w") as f:
            f.write(str(len(lines)))
        os.replace(cursor_file + ".tmp", cursor_file)
    return new


def _started_at(path):
    try:
        return os.stat(os.path.join(path, "pid")).st_mtime
    except OSError:
        return None


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def start(module, path):
    done = _rc(path) == 0 and os.path.isfile(os.path.join(path, "results", "harness.json"))
    if done:
        return dict(changed=False, finished_earlier=True, msg="finished earlier; collected, not run again")
    pid = _alive(path)
    if pid:
        return dict(changed=False, msg=f"already running (pid {pid})")
    if module.check_mode:
        return dict(changed=True, msg="would start the harness")
    spec, python = module.params["spec"], module.params["python"]
    if not spec or not python:
        module.fail_json(msg="state=started needs spec and python")
    os.makedirs(path, exist_ok=True)
    for name in ("rc", "rc.tmp", "results.tgz", "stderr.log", "stdout.log", "progress.log", "progress.cursor",
                 "measuring", "heartbeat"):
        try:
            os.unlink(os.path.join(path, name))
        except OSError:
            pass
    with open(os.path.join(path, "spec.json"), "w") as f:
        json.dump(spec, f, indent=2)
    proc = subprocess.Popen(["/bin/sh", "-c", SCRIPT, python], cwd=path, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            close_fds=True)
    with open(os.path.join(path, "pid"), "w") as f:
        f.write(str(proc.pid))
    for _ in range(100):  # until the child has exec'd the harness command line (followers look for it)
        if _alive(path) or proc.poll() is not None:
            break
        time.sleep(0.02)
    return dict(changed=True, msg=f"started: {shlex.join([python, '-m', 'benchfleet.harness'])} (pid {proc.pid})")


def finished(module, path):
    launched = {}
    session = module.params["session"]
    first = not session or _read(os.path.join(path, "session")).strip() != session
    if first and module.params["spec"] and module.params["python"]:
        launched = start(module, path)
        if session and not module.check_mode:
            with open(os.path.join(path, "session"), "w") as f:
                f.write(session)
        if module.check_mode and launched.get("changed"):
            return dict(launched, finished=True, running=False, progress="")
    result = _follow(module, path)
    result["changed"] = bool(result.get("changed") or launched.get("changed"))
    if launched.get("finished_earlier"):
        result["start_msg"] = launched["msg"]  # collected now, not run again
    return result


def _times(path):
    """When the harness started (pid file) and ended (rc file), as epoch seconds."""
    out = {}
    for key, name in (("started_at", "pid"), ("ended_at", "rc")):
        try:
            out[key] = os.stat(os.path.join(path, name)).st_mtime
        except OSError:
            pass
    return out


def _follow(module, path):
    call_start = time.time()
    deadline = call_start + max(0, module.params["wait"])
    timeout = module.params["timeout"]
    while True:
        rc = _rc(path)
        if rc is not None or module.check_mode:
            break
        if not _alive(path):
            time.sleep(0.5)  # the harness may be writing rc right now
            rc = _rc(path)
            if rc is None:
                module.fail_json(msg="the harness process ended without an exit status (killed, or the host "
                                     "rebooted); the next run starts this cell again",
                                 finished=False, running=False, progress=_last_line(path),
                                 progress_new=_new_lines(path))
            break
        started = _started_at(path)
        elapsed = round(time.time() - started, 1) if started else None
        why, stalled = _overdue(path, elapsed, timeout, module.params["stall"])
        if why:
            stop(module, path)
            module.fail_json(msg=f"{why}; stopped. {_kept(path)}", finished=False, running=False, timed_out=True,
                             stalled=stalled, progress=_last_line(path), progress_new=_new_lines(path))
        # New progress lines end the call early, but not before min_wait: followers of many hosts
        # would otherwise spend more CPU on polling than the benchmarks they follow.
        early = (time.time() >= call_start + module.params["min_wait"] and _new_lines(path, peek=True)
                 and not os.path.exists(os.path.join(path, "measuring")))
        if time.time() >= deadline or early:
            return dict(changed=False, finished=False, running=True, progress=_last_line(path),
                        progress_new=_new_lines(path), elapsed=elapsed)
        time.sleep(min(0.5, max(0.05, deadline - time.time())))
    started = _started_at(path)
    elapsed = round(time.time() - started, 1) if started else None
    if module.check_mode and rc is None:
        return dict(changed=False, finished=True, running=bool(_alive(path)), progress=_last_line(path),
                    msg="check mode: not waiting")
    if rc != 0:
        err = _read(os.path.join(path, "stderr.log")).strip()
        module.fail_json(msg=f"the harness failed (exit {rc}): {err[-3000:]}", finished=False, running=False,
                         rc=rc, progress=_last_line(path), progress_new=_new_lines(path))
    archive = os.path.join(path, "results.tgz")
    changed = False
    if not os.path.isfile(archive):
        if module.check_mode:
            return dict(changed=True, finished=True, running=False, progress=_last_line(path))
        tmp = archive + ".tmp"
        with tarfile.open(tmp, "w:gz") as tar:
            tar.add(os.path.join(path, "results"), arcname="results")
        os.replace(tmp, archive)
        changed = True
    return dict(changed=changed, finished=True, running=False, progress=_last_line(path),
                progress_new=_new_lines(path), archive=archive, sha256=_sha256(archive), elapsed=elapsed,
                **_times(path))


def _overdue(path, elapsed, ceiling, stall):
    """Why a running harness is to be stopped now, and whether it stalled; (None, False) to let it run.

    Slow is not dead: a harness is stopped when neither a progress line nor a heartbeat came for ``stall``
    seconds, or at the ``ceiling``, which is set far above what the work takes on a slow host."""
    if not elapsed:
        return None, False
    if stall:
        marks = [os.path.join(path, n) for n in ("progress.log", "heartbeat", "pid")]
        last = max((os.stat(m).st_mtime for m in marks if os.path.exists(m)), default=time.time())
        quiet = time.time() - last
        if quiet > stall:
            return (f"stalled: no progress line or heartbeat for {quiet:.0f} s (the stall limit is {stall} s) after "
                    f"{elapsed:.0f} s; last progress: {_last_line(path) or 'none'}"), True
    if ceiling and elapsed > ceiling:
        return (f"timed out: the cell ran {elapsed:.0f} s, over its {ceiling} s ceiling while still progressing "
                f"(last progress: {_last_line(path) or 'none'})"), False
    return None, False


def _kept(path):
    """What a stopped harness had finished: results/harness.json on the host keeps it, and the next start
    of the cell measures only the rest."""
    try:
        with open(os.path.join(path, "results", "harness.json")) as f:
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


def stop(module, path):
    pid = _alive(path)
    if not pid:
        return dict(changed=False, msg="not running")
    if not module.check_mode:
        try:
            os.killpg(pid, signal.SIGTERM)
            for _ in range(50):
                if not _alive(path):
                    break
                time.sleep(0.1)
            else:
                os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
    return dict(changed=True, msg=f"stopped pid {pid}")


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            state=dict(type="str", default="started", choices=["started", "finished", "stopped"]),
            spec=dict(type="dict"),
            python=dict(type="str"),
            wait=dict(type="int", default=10),
            timeout=dict(type="int", default=0),
            stall=dict(type="int", default=900),
            min_wait=dict(type="float", default=2.0),
            session=dict(type="str", default=""),
        ),
        supports_check_mode=True,
    )
    path = module.params["path"]
    action = {"started": start, "finished": finished, "stopped": stop}[module.params["state"]]
    result = dict(finished=False, running=False, progress="")
    result.update(action(module, path))
    if module.params["state"] != "finished":
        result["running"] = bool(_alive(path))
        result["progress"] = _last_line(path)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
