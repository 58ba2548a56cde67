"""Speech recognition: RNN-T on LibriSpeech dev-clean (rnnt); word error rate."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchfleet.backends import Backend
from benchfleet.benchmarks.base import Inputs, Log, RunSpec, Score, Task, Worker
from benchfleet.benchmarks.entry import ModelEntry
from benchfleet.benchmarks.generated import SyntheticPair
from benchfleet.benchmarks.librispeech import official, scorer
from benchfleet.benchmarks.librispeech.dataset import MANIFEST
from benchfleet.benchmarks.sources import made_from, samples_file, source
from benchfleet.data.samples import SampleFile


class LibrispeechTask(Task):
    name = "librispeech"
    what = "librispeech"
    scoring_names = (MANIFEST,)
    entries = official.ENTRIES
    # int64 label ids: dev-clean's longest kept transcript is under 600 characters, as hex in the JSON entry
    response_bytes = 600 * 8 * 2 + 128
    scoring_bytes = 4 * 1024 * 1024  # dev-clean-wav.json (1.4 MB)
    notes = ("Features as the reference's AudioPreprocessing (configs/rnnt.toml [input_eval]: 16 kHz, pre-emphasis "
             "0.97, 512-point STFT of 320-sample Hann windows every 160, 80 Slaney mel filters, log, 3 frames "
             "spliced, per-feature normalisation), computed once per utterance of the Manifest (max 15 s) into the "
             "samples file. The ONNX graph holds the encoder and the greedy decoder (blank 28, at most 30 symbols "
             "a frame); responses are the int64 label ids, scored as accuracy_eval.py (word error rate).")

    def make_synthetic(self, spec: RunSpec, entry: ModelEntry, root: Path, threads: int,
                       log: Log) -> SyntheticPair:
        from benchfleet.benchmarks.librispeech import synthetic

        return synthetic.make_pair(root, count=spec.dataset_count, threads=threads, log=log,
                                   width=spec.synthetic_width)

    def resolve(self, spec: RunSpec, log: Log) -> Inputs:
        from benchfleet.benchmarks.librispeech import preprocess
        from benchfleet.benchmarks.librispeech.dataset import load_manifest, read_wav

        src = source(self, spec, "librispeech-dev-clean", "librispeech-dev-clean", log)
        entry, model_path, data_dir, prov = src.entry, src.model_path, src.data_dir, src.provenance
        manifest = data_dir / MANIFEST
        if not manifest.is_file():
            raise ValueError(f"dataset: {data_dir} has no {MANIFEST}; it needs the folder the reference's "
                             "convert_librispeech.py writes (dev-clean-wav/ and dev-clean-wav.json)")

        def build() -> np.ndarray:
            utterances = load_manifest(data_dir)
            log(f"computing log-mel features of {len(utterances)} utterances")
            return preprocess.feature_rows([preprocess.features(read_wav(u.wav)) for u in utterances])

        samples = samples_file(spec.cache_path(), "librispeech",
                               made_from([manifest], "benchfleet.benchmarks.librispeech.dataset",
                                         "benchfleet.benchmarks.librispeech.preprocess"), build)
        count = int(np.load(samples, mmap_mode="r").shape[0])
        args = {"samples": str(samples), "inputs": list(entry.input_names), "outputs": list(entry.output_names)}
        return Inputs(model_path, data_dir, prov, args, count, [manifest])

    def worker(self, args: dict, backend: Backend) -> Worker:
        return _RnntWorker(args, backend)

    def score(self, inputs: Inputs, entries: list[dict]) -> Score:
        s = scorer.score_log(entries, inputs.data_dir)
        details = {"wer": s["wer"], "word_edits": s["edits"], "reference_words": s["words"]}
        return Score(scorer.accuracy_line(s["wer"]) + "\n", s["accuracy"], details)

    def rescore(self, entries: list[dict], folder: Path) -> float:
        return scorer.score_log(entries, folder)["accuracy"]


class _RnntWorker(Worker):
    """One utterance per backend call (the graph decodes a batch of one, as the reference's SUT does)."""

    def __init__(self, args: dict, backend: Backend):
        self.args, self.backend = args, backend
        self.data = SampleFile(args["samples"])

    def load(self, index: int) -> np.ndarray:
        from benchfleet.benchmarks.librispeech.preprocess import split_row

        return np.ascontiguousarray(split_row(self.data.read(index)))

    def infer(self, samples: list) -> list[np.ndarray]:
        feats_name, length_name = self.args["inputs"]
        out = []
        for feats in samples:
            feeds = {feats_name: feats[:, None, :], length_name: np.array([feats.shape[0]], np.int64)}
            labels = self.backend.run(feeds, self.args["outputs"])[0]
            out.append(np.asarray(labels, dtype="<i8").reshape(-1))
        return out


TASK = LibrispeechTask()
