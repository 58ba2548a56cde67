"""Drive the sweep playbook through ansible-runner (one place for Ansible's environment)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from benchfleet import project

COLLECTION = ("benchfleet", "mlperf")  # galaxy.yml namespace and name


def collections_dir(private: Path) -> Path:
    """A collections path where benchfleet.mlperf is this checkout (modules by FQCN, uninstalled)."""
    root = private / "collections"
    link = root / "ansible_collections" / COLLECTION[0] / COLLECTION[1]
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink() or link.resolve() != project.home().resolve():
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(project.home(), target_is_directory=True)
    return root


def ansible_env(private: Path, run_dir: Path | None = None) -> dict[str, str]:
    """Environment for ansible-playbook: our config, roles, plugins, callback and collection."""
    home = project.home()
    env = {
        "ANSIBLE_CONFIG": str(home / "ansible.cfg"),
        "ANSIBLE_ROLES_PATH": str(home / "roles"),
        "ANSIBLE_CALLBACK_PLUGINS": str(home / "plugins" / "callback"),
        "ANSIBLE_CALLBACKS_ENABLED": "benchfleet_submission",
        "ANSIBLE_LIBRARY": str(home / "plugins" / "modules"),
        "ANSIBLE_INVENTORY_PLUGINS": str(home / "plugins" / "inventory"),
        "ANSIBLE_COLLECTIONS_PATH": str(collections_dir(private)),
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_PIPELINING": "True",
        # The harness runs with this interpreter on local hosts; make the same venv visible.
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }
    if run_dir is not None:
        env["BENCHFLEET_RUN_DIR"] = str(run_dir)
    return env


def run_playbook(run_dir: Path, inventory: Path | list[Path], extravars: dict, on_event: Callable[[dict], None],
                 limit: list[str] | None = None, forks: int = 5, check: bool = False,
                 ident: str | None = None, cancel: Callable[[], bool] | None = None, playbook: str = "sweep.yml"):
    """Run one of playbooks/ (sweep.yml unless told); every event goes to ``on_event`` and stays in
    ansible/artifacts/."""
    import ansible_runner

    home = project.home()
    private = run_dir / "ansible"
    private.mkdir(parents=True, exist_ok=True)

    scrubbed = []

    def handler(ev: dict) -> bool:
        if not scrubbed and ident:
            scrubbed.append(scrub_command_file(private / "artifacts" / ident))
        on_event(ev)
        return True  # keep every event in artifacts/<ident>/job_events

    try:
        return _run(ansible_runner, private, home, inventory, extravars, envvars=ansible_env(private, run_dir),
                    limit=limit, forks=forks, handler=handler, cancel=cancel, check=check, ident=ident,
                    playbook=playbook)
    finally:
        if ident:
            scrub_command_file(private / "artifacts" / ident)


# ansible-runner records the whole environment of ansible-playbook in artifacts/<ident>/command; cloud
# credentials travel in that environment (each SDK's standard chain), so only these names stay there.
_KEEP_ENV = ("ANSIBLE_", "BENCHFLEET_", "PATH", "HOME", "LANG", "LC_", "PYTHONPATH", "VIRTUAL_ENV")


def scrub_command_file(artifact_dir: Path) -> bool:
    """Drop every environment variable but Ansible's and ours from ansible-runner's record of the command."""
    import json

    p = artifact_dir / "command"
    if not p.is_file():
        return False
    data = json.loads(p.read_text())
    env = data.get("env") or {}
    data["env"] = {k: v for k, v in env.items() if k.startswith(_KEEP_ENV)}
    data["env_removed"] = len(env) - len(data["env"])
    tmp = p.with_name(".command.tmp")
    tmp.write_text(json.dumps(data))
    os.chmod(tmp, 0o600)
    os.replace(tmp, p)
    return True


def _run(ansible_runner, private: Path, home: Path, inventory, extravars: dict, *, envvars, limit, forks, handler,
         cancel, check, ident, playbook):
    # ansible-runner keeps a run's command-line arguments in env/cmdline and reuses them when none are given:
    # a --check run would make every later run in the same folder a check run too.
    (private / "env" / "cmdline").unlink(missing_ok=True)
    return ansible_runner.run(
        private_data_dir=str(private),
        project_dir=str(home),
        playbook=str(home / "playbooks" / playbook),
        inventory=[str(p) for p in inventory] if isinstance(inventory, list) else str(inventory),
        extravars=extravars,
        envvars=envvars,
        limit=",".join(limit) if limit else None,
        forks=forks,
        quiet=True,
        event_handler=handler,
        cancel_callback=cancel,
        cmdline="--check" if check else None,
        ident=ident,
        rotate_artifacts=0,
    )
