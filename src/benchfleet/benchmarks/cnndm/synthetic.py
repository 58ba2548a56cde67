"""A generated CNN/DailyMail evaluation set for the generated GPT-J-style model, in the official layout.

``<dir>/cnn_eval.json`` is a list of ``{"instruction", "input", "output"}`` records (the reference's
download_cnndm.py writes the same), beside the tokenizer files ``vocab.json`` and ``merges.txt``
(GPT-2's format). Articles are generated sentences; each ``output`` is the generated model's own
summary under the reference's generation settings, so ROUGE scores 100: it proves that prompts,
tokens and scoring stay aligned, not that anything is summarised.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import onnx

from benchfleet.benchmarks.cnndm import generate as gen
from benchfleet.benchmarks.cnndm.dataset import EVAL_FILE
from benchfleet.benchmarks.cnndm.preprocess import INSTRUCTION, PROMPT_INPUT, prompt
from benchfleet.benchmarks.generated import PROVENANCE, SyntheticPair, cached_pair, words
from benchfleet.cachelock import code_version
from benchfleet.models import tiny_gpt
from benchfleet.text import bpe

MAX_COUNT = 64  # each article is labelled by a beam search: more would only slow the quick path down


def generator_version() -> str:
    """The version of the code that makes the pair: generator, model builder, and the prompts, tokenizer and
    beam search its reference summaries were computed through."""
    return code_version("benchfleet.benchmarks.cnndm.synthetic", "benchfleet.benchmarks.generated",
                        "benchfleet.models.tiny_gpt", "benchfleet.benchmarks.cnndm.generate",
                        "benchfleet.benchmarks.cnndm.preprocess", "benchfleet.text.bpe")


def make_pair(root: Path, count: int = 16, seed: int = 2023, threads: int = 2, log=print,
              settings: gen.GenerationSettings = gen.REFERENCE, version: str | None = None) -> SyntheticPair:
    """``version``: the generator version to key the pair by (default: this code's, ``generator_version()``)."""
    if count > MAX_COUNT:
        log(f"generated CNN/DailyMail: {MAX_COUNT} articles at most (asked {count}); each is labelled by the "
            "model's own beam search")
        count = MAX_COUNT
    return cached_pair(Path(root) / f"gptj-s{seed}-n{count}-b{settings.num_beams}", "gptj_synthetic.onnx",
                       "cnndm-synthetic", lambda m, d: _make(m, d, count, seed, threads, log, settings),
                       version or generator_version(), log)


def _make(model_path: Path, data_dir: Path, count: int, seed: int, threads: int, log,
          settings: gen.GenerationSettings) -> SyntheticPair:
    import onnxruntime as ort

    rng = np.random.default_rng(seed)
    log(f"generating a synthetic GPT-J-style model and {count} synthetic articles in {data_dir.parent}")
    vocab_words = words(rng, 300, syllables=(7, 10))  # long words: ~300 characters in 30 tokens (measured)
    # the prompt template's own words are whole tokens too, as they are in GPT-J's vocabulary (prompts of 60-90
    # tokens: each beam-search step runs the whole sequence, so prompt length is generation time)
    template = re.findall(r"[A-Za-z]+", PROMPT_INPUT + " " + INSTRUCTION)
    tok = bpe.write_word_level(data_dir, vocab_words + sorted(set(template)))
    # a raised eos logit ends every beam at the 30-token minimum (about 31 steps of the search, where a bias of 9
    # took 50): ~300 characters of long words, above the ~270 per sample GEN_LEN asks, and quick to generate
    model = tiny_gpt.build(tiny_gpt.GptConfig(vocab_size=len(tok.encoder)), seed=seed, eos_id=tok.eos_id,
                           eos_bias=15.0)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])

    def next_logits(ids, mask, pos):
        return sess.run([tiny_gpt.OUTPUT], {"input_ids": ids, "attention_mask": mask, "position_ids": pos})[0]

    records = []
    for i in range(count):
        sentences = []
        for _ in range(int(rng.integers(1, 4))):  # short articles keep generation quick
            s = " ".join(rng.choice(vocab_words, size=int(rng.integers(4, 9))))
            sentences.append(s[0].upper() + s[1:] + ".")
        article = " ".join(sentences)
        rec = {"instruction": INSTRUCTION, "input": article, "output": ""}
        out = gen.generate(next_logits, tok.encode(prompt(rec)), tok.eos_id, settings)
        rec["output"] = tok.decode(out).strip()
        records.append(rec)
        if (i + 1) % max(1, count // 4) == 0:
            log(f"labelling generated articles: {i + 1}/{count}")
    (data_dir / EVAL_FILE).write_text(json.dumps(records, indent=1, ensure_ascii=False))
    model_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, model_path)
    provenance = {
        "synthetic": True, "kind": "generated",
        "model": f"GPT-J-style decoder, 2 layers, width 64, random weights (seed {seed}); NOT GPT-J 6B",
        "dataset": f"{count} generated articles in the cnn_eval.json layout; summaries are the generated model's "
                   f"own output ({settings.num_beams} beams); NOT CNN/DailyMail",
        "seed": seed, "count": count, "note": "synthetic: proves the pipeline, not a result for publication",
    }
    (data_dir / PROVENANCE).write_text(json.dumps(provenance, indent=2))
    return SyntheticPair(model_path, data_dir, provenance)
