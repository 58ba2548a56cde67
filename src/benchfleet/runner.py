"""Drive the sweep playbook through ansible-runner (one place for Ansible's environment)."""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

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


# Ansible's own default ssh_args (connection sharing), which ours replace.
_SSH_SHARING = "-C -o ControlMaster=auto -o ControlPersist=60s"


def run_known_hosts(run_dir: Path) -> Path:
    """The run's own known_hosts: keys trusted on first use with --accept-new-host-keys."""
    return run_dir / "known_hosts"


def ssh_args(run_dir: Path | None, accept_new_host_keys: bool = False) -> str:
    """ssh options for inventory (lab) hosts. They come before anything an inventory adds and ssh keeps the first
    value of an option, so an inventory's ``StrictHostKeyChecking=no`` cannot turn checking off.

    Strict (default): the key must be known already: in ~/.ssh/known_hosts (or the UserKnownHostsFile the
    inventory names), in the system's known_hosts, or in the run's own known_hosts (keys a first run accepted).
    ``accept_new_host_keys``: a host seen for the first time has its key recorded in the run's own known_hosts; a
    key that differs from one recorded anywhere is still refused."""
    run_file = [run_known_hosts(run_dir).resolve()] if run_dir is not None else []
    system = [Path("/etc/ssh/ssh_known_hosts"), Path("/etc/ssh/ssh_known_hosts2")]
    if accept_new_host_keys and run_file:
        user = [Path("~/.ssh/known_hosts").expanduser(), Path("~/.ssh/known_hosts2").expanduser()]
        opts = ["-o", "StrictHostKeyChecking=accept-new", "-o", "UserKnownHostsFile=" + _files(run_file),
                "-o", "GlobalKnownHostsFile=" + _files(user + system)]
    else:
        opts = ["-o", "StrictHostKeyChecking=yes", "-o", "GlobalKnownHostsFile=" + _files(run_file + system)]
    return f"{_SSH_SHARING} {shlex.join(opts)}"


def _files(paths: list[Path]) -> str:
    """A list of files as one ssh_config value (each quoted: a folder name may hold spaces)."""
    return " ".join(f'"{p}"' for p in paths)


def cloud_ssh_args(known_hosts: str) -> str:
    """ssh options for a run's cloud instances (set per host by the benchfleet_cloud inventory, replacing
    :func:`ssh_args`): a fresh instance's key is trusted on first use into the run's own known_hosts, and from then
    on a different key is refused. A preempted instance leaves its TCP connections half-open: without keep-alives
    an SSH session to it (and the Ansible worker waiting on it) would hang for ever."""
    return (f"{_SSH_SHARING} " + shlex.join(["-o", "StrictHostKeyChecking=accept-new", "-o",
                                              "UserKnownHostsFile=" + _files([Path(known_hosts)])])
            + " -o ServerAliveInterval=15 -o ServerAliveCountMax=4")


# Connection variables a sweep file's cloud ``vars`` may set. The others (ansible_connection, ansible_ssh_args,
# ansible_ssh_executable, ansible_host_key_checking, ...) would run commands on the controller or turn host key
# checking off.
CLOUD_VARS_ALLOWED = ("ansible_user", "ansible_port", "ansible_python_interpreter", "ansible_become",
                      "ansible_become_method", "ansible_become_user", "ansible_ssh_timeout", "ansible_timeout")


def refused_host_vars(names) -> list[str]:
    """The names among ``names`` that a sweep file may not set as host variables."""
    return sorted(n for n in names if str(n).startswith("ansible_") and n not in CLOUD_VARS_ALLOWED)


HOST_KEY_FAILURES = ("Host key verification failed", "REMOTE HOST IDENTIFICATION HAS CHANGED",
                     "host key is known for", "Offending", "No matching host key")


def host_key_hint(message: str, run_dir: Path | None = None) -> str:
    """``message`` with the fix appended when it is ssh refusing a host key (``run_dir``: an inventory host of that
    run; None: a cloud instance, whose key was recorded at first use); unchanged otherwise."""
    if not any(m in message for m in HOST_KEY_FAILURES) or "ssh-keyscan" in message or "ssh-keygen -R" in message:
        return message
    m = re.search(r"(?:known for|Host key for|host key for) (\[[^\]\s]+\]:\d+|[^\s]+)", message)
    name = m.group(1) if m else "HOST"
    pm = re.fullmatch(r"\[(.+)\]:(\d+)", name)
    scan = f"-p {pm.group(2)} {pm.group(1)}" if pm else name
    if "CHANGED" in message or "Offending" in message or "has changed" in message:
        return (message + f" -- the SSH key of {name} differs from the one recorded: someone may be playing this "
                "host, or it was reinstalled. Check with its owner before anything else; if the new key is right, "
                f"remove the old one (ssh-keygen -R '{name}') and record the new one")
    if run_dir is None:
        return message
    return (message + f" -- the SSH key of {name} is not known: record it with `ssh-keyscan -H {scan} >> "
            "~/.ssh/known_hosts` (after checking its fingerprint with the host's owner), or pass "
            f"--accept-new-host-keys to trust it on first use into the run's own {run_known_hosts(run_dir)}")


def ansible_env(private: Path, run_dir: Path | None = None, accept_new_host_keys: bool = False) -> dict[str, str]:
    """Environment for ansible-playbook: our config, roles, plugins, callback and collection, and host keys
    checked (:func:`ssh_args`)."""
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
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_SSH_ARGS": ssh_args(run_dir, accept_new_host_keys),
        "ANSIBLE_PIPELINING": "True",
        # The harness runs with this interpreter on local hosts; make the same venv visible.
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }
    if run_dir is not None:
        env["BENCHFLEET_RUN_DIR"] = str(run_dir)
    return env


def run_playbook(run_dir: Path, inventory: Path | list[Path], extravars: dict, on_event: Callable[[dict], None],
                 limit: list[str] | None = None, forks: int = 5, check: bool = False,
                 ident: str | None = None, cancel: Callable[[], bool] | None = None, playbook: str = "sweep.yml",
                 accept_new_host_keys: bool = False):
    """Run one of playbooks/ (sweep.yml unless told); every event goes to ``on_event`` and stays in
    ansible/artifacts/. Every string in ``extravars`` is data (:func:`write_extravars`); host keys are checked
    (:func:`ssh_args`)."""
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
        env = ansible_env(private, run_dir, accept_new_host_keys)
        return _run(ansible_runner, private, home, inventory, extravars, envvars=env,
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
    # ansible-runner reads env/extravars (-e @file); written here with every string marked !unsafe.
    write_extravars(private / "env" / "extravars", extravars)
    return ansible_runner.run(
        private_data_dir=str(private),
        project_dir=str(home),
        playbook=str(home / "playbooks" / playbook),
        inventory=[str(p) for p in inventory] if isinstance(inventory, list) else str(inventory),
        extravars=None,
        envvars=envvars,
        suppress_env_files=True,  # the environment (cloud credentials) is not written to env/envvars
        limit=",".join(limit) if limit else None,
        forks=forks,
        quiet=True,
        event_handler=handler,
        cancel_callback=cancel,
        cmdline="--check" if check else None,
        ident=ident,
        rotate_artifacts=0,
    )


class _UnsafeDumper(yaml.SafeDumper):
    """YAML with every string tagged ``!unsafe``: Ansible takes the value as it is and never renders it."""


def _unsafe_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("!unsafe", data, style='"')


class _Name(str):
    """A top-level variable name: stays plain."""


_UnsafeDumper.add_representer(str, _unsafe_str)
_UnsafeDumper.add_representer(_Name, lambda dumper, data: dumper.represent_scalar("tag:yaml.org,2002:str", data))


def write_extravars(path: Path, extravars: dict) -> Path:
    """The playbook's extra vars as a file where every string (sweep-file and command-line text, host names, paths,
    at any depth, keys included) is ``!unsafe``: a ``{{ ... }}`` in a model path is a file name, never Jinja run on
    the controller. Only the top-level names stay plain (they are variable names)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.dump({_Name(k): v for k, v in extravars.items()}, Dumper=_UnsafeDumper, default_flow_style=False,
                     allow_unicode=True, width=1 << 20) if extravars else ""
    tmp = path.with_name(".extravars.tmp")
    tmp.write_text(text or "{}\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path
