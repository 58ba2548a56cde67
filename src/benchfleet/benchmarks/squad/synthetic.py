"""A generated SQuAD v1.1 set for the generated BERT, in the official layout.

``<dir>/dev-v1.1.json`` (``{"data": [{"title", "paragraphs": [{"context", "qas": [...]}]}],
"version": "1.1"}``) and ``<dir>/vocab.txt`` (one WordPiece token per line). Paragraphs are
made of generated words, some with suffixes that split into ``##`` pieces, some unknown to the
vocabulary, punctuation, and some long enough to need several 384-token windows. Each question's
answer is the generated model's own prediction, so an accuracy run scores 100: it proves that
features, responses and post-processing stay aligned, not that the model reads. A question whose
predicted answer is only punctuation or articles is replaced by another (its F1 would be 0).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx

from benchfleet.benchmarks.generated import PROVENANCE, SyntheticPair, cached_pair, words
from benchfleet.benchmarks.squad.dataset import DEV_FILE, VOCAB_FILE, read_examples
from benchfleet.benchmarks.squad.preprocess import MAX_SEQ_LENGTH, convert_examples, feature_arrays
from benchfleet.benchmarks.squad.scorer import normalize_answer, predictions
from benchfleet.cachelock import code_version
from benchfleet.models import tiny_bert
from benchfleet.text.wordpiece import FullTokenizer

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PUNCT = [".", ",", "?", "'", "-", "(", ")"]
SUFFIXES = ["##s", "##ed", "##ing", "##ly"]
def _sentence(rng: np.random.Generator, vocab_words: list[str], unknown: list[str]) -> str:
    parts = []
    for _ in range(int(rng.integers(5, 14))):
        r = rng.random()
        w = str(rng.choice(unknown)) if r < 0.03 else str(rng.choice(vocab_words))
        if r > 0.9:
            w += str(rng.choice(["s", "ed", "ing", "ly"]))  # splits into word + ##suffix
        if rng.random() < 0.05:
            w = w.capitalize()
        parts.append(w)
    text = " ".join(parts)
    if rng.random() < 0.3:
        text = text.replace(" ", ", ", 1)
    return text[0].upper() + text[1:] + "."


def generator_version() -> str:
    """The version of the code that makes the pair: generator, model builder, and the featurization and
    tokenizer its answers were computed through."""
    return code_version("benchfleet.benchmarks.squad.synthetic", "benchfleet.benchmarks.generated",
                        "benchfleet.models.tiny_bert", "benchfleet.benchmarks.squad.dataset",
                        "benchfleet.benchmarks.squad.preprocess", "benchfleet.benchmarks.squad.scorer",
                        "benchfleet.text.wordpiece")


def make_pair(root: Path, count: int = 256, seed: int = 2023, threads: int = 2, log=print,
              width: int = 64, version: str | None = None) -> SyntheticPair:
    """``width`` 64: a 2-layer model for tests; 1024: BERT-large's shape (24 layers, 16 heads).
    ``version``: the generator version to key the pair by (default: this code's, ``generator_version()``)."""
    return cached_pair(Path(root) / f"bert-w{width}-s{seed}-n{count}", "bert_squad_synthetic.onnx",
                       "squad-synthetic", lambda m, d: _make(m, d, count, seed, threads, log, width),
                       version or generator_version(), log)


def _make(model_path: Path, data_dir: Path, count: int, seed: int, threads: int, log, width: int) -> SyntheticPair:
    rng = np.random.default_rng(seed)
    log(f"generating a synthetic BERT (SQuAD head) and {count} synthetic questions in {data_dir.parent}")
    vocab_words = words(rng, 400)
    unknown = ["x" + w + "q" for w in words(rng, 20)]
    vocab = SPECIAL + PUNCT + vocab_words + SUFFIXES
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / VOCAB_FILE).write_text("\n".join(vocab) + "\n")
    cfg = tiny_bert.config_for(width, len(vocab))
    model = tiny_bert.build(cfg, seed=seed, seq=MAX_SEQ_LENGTH)
    articles, kept, q = [], 0, 0
    while kept < count:
        # A question whose answer is only punctuation or articles scores exact match 1 but F1 0 (SQuAD's F1 counts
        # shared tokens, and the answer normalises to none): such questions are dropped and more are asked.
        batch = _articles(rng, vocab_words, unknown, q, count - kept, len(articles))
        q += sum(len(par["qas"]) for art in batch for par in art["paragraphs"])
        answers = _answer(model, batch, data_dir / VOCAB_FILE, threads)
        for art in batch:
            for par in art["paragraphs"]:
                par["qas"] = [qa for qa in par["qas"] if normalize_answer(answers[qa["id"]]).split()]
                par["qas"] = par["qas"][:max(0, count - kept)]
                kept += len(par["qas"])
                for qa in par["qas"]:
                    text = answers[qa["id"]]
                    qa["answers"] = [{"answer_start": par["context"].find(text), "text": text}]
            art["paragraphs"] = [par for par in art["paragraphs"] if par["qas"]]
        articles += [art for art in batch if art["paragraphs"]]
    (data_dir / DEV_FILE).write_text(json.dumps({"data": articles, "version": "1.1"}))
    model_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, model_path)
    provenance = {
        "synthetic": True, "kind": "generated",
        "model": f"BERT architecture, {cfg.layers} layers, width {cfg.width}, random weights (seed {seed}); "
                 "NOT the MLPerf BERT-large",
        "dataset": f"{count} generated questions in the SQuAD v1.1 layout; answers are the generated model's "
                   "own predictions; NOT SQuAD",
        "seed": seed, "count": count, "note": "synthetic: proves the pipeline, not a result for publication",
    }
    (data_dir / PROVENANCE).write_text(json.dumps(provenance, indent=2))
    return SyntheticPair(model_path, data_dir, provenance)


CALIBRATION_SEED = 2024


def calibration_features(data_dir: Path, count: int, seed: int = CALIBRATION_SEED) -> np.ndarray:
    """(count, 3, 384) int32: generated features standing in for the official calibration features of a generated
    set (the official indices point into SQuAD's dev set, which a generated set does not have): questions on
    paragraphs made like the set's own, from its vocabulary, but from another seed, so no calibration feature is an
    evaluation feature; featurized by the same code."""
    vocab_file = data_dir / VOCAB_FILE
    tokens = vocab_file.read_text().splitlines()
    vocab_words = [t for t in tokens if t and t not in SPECIAL and t not in PUNCT and t not in SUFFIXES]
    rng = np.random.default_rng(seed)
    unknown = ["x" + w + "q" for w in words(rng, 20)]
    tokenizer = FullTokenizer(vocab_file)
    features: list = []
    asked = 0
    while len(features) < count:
        batch = _articles(rng, vocab_words, unknown, asked, max(8, count - len(features)), 0)
        asked += sum(len(par["qas"]) for art in batch for par in art["paragraphs"])
        features += convert_examples(read_examples(batch), tokenizer)
    return feature_arrays(features[:count])


def _articles(rng: np.random.Generator, vocab_words: list[str], unknown: list[str], first: int, count: int,
              titled: int) -> list[dict]:
    """``count`` generated questions (ids from ``first``) on generated paragraphs, as SQuAD articles."""
    articles, q = [], first
    while q < first + count:
        paragraphs = []
        for _ in range(int(rng.integers(1, 4))):
            long = rng.random() < 0.2  # > 384 tokens: several doc_stride windows
            n_sent = int(rng.integers(40, 60)) if long else int(rng.integers(3, 12))
            context = " ".join(_sentence(rng, vocab_words, unknown) for _ in range(n_sent))
            qas = []
            for _ in range(int(rng.integers(1, 5))):
                if q >= first + count:
                    break
                question = " ".join(rng.choice(vocab_words, size=int(rng.integers(3, 9)))) + "?"
                qas.append({"id": f"synthetic-{q:06d}", "question": question, "answers": []})
                q += 1
            if qas:
                paragraphs.append({"context": context, "qas": qas})
        articles.append({"title": f"synthetic_{titled + len(articles)}", "paragraphs": paragraphs})
    return articles


def _answer(model: onnx.ModelProto, articles: list[dict], vocab: Path, threads: int) -> dict[str, str]:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    examples = read_examples(articles)
    features = convert_examples(examples, FullTokenizer(vocab))
    arr = feature_arrays(features)
    logits: dict[int, np.ndarray] = {}
    for start in range(0, len(features), 32):
        chunk = arr[start:start + 32].astype(np.int64)
        s, e = sess.run(list(tiny_bert.OUTPUTS), dict(zip(tiny_bert.INPUTS, chunk.transpose(1, 0, 2), strict=True)))
        for k in range(chunk.shape[0]):
            logits[start + k] = np.stack([s[k], e[k]], axis=-1).astype(np.float32)
    return predictions(examples, features, logits)
