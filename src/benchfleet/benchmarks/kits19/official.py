"""The published models of the 3D-UNet task (3d-unet-99, 3d-unet-99.9): the MLPerf reference 3D-UNet trained on
KiTS19 (mean DICE 0.86170), as ONNX (dynamic batch, input ``input`` (N, 1, 128, 128, 128) float32, output
``output`` (N, 3, 128, 128, 128) class scores) and as TorchScript.

Checksums as MLCommons' own automation records them (mlcommons/cm4mlops and mlcommons/mlperf-automations,
script/get-ml-model-3d-unet-kits19). KiTS19 has no single download with a checksum (the KiTS19 repository's
get_imaging.py fetches each case); pass the reference's preprocessed folder or the repository's data/ folder.
"""

from __future__ import annotations

from benchfleet.benchmarks.entry import ModelEntry

FAMILY = "3D-UNet (KiTS19)"

# The dataset folder --dataset PATH names, in the reference's layout.
LAYOUT = "KiTS19: nifti/<case>/imaging.nii.gz + segmentation.nii.gz (preprocessed) or the raw data/ folder"

ENTRIES = (
    ModelEntry(
        name="3d-unet-onnx", benchmarks=("3d-unet-99", "3d-unet-99.9"), backends=("onnxruntime",), task="kits19",
        family=FAMILY,
        url="https://zenodo.org/record/5597155/files/3dunet_kits19_128x128x128_dynbatch.onnx?download=1",
        filename="3dunet_kits19_128x128x128_dynbatch.onnx", md5="82f0618fde78f9839e7c712274019b4a",
        input_names=("input",), output_names=("output",), layout="ncdhw", preprocessing="kits19",
        output_is_scores=True,
    ),
    ModelEntry(
        # The reference's pytorch_SUT.py loads this with torch.jit.load; benchfleet's pytorch backend executes
        # ONNX graphs (and has no 3-D convolutions yet), so the entry records the file and says so.
        name="3d-unet-pytorch", benchmarks=("3d-unet-99", "3d-unet-99.9"), backends=("pytorch",), task="kits19",
        family=FAMILY,
        url="https://zenodo.org/record/5597155/files/3dunet_kits19_pytorch.ptc?download=1",
        filename="3dunet_kits19_pytorch.ptc", md5="2251109371f408c9f10a4320ffdcaef8",
        input_names=("input",), output_names=("output",), layout="ncdhw", preprocessing="kits19",
        output_is_scores=True,
        conversion="it is a TorchScript module, which benchfleet's pytorch backend (an ONNX graph walker without "
                   "3-D convolutions) does not run; run 3d-unet on backend onnxruntime",
    ),
)
