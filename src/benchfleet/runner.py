"""Drive a playbook through ansible-runner, with progress lines and a results summary."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from benchfleet import project


def run_playbook(playbook: str, inventory: Path, out: Path, extravars: dict, env: dict[str, str],
                 progress: Callable[[str], None] | None = None, check: bool = False) -> dict:
    import ansible_runner

    home = project.home()
    private = out / "ansible"
    private.mkdir(parents=True, exist_ok=True)
    envvars = {
        "ANSIBLE_CONFIG": str(home / "ansible.cfg"),
        "ANSIBLE_ROLES_PATH": str(home / "roles"),
        "ANSIBLE_CALLBACK_PLUGINS": str(home / "plugins" / "callback"),
        "ANSIBLE_CALLBACKS_ENABLED": "benchfleet_submission",
        "ANSIBLE_LIBRARY": str(home / "plugins" / "modules"),
        "ANSIBLE_INVENTORY_PLUGINS": str(home / "plugins" / "inventory"),
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "ANSIBLE_NOCOLOR": "1",
        **env,
    }
    # The harness runs with this interpreter; make the same venv visible to subprocesses.
    envvars["PATH"] = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"

    def on_event(ev: dict) -> bool:
        data = ev.get("event_data", {})
        if progress and ev.get("event") == "runner_on_start":
            progress(f"{data.get('host')}: {data.get('task')}")
        elif progress and ev.get("event") == "runner_on_failed" and not data.get("ignore_errors"):
            res = data.get("res", {})
            why = str(res.get("msg") or res.get("stderr"))[-800:]
            progress(f"{data.get('host')}: FAILED {data.get('task')}: {why}")
        elif progress and ev.get("event") == "runner_on_unreachable":
            progress(f"{data.get('host')}: UNREACHABLE")
        return True

    stop = threading.Event()
    if progress:
        threading.Thread(target=_tail_progress, args=(out / "work", progress, stop), daemon=True).start()
    cmdline = "--check" if check else None
    r = ansible_runner.run(
        private_data_dir=str(private),
        project_dir=str(home),
        playbook=str(home / "playbooks" / playbook),
        inventory=str(inventory),
        extravars=extravars,
        envvars=envvars,
        quiet=True,
        event_handler=on_event,
        cmdline=cmdline,
        rotate_artifacts=1,
    )
    stop.set()
    summary_path = out / "results.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    summary["ansible_status"] = r.status
    summary["ansible_rc"] = r.rc
    return summary


def _tail_progress(workdir: Path, progress: Callable[[str], None], stop: threading.Event) -> None:
    """Relay the harness's progress lines of hosts whose work folder is on this machine (local runs)."""
    offsets: dict[Path, int] = {}
    while not stop.wait(2.0):
        for f in workdir.glob("*/progress.log"):
            try:
                with open(f) as fh:
                    fh.seek(offsets.get(f, 0))
                    for line in fh.read().splitlines():
                        progress(f"  harness: {line}")
                    offsets[f] = fh.tell()
            except OSError:
                continue
