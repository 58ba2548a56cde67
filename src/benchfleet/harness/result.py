"""``harness.json``: what one harness run measured, on what, with which settings. One model, written by the
harness on the host and read on the controller by the ``cell_fetch`` action plugin (the cell's identity against
the plan), the aggregator and the submission tree (descriptions and notes).

On the controller the file is host text: ``read`` refuses a file that is not a harness result (the caller
reports it as tampered), ``read_or_empty`` gives an empty result instead, and ``text`` turns any value into a
string for a description or a note. Paths and verdicts never come from it: they come from the plan and the
LoadGen logs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

FILE = "harness.json"
MAX_BYTES = 16 << 20  # a harness.json is a few kB; a larger one is not read


class HarnessResult(BaseModel):
    model_config = ConfigDict(extra="allow")

    benchfleet_version: str = ""
    round: str = ""
    benchmark: str = ""  # the results folder: an open model's name, else the round's benchmark
    mlperf_benchmark: str = ""
    task: str = ""
    spec: dict[str, Any] = {}  # the cell's HarnessSpec, as JSON
    complete: bool = False  # False while the harness runs, or when it was stopped
    scenarios: list[dict[str, Any]] = []  # one record per scenario measured (runs, metric, validity, ...)
    failures: list[str] = []
    kept_from_earlier_start: list[str] = []
    synthetic: bool = False
    provenance: dict[str, Any] = {}
    not_for_submission: bool = False
    backend: dict[str, Any] = {}  # name, version, device, precision, threads, ...
    host: dict[str, Any] = {}  # python, loadgen, machine, cores
    model_file: str = ""
    # precision int8: how the measured model was made (harness/quantize.py's record: calibration list, method)
    quantization: dict[str, Any] | None = None
    elapsed_s: float | None = None

    # ---- writing (the harness) --------------------------------------------------------------------------
    def write(self, folder: Path) -> dict:
        """Write ``folder/harness.json`` atomically; returns what was written."""
        text = json.dumps(self.model_dump(), indent=2, default=str)  # numpy scalars and paths as text
        tmp = folder / f".{FILE}.tmp"
        tmp.write_text(text)
        os.replace(tmp, folder / FILE)
        return json.loads(text)

    # ---- reading (the controller, and the harness resuming) ---------------------------------------------
    @classmethod
    def read(cls, path: Path) -> HarnessResult:
        """The result in ``path`` (a file or its folder); ValueError saying why when it is not one."""
        path = path / FILE if path.is_dir() else path
        try:
            if path.stat().st_size > MAX_BYTES:
                raise ValueError(f"{path.name} is larger than {MAX_BYTES >> 20} MiB")
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path.name} is not readable JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path.name} is not a JSON object")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise ValueError(f"{path.name} {where}: {err['msg']}") from None

    @classmethod
    def read_or_empty(cls, path: Path) -> HarnessResult:
        try:
            return cls.read(path)
        except ValueError:
            return cls()

    def value(self, name: str) -> Any:
        """A dotted field (``spec.division``, ``backend.precision``); None where absent. Precision is fp32 where
        older harnesses left it out."""
        first, *rest = name.split(".")
        value: Any = {**self.__dict__, **(self.model_extra or {})}.get(first)  # fields only, never methods
        for part in rest:
            value = value.get(part) if isinstance(value, dict) else None
        if name.endswith("precision") and value is None:
            return "fp32"
        return value

    def text(self, *keys: str, default: str = "unknown") -> str:
        """``self[k1][k2]...`` as text for a description, or ``default`` where the host left it out or gave
        something that is not a single value."""
        value = self.value(".".join(keys)) if keys else None
        return default if value is None or isinstance(value, dict | list) or value == "" else str(value)

    def scenario_names(self) -> list[str]:
        return sorted(str(s.get("scenario")) for s in self.scenarios)

    def failure_of(self, scenario: str) -> str | None:
        """The harness's own verdict on a scenario that could not pass (host noise); host text, a note only."""
        for rec in self.scenarios:
            if rec.get("scenario") == scenario and isinstance(rec.get("failure"), str):
                return rec["failure"][:500]
        return None
