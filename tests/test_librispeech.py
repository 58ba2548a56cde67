"""RNN-T on LibriSpeech (rnnt): transcript normalization, WER, features, the greedy decoder graph, and an accuracy
run of the generated pair through the harness."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from benchfleet.benchmarks.librispeech import dataset, preprocess, scorer
from benchfleet.rules import get_round
from tests.conftest import tiny_spec

# --- WER (pytorch/metrics.py word_error_rate and its Levenshtein) ------------------------------------------


@pytest.mark.parametrize(("a", "b", "d"), [
    ([], [], 0), ([], ["a", "b"], 2), (["a", "b"], [], 2), (["a", "b", "c"], ["a", "c"], 1),
    (["the", "cat", "sat"], ["the", "dog", "sat", "down"], 2), (["a", "b"], ["b", "a"], 2),
    (["kitten"], ["sitting"], 1), (["x", "y", "z"], ["y", "z", "x"], 2),
])
def test_levenshtein_on_words(a, b, d):
    assert scorer.levenshtein(a, b) == d
    assert scorer.levenshtein(b, a) == d


def test_wer_sums_edits_and_reference_words_over_all_utterances():
    # edits 2 + 0 + 3 (empty hypothesis) over 4 + 1 + 3 reference words
    hyps = ["the cat sat", "hello", ""]
    refs = ["the dog sat down", "hello", "a b c"]
    wer, edits, words = scorer.word_error_rate(hyps, refs)
    assert (edits, words) == (5, 8) and wer == 5 / 8
    # whitespace splits as str.split(): repeated and edge spaces make no words
    assert scorer.word_error_rate(["  a   b "], ["a b"])[:2] == (0.0, 0)
    assert scorer.word_error_rate(["a"], [""])[0] == float("inf")
    with pytest.raises(ValueError):
        scorer.word_error_rate(["a"], [])


def test_accuracy_line_is_what_the_checker_reads():
    line = scorer.accuracy_line(5 / 8)
    assert line == "Word Error Rate: 62.5%, accuracy=37.5%"
    rule = get_round("v3.1").benchmark("rnnt")
    assert float(re.search(rule.accuracy_pattern, line).group(1)) == 37.5
    assert scorer.accuracy_line(0.0) == "Word Error Rate: 0.0%, accuracy=100.0%"
    # Python's str() of the floats, as accuracy_eval.py's "{:}" formats them
    assert scorer.accuracy_line(1 / 3) == f"Word Error Rate: {1 / 3 * 100}%, accuracy={(1 - 1 / 3) * 100}%"


# --- transcripts (parts/manifest.py normalize_string with english_cleaners) ---------------------------------


@pytest.mark.parametrize(("raw", "norm"), [
    ("HE WAS IN A FEVERED STATE OF MIND OWING TO HIS WIFE'S ACTION",
     "he was in a fevered state of mind owing to his wife's action"),
    ("  Mr. Smith & Mrs. Jones + Dr. Who, St. Paul's!  ", "mister smith and misess jones plus doctor who saint paul's"),
    ("tab\there\nnew-line (x) [y]", "tab here new line x y"),
    ("Café naïve", "cafe naive"),
    ("call me at 8:00 pm!", "call me at eight zero zero pm"),
    ("in 1999, the 21st", "in nineteen ninety nine the twenty first"),
])
def test_transcript_normalization(raw, norm):
    assert dataset.normalize_transcript(raw) == norm


def test_label_ids_round_trip_and_refuse_other_ids():
    ids = dataset.transcript_ids("it's a b")
    assert ids == [9, 20, 27, 19, 0, 1, 0, 2]
    assert dataset.ids_to_text(ids) == "it's a b"
    with pytest.raises(ValueError):
        dataset.ids_to_text([dataset.BLANK])


def _manifest(folder: Path, rows: list[tuple[float, str]]) -> None:
    entries = [{"files": [{"fname": f"dev-clean-wav/1/2/1-2-{k}.wav", "speed": 1, "duration": d}],
                "original_duration": d, "original_num_samples": int(d * 16000), "transcript": t}
               for k, (d, t) in enumerate(rows)]
    (folder / dataset.MANIFEST).write_text(json.dumps(entries))


def test_score_log_reads_int64_ids_against_the_filtered_manifest(tmp_path):
    # the second utterance is over 15 s: the reference's Manifest drops it, so qsl_idx 1 is the third
    _manifest(tmp_path, [(3.0, "HELLO WORLD"), (15.5, "too long"), (15.0, "a b c")])
    kept = dataset.load_manifest(tmp_path)
    assert [u.transcript for u in kept] == ["hello world", "a b c"]
    assert kept[1].wav == tmp_path / "dev-clean-wav/1/2/1-2-2.wav"

    def entry(idx: int, text: str) -> dict:
        return {"qsl_idx": idx, "data": np.array(dataset.transcript_ids(text), "<i8").tobytes().hex().upper()}

    s = scorer.score_log([entry(0, "hello word"), entry(1, "a b c")], tmp_path)
    assert (s["edits"], s["words"], s["wer"]) == (1, 5, 0.2) and s["accuracy"] == pytest.approx(80.0)
    assert scorer.score_log([{"qsl_idx": 1, "data": ""}], tmp_path)["wer"] == 1.0  # nothing decoded


# --- features (parts/features.py FilterbankFeatures, configs/rnnt.toml) -----------------------------------


def test_feature_lengths_are_the_references_seq_len():
    # ceil(ceil(n / 160) / 3)
    assert [preprocess.feature_length(n) for n in (257, 480, 481, 16000, 16001, 240000)] == [1, 1, 2, 34, 34, 500]


def test_mel_filterbank_is_librosas():
    import librosa
    ref = librosa.filters.mel(sr=16000, n_fft=512, n_mels=80, fmin=0, fmax=8000)
    np.testing.assert_allclose(preprocess.mel_filterbank(), ref, rtol=0, atol=1e-9)


def _features_f64(w: np.ndarray) -> np.ndarray:
    """The reference's featurization written out in float64 numpy (a second, independent implementation)."""
    x = w.astype(np.float64)
    x = np.concatenate([x[:1], x[1:] - 0.97 * x[:-1]])
    x = np.pad(x, (256, 256), mode="reflect")
    n = np.arange(320)
    win = np.zeros(512)
    win[96:416] = 0.5 - 0.5 * np.cos(2 * np.pi * n / 319)
    frames = 1 + (x.shape[0] - 512) // 160
    spec = np.fft.rfft(np.stack([x[160 * t:160 * t + 512] * win for t in range(frames)]), axis=1)
    power = np.abs(spec) ** 2 + 1e-10
    logmel = np.log(power @ preprocess.mel_filterbank().astype(np.float64).T + 1e-20)
    spliced = np.concatenate([logmel, np.vstack([logmel[1:], np.zeros((1, 80))]),
                              np.vstack([logmel[2:], np.zeros((2, 80))])], axis=1)[::3]
    valid = spliced[:preprocess.feature_length(w.shape[0])]
    return (valid - valid.mean(0)) / (valid.std(0, ddof=1) + 1e-5)


@pytest.mark.parametrize("n", [1000, 16001, 4800])
def test_features_match_a_float64_rewrite(n):
    # white noise: every mel band is far above the float32 rounding of the FFT (weak bands amplify it)
    w = (np.random.default_rng(n).standard_normal(n) * 0.1).astype(np.float32)
    got = preprocess.features(w)
    assert got.shape == (preprocess.feature_length(n), 240) and got.dtype == np.float32
    np.testing.assert_allclose(got, _features_f64(w), rtol=0, atol=2e-4)
    # per-feature normalisation over the valid frames: mean 0, unbiased std 1 (less the 1e-5 guard)
    np.testing.assert_allclose(got.mean(0), 0, atol=2e-4)
    np.testing.assert_allclose(got.std(0, ddof=1), 1, atol=1e-3)


def test_feature_rows_keep_each_utterances_length():
    a, b = np.ones((3, 240), np.float32), np.full((5, 240), 2, np.float32)
    rows = preprocess.feature_rows([a, b])
    assert rows.shape == (2, 6, 240) and rows[0, 0, 0] == 3 and rows[1, 0, 0] == 5
    np.testing.assert_array_equal(preprocess.split_row(rows[0]), a)
    np.testing.assert_array_equal(preprocess.split_row(rows[1]), b)


# --- the greedy decoder graph (pytorch/decoders.py ScriptGreedyDecoder) -------------------------------------


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _lstm(w: dict, prefix: str, layers: int, x: np.ndarray, state=None):
    """torch.nn.LSTM in numpy (gates i, f, g, o); x (T, H_in); state: per-layer (h, c) or None (zeros)."""
    out_state = []
    for layer in range(layers):
        wi, wh = w[f"{prefix}.weight_ih_l{layer}"], w[f"{prefix}.weight_hh_l{layer}"]
        b = w[f"{prefix}.bias_ih_l{layer}"] + w[f"{prefix}.bias_hh_l{layer}"]
        hid = wh.shape[1]
        h, c = state[layer] if state else (np.zeros(hid), np.zeros(hid))
        ys = []
        for t in range(x.shape[0]):
            z = wi @ x[t] + wh @ h + b
            i, f, g, o = _sigmoid(z[:hid]), _sigmoid(z[hid:2 * hid]), np.tanh(z[2 * hid:3 * hid]), _sigmoid(z[3 * hid:])
            c = f * c + i * g
            h = o * np.tanh(c)
            ys.append(h)
        x = np.stack(ys)
        out_state.append((h, c))
    return x, out_state


def _greedy(w: dict, cfg, feats: np.ndarray) -> list[int]:
    """The reference's encoder (stack time 2) and ScriptGreedyDecoder (max 30 symbols a frame) in numpy."""
    x, _ = _lstm(w, "encoder.pre_rnn.lstm", cfg.pre_layers, feats.astype(np.float64))
    if x.shape[0] % 2:
        x = np.vstack([x, np.zeros((1, x.shape[1]))])
    x = x.reshape(-1, 2 * x.shape[1])
    enc, _ = _lstm(w, "encoder.post_rnn.lstm", cfg.post_layers, x)
    labels: list[int] = []
    hidden = None
    for t in range((feats.shape[0] + 1) // 2):
        for _ in range(30):
            y = np.zeros((1, cfg.pred_hidden)) if not labels else w["prediction.embed.weight"][[labels[-1]]]
            g, hidden_prime = _lstm(w, "prediction.dec_rnn.lstm", cfg.pred_layers, y, hidden)
            z = np.maximum(w["joint.net.0.weight"] @ np.concatenate([enc[t], g[0]]) + w["joint.net.0.bias"], 0)
            k = int(np.argmax(w["joint.net.3.weight"] @ z + w["joint.net.3.bias"]))
            if k == cfg.blank:
                break
            labels.append(k)
            hidden = hidden_prime
    return labels


def test_the_graph_decodes_as_the_references_greedy_decoder():
    import onnxruntime as ort

    from benchfleet.models import tiny_rnnt

    cfg = tiny_rnnt.config_for(8)
    seen = {"empty": 0, "capped": 0, "some": 0}
    for seed, shift in ((0, -12.0), (1, -8.0), (2, -4.0), (3, 0.0), (4, 4.0)):
        w = tiny_rnnt.random_weights(cfg, seed)
        w["joint.net.3.bias"][cfg.blank] += shift
        sess = ort.InferenceSession(tiny_rnnt.build(w).SerializeToString(), providers=["CPUExecutionProvider"])
        rng = np.random.default_rng(seed)
        for frames in (1, 4, 9):
            feats = rng.standard_normal((frames, 240)).astype(np.float32)
            got = sess.run(["labels"], {"features": feats[:, None, :], "feature_length": np.array([frames])})[0]
            want = _greedy(w, cfg, feats)
            assert got.dtype == np.int64 and got.tolist() == want, (seed, frames)
            steps = (frames + 1) // 2
            seen["empty" if not want else "capped" if len(want) == 30 * steps else "some"] += 1
    assert all(seen.values()), seen  # blanks at once, 30 symbols a frame, and mixed


# --- the generated pair through the harness -------------------------------------------------------------------


def test_generated_pair_scores_wer_zero_through_the_harness(cache_dir, tmp_path):
    from benchfleet.harness.accuracy import read_accuracy_log
    from benchfleet.harness.run import Harness

    meta = Harness(tiny_spec(cache_dir, benchmark="rnnt", dataset_count=8, synthetic_width=16,
                             scenarios=["SingleStream"], threads=1), tmp_path, log=lambda m: None).run()
    text = (tmp_path / "SingleStream" / "accuracy" / "accuracy.txt").read_text()
    assert text.startswith("Word Error Rate: 0.0%, accuracy=100.0%\n")
    rule = get_round("v3.1").benchmark("rnnt")
    assert float(re.search(rule.accuracy_pattern, text).group(1)) == 100.0
    acc = meta["scenarios"][0]
    assert acc["scenario"] == "SingleStream" and acc["accuracy"] == 100.0
    assert acc["accuracy_details"]["reference_words"] > 0
    # the generated set has a 9th utterance over 15 s, which LoadGen never sees
    entries = read_accuracy_log(tmp_path / "SingleStream" / "full_logs" / "mlperf_log_accuracy.json")
    assert sorted(e["qsl_idx"] for e in entries) == list(range(8))
    manifest = next((cache_dir / "synthetic").glob("rnnt-w16-*/librispeech-synthetic")) / dataset.MANIFEST
    assert len(json.loads(manifest.read_text())) == 9
    # the checker's and the controller's rescoring from the copied manifest alone
    from benchfleet.benchmarks.registry import task

    folder = tmp_path / "rescore"
    folder.mkdir()
    (folder / dataset.MANIFEST).write_text(manifest.read_text())
    assert task("librispeech").rescore(entries, folder) == 100.0
    # one wrong response is seen: a word of the first non-empty transcript dropped
    kept = dataset.load_manifest(manifest.parent)
    k = next(i for i, u in enumerate(kept) if u.transcript)
    bad = [dict(e, data="") if e["qsl_idx"] == k else e for e in entries]
    assert task("librispeech").rescore(bad, folder) < 100.0


def test_a_checkpoint_in_the_references_layout_converts_to_the_same_graph(tmp_path):
    import onnxruntime as ort
    import torch

    from benchfleet.models import tiny_rnnt

    cfg = tiny_rnnt.config_for(8)
    w = tiny_rnnt.random_weights(cfg, 5)
    # as the published checkpoint holds it: "joint_net" names and the featurizer's buffers beside the model's
    state = {k.replace("joint.net", "joint_net"): torch.from_numpy(v) for k, v in w.items()}
    state["audio_preprocessor.featurizer.fb"] = torch.zeros(1, 80, 257)
    state["audio_preprocessor.featurizer.window"] = torch.zeros(320)
    torch.save({"state_dict": state, "epoch": 100}, tmp_path / "rnnt.pt")
    tiny_rnnt.convert_checkpoint(str(tmp_path / "rnnt.pt"), str(tmp_path / "rnnt.onnx"))
    assert tiny_rnnt.config_of(w) == cfg
    feats = np.random.default_rng(0).standard_normal((9, 1, 240)).astype(np.float32)
    feeds = {"features": feats, "feature_length": np.array([9])}
    got = ort.InferenceSession(str(tmp_path / "rnnt.onnx"), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    assert got.tolist() == _greedy(w, cfg, feats[:, 0])
