"""The published models of the image-classification task: the reference ResNet50 v1.5 (closed) and the
open-division MobileNet/EfficientNet TFLite models. ImageNet itself needs a licence: no public download."""

from __future__ import annotations

from benchfleet.benchmarks.entry import ONNX_BACKENDS, ModelEntry

_TFLITE_IMAGE = {"backends": ("tflite",), "task": "imagenet", "benchmarks": ("resnet50",), "open_only": True,
                 "layout": "nhwc", "preprocessing": "mobilenet", "output_is_scores": True, "label_offset": 1}

# The dataset folder --dataset PATH names, in the reference's layout.
LAYOUT = "ImageNet val: val_map.txt + the JPEGs"

ENTRIES = (
    ModelEntry(
        name="resnet50-onnx", benchmarks=("resnet50",), backends=ONNX_BACKENDS, task="imagenet",
        family="ResNet50 v1.5",
        # fp32, opset 11; the reference implementation's model.
        url="https://zenodo.org/record/4735647/files/resnet50_v1.onnx", filename="resnet50_v1.onnx",
        md5="f6a4da60cd5f084d97efc2c1ddb10beb", input_names=("input_tensor:0",), output_names=("ArgMax:0",),
        label_offset=1,
    ),
    ModelEntry(
        name="resnet50-tf", benchmarks=("resnet50",), backends=("tensorflow",), task="imagenet",
        family="ResNet50 v1.5",
        # The reference's TensorFlow frozen graph (NHWC input, mean-subtracted).
        url="https://zenodo.org/record/2535873/files/resnet50_v1.pb", filename="resnet50_v1.pb",
        md5="7b94a2da05dd30f6c0af23a46bc08886", input_names=("input_tensor:0",), output_names=("ArgMax:0",),
        label_offset=1, layout="nhwc",
    ),
    ModelEntry(
        name="mobilenet-v1-1.0-224-tflite", family="MobileNet v1 1.0 224",
        # The archive the MLPerf v0.5 reference used (zenodo 2269307); it holds the .tflite file.
        url="https://zenodo.org/record/2269307/files/mobilenet_v1_1.0_224.tgz", filename="mobilenet_v1_1.0_224.tgz",
        md5=None,
        conversion="unpack mobilenet_v1_1.0_224.tflite from the archive",
        input_names=("input",), output_names=("MobilenetV1/Predictions/Reshape_1",), **_TFLITE_IMAGE,
    ),
    ModelEntry(
        name="efficientnet-lite0-tflite", family="EfficientNet-Lite0",
        url="https://storage.googleapis.com/cloud-tpu-checkpoints/efficientnet/lite/efficientnet-lite0.tar.gz",
        filename="efficientnet-lite0.tar.gz", md5=None, input_names=("images",), output_names=("Softmax",),
        conversion="unpack efficientnet-lite0-fp32.tflite from the archive",
        **_TFLITE_IMAGE,
    ),
)
