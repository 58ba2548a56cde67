"""3D-UNet on KiTS19: DICE, the sliding window and the preprocessing steps against values worked out by hand
on small volumes, and an accuracy run of the generated pair through the harness (the reference's own functions
were compared on the same kind of inputs by hand, outside the suite: see the kits19 folder's report)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchfleet.benchmarks.kits19 import preprocess as pp
from benchfleet.benchmarks.kits19 import scorer, window
from benchfleet.benchmarks.kits19.task import TASK, score_entries
from benchfleet.harness import settings
from benchfleet.harness.run import Harness
from tests.conftest import tiny_spec


def test_dice_worked_by_hand():
    t = np.array([[[0, 1, 1, 2], [2, 2, 0, 0]]], np.uint8)
    p = np.array([[[0, 1, 0, 2], [2, 1, 1, 0]]], np.uint8)
    # kidney: |T| 2, |P| 3, both 1 -> (2 + 1e-6) / (5 + 1e-6); tumour: |T| 3, |P| 2, both 2 -> (4 + 1e-6) / (5 + 1e-6)
    got = scorer.dice(p, t)
    assert got[0] == (2.0 + 1e-6) / (5.0 + 1e-6) and got[1] == (4.0 + 1e-6) / (5.0 + 1e-6)
    # a class absent from both scores 1 (the smoothing), and background never counts
    assert scorer.dice(np.zeros((2, 2, 2), np.uint8), np.zeros((2, 2, 2), np.uint8)).tolist() == [1.0, 1.0]
    assert scorer.dice(np.ones((2, 2, 2), np.uint8), np.full((2, 2, 2), 2, np.uint8))[0] == pytest.approx(1e-6 / 8)
    with pytest.raises(ValueError, match="classes"):
        scorer.dice(np.full((2, 2), 3, np.uint8), np.zeros((2, 2), np.uint8))


def test_mean_over_cases_and_the_checker_line():
    labels = {"a": np.array([1, 1, 2, 0], np.uint8), "b": np.array([0, 2, 2, 1], np.uint8)}
    preds = {"a": np.array([1, 1, 2, 0], np.uint8), "b": np.array([0, 2, 0, 0], np.uint8)}
    s = scorer.score(preds, labels, ["a", "b"])
    kb, tb = (0 + 1e-6) / (1 + 1e-6), (2 + 1e-6) / (3 + 1e-6)
    assert s["kidney"] == pytest.approx((1 + kb) / 2) and s["tumor"] == pytest.approx((1 + tb) / 2)
    assert s["mean"] == pytest.approx((1 + (kb + tb) / 2) / 2)
    line = scorer.accuracy_line(s)
    assert line == f"Accuracy: mean = {s['mean']:.5f}, kidney = {s['kidney']:.4f}, tumor = {s['tumor']:.4f}"
    import re

    from benchfleet.rules import get_round
    assert float(re.match(get_round("v3.1").benchmark("3d-unet-99").accuracy_pattern, line).group(1)) == \
        pytest.approx(s["mean"], abs=5e-6)
    with pytest.raises(ValueError, match="no response"):
        scorer.score({"a": preds["a"]}, labels, ["a", "b"])


def test_responses_are_read_by_case_index_and_shape(tmp_path):
    from benchfleet.benchmarks.kits19.task import LABELS, _samples

    data = tmp_path / "data"
    import nibabel
    rng = np.random.default_rng(0)
    cases = ["case_00000", "case_00003"]
    truth = {}
    for c, shape in zip(cases, [(4, 5, 6), (6, 5, 4)], strict=True):
        (data / "nifti" / c).mkdir(parents=True)
        truth[c] = rng.integers(0, 3, shape).astype(np.uint8)
        nibabel.save(nibabel.Nifti1Image(rng.standard_normal(shape).astype(np.float32), np.eye(4)),
                     data / "nifti" / c / "imaging.nii.gz")
        nibabel.save(nibabel.Nifti1Image(truth[c], np.eye(4)), data / "nifti" / c / "segmentation.nii.gz")
    (data / "inference_cases.json").write_text(json.dumps(cases))
    folder = _samples(tmp_path / "cache", data, cases, lambda m: None)
    assert np.load(folder / "case_00003.npy").shape == (1, 6, 5, 4)
    wrong = truth["case_00003"].copy()
    wrong[wrong == 2] = 0
    entries = [{"qsl_idx": 1, "data": wrong.tobytes().hex()},
               {"qsl_idx": 0, "data": truth["case_00000"].tobytes().hex()}]
    s = score_entries(entries, folder / LABELS)
    assert s["per_case"]["case_00000"] == [pytest.approx(1.0), pytest.approx(1.0)]
    assert s["per_case"]["case_00003"][1] == pytest.approx(1e-6 / (np.count_nonzero(truth["case_00003"] == 2) + 1e-6))


def test_gaussian_map_by_hand():
    g = window.gaussian_kernel(5, 1.0)
    x = np.arange(5) - 2.0
    one = np.exp(-x ** 2 / 2)
    want = np.cbrt(one[:, None, None] * one[None, :, None] * one[None, None, :])
    np.testing.assert_allclose(g, want / want.max(), rtol=0, atol=1e-15)
    assert g[2, 2, 2] == 1.0 and window.norm_patch().dtype == np.float32 and window.norm_patch().shape == (128,) * 3
    # sigma 16 over 128 points: the edge of the map, cube-rooted, is exp(-(63.5 / 16)^2 / 6) per axis
    assert window.norm_patch()[0, 64, 64] == pytest.approx(np.exp(-(63.5 / 16) ** 2 / 6) / np.exp(-(0.5 / 16) ** 2 / 6),
                                                           rel=1e-6)


def test_windows_and_their_weighted_mean():
    assert list(window.window_starts((128, 128, 192))) == [(0, 0, 0), (0, 0, 64)]
    assert len(list(window.window_starts((192, 256, 128)))) == 2 * 3 * 1
    roi = [4, 4, 4]
    img = np.zeros((4, 4, 6), np.float32)
    calls = []

    def model(x):  # window 1 votes class 1 everywhere, window 2 class 2 with twice the score
        calls.append(x.shape)
        out = np.zeros((1, 3, 4, 4, 4), np.float32)
        out[0, 1 + len(calls) - 1] = len(calls)
        return out

    labels = window.segment(img, model, roi_shape=roi, overlap=0.5)
    assert calls == [(1, 1, 4, 4, 4)] * 2
    # k = 0, 1 only window 1 -> 1; k = 4, 5 only window 2 -> 2. Overlap (sigma 0.125 * 4 = 0.5, per axis
    # cbrt(exp(-2 x^2))): k = 2 is x = 0.5 in window 1, x = -1.5 in window 2: exp(-1/6) > 2 exp(-3/2) -> 1;
    # k = 3 is x = 1.5 and x = -0.5: exp(-3/2) < 2 exp(-1/6) -> 2 (unweighted, both would be 2)
    assert labels[0, 0].tolist() == [1, 1, 1, 2, 2, 2] and labels.dtype == np.uint8 and labels.shape == (4, 4, 6)


def test_normalising_and_padding_by_hand():
    assert pp.normalize_intensity(np.array([-1000, -79, 101, 304, 2000], np.float32)).tolist() == \
        pytest.approx([-180 / 76.9, -180 / 76.9, 0.0, 203 / 76.9, 203 / 76.9])
    img = np.arange(100 * 150 * 175, dtype=np.float32).reshape(1, 100, 150, 175)
    lbl = np.ones_like(img, dtype=np.uint8)
    i2, l2 = pp.pad_to_min_shape(img, lbl)  # 100 -> 128: 14 edge voxels before, 14 after
    assert i2.shape == (1, 128, 150, 175) and (i2[0, :14] == img[0, 0]).all() and (i2[0, -14:] == img[0, -1]).all()
    i3, l3 = pp.adjust_shape_for_sliding_window(i2, l2)
    # 128: kept; 150 % 64 = 22 < 32: cropped 11 + 11 -> 128; 175 % 64 = 47: padded 17 -> 192 (8 before, 9 after)
    assert i3.shape == l3.shape == (1, 128, 128, 192)
    assert (i3[0, :, :, 8:183] == i2[0, :, 11:139, :]).all()
    assert (i3[0, :, :, :8] == np.float32(-2.2)).all() and (i3[0, :, :, 183:] == np.float32(-2.2)).all()
    assert (l3[0, :, :, :8] == 0).all() and (l3[0, :, :, 8:183] == 1).all()
    # under the ROI after the crop: padded by a further stride
    assert pp.constant_pad_volume(np.zeros((1, 64, 128, 130), np.float32), 0).shape == (1, 128, 128, 192)


def test_resampling_follows_the_spacing():
    img = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    lbl = (img > 10).astype(np.uint8)
    i2, l2, f = pp.resample(img, lbl, [3.2, 1.2, 0.6])
    assert f.tolist() == [2.0, 1.0, 0.5] and i2.shape == (4, 3, 2) and l2.shape == (4, 3, 2)
    # grid_mode False: the corners are kept, the inside interpolated linearly (order 1) / nearest (labels)
    assert i2[0, 0, 0] == img[0, 0, 0] and i2[-1, 0, -1] == img[-1, 0, -1]
    assert i2[1, 0, 0] == pytest.approx(img[0, 0, 0] + (img[1, 0, 0] - img[0, 0, 0]) / 3)
    same, _, _ = pp.resample(img, lbl, [1.6, 1.2, 1.2])
    assert same is img
    aff = np.array([[0, 0, -0.8, 0], [0, -0.8, 0, 0], [2.5, 0, 0, 0], [0, 0, 0, 1.0]])
    assert pp.reshaped_affine(aff).tolist() == [[0, 0, -1.2, 0], [0, -1.2, 0, 0], [1.6, 0, 0, 0], [0, 0, 0, 1]]


def test_generated_pair_scores_a_dice_of_one_through_the_harness(cache_dir, tmp_path, monkeypatch):
    # quick SingleStream as short as early stopping allows (64 queries): a case takes a fraction of a second here
    monkeypatch.setattr(settings, "QUICK_SINGLE_STREAM_S", 0.001)
    spec = tiny_spec(cache_dir, benchmark="3d-unet-99", dataset_count=3, scenarios=["SingleStream"],
                     synthetic_width=1, threads=1)
    meta = Harness(spec, tmp_path, log=lambda m: None).run()
    assert meta["synthetic"] is True
    assert all(v > 0 for v in meta["provenance"]["voxels_per_class"])  # every class in the labels
    (scen,) = meta["scenarios"]
    text = (tmp_path / "SingleStream" / "accuracy" / "accuracy.txt").read_text()
    assert text.startswith("Accuracy: mean = 1.00000, kidney = 1.0000, tumor = 1.0000\n")
    assert scen["accuracy"] == pytest.approx(1.0) and scen["accuracy_details"]["cases"] == 3
    full = json.loads((tmp_path / "SingleStream" / "full_logs" / "mlperf_log_accuracy.json").read_text())
    assert sorted(len(e["data"]) // 2 for e in full) == [128 ** 3, 128 * 128 * 192, 128 * 128 * 192]
    assert TASK.rescore(full, tmp_path / "labels") == pytest.approx(1.0)
