"""DLRM-v2 on the multi-hot Criteo day 23: ROC AUC against hand-worked cases and sklearn, the accuracy line of
accuracy-dlrm.py, the reference's grouping of rows into samples, the reader of the official layout, and an
accuracy run of the generated pair through the harness."""

from __future__ import annotations

import hashlib
import json
import zipfile

import numpy as np
import pytest
from conftest import tiny_spec

from benchfleet.benchmarks.criteo import official, preprocess, scorer
from benchfleet.benchmarks.criteo.dataset import DENSE_FILE, LABELS_FILE, SPARSE_FILE, Day23
from benchfleet.harness.run import Harness


@pytest.mark.parametrize(("targets", "scores", "auc"), [
    # 4 (positive, negative) pairs: (0.35 > 0.1), (0.35 < 0.4), (0.8 > 0.1), (0.8 > 0.4) -> 3/4
    ([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], 0.75),
    # a tie between a positive and a negative counts one half
    ([0, 1], [0.5, 0.5], 0.5),
    # positives 0.2, 0.9, 0.6; negatives 0.2, 0.6: 0.5 + 0 + 1 + 1 + 1 + 0.5 = 4 of 6 pairs
    ([0, 1, 1, 0, 1], [0.2, 0.2, 0.9, 0.6, 0.6], 4 / 6),
    # every positive below every negative
    ([1.0, 1.0, 0.0], [0.1, 0.2, 0.3], 0.0),
])
def test_auc_by_hand(targets, scores, auc):
    assert scorer.roc_auc(np.array(targets), np.array(scores, np.float32)) == pytest.approx(auc, abs=1e-12)


def test_auc_equals_sklearn_with_ties():
    import sklearn.metrics as metrics
    rng = np.random.default_rng(5)
    for n in (7, 100, 5000):
        y = rng.integers(0, 2, n).astype(np.float32)
        s = (np.round(rng.random(n) * 20) / 20).astype(np.float32)  # many ties
        assert scorer.roc_auc(y, s) == pytest.approx(metrics.roc_auc_score(y, s), abs=1e-12)


def test_auc_needs_both_classes():
    with pytest.raises(ValueError, match="both classes"):
        scorer.roc_auc(np.ones(3), np.array([0.1, 0.2, 0.3]))


def _entry(idx: int, pairs: list[tuple[float, float]]) -> dict:
    return {"qsl_idx": idx, "seq_id": idx, "data": np.array(pairs, np.float32).tobytes().hex().upper()}


def test_log_scores_as_accuracy_dlrm_prints_it():
    # sample 0: rows (0.9, 1), (0.2, 0); sample 1: (0.6, 0), (0.4, 1), (0.5, 0); sample 0 again is ignored
    entries = [_entry(1, [(0.6, 0), (0.4, 1), (0.5, 0)]), _entry(0, [(0.9, 1), (0.2, 0)]), _entry(0, [(0.0, 1)])]
    s = scorer.score_log(entries, [2, 3])
    # positives 0.9, 0.4; negatives 0.2, 0.6, 0.5: 0.9 beats 3, 0.4 beats 1 -> 4 of 6
    assert s["roc_auc"] == pytest.approx(4 / 6, abs=1e-7)
    # rounded predictions 1, 0, 1, 0, 0 (0.5 rounds half to even) against 1, 0, 0, 1, 0 -> 3 of 5
    assert (s["good"], s["total"], s["queries"]) == (3, 5, 2)
    assert scorer.accuracy_line(s) == "AUC=66.667%, accuracy=60.000%, good=3, total=5, queries=2"


def test_a_response_short_of_its_group_is_refused():
    with pytest.raises(ValueError, match="sample 0 answers 1 rows; its group has 2"):
        scorer.score_log([_entry(0, [(0.9, 1)]), _entry(1, [(0.1, 0)])], [2, 1])


# The reference's tools/dist_trace_verification.txt: the first 100 groups with seed 123 and dist_quantile.txt
TRACE_SIZES = [100 * int(d) for d in "22225721153213137321425222234222212122222122226232"
                                     "22274232221226526517224522222222272232722253222132"]


def test_groups_follow_the_reference_trace():
    rows = preprocess.rows_for(100)
    assert rows == sum(TRACE_SIZES) == 27000
    offsets = preprocess.group_offsets(rows)
    assert list(np.diff(offsets)) == TRACE_SIZES
    text = preprocess.trace_text(offsets, 3)
    assert text == "0, 200, 200\n200, 400, 200\n400, 600, 200\n"
    assert preprocess.trace_sizes(text) == [200, 200, 200]
    # the last group is cut where the rows end
    cut = preprocess.group_offsets(1000)
    assert list(cut) == [0, 200, 400, 600, 800, 1000]


def test_groups_of_the_official_rows_are_the_published_trace():
    """The whole validation half: the trace md5 the reference README publishes (Zenodo record 3941795)."""
    offsets = preprocess.group_offsets(official.VALIDATION_ROWS)
    assert len(offsets) - 1 == official.GROUPS
    text = preprocess.trace_text(offsets, official.GROUPS)
    assert hashlib.md5(text.encode()).hexdigest() == official.TRACE_MD5
    assert text.endswith("89137200, 89137300, 100\n89137300, 89137319, 19\n")  # the last group is cut


def _write_day(folder, total: int, compressed: bool = False):
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    dense = rng.random((total, 13), dtype=np.float32)
    labels = rng.integers(0, 2, (total, 1), dtype=np.int32)
    sparse = {str(k): rng.integers(0, 1000, (total, h), dtype=np.int32)
              for k, h in enumerate(official.MULTI_HOT_SIZES)}
    np.save(folder / DENSE_FILE, dense)
    np.save(folder / LABELS_FILE, labels)
    (np.savez_compressed if compressed else np.savez)(folder / SPARSE_FILE, **sparse)
    return dense, sparse, labels


def test_reader_takes_rows_of_the_first_half(tmp_path):
    dense, sparse, labels = _write_day(tmp_path, 11)
    day = Day23(tmp_path)
    assert (day.total_rows, day.rows) == (11, 6)  # ceil(11 / 2)
    assert day.multi_hot_sizes == official.MULTI_HOT_SIZES
    d, s, lab = day.read(2, 5)
    assert np.array_equal(d, dense[2:5]) and np.array_equal(lab, labels[2:5, 0])
    for k in range(26):
        assert np.array_equal(s[k], sparse[str(k)][2:5])
    model_dense, model_sparse = preprocess.model_inputs(d, s)
    assert model_sparse.shape == (3, 214) and model_sparse.dtype == np.int32
    starts = np.cumsum((0, *official.MULTI_HOT_SIZES))
    for k in range(26):  # table k's indices in its columns, tables in order
        assert np.array_equal(model_sparse[:, starts[k]:starts[k + 1]], sparse[str(k)][2:5])
    assert np.array_equal(model_dense, dense[2:5]) and model_dense.dtype == np.float32
    with pytest.raises(IndexError):
        day.read(5, 7)
    day.close()


def test_reader_refuses_a_compressed_npz(tmp_path):
    _write_day(tmp_path, 4, compressed=True)
    assert zipfile.ZipFile(tmp_path / SPARSE_FILE).infolist()[0].compress_type == zipfile.ZIP_DEFLATED
    with pytest.raises(ValueError, match="compressed"):
        Day23(tmp_path)


def test_model_memory_is_the_reference_model_in_fp32():
    # tables 204,184,588 x 128; bottom MLP 171,392; cross 3 x (2 x 3456 x 512 + 3456); top MLP 5,245,953
    assert official.MODEL_BYTES_FP32 == 4 * (204_184_588 * 128 + 171_392 + 10_627_200 + 5_245_953)
    assert official.MODEL_BYTES_FP32 == 104_606_687_236


def test_accuracy_run_of_the_generated_pair(cache_dir, tmp_path):
    spec = tiny_spec(cache_dir, benchmark="dlrm-v2-99", dataset_count=6, scenarios=["SingleStream"], threads=1,
                     system_type="datacenter")
    meta = Harness(spec, tmp_path, log=lambda m: None).run()
    acc = (tmp_path / "SingleStream" / "accuracy" / "accuracy.txt").read_text()
    # 6 groups of the reference trace: 200 + 200 + 200 + 200 + 500 + 700 rows, labelled by the model itself
    assert acc.splitlines()[0].startswith("AUC=100.000%, accuracy=") and "total=2000, queries=6" in acc
    row = meta["scenarios"][0]
    assert row["accuracy"] == pytest.approx(100.0)
    assert (tmp_path / "labels" / preprocess.TRACE_FILE).read_text().splitlines()[-1] == "1300, 2000, 700"
    prov = json.loads((cache_dir / "synthetic" / "dlrm-w8-s2023-n6" / "criteo-synthetic" / "PROVENANCE.json")
                      .read_text())
    assert prov["synthetic"] is True and "NOT Criteo" in prov["dataset"]


def test_a_host_without_the_models_memory_is_refused(tmp_path, monkeypatch):
    from benchfleet.benchmarks import sources
    from benchfleet.benchmarks.criteo import task as criteo_task

    entry = official.ENTRIES[0]
    assert entry.memory_bytes == official.MODEL_BYTES_FP32
    with pytest.raises(ValueError, match=r"needs 97 GiB of memory to run \(104606687236 bytes\) and this host has "
                                         r"64\.0 GiB; run it on a host with at least 98 GiB, or use --model synthetic"):
        sources.check_memory(entry, "/models/dlrm.onnx", have=64 * 2**30)
    sources.check_memory(entry, "/models/dlrm.onnx", have=128 * 2**30)  # enough: no error
    # through the task: refused before the model file is read or the dataset grouped
    _write_day(tmp_path / "day23", 4)
    model = tmp_path / "dlrm.onnx"
    model.write_bytes(b"not loaded: the memory check comes first")
    monkeypatch.setattr(sources, "host_memory_bytes", lambda: 64 * 2**30)
    spec = tiny_spec(tmp_path / "cache", benchmark="dlrm-v2-99", model=str(model), dataset=str(tmp_path / "day23"),
                     system_type="datacenter")
    with pytest.raises(ValueError, match=r"^model: the DLRM-DCNv2 .* needs 97 GiB"):
        criteo_task.TASK.resolve(spec, lambda m: None)
    assert not (tmp_path / "cache").exists()
