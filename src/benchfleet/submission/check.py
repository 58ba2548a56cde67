"""``benchfleet check``: our own validator of a submission tree for a round.

It makes every fatal check of the official checker of the round it is given (v3.1 to v6.1: the round's
table in ``benchfleet.rules`` says which benchmarks, targets, seeds, compliance tests and tree layout apply)
and turns into errors what the official one only logs: test duration, early stopping, the accuracy/ file
list. With
the full accuracy logs and the dataset it also recomputes accuracy.

A tree comes from other people, so the checker trusts nothing in it: it never follows a symbolic link
(each one is an ERROR naming it), opens regular files only and never more than the round's limit for
one file, stops descending at ``MAX_DEPTH`` folders, and turns every file it cannot take (not UTF-8,
JSON of the wrong shape, a log value of the wrong type, anything unexpected) into one ERROR naming the
file before it goes on with the rest. A tree that declares itself quick (benchfleet's quick mode) is
accepted only when the caller allows quick trees (``--allow-quick``); then its short durations and
query counts are warnings, but the logged durations must still match its user.conf. Without that
permission the declaration is an error and relaxes no rule.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchfleet.backends.noop import MARK as NOOP_MARK
from benchfleet.benchmarks import registry
from benchfleet.harness import accuracy as acc
from benchfleet.harness import compliance as comp
from benchfleet.harness.logs import MARK, DetailLog, metric, metric_key
from benchfleet.rules import get_round, where_is
from benchfleet.rules.table import RUNNABLE_TESTS, RoundRules
from benchfleet.submission import power as pw
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
                    "offline": "Offline", "interactive": "Interactive"}
PERF_REQUIRED = {"mlperf_log_summary.txt", "mlperf_log_detail.txt"}
PERF_OPTIONAL = {"mlperf_log_accuracy.json"}
ACC_FILES = {"mlperf_log_summary.txt", "mlperf_log_detail.txt", "accuracy.txt", "mlperf_log_accuracy.json"}
# every round's checker leaves these out of each file-list comparison (LoadGen's trace, a harness's results.json)
LIST_IGNORED = {"mlperf_log_trace.json", "results.json", ".gitkeep"}
QUICK_MARK = "QUICK MODE"
LOADGEN_DEFAULT_MIN_QUERIES = 100  # LoadGen's min_query_count when a conf sets none
EARLY_STOPPING = ("SingleStream", "MultiStream", "Server")  # scenarios LoadGen's early stopping decides
# LLM token latencies a Server (or Interactive) run logs, compared with the round's TTFT and TPOT limits.
TTFT_KEY = "result_first_token_99.00_percentile_latency_ns"
TPOT_KEY = "result_time_per_output_token_99.00_percentile_ns"
# The verdict file of each compliance test benchfleet checks but does not run.
# Each is (file, lines that must all be there; a tuple in it: any one of). TEST06 (LLM output checks) writes one
# verdict line per check instead of TEST PASS; a first token check is skipped where a run does not stream.
OTHER_TEST_VERDICTS: dict[str, tuple[str, tuple]] = {
    "TEST06": ("verify_accuracy.txt", (("First token check pass: True", "First token check pass: Skipped"),
                                       "EOS check pass: True", "Sample length check pass: True")),
    "TEST07": ("verify_accuracy.txt", ("TEST PASS",)),
    "TEST08": ("verify_accuracy.txt", ("TEST PASS",)),
    "TEST09": ("verify_output_len.txt", ("TEST PASS",)),
}
# (results folder, scenario its log may show): inferred scenarios (edge rules), and Interactive (v5.1 on), which
# LoadGen runs as a Server run with the model's interactive latency limits.
INFERABLE = {("Offline", "SingleStream"), ("Offline", "MultiStream"), ("MultiStream", "SingleStream"),
             ("Interactive", "Server")}
# A tree's deepest legitimate path is about 10 folders (closed/<org>/compliance/<system>/<benchmark>/
# <scenario>/TEST01/performance/run_1); code/ folders go deeper, but not 64 deep. 1,500 nested
# folders ran os.walk past the recursion limit.
MAX_DEPTH = 64
# A full accuracy log (--accuracy-logs, never in the tree) of a whole dataset: ImageNet's is about 5 MB, GPT-J's
# token ids about 15 MB, BERT's 10,833 x 384 x 2 float32 logits in hex about 67 MB. A bigger one is not hashed,
# so never rescored (rescoring reads it whole).
MAX_FULL_LOG_BYTES = 256 << 20
# Values of mlperf_log_detail.txt the checker compares or computes with, and the JSON types they must have:
# a count given as a string compared as text (a traceback) and early_stopping_met "no" read as true.
_NUMBER = (int, float)
DETAIL_TYPES: dict[str, tuple[type, ...]] = {
    **{k: _NUMBER for k in (
        "effective_performance_sample_count", "effective_qsl_rng_seed", "effective_sample_index_rng_seed",
        "effective_schedule_rng_seed", "effective_target_latency_ns", "effective_samples_per_query",
        "effective_min_duration_ms", "effective_min_query_count", "early_stopping_latency_ms",
        "early_stopping_latency_ss", "result_samples_per_second", "result_scheduled_samples_per_sec",
        "result_completed_samples_per_sec", "result_qps_without_loadgen_overhead", "result_mean_query_latency_ns",
        "qsl_reported_total_count", "effective_accuracy_sample_count", "result_first_token_99.00_percentile_latency_ns",
        "result_time_per_output_token_99.00_percentile_ns")},
    "result_validity": (str,), "effective_scenario": (str,), "early_stopping_met": (bool,),
    "effective_sample_concatenate_permutation": (bool,),
}


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


class Unreadable(Exception):
    """A file the checker will not take; ``reported``: its ERROR is already in the report."""

    def __init__(self, path: Path, message: str, reported: bool = False):
        super().__init__(f"{path}: {message}")
        self.path, self.message, self.reported = path, message, reported


def _type_name(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a folder"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return f"file type {stat.S_IFMT(mode):o}"


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


NOT_REGULAR = "is {}, not a regular file; a tree holds only folders and regular files"
LINK = ("is a symbolic link; check does not follow links (in or out of the tree): put the file or folder "
        "itself there")


class DetailLogText(DetailLog):
    """A ``mlperf_log_detail.txt`` from text already read, each entry and each value the checker uses checked
    for its shape; the first that is wrong raises :class:`Unreadable` naming the file and line."""

    def __init__(self, path: Path, text: str):
        self.path = Path(path)
        self.messages: list[dict[str, Any]] = []
        lines: dict[str, int] = {}
        for n, line in enumerate(text.splitlines(), 1):
            if MARK not in line:
                continue
            try:
                m = json.loads(line.split(MARK, 1)[1])
            except (json.JSONDecodeError, RecursionError):
                continue  # a torn line, as LoadGen leaves when killed; DetailLog skips them too
            if not isinstance(m, dict):
                raise Unreadable(path, f"line {n}: a {MARK} entry must be a JSON object, found {_json_type(m)}")
            if not isinstance(m.get("key"), str):
                raise Unreadable(path, f"line {n}: key must be a string, found {_json_type(m.get('key'))}")
            if not isinstance(m.get("metadata", {}), dict):
                raise Unreadable(path, f"line {n}: metadata must be a JSON object, found "
                                       f"{_json_type(m['metadata'])}")
            self.messages.append(m)
            lines.setdefault(m["key"], n)
        self.values = {}
        for m in self.messages:
            self.values.setdefault(m["key"], m.get("value"))
        for key, types in DETAIL_TYPES.items():
            v = self.values.get(key)
            if v is not None and (not isinstance(v, types) or (bool not in types and isinstance(v, bool))):
                want = "a number" if types == _NUMBER else _json_type(types[0]())
                raise Unreadable(path, f"line {lines[key]}: {key} must be {want}, found {_json_type(v)} "
                                       f"{json.dumps(v)[:60]}")


class Checker:
    def __init__(self, root: Path, rules: RoundRules, accuracy_logs: Path | None = None,
                 dataset: Path | None = None, allow_quick: bool = False):
        self.root, self.rules = Path(root), rules
        self.allow_quick = allow_quick
        self._real_root = os.path.realpath(self.root)
        self.report = Report()
        self._refused: set[Path] = set()  # files the walk reported (links, not regular, too big): never opened
        self._summaries: dict[Path, bool] = {}
        self._reads, self._last_read = 0, self.root  # what a guarded call blames when it fails
        self.full_logs: dict[str, Path] = {}
        if accuracy_logs:
            self.full_logs, skipped = _index_accuracy_logs(Path(accuracy_logs))
            for path, why in skipped:
                self.warn(path, f"{why}; not used to recompute accuracy")
        # a dataset folder holding some benchmark's scoring files: accuracy is rescored against it
        self.dataset = Path(dataset) if dataset is not None and any(
            registry.task(n).has_scoring_files(Path(dataset)) for n in registry.TASK_NAMES) else None

    def err(self, path: Path | str, msg: str) -> None:
        self.report.findings.append(Finding("ERROR", str(path), msg))

    def warn(self, path: Path | str, msg: str) -> None:
        self.report.findings.append(Finding("WARNING", str(path), msg))

    # ---- reading what the tree holds, never past it ----------------------------------
    def kind(self, p: Path) -> str:
        """'dir', 'file', 'link', 'other' or 'missing' for ``p``, following no link: a path under a linked
        folder is 'link' too."""
        try:
            rel = p.relative_to(self.root).parts
        except ValueError:
            rel = None
        if rel and os.path.realpath(p.parent) != os.path.join(self._real_root, *rel[:-1]):
            return "link"
        try:  # the root itself may be a link: the operator chose it
            mode = (os.stat(p) if rel == () else os.lstat(p)).st_mode
        except OSError:  # missing, not a folder on the way, a name too long: nothing the checker can read there
            return "missing"
        if stat.S_ISLNK(mode):
            return "link"
        return "dir" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "other"

    def is_dir(self, p: Path) -> bool:
        return self.kind(p) == "dir"

    def is_file(self, p: Path) -> bool:
        return self.kind(p) == "file"

    def children(self, d: Path) -> list[Path]:
        """The entries of folder ``d`` (a real folder inside the tree), sorted; [] for anything else."""
        if not self.is_dir(d):
            return []
        try:
            with os.scandir(d) as it:
                return sorted(d / e.name for e in it)
        except OSError:
            return []

    def subdirs(self, d: Path) -> list[Path]:
        return [p for p in self.children(d) if self.is_dir(p)]

    def read_bytes(self, p: Path, limit: int | None = None) -> bytes:
        """The bytes of regular file ``p``, at most ``limit`` (the round's limit for one file); refuses links,
        FIFOs, devices and sockets without opening them, and a file over the limit without reading it."""
        limit = self.rules.max_file_bytes if limit is None else limit
        if p in self._refused:
            raise Unreadable(p, "refused", reported=True)
        self._reads, self._last_read = self._reads + 1, p
        kind = self.kind(p)
        if kind == "link":
            raise Unreadable(p, LINK)
        if kind == "missing":
            raise Unreadable(p, "is missing")
        flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            mode = os.lstat(p).st_mode
            if not stat.S_ISREG(mode):
                raise Unreadable(p, NOT_REGULAR.format(_type_name(mode)))
            fd = os.open(p, flags)
        except OSError as exc:
            raise Unreadable(p, f"cannot be opened ({exc.strerror})") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):  # swapped between the look and the open
                raise Unreadable(p, NOT_REGULAR.format(_type_name(st.st_mode)))
            if st.st_size > limit:
                raise Unreadable(p, f"is {st.st_size} bytes, over the {limit} byte limit for this file; not read")
            chunks, total = [], 0
            while total <= limit:
                block = os.read(fd, min(1 << 20, limit + 1 - total))
                if not block:
                    break
                chunks.append(block)
                total += len(block)
            if total > limit:
                raise Unreadable(p, f"grew past the {limit} byte limit for this file while being read")
            return b"".join(chunks)
        finally:
            os.close(fd)

    def read_text(self, p: Path, limit: int | None = None) -> str:
        data = self.read_bytes(p, limit)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Unreadable(p, f"is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                                "write it as UTF-8") from None

    def read_json(self, p: Path, want: type = dict) -> Any:
        try:
            value = json.loads(self.read_text(p))
        except json.JSONDecodeError as exc:
            raise Unreadable(p, f"not valid JSON ({exc})") from None
        except RecursionError:
            raise Unreadable(p, "not valid JSON (nested too deeply)") from None
        if not isinstance(value, want):
            raise Unreadable(p, f"must be a JSON {'object' if want is dict else want.__name__}, found "
                                f"{_json_type(value)}")
        return value

    def detail_log(self, p: Path) -> DetailLog:
        return DetailLogText(p, self.read_text(p))

    def guarded(self, where: Path, fn: Callable[..., Any], *args: Any, default: Any = None, **kw: Any) -> Any:
        """``fn(*args, **kw)``; a file it cannot take, or anything else going wrong in it, becomes one ERROR
        naming the file (the last one it read, else ``where``) and the check goes on."""
        reads = self._reads
        try:
            return fn(*args, **kw)
        except Unreadable as exc:
            if not exc.reported:
                self.err(exc.path, exc.message)
        except Exception as exc:  # noqa: BLE001 - a tree must never end the check with a traceback
            blame = self._last_read if self._reads != reads else where
            self.err(blame, f"cannot be checked ({type(exc).__name__}: {str(exc)[:200]}); fix or remove it")
        return default

    # ---- tree-wide -------------------------------------------------------------------
    def run(self) -> Report:
        if not self.root.is_dir():
            self.err(self.root, "not a folder; pass the folder that holds closed/ or open/")
            return self.report
        divisions = []
        for entry in self.children(self.root):
            kind = self.kind(entry)
            if kind == "dir" and entry.name in self.rules.divisions:
                divisions.append(entry)
            elif kind == "file" and entry.suffix in (".md", ".pdf"):
                continue
            elif kind == "link":
                self.err(entry, LINK)
            else:
                self.err(entry, "the submission root may hold only closed/, open/, network/ and *.md/*.pdf; "
                                "move this out of the tree")
        if not divisions:
            self.err(self.root, "no division folder (closed/, open/ or network/)")
        for div in divisions:
            for sub in self.children(div):
                kind = self.kind(sub)
                if kind != "dir":
                    self.err(sub, LINK if kind == "link" else "a division folder holds only submitter folders")
                    continue
                self.guarded(sub, self.check_hygiene, sub)
                self.guarded(sub, self.check_submitter, div.name, sub)
        return self.report

    def check_hygiene(self, sub: Path) -> None:
        """Names, empty folders, links, files that are not regular and files over the limit, all the way down
        (to MAX_DEPTH); what it refuses here is never opened later."""
        base = len(sub.relative_to(self.root).parts)
        stack = [(sub, base)]
        while stack:
            d, depth = stack.pop()
            try:
                with os.scandir(d) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError as exc:
                self.err(d, f"cannot be listed ({exc.strerror})")
                continue
            if not entries:
                self.err(d, "empty directory; delete it (the checker rejects empty directories)")
            below = []
            for e in entries:
                p, name = d / e.name, e.name
                if name.startswith("."):
                    self.err(p, "git-unfriendly name starting with '.'")
                if " " in name:
                    self.err(p, "name contains a space")
                if name == "__pycache__":
                    self.err(p, "__pycache__ folder; delete it")
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError as exc:
                    self.err(p, f"cannot be examined ({exc.strerror})")
                    self._refused.add(p)
                    continue
                if stat.S_ISLNK(st.st_mode):
                    self.err(p, LINK)
                    self._refused.add(p)
                elif stat.S_ISDIR(st.st_mode):
                    if depth + 1 >= MAX_DEPTH:
                        self.err(p, f"folders nested {MAX_DEPTH} deep; a tree is not that deep, nothing below "
                                    "this one was checked")
                    else:
                        below.append((p, depth + 1))
                elif not stat.S_ISREG(st.st_mode):
                    self.err(p, NOT_REGULAR.format(_type_name(st.st_mode)))
                    self._refused.add(p)
                elif st.st_size > self.rules.max_file_bytes:
                    self.err(p, f"is {st.st_size} bytes, over the {self.rules.max_file_bytes // (1 << 20)} MB limit "
                                "for one file; not read")
                    self._refused.add(p)
            stack.extend(reversed(below))  # depth first, in name order

    # ---- one submitter ---------------------------------------------------------------
    def check_submitter(self, division: str, sub: Path) -> None:
        closed = division in ("closed", "network")
        systems = {}
        for sj in self.children(sub / "systems"):
            if sj.suffix == ".json" and self.is_file(sj):
                systems[sj.stem] = self.check_system(sj, division, sub.name)
        results = sub / "results"
        if not self.is_dir(results):
            self.err(results, "missing results/ folder")
            return
        layout = self.rules.layout
        if not self.is_dir(sub / layout.code_folder):
            self.err(sub / layout.code_folder, f"missing {layout.code_folder}/ folder (the {self.rules.version} "
                                               "checker's place for the code)")
        if layout.calibration_doc and closed and not any(
                self.is_file(p) for p in (sub / "calibration.md", sub / "documentation" / "calibration.md")):
            self.err(sub / "calibration.md", f"is missing; a {self.rules.version} closed submitter documents its "
                                             "calibration (calibration.md or documentation/calibration.md)")
        mapping = self.guarded(sub / "model_mapping.json", self._model_mapping, sub, default={}) if not closed else {}
        for sysdir in self.subdirs(results):
            desc = systems.get(sysdir.name)
            if desc is None:
                self.err(sub / "systems" / f"{sysdir.name}.json", "missing system description for results/"
                         + sysdir.name)
                continue
            system_type = desc.get("system_type", "")
            for bdir in self.subdirs(sysdir):
                self.guarded(bdir, self.check_benchmark, sub, division, closed, sysdir.name, bdir, system_type,
                             mapping)

    def check_system(self, path: Path, division: str, submitter: str) -> dict:
        try:
            desc = self.read_json(path, dict)
        except Unreadable as exc:
            if not exc.reported:
                self.err(exc.path, exc.message)
            return {}
        for k in FIELDS:
            if k not in desc:
                self.err(path, f"field {k} is missing")
                continue
            v = desc[k]
            # Accepted trees give counts as JSON numbers; the official checkers take them (a 0 reads as empty
            # below). A boolean, list, object or null is refused: the checkers' string handling fails on them.
            if not isinstance(v, str) and (isinstance(v, bool) or not isinstance(v, int | float)):
                self.err(path, f"field {k} must be a string (or a number), found {_json_type(v)} {v!r:.60}")
            if k in MEANINGFUL and (not v or (isinstance(v, str) and not v.strip())):
                self.err(path, f"field {k} requires a meaningful response but is empty")
        if "is_network" in desc and not isinstance(desc["is_network"], str):
            self.err(path, "field is_network must be the string 'true' or 'false'")
        status = str(desc.get("status", "")).lower()
        if status and status not in self.rules.statuses:
            self.err(path, f"has invalid status ({str(desc.get('status'))[:60]}); use one of "
                           f"{', '.join(self.rules.statuses)}")
        st_ = desc.get("system_type")
        if st_ and st_ not in ("datacenter", "edge", "datacenter,edge", "edge,datacenter"):
            self.err(path, f"has invalid system_type ({str(st_)[:60]})")
        if str(desc.get("submitter", "")).lower() != submitter.lower():
            self.err(path, f"has submitter {str(desc.get('submitter'))[:60]}, directory has {submitter}")
        if desc.get("division") != division:
            self.err(path, f"has division {str(desc.get('division'))[:60]}, directory has {division}")
        if str(desc.get("is_network", "false")).lower() == "true" and division == "closed":
            self.err(path, "a network system is not allowed in the closed division")
        return desc

    def _model_mapping(self, sub: Path) -> dict[str, str]:
        """model_mapping.json of an open submitter folder: results folder -> the checker's model key."""
        path = sub / "model_mapping.json"
        if self.kind(path) == "missing":
            return {}
        mapping = self.read_json(path, dict)
        out = {}
        for name, model in mapping.items():
            if not isinstance(model, str):
                self.err(path, f"maps {name} to {_json_type(model)}; give the model key as a string")
                continue
            try:
                self.rules.benchmark(model)
            except ValueError:
                self.err(path, f"maps {name} to {model!r}, which is not a {self.rules.version} model key")
            out[name] = model
        return out

    def check_benchmark(self, sub: Path, division: str, closed: bool, system: str, bdir: Path,
                        system_type: str, mapping: dict[str, str] | None = None) -> None:
        try:
            bench = self.rules.benchmark((mapping or {}).get(bdir.name, bdir.name))
        except ValueError:
            if closed:
                self.err(bdir, f"{bdir.name} is not a {self.rules.version} closed benchmark name "
                               f"({where_is(bdir.name, self.rules.version)})")
                return
            # an open model with no model_mapping.json entry: the benchmark the round's checker guesses from
            # its name (bert-large-...-bert-99 -> bert-99), or none
            guess = self.rules.guess_benchmark(bdir.name)
            bench = self.rules.benchmark(guess) if guess else None
        scen_dirs = {SCENARIO_MAPPING.get(p.name, p.name): p for p in self.subdirs(bdir)}
        # no system_type: its system description is already an ERROR; the scenarios are still checked
        if closed and bench and system_type:
            try:
                required = set(bench.scenarios_for(system_type))
            except ValueError as exc:
                self.err(bdir, str(exc))
                return
            missing = required - set(scen_dirs)
            if missing:
                self.err(bdir, f"does not have all required scenarios, missing {sorted(missing)}")
            optional = set(bench.optional_for(system_type))
            if optional and not optional & set(scen_dirs):
                self.err(bdir, f"needs one of the scenarios {sorted(optional)} besides {sorted(required)}")
            for extra in set(scen_dirs) - required - optional:
                self.err(scen_dirs[extra], f"scenario {extra} is neither required nor optional for "
                                           f"{bench.name} on a {system_type} system")
        for scen, sdir in sorted(scen_dirs.items()):
            if scen not in SCENARIO_MAPPING.values():
                self.err(sdir, f"unknown scenario folder {sdir.name}")
                continue
            self.guarded(sdir, self.check_scenario, sub, division, closed, system, bdir.name, bench, scen, sdir)

    def _declares_quick(self, readme: Path) -> bool:
        """Whether the README declares quick mode; an ERROR unless quick trees are allowed. A README that declares
        the no-op harness (nothing was inferred) is an ERROR whatever the caller allows."""
        if NOOP_MARK in self.read_text(readme):
            self.err(readme, f"declares {NOOP_MARK}: nothing was inferred (benchfleet's backend noop measures the "
                             "orchestration alone); its figures are not measurements and no flag accepts them: run the "
                             "cell with a real backend")
        if QUICK_MARK not in self.read_text(readme):
            return False
        if not self.allow_quick:
            self.err(readme, f"declares {QUICK_MARK} (shortened runs, not for submission): pass --allow-quick to "
                             "accept a quick tree as a pipeline test; a submission needs a valid-mode run")
        return True

    def _measurement_json(self, path: Path, sub: Path, bname: str) -> None:
        j = self.read_json(path, dict)
        for k in MEASUREMENT_FIELDS:
            if k not in j:
                self.err(path, f"field {k} is missing")
            elif not j[k]:
                self.err(path, f"field {k} is missing meaningful value")

    def check_scenario(self, sub, division, closed, system, bname, bench, scen, sdir) -> None:
        layout = self.rules.layout
        meas = layout.measurements_dir(sub, system, bname, sdir.name)
        quick, user_values = False, {}
        if not self.is_dir(meas):
            self.err(meas, "no measurements folder for this result")
        else:
            for f in layout.measurement_files:
                p = meas / f
                kind = self.kind(p)
                if kind == "missing":
                    self.err(meas, f"is missing {f}")
                elif kind == "file" and os.lstat(p).st_size == 0:
                    self.err(p, "is empty")
                elif kind != "file" and p not in self._refused:
                    self.err(p, LINK if kind == "link" else NOT_REGULAR.format("something else"))
            if self.is_file(meas / "README.md"):
                # quick mode relaxes the duration rules only where the caller allows quick trees
                quick = self.guarded(meas / "README.md", self._declares_quick, meas / "README.md",
                                     default=False) and self.allow_quick
            if self.is_file(meas / "user.conf"):
                user_values = self.guarded(meas / "user.conf", lambda p: _read_conf(self.read_text(p), scen),
                                           meas / "user.conf", default={})
            pattern = layout.measurement_json_glob(system)
            mj = [p for p in self.children(meas) if fnmatch.fnmatchcase(p.name, pattern)]
            if not mj:
                self.err(meas, f"is missing {pattern} (the measurement description)")
            else:
                self.guarded(mj[0], self._measurement_json, mj[0], sub, bname)
                if not layout.in_results and self.kind(sub / layout.code_folder / bname) == "missing":
                    self.err(sub / layout.code_folder / bname, "is missing; the code folder of this benchmark "
                                                               "must exist")
        result = {"system": system, "benchmark": bname, "scenario": scen, "path": str(sdir)}
        acc_ok = self.guarded(sdir / "accuracy", self.check_accuracy, sdir / "accuracy", bench, closed, quick, scen,
                              default=False)
        perf_dir = sdir / "performance" / "run_1"
        if not self.is_dir(perf_dir):
            self.err(perf_dir, "is missing")
            return
        # a power result: performance/power/ beside run_1/ (and ranging/), as the round's checker decides
        with_power = self.is_dir(sdir / "performance" / "power")
        required = PERF_REQUIRED | ({"spl.txt"} if with_power else set())
        files = {p.name for p in self.children(perf_dir)} - LIST_IGNORED
        extra, missing = files - required - PERF_OPTIONAL, required - files
        if (extra or missing) and self.rules.layout.result_file_lists:
            self.err(perf_dir, f"has file list mismatch ({sorted(extra | missing)})")
            return
        ok, value, unit = self.guarded(perf_dir / "mlperf_log_detail.txt", self.check_performance, perf_dir, bench,
                                       scen, quick, user_values, test05=False, default=(False, None, ""))
        result.update(valid=ok and acc_ok, metric=value, unit=unit, quick=quick)
        if with_power:
            power_ok = self.guarded(sdir / "performance" / "power", self.check_power, sdir / "performance", scen,
                                    value, result, meas, default=False)
            result["valid"] = result["valid"] and bool(power_ok)
        if closed and bench:
            cdir = layout.compliance_dir(sub, system, bname, sdir.name)
            if bench.compliance_tests and not self.is_dir(cdir):
                self.err(cdir, "no compliance folder for this result")
            else:
                for test in bench.compliance_tests:
                    if test in RUNNABLE_TESTS:
                        self.guarded(cdir / test, self.check_compliance, cdir / test, test, perf_dir, bench, scen,
                                     quick, user_values)
                    else:
                        self.guarded(cdir / test, self.check_other_test, cdir / test, test)
        self.report.results.append(result)

    # ---- accuracy --------------------------------------------------------------------
    def check_accuracy(self, adir: Path, bench, closed: bool, quick: bool = False, scen: str | None = None) -> bool:
        """``quick``: the tree declares quick mode and the caller allows quick trees."""
        if not self.is_file(adir / "accuracy.txt"):
            self.err(adir, "has no accuracy.txt")
            return False
        files = {p.name for p in self.children(adir)} - LIST_IGNORED
        if files != ACC_FILES and self.rules.layout.result_file_lists:
            self.err(adir, f"has file list mismatch ({sorted(files ^ ACC_FILES)})")
        text = self.read_text(adir / "accuracy.txt")
        hashes = re.findall(r"^hash=([\w\d]+)$", text, re.M)
        ok = True
        if not hashes:
            self.err(adir / "accuracy.txt", "not hash value for mlperf_log_accuracy.json (run the truncation step)")
            ok = False
        value = None
        if bench:
            for metric_name, pattern, target in bench.accuracy_targets(scen):
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
                elif found < target:  # open: the checkers note it and accept
                    self.warn(adir / "accuracy.txt", f"accuracy not met: {metric_name} {found} < target {target:.4f} "
                                                     "(the closed division's; an open result may be below it)")
            for metric_name, pattern, limit in bench.upper_limits:
                found = _last_value(text, pattern)
                if closed and found is not None and found > limit:
                    self.err(adir / "accuracy.txt", f"accuracy not valid: {metric_name} {found} > upper limit "
                                                    f"{limit:.4f}")
                    ok = False
        log = adir / "mlperf_log_accuracy.json"
        log_hash = None
        if self.kind(log) == "missing":
            self.err(adir, "mlperf_log_accuracy.json is missing")
            ok = False
        elif self.kind(log) == "file" and os.lstat(log).st_size > self.rules.max_accuracy_log_bytes:
            self.err(log, "is not truncated (over 10 KiB)")
            ok = False
        else:
            log_hash = hashlib.sha256(self.read_bytes(log, self.rules.max_accuracy_log_bytes)).hexdigest()
        detail = adir / "mlperf_log_detail.txt"
        if self.is_file(detail):
            d = self.detail_log(detail)
            errs = d.errors()
            if errs:
                self.err(detail, f"contains errors: {errs[0][:200]}")
                ok = False
            samples = bench.accuracy_samples(scen) if bench else None
            if samples and self.rules.dataset_size_check != "off":
                covered = d["effective_accuracy_sample_count"] or d["qsl_reported_total_count"]
                if covered != samples:
                    msg = (f"the accuracy run covers {covered} samples; a {self.rules.version} accuracy run covers "
                           f"the whole dataset ({samples})")
                    if self.rules.dataset_size_check == "warn" or quick:
                        self.warn(detail, msg + ("; quick mode, not for submission" if quick else ""))
                    else:
                        self.err(detail, msg)
                        ok = False
        if hashes and value is not None and bench and (self.dataset is not None or self.full_logs):
            full = self.full_logs.get(hashes[-1])
            if full is None and log_hash == hashes[-1]:
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
        """The first metric recomputed from a full accuracy log by the benchmark's own scorer, with the dataset
        given or the scoring files the harness keeps beside the log (``<cell>/results/labels``)."""
        task = registry.task_of_benchmark(bench.name)
        if task is None:
            return None
        folder = next((f for f in (self.dataset, full.parent.parent.parent / "labels")
                       if f is not None and task.has_scoring_files(f)), None)
        return None if folder is None else task.rescore(acc.read_accuracy_log(full), folder)

    # ---- performance -----------------------------------------------------------------
    def check_performance(self, perf_dir: Path, bench, scen: str, quick: bool, user_values: dict,
                          test05: bool) -> tuple[bool, float | None, str]:
        """``quick``: the tree declares quick mode and the caller allows quick trees."""
        detail = perf_dir / "mlperf_log_detail.txt"
        d = self.detail_log(detail)
        ok = True
        if d["result_validity"] != "VALID":
            self.err(detail, f"result_validity is {str(d['result_validity'])[:60]}, not VALID")
            ok = False
        errs = d.errors()
        if errs:
            self.err(detail, f"contains errors: {errs[0][:200]}")
            ok = False
        if bench and (d["effective_performance_sample_count"] or 0) < bench.performance_sample_count:
            self.err(detail, f"performance_sample_count, found {d['effective_performance_sample_count']}, "
                             f"needs to be >= {bench.performance_sample_count}")
            ok = False
        seeds = self.rules.test05_seeds if test05 else self.rules.seeds
        if seeds is None:
            self.err(detail, f"is a TEST05 run, which {self.rules.version} does not have")
            return False, None
        for key in ("qsl_rng_seed", "sample_index_rng_seed", "schedule_rng_seed"):
            found = d[f"effective_{key}"]
            if found != getattr(seeds, key):
                self.err(detail, f"{key} is wrong, expected={getattr(seeds, key)}, found={found}")
                ok = False
        logged = d["effective_scenario"]
        if logged != scen and (scen, logged) not in INFERABLE:
            self.err(detail, f"logs scenario {str(logged)[:40]} in a {scen} folder; only Offline/MultiStream may be "
                             "inferred from SingleStream (or Offline from MultiStream)")
            return False, None
        if logged in EARLY_STOPPING and not d["early_stopping_met"]:
            self.err(detail, f"early stopping condition was not met ({str(d['early_stopping_result'])[:200]})")
            ok = False
        if bench and logged == "Server" and bench.server_latency_ns:
            if (d["effective_target_latency_ns"] or 0) > bench.server_latency_ns:
                self.err(detail, f"latency constraint not met, expected={bench.server_latency_ns}, "
                                 f"found={d['effective_target_latency_ns']}")
                ok = False
        limits = bench.token_latency_ns.get(scen) if bench else None
        if limits and logged == "Server":  # LLMs: 99th-percentile time to first token and time per output token
            for key, limit, what in ((TTFT_KEY, limits[0], "TTFT"), (TPOT_KEY, limits[1], "TPOT")):
                found = d[key]
                if found is None or found > limit:
                    self.err(detail, f"{what} latency constraint not met, expected<={limit}, found={found}")
                    ok = False
        spq = bench.offline_samples(self.rules) if bench else self.rules.offline_min_samples_per_query
        if logged == "Offline" and (d["effective_samples_per_query"] or 0) < spq:
            msg = (f"required minimum samples per query not met, expected={spq}, "
                   f"found={d['effective_samples_per_query']}")
            if quick:  # a quick run's Offline query is as short as its duration
                self.warn(detail, msg + "; quick mode, not for submission")
            else:
                self.err(detail, msg)
                ok = False
        if (bench and self.rules.equal_issue_checked and scen in bench.equal_issue_scenarios
                and d["effective_sample_concatenate_permutation"] is not True):
            self.err(detail, f"{bench.name} {scen} must issue samples equally "
                             "(sample_concatenate_permutation = 1)")
            ok = False
        if scen == "MultiStream" and logged == "SingleStream" and not d["early_stopping_latency_ms"]:
            self.err(detail, "MultiStream inferred from SingleStream needs early_stopping_latency_ms; run MultiStream")
            ok = False
        dur = d["effective_min_duration_ms"]
        declared = user_values.get("min_duration")
        if declared is not None and dur is not None and int(declared) != int(dur):
            self.err(detail, f"min duration {dur} ms does not match user.conf ({int(declared)} ms)")
            ok = False
        # a short run is an error unless the tree declares quick mode and the caller allows quick trees
        short = []
        if dur is None:
            short.append("effective_min_duration_ms is not logged: the test duration cannot be shown to meet the "
                         "round's minimum")
        elif dur < (least := self.rules.min_duration_ms if bench is None or bench.min_duration_ms is None
                    else bench.min_duration_ms):
            short.append(f"test duration less than {least // 1000}s (min_duration {dur} ms)")
        # a benchmark's own count applies where the checker reads its table: scenarios without early stopping
        own = bench.min_query_count.get(logged) if bench and logged not in EARLY_STOPPING else None
        need = own or self.rules.min_query_count.get(logged)
        if need and logged in EARLY_STOPPING:
            # the round's checker does not read early-stopping scenarios' query counts (an accepted v3.1 MultiStream
            # result logs 100, not mlperf.conf's 662): benchfleet holds them to LoadGen's default only
            need = min(need, LOADGEN_DEFAULT_MIN_QUERIES)
        queries = d["effective_min_query_count"]
        if need and queries is None:
            short.append(f"effective_min_query_count is not logged: the round needs {need} for {logged}")
        elif need and queries < need:
            short.append(f"min_query_count {queries} is below the round's minimum of {need} for {logged}")
        for msg in short:
            if quick:
                self.warn(detail, msg + "; quick mode, not for submission")
            else:
                self.err(detail, msg)
                ok = False
        value, unit = None, ""
        try:
            value, unit = metric(d, scen, self.rules.server_result_field, bench.result_fields if bench else None)
        except (TypeError, KeyError, ValueError, ZeroDivisionError):
            key = metric_key(logged, self.rules.server_result_field, bench.result_fields if bench else None) \
                if logged in SCENARIO_MAPPING.values() else "?"
            self.err(detail, f"the result metric cannot be read (the {self.rules.version} checker reads {key})")
            ok = False
        return ok, value, unit

    # ---- power -----------------------------------------------------------------------
    def check_power(self, perf: Path, scen: str, value: float | None, result: dict, meas: Path) -> bool:
        """A power result (submission/power.py): the ranging and power folders' files, the ranging run's metric,
        the power metric of run_1 (into ``result``), every check of the round's power checker, and the analyzer's
        description in the measurements folder."""
        rules = self.rules.power
        ok = True
        for run, want, optional in (("ranging", set(pw.RUN_FILES), set(PERF_OPTIONAL)),
                                    ("power", set(pw.POWER_FILES), set())):
            folder = perf / run
            if not self.is_dir(folder):
                self.err(folder, f"is missing; a power result has {run}/ beside run_1/")
                return False
            files = {p.name for p in self.children(folder) if self.kind(p) != "dir"} - LIST_IGNORED
            mismatch = (files ^ want) - optional  # the round's files_diff: what differs, less what is optional
            if mismatch:
                self.err(folder, f"has file list mismatch ({sorted(mismatch)})")
                ok = False
        if not ok:
            return False
        ranging = self.detail_log(perf / "ranging" / "mlperf_log_detail.txt")
        try:
            metric(ranging, ranging["effective_scenario"], self.rules.server_result_field)
        except (TypeError, KeyError, ValueError, ZeroDivisionError):
            self.err(perf / "ranging", "the ranging run's performance metric cannot be read")
            ok = False
        testing = self.detail_log(perf / "run_1" / "mlperf_log_detail.txt")
        spl = {run: self.read_text(perf / run / "spl.txt") for run in pw.RUNS}
        windows = {"run_1": (testing["power_begin"], testing["power_end"]),
                   "ranging": (ranging["power_begin"], ranging["power_end"])}
        try:
            m = pw.metric(scen, testing["effective_scenario"], value, windows["run_1"], spl["run_1"],
                          testing["result_query_count"], rules)
        except pw.Failed as exc:
            self.err(perf / "run_1" / "spl.txt", str(exc))
            ok = False
        except (IndexError, ValueError) as exc:  # a line the round's checker cannot read either
            self.err(perf / "run_1" / "spl.txt", f"a sample line cannot be read ({type(exc).__name__}: "
                                                 f"{str(exc)[:120]}); the power metric cannot be computed")
            ok = False
        else:
            result.update(power_metric=m.value, power_unit=m.unit, power_efficiency=m.efficiency)
        hashes = {}
        for run in (*pw.RUNS, "power"):
            for f in self.children(perf / run):
                if self.kind(f) == "file":
                    hashes[f"{run}/{f.name}"] = pw.sha1(self.read_bytes(f))
        session = pw.Session(client=self.read_json(perf / "power" / "client.json"),
                             server=self.read_json(perf / "power" / "server.json"),
                             ptd_log=self.read_bytes(perf / "power" / "ptd_logs.txt").decode("utf-8", "replace"),
                             windows=windows, spl=spl, hashes=hashes)
        verdict = pw.verify(session, rules)
        for name, why in verdict.failed:
            self.err(perf / "power", f"power check failed: {name}: {why}")
        for name, why in verdict.audit:
            self.warn(perf / "power", f"power check passed for audit: {name}: {why}")
        ok = ok and verdict.ok
        for pattern in rules.measure_files:
            if not self._power_measure_file(meas, pattern):
                self.err(meas, f"is missing {pattern} (the power analyzer's description); it may also sit up to "
                               "three folders above")
                ok = False
        if not ok:
            result.pop("power_metric", None)
        return ok

    def _power_measure_file(self, meas: Path, pattern: str) -> bool:
        """As the round's checker looks: ``pattern`` is a regular expression matched at the start of each name
        (``analyzer_table.*``), in the measurements folder and up to three folders above it; the last match found
        must not be empty."""
        folder, last = meas, None
        for _ in range(4):
            for p in self.children(folder):
                if re.match(pattern, p.name) and self.kind(p) == "file":
                    last = p
            folder = folder.parent
        return last is not None and os.lstat(last).st_size > 0

    # ---- compliance ------------------------------------------------------------------
    def _summary_ok(self, path: Path) -> bool:
        """Whether ``path`` reads as a LoadGen summary (each bad one reported once)."""
        if path not in self._summaries:
            self._summaries[path] = False
            text = self.read_text(path)
            if not any(line.startswith("Scenario") for line in text.splitlines()):
                raise Unreadable(path, "no 'Scenario' line; is this an mlperf_log_summary.txt?")
            try:
                comp.read_summary(path)
            except ValueError as exc:
                raise Unreadable(path, f"a value cannot be read ({str(exc)[:120]})") from None
            self._summaries[path] = True
        return self._summaries[path]

    def check_other_test(self, tdir: Path, test: str) -> None:
        """A compliance test benchfleet does not run (TEST06 to TEST09, LLM benchmarks): its folder and the
        verdict file the round's checker reads must be there and say that the test passed."""
        if not self.is_dir(tdir):
            self.err(tdir.parent, f"Missing {test} in compliance dir")
            return
        name, wanted = OTHER_TEST_VERDICTS[test]
        path = tdir / name
        if not self.is_file(path):
            self.err(path, f"is missing; {test} writes its verdict there")
            return
        lines = {line.strip() for line in self.read_text(path).splitlines()}
        for want in wanted:
            options = want if isinstance(want, tuple) else (want,)
            if not lines & set(options):
                self.err(path, f"does not say {' or '.join(repr(o) for o in options)}: {test} did not pass")

    def check_compliance(self, tdir: Path, test: str, ref_perf: Path, bench, scen, quick, user_values) -> None:
        if not self.is_dir(tdir):
            self.err(tdir.parent, f"Missing {test} in compliance dir")
            return
        vp = tdir / "verify_performance.txt"
        if not self.is_file(vp) or "TEST PASS" not in self.read_text(vp):
            self.err(vp, "missing or does not say TEST PASS")
        perf = tdir / "performance" / "run_1"
        if not self.is_dir(perf):
            self.err(tdir, "has no performance/run_1 directory")
            return
        files = {p.name for p in self.children(perf)} - LIST_IGNORED
        if PERF_REQUIRED - files or files - PERF_REQUIRED - PERF_OPTIONAL:
            self.err(perf, f"has file list mismatch ({sorted(files ^ PERF_REQUIRED)})")
            return
        self.guarded(perf / "mlperf_log_detail.txt", self.check_performance, perf, bench, scen, quick, user_values,
                     test05=(test == "TEST05"))
        ref_summary, summary = ref_perf / "mlperf_log_summary.txt", perf / "mlperf_log_summary.txt"
        if all(self.guarded(p, self._summary_ok, p, default=False) for p in (ref_summary, summary)):
            again = self.guarded(summary, comp.verify_performance, test, ref_summary, summary, self.rules,
                                 default="")
            if again and "TEST PASS" not in again:
                self.err(perf, f"{test} performance rule fails when recomputed: {again.strip().splitlines()[-1]}")
        if test == "TEST01":
            va = tdir / "verify_accuracy.txt"
            adir = tdir / "accuracy"
            passed = self.is_file(va) and "TEST PASS" in self.read_text(va)
            if not self.is_file(va):
                self.err(va, "is missing")
            if not self.is_dir(adir):
                self.err(tdir, "has no accuracy directory")
                return
            need = {"mlperf_log_accuracy.json", "accuracy.txt"}
            if not passed:
                need |= {"baseline_accuracy.txt", "compliance_accuracy.txt"}
            files = {p.name for p in self.children(adir)} - LIST_IGNORED
            if files != need:
                self.err(adir, f"has file list mismatch ({sorted(files ^ need)})")
            elif not passed and bench:
                base = _last_value(self.read_text(adir / "baseline_accuracy.txt"), bench.accuracy_pattern, first=True)
                got = _last_value(self.read_text(adir / "compliance_accuracy.txt"), bench.accuracy_pattern, first=True)
                delta = 0.1 if "99.9" in bench.name else 1.0
                if not base or not got or abs(1 - base / got) * 100 > delta:
                    self.err(adir, f"TEST01 accuracy differs by more than {delta}% ({base} vs {got})")


def _last_value(text: str, pattern: str, first: bool = False) -> float | None:
    """The number of the last (or ``first``) line matching ``pattern``; a match that is not a number is skipped."""
    value = None
    for line in text.splitlines():
        m = re.match(pattern, line)
        if m:
            try:
                value = float(m.group(1))
            except (TypeError, ValueError):
                continue
            if first:
                return value
    return value


def _read_conf(text: str, scenario: str) -> dict[str, float]:
    """``<model>.<scenario>.<key> = <number>`` lines of a user.conf's text that apply to ``scenario``."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^\s*([^#\s]+)\.([^.\s]+)\.(\w+)\s*=\s*(-?\d+(?:\.\d+)?)", line)
        if m and m.group(2) in (scenario, "*"):
            out[m.group(3)] = float(m.group(4))
    return out


def _index_accuracy_logs(folder: Path) -> tuple[dict[str, Path], list[tuple[Path, str]]]:
    """sha256 -> path for every full mlperf_log_accuracy*.json under ``folder``, and the files skipped (with why):
    links are not followed, only regular files are opened, none over MAX_FULL_LOG_BYTES and none below
    MAX_DEPTH folders."""
    out: dict[str, Path] = {}
    skipped: list[tuple[Path, str]] = []
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    stack = [(Path(folder), 0)]
    while stack:
        d, depth = stack.pop()
        try:
            with os.scandir(d) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        for e in entries:
            p = d / e.name
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                if depth + 1 < MAX_DEPTH:
                    stack.append((p, depth + 1))
                continue
            if not fnmatch.fnmatchcase(e.name, "mlperf_log_accuracy*.json"):
                continue
            if not stat.S_ISREG(st.st_mode):
                skipped.append((p, LINK if stat.S_ISLNK(st.st_mode) else NOT_REGULAR.format(_type_name(st.st_mode))))
                continue
            if st.st_size == 0:
                continue
            if st.st_size > MAX_FULL_LOG_BYTES:
                skipped.append((p, f"is {st.st_size} bytes, over the {MAX_FULL_LOG_BYTES} byte limit for a full "
                                   "accuracy log"))
                continue
            try:
                fd = os.open(p, flags)
            except OSError as exc:
                skipped.append((p, f"cannot be opened ({exc.strerror})"))
                continue
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    continue
                h, total = hashlib.sha256(), 0
                while total <= MAX_FULL_LOG_BYTES:
                    block = os.read(fd, 1 << 20)
                    if not block:
                        break
                    h.update(block)
                    total += len(block)
                if total <= MAX_FULL_LOG_BYTES:
                    out[h.hexdigest()] = p
            finally:
                os.close(fd)
    return out, skipped


def check_tree(root: Path, round_version: str = "v3.1", accuracy_logs: Path | None = None,
               dataset: Path | None = None, allow_quick: bool = False) -> Report:
    """Check the submission tree at ``root``; ``allow_quick``: accept a tree that declares quick mode (short runs
    become warnings), as ``benchfleet run`` does for its own quick trees (``--allow-quick``)."""
    return Checker(root, get_round(round_version), accuracy_logs, dataset, allow_quick=allow_quick).run()
