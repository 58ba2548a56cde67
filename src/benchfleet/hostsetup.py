"""``benchfleet setup`` and ``benchfleet bundle``: make hosts ready (playbooks/setup.yml), and build the
wheelhouse that offline mode pushes to hosts with no route to any registry."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from benchfleet import project


def pins() -> list[str]:
    """The pinned requirements of the harness's venv and its default framework, from the roles' defaults
    (one place for versions)."""
    roles = project.home() / "roles"
    py = yaml.safe_load((roles / "benchfleet_python" / "defaults" / "main.yml").read_text())
    fw = yaml.safe_load((roles / "benchfleet_frameworks" / "defaults" / "main.yml").read_text())
    return list(py["benchfleet_python_packages"]) + list(fw["benchfleet_frameworks_packages"]["onnxruntime"]["cpu"])


def bundle(out: Path, log=print) -> list[Path]:
    """Wheels for benchfleet and everything it needs on a CPU host (ONNX Runtime), for offline mode."""
    src = project.source()
    if src is None:
        raise RuntimeError("benchfleet bundle builds benchfleet's wheel from its source: run it from a benchfleet "
                           "checkout (pip install -e .)")
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(out), str(src), *pins()]
    log(f"building the wheelhouse in {out} (benchfleet and {len(pins())} pinned requirements with their "
        "dependencies)")
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"pip wheel failed: {p.stderr.strip()[-2000:]}")
    wheels = sorted(out.glob("*.whl"))
    log(f"wheelhouse: {len(wheels)} wheels, {sum(w.stat().st_size for w in wheels) / 1e6:.0f} MB")
    return wheels


# What of the controller's cache is worth pushing: downloaded official models and datasets (hosts then need
# no download); generated (synthetic) files and preprocessed arrays are made on each host.
CACHE_PATTERNS = ("models/*.onnx", "models/*.pb", "models/*.tflite", "models/*.pt", "datasets/**/*")


def cache_manifest(cache_dir: Path, dest_root: str = ".cache/benchfleet") -> list[dict]:
    """benchfleet_assets_files for every pushable file of the controller's cache, with its sha256. ``dest_root``:
    a folder on the hosts, relative to the host's home unless absolute (file names are data, never templates)."""
    from benchfleet.digest import sha256_file

    cache_dir = cache_dir.expanduser()
    files = sorted({p for pat in CACHE_PATTERNS for p in cache_dir.glob(pat) if p.is_file()})
    return [{"src": str(p.resolve()), "dest": f"{dest_root}/{p.relative_to(cache_dir)}", "sha256": sha256_file(p)}
            for p in files]


@dataclass
class SetupResult:
    rc: int | None
    changed: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    unreachable: dict[str, int] = field(default_factory=dict)
    ok: dict[str, int] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    facts: dict[str, dict] = field(default_factory=dict)  # host -> benchfleet_host (host_facts)


def facts(inventory: Path, work: Path, *, limit: list[str] | None = None, log=print,
          accept_new_host_keys: bool = False) -> SetupResult:
    """Run playbooks/facts.yml: each host's description (``.facts``), nothing changed."""
    return setup(inventory, work, limit=limit, log=log, accept_new_host_keys=accept_new_host_keys,
                 playbook="facts.yml")


def setup(inventory: Path, work: Path, *, offline: Path | None = None, check: bool = False,
          limit: list[str] | None = None, extravars: dict | None = None, push: list[dict] | None = None,
          log=print, accept_new_host_keys: bool = False, playbook: str = "setup.yml") -> SetupResult:
    """Run playbooks/setup.yml (or ``playbook``). Host keys must be known already unless ``accept_new_host_keys``
    (recorded in ``work``/known_hosts on first use)."""
    from benchfleet.runner import host_key_hint, run_playbook

    res = SetupResult(None)
    ev: dict = {}

    def on_event(e: dict) -> None:
        data = e.get("event_data") or {}
        result = data.get("res") or {}
        if e.get("event") == "playbook_on_stats":
            ev.update(data)
        elif e.get("event") == "runner_on_ok":
            facts = (result.get("ansible_facts") or {}).get("benchfleet_host")
            if facts:
                res.facts[data.get("host")] = facts
            if result.get("changed"):
                log(f"  {data.get('host')}: changed: {data.get('task')}")
        elif e.get("event") in ("runner_on_failed", "runner_on_unreachable") and not data.get("ignore_errors"):
            msg = host_key_hint(str(result.get("msg", "")), work.resolve())[-600:]
            res.messages.append(f"{data.get('host')}: {data.get('task')}: {msg}")
            log(f"  {data.get('host')}: FAILED: {data.get('task')}: {msg}")

    vars_ = dict(extravars or {})
    if push:
        vars_["benchfleet_assets_files"] = push
    if offline:
        vars_.update(benchfleet_setup_offline=True, benchfleet_setup_wheelhouse_src=str(offline.resolve()))
    work.mkdir(parents=True, exist_ok=True)
    r = run_playbook(work.resolve(), inventory, vars_, on_event, limit=limit, forks=20, check=check,
                     ident=time.strftime("%Y%m%d-%H%M%S"), playbook=playbook,
                     accept_new_host_keys=accept_new_host_keys)
    res.rc = r.rc
    res.changed, res.failed = ev.get("changed", {}), ev.get("failures", {})
    res.unreachable, res.ok = ev.get("dark", {}), ev.get("ok", {})
    return res
