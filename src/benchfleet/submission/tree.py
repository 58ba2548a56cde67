"""Write an MLPerf submission tree (contract §1-2) from harness outputs."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from benchfleet.harness import settings as st
from benchfleet.models import registry
from benchfleet.rules import get_round

COMPLIANCE = ("TEST01", "TEST04", "TEST05")
HARNESS_SOURCES = Path(__file__).resolve().parent.parent / "harness"


@dataclass
class SystemRun:
    """One system's harness output (as fetched from its host) and its description."""

    system_id: str
    description: dict[str, str]
    harness_dir: Path

    @property
    def meta(self) -> dict:
        return json.loads((self.harness_dir / "harness.json").read_text())


def _precision(meta: dict) -> str:
    return meta["backend"].get("precision", "fp32")


def implementation_id(meta: dict) -> str:
    b, precision = meta["backend"], _precision(meta)
    return f"benchfleet-{b['name']}-{b['device']}" + ("" if precision == "fp32" else f"-{precision}")


def _measurement_json(meta: dict) -> dict:
    prov = meta["provenance"]
    entry = registry.lookup(meta["spec"]["benchmark"], meta["backend"]["name"])
    return {
        "starting_weights_filename": prov["model"] if not prov.get("synthetic")
        else f"SYNTHETIC {meta['model_file']}: {prov['model']}",
        "retraining": "no",
        "input_data_types": entry.input_data_types,
        "weight_data_types": entry.weight_data_types if _precision(meta) == "fp32" else _precision(meta),
        "weight_transformations": "none",
    }


def _readme(meta: dict, scenario: dict) -> str:
    lines = [
        f"# {meta['benchmark']} {scenario['scenario']} ({implementation_id(meta)})",
        "",
        f"Run with benchfleet {meta['benchfleet_version']} on LoadGen {meta['host']['loadgen']} "
        f"(round {meta['round']} rules set as TestSettings attributes), backend "
        f"{meta['backend']['name']} {meta['backend']['version']}, {meta['backend']['threads']} threads.",
        "",
        "Reproduce: `benchfleet run --division {d} --mode {m}` (see the benchfleet README).".format(
            d=meta["spec"]["division"], m=meta["spec"]["mode"]),
    ]
    if scenario.get("inferred_from"):
        lines += ["", f"This scenario is inferred from the {scenario['inferred_from']} run (edge rule); "
                      "its logs are copies of that run."]
    if meta["spec"]["mode"] == "quick":
        lines += ["", "QUICK MODE: shortened durations and query counts; NOT FOR SUBMISSION."]
    if meta.get("synthetic"):
        p = meta["provenance"]
        lines += ["", "SYNTHETIC: " + p["model"] + ". Dataset: " + p["dataset"] + "."]
    return "\n".join(lines) + "\n"


_TASK_NOTES = {
    "imagenet": "Preprocessing: RGB, resize shorter side to 256 (area), centre crop 224, subtract "
                "[123.68, 116.78, 103.94], NCHW float32 (MobileNet/EfficientNet on TFLite: the same crop, "
                "scaled to [-1, 1], NHWC). Responses: top-1 class as float32.",
    "squad": "Features as the reference create_squad_data.py (uncased WordPiece, max_seq_length 384, "
             "doc_stride 128, max_query_length 64); one sample per feature. Responses: (384, 2) float32 "
             "start/end logits; scored as accuracy-squad.py (n-best 20, max answer length 30).",
    "cnndm": "Prompts: the reference's instruction template, GPT-2 BPE, at most 1919 tokens. Generation: "
             "beam search, 4 beams, early stopping, 30 to 128 new tokens. Responses: generated token ids as "
             "int64; scored with ROUGE-1/2/L (Porter stemmer) and gen_len as evaluation.py.",
}


def _code_readme(meta: dict) -> str:
    return (
        f"# benchfleet harness ({implementation_id(meta)})\n\n"
        "The LoadGen harness of benchfleet: `benchfleet_harness/` holds its sources as run.\n"
        + _TASK_NOTES.get(meta.get("task", "imagenet"), "") + "\n"
    )


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)


def _copy_logs(src: Path, dst: Path, names: tuple[str, ...]) -> None:
    for n in names:
        if (src / n).is_file():
            _copy(src / n, dst / n)


def write_tree(root: Path, submitter: str, runs: list[SystemRun], round_version: str = "v3.1") -> list[Path]:
    """Write (or extend) the tree at ``root``; each run goes to its own division. Returns the submitter folders."""
    rules = get_round(round_version)
    written: list[Path] = []
    synthetic_any = False
    for run in runs:
        meta = run.meta
        division = meta["spec"]["division"]
        sub = Path(root) / division / submitter
        if sub not in written:
            written.append(sub)
        bench = meta["benchmark"] if meta.get("mlperf_benchmark", meta["benchmark"]) != meta["benchmark"] \
            else rules.benchmark(meta["benchmark"]).name
        if bench != meta.get("mlperf_benchmark", bench):
            # an open-division model: tell the checker which benchmark's task it performs
            path = sub / "model_mapping.json"
            mapping = json.loads(path.read_text()) if path.is_file() else {}
            mapping[bench] = rules.checker_model(meta["mlperf_benchmark"])
            sub.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(mapping, indent=2, sort_keys=True) + "\n")
        impl = implementation_id(meta)
        synthetic_any |= bool(meta.get("synthetic"))
        desc = dict(run.description, division=division, submitter=submitter)
        (sub / "systems").mkdir(parents=True, exist_ok=True)
        (sub / "systems" / f"{run.system_id}.json").write_text(json.dumps(desc, indent=2) + "\n")
        code = sub / "code" / bench / impl
        code.mkdir(parents=True, exist_ok=True)
        (code / "README.md").write_text(_code_readme(meta))
        for py in sorted(HARNESS_SOURCES.glob("*.py")):
            _copy(py, code / "benchfleet_harness" / py.name)
        for scen in meta["scenarios"]:
            name = scen["scenario"]
            src = run.harness_dir / name
            meas = sub / "measurements" / run.system_id / bench / name
            meas.mkdir(parents=True, exist_ok=True)
            (meas / f"{run.system_id}_{impl}_{name}.json").write_text(
                json.dumps(_measurement_json(meta), indent=2) + "\n")
            (meas / "mlperf.conf").write_text(st.render_mlperf_conf(rules))
            _copy(src / "user.conf", meas / "user.conf")
            (meas / "README.md").write_text(_readme(meta, scen))
            res = sub / "results" / run.system_id / bench / name
            _copy_logs(src / "performance" / "run_1", res / "performance" / "run_1",
                       ("mlperf_log_summary.txt", "mlperf_log_detail.txt"))
            _copy_logs(src / "accuracy", res / "accuracy",
                       ("mlperf_log_summary.txt", "mlperf_log_detail.txt", "mlperf_log_accuracy.json", "accuracy.txt"))
            for test in COMPLIANCE:
                tsrc = src / test
                if not tsrc.is_dir():
                    continue
                tdst = sub / "compliance" / run.system_id / bench / name / test
                _copy_logs(tsrc, tdst, ("verify_performance.txt", "verify_accuracy.txt"))
                _copy_logs(tsrc / "performance" / "run_1", tdst / "performance" / "run_1",
                           ("mlperf_log_summary.txt", "mlperf_log_detail.txt"))
                _copy_logs(tsrc / "accuracy", tdst / "accuracy",
                           ("mlperf_log_accuracy.json", "accuracy.txt", "baseline_accuracy.txt",
                            "compliance_accuracy.txt"))
    notes = Path(root) / "README.md"
    text = ["# Submission tree written by benchfleet", ""]
    if synthetic_any:
        text += ["SYNTHETIC: at least one system ran a generated model on a generated dataset. "
                 "These results check the pipeline and are NOT for publication or submission.", ""]
    notes.write_text("\n".join(text))
    return written
