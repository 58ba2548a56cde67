"""Write an MLPerf submission tree (contract §1-2) from harness outputs."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from benchfleet.backends import noop
from benchfleet.benchmarks import registry
from benchfleet.harness import power_layout
from benchfleet.harness import settings as st
from benchfleet.harness.result import HarnessResult
from benchfleet.rules import get_round
from benchfleet.rules.table import COMPLIANCE_TESTS

PACKAGE = Path(__file__).resolve().parent.parent


class UnsafeTreePath(ValueError):
    """A folder or file name for the tree that is not a plain name, or a path that leaves the tree."""


@dataclass
class SystemRun:
    """One system's harness output (as fetched from its host), its description and the controller's plan.

    ``planned`` holds the plan's values for the cell (division, benchmark, backend, device, precision,
    scenarios); when given, every path in the tree is built from them and never from ``harness.json``.
    """

    system_id: str
    description: dict[str, str]
    harness_dir: Path
    planned: dict | None = None

    @property
    def meta(self) -> HarnessResult:
        return HarnessResult.read_or_empty(self.harness_dir)  # as the aggregator reads it


def round_of(meta: HarnessResult) -> str | None:
    """The round whose rules a harness output says it ran under (None: the output does not say)."""
    value = meta.value("round")
    return value if isinstance(value, str) and value else None


def safe_name(value: object, what: str) -> str:
    """``value`` as one path component, or UnsafeTreePath naming ``what``: no separators, no ``..``, no NUL or
    other control characters, no leading dot or dash, at most 128 characters."""
    text = value if isinstance(value, str) else ""
    if (not text or len(text) > 128 or "/" in text or "\\" in text or ".." in text or text[0] in ".-"
            or any(ord(c) < 32 or ord(c) == 127 for c in text)):
        raise UnsafeTreePath(f"{what}: {value!r} is not a safe folder or file name for the submission tree "
                             "(no '/', '..', control characters, leading dot or dash)")
    return text


def _inside(root: Path, path: Path) -> Path:
    """``path`` if it resolves inside ``root``, else UnsafeTreePath."""
    base = root.resolve()
    if not path.resolve().is_relative_to(base):
        raise UnsafeTreePath(f"{path} leaves the submission tree {base}")
    return path


def _planned(run: SystemRun, meta: HarnessResult) -> dict:
    """The cell's identity: the plan's values, or (no plan given: a tree rebuilt from harness outputs alone)
    the harness's own."""
    if run.planned is not None:
        return run.planned
    return {"division": meta.value("spec.division"), "benchmark": meta.value("spec.benchmark"),
            "backend": meta.value("backend.name"), "device": meta.value("backend.device"),
            "mode": meta.value("spec.mode"), "precision": meta.value("backend.precision"),
            "compiler": meta.value("backend.compiler") or "none",
            "scenarios": [s.get("scenario") for s in meta.scenarios], "synthetic": meta.synthetic}


def _implementation(cell: dict) -> str:
    precision, compiler = cell.get("precision") or "fp32", cell.get("compiler") or "none"
    return (f"benchfleet-{cell['backend']}-{cell['device']}" + ("" if precision == "fp32" else f"-{precision}")
            + ("" if compiler == "none" else f"-{compiler}"))


def _measurement_json(meta: HarnessResult, cell: dict) -> dict:
    entry = registry.lookup(cell["benchmark"], cell["backend"])
    model = meta.text("provenance", "model")
    return {
        "starting_weights_filename": model if not cell["synthetic"]
        else f"SYNTHETIC {meta.text('model_file')}: {model}",
        "retraining": "no",
        "input_data_types": entry.input_data_types,
        "weight_data_types": entry.weight_data_types if (cell.get("precision") or "fp32") == "fp32"
        else "int8, fp32" if cell["precision"] == "int8" else cell["precision"],  # int8: the classifier stays fp32
        "weight_transformations": _quantized(meta, cell) or "none",
    }


def _quantized(meta: HarnessResult, cell: dict) -> str:
    """How an int8 result's model was made, in a sentence ('' for other precisions). The sentence is benchfleet's
    own; of the host's record only an official list benchfleet ships and a sample count within it are taken (a host
    may send anything: another type, a huge number), else the sentence says less."""
    if meta.value("backend.precision") != "int8":
        return ""
    from benchfleet.backends.ort_quant import METHOD
    from benchfleet.benchmarks.calibration import OFFICIAL

    record = meta.quantization if isinstance(meta.quantization, dict) else {}
    cal = record.get("calibration") if isinstance(record.get("calibration"), dict) else {}
    lists = {o.origin: o for group in OFFICIAL.values() for o in group}
    given = cal.get("official_list")
    official = lists.get(given) if isinstance(given, str) else None
    n = cal.get("samples")
    count = f"{n} samples" if official and isinstance(n, int) and not isinstance(n, bool) \
        and 0 < n <= len(official.names()) else "samples"
    where = f"MLCommons' calibration/{official.origin}" if official else "an official MLCommons calibration list"
    task = _task_of(cell)
    ops = f"; operators quantized: {', '.join(task.quantized_ops)}" if task and task.quantized_ops else ""
    stand_in = task.synthetic_calibration if task else "generated samples bearing those names"
    return (f"post-training static quantization ({METHOD['format']}): weights {METHOD['weights']}; activations "
            f"{METHOD['activations']}{ops}; fp32: {METHOD['kept_fp32']}; calibrated on {count} of {where}"
            + (f" ({stand_in}: synthetic)" if cal.get("synthetic") is True else ""))


def _task_of(cell: dict):
    """The benchmark task of a cell, from the plan (never the host); None where it names none benchfleet knows."""
    try:
        return registry.task(registry.lookup(cell["benchmark"], cell["backend"]).task)
    except (ValueError, KeyError):
        return None


def _number(value: object, default: str = "unknown") -> str:
    return f"{value:g}" if isinstance(value, int | float) and not isinstance(value, bool) else default


def _readme(meta: HarnessResult, scenario: dict, cell: dict, impl: str) -> str:
    lines = [
        f"# {cell['benchmark']} {scenario['scenario']} ({impl})",
        "",
        f"Run with benchfleet {meta.text('benchfleet_version')} on LoadGen {meta.text('host', 'loadgen')} "
        f"(round {meta.text('round')} rules set as TestSettings attributes), backend "
        f"{cell['backend']} {meta.text('backend', 'version')}, "
        f"{_number(scenario.get('threads'), meta.text('backend', 'threads'))} threads"
        + (f", batch {_number(scenario.get('batch'))}." if isinstance(scenario.get("batch"), int) else "."),
        "",
        "Reproduce: `benchfleet run --division {d} --mode {m}` (see the benchfleet README).".format(
            d=cell["division"], m=cell.get("mode") or meta.text("spec", "mode")),
    ]
    if (cell.get("compiler") or "none") == "inductor":
        lines += ["", "Compiled (`--compiler inductor`): the model's graph compiled by torch.compile with its "
                      "inductor backend (one graph per batch size, compiled before LoadGen starts"
                      + (", replayed as CUDA graphs" if cell.get("device") == "cuda" else "")
                      + "); the weights are the model file's, unchanged."]
    quantized = _quantized(meta, cell)
    if quantized:
        lines += ["", f"Precision int8 (`--precision int8`): {quantized}. The int8 model's own accuracy run is this "
                      "result's accuracy; a quantized model below the benchmark's target is not measured further."]
    if scenario.get("inferred_from"):
        lines += ["", f"This scenario is inferred from the {scenario['inferred_from']} run (edge rule); "
                      "its logs are copies of that run."]
    search = scenario.get("server_search")  # host text: numbers are taken as numbers, the rest cut to one line
    if isinstance(search, dict) and isinstance(search.get("probes"), list):
        probes = [p for p in search["probes"][:16] if isinstance(p, dict)]
        tried = ", ".join(f"{_number(p.get('target_qps'))} {'VALID' if p.get('valid') is True else 'INVALID'}"
                          for p in probes)
        best = _number(search.get("best_qps"), "none VALID: half the lowest probe")
        stopped = " ".join(str(search.get("stopped", "")).split())[:200]
        lines += ["", f"Server target QPS: {best}, searched with {len(probes)} short performance runs ({tried}): "
                      f"{stopped}."]
    tuning = scenario.get("tuning")  # host text again: numbers as numbers, the source one of two known words
    if isinstance(tuning, dict):
        trials = [t for t in (tuning.get("trials") or [])[:32] if isinstance(t, dict)] \
            if isinstance(tuning.get("trials"), list) else []
        source = "tuned on this system in this run" if tuning.get("source") == "tuned in this run" \
            else "taken from this system's tuning file (benchfleet tune)"
        how = (f" from {len(trials)} short performance runs ("
               + ", ".join(f"{_number(t.get('threads'))} threads batch {_number(t.get('batch'))}"
                           f"{' again, longer' if t.get('runoff') is True else ''}: "
                           f"{_number(t.get('value'), 'no figure')}" for t in trials) + ")") if trials else ""
        lines += ["", f"Threads and batch {source}{how}."]
        if isinstance(tuning.get("offline_expected_qps"), int | float):
            lines[-1] += f" Offline expected QPS: {_number(tuning['offline_expected_qps'])}."
    if (cell.get("mode") or meta.text("spec", "mode")) == "quick":
        lines += ["", "QUICK MODE: shortened durations and query counts; NOT FOR SUBMISSION."]
    if cell.get("backend") == noop.NAME:
        lines += ["", f"{noop.MARK}: nothing was inferred (backend noop: each query slept and repeated one answer, "
                      "to measure the orchestration alone); NOT A MEASUREMENT, NOT FOR SUBMISSION."]
    if cell["synthetic"]:
        lines += ["", f"SYNTHETIC: {meta.text('provenance', 'model')}. Dataset: "
                      f"{meta.text('provenance', 'dataset')}."]
    return "\n".join(lines) + "\n"


def _code_files(task: str) -> list[tuple[Path, str]]:
    """(source, name in the code folder) for what ran a cell of ``task``: the LoadGen orchestration, the engines,
    and the benchmark's folder with what it builds on (samples files, tokenizers)."""
    folders = [("harness", ""), ("backends", "backends/"), ("benchmarks", "benchmarks/"),
               (f"benchmarks/{task}", f"benchmarks/{task}/"), ("data", "data/"), ("text", "text/")]
    return [(f, prefix + f.name) for folder, prefix in folders for f in sorted((PACKAGE / folder).glob("*.py"))]


def _calibration_line(cell: dict, meta: HarnessResult) -> str:
    precision = cell.get("precision") or "fp32"
    how = ("the model file's fp32 weights as they are" if precision == "fp32"
           else f"int8: {_quantized(meta, cell)}" if precision == "int8"
           else f"the model file's fp32 weights cast to {precision} when loaded (no scaling, no calibration)")
    return f"- {cell['benchmark']} on {cell['backend']} ({cell['device']}): {how}."


def _calibration(lines: list[str]) -> str:
    quantized = any(": int8: " in line for line in lines)
    return ("# Calibration and quantization\n\n"
            + ("Quantized models were calibrated only on MLCommons' official calibration lists, as each line says."
               if quantized else "No calibration data set was used and no weights were quantized to integers.")
            + " Each result ran:\n\n" + "\n".join(dict.fromkeys(lines)) + "\n")


def _code_readme(task: str, impl: str) -> str:
    return (
        f"# benchfleet harness ({impl})\n\n"
        "The LoadGen harness of benchfleet: `benchfleet_harness/` holds its sources as run: the LoadGen\n"
        "orchestration, the inference engines (`backends/`) and the benchmark's own folder (`benchmarks/`).\n"
        + registry.task(task).notes + "\n"
    )


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)


def _text(value: object) -> str:
    """A description the host gave (its harness.json): text only, at most 20,000 characters, ending in a newline."""
    if not isinstance(value, str) or not value.strip():
        return ""
    return value[:20_000].rstrip() + "\n"


def _copy_logs(src: Path, dst: Path, names: tuple[str, ...]) -> None:
    for n in names:
        if (src / n).is_file():
            _copy(src / n, dst / n)


def write_tree(root: Path, submitter: str, runs: list[SystemRun], round_version: str = "v3.1") -> list[Path]:
    """Write (or extend) the tree at ``root`` in the layout of round ``round_version``; each run goes to its own
    division. A run measured under another round's rules is refused (UnsafeTreePath is not the error: ValueError).
    Returns the submitter folders."""
    rules = get_round(round_version)
    layout = rules.layout
    written: list[Path] = []
    synthetic_any = False
    calibration: dict[Path, list[str]] = {}  # closed submitter folder -> a line per cell (v5.1's calibration.md)
    root = Path(root)
    safe_name(submitter, "submitter")
    for run in runs:
        meta = run.meta
        ran_under = round_of(meta)
        if ran_under != rules.version:
            raise ValueError(f"{run.system_id}: its harness.json says it ran under "
                             f"{'the ' + ran_under + ' rules' if ran_under else 'no round'}; it cannot go into a "
                             f"{rules.version} tree (run it again with --round {rules.version})")
        cell = _planned(run, meta)
        # labelled SYNTHETIC when the plan generated the data or the host says it did
        cell = {**cell, "synthetic": bool(cell.get("synthetic")) or meta.synthetic}
        division = safe_name(cell["division"], "division")
        sid = safe_name(run.system_id, "system id")
        sub = _inside(root, root / division / submitter)
        if sub not in written:
            written.append(sub)
        rule = registry.rule_benchmark(cell["benchmark"])
        mlperf = rules.benchmark(rule).name
        bench = safe_name(cell["benchmark"] if rule != cell["benchmark"] else mlperf, "benchmark")
        if bench != mlperf:
            # an open-division model: tell the checker which benchmark's task it performs
            path = sub / "model_mapping.json"
            mapping = json.loads(path.read_text()) if path.is_file() else {}
            mapping[bench] = rules.checker_model(mlperf)
            sub.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(mapping, indent=2, sort_keys=True) + "\n")
        impl = safe_name(_implementation(cell), "implementation (backend, device, precision)")
        synthetic_any |= cell["synthetic"]
        desc = dict(run.description, division=division, submitter=submitter)
        (sub / "systems").mkdir(parents=True, exist_ok=True)
        _inside(root, sub / "systems" / f"{sid}.json").write_text(json.dumps(desc, indent=2) + "\n")
        if layout.calibration_doc and division in ("closed", "network"):
            calibration.setdefault(sub, []).append(_calibration_line(cell, meta))
        code = _inside(root, layout.code_dir(sub, bench, impl))
        code.mkdir(parents=True, exist_ok=True)
        task = registry.lookup(cell["benchmark"], cell["backend"]).task  # from the plan, never the host
        (code / "README.md").write_text(_code_readme(task, impl))
        for src_file, name in _code_files(task):
            _copy(src_file, code / "benchfleet_harness" / name)
        listed = meta.scenarios
        by_name = {s.get("scenario"): s for s in listed if isinstance(s, dict)}
        for name in cell["scenarios"]:
            name = safe_name(name, "scenario")
            scen = by_name.get(name)
            if scen is None:  # the host did not run a planned scenario: the checker reports it missing
                continue
            src = run.harness_dir / name
            meas = _inside(root, layout.measurements_dir(sub, sid, bench, name))
            meas.mkdir(parents=True, exist_ok=True)
            (meas / layout.measurement_json(sid, impl, name)).write_text(
                json.dumps(_measurement_json(meta, cell), indent=2) + "\n")
            if "mlperf.conf" in layout.measurement_files:
                (meas / "mlperf.conf").write_text(st.render_mlperf_conf(rules))
            _copy(src / "user.conf", meas / "user.conf")
            (meas / "README.md").write_text(_readme(meta, scen, cell, impl))
            res = _inside(root, sub / "results" / sid / bench / name)
            _copy_logs(src / "performance" / "run_1", res / "performance" / "run_1",
                       ("mlperf_log_summary.txt", "mlperf_log_detail.txt"))
            if (src / "performance" / "power").is_dir():  # measured for power: the session's files, unchanged
                _copy_logs(src / "performance" / "run_1", res / "performance" / "run_1", ("spl.txt",))
                _copy_logs(src / "performance" / "ranging", res / "performance" / "ranging", power_layout.RUN_FILES)
                _copy_logs(src / "performance" / "power", res / "performance" / "power", power_layout.POWER_FILES)
                # the analyzer's and the settings' descriptions as the sweep gave them; none given, none written
                # (the check then says they are missing)
                power = meta.value("spec.power") if isinstance(meta.value("spec.power"), dict) else {}
                for filename, key in (("analyzer_table.md", "analyzer"), ("power_settings.md", "settings")):
                    if _text(power.get(key)):
                        (meas / filename).write_text(_text(power.get(key)))
            _copy_logs(src / "accuracy", res / "accuracy",
                       ("mlperf_log_summary.txt", "mlperf_log_detail.txt", "mlperf_log_accuracy.json", "accuracy.txt"))
            for test in COMPLIANCE_TESTS:
                tsrc = src / test
                if not tsrc.is_dir():
                    continue
                tdst = _inside(root, layout.compliance_dir(sub, sid, bench, name) / test)
                _copy_logs(tsrc, tdst, ("verify_performance.txt", "verify_accuracy.txt"))
                _copy_logs(tsrc / "performance" / "run_1", tdst / "performance" / "run_1",
                           ("mlperf_log_summary.txt", "mlperf_log_detail.txt"))
                _copy_logs(tsrc / "accuracy", tdst / "accuracy",
                           ("mlperf_log_accuracy.json", "accuracy.txt", "baseline_accuracy.txt",
                            "compliance_accuracy.txt"))
    for sub, lines in calibration.items():
        (sub / "calibration.md").write_text(_calibration(lines))
    notes = root / "README.md"
    text = ["# Submission tree written by benchfleet", "", f"MLPerf Inference round: {rules.version}", ""]
    if synthetic_any:
        text += ["SYNTHETIC: at least one system ran a generated model on a generated dataset. "
                 "These results check the pipeline and are NOT for publication or submission.", ""]
    notes.write_text("\n".join(text))
    return written
