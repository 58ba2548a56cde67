"""``benchfleet check``: our own validator of a submission tree for a round.

It makes every fatal check of the official v3.1 checker (contract §0-4) and turns into errors
what the official one only logs: test duration, early stopping, the accuracy/ file list. With
the full accuracy logs and the dataset it also recomputes accuracy. A tree that declares itself
quick (benchfleet's quick mode) gets warnings, not errors, for its short durations, but the
logged durations must still match its user.conf.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchfleet.harness import accuracy as acc
from benchfleet.harness import compliance as comp
from benchfleet.harness.logs import DetailLog, metric
from benchfleet.rules import get_round
from benchfleet.rules.table import RoundRules
from benchfleet.submission.system import FIELDS

MEANINGFUL = {
    "division", "submitter", "system_type", "status", "system_name", "number_of_nodes",
    "host_processor_model_name", "host_processors_per_node", "host_processor_core_count",
    "host_memory_capacity", "host_memory_configuration", "host_storage_capacity", "host_storage_type",
    "host_networking", "host_network_card_count", "host_networking_topology", "accelerators_per_node",
    "accelerator_model_name", "accelerator_memory_capacity", "accelerator_host_interconnect",
    "accelerator_memory_configuration", "accelerator_interconnect", "cooling", "framework",
    "operating_system", "other_software_stack",
}
MEASUREMENT_FIELDS = ("input_data_types", "retraining", "starting_weights_filename", "weight_data_types",
                      "weight_transformations")
SCENARIO_MAPPING = {"singlestream": "SingleStream", "multistream": "MultiStream", "server": "Server",
                    "offline": "Offline"}
PERF_REQUIRED = {"mlperf_log_summary.txt", "mlperf_log_detail.txt"}
PERF_OPTIONAL = {"mlperf_log_accuracy.json"}
ACC_FILES = {"mlperf_log_summary.txt", "mlperf_log_detail.txt", "accuracy.txt", "mlperf_log_accuracy.json"}
QUICK_MARK = "QUICK MODE"
INFERABLE = {("Offline", "SingleStream"), ("Offline", "MultiStream"), ("MultiStream", "SingleStream")}


@dataclass
class Finding:
    level: str  # ERROR | WARNING
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.level} {self.path}: {self.message}"


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    results: list[dict] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "ERROR"]

    @property
    def ok(self) -> bool:
        return not self.errors


class Checker:
    def __init__(self, root: Path, rules: RoundRules, accuracy_logs: Path | None = None,
                 labels: np.ndarray | None = None):
        self.root, self.rules = Path(root), rules
        self.report = Report()
        self.full_logs = _index_accuracy_logs(accuracy_logs) if accuracy_logs else {}
        self.labels = labels

    def err(self, path: Path | str, msg: str) -> None:
        self.report.findings.append(Finding("ERROR", str(path), msg))

    def warn(self, path: Path | str, msg: str) -> None:
        self.report.findings.append(Finding("WARNING", str(path), msg))

    # ---- tree-wide -------------------------------------------------------------------
    def run(self) -> Report:
        if not self.root.is_dir():
            self.err(self.root, "not a folder; pass the folder that holds closed/ or open/")
            return self.report
        divisions = []
        for entry in sorted(self.root.iterdir()):
            if entry.is_dir() and entry.name in self.rules.divisions:
                divisions.append(entry)
            elif entry.is_file() and entry.suffix in (".md", ".pdf"):
                continue
            else:
                self.err(entry, "the submission root may hold only closed/, open/, network/ and *.md/*.pdf; "
                                "move this out of the tree")
        if not divisions:
            self.err(self.root, "no division folder (closed/, open/ or network/)")
        for div in divisions:
            for sub in sorted(div.iterdir()):
                if not sub.is_dir():
                    self.err(sub, "a division folder holds only submitter folders")
                    continue
                self.check_hygiene(sub)
                self.check_submitter(div.name, sub)
        return self.report

    def check_hygiene(self, sub: Path) -> None:
        for dirpath, dirnames, filenames in os.walk(sub):
            d = Path(dirpath)
            if not dirnames and not filenames:
                self.err(d, "empty directory; delete it (the checker rejects empty directories)")
            for name in dirnames + filenames:
                p = d / name
                if name.startswith("."):
                    self.err(p, "git-unfriendly name starting with '.'")
                if " " in name:
                    self.err(p, "name contains a space")
                if name == "__pycache__":
                    self.err(p, "__pycache__ folder; delete it")
                if p.is_symlink() and not p.exists():
                    self.err(p, "broken symlink")
                elif p.is_file() and p.stat().st_size > self.rules.max_file_bytes:
                    self.err(p, f"file over {self.rules.max_file_bytes // (1 << 20)} MB")

    # ---- one submitter ---------------------------------------------------------------
    def check_submitter(self, division: str, sub: Path) -> None:
        closed = division in ("closed", "network")
        systems = {}
        for sj in sorted((sub / "systems").glob("*.json")) if (sub / "systems").is_dir() else []:
            systems[sj.stem] = self.check_system(sj, division, sub.name)
        results = sub / "results"
        if not results.is_dir():
            self.err(results, "missing results/ folder")
            return
        if not (sub / "code").is_dir():
            self.err(sub / "code", "missing code/ folder")
        mapping = self._model_mapping(sub) if not closed else {}
        for sysdir in sorted(p for p in results.iterdir() if p.is_dir()):
            desc = systems.get(sysdir.name)
            if desc is None:
                self.err(sub / "systems" / f"{sysdir.name}.json", "missing system description for results/"
                         + sysdir.name)
                continue
            system_type = desc.get("system_type", "")
            for bdir in sorted(p for p in sysdir.iterdir() if p.is_dir()):
                self.check_benchmark(sub, division, closed, sysdir.name, bdir, system_type, mapping)

    def check_system(self, path: Path, division: str, submitter: str) -> dict:
        try:
            desc = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            self.err(path, f"not valid JSON ({exc})")
            return {}
        for k in FIELDS:
            if k not in desc:
                self.err(path, f"field {k} is missing")
                continue
            v = desc[k]
            if not isinstance(v, str):
                self.err(path, f"field {k} must be a string, found {type(v).__name__} {v!r}")
            if k in MEANINGFUL and (not v or (isinstance(v, str) and not v.strip())):
                self.err(path, f"field {k} requires a meaningful response but is empty")
        if "is_network" in desc and not isinstance(desc["is_network"], str):
            self.err(path, "field is_network must be the string 'true' or 'false'")
        status = str(desc.get("status", "")).lower()
        if status and status not in self.rules.statuses:
            self.err(path, f"has invalid status ({desc.get('status')}); use one of {', '.join(self.rules.statuses)}")
        st_ = desc.get("system_type")
        if st_ and st_ not in ("datacenter", "edge", "datacenter,edge", "edge,datacenter"):
            self.err(path, f"has invalid system_type ({st_})")
        if str(desc.get("submitter", "")).lower() != submitter.lower():
            self.err(path, f"has submitter {desc.get('submitter')}, directory has {submitter}")
        if desc.get("division") != division:
            self.err(path, f"has division {desc.get('division')}, directory has {division}")
        if str(desc.get("is_network", "false")).lower() == "true" and division == "closed":
            self.err(path, "a network system is not allowed in the closed division")
        return desc

    def _model_mapping(self, sub: Path) -> dict[str, str]:
        """model_mapping.json of an open submitter folder: results folder -> the checker's model key."""
        path = sub / "model_mapping.json"
        if not path.is_file():
            return {}
        try:
            mapping = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            self.err(path, f"not valid JSON ({exc})")
            return {}
        for name, model in mapping.items():
            try:
                self.rules.benchmark(model)
            except ValueError:
                self.err(path, f"maps {name} to {model!r}, which is not a {self.rules.version} model key")
        return mapping

    def check_benchmark(self, sub: Path, division: str, closed: bool, system: str, bdir: Path,
                        system_type: str, mapping: dict[str, str] | None = None) -> None:
        try:
            bench = self.rules.benchmark((mapping or {}).get(bdir.name, bdir.name))
        except ValueError:
            if closed:
                self.err(bdir, f"{bdir.name} is not a {self.rules.version} closed benchmark name")
                return
            bench = None
        scen_dirs = {SCENARIO_MAPPING.get(p.name, p.name): p for p in bdir.iterdir() if p.is_dir()}
        if closed and bench:
            try:
                required = set(bench.scenarios_for(system_type))
            except ValueError as exc:
                self.err(bdir, str(exc))
                return
            missing = required - set(scen_dirs)
            if missing:
                self.err(bdir, f"does not have all required scenarios, missing {sorted(missing)}")
            for extra in set(scen_dirs) - required:
                self.err(scen_dirs[extra], f"scenario {extra} is neither required nor optional for "
                                           f"{bench.name} on a {system_type} system")
        for scen, sdir in sorted(scen_dirs.items()):
            if scen not in SCENARIO_MAPPING.values():
                self.err(sdir, f"unknown scenario folder {sdir.name}")
                continue
            self.check_scenario(sub, division, closed, system, bdir.name, bench, scen, sdir)

    def check_scenario(self, sub, division, closed, system, bname, bench, scen, sdir) -> None:
        meas = sub / "measurements" / system / bname / sdir.name
        quick, user_values = False, {}
        if not meas.is_dir():
            self.err(meas, "no measurements folder for this result")
        else:
            for f in ("mlperf.conf", "user.conf", "README.md"):
                p = meas / f
                if not p.is_file():
                    self.err(meas, f"is missing {f}")
                elif p.stat().st_size == 0:
                    self.err(p, "is empty")
            quick = (meas / "README.md").is_file() and QUICK_MARK in (meas / "README.md").read_text()
            if (meas / "user.conf").is_file():
                user_values = _read_conf(meas / "user.conf", scen)
            mj = [p for p in sorted(meas.glob(f"{system}*.json"))]
            if not mj:
                self.err(meas, f"is missing {system}*.json (the measurement description)")
            else:
                try:
                    j = json.loads(mj[0].read_text())
                except json.JSONDecodeError as exc:
                    self.err(mj[0], f"not valid JSON ({exc})")
                    j = {}
                for k in MEASUREMENT_FIELDS:
                    if k not in j:
                        self.err(mj[0], f"field {k} is missing")
                    elif not j[k]:
                        self.err(mj[0], f"field {k} is missing meaningful value")
                if not (sub / "code" / bname).exists():
                    self.err(sub / "code" / bname, "is missing; the code folder of this benchmark must exist")
        result = {"system": system, "benchmark": bname, "scenario": scen, "path": str(sdir)}
        acc_ok = self.check_accuracy(sdir / "accuracy", bench, closed, quick)
        perf_dir = sdir / "performance" / "run_1"
        if not perf_dir.is_dir():
            self.err(perf_dir, "is missing")
            return
        files = {p.name for p in perf_dir.iterdir()}
        extra, missing = files - PERF_REQUIRED - PERF_OPTIONAL, PERF_REQUIRED - files
        if extra or missing:
            self.err(perf_dir, f"has file list mismatch ({sorted(extra | missing)})")
            return
        ok, value = self.check_performance(perf_dir, bench, scen, quick, user_values, test05=False)
        result.update(valid=ok and acc_ok, metric=value)
        if closed and bench:
            cdir = sub / "compliance" / system / bname / sdir.name
            if bench.compliance_tests and not cdir.is_dir():
                self.err(cdir, "no compliance folder for this result")
            else:
                for test in bench.compliance_tests:
                    self.check_compliance(cdir / test, test, perf_dir, bench, scen, quick, user_values)
        self.report.results.append(result)

    # ---- accuracy --------------------------------------------------------------------
    def check_accuracy(self, adir: Path, bench, closed: bool, quick: bool = False) -> bool:
        if not (adir / "accuracy.txt").is_file():
            self.err(adir, "has no accuracy.txt")
            return False
        files = {p.name for p in adir.iterdir()}
        if files != ACC_FILES:
            self.err(adir, f"has file list mismatch ({sorted(files ^ ACC_FILES)})")
        text = (adir / "accuracy.txt").read_text()
        hashes = re.findall(r"^hash=([\w\d]+)$", text, re.M)
        ok = True
        if not hashes:
            self.err(adir / "accuracy.txt", "not hash value for mlperf_log_accuracy.json (run the truncation step)")
            ok = False
        value = None
        if bench:
            for metric_name, pattern, target in bench.accuracy_targets():
                found = _last_value(text, pattern)
                if metric_name == bench.accuracy_metric:
                    value = found
                if found is None:
                    self.err(adir / "accuracy.txt", f"no {metric_name} line found")
                    ok = False
                    continue
                if metric_name == "GEN_LEN" and quick:
                    # a total over the dataset: a quick tree scored fewer samples, so scale the target
                    n = _last_value(text, r".*'gen_num':\s([\d.]+).*") or 0
                    target = target * n / bench.performance_sample_count
                    self.warn(adir / "accuracy.txt", f"quick tree: GEN_LEN target scaled to the {int(n)} samples "
                                                     f"scored ({target:.1f}); a submission needs the whole dataset")
                if closed and found < target:
                    self.err(adir / "accuracy.txt", f"accuracy not valid: {metric_name} {found} < target {target:.4f}")
                    ok = False
        log = adir / "mlperf_log_accuracy.json"
        if not log.is_file():
            self.err(adir, "mlperf_log_accuracy.json is missing")
            ok = False
        elif log.stat().st_size > self.rules.max_accuracy_log_bytes:
            self.err(log, "is not truncated (over 10 KiB)")
            ok = False
        detail = adir / "mlperf_log_detail.txt"
        if detail.is_file():
            errs = DetailLog(detail).errors()
            if errs:
                self.err(detail, f"contains errors: {errs[0]}")
                ok = False
        if hashes and value is not None and bench and (self.labels is not None or self.full_logs):
            full = self.full_logs.get(hashes[-1])
            if full is None and log.is_file() and acc.sha256_file(log) == hashes[-1]:
                full = log
            if full is None:
                self.warn(adir, "accuracy not recomputed: no full accuracy log with this hash was given")
                return ok
            recomputed = self._rescore(full, bench)
            if recomputed is None:
                self.warn(adir, "accuracy not recomputed: no dataset was given for it")
            elif abs(recomputed - value) > 0.0015:
                self.err(adir / "accuracy.txt",
                         f"reports {value} but the accuracy log scores {recomputed:.4f} against the dataset")
                ok = False
        return ok

    def _rescore(self, full: Path, bench) -> float | None:
        """The first metric recomputed from a full accuracy log, with the scoring files the harness keeps
        beside it (``<cell>/results/labels``) or the dataset given."""
        labels_dir = full.parent.parent.parent / "labels"
        entries = acc.read_accuracy_log(full)
        if bench.accuracy_metric == "acc":
            labels = self.labels
            if labels is None and (labels_dir / "val_map.txt").is_file():
                from benchfleet.data.imagenet import ImageNetVal

                labels = ImageNetVal.open(labels_dir, require_files=False).labels
            return None if labels is None else acc.score_imagenet(entries, labels)[0]
        if bench.accuracy_metric == "F1" and (labels_dir / "dev-v1.1.json").is_file():
            from benchfleet.harness import squad

            return squad.score_log(entries, squad.load_dataset(labels_dir / "dev-v1.1.json"),
                                   labels_dir / "vocab.txt")["f1"]
        if bench.accuracy_metric == "ROUGE1" and (labels_dir / "cnn_eval.json").is_file():
            from benchfleet.harness import summarize
            from benchfleet.text.bpe import ByteBPE

            return summarize.score_log(entries, summarize.load_records(labels_dir / "cnn_eval.json"),
                                       ByteBPE.load(labels_dir))["rouge1"]
        return None

    # ---- performance -----------------------------------------------------------------
    def check_performance(self, perf_dir: Path, bench, scen: str, quick: bool, user_values: dict,
                          test05: bool) -> tuple[bool, float | None]:
        detail = perf_dir / "mlperf_log_detail.txt"
        d = DetailLog(detail)
        ok = True
        if d["result_validity"] != "VALID":
            self.err(detail, f"result_validity is {d['result_validity']}, not VALID")
            ok = False
        errs = d.errors()
        if errs:
            self.err(detail, f"contains errors: {errs[0]}")
            ok = False
        if bench and (d["effective_performance_sample_count"] or 0) < bench.performance_sample_count:
            self.err(detail, f"performance_sample_count, found {d['effective_performance_sample_count']}, "
                             f"needs to be >= {bench.performance_sample_count}")
            ok = False
        seeds = self.rules.test05_seeds if test05 else self.rules.seeds
        for key in ("qsl_rng_seed", "sample_index_rng_seed", "schedule_rng_seed"):
            found = d[f"effective_{key}"]
            if found != getattr(seeds, key):
                self.err(detail, f"{key} is wrong, expected={getattr(seeds, key)}, found={found}")
                ok = False
        logged = d["effective_scenario"]
        if logged != scen and (scen, logged) not in INFERABLE:
            self.err(detail, f"logs scenario {logged} in a {scen} folder; only Offline/MultiStream may be "
                             "inferred from SingleStream (or Offline from MultiStream)")
            return False, None
        if logged in ("SingleStream", "MultiStream", "Server") and not d["early_stopping_met"]:
            self.err(detail, f"early stopping condition was not met ({d['early_stopping_result']})")
            ok = False
        if bench and logged == "Server" and bench.server_latency_ns:
            if (d["effective_target_latency_ns"] or 0) > bench.server_latency_ns:
                self.err(detail, f"latency constraint not met, expected={bench.server_latency_ns}, "
                                 f"found={d['effective_target_latency_ns']}")
                ok = False
        if logged == "Offline" and (d["effective_samples_per_query"] or 0) < self.rules.offline_min_samples_per_query:
            self.err(detail, f"required minimum samples per query not met, expected="
                             f"{self.rules.offline_min_samples_per_query}, found={d['effective_samples_per_query']}")
            ok = False
        if scen == "MultiStream" and logged == "SingleStream" and not d["early_stopping_latency_ms"]:
            self.err(detail, "MultiStream inferred from SingleStream needs early_stopping_latency_ms; run MultiStream")
            ok = False
        dur = d["effective_min_duration_ms"]
        declared = user_values.get("min_duration")
        if declared is not None and dur is not None and int(declared) != int(dur):
            self.err(detail, f"min duration {dur} ms does not match user.conf ({int(declared)} ms)")
            ok = False
        if dur is not None and dur < self.rules.min_duration_ms:
            msg = f"test duration less than 600s (min_duration {dur} ms)"
            if quick:
                self.warn(detail, msg + "; quick mode, not for submission")
            else:
                self.err(detail, msg)
                ok = False
        value = None
        try:
            value, _ = metric(d, scen)
        except (TypeError, KeyError, ValueError, ZeroDivisionError):
            self.err(detail, "the result metric cannot be read")
            ok = False
        return ok, value

    # ---- compliance ------------------------------------------------------------------
    def check_compliance(self, tdir: Path, test: str, ref_perf: Path, bench, scen, quick, user_values) -> None:
        if not tdir.is_dir():
            self.err(tdir.parent, f"Missing {test} in compliance dir")
            return
        vp = tdir / "verify_performance.txt"
        if not vp.is_file() or "TEST PASS" not in vp.read_text():
            self.err(vp, "missing or does not say TEST PASS")
        perf = tdir / "performance" / "run_1"
        if not perf.is_dir():
            self.err(tdir, "has no performance/run_1 directory")
            return
        files = {p.name for p in perf.iterdir()}
        if PERF_REQUIRED - files or files - PERF_REQUIRED - PERF_OPTIONAL:
            self.err(perf, f"has file list mismatch ({sorted(files ^ PERF_REQUIRED)})")
            return
        self.check_performance(perf, bench, scen, quick, user_values, test05=(test == "TEST05"))
        again = comp.verify_performance(test, ref_perf / "mlperf_log_summary.txt", perf / "mlperf_log_summary.txt",
                                        self.rules)
        if "TEST PASS" not in again:
            self.err(perf, f"{test} performance rule fails when recomputed: {again.strip().splitlines()[-1]}")
        if test == "TEST01":
            va = tdir / "verify_accuracy.txt"
            adir = tdir / "accuracy"
            passed = va.is_file() and "TEST PASS" in va.read_text()
            if not va.is_file():
                self.err(va, "is missing")
            if not adir.is_dir():
                self.err(tdir, "has no accuracy directory")
                return
            need = {"mlperf_log_accuracy.json", "accuracy.txt"}
            if not passed:
                need |= {"baseline_accuracy.txt", "compliance_accuracy.txt"}
            files = {p.name for p in adir.iterdir()}
            if files != need:
                self.err(adir, f"has file list mismatch ({sorted(files ^ need)})")
            elif not passed and bench:
                base = _first_value(adir / "baseline_accuracy.txt", bench.accuracy_pattern)
                got = _first_value(adir / "compliance_accuracy.txt", bench.accuracy_pattern)
                delta = 0.1 if "99.9" in bench.name else 1.0
                if not base or not got or abs(1 - base / got) * 100 > delta:
                    self.err(adir, f"TEST01 accuracy differs by more than {delta}% ({base} vs {got})")


def _last_value(text: str, pattern: str) -> float | None:
    value = None
    for line in text.splitlines():
        m = re.match(pattern, line)
        if m:
            value = float(m.group(1))
    return value


def _first_value(path: Path, pattern: str) -> float | None:
    for line in path.read_text().splitlines():
        m = re.match(pattern, line)
        if m:
            return float(m.group(1))
    return None


def _read_conf(path: Path, scenario: str) -> dict[str, float]:
    out = {}
    for line in path.read_text().splitlines():
        m = re.match(r"^\s*([^#\s]+)\.([^.\s]+)\.(\w+)\s*=\s*([-\d.]+)", line)
        if m and m.group(2) in (scenario, "*"):
            out[m.group(3)] = float(m.group(4))
    return out


def _index_accuracy_logs(folder: Path) -> dict[str, Path]:
    """sha256 -> path for every full mlperf_log_accuracy*.json under ``folder``."""
    out = {}
    for p in Path(folder).rglob("mlperf_log_accuracy*.json"):
        if p.stat().st_size > 0:
            out[acc.sha256_file(p)] = p
    return out


def check_tree(root: Path, round_version: str = "v3.1", accuracy_logs: Path | None = None,
               dataset: Path | None = None) -> Report:
    labels = None
    if dataset is not None and (Path(dataset) / "val_map.txt").is_file():  # ImageNet labels: top-1 is rescored
        from benchfleet.data.imagenet import ImageNetVal

        labels = ImageNetVal.open(dataset, require_files=False).labels
    return Checker(root, get_round(round_version), accuracy_logs, labels).run()
