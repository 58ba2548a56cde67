"""Recommendation: DLRM-DCNv2 on the multi-hot Criteo 1TB day 23 (dlrm-v2-99, dlrm-v2-99.9); ROC AUC."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from benchfleet.backends import Backend
from benchfleet.benchmarks.base import Inputs, Log, RunSpec, Score, Task, Worker
from benchfleet.benchmarks.criteo import official, preprocess, scorer
from benchfleet.benchmarks.criteo.dataset import DENSE_FILE, LABELS_FILE, SPARSE_FILE, Day23
from benchfleet.benchmarks.criteo.preprocess import TRACE_FILE
from benchfleet.benchmarks.entry import ModelEntry
from benchfleet.benchmarks.generated import SyntheticPair
from benchfleet.benchmarks.sources import made_from, samples_file, source

MAX_GROUP_ROWS = max(preprocess.QUANTILE)


class CriteoTask(Task):
    name = "criteo"
    what = "criteo"
    scoring_names = (TRACE_FILE,)
    entries = official.ENTRIES
    # a group of at most 700 rows, each a float32 (prediction, label) pair, as hex, and the JSON around it
    response_bytes = MAX_GROUP_ROWS * 2 * 4 * 2 + 128
    scoring_bytes = 16 * 1024 * 1024  # the trace of 330,067 groups (about 8 MB)
    notes = ("Rows of the multi-hot Criteo day 23 validation half (its first ceil(rows / 2)) as the reference "
             "multihot_criteo.py reads them, features unchanged (dense float32, 26 tables' multi-hot int32 "
             "indices); one sample is a group of 100 to 700 consecutive rows drawn from tools/dist_quantile.txt "
             "with NumPy seed 123. Responses: float32 (prediction, label) per row of the group; scored as "
             "accuracy-dlrm.py (ROC AUC over all rows, in percent).")

    def make_synthetic(self, spec: RunSpec, entry: ModelEntry, root: Path, threads: int,
                       log: Log) -> SyntheticPair:
        from benchfleet.benchmarks.criteo import synthetic

        return synthetic.make_pair(root, count=spec.dataset_count, threads=threads, log=log,
                                   width=spec.synthetic_width)

    def resolve(self, spec: RunSpec, log: Log) -> Inputs:
        src = source(self, spec, "criteo-day23", "criteo-1tb-day23-multihot", log)
        entry, model_path, data_dir, prov = src.entry, src.model_path, src.data_dir, src.provenance
        day = Day23(data_dir)
        rows = day.rows
        day.close()
        files = [data_dir / DENSE_FILE, data_dir / SPARSE_FILE, data_dir / LABELS_FILE]

        def build() -> np.ndarray:
            log(f"grouping {rows} rows as the reference does (tools/dist_quantile.txt, seed {preprocess.SEED})")
            return preprocess.group_offsets(rows)

        offsets_path = samples_file(spec.cache_path(), "criteo-groups",
                                    made_from(files, "benchfleet.benchmarks.criteo.dataset",
                                              "benchfleet.benchmarks.criteo.preprocess"), build)
        offsets = np.load(offsets_path)
        count = min(spec.dataset_count, len(offsets) - 1)
        trace = offsets_path.parent / f"{offsets_path.stem}-n{count}" / TRACE_FILE
        if not trace.is_file():
            trace.parent.mkdir(parents=True, exist_ok=True)
            tmp = trace.with_name(f"{trace.name}.{os.getpid()}.tmp")
            tmp.write_text(preprocess.trace_text(offsets, count))
            tmp.replace(trace)
        args = {"offsets": str(offsets_path), "data_dir": str(data_dir), "inputs": list(entry.input_names),
                "outputs": list(entry.output_names)}
        return Inputs(model_path, data_dir, prov, args, count, [trace])

    def worker(self, args: dict, backend: Backend) -> Worker:
        return _CriteoWorker(args, backend)

    def score(self, inputs: Inputs, entries: list[dict]) -> Score:
        trace = next(f for f in inputs.scoring_files if f.name == TRACE_FILE)
        s = scorer.score_log(entries, preprocess.trace_sizes(trace.read_text()))
        return Score(scorer.accuracy_line(s) + "\n", s["AUC"], s)

    def rescore(self, entries: list[dict], folder: Path) -> float:
        return scorer.score_log(entries, preprocess.trace_sizes((folder / TRACE_FILE).read_text()))["AUC"]


class _CriteoWorker(Worker):
    def __init__(self, args: dict, backend: Backend):
        self.args, self.backend = args, backend
        self.offsets = np.load(args["offsets"])
        self.day = Day23(args["data_dir"])

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        start, end = int(self.offsets[index]), int(self.offsets[index + 1])
        dense, sparse, labels = self.day.read(start, end)
        d, s = preprocess.model_inputs(dense, sparse)
        return d, s, labels.astype(np.float32)

    def infer(self, samples: list) -> list[np.ndarray]:
        dense = np.concatenate([s[0] for s in samples])
        sparse = np.concatenate([s[1] for s in samples]).astype(np.int64)  # the model's index type
        names = self.args["inputs"]
        out = self.backend.run({names[0]: dense, names[1]: sparse}, self.args["outputs"])[0]
        probs = np.asarray(out, dtype=np.float32).reshape(-1)
        responses, at = [], 0
        for s in samples:
            n = len(s[2])
            responses.append(np.stack([probs[at:at + n], s[2]], axis=1).astype(np.float32))  # (n, 2)
            at += n
        return responses


TASK = CriteoTask()
