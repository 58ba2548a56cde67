"""Object detection: RetinaNet ResNeXt50-32x4d FPN on the MLPerf OpenImages subset (retinanet); mAP."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchfleet.backends import Backend
from benchfleet.benchmarks.base import Inputs, Log, RunSpec, Score, Task, Worker
from benchfleet.benchmarks.entry import ModelEntry
from benchfleet.benchmarks.generated import SyntheticPair
from benchfleet.benchmarks.openimages import official, postprocess, scorer
from benchfleet.benchmarks.openimages.dataset import SCORING_NAME, OpenImagesVal
from benchfleet.benchmarks.sources import source
from benchfleet.data.samples import SampleFile


class OpenImagesTask(Task):
    name = "openimages"
    what = "openimages"
    scoring_names = (SCORING_NAME,)
    entries = official.ENTRIES
    # up to 300 detections of 7 float32 (8,400 bytes, 16,800 hex digits) and the JSON around them
    response_bytes = 17 * 1024
    scoring_bytes = 256 * 1024 * 1024  # openimages-mlperf.json of 24,781 images (about 70 MB)
    notes = ("Preprocessing as the reference's pre_process_openimages_retinanet: cv2.imread, float32, BGR -> RGB, "
             "cv2.resize to 800x800 (INTER_LINEAR, aspect not kept), divided by 255, NCHW. Responses: per "
             "detection 7 float32 [sample index, ymin, xmin, ymax, xmax, score, label], boxes divided by 800, "
             "until the first score under 0.05; scored as accuracy-openimages.py (pycocotools COCOeval bbox, "
             "stats[0]).")

    def make_synthetic(self, spec: RunSpec, entry: ModelEntry, root: Path, threads: int,
                       log: Log) -> SyntheticPair:
        from benchfleet.benchmarks.openimages import synthetic

        return synthetic.make_pair(root, count=spec.dataset_count, width=spec.synthetic_width, threads=threads,
                                   log=log)

    def resolve(self, spec: RunSpec, log: Log) -> Inputs:
        from benchfleet.benchmarks.openimages.samples import ensure

        src = source(self, spec, "openimages", None, log)
        entry, model_path, data_dir, prov = src.entry, src.model_path, src.data_dir, src.provenance
        ds = OpenImagesVal.open(data_dir, spec.dataset_count)
        prov.setdefault("dataset", ds.provenance().get("kind", "openimages-mlperf-validation"))
        samples = ensure(ds, spec.cache_path(), log)
        args = {"samples": str(samples), "input": entry.input_name, "outputs": list(entry.output_names)}
        return Inputs(model_path, data_dir, prov, args, len(ds), [ds.annotations])

    def worker(self, args: dict, backend: Backend) -> Worker:
        return _DetectionWorker(args, backend)

    def score(self, inputs: Inputs, entries: list[dict]) -> Score:
        s = scorer.score_log(entries, inputs.scoring_files[0])
        return Score(scorer.accuracy_line(s["mAP"]) + "\n", s["mAP"], s)

    def rescore(self, entries: list[dict], folder: Path) -> float:
        return scorer.score_log(entries, folder / SCORING_NAME)["mAP"]


class _DetectionWorker(Worker):
    def __init__(self, args: dict, backend: Backend):
        self.args, self.backend = args, backend
        self.data = SampleFile(args["samples"])

    def load(self, index: int) -> tuple[int, np.ndarray]:
        return index, self.data.read(index)

    def infer(self, samples: list) -> list[np.ndarray]:
        out = []
        for index, x in samples:  # the model takes one image (the reference's max batch size is 1)
            boxes, labels, scores = self.backend.run({self.args["input"]: x[None]}, self.args["outputs"])
            out.append(postprocess.response(index, boxes, labels, scores))
        return out


TASK = OpenImagesTask()
