"""Reference preprocessing against pixels computed by hand (the element-for-element comparison with the
reference's own pipeline is in tests/test_reference_inputs.py)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from benchfleet.benchmarks.imagenet.dataset import ImageNetVal
from benchfleet.benchmarks.imagenet.preprocess import MEANS, preprocess, read_bgr, resized_size


def test_resize_rule_matches_reference():
    # shorter side -> int(100 * 224 / 87.5) = 256, the other side scaled and truncated
    assert resized_size(512, 384) == (341, 256)
    assert resized_size(300, 600) == (256, 512)
    assert resized_size(256, 256) == (256, 256)


def _quadrants(path, size=512, quality=100):
    colours = [(200, 30, 40), (20, 180, 60), (10, 40, 220), (250, 250, 10)]
    arr = np.zeros((size, size, 3), np.uint8)
    h = size // 2
    arr[:h, :h], arr[:h, h:], arr[h:, :h], arr[h:, h:] = colours
    Image.fromarray(arr).save(path, "JPEG", quality=quality, subsampling=0)
    return colours


def test_pixels_of_a_generated_jpeg(tmp_path):
    colours = _quadrants(tmp_path / "q.jpg")
    out = preprocess(read_bgr(tmp_path / "q.jpg"))
    assert out.shape == (3, 224, 224) and out.dtype == np.float32
    # 512 -> 256 halves every side; the 224 crop starts at 16, so the quadrants meet at row/col 112.
    # Far from the edges a flat JPEG block decodes to its colour within a couple of levels.
    for (r, c), colour in zip([(40, 40), (40, 180), (180, 40), (180, 180)], colours, strict=False):
        expected = np.array(colour, np.float32) - MEANS
        assert np.allclose(out[:, r, c], expected, atol=3.0), (r, c, out[:, r, c], expected)
    # Exact check against the decoded pixels: area interpolation by 2 is the 2x2 average, then crop, means, CHW.
    dec = read_bgr(tmp_path / "q.jpg")[:, :, ::-1].astype(np.float32)
    box = dec.reshape(256, 2, 256, 2, 3).mean(axis=(1, 3))
    by_hand = (box[16:240, 16:240] - MEANS).transpose(2, 0, 1)
    assert np.abs(out - by_hand).max() < 0.51  # OpenCV rounds the averaged pixel to uint8


def test_non_square_crop_is_centred(tmp_path):
    arr = np.zeros((256, 512, 3), np.uint8)
    arr[:, 256:] = 255  # right half white
    Image.fromarray(arr).save(tmp_path / "w.png")
    out = preprocess(read_bgr(tmp_path / "w.png"))
    # width 512 stays (shorter side already 256): crop columns 144..367, boundary at 256 -> column 112
    assert np.allclose(out[:, :, 111], -MEANS[:, None], atol=1e-4)
    assert np.allclose(out[:, :, 112], (255 - MEANS)[:, None], atol=1e-4)


def test_val_map_errors_name_the_fix(tmp_path):
    import pytest

    from benchfleet.benchmarks.imagenet.dataset import DatasetError

    with pytest.raises(DatasetError, match="val_map.txt not found"):
        ImageNetVal.open(tmp_path)
    (tmp_path / "val_map.txt").write_text("a.JPEG notanumber\n")
    with pytest.raises(DatasetError, match="expected '<file> <label>'"):
        ImageNetVal.open(tmp_path)
    (tmp_path / "val_map.txt").write_text("a.JPEG 3\n")
    with pytest.raises(DatasetError, match="missing"):
        ImageNetVal.open(tmp_path)
