"""Benchfleet's inputs against the MLPerf reference's, element for element, and caches keyed by their making.

The reference's image pipeline is written out here with OpenCV, following ``pre_process_vgg`` and
``pre_process_mobilenet`` of ``vision/classification_and_detection/python/dataset.py`` (v3.1), and run on
generated JPEGs of every shape the reference meets: smaller and larger than 256 on the short side, grey,
CMYK, odd aspect ratios.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from benchfleet.benchmarks.generated import PROVENANCE
from benchfleet.benchmarks.imagenet.dataset import VAL_MAP, ImageNetVal
from benchfleet.benchmarks.imagenet.samples import cache_file, ensure
from benchfleet.data.samples import SampleFile

# ---- the reference's pipeline, as its dataset.py writes it ---------------------------------------

def _ref_center_crop(img, out_height, out_width):
    height, width, _ = img.shape
    left = int((width - out_width) / 2)
    right = int((width + out_width) / 2)
    top = int((height - out_height) / 2)
    bottom = int((height + out_height) / 2)
    return img[top:bottom, left:right]


def _ref_resize_with_aspectratio(img, out_height, out_width, scale=87.5, inter_pol=cv2.INTER_LINEAR):
    height, width, _ = img.shape
    new_height = int(100. * out_height / scale)
    new_width = int(100. * out_width / scale)
    if height > width:
        w = new_width
        h = int(new_height * height / width)
    else:
        h = new_height
        w = int(new_width * width / height)
    return cv2.resize(img, (w, h), interpolation=inter_pol)


def _ref_pre_process_vgg(img, dims, need_transpose=True):
    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    output_height, output_width, _ = dims
    img = _ref_resize_with_aspectratio(img, output_height, output_width, inter_pol=cv2.INTER_AREA)
    img = _ref_center_crop(img, output_height, output_width)
    img = np.asarray(img, dtype="float32")
    img -= np.array([123.68, 116.78, 103.94], dtype=np.float32)
    return img.transpose([2, 0, 1]) if need_transpose else img


def _ref_pre_process_mobilenet(img, dims, need_transpose=True):
    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    output_height, output_width, _ = dims
    img = _ref_resize_with_aspectratio(img, output_height, output_width, inter_pol=cv2.INTER_LINEAR)
    img = _ref_center_crop(img, output_height, output_width)
    img = np.asarray(img, dtype="float32")
    img /= 255.0
    img -= 0.5
    img *= 2
    return img.transpose([2, 0, 1]) if need_transpose else img


def _reference(path: Path, kind: str) -> np.ndarray:
    img = cv2.imread(str(path))  # the reference's imagenet.py: cv2.imread(src), default flags
    fn = _ref_pre_process_vgg if kind == "resnet" else _ref_pre_process_mobilenet
    return fn(img, dims=[224, 224, 3], need_transpose=True)


# ---- generated JPEGs -----------------------------------------------------------------------------

# (width, height, PIL mode): short side below, at and above 256, grey, CMYK, odd aspect ratios
SHAPES = [(200, 150, "RGB"), (256, 256, "RGB"), (500, 375, "RGB"), (375, 500, "RGB"), (301, 97, "RGB"),
          (97, 301, "RGB"), (1000, 257, "RGB"), (333, 255, "RGB"), (240, 320, "L"), (640, 480, "L"),
          (300, 211, "CMYK"), (520, 390, "CMYK")]


def _picture(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Edges, gradients and noise: every interpolation kernel gives different values on them."""
    y, x = np.mgrid[0:height, 0:width]
    arr = np.stack([(x * 255 // max(1, width - 1)), (y * 255 // max(1, height - 1)), (x ^ y) & 255], -1)
    arr = arr + rng.integers(-40, 40, arr.shape)
    arr[height // 3 : height // 2, width // 4 : width // 2] = rng.integers(0, 256, 3)
    return np.clip(arr, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def jpegs(tmp_path_factory) -> ImageNetVal:
    root = tmp_path_factory.mktemp("jpegs")
    rng = np.random.default_rng(13)
    names = []
    for k, (w, h, mode) in enumerate(SHAPES):
        name = f"img{k:02d}_{w}x{h}_{mode}.JPEG"
        Image.fromarray(_picture(rng, w, h)).convert(mode).save(root / name, "JPEG", quality=85)
        names.append(name)
    (root / VAL_MAP).write_text("".join(f"{n} {k}\n" for k, n in enumerate(names)))
    return ImageNetVal.open(root)


def test_the_generated_jpegs_are_what_they_say(jpegs):
    modes = [Image.open(jpegs.root / f).mode for f in jpegs.files]
    assert modes.count("L") == 2 and modes.count("CMYK") == 2
    shorts = [min(Image.open(jpegs.root / f).size) for f in jpegs.files]
    assert min(shorts) < 256 < max(shorts)


@pytest.mark.parametrize("kind", ["resnet", "mobilenet"])
def test_tensors_are_the_references_element_for_element(jpegs, kind):
    for i, name in enumerate(jpegs.files):
        ours = jpegs.load(i) if kind == "resnet" else jpegs.load(i, kind)
        ref = _reference(jpegs.root / name, kind)
        assert ours.shape == ref.shape == (3, 224, 224) and ours.dtype == ref.dtype == np.float32, name
        assert np.array_equal(ours, ref), (name, int((ours != ref).sum()), float(np.abs(ours - ref).max()))


@pytest.mark.parametrize("kind", ["resnet", "mobilenet"])
def test_the_samples_cache_holds_the_references_tensors(jpegs, kind, tmp_path):
    data = SampleFile(ensure(jpegs, tmp_path, log=lambda m: None, kind=kind))
    assert len(data) == len(jpegs.files)
    for i, name in enumerate(jpegs.files):
        assert np.array_equal(data.read(i), _reference(jpegs.root / name, kind)), name


def test_the_image_worker_reads_samples_without_mapping_the_file(jpegs, tmp_path):
    """The samples file is read into the worker's own arrays: no page of it stays mapped in the process,
    where it would count in RSS beside the copies LoadGen keeps."""
    from benchfleet.benchmarks.imagenet.task import ImageNetTask

    path = ensure(jpegs, tmp_path, log=lambda m: None)
    worker = ImageNetTask().worker({"samples": str(path), "layout": "nhwc"}, backend=None)
    got = [worker.load(i) for i in range(len(jpegs.files))]
    assert np.array_equal(got[3], _reference(jpegs.root / jpegs.files[3], "resnet").transpose(1, 2, 0))
    maps = Path(f"/proc/{os.getpid()}/maps").read_text()
    assert str(path.resolve()) not in maps


def test_a_truncated_samples_file_says_what_to_do(jpegs, tmp_path):
    path = ensure(jpegs, tmp_path, log=lambda m: None)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match="truncated.*delete it and run again"):
        SampleFile(path).read(len(jpegs.files) - 1)


# ---- caches keyed by how their contents were made -----------------------------------------------

def test_the_samples_cache_is_rebuilt_for_another_preprocessing_version(jpegs, tmp_path):
    built: list[str] = []
    a = ensure(jpegs, tmp_path, log=built.append, version="code-a")
    first = len(built)
    assert first > 0 and ensure(jpegs, tmp_path, log=built.append, version="code-a") == a
    assert len(built) == first  # same code: reused, not rebuilt
    b = ensure(jpegs, tmp_path, log=built.append, version="code-b")
    assert b != a and b.is_file() and len(built) > first  # another code: another file, built anew
    assert cache_file(jpegs, tmp_path) not in (a, b)  # the default is this code's own version
    assert cache_file(jpegs, tmp_path, kind="mobilenet") != cache_file(jpegs, tmp_path)


def test_the_samples_cache_is_rebuilt_when_an_image_changes(tmp_path):
    root = tmp_path / "ds"
    root.mkdir()
    Image.fromarray(_picture(np.random.default_rng(1), 300, 260)).save(root / "a.JPEG", quality=90)
    (root / VAL_MAP).write_text("a.JPEG 0\n")
    ds = ImageNetVal.open(root)
    before = SampleFile(ensure(ds, tmp_path / "cache", log=lambda m: None)).read(0)
    Image.fromarray(_picture(np.random.default_rng(2), 300, 260)).save(root / "a.JPEG", quality=90)
    os.utime(root / "a.JPEG", ns=(1, 1))  # a different modification time even on a coarse clock
    after = SampleFile(ensure(ImageNetVal.open(root), tmp_path / "cache", log=lambda m: None)).read(0)
    assert not np.array_equal(before, after)
    assert np.array_equal(after, _reference(root / "a.JPEG", "resnet"))


def _labels(data_dir: Path) -> list[str]:
    return (data_dir / VAL_MAP).read_text().splitlines()


def test_the_generated_pair_is_rebuilt_for_another_generator_version(tmp_path):
    from benchfleet.benchmarks.imagenet.synthetic import generator_version, make_pair

    quiet = dict(count=32, width=8, threads=1, log=lambda m: None)
    pair = make_pair(tmp_path, version="gen-a", **quiet)
    assert pair.provenance["generator_version"] == "gen-a"
    good = _labels(pair.dataset_dir)
    stale = [f"{line.split()[0]} 999" for line in good]  # what an older generator might have left
    (pair.dataset_dir / VAL_MAP).write_text("\n".join(stale) + "\n")
    assert _labels(make_pair(tmp_path, version="gen-a", **quiet).dataset_dir) == stale  # same code: reused
    again = make_pair(tmp_path, version="gen-b", **quiet)
    assert again.provenance["generator_version"] == "gen-b"
    assert _labels(again.dataset_dir) == good  # rebuilt: the labels are the model's answers again
    # a pair from before generator versions existed (no version in its provenance) is rebuilt too
    meta = again.dataset_dir / PROVENANCE
    old = json.loads(meta.read_text())
    del old["generator_version"]
    meta.write_text(json.dumps(old))
    (again.dataset_dir / VAL_MAP).write_text("\n".join(stale) + "\n")
    current = make_pair(tmp_path, **quiet)
    assert current.provenance["generator_version"] == generator_version()
    assert _labels(current.dataset_dir) == good


# ---- text inputs: special tokens in the text, as the reference's transformers tokenizers cut them ---------

def test_squad_keeps_special_tokens_whole_as_the_references_bert_tokenizer(tmp_path):
    """The reference's squad_QSL.py tokenizes with transformers' BertTokenizer, which keeps ``[SEP]`` and the
    other special tokens whole where the text holds them; Hugging Face ``tokenizers`` does the same."""
    import tokenizers as hf

    from benchfleet.benchmarks.squad import preprocess as squad_prep
    from benchfleet.text.wordpiece import FullTokenizer

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[", "]", "sep", "foo", "bar", "cafe", ".", "##s"]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    text = "Foo [SEP] bar[MASK]cafés. [sep] [CLS]foo [UNK] [PAD]"
    ours = squad_prep.tokenize(FullTokenizer(tmp_path / "vocab.txt"), text)
    theirs = hf.BertWordPieceTokenizer(str(tmp_path / "vocab.txt"), lowercase=True).encode(
        text, add_special_tokens=False).tokens
    assert ours == theirs and ours.count("[SEP]") == 1 and "[MASK]" in ours


def test_squad_features_hold_a_special_token_of_the_text_as_one_id(tmp_path):
    from benchfleet.benchmarks.squad import preprocess as squad_prep
    from benchfleet.benchmarks.squad.dataset import read_examples
    from benchfleet.text.wordpiece import FullTokenizer

    (tmp_path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "foo", "bar"]))
    data = [{"paragraphs": [{"context": "foo [MASK] bar", "qas": [{"id": "q", "question": "bar [SEP]?"}]}]}]
    (f,) = squad_prep.convert_examples(read_examples(data), FullTokenizer(tmp_path / "vocab.txt"))
    assert f.tokens == ["[CLS]", "bar", "[SEP]", "[UNK]", "[SEP]", "foo", "[MASK]", "bar", "[SEP]"]
    assert f.input_ids[:9] == [2, 6, 3, 1, 3, 5, 4, 6, 3]


def test_gptj_prompts_keep_endoftext_whole_as_the_references_gpt2_tokenizer(tmp_path):
    """The reference's dataset.py encodes prompts with transformers' GPT-J tokenizer, which keeps the special
    token ``<|endoftext|>`` whole where the text holds it."""
    import tokenizers as hf

    from benchfleet.text import bpe

    tok = bpe.write_word_level(tmp_path, ["police", "said", "arrested", "Monday"])
    ref = hf.ByteLevelBPETokenizer(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt"))
    ref.add_special_tokens([bpe.EOS])
    for text in ("police said<|endoftext|>arrested", "<|endoftext|> Monday <|endoftext|>", "said <|endoftext"):
        assert tok.encode(text) == ref.encode(text).ids
    assert tok.encode("a<|endoftext|>b").count(tok.eos_id) == 1
