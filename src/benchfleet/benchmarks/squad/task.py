"""Question answering: BERT-large on SQuAD v1.1 (bert-99, bert-99.9); F1 and exact match."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from benchfleet.backends import Backend
from benchfleet.benchmarks.base import Inputs, Log, RunSpec, Score, Task, Worker
from benchfleet.benchmarks.entry import ModelEntry
from benchfleet.benchmarks.generated import SyntheticPair
from benchfleet.benchmarks.sources import made_from, samples_file, source
from benchfleet.benchmarks.squad import official, scorer
from benchfleet.benchmarks.squad.dataset import DEV_FILE, VOCAB_FILE, load_dataset, read_examples
from benchfleet.data.samples import SampleFile


class SquadTask(Task):
    name = "squad"
    what = "squad"
    scoring_names = (DEV_FILE, VOCAB_FILE)
    entries = official.ENTRIES
    response_bytes = 6 * 1024 + 64  # start/end logits, 384 x 2 float32
    scoring_bytes = 8 * 1024 * 1024  # dev-v1.1.json and vocab.txt
    # the encoder's and the head's matrix products: quantizing the embeddings' Gathers, the residual Adds and the
    # softmax too cost the generated BERT 16 points of F1 (83.6 against 100 with MatMul alone)
    quantized_ops = ("MatMul",)
    synthetic_calibration = "generated features standing in for those indices"
    notes = ("Features as the reference create_squad_data.py (uncased WordPiece, max_seq_length 384, "
             "doc_stride 128, max_query_length 64); one sample per feature. Responses: (384, 2) float32 "
             "start/end logits; scored as accuracy-squad.py (n-best 20, max answer length 30).")

    def make_synthetic(self, spec: RunSpec, entry: ModelEntry, root: Path, threads: int,
                       log: Log) -> SyntheticPair:
        from benchfleet.benchmarks.squad import synthetic

        return synthetic.make_pair(root, count=spec.dataset_count, threads=threads, log=log,
                                   width=spec.synthetic_width)

    def resolve(self, spec: RunSpec, log: Log) -> Inputs:
        from benchfleet.benchmarks.squad import preprocess
        from benchfleet.text.wordpiece import FullTokenizer

        src = source(self, spec, "squad-v1.1", "squad-v1.1-dev", log)
        entry, model_path, data_dir, prov = src.entry, src.model_path, src.data_dir, src.provenance
        dev, vocab = data_dir / DEV_FILE, data_dir / VOCAB_FILE
        for f in (dev, vocab):
            if not f.is_file():
                raise ValueError(f"dataset: {data_dir} has no {f.name}; it needs dev-v1.1.json and the model's "
                                 "vocab.txt")

        def build() -> np.ndarray:
            log("featurizing SQuAD (max_seq_length 384, doc_stride 128, max_query_length 64)")
            examples = read_examples(load_dataset(dev))
            return preprocess.feature_arrays(preprocess.convert_examples(examples, FullTokenizer(vocab)))

        samples = samples_file(spec.cache_path(), "squad",
                               made_from([dev, vocab], "benchfleet.benchmarks.squad.dataset",
                                         "benchfleet.benchmarks.squad.preprocess", "benchfleet.text.wordpiece"),
                               build)
        count = int(np.load(samples, mmap_mode="r").shape[0])
        args = {"samples": str(samples), "inputs": list(entry.input_names), "outputs": list(entry.output_names)}
        return Inputs(model_path, data_dir, prov, args, count, [dev, vocab])

    def worker(self, args: dict, backend: Backend) -> Worker:
        return _SquadWorker(args, backend)

    def calibration_feeds(self, spec: RunSpec, inputs: Inputs, names: tuple[str, ...],
                          log: Log) -> Iterator[dict[str, np.ndarray]]:
        """The features the official list names (indices into dev-v1.1.json's features, as featurized for the run);
        with a generated set, generated features standing in for them (synthetic, like the rest)."""
        arrays = self._calibration_arrays(inputs, names, log)
        for row in arrays:
            yield {name: np.ascontiguousarray(row[k][None], dtype=np.int64)
                   for k, name in enumerate(inputs.args["inputs"])}

    def calibration_identity(self, spec: RunSpec, inputs: Inputs, names: tuple[str, ...], log: Log) -> list:
        """The files the calibration features come from and the code that makes them."""
        data = inputs.data_dir
        if inputs.provenance.get("synthetic"):
            return ["generated", made_from([data / VOCAB_FILE], "benchfleet.benchmarks.squad.synthetic",
                                           "benchfleet.benchmarks.squad.preprocess", "benchfleet.text.wordpiece")]
        return ["dev", made_from([data / DEV_FILE, data / VOCAB_FILE], "benchfleet.benchmarks.squad.dataset",
                                 "benchfleet.benchmarks.squad.preprocess", "benchfleet.text.wordpiece")]

    @staticmethod
    def _calibration_arrays(inputs: Inputs, names: tuple[str, ...], log: Log) -> np.ndarray:
        from benchfleet.benchmarks.calibration import CalibrationError

        if inputs.provenance.get("synthetic"):
            from benchfleet.benchmarks.squad.synthetic import CALIBRATION_SEED, calibration_features

            log(f"calibration: {len(names)} generated features (seed {CALIBRATION_SEED}) stand in for the official "
                "SQuAD features of those indices: synthetic")
            return calibration_features(inputs.data_dir, len(names))
        samples = SampleFile(inputs.args["samples"])  # the reader the worker uses
        index = [int(n) for n in names]
        outside = [i for i in index if not 0 <= i < samples.shape[0]]
        if outside:
            raise CalibrationError(f"calibration: feature {outside[0]} of the official list is not among the "
                                   f"{samples.shape[0]} features of {inputs.data_dir / DEV_FILE}; the list indexes "
                                   "the features of the whole dev-v1.1.json (10,833): use the official file")
        return np.stack([samples.read(i) for i in index])

    def score(self, inputs: Inputs, entries: list[dict]) -> Score:
        s = scorer.score_log(entries, load_dataset(inputs.data_dir / DEV_FILE), inputs.data_dir / VOCAB_FILE)
        return Score(scorer.accuracy_line(s) + "\n", s["f1"], s)

    def rescore(self, entries: list[dict], folder: Path) -> float:
        return scorer.score_log(entries, load_dataset(folder / DEV_FILE), folder / VOCAB_FILE)["f1"]


class _SquadWorker(Worker):
    concurrent = True  # stateless: stack, run, post-process

    def __init__(self, args: dict, backend: Backend):
        self.args, self.backend = args, backend
        self.data = SampleFile(args["samples"])

    def load(self, index: int) -> np.ndarray:
        return self.data.read(index)

    def infer(self, samples: list) -> list[np.ndarray]:
        batch = np.stack(samples)  # (N, 3, S)
        feeds = {name: batch[:, k] for k, name in enumerate(self.args["inputs"])}
        outs = self.backend.run(feeds, self.args["outputs"])
        if len(outs) == 1:  # one logits output (N, S, 2), as the TensorFlow model has
            both = np.asarray(outs[0], dtype=np.float32).reshape(len(samples), -1, 2)
        else:
            both = np.stack(outs[:2], axis=-1).astype(np.float32)  # (N, S, 2), the reference's layout
        return [both[k] for k in range(len(samples))]


TASK = SquadTask()
