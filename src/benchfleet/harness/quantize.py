"""The INT8 model a run with ``precision: int8`` measures: built once per host from the fp32 model, calibrated on
the benchmark's official calibration list (or a part of one), and cached under a fingerprint of everything that
makes it (the fp32 file, the calibration samples and the files and preprocessing they come from, the method, ONNX
Runtime's version, the quantizing code). A
changed fingerprint builds a new one; the record beside it says what was done, for the system description and
the measurements README.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from benchfleet.backends import ort_quant
from benchfleet.benchmarks.base import Inputs, Log, Task
from benchfleet.benchmarks.calibration import Calibration, choose
from benchfleet.cachelock import code_version, locked
from benchfleet.digest import file_digest

RECORD = "quantization.json"


def fingerprint(model_sha256: str, cal: Calibration, inputs_identity: list, onnxruntime_version: str,
                op_types: tuple[str, ...] | None = None) -> str:
    return hashlib.sha256(json.dumps({
        "model": model_sha256, "samples": cal.digest(), "inputs": inputs_identity,
        "method": ort_quant.METHOD, "ops": list(op_types) if op_types else None, "onnxruntime": onnxruntime_version,
        "code": code_version("benchfleet.backends.ort_quant", "benchfleet.harness.quantize",
                             f"benchfleet.benchmarks.{cal.task}.task"),
    }, sort_keys=True, default=str).encode()).hexdigest()


def ensure_int8(task: Task, spec, inputs: Inputs, log: Log) -> tuple[Path, dict]:
    """(the INT8 model's path, its record): the cached one when its fingerprint matches, else built now."""
    import onnxruntime

    given = Path(spec.calibration_list).expanduser() if spec.calibration_list else None
    cal = choose(task.name, given, spec.calibration_count)
    model_sha = file_digest(inputs.model_path)
    fp = fingerprint(model_sha, cal, task.calibration_identity(spec, inputs, cal.names, log), onnxruntime.__version__,
                     task.quantized_ops)
    entry = spec.cache_path() / "quantized" / f"{Path(inputs.model_path).stem}-int8-{fp[:16]}"
    model, record_path = entry / "model.int8.onnx", entry / RECORD
    with locked(entry):
        if model.is_file() and record_path.is_file():
            try:
                record = json.loads(record_path.read_text())
            except (OSError, ValueError):
                record = {}  # a record cut short (a build stopped): built again
            if isinstance(record, dict) and record.get("fingerprint") == fp:
                log(f"int8: reusing the quantized model {model} (calibrated on {cal.record()['samples']} samples "
                    f"of {cal.official.origin})")
                return model, record
        synthetic = bool(inputs.provenance.get("synthetic"))
        log(f"int8: quantizing {inputs.model_path.name} (QDQ, per-channel int8 weights) on {len(cal.names)} "
            f"calibration samples of the official {cal.official.origin}"
            + (f" ({task.synthetic_calibration}: synthetic)" if synthetic else ""))
        how = ort_quant.quantize_int8(inputs.model_path, model, task.calibration_feeds(spec, inputs, cal.names, log),
                                      task.quantized_ops)
        record = {"fingerprint": fp, "precision": "int8", "fp32_model": inputs.model_path.name,
                  "fp32_model_sha256": model_sha, "int8_model_sha256": file_digest(model),
                  "calibration": {**cal.record(), "synthetic": synthetic}, "method": how}
        tmp = record_path.with_name(RECORD + ".part")
        tmp.write_text(json.dumps(record, indent=2))
        tmp.replace(record_path)
    return model, record
