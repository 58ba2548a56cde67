"""What differs between benchmarks: inputs, samples, responses and scoring, one class per task.

- ``imagenet``: ResNet50 (closed) and the open-division MobileNet/EfficientNet models; top-1.
- ``squad``: BERT-large (bert-99, bert-99.9); SQuAD v1.1 features, F1 and exact match.
- ``cnndm``: GPT-J 6B (gptj-99, gptj-99.9); CNN/DailyMail prompts, beam search, ROUGE.

The harness process calls ``resolve`` (model + dataset + samples file) and ``score``; each LoadGen
process calls ``worker`` with the JSON ``args`` from ``resolve``. Generated variants are built
where no official model or dataset is given, and labelled synthetic.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchfleet.cachelock import locked
from benchfleet.harness import accuracy as acc
from benchfleet.harness.backend import Backend, default_threads
from benchfleet.harness.spec import HarnessSpec
from benchfleet.models import registry

Log = Callable[[str], None]


@dataclass
class Inputs:
    model_path: Path
    data_dir: Path
    provenance: dict
    args: dict  # for the LoadGen process (JSON)
    count: int
    scoring_files: list[Path]  # copied beside the results so the controller can rescore
    scoring: dict = field(default_factory=dict)  # what only the scorer reads (never sent to LoadGen processes)


@dataclass
class Score:
    text: str  # accuracy.txt, before the hash line
    value: float  # the checker's first metric
    details: dict


class Worker:
    """Loads samples and runs batches of them inside a LoadGen process."""

    def load(self, index: int):
        raise NotImplementedError

    def infer(self, samples: list) -> list[np.ndarray]:
        raise NotImplementedError


def _network_ok(url: str, timeout: float = 3.0) -> bool:
    import urllib.request

    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout).close()
        return True
    except Exception:
        return False


def _want_synthetic(spec: HarnessSpec, entry: registry.ModelEntry, what: str, log: Log) -> bool:
    if spec.model == "synthetic" or spec.dataset == "synthetic":
        if spec.model not in ("synthetic", "auto") or spec.dataset not in ("synthetic", "auto"):
            raise ValueError("dataset: a synthetic dataset is labelled by the synthetic model; use --model synthetic "
                             "with --dataset synthetic (or auto)")
        return True
    if spec.dataset == "official":  # asked for the published data: no silent fallback to generated files
        return False
    if spec.dataset == "auto":
        if spec.model not in ("auto",):
            raise ValueError(f"dataset: --model {spec.model} needs a {what} folder (--dataset PATH)")
        log(f"no {what} folder given: using a generated {entry.family} model and a generated dataset "
            f"(synthetic; pass --dataset /path/to/{what} and --model official for real results)")
        return True
    if spec.model == "auto":
        return not _network_ok(entry.url)
    return False


def _official_model(spec: HarnessSpec, entry: registry.ModelEntry, log: Log) -> tuple[Path, str]:
    from benchfleet.models.download import fetch

    if spec.model in ("official", "auto"):
        if entry.conversion:
            raise ValueError(f"model: the official {entry.family} is published as {entry.url} (md5 "
                             f"{entry.md5 or 'not published'}), which the {spec.backend} backend does not load as "
                             f"is: {entry.conversion}; then pass --model PATH")
        if not entry.md5:
            raise ValueError(f"model: no published checksum is recorded for {entry.url}; download it yourself and "
                             f"pass --model /path/to/{entry.filename}")
        log(f"fetching {entry.url} (md5 {entry.md5})")
        return fetch(entry.url, spec.cache_path() / "models" / entry.filename, entry.md5), "official"
    path = Path(spec.model).expanduser()
    if not path.is_file():
        raise ValueError(f"model: {path} is not a file; use official, synthetic or a path to a model file")
    return path, "user"


@dataclass
class _Source:
    model_path: Path
    data_dir: Path
    provenance: dict
    entry: registry.ModelEntry  # whose interface the model file has


def _source(spec: HarnessSpec, what: str, dataset_name: str, dataset_label: str | None, log: Log,
            make_synthetic: Callable[[registry.ModelEntry, Path, int], object]) -> _Source:
    """Model file and data folder for a run: generated (``make_synthetic(entry, root, threads)`` gives the
    pair) when that is what the spec asks or allows, else the official or given files."""
    entry = registry.lookup(spec.benchmark, spec.backend)
    if _want_synthetic(spec, entry, what, log):
        pair = make_synthetic(entry, spec.cache_path() / "synthetic", spec.threads or default_threads())
        return _Source(pair.model_path, pair.dataset_dir, pair.provenance,
                       registry.generated_interface(spec.benchmark, spec.backend))
    model_path, kind = _official_model(spec, entry, log)
    data_dir = _official_dataset(spec, entry, dataset_name, log)
    prov = {"synthetic": False, "kind": kind, "model": entry.url if kind == "official" else model_path.name}
    if dataset_label:
        prov["dataset"] = dataset_label
    return _Source(model_path, data_dir, prov, entry)


def _official_dataset(spec: HarnessSpec, entry: registry.ModelEntry, name: str, log: Log) -> Path:
    """``--dataset official``: the published files, checked against their md5, in the cache; else the path."""
    from benchfleet.models.download import fetch

    if spec.dataset != "official":
        return Path(spec.dataset).expanduser()
    if not entry.dataset_files:
        raise ValueError(f"dataset: {spec.benchmark}'s dataset has no public download with a checksum (ImageNet needs "
                         "a licence; CNN/DailyMail is built by the reference's download_cnndm.py); pass --dataset PATH")
    folder = spec.cache_path() / "datasets" / name
    for f in entry.dataset_files:
        log(f"fetching {f.url} (md5 {f.md5})")
        fetch(f.url, folder / f.filename, f.md5)
    return folder


def _made_from(files: list[Path], *code: str) -> list:
    """A samples file's key: the input files (path, size, modification time) and the version of the code that
    turns them into samples, so that a change of either never reuses samples made before it."""
    from benchfleet.cachelock import code_version

    return [[str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns] for f in files] + [code_version(*code)]


def _samples_file(cache: Path, kind: str, key: list, build: Callable[[], np.ndarray]) -> Path:
    digest = hashlib.sha256(json.dumps(key, default=str).encode()).hexdigest()[:16]
    path = cache / "preprocessed" / f"{kind}-{digest}.npy"
    if path.is_file():
        return path
    with locked(path):
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".part.npy")
            np.save(tmp, build())
            tmp.replace(path)
    return path


# ---- image classification -----------------------------------------------------------------------

class ImageNetTask:
    name = "imagenet"

    def resolve(self, spec: HarnessSpec, log: Log) -> Inputs:
        from benchfleet.data.imagenet import VAL_MAP, ImageNetVal
        from benchfleet.harness.preprocessed import ensure

        def synthetic(entry: registry.ModelEntry, root: Path, threads: int):
            if entry.backend == "tflite":
                from benchfleet.models import tiny_tflite

                return tiny_tflite.make_pair(root, entry, count=spec.dataset_count, threads=threads, log=log)
            from benchfleet.models.synthetic import make_pair

            return make_pair(root, count=spec.dataset_count, width=spec.synthetic_width, threads=threads, log=log)

        src = _source(spec, "imagenet-val", "imagenet", None, log, synthetic)
        entry, model_path, data_dir, prov, cache = src.entry, src.model_path, src.data_dir, src.provenance, \
            spec.cache_path()
        ds = ImageNetVal.open(data_dir, spec.dataset_count)
        prov.setdefault("dataset", ds.provenance().get("kind", "imagenet2012-val"))
        samples = ensure(ds, cache, log, kind=entry.preprocessing)  # the reference's pipeline for this model
        args = {"samples": str(samples), "input": entry.input_name, "output": entry.output_name,
                "label_offset": entry.label_offset, "layout": entry.layout, "scale": entry.preprocessing,
                "argmax": entry.output_is_scores}
        return Inputs(model_path, data_dir, prov, args, len(ds), [data_dir / VAL_MAP], {"labels": ds.labels})

    def worker(self, args: dict, backend: Backend) -> Worker:
        return _ImageWorker(args, backend)

    def score(self, inputs: Inputs, entries: list[dict]) -> Score:
        labels = np.asarray(inputs.scoring["labels"])
        value, good, total = acc.score_imagenet(entries, labels)
        return Score(acc.imagenet_text(entries, labels), value, {"good": good, "total": total})


class _ImageWorker(Worker):
    def __init__(self, args: dict, backend: Backend):
        from benchfleet.harness.preprocessed import SampleFile

        self.args, self.backend = args, backend
        self.data = SampleFile(args["samples"])  # preprocessed as args["scale"] says (ensure's kind)

    def load(self, index: int) -> np.ndarray:
        x = self.data.read(index)
        if self.args["layout"] == "nhwc":
            x = x.transpose(1, 2, 0)
        return np.ascontiguousarray(x, dtype=np.float32)

    def infer(self, samples: list) -> list[np.ndarray]:
        batch = samples[0][None] if len(samples) == 1 else np.stack(samples)
        out = np.asarray(self.backend.run({self.args["input"]: batch}, [self.args["output"]])[0])
        out = out.reshape(len(samples), -1)
        top = out.argmax(axis=1) if self.args["argmax"] else out[:, 0]
        labels = (top - self.args["label_offset"]).astype(np.float32)
        return [labels[k:k + 1] for k in range(len(samples))]


# ---- BERT on SQuAD ------------------------------------------------------------------------------

class SquadTask:
    name = "squad"

    def resolve(self, spec: HarnessSpec, log: Log) -> Inputs:
        from benchfleet.data import squad_synth
        from benchfleet.harness import squad
        from benchfleet.text.wordpiece import FullTokenizer

        src = _source(spec, "squad", "squad-v1.1", "squad-v1.1-dev", log,
                      lambda _e, root, threads: squad_synth.make_pair(root, count=spec.dataset_count, threads=threads,
                                                                      log=log, width=spec.synthetic_width))
        entry, model_path, data_dir, prov, cache = src.entry, src.model_path, src.data_dir, src.provenance, \
            spec.cache_path()
        dev, vocab = data_dir / squad_synth.DEV_FILE, data_dir / squad_synth.VOCAB_FILE
        for f in (dev, vocab):
            if not f.is_file():
                raise ValueError(f"dataset: {data_dir} has no {f.name}; it needs dev-v1.1.json and the model's "
                                 "vocab.txt")

        def build() -> np.ndarray:
            log("featurizing SQuAD (max_seq_length 384, doc_stride 128, max_query_length 64)")
            examples = squad.read_examples(squad.load_dataset(dev))
            return squad.feature_arrays(squad.convert_examples(examples, FullTokenizer(vocab)))

        samples = _samples_file(cache, "squad", _made_from([dev, vocab], "benchfleet.harness.squad",
                                                           "benchfleet.text.wordpiece"), build)
        count = int(np.load(samples, mmap_mode="r").shape[0])
        args = {"samples": str(samples), "inputs": list(entry.input_names), "outputs": list(entry.output_names)}
        return Inputs(model_path, data_dir, prov, args, count, [dev, vocab])

    def worker(self, args: dict, backend: Backend) -> Worker:
        return _SquadWorker(args, backend)

    def score(self, inputs: Inputs, entries: list[dict]) -> Score:
        from benchfleet.data import squad_synth
        from benchfleet.harness import squad

        data = squad.load_dataset(inputs.data_dir / squad_synth.DEV_FILE)
        s = squad.score_log(entries, data, inputs.data_dir / squad_synth.VOCAB_FILE)
        return Score(squad.accuracy_line(s) + "\n", s["f1"], s)


class _SquadWorker(Worker):
    def __init__(self, args: dict, backend: Backend):
        from benchfleet.harness.preprocessed import SampleFile

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


# ---- GPT-J on CNN/DailyMail ---------------------------------------------------------------------

class CnnDmTask:
    name = "cnndm"

    def resolve(self, spec: HarnessSpec, log: Log) -> Inputs:
        from benchfleet.data import cnndm_synth
        from benchfleet.harness import summarize
        from benchfleet.text import bpe

        src = _source(spec, "cnn-dailymail", "cnndm", "cnn-dailymail-3.0.0-validation", log,
                      lambda _e, root, threads: cnndm_synth.make_pair(root, count=spec.dataset_count,
                                                                      threads=threads, log=log))
        entry, model_path, data_dir, prov, cache = src.entry, src.model_path, src.data_dir, src.provenance, \
            spec.cache_path()
        files = [data_dir / cnndm_synth.EVAL_FILE, data_dir / bpe.VOCAB_FILE, data_dir / bpe.MERGES_FILE]
        for f in files:
            if not f.is_file():
                raise ValueError(f"dataset: {data_dir} has no {f.name}; it needs cnn_eval.json and the GPT-J "
                                 "tokenizer files vocab.json and merges.txt")

        tok = bpe.ByteBPE.load(data_dir)

        def build() -> np.ndarray:
            log("encoding CNN/DailyMail prompts")
            ids = summarize.encode_prompts(summarize.load_records(files[0]), tok)
            out = np.full((len(ids), max(len(i) for i in ids)), -1, np.int64)
            for k, row in enumerate(ids):
                out[k, :len(row)] = row
            return out

        samples = _samples_file(cache, "cnndm", _made_from(files, "benchfleet.harness.summarize",
                                                           "benchfleet.text.bpe"), build)
        count = int(np.load(samples, mmap_mode="r").shape[0])
        args = {"samples": str(samples), "eos": tok.eos_id, "output": entry.output_names[0]}
        return Inputs(model_path, data_dir, prov, args, count, files)

    def worker(self, args: dict, backend: Backend) -> Worker:
        return _GenerateWorker(args, backend)

    def score(self, inputs: Inputs, entries: list[dict]) -> Score:
        from benchfleet.harness import rouge, summarize
        from benchfleet.text import bpe

        records = summarize.load_records(inputs.data_dir / "cnn_eval.json")
        s = summarize.score_log(entries, records, bpe.ByteBPE.load(inputs.data_dir))
        return Score(rouge.accuracy_line(s) + "\n", s["rouge1"], s)


class _GenerateWorker(Worker):
    def __init__(self, args: dict, backend: Backend):
        from benchfleet.harness.preprocessed import SampleFile

        self.args, self.backend = args, backend
        self.data = SampleFile(args["samples"])

    def load(self, index: int) -> np.ndarray:
        row = self.data.read(index)
        return row[row >= 0]

    def _next(self, ids: np.ndarray, mask: np.ndarray, pos: np.ndarray) -> np.ndarray:
        return self.backend.run({"input_ids": ids, "attention_mask": mask, "position_ids": pos},
                                [self.args["output"]])[0]

    def infer(self, samples: list) -> list[np.ndarray]:
        from benchfleet.harness.generate import generate

        return [np.asarray(generate(self._next, s.tolist(), self.args["eos"]), np.int64) for s in samples]


TASKS = {"imagenet": ImageNetTask(), "squad": SquadTask(), "cnndm": CnnDmTask()}


def task_for(benchmark: str, backend: str) -> ImageNetTask | SquadTask | CnnDmTask:
    return TASKS[registry.lookup(benchmark, backend).task]


def copy_scoring_files(inputs: Inputs, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for f in inputs.scoring_files:
        shutil.copy2(f, dst / f.name)
