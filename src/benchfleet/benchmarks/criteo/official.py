"""The published model and data of the recommendation task: DLRM-DCNv2 trained on the multi-hot Criteo 1TB
click logs (dlrm-v2-99, dlrm-v2-99.9), and the preprocessed day 23 it is scored on.

The model's shape is the reference's (mlcommons/inference v3.1 recommendation/dlrm_v2/pytorch/python/main.py,
``get_backend`` for the multihot-criteo dataset). The weights are published as a torchsnapshot of the torchrec
model, sharded (about 97 GiB), with no checksum in MLCommons' automation (mlcommons/cm4mlops and
mlcommons/mlperf-automations script get-ml-model-dlrm-terabyte, variation ``pytorch,fp32,weight_sharded``:
``CM_DOWNLOAD_CHECKSUM: ''``), and no benchfleet backend loads a torchsnapshot: the entry says how to turn it
into the ONNX interface benchfleet runs. The preprocessed day 23 has no direct public download (the automation
fetches it with rclone or MLCommons' R2 downloader); its md5s as the automation checks them (cm4mlops script
get-dlrm-data-mlperf-inference) are ``DATASET_MD5``.
"""

from __future__ import annotations

from benchfleet.benchmarks.entry import ONNX_BACKENDS, ModelEntry

# The reference's model (backend_pytorch_native.py / main.py): 13 dense features, 26 tables.
DENSE_FEATURES = 13
NUM_EMBEDDINGS = (40000000, 39060, 17295, 7424, 20265, 3, 7122, 1543, 63, 40000000, 3067956, 405282, 10, 2209,
                  11938, 155, 4, 976, 14, 40000000, 40000000, 40000000, 590152, 12973, 108, 36)
# Indices per sample of each table in the multi-hot dataset (the MLPerf training recipe's multi-hot sizes, which
# the reference's tools/make_fake_criteo.sh repeats); the reader takes them from the files' shapes.
MULTI_HOT_SIZES = (3, 2, 1, 2, 6, 1, 1, 1, 1, 7, 3, 8, 1, 6, 9, 5, 1, 1, 1, 12, 100, 27, 10, 3, 1, 1)
EMBEDDING_DIM = 128
BOTTOM_MLP = (512, 256, 128)
DCN_LAYERS = 3
DCN_LOW_RANK = 512
TOP_MLP = (1024, 1024, 512, 256, 1)


def _mlp_params(din: int, widths: tuple[int, ...]) -> int:
    total = 0
    for w in widths:
        total, din = total + din * w + w, w
    return total


def parameter_count() -> int:
    """Parameters of the reference model: tables, bottom MLP, DCN v2 cross layers (W, V, bias), top MLP."""
    interaction = EMBEDDING_DIM * (len(NUM_EMBEDDINGS) + 1)
    cross = DCN_LAYERS * (2 * interaction * DCN_LOW_RANK + interaction)
    return (sum(NUM_EMBEDDINGS) * EMBEDDING_DIM + _mlp_params(DENSE_FEATURES, BOTTOM_MLP) + cross
            + _mlp_params(interaction, TOP_MLP))


# The memory the fp32 model takes (104,606,687,236 bytes, 97.4 GiB; the tables are 99.95% of it). A host with
# less memory than this cannot hold the official model.
MODEL_BYTES_FP32 = 4 * parameter_count()

# md5 of the preprocessed day 23 files as MLCommons' automation checks them (no direct download URL).
DATASET_MD5 = {
    "day_23_dense.npy": "cdf7af87cbc7e9b468c0be46b1767601",
    "day_23_labels.npy": "dd68f93301812026ed6f58dfb0757fa7",
    "day_23_sparse_multi_hot.npz": "c46b7e31ec6f2f8768fa60bdfc0f6e40",
}

# The validation half of day 23 (README: day 23 has 178,274,637 rows; the first 89,137,319 are scored) and the
# md5 of the reference's trace of its 330,067 groups (dlrm_trace_of_aggregated_samples.txt, published on Zenodo
# record 3941795, md5 in the reference README).
VALIDATION_ROWS = 89_137_319
GROUPS = 330_067
TRACE_MD5 = "3db90209564316f2506c99cc994ad0b2"

# The dataset folder --dataset PATH names, in the reference's layout.
LAYOUT = "Criteo 1TB multi-hot day 23: day_23_dense.npy + day_23_sparse_multi_hot.npz + day_23_labels.npy"

ENTRIES = (
    ModelEntry(
        name="dlrm-v2-onnx", benchmarks=("dlrm-v2-99", "dlrm-v2-99.9"), backends=ONNX_BACKENDS, task="criteo",
        family="DLRM-DCNv2 (multi-hot Criteo 1TB)",
        # The reference's weights (AUC 80.31%), a sharded torchsnapshot of the torchrec DLRM_DCN.
        url="https://cloud.mlcommons.org/index.php/s/XzfSeLgW8FYfR3S/download", filename="dlrm_v2_weights.zip",
        md5=None, input_names=("dense", "sparse"), output_names=("probability",), memory_bytes=MODEL_BYTES_FP32,
        conversion=("it is a torchsnapshot of the torchrec DLRM_DCN (sharded weights, about 97 GiB, no published "
                    "checksum): restore it with the reference's backend_pytorch_native.py and export an ONNX "
                    "graph with inputs dense (N, 13) float32 and sparse (N, 214) int64 (each table's multi-hot "
                    "indices in table order) and output probability (N, 1), the sigmoid of the logit"),
    ),
)
