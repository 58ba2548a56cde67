"""A generated multi-hot Criteo day 23 for the generated DLRM-DCNv2, in the official layout.

``<dir>/day_23_dense.npy`` (rows x 13 float32, log(x + 3) of generated counts), ``<dir>/day_23_sparse_multi_hot.npz``
(stored members ``0.npy`` .. ``25.npy``, rows x the official multi-hot sizes, int32 indices into the generated
tables) and ``<dir>/day_23_labels.npy`` (rows x 1 int32). The validation half (the first rows) holds exactly the
rows of ``count`` groups as the reference draws them; the second half is filler the reader skips. Each
validation row's label is whether the generated model's click probability lies above a threshold placed in a
wide gap between its predictions, so an accuracy run scores AUC 100%: it proves that rows, groups, responses
and scoring stay aligned, not that the model predicts clicks.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx

from benchfleet.benchmarks.criteo import official
from benchfleet.benchmarks.criteo.dataset import DENSE_FILE, LABELS_FILE, SPARSE_FILE
from benchfleet.benchmarks.criteo.preprocess import model_inputs, rows_for
from benchfleet.benchmarks.generated import PROVENANCE, SyntheticPair, cached_pair
from benchfleet.cachelock import code_version
from benchfleet.models import tiny_dlrm

MAX_TABLE_ROWS = 500  # the generated tables: the official size where smaller, else this


def generator_version() -> str:
    return code_version("benchfleet.benchmarks.criteo.synthetic", "benchfleet.benchmarks.generated",
                        "benchfleet.models.tiny_dlrm", "benchfleet.models.onnx_build",
                        "benchfleet.benchmarks.criteo.official", "benchfleet.benchmarks.criteo.preprocess")


def config_for(width: int) -> tiny_dlrm.DlrmConfig:
    """Embedding dimension ``width`` (128: the reference's MLP and cross-layer widths) and small tables."""
    return tiny_dlrm.DlrmConfig(official.MULTI_HOT_SIZES,
                                tuple(min(n, MAX_TABLE_ROWS) for n in official.NUM_EMBEDDINGS), dim=max(1, width))


def make_pair(root: Path, count: int = 16, seed: int = 2023, threads: int = 2, log=print, width: int = 8,
              version: str | None = None) -> SyntheticPair:
    """``count`` groups (LoadGen samples) of 100 to 700 rows each."""
    return cached_pair(Path(root) / f"dlrm-w{width}-s{seed}-n{count}", "dlrm_dcnv2_synthetic.onnx",
                       "criteo-synthetic", lambda m, d: _make(m, d, count, seed, threads, log, width),
                       version or generator_version(), log)


def _threshold(p: np.ndarray) -> float:
    """A cut between the 30th and 70th percentile of ``p`` at the widest gap between neighbouring values, so
    that rounding differences between backends do not move a prediction across it."""
    s = np.sort(p.astype(np.float64))
    lo, hi = int(len(s) * 0.3), max(int(len(s) * 0.7), int(len(s) * 0.3) + 1)
    lo, hi = max(lo, 0), min(hi, len(s) - 1)
    gaps = s[lo + 1:hi + 1] - s[lo:hi]
    k = lo + int(np.argmax(gaps))
    return float((s[k] + s[k + 1]) / 2)


def _make(model_path: Path, data_dir: Path, count: int, seed: int, threads: int, log, width: int) -> SyntheticPair:
    rng = np.random.default_rng(seed)
    val_rows = rows_for(count)
    total = 2 * val_rows  # the reader takes the first ceil(total / 2) rows
    log(f"generating a synthetic DLRM-DCNv2 and {count} groups ({val_rows} rows) in the multi-hot Criteo layout "
        f"in {data_dir.parent}")
    cfg = config_for(width)
    dense = np.log(rng.integers(0, 1000, (total, official.DENSE_FEATURES)) + 3).astype(np.float32)
    sparse = {str(k): rng.integers(0, rows, (total, hot), dtype=np.int32)
              for k, (hot, rows) in enumerate(zip(cfg.multi_hot_sizes, cfg.num_embeddings, strict=True))}
    model = tiny_dlrm.build(cfg, seed=seed)
    probs = _predict(model, dense[:val_rows], [sparse[str(k)][:val_rows] for k in range(len(sparse))], threads)
    labels = rng.integers(0, 2, (total, 1), dtype=np.int32)
    labels[:val_rows, 0] = probs > _threshold(probs)
    data_dir.mkdir(parents=True, exist_ok=True)
    np.save(data_dir / DENSE_FILE, dense)
    np.save(data_dir / LABELS_FILE, labels)
    np.savez(data_dir / SPARSE_FILE, **sparse)  # stored, not compressed, as the reference reads it
    model_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, model_path)
    provenance = {
        "synthetic": True, "kind": "generated",
        "model": f"DLRM-DCNv2 architecture, embedding dimension {cfg.dim}, tables of at most {MAX_TABLE_ROWS} rows, "
                 f"random weights (seed {seed}); NOT the MLPerf DLRM-v2",
        "dataset": f"{count} groups ({val_rows} rows) of generated features in the multi-hot Criteo day 23 layout; "
                   "labels are the generated model's own predictions cut at a threshold; NOT Criteo",
        "seed": seed, "count": count, "note": "synthetic: proves the pipeline, not a result for publication",
    }
    (data_dir / PROVENANCE).write_text(json.dumps(provenance, indent=2))
    return SyntheticPair(model_path, data_dir, provenance)


def _predict(model: onnx.ModelProto, dense: np.ndarray, sparse: list[np.ndarray], threads: int) -> np.ndarray:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    out = []
    for start in range(0, len(dense), 4096):
        d, s = model_inputs(dense[start:start + 4096], [a[start:start + 4096] for a in sparse])
        feeds = {tiny_dlrm.INPUTS[0]: d, tiny_dlrm.INPUTS[1]: s.astype(np.int64)}
        out.append(sess.run(list(tiny_dlrm.OUTPUTS), feeds)[0].reshape(-1))
    return np.concatenate(out).astype(np.float32)
