"""A generated LibriSpeech dev-clean for the generated RNN-T, in the official layout.

``<dir>/dev-clean-wav.json`` (the manifest convert_librispeech.py writes: ``files`` with the speed-1 wav's
``fname``, ``duration``, ``num_samples`` ...; ``original_duration``, ``original_num_samples``, ``transcript``)
and ``<dir>/dev-clean-wav/<speaker>/<chapter>/<speaker>-<chapter>-<n>.wav`` (16 kHz mono 16-bit PCM). The audio
is made of tone glides, noise bursts and pauses; each transcript is the generated model's own greedy output on
its features, so an accuracy run scores WER 0: it proves that features, responses and the scorer stay aligned,
not that the model hears. One utterance is longer than the reference's 15 s limit, which its Manifest (and so
LoadGen's sample list and the scorer) leaves out.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx

from benchfleet.benchmarks.generated import PROVENANCE, SyntheticPair, cached_pair
from benchfleet.benchmarks.librispeech.dataset import (
    MANIFEST,
    MAX_DURATION,
    SAMPLE_RATE,
    ids_to_text,
    load_manifest,
    read_wav,
)
from benchfleet.benchmarks.librispeech.preprocess import features
from benchfleet.cachelock import code_version
from benchfleet.models import tiny_rnnt

WAV_DIR = "dev-clean-wav"


def generator_version() -> str:
    return code_version("benchfleet.benchmarks.librispeech.synthetic", "benchfleet.benchmarks.generated",
                        "benchfleet.models.tiny_rnnt", "benchfleet.benchmarks.librispeech.dataset",
                        "benchfleet.benchmarks.librispeech.preprocess")


def make_pair(root: Path, count: int = 64, seed: int = 2023, threads: int = 2, log=print, width: int = 16,
              version: str | None = None) -> SyntheticPair:
    """``count`` utterances LoadGen sees (plus one over 15 s); ``width`` 16: a narrow model for tests; 1024:
    the reference's shape."""
    return cached_pair(Path(root) / f"rnnt-w{width}-s{seed}-n{count}", "rnnt_synthetic.onnx", "librispeech-synthetic",
                       lambda m, d: _make(m, d, count, seed, threads, log, width), version or generator_version(), log)


def _audio(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """Tone glides with harmonics and noise bursts between pauses, as 16-bit PCM values."""
    n = int(seconds * SAMPLE_RATE)
    out = np.zeros(n, dtype=np.float64)
    pos = int(rng.integers(0, SAMPLE_RATE // 10))
    while pos < n:
        length = int(rng.integers(SAMPLE_RATE // 10, SAMPLE_RATE // 2))
        t = np.arange(min(length, n - pos)) / SAMPLE_RATE
        f0, f1 = rng.uniform(90, 300, size=2)
        phase = 2 * np.pi * (f0 * t + (f1 - f0) * t ** 2 / (2 * max(t[-1], 1e-3)))
        seg = sum(rng.uniform(0.1, 0.5) / h * np.sin(h * phase) for h in range(1, 6))
        if rng.random() < 0.3:
            seg = seg + rng.uniform(0.05, 0.2) * rng.standard_normal(t.shape[0])
        seg *= np.hanning(t.shape[0])
        out[pos:pos + t.shape[0]] += seg
        pos += t.shape[0] + int(rng.integers(SAMPLE_RATE // 50, SAMPLE_RATE // 5))
    out += 0.002 * rng.standard_normal(n)
    return np.clip(np.round(out * 0.5 * 32767), -32768, 32767).astype(np.int16)


def _decode(model: onnx.ModelProto, feats: list[np.ndarray | None], threads: int) -> list[list[int] | None]:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return [None if f is None else sess.run(list(tiny_rnnt.OUTPUTS), {
        "features": f[:, None, :], "feature_length": np.array([f.shape[0]], np.int64)})[0].tolist() for f in feats]


def _calibrated(cfg: tiny_rnnt.RnntConfig, seed: int, feats: list[np.ndarray | None], threads: int, log):
    """The generated model with the biases of its blank and of the space moved to where its transcripts of (up
    to 64 of) these features have the most words while it emits at most ``MAX_RATE`` symbols per encoder frame:
    random weights alone emit nothing, or the most symbols (30) at every frame, and seldom a space. Returns the
    model and the transcripts' label ids."""
    from onnx import numpy_helper

    weights = tiny_rnnt.random_weights(cfg, seed)
    model = tiny_rnnt.build(weights, _doc(cfg, seed))
    init = next(t for t in model.graph.initializer if t.name.startswith("joint_b2"))
    base = numpy_helper.to_array(init).copy()
    probe = [f for f in feats if f is not None][:64]
    frames = sum((f.shape[0] + cfg.stack_time - 1) // cfg.stack_time for f in probe)

    def with_bias(blank: float, space: float) -> onnx.ModelProto:
        bias = base.copy()
        bias[cfg.blank] += blank
        bias[0] += space
        init.CopyFrom(numpy_helper.from_array(bias.astype(np.float32), init.name))
        return model

    best = (-1, 0.0, 0.0)
    for space in SPACE_SHIFTS:
        for blank in BLANK_SHIFTS:
            ids = _decode(with_bias(blank, space), probe, threads)
            rate = sum(len(i) for i in ids) / max(frames, 1)
            words = sum(len(ids_to_text(i).split()) for i in ids)
            if rate <= MAX_RATE and words > best[0]:
                best = (words, blank, space)
    model = with_bias(best[1], best[2])
    log(f"generated RNN-T: blank bias {best[1]:+.1f}, space bias {best[2]:+.1f} ({best[0]} words in {len(probe)} "
        "utterances)")
    return model, _decode(model, feats, threads)


BLANK_SHIFTS = np.arange(-12.0, 12.5, 2.0)
SPACE_SHIFTS = (0.0, 5.0, 10.0)
MAX_RATE = 3.0


def _doc(cfg: tiny_rnnt.RnntConfig, seed: int) -> str:
    return (f"benchfleet generated RNN-T (SYNTHETIC weights, seed {seed}, blank bias calibrated): encoder "
            f"{cfg.pre_layers}+{cfg.post_layers} LSTM x {cfg.encoder_hidden}, prediction {cfg.pred_layers} LSTM x "
            f"{cfg.pred_hidden}, joint {cfg.joint_hidden}, {cfg.classes} classes; greedy decoding in the graph")


def _make(model_path: Path, data_dir: Path, count: int, seed: int, threads: int, log, width: int) -> SyntheticPair:
    import soundfile

    rng = np.random.default_rng(seed)
    log(f"generating a synthetic RNN-T and {count} synthetic utterances in {data_dir.parent}")
    cfg = tiny_rnnt.config_for(width)
    long_at = int(rng.integers(0, count + 1))  # where the utterance over 15 s goes
    entries, feats = [], []
    for k in range(count + 1):
        speaker, chapter = 1000 + k % 7, 20000 + k % 3
        rel = f"{WAV_DIR}/{speaker}/{chapter}/{speaker}-{chapter}-{k:04d}.wav"
        seconds = MAX_DURATION + 0.5 if k == long_at else float(rng.uniform(0.4, 1.5))
        pcm = _audio(rng, seconds)
        path = data_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(str(path), pcm, SAMPLE_RATE, subtype="PCM_16")
        duration = pcm.shape[0] / SAMPLE_RATE
        info = {"channels": 1, "sample_rate": float(SAMPLE_RATE), "bitrate": 16, "duration": duration,
                "num_samples": int(pcm.shape[0]), "encoding": "Signed Integer PCM", "silent": False, "fname": rel,
                "speed": 1}
        entries.append({"files": [info], "original_duration": duration, "original_num_samples": int(pcm.shape[0]),
                        "transcript": "silence"})
        # what the harness computes of the file, read back
        feats.append(None if k == long_at else features(read_wav(path)))
    model, ids = _calibrated(cfg, seed, feats, threads, log)
    for entry, label_ids in zip(entries, ids, strict=True):
        if label_ids is not None:
            entry["transcript"] = " ".join(ids_to_text(label_ids).split())
    (data_dir / MANIFEST).write_text(json.dumps(entries, indent=2))
    kept = load_manifest(data_dir)
    words = sum(len(u.transcript.split()) for u in kept)
    if len(kept) != count or not words:
        raise RuntimeError(f"synthetic librispeech: {len(kept)} utterances kept of {count}, {words} words; the "
                           "generated model's transcripts must have words for a word error rate")
    model_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, model_path)
    provenance = {
        "synthetic": True, "kind": "generated",
        "model": f"RNN-T architecture, encoder {cfg.pre_layers}+{cfg.post_layers} LSTM x {cfg.encoder_hidden}, "
                 f"prediction {cfg.pred_layers} LSTM x {cfg.pred_hidden}, joint {cfg.joint_hidden}, random weights "
                 f"(seed {seed}); NOT the MLPerf RNN-T",
        "dataset": f"{count} generated utterances in the LibriSpeech dev-clean-wav layout; transcripts are the "
                   "generated model's own greedy outputs; NOT LibriSpeech",
        "seed": seed, "count": count, "words": words,
        "note": "synthetic: proves the pipeline, not a result for publication",
    }
    (data_dir / PROVENANCE).write_text(json.dumps(provenance, indent=2))
    return SyntheticPair(model_path, data_dir, provenance)
