"""The published models of the object-detection task: RetinaNet ResNeXt50-32x4d FPN trained on the MLPerf
OpenImages subset (retinanet, 264 classes, mAP 37.57 in fp32 ONNX), as ONNX and as a PyTorch checkpoint.

Checksums as MLCommons' own automation records them (mlcommons/cm4mlops script/get-ml-model-retinanet/_cm.json).

The ONNX model (``retinanet-onnxruntime`` in the reference's main.py, max batch 1): input ``images``
(1, 3, 800, 800) float32, RGB in [0, 1]; outputs ``boxes`` (N, 4) xmin, ymin, xmax, ymax in the 800x800 input's
pixels, ``labels`` (N,) int64 and ``scores`` (N,) float32, after NMS, sorted by score.

The PyTorch checkpoint is the reference's ``pytorch-native`` model (its own model code loads it). benchfleet's
pytorch backend executes ONNX graphs, and not this one's TopK and NonMaxSuppression: it is recorded here
(``PYTORCH_MODEL``), not registered as an entry, so no sweep plans a pytorch cell it cannot run.

The dataset has no single published download with a checksum: the reference's ``tools/openimages_mlperf.sh``
builds it (24,781 validation images fetched from the Open Images buckets, annotations/openimages-mlperf.json
written by tools/openimages.py); pass the folder it makes as --dataset PATH.
"""

from __future__ import annotations

from benchfleet.benchmarks.entry import ModelEntry, OfficialFile

# The annotations alone (a zip of openimages-mlperf.json, mlcommons/cm4mlops
# script/get-dataset-openimages-annotations): not a dataset without the images, so not in dataset_files.
ANNOTATIONS_ZIP = OfficialFile(
    "https://github.com/mlcommons/inference/releases/download/v2.1/openimages-mlperf_annotations_2.1.json.zip",
    "openimages-mlperf_annotations_2.1.json.zip", "817fd8da3aeeb0575f1e2d2926b15e68")
PYTORCH_MODEL = OfficialFile("https://zenodo.org/record/6617981/files/resnext50_32x4d_fpn.pth",
                             "resnext50_32x4d_fpn.pth", "a55f6bec3464f605ce8d686da8ac1533")

# The dataset folder --dataset PATH names, in the reference's layout.
LAYOUT = "OpenImages (MLPerf subset): annotations/openimages-mlperf.json + validation/data/*.jpg"

ENTRIES = (
    ModelEntry(
        name="retinanet-onnx", benchmarks=("retinanet",), backends=("onnxruntime",), task="openimages",
        family="RetinaNet ResNeXt50-32x4d FPN (MLPerf OpenImages)",
        # The reference's fp32 ONNX model (mAP 0.3757).
        url="https://zenodo.org/record/6617879/files/resnext50_32x4d_fpn.onnx", filename="resnext50_32x4d_fpn.onnx",
        md5="4544f4e56e0a4684215831cc937ea45c", input_names=("images",), output_names=("boxes", "labels", "scores"),
        preprocessing="retinanet",
    ),
)
