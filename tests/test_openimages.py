"""RetinaNet on the MLPerf OpenImages subset: preprocessing, responses and mAP worked by hand, the generated
pair, and an accuracy run through the harness."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import tiny_spec

from benchfleet.benchmarks.openimages import postprocess, scorer, synthetic
from benchfleet.benchmarks.openimages.dataset import ANNOTATIONS, IMAGES, DatasetError, OpenImagesVal
from benchfleet.benchmarks.openimages.preprocess import preprocess, read_bgr
from benchfleet.harness.run import Harness
from benchfleet.models import tiny_retinanet

# --- preprocessing ---------------------------------------------------------------------------------------------

def test_preprocess_solid_colour_is_rgb_over_255(tmp_path):
    bgr = np.zeros((37, 53, 3), np.uint8)
    bgr[:] = (10, 100, 250)  # B, G, R
    cv2.imwrite(str(tmp_path / "a.png"), bgr)  # lossless: the decoded pixels are these
    x = preprocess(read_bgr(tmp_path / "a.png"))
    assert x.shape == (3, 800, 800) and x.dtype == np.float32
    for ch, value in enumerate((250, 100, 10)):  # RGB planes
        assert np.all(x[ch] == np.float32(value) / np.float32(255.0))


def test_preprocess_resizes_bilinear_in_float_without_keeping_aspect(tmp_path):
    # a 2x1 image: red on the left, blue on the right; 800x800 output, INTER_LINEAR on float32 values
    bgr = np.array([[[0, 0, 200], [200, 0, 0]]], np.uint8)
    cv2.imwrite(str(tmp_path / "b.png"), bgr)
    x = preprocess(read_bgr(tmp_path / "b.png"))
    src = (np.arange(800) + 0.5) * 2 / 800 - 0.5  # half-pixel centres
    t = np.clip(src, 0, 1)  # clamped at the borders
    red = (1 - t) * 200 / 255
    blue = t * 200 / 255
    assert np.abs(x[0] - red[None, :]).max() < 1e-6  # every row the same
    assert np.abs(x[2] - blue[None, :]).max() < 1e-6
    assert np.all(x[1] == 0)
    assert x[0, 0, 0] == np.float32(200 / 255) and x[2, 0, 0] == 0  # left edge: pure red


def test_preprocess_grey_jpeg_has_three_equal_planes(tmp_path):
    from PIL import Image

    Image.fromarray(np.tile(np.arange(0, 240, 4, dtype=np.uint8), (30, 1)), "L").save(tmp_path / "g.jpg")
    x = preprocess(read_bgr(tmp_path / "g.jpg"))
    assert x.shape == (3, 800, 800)
    assert np.array_equal(x[0], x[1]) and np.array_equal(x[1], x[2]) and x.max() > 0.5


# --- responses ---------------------------------------------------------------------------------------------------

def test_response_is_the_reference_layout_and_stops_under_the_threshold():
    boxes = np.array([[80, 40, 400, 200], [0, 0, 800, 800], [8, 8, 16, 16]], np.float32)  # xmin, ymin, xmax, ymax
    r = postprocess.response(5, boxes, np.array([3, 7, 1]), np.array([0.9, 0.04, 0.5], np.float32))
    assert r.dtype == np.float32 and r.shape == (7,)  # the third is after the first score under 0.05: dropped
    expected = np.array([5, 40 / 800, 80 / 800, 200 / 800, 400 / 800, 0.9, 3], np.float32)
    assert np.array_equal(r, expected)
    assert postprocess.response(0, np.zeros((0, 4)), np.zeros(0), np.zeros(0)).size == 0


# --- mAP -----------------------------------------------------------------------------------------------------------

def _entry(idx: int, dets: list[list[float]]) -> dict:
    return {"qsl_idx": idx, "data": np.array(dets, np.float32).tobytes().hex()}


def _annotations(path: Path) -> Path:
    data = {
        "categories": [{"id": 0, "name": "a", "supercategory": None}, {"id": 1, "name": "b", "supercategory": None}],
        "images": [{"id": 1, "file_name": "i1.jpg", "height": 100, "width": 200},
                   {"id": 2, "file_name": "i2.jpg", "height": 50, "width": 50},
                   {"id": 3, "file_name": "i3.jpg", "height": 64, "width": 64},
                   {"id": 4, "file_name": "i4.jpg", "height": 64, "width": 64}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 0, "bbox": [20, 10, 60, 40], "area": 2400, "iscrowd": 0},
            {"id": 2, "image_id": 2, "category_id": 1, "bbox": [10, 10, 20, 20], "area": 400, "iscrowd": 0},
            {"id": 3, "image_id": 3, "category_id": 1, "bbox": [5, 5, 10, 10], "area": 100, "iscrowd": 0},
            {"id": 4, "image_id": 4, "category_id": 0, "bbox": [5, 5, 10, 10], "area": 100, "iscrowd": 0},
        ],
    }
    path.write_text(json.dumps(data))
    return path


def test_detections_convert_boxes_as_the_accuracy_script():
    images = [{"id": 7, "height": 100, "width": 200}]
    dets, ids = scorer.detections([_entry(0, [[0, 0.1, 0.1, 0.5, 0.4, 0.8, 2]])], images)
    f = np.float32
    assert ids == [7]
    assert dets == [{"image_id": 7, "category_id": 2, "score": float(f(0.8)),
                     "bbox": [float(f(0.1) * f(200)), float(f(0.1) * f(100)), float(f(0.4) * f(200) - f(0.1) * f(200)),
                              float(f(0.5) * f(100) - f(0.1) * f(100))]}]


def test_map_worked_by_hand(tmp_path):
    ann = _annotations(tmp_path / "ann.json")
    entries = [
        # image 1 (100 x 200): a false positive of category 0 above the hit (IoU 1): AP(a) = 1/2 at every IoU
        _entry(0, [[0, 0.6, 0.6, 0.9, 0.9, 0.9, 0], [0, 0.1, 0.1, 0.5, 0.4, 0.8, 0]]),
        # image 2 (50 x 50): category 1 shifted 3 px down, IoU 340/460 = 0.739: a hit at IoU 0.50..0.70 (5 of 10)
        _entry(1, [[1, 13 / 50, 10 / 50, 33 / 50, 30 / 50, 0.7, 1]]),
        _entry(0, [[0, 0.1, 0.1, 0.5, 0.4, 0.99, 0]]),  # a second response for sample 0: ignored
        # image 3: no detection (an empty response), its box of category 1 is missed; image 4 is not in the log
        {"qsl_idx": 2, "data": ""},
    ]
    # category 1: 2 boxes, one found at precision 1 -> recall 0.5: 51 of COCO's 101 recall points, at 5 of 10 IoUs
    expected = (0.5 + 0.5 * 51 / 101) / 2
    s = scorer.score_log(entries, ann)
    assert s["mAP"] == pytest.approx(100 * expected, abs=1e-9)
    assert s["images"] == 3 and s["detections"] == 3
    assert scorer.accuracy_line(s["mAP"]) == f"mAP={100 * expected:.3f}%" == "mAP=37.624%"


def test_map_of_perfect_and_of_no_detections(tmp_path):
    ann = _annotations(tmp_path / "ann.json")
    perfect = [_entry(0, [[0, 0.1, 0.1, 0.5, 0.4, 0.3, 0]]), _entry(1, [[1, 0.2, 0.2, 0.6, 0.6, 0.5, 1]])]
    # 100 up to COCOeval's precision tp / (tp + fp + spacing(1)): 1 - 2.2e-16 for a single hit
    assert scorer.score_log(perfect, ann)["mAP"] == pytest.approx(100.0, abs=1e-12)
    assert scorer.score_log([{"qsl_idx": 0, "data": ""}], ann)["mAP"] == 0.0


# --- dataset ---------------------------------------------------------------------------------------------------------

def test_dataset_reads_images_in_file_order_and_refuses_missing_files(tmp_path):
    _annotations(tmp_path / "ann.json")
    (tmp_path / "annotations").mkdir()
    (tmp_path / "ann.json").rename(tmp_path / ANNOTATIONS)
    (tmp_path / IMAGES).mkdir(parents=True)
    for n in ("i1.jpg", "i2.jpg"):
        (tmp_path / IMAGES / n).write_bytes(b"x")
    ds = OpenImagesVal.open(tmp_path, 2)
    assert [i.id for i in ds.images] == [1, 2] and ds.path(1) == tmp_path / IMAGES / "i2.jpg"
    with pytest.raises(DatasetError, match="missing"):
        OpenImagesVal.open(tmp_path, 3)
    with pytest.raises(DatasetError, match="asked for 5"):
        OpenImagesVal.open(tmp_path, 5)


# --- the generated pair ----------------------------------------------------------------------------------------------

def test_generated_model_has_the_reference_interface():
    import onnxruntime as ort

    m = tiny_retinanet.build(width=4, classes=4, seed=1, cls_bias=-3.0)
    assert [i.name for i in m.graph.input] == ["images"]
    assert [o.name for o in m.graph.output] == ["boxes", "labels", "scores"]
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((1, 3, 800, 800), dtype=np.float32)
    boxes, labels, scores = sess.run(["boxes", "labels", "scores"], {"images": x})
    assert boxes.shape == (len(scores), 4) and labels.dtype == np.int64 and 0 < len(scores) <= 300
    assert np.all(np.diff(scores) <= 0) and scores.min() >= 0.05  # sorted, over NMS's threshold
    assert boxes.min() >= 0 and boxes.max() <= 800 and np.all(boxes[:, 2:] - boxes[:, :2] >= 1)


def test_anchors_are_torchvisions():
    a = tiny_retinanet.anchors(100, 32)
    assert a.shape == (100 * 100 * 9, 4)
    # location (0, 0): ratio 0.5 (wide), scales 32, 40, 50; then ratio 1 ...; location (0, 1) is 8 px right
    assert a[0].tolist() == [-23.0, -11.0, 23.0, 11.0] and a[3].tolist() == [-16.0, -16.0, 16.0, 16.0]
    assert a[9].tolist() == [-15.0, -11.0, 31.0, 11.0]


def test_accuracy_run_through_the_harness_scores_100(cache_dir, tmp_path, monkeypatch):
    from benchfleet.harness import settings

    monkeypatch.setattr(settings, "QUICK_SINGLE_STREAM_S", 0.001)  # timing is not this test's: early stopping's 64
    spec = tiny_spec(cache_dir, benchmark="retinanet", dataset_count=12, scenarios=["SingleStream"], threads=1,
                     synthetic_width=4)
    meta = Harness(spec, tmp_path, log=lambda m: None).run()
    text = (tmp_path / "SingleStream" / "accuracy" / "accuracy.txt").read_text()
    assert text.splitlines()[0] == "mAP=100.000%"
    row = meta["scenarios"][0]
    assert row["accuracy"] == pytest.approx(100.0, abs=1e-12) and row["accuracy_details"]["images"] == 12
    pair = synthetic.make_pair(cache_dir / "synthetic", count=12, width=4, threads=1, log=lambda m: None)
    prov = json.loads((pair.dataset_dir / "PROVENANCE.json").read_text())
    assert prov["synthetic"] is True and "NOT OpenImages" in prov["dataset"]
    # the annotations travel beside the results, and rescoring from them gives the same figure
    assert (tmp_path / "labels" / "openimages-mlperf.json").is_file()


def test_rescore_reads_the_annotations_beside_the_results(tmp_path):
    from benchfleet.benchmarks.openimages.task import TASK

    _annotations(tmp_path / "openimages-mlperf.json")
    entries = [_entry(0, [[0, 0.6, 0.6, 0.9, 0.9, 0.9, 0], [0, 0.1, 0.1, 0.5, 0.4, 0.8, 0]])]
    assert TASK.scoring_names == ("openimages-mlperf.json",)
    assert TASK.rescore(entries, tmp_path) == scorer.score_log(entries, tmp_path / "openimages-mlperf.json")["mAP"]
    assert TASK.rescore(entries, tmp_path) == pytest.approx(50.0, abs=1e-9)  # category 0 only: AP 1/2


def test_registry_finds_retinanet_on_onnxruntime_only():
    from benchfleet.benchmarks import registry
    from benchfleet.benchmarks.openimages import official

    entry = registry.lookup("retinanet", "onnxruntime")
    assert entry.task == "openimages" and entry.md5 == "4544f4e56e0a4684215831cc937ea45c"
    assert entry.input_names == ("images",) and entry.output_names == ("boxes", "labels", "scores")
    assert registry.backends_for("retinanet") == ["onnxruntime"]  # the pytorch checkpoint is recorded, not run
    assert official.PYTORCH_MODEL.md5 == "a55f6bec3464f605ce8d686da8ac1533"
