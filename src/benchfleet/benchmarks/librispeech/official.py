"""The published model and data of the speech-recognition task (rnnt): the MLPerf reference RNN-T, published
as its PyTorch training checkpoint, and LibriSpeech dev-clean.

MLCommons' automation (mlcommons/cm4mlops and mlcommons/mlperf-automations, script get-ml-model-rnnt) records
the checkpoint's URL and its accuracy (WER 0.07452253714852645) but no checksum, and MLCommons publishes no ONNX
file of it: the checkpoint is turned into benchfleet's ONNX graph (encoder and greedy decoder in one graph,
``models/tiny_rnnt.py``) by ``tiny_rnnt.convert_checkpoint``, then passed with ``--model PATH``.

The reference downloads dev-clean as flac (pytorch/utils/librispeech-inference.csv, with its md5) and converts it
with sox to 16 kHz wav and the manifest ``dev-clean-wav.json`` (pytorch/utils/convert_librispeech.py); that
converted folder is what ``--dataset PATH`` takes, so no dataset file is downloaded by ``--dataset official``.
"""

from __future__ import annotations

from benchfleet.benchmarks.entry import ModelEntry, OfficialFile

LAYOUT = ("LibriSpeech dev-clean as convert_librispeech.py writes it: dev-clean-wav.json + dev-clean-wav/ "
          "(16 kHz wav)")

# The flac archive the reference's download_librispeech.py fetches (md5 from librispeech-inference.csv); it
# needs the reference's convert_librispeech.py (sox) before benchfleet reads it.
DEV_CLEAN_FLAC = OfficialFile("http://www.openslr.org/resources/12/dev-clean.tar.gz", "dev-clean.tar.gz",
                              "42e2234ba48799c1f50f24a7926300a1")

ENTRIES = (
    ModelEntry(
        name="rnnt-pytorch", benchmarks=("rnnt",), backends=("onnxruntime",), task="librispeech",
        family="RNN-T (LibriSpeech)",
        # The reference's fp32 PyTorch checkpoint (WER 7.452 on dev-clean).
        url="https://zenodo.org/record/3662521/files/DistributedDataParallel_1576581068.9962234-epoch-100.pt",
        filename="DistributedDataParallel_1576581068.9962234-epoch-100.pt", md5=None,
        input_names=("features", "feature_length"), output_names=("labels",), input_data_types="fp32",
        conversion=("it is a PyTorch training checkpoint; build benchfleet's ONNX graph of it (needs torch): python -c "
                    "\"from benchfleet.models import tiny_rnnt; tiny_rnnt.convert_checkpoint('DistributedDataParallel_"
                    "1576581068.9962234-epoch-100.pt', 'rnnt.onnx')\""),
    ),
)
