"""Tuning files: per system id, the settings a tuned run found, kept in the run directory (``tuning/``) and in a
cache the user keeps (``~/.benchfleet/tuning/``), one JSON file per system id.

A file holds one entry per benchmark, backend, device and precision::

    {"system_id": "...", "entries": {"resnet50/onnxruntime/cpu/fp32": {
        "fingerprint": {"cpu_model": ..., "vcpus": ..., "mem_total_mb": ..., "gpus": [...],
                        "backend_version": ...},
        "round": "v3.1", "run": "<run id>", "host": "<host>", "tuned_at": "<UTC time>",
        "scenarios": {"Offline": {"settings": {"threads": 2, "batch": 8, "offline_expected_qps": 412.0},
                                  "found": {... every trial ...}}, ...}}}}

An entry is used again only where its fingerprint still holds: the same CPU model, vCPU count, memory (within 5%)
and GPUs on the controller's side (host facts), and the same backend version, which only the host knows: the cell's
spec carries ``tuned_for`` and the harness drops the settings when its own backend differs.

Everything in a cell's ``tuning.json`` comes from a host and is taken as data: the settings pass the harness spec's
own bounds, the trace keeps numbers and short one-line text only.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from pydantic import ValidationError

from benchfleet.harness.spec import ScenarioTuning
from benchfleet.harness.tune import FILE as CELL_FILE
from benchfleet.jsonvalues import number_as_is
from benchfleet.rules.table import SCENARIOS
from benchfleet.submission.system import system_id

DEFAULT_DIR = "~/.benchfleet/tuning"
MEMORY_TOLERANCE = 0.05
_TRIAL_KEYS = ("threads", "batch", "value")
_PROBE_KEYS = ("target_qps", "valid", "achieved_qps", "latency_ms")


def store_dir(path: str | Path | None = None) -> Path:
    """The user's tuning cache: ``path``, else $BENCHFLEET_TUNING_DIR, else ~/.benchfleet/tuning."""
    return Path(path or os.environ.get("BENCHFLEET_TUNING_DIR") or DEFAULT_DIR).expanduser()


def entry_key(benchmark: str, backend: str, device: str, precision: str = "fp32", compiler: str = "none") -> str:
    """A tuning file's entry: a compiled model's best threads and batch are its own."""
    return f"{benchmark}/{backend}/{device}/{precision}" + ("" if compiler == "none" else f"/{compiler}")


def _gpus(facts: dict) -> list[str]:
    gpus = facts.get("gpus")
    if not isinstance(gpus, list):
        return []
    return sorted(_line(g.get("name")) for g in gpus if isinstance(g, dict))


def _line(value: object, limit: int = 200) -> str:
    """Host text as one printable line (no escape sequences, no control characters), at most ``limit`` long."""
    text = "".join(c if c.isprintable() else " " for c in str(value if value is not None else ""))
    return " ".join(text.split())[:limit]


def fingerprint(facts: dict, backend_version: str | None = None) -> dict:
    """What an entry holds for: the host's hardware (from its facts) and the backend version it was tuned with."""
    return {"cpu_model": _line(facts.get("cpu_model")), "vcpus": number_as_is(facts.get("vcpus")),
            "mem_total_mb": number_as_is(facts.get("mem_total_mb")), "gpus": _gpus(facts),
            "backend_version": _line(backend_version) if backend_version else None}


def hardware_differs(old: object, facts: dict) -> str:
    """Why the hardware an entry was tuned on is not this host's ("" when it is the same)."""
    if not isinstance(old, dict):
        return "the entry has no fingerprint"
    now = fingerprint(facts)
    for key in ("cpu_model", "vcpus", "gpus"):
        if old.get(key) != now[key]:
            return f"{key} was {old.get(key)!r}, now {now[key]!r}"
    a, b = old.get("mem_total_mb"), now["mem_total_mb"]
    if a and b and abs(a - b) > MEMORY_TOLERANCE * max(a, b):
        return f"memory was {a} MB, now {b} MB"
    return ""


def _clean_found(found: object) -> dict:
    """A host's trace of how it tuned, as numbers and short text only."""
    if not isinstance(found, dict):
        return {}
    out: dict = {k: number_as_is(found.get(k)) for k in ("threads", "batch", "metric", "offline_expected_qps",
                                                  "server_target_qps")}
    out["unit"] = _line(found.get("unit"), 40)
    out["stopped"] = _line(found.get("stopped"))
    trials = found.get("trials") if isinstance(found.get("trials"), list) else []
    out["trials"] = [{**{k: number_as_is(t.get(k)) for k in _TRIAL_KEYS},
                      **({"runoff": True} if t.get("runoff") is True else {})}
                     for t in trials[:64] if isinstance(t, dict)]
    search = found.get("server_search")
    if isinstance(search, dict):
        probes = search.get("probes") if isinstance(search.get("probes"), list) else []
        out["server_search"] = {"best_qps": number_as_is(search.get("best_qps")),
                                "stopped": _line(search.get("stopped")),
                                "probes": [{k: (p.get(k) if k == "valid" and isinstance(p.get(k), bool)
                                                else number_as_is(p.get(k))) for k in _PROBE_KEYS}
                                           for p in probes[:32] if isinstance(p, dict)]}
    return out


def read_cell(path: Path) -> tuple[dict, str]:
    """(scenario -> {settings, found}, backend version) from a cell's tuning.json; settings that fail the spec's
    bounds are refused with the reason."""
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or not isinstance(data.get("scenarios"), dict):
        raise ValueError(f"{path}: no scenarios")
    out = {}
    for scen, rec in data["scenarios"].items():
        if scen not in SCENARIOS or not isinstance(rec, dict):
            raise ValueError(f"{path}: unknown scenario {_line(scen, 40)!r}")
        try:
            settings = ScenarioTuning.model_validate(rec.get("settings") or {}).model_dump(exclude_none=True)
        except ValidationError as exc:
            raise ValueError(f"{path}: {scen} settings refused: {_line(exc, 300)}") from None
        out[scen] = {"settings": settings, "found": _clean_found(rec.get("found"))}
    return out, _line(data.get("backend_version"), 80)


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def load(directory: Path, sid: str) -> dict:
    path = directory / f"{sid}.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {"system_id": sid, "entries": {}}
    if not isinstance(data, dict) or not isinstance(data.get("entries"), dict):
        return {"system_id": sid, "entries": {}}
    return data


def record(directory: Path, sid: str, key: str, entry: dict) -> Path:
    """Put ``entry`` under ``key`` in the system's tuning file (the scenarios of an older entry with the same
    fingerprint that this one did not tune are kept)."""
    data = load(directory, sid)
    old = data["entries"].get(key)
    if isinstance(old, dict) and old.get("fingerprint") == entry["fingerprint"]:
        entry = {**entry, "scenarios": {**(old.get("scenarios") or {}), **entry["scenarios"]}}
    data["entries"][key] = entry
    path = directory / f"{sid}.json"
    _write(path, data)
    return path


def lookup(directory: Path, sid: str, key: str, facts: dict) -> tuple[dict | None, str]:
    """The entry for this system and key when its hardware still holds, else None and why."""
    entry = load(directory, sid)["entries"].get(key)
    if not isinstance(entry, dict):
        return None, f"no tuning for {key} on {sid}"
    why = hardware_differs(entry.get("fingerprint") or {}, facts)
    if why:
        return None, f"the tuning of {key} on {sid} is for other hardware ({why}): tune again"
    if not (entry["fingerprint"].get("backend_version") and isinstance(entry.get("scenarios"), dict)):
        return None, f"the tuning of {key} on {sid} names no backend version or scenarios: tune again"
    return entry, ""


def collect(run_dir: Path, plan, cache: Path | None) -> list[str]:
    """After a tuned run: each cell's tuning.json into ``<run_dir>/tuning/<system id>.json`` and the cache.
    Returns one line per entry kept (or refused)."""
    lines = []
    cells = {c.id: c for c in plan.cells}
    for path in sorted((run_dir / "cells").glob(f"*/results/{CELL_FILE}")):
        cell = cells.get(path.parent.parent.name)
        if cell is None or not cell.spec.get("tune"):
            continue  # only a cell told to tune speaks for its system
        try:
            facts = json.loads((run_dir / "hosts" / f"{cell.host}.json").read_text())["facts"]
            scenarios, version = read_cell(path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            lines.append(f"tuning of {cell.id} not kept: {_line(exc, 300)}")
            continue
        sid = system_id(facts, cell.backend, cell.device)
        key = entry_key(cell.benchmark, cell.backend, cell.device, cell.spec.get("precision") or "fp32",
                        cell.spec.get("compiler") or "none")
        entry = {"fingerprint": fingerprint(facts, version), "round": plan.sweep.round, "run": plan.run_id,
                 "host": cell.host, "tuned_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                 "scenarios": scenarios}
        for directory in [run_dir / "tuning", *([cache] if cache else [])]:
            record(directory, sid, key, entry)
        tuned = "; ".join(f"{s} {_settings_text(r['settings'])}" for s, r in scenarios.items())
        lines.append(f"tuned {key} on {sid} ({cell.host}): {tuned}")
    return lines


def _settings_text(settings: dict) -> str:
    parts = [f"{settings['threads']} threads" if "threads" in settings else "",
             f"batch {settings['batch']}" if "batch" in settings else "",
             f"expected {settings['offline_expected_qps']:g} samples/s" if "offline_expected_qps" in settings else "",
             f"target {settings['server_target_qps']:g} queries/s" if "server_target_qps" in settings else ""]
    return ", ".join(p for p in parts if p)


def spec_tuning(entry: dict) -> tuple[dict, dict]:
    """(the spec's ``tuned`` per scenario, its ``tuned_for``) from an entry."""
    tuned = {s: r.get("settings") or {} for s, r in (entry.get("scenarios") or {}).items()}
    return tuned, {"backend_version": (entry.get("fingerprint") or {}).get("backend_version")}


def show(directory: Path) -> str:
    """Every entry of every tuning file in ``directory``, and how each scenario's settings were found."""
    files = sorted(directory.glob("*.json")) if directory.is_dir() else []
    if not files:
        return f"no tuning files in {directory} (benchfleet tune makes them)"
    out = []
    for path in files:
        data = load(directory, path.stem)
        for key, entry in sorted(data["entries"].items()):
            if not isinstance(entry, dict) or not isinstance(entry.get("fingerprint") or {}, dict):
                out.append(f"{path.stem}  {_line(key, 80)}: not a tuning entry (tune again)")
                continue
            fp = entry.get("fingerprint") or {}
            out.append(f"{path.stem}  {key}  (round {entry.get('round')}, run {entry.get('run')}, host "
                       f"{entry.get('host')}, {entry.get('tuned_at')}; {fp.get('cpu_model')}, {fp.get('vcpus')} vCPUs, "
                       f"backend {fp.get('backend_version')})")
            scenarios = entry.get("scenarios") if isinstance(entry.get("scenarios"), dict) else {}
            for scen, rec in sorted(scenarios.items()):
                if not isinstance(rec, dict) or not isinstance(rec.get("found") or {}, dict):
                    continue
                found = rec.get("found") or {}
                how = found.get("stopped") or ""
                trials = found.get("trials") or []
                probes = (found.get("server_search") or {}).get("probes") or []
                tried = (f"{len(trials)} short runs" if trials else "") + (f"{len(probes)} Server probes"
                                                                            if probes else "")
                out.append(f"  {scen:12} {_settings_text(rec.get('settings') or {})}"
                           + (f"  [{tried}: {how}]" if tried or how else ""))
    return "\n".join(out)
