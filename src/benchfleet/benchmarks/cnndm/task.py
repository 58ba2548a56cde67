"""Summarization: GPT-J 6B on CNN/DailyMail (gptj-99, gptj-99.9); the reference prompts, beam search, ROUGE."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchfleet.backends import Backend
from benchfleet.benchmarks.base import Inputs, Log, RunSpec, Score, Task, Worker
from benchfleet.benchmarks.cnndm import official, rouge, scorer
from benchfleet.benchmarks.cnndm.dataset import EVAL_FILE, load_records
from benchfleet.benchmarks.entry import ModelEntry
from benchfleet.benchmarks.generated import SyntheticPair
from benchfleet.benchmarks.sources import made_from, samples_file, source
from benchfleet.data.samples import SampleFile
from benchfleet.text import bpe


class CnnDmTask(Task):
    name = "cnndm"
    what = "cnn-dailymail"
    scoring_names = (EVAL_FILE, bpe.VOCAB_FILE, bpe.MERGES_FILE)
    entries = official.ENTRIES
    response_bytes = 2 * 1024 + 64  # up to 128 generated int64 tokens
    scoring_bytes = 96 * 1024 * 1024  # cnn_eval.json and the BPE files
    warm_up = False  # one sample is a generation of up to 128 tokens: minutes for GPT-J on a CPU
    notes = ("Prompts: the reference's instruction template, GPT-2 BPE, at most 1919 tokens. Generation: "
             "beam search, 4 beams, early stopping, 30 to 128 new tokens. Responses: generated token ids as "
             "int64; scored with ROUGE-1/2/L (Porter stemmer) and gen_len as evaluation.py.")

    def make_synthetic(self, spec: RunSpec, entry: ModelEntry, root: Path, threads: int,
                       log: Log) -> SyntheticPair:
        from benchfleet.benchmarks.cnndm import synthetic

        return synthetic.make_pair(root, count=spec.dataset_count, threads=threads, log=log)

    def resolve(self, spec: RunSpec, log: Log) -> Inputs:
        from benchfleet.benchmarks.cnndm import preprocess

        src = source(self, spec, "cnndm", "cnn-dailymail-3.0.0-validation", log)
        entry, model_path, data_dir, prov = src.entry, src.model_path, src.data_dir, src.provenance
        files = [data_dir / n for n in self.scoring_names]
        for f in files:
            if not f.is_file():
                raise ValueError(f"dataset: {data_dir} has no {f.name}; it needs cnn_eval.json and the GPT-J "
                                 "tokenizer files vocab.json and merges.txt")

        tok = bpe.ByteBPE.load(data_dir)

        def build() -> np.ndarray:
            log("encoding CNN/DailyMail prompts")
            ids = preprocess.encode_prompts(load_records(files[0]), tok)
            out = np.full((len(ids), max(len(i) for i in ids)), -1, np.int64)
            for k, row in enumerate(ids):
                out[k, :len(row)] = row
            return out

        samples = samples_file(spec.cache_path(), "cnndm",
                               made_from(files, "benchfleet.benchmarks.cnndm.preprocess", "benchfleet.text.bpe"),
                               build)
        count = int(np.load(samples, mmap_mode="r").shape[0])
        args = {"samples": str(samples), "eos": tok.eos_id, "output": entry.output_names[0]}
        return Inputs(model_path, data_dir, prov, args, count, files)

    def worker(self, args: dict, backend: Backend) -> Worker:
        return _GenerateWorker(args, backend)

    def score(self, inputs: Inputs, entries: list[dict]) -> Score:
        s = self._scores(entries, inputs.data_dir)
        return Score(rouge.accuracy_line(s) + "\n", s["rouge1"], s)

    def rescore(self, entries: list[dict], folder: Path) -> float:
        return self._scores(entries, folder)["rouge1"]

    def _scores(self, entries: list[dict], folder: Path) -> dict[str, float]:
        return scorer.score_log(entries, load_records(folder / EVAL_FILE), bpe.ByteBPE.load(folder))


class _GenerateWorker(Worker):
    def __init__(self, args: dict, backend: Backend):
        self.args, self.backend = args, backend
        self.data = SampleFile(args["samples"])

    def load(self, index: int) -> np.ndarray:
        row = self.data.read(index)
        return row[row >= 0]

    def _next(self, ids: np.ndarray, mask: np.ndarray, pos: np.ndarray) -> np.ndarray:
        return self.backend.run({"input_ids": ids, "attention_mask": mask, "position_ids": pos},
                                [self.args["output"]])[0]

    def infer(self, samples: list) -> list[np.ndarray]:
        from benchfleet.benchmarks.cnndm.generate import generate

        return [np.asarray(generate(self._next, s.tolist(), self.args["eos"]), np.int64) for s in samples]


TASK = CnnDmTask()
