"""Medical image segmentation: 3D-UNet on KiTS19 (3d-unet-99, 3d-unet-99.9); mean DICE of kidney and tumour."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np

from benchfleet.backends import Backend
from benchfleet.benchmarks.base import Inputs, Log, RunSpec, Score, Task, Worker
from benchfleet.benchmarks.entry import ModelEntry
from benchfleet.benchmarks.generated import SyntheticPair
from benchfleet.benchmarks.kits19 import official, scorer, window
from benchfleet.benchmarks.kits19.dataset import case_files, case_list, read_case
from benchfleet.benchmarks.sources import made_from, source
from benchfleet.cachelock import locked
from benchfleet.data.samples import SampleFile

LABELS = "kits19_labels.npz"  # the ground truth of every case run: uint8 volumes by case name, and "cases"
_CODE = ("benchfleet.benchmarks.kits19.dataset", "benchfleet.benchmarks.kits19.preprocess",
         "benchfleet.benchmarks.kits19.task")


class Kits19Task(Task):
    name = "kits19"
    what = "kits19"
    scoring_names = (LABELS,)
    entries = official.ENTRIES
    # One case's labels as hex in the accuracy log: the largest preprocessed KiTS19 case is taken to be at most
    # 320 x 512 x 512 voxels (an upper bound, not a measured figure).
    response_bytes = 2 * 320 * 512 * 512 + 256
    scoring_bytes = 256 * 1024 * 1024  # 43 compressed label volumes (mostly background)
    warm_up = False  # one case is a sliding window over a whole CT volume: minutes on a CPU
    notes = ("Cases preprocessed as the reference's preprocess.py (spacing 1.6 x 1.2 x 1.2 mm, HU clipped to "
             "[-79, 304], (x - 101) / 76.9, padded to multiples of 64 with -2.2); one sample per case, of its own "
             "size. Sliding-window inference as base_SUT.py: 128^3 windows, overlap 0.5, Gaussian importance map, "
             "argmax. Responses: the (D, H, W) uint8 label volume; scored as accuracy_kits.py (mean DICE of "
             "kidney and tumour).")

    def make_synthetic(self, spec: RunSpec, entry: ModelEntry, root: Path, threads: int,
                       log: Log) -> SyntheticPair:
        from benchfleet.benchmarks.kits19 import synthetic

        return synthetic.make_pair(root, count=spec.dataset_count, threads=threads, log=log,
                                   width=spec.synthetic_width)

    def resolve(self, spec: RunSpec, log: Log) -> Inputs:
        if spec.backend != "onnxruntime":
            raise ValueError(f"backend: {spec.benchmark} runs on onnxruntime in benchfleet (the pytorch backend "
                             "executes ONNX graphs without 3-D convolutions), not {spec.backend!r}")
        src = source(self, spec, "kits19", "kits19-inference", log)
        cases = case_list(src.data_dir)[:spec.dataset_count]
        folder = _samples(spec.cache_path(), src.data_dir, cases, log)
        args = {"dir": str(folder), "cases": cases, "input": src.entry.input_name, "output": src.entry.output_name}
        return Inputs(src.model_path, src.data_dir, src.provenance, args, len(cases), [folder / LABELS])

    def worker(self, args: dict, backend: Backend) -> Worker:
        return _Kits19Worker(args, backend)

    def score(self, inputs: Inputs, entries: list[dict]) -> Score:
        s = score_entries(entries, inputs.scoring_files[0])
        return Score(scorer.accuracy_line(s) + "\n", s["mean"], s)

    def rescore(self, entries: list[dict], folder: Path) -> float:
        return score_entries(entries, folder / LABELS)["mean"]


def score_entries(entries: list[dict], labels_file: Path) -> dict:
    with np.load(labels_file, allow_pickle=False) as npz:
        cases = [str(c) for c in npz["cases"]]
        labels = {c: npz[c] for c in cases}
    preds = scorer.predictions_of(entries, cases, {c: v.shape for c, v in labels.items()})
    return scorer.score(preds, labels, cases)


def _samples(cache: Path, data_dir: Path, cases: list[str], log: Log) -> Path:
    """``<case>.npy`` per case ((1, D, H, W) float32: read with SampleFile, one case at a time) and the labels
    file, in a folder keyed by the input files and the code that made them."""
    files = [f for c in cases for f in case_files(data_dir, c)]
    missing = [f for f in files if not f.is_file()]
    if missing:
        raise ValueError(f"dataset: {data_dir} has no {missing[0]}; it needs the reference's preprocessed folder "
                         "(nifti/<case>/imaging.nii.gz, segmentation.nii.gz) or KiTS19's data/ folder")
    key = made_from(files, *_CODE)
    folder = cache / "preprocessed" / f"kits19-{hashlib.sha256(json.dumps(key).encode()).hexdigest()[:16]}"
    done = folder / "done"
    if done.is_file():
        return folder
    with locked(folder):
        if done.is_file():
            return folder
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        log(f"reading {len(cases)} KiTS19 cases from {data_dir}")
        with zipfile.ZipFile(folder / LABELS, "w", zipfile.ZIP_DEFLATED) as zf:
            for case in cases:
                image, label = read_case(data_dir, case)
                np.save(folder / f"{case}.npy", np.ascontiguousarray(image[None], dtype=np.float32))
                with zf.open(f"{case}.npy", "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, np.ascontiguousarray(label, dtype=np.uint8), allow_pickle=False)
            with zf.open("cases.npy", "w") as f:
                np.lib.format.write_array(f, np.array(cases), allow_pickle=False)
        done.write_text("")
    return folder


class _Kits19Worker(Worker):
    def __init__(self, args: dict, backend: Backend):
        self.args, self.backend = args, backend
        self.dir, self.cases = Path(args["dir"]), list(args["cases"])

    def load(self, index: int) -> np.ndarray:
        f = SampleFile(self.dir / f"{self.cases[index]}.npy")
        try:
            return f.read(0)
        finally:
            f.close()

    def _scores(self, patch: np.ndarray) -> np.ndarray:
        return self.backend.run({self.args["input"]: patch}, [self.args["output"]])[0]

    def infer(self, samples: list) -> list[np.ndarray]:
        return [window.segment(s, self._scores).reshape(-1) for s in samples]


TASK = Kits19Task()
