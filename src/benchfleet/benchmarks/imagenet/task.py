"""Image classification on ImageNet 2012 val: ResNet50 (closed) and the open-division MobileNet/EfficientNet
models; top-1 accuracy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from benchfleet.backends import Backend
from benchfleet.backends.base import prepared, stacked
from benchfleet.benchmarks.base import Inputs, Log, RunSpec, Score, Task, Worker
from benchfleet.benchmarks.calibration import CalibrationError
from benchfleet.benchmarks.entry import ModelEntry
from benchfleet.benchmarks.generated import SyntheticPair
from benchfleet.benchmarks.imagenet import official, scorer
from benchfleet.benchmarks.imagenet.dataset import VAL_MAP, ImageNetVal
from benchfleet.benchmarks.sources import source
from benchfleet.data.samples import SampleFile

CALIBRATION_SEED = 2024  # the generated val set's is 2023


class ImageNetTask(Task):
    name = "imagenet"
    what = "imagenet-val"
    scoring_names = (VAL_MAP,)
    entries = official.ENTRIES
    response_bytes = 64  # a top-1 class as float32
    scoring_bytes = 4 * 1024 * 1024  # val_map.txt of 50,000 lines
    synthetic_calibration = "generated pictures of those names"
    notes = ("Preprocessing: RGB, resize shorter side to 256 (area), centre crop 224, subtract "
             "[123.68, 116.78, 103.94], NCHW float32 (MobileNet/EfficientNet on TFLite: the same crop, "
             "scaled to [-1, 1], NHWC). Responses: top-1 class as float32.")

    def make_synthetic(self, spec: RunSpec, entry: ModelEntry, root: Path, threads: int,
                       log: Log) -> SyntheticPair:
        if entry.backend == "tflite":
            from benchfleet.benchmarks.imagenet import synthetic_tflite

            return synthetic_tflite.make_pair(root, entry, count=spec.dataset_count, threads=threads, log=log)
        from benchfleet.benchmarks.imagenet.synthetic import make_pair

        return make_pair(root, count=spec.dataset_count, width=spec.synthetic_width, threads=threads, log=log)

    def resolve(self, spec: RunSpec, log: Log) -> Inputs:
        from benchfleet.benchmarks.imagenet.samples import ensure

        src = source(self, spec, "imagenet", None, log)
        entry, model_path, data_dir, prov = src.entry, src.model_path, src.data_dir, src.provenance
        ds = ImageNetVal.open(data_dir, spec.dataset_count)
        prov.setdefault("dataset", ds.provenance().get("kind", "imagenet2012-val"))
        # the reference's pipeline for this model
        samples = ensure(ds, spec.cache_path(), log, kind=entry.preprocessing)
        args = {"samples": str(samples), "input": entry.input_name, "output": entry.output_name,
                "label_offset": entry.label_offset, "layout": entry.layout, "scale": entry.preprocessing,
                "argmax": entry.output_is_scores}
        return Inputs(model_path, data_dir, prov, args, len(ds), [data_dir / VAL_MAP], {"labels": ds.labels})

    def worker(self, args: dict, backend: Backend) -> Worker:
        return _ImageWorker(args, backend)

    def calibration_feeds(self, spec: RunSpec, inputs: Inputs, names: tuple[str, ...],
                          log: Log) -> Iterator[dict[str, np.ndarray]]:
        """The named ImageNet val images from the dataset folder; with a generated dataset, generated images of
        those names (made once in the cache, labelled synthetic like the rest)."""
        from benchfleet.benchmarks.imagenet.preprocess import preprocess, read_bgr

        root = self._calibration_root(spec, inputs, names, log)
        for name in names:
            x = preprocess(read_bgr(root / name), inputs.args["scale"])
            if inputs.args["layout"] == "nhwc":
                x = x.transpose(1, 2, 0)
            yield {inputs.args["input"]: np.ascontiguousarray(x[None], dtype=np.float32)}

    def calibration_identity(self, spec: RunSpec, inputs: Inputs, names: tuple[str, ...], log: Log) -> list:
        """What the calibration tensors are made from: each image file (path, size, modification time) and the
        preprocessing's version (its code, OpenCV's, the kind)."""
        from benchfleet.benchmarks.imagenet.preprocess import preprocess_version
        from benchfleet.benchmarks.sources import made_from

        root = self._calibration_root(spec, inputs, names, log)
        return [preprocess_version(inputs.args["scale"]),
                *made_from([root / n for n in names], "benchfleet.benchmarks.imagenet.task")]

    @staticmethod
    def _calibration_root(spec: RunSpec, inputs: Inputs, names: tuple[str, ...], log: Log) -> Path:
        root = inputs.data_dir
        if inputs.provenance.get("synthetic"):
            root = _synthetic_calibration(spec.cache_path(), names, log)
        missing = [n for n in names if not (root / n).is_file()]
        if missing:
            raise CalibrationError(f"calibration: {len(missing)} of the {len(names)} calibration images are not in "
                                   f"{root} (e.g. {missing[0]}); they are ImageNet 2012 val images: point --dataset "
                                   "at the whole val folder (50,000 images), or lower --calibration-count to the "
                                   "first ones of the list you have")
        return root

    def score(self, inputs: Inputs, entries: list[dict]) -> Score:
        labels = np.asarray(inputs.scoring["labels"])
        value, good, total = scorer.score_imagenet(entries, labels)
        return Score(scorer.imagenet_text(entries, labels), value, {"good": good, "total": total})

    def rescore(self, entries: list[dict], folder: Path) -> float:
        return scorer.score_imagenet(entries, ImageNetVal.open(folder, require_files=False).labels)[0]


class _ImageWorker(Worker):
    concurrent = True  # stateless: stack, run, post-process

    def __init__(self, args: dict, backend: Backend):
        self.args, self.backend = args, backend
        self.data = SampleFile(args["samples"])  # preprocessed as args["scale"] says (ensure's kind)

    def load(self, index: int) -> object:
        x = self.data.read(index)
        if self.args["layout"] == "nhwc":
            x = x.transpose(1, 2, 0)
        return prepared(self.backend, self.args.get("input", ""), np.ascontiguousarray(x, dtype=np.float32))

    def infer(self, samples: list) -> list[np.ndarray]:
        batch = stacked(self.backend, self.args["input"], samples)
        out = np.asarray(self.backend.run({self.args["input"]: batch}, [self.args["output"]])[0])
        out = out.reshape(len(samples), -1)
        top = out.argmax(axis=1) if self.args["argmax"] else out[:, 0]
        labels = (top - self.args["label_offset"]).astype(np.float32)
        return [labels[k:k + 1] for k in range(len(samples))]


def _synthetic_calibration(cache: Path, names: tuple[str, ...], log: Log) -> Path:
    """Generated pictures named as the calibration list names them (another seed than the generated val set's)."""
    import hashlib

    from benchfleet.benchmarks.imagenet import images
    from benchfleet.cachelock import code_version, locked

    version = code_version("benchfleet.benchmarks.imagenet.images", "benchfleet.benchmarks.generated")
    key = hashlib.sha256(f"{CALIBRATION_SEED}\n{version}\n".encode() + "\n".join(names).encode()).hexdigest()[:16]
    root = cache / "imagenet-calibration-synthetic" / key
    done = root / ".complete"
    with locked(root):
        if not done.is_file():
            log(f"generating {len(names)} synthetic calibration images (named as the official list names them) "
                f"in {root}")
            root.mkdir(parents=True, exist_ok=True)
            rng = np.random.default_rng(CALIBRATION_SEED)
            for name in names:
                images.generate_image(rng).save(root / name, "JPEG", quality=90)
            done.write_text("synthetic: generated pictures, NOT ImageNet\n")
    return root


TASK = ImageNetTask()
