"""BERT and GPT-J building blocks: tokenizers, SQuAD featurization and post-processing, beam search,
ROUGE, and the generated TFLite models.

Expected values are worked by hand in the comments, or taken from the published implementation
(rouge-score, the library the reference's ``evaluate`` rouge calls) on the same texts.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchfleet.benchmarks.cnndm import generate as gen
from benchfleet.benchmarks.cnndm import rouge
from benchfleet.benchmarks.squad import dataset as squad_data
from benchfleet.benchmarks.squad import preprocess as squad_prep
from benchfleet.benchmarks.squad import scorer as squad
from benchfleet.text import bpe
from benchfleet.text.wordpiece import BasicTokenizer, FullTokenizer, WordpieceTokenizer


def _vocab_file(tmp_path, tokens):
    p = tmp_path / "vocab.txt"
    p.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *tokens]) + "\n")
    return p


def test_basic_tokenizer_lowercases_strips_accents_and_splits_punctuation():
    assert BasicTokenizer().tokenize(" \tHeLLo!how  \n Are yoU?  ") == ["hello", "!", "how", "are", "you", "?"]
    assert BasicTokenizer().tokenize("Héllo Zürich's") == ["hello", "zurich", "'", "s"]
    assert BasicTokenizer(do_lower_case=False).tokenize("HeLLo") == ["HeLLo"]


def test_wordpiece_longest_match_first_and_unknown_words():
    # The example of BERT's own documentation: "unaffable" -> un ##aff ##able
    vocab = {t: i for i, t in enumerate(["[UNK]", "un", "##aff", "##able", "runn", "##ing", "want", "##want"])}
    wp = WordpieceTokenizer(vocab)
    assert wp.tokenize("unaffable running unwantedx") == ["un", "##aff", "##able", "runn", "##ing", "[UNK]"]


def test_featurization_windows_and_max_context(tmp_path):
    words = [f"w{i}" for i in range(20)]
    tok = FullTokenizer(_vocab_file(tmp_path, ["q", *words]))
    data = [{"title": "t", "paragraphs": [{"context": " ".join(words), "qas": [
        {"id": "a", "question": "q q", "answers": [{"text": "w3", "answer_start": 9}]}]}]}]
    ex = squad_data.read_examples(data)
    # max_seq_length 12: [CLS] q q [SEP] + 7 doc tokens + [SEP]; doc_stride 4 -> windows start 0, 4, 8, 12
    # (12..18 does not reach the end) and 16 (16..19, the last 4 tokens)
    feats = squad_prep.convert_examples(ex, tok, max_seq_length=12, doc_stride=4, max_query_length=64)
    assert [f.token_to_orig_map[4] for f in feats] == [0, 4, 8, 12, 16]
    assert feats[0].tokens[:5] == ["[CLS]", "q", "q", "[SEP]", "w0"] and feats[-1].tokens[-1] == "[SEP]"
    assert feats[0].segment_ids[:6] == [0, 0, 0, 0, 1, 1]
    assert feats[-1].input_mask.count(1) == 4 + 4 + 1  # last window holds w16..w19
    # w5 (doc position 5) is in windows 0 (offset 5 of 0..6) and 1 (offset 1 of 4..10):
    # score min(5, 1) + 0.07 = 1.07 vs min(1, 5) + 0.07 = 1.07 -> the first wins ties
    assert feats[0].token_is_max_context[4 + 5] and not feats[1].token_is_max_context[4 + 1]
    # w6: window 0 min(6, 0) = 0; window 1 min(2, 4) = 2 -> window 1
    assert feats[1].token_is_max_context[4 + 2] and not feats[0].token_is_max_context[4 + 6]
    assert all(len(f.input_ids) == 12 for f in feats)
    assert feats[0].unique_id == squad_prep.FIRST_UNIQUE_ID and feats[1].unique_id == squad_prep.FIRST_UNIQUE_ID + 1


def test_final_text_projects_back_onto_the_original_words():
    # The reference's own example: prediction "steve smith" on "Steve Smith's" -> "Steve Smith"
    assert squad.final_text("steve smith", "Steve Smith's") == "Steve Smith"
    assert squad.final_text("nowhere", "Steve Smith's") == "Steve Smith's"


def test_predictions_pick_the_best_valid_span(tmp_path):
    words = ["the", "cat", "sat", "on", "mat"]
    tok = FullTokenizer(_vocab_file(tmp_path, ["where", *words]))
    data = [{"title": "t", "paragraphs": [{"context": "The cat sat on the mat.", "qas": [
        {"id": "x", "question": "where", "answers": [{"text": "on the mat", "answer_start": 12}]}]}]}]
    ex = squad_data.read_examples(data)
    feats = squad_prep.convert_examples(ex, tok)
    logits = np.full((384, 2), -5.0, np.float32)
    # tokens: [CLS] where [SEP] the cat sat on the mat [UNK](.) ... -> "on"=6, "mat"=8
    logits[6, 0], logits[8, 1] = 4.0, 4.0
    logits[0, 0], logits[0, 1] = 9.0, 9.0  # [CLS] is not in the context: never an answer
    logits[8, 0], logits[6, 1] = 3.0, 3.0  # end before start: skipped
    pred = squad.predictions(ex, feats, {0: logits})
    assert pred == {"x": "on the mat"}
    assert squad.evaluate(data, pred) == {"exact_match": 100.0, "f1": 100.0}
    assert squad.predictions(ex, feats, {}) == {"x": "empty"}
    assert squad.accuracy_line({"exact_match": 50.0, "f1": 75.5}) == '{"exact_match": 50.0, "f1": 75.5}'


def test_rouge_hand_worked():
    # "the cat sat" vs "the cat sat on the mat": unigrams 3/3 and 3/6 -> F 2/3; bigrams 2/2 and 2/5 ->
    # F 4/7; LCS 3 -> as unigrams. Then mean x 100 rounded to 4 places.
    r = rouge.score(["the cat sat"], ["the cat sat on the mat"])
    assert r == {"rouge1": 66.6667, "rouge2": 57.1429, "rougeL": 66.6667, "gen_len": 11, "gen_num": 1}
    assert all(type(v) in (float, int) for v in r.values())  # plain numbers (contract §0.6)
    line = rouge.accuracy_line(r)
    assert line == "{'rouge1': 66.6667, 'rouge2': 57.1429, 'rougeL': 66.6667, 'gen_len': 11, 'gen_num': 1}"
    assert rouge.tokenize("Running, RUNS!") == ["run", "run"]  # stemmed, lower case, punctuation dropped


def test_rouge_matches_the_published_implementation():
    from rouge_score import rouge_scorer  # the test extra; see pyproject
    preds = ["The cats were running quickly to the houses, said officials on Monday.",
             "Police arrested 3 men after the robbery in London.", "", "Completely different words here",
             "A storm hit the coast; thousands lost power and schools closed early."]
    targets = ["Officials said cats ran quickly to houses on Monday.",
               "Three men were arrested by police following a London robbery.", "Something", "nothing shared",
               "Thousands lost power after a storm hit the coast. Schools closed."]
    ours = rouge.score(preds, targets)
    sc = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    for key in ("rouge1", "rouge2", "rougeL"):
        ref = round(float(np.mean([sc.score(t, p)[key].fmeasure for p, t in zip(preds, targets, strict=True)]))
                    * 100, 4)
        assert ours[key] == ref, key
    assert ours["gen_len"] == sum(len(p) for p in preds)


def _table_logits(table: dict[tuple[int, ...], dict[int, float]], vocab: int):
    """next_logits from a table: generated suffix -> {token: log prob}; the rest get -30."""
    def fn(ids, mask, pos):
        out = np.full((ids.shape[0], vocab), -30.0)
        for b in range(ids.shape[0]):
            for tok, lp in table.get(tuple(ids[b, 1:].tolist()), {}).items():
                out[b, tok] = lp
        return out
    return fn


def test_beam_search_finds_what_greedy_misses():
    eos = 0
    # greedy takes 1 (p .6) then is stuck with 0.3s; beam keeps 2 (p .4) whose continuation is certain.
    table = {(): {1: np.log(0.6), 2: np.log(0.4)},
             (1,): {3: np.log(0.3), 4: np.log(0.3), eos: np.log(0.4)},
             (2,): {5: np.log(0.99), eos: np.log(0.01)},
             (1, 3): {eos: 0.0}, (1, 4): {eos: 0.0}, (2, 5): {eos: 0.0}}
    fn = _table_logits(table, 6)
    greedy = gen.generate(fn, [9], eos, gen.GenerationSettings(num_beams=1, max_new_tokens=5, min_new_tokens=0))
    beam = gen.generate(fn, [9], eos, gen.GenerationSettings(num_beams=2, max_new_tokens=5, min_new_tokens=0))
    assert greedy == [1, 0]
    assert beam == [2, 5, eos]
    # min_new_tokens forbids eos: the first two tokens can never end the text
    forced = gen.generate(fn, [9], eos, gen.GenerationSettings(num_beams=2, max_new_tokens=3, min_new_tokens=2))
    assert forced[:2] in ([2, 5], [1, 3], [1, 4]) and eos not in forced[:2]


def test_byte_bpe_round_trip_and_word_tokens(tmp_path):
    bpe.write_word_level(tmp_path, ["hello", "world"])
    again = bpe.ByteBPE.load(tmp_path)
    ids = again.encode("hello world")
    assert len(ids) == 2 and again.decode(ids) == "hello world"  # one token per word (" world" with its space)
    text = "Zürich naïve 日本 hello!"
    assert again.decode(again.encode(text)) == text  # every byte is a token: any text round-trips
    assert again.decode([*ids, again.eos_id]) == "hello world"  # special tokens skipped


def test_generated_tflite_models_run_on_litert(tmp_path):
    from benchfleet.backends import make_backend
    from benchfleet.benchmarks import registry
    from benchfleet.benchmarks.imagenet import synthetic_tflite as tiny_tflite

    for name in ("mobilenet-v1-1.0-224-tflite", "efficientnet-lite0-tflite"):
        entry = registry.REGISTRY[name]
        path = tmp_path / f"{name}.tflite"
        path.write_bytes(tiny_tflite.build(name.split("-")[0], entry.input_name, entry.output_name, seed=1))
        be = make_backend("tflite", str(path), threads=1)
        x = np.random.default_rng(0).uniform(-1, 1, (3, 224, 224, 3)).astype(np.float32)
        probs = be.run({entry.input_name: x}, [entry.output_name])[0]
        assert probs.shape == (3, 1001) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
        one = be.run({entry.input_name: x[1:2]}, [entry.output_name])[0]  # batch resized down
        assert np.allclose(one[0], probs[1], atol=1e-5)
    with pytest.raises(ValueError, match="tflite runs on cpu"):
        make_backend("tflite", str(path), device="cuda")


def test_tokenizers_match_the_published_implementations(tmp_path):
    """Our WordPiece and byte-level BPE against Hugging Face ``tokenizers`` (the Rust implementations the
    reference's transformers tokenizers share) on text with accents, punctuation, CJK, unknown words."""
    import tokenizers as hf

    from benchfleet.benchmarks.generated import words

    rng = np.random.default_rng(5)
    vocab = words(rng, 300)
    text = " ".join(["Héllo, wörld! It's", *rng.choice(vocab, 40).tolist(), "naïve café (x-ray) 日本語",
                     *[w + "ing" for w in vocab[:5]], "unknownzzz", "a.b,c", "\t tabs\nnewline", "$5.00"])
    vfile = _vocab_file(tmp_path, [".", ",", "!", "'", "(", ")", "-", "$", "5", "0", "日", "本", "語", "s", "it",
                                   "hello", "world", "naive", "cafe", "x", "ray", "a", "b", "c", "tabs", "newline",
                                   *vocab, "##ing", "##s", "##ed"])
    ours = FullTokenizer(vfile).tokenize(text)
    theirs = hf.BertWordPieceTokenizer(str(vfile), lowercase=True).encode(text, add_special_tokens=False).tokens
    assert ours == theirs and "[UNK]" in ours and "##ing" in ours

    bpe.write_word_level(tmp_path / "gpt", vocab[:50])
    ours_bpe = bpe.ByteBPE.load(tmp_path / "gpt")
    ref = hf.ByteLevelBPETokenizer(str(tmp_path / "gpt" / "vocab.json"), str(tmp_path / "gpt" / "merges.txt"))
    for t in (text, "  two  spaces and 'll 've ’quotes’ 123 4567", summarize_prompt()):
        assert ours_bpe.encode(t) == ref.encode(t).ids


def summarize_prompt() -> str:
    from benchfleet.benchmarks.cnndm.preprocess import INSTRUCTION, prompt

    return prompt({"instruction": INSTRUCTION, "input": "Police said on Monday: 3 men were arrested."})
