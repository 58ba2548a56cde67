"""The published models and data of the question-answering task: BERT-large fine-tuned on SQuAD v1.1
(bert-99, bert-99.9), as ONNX and as a TensorFlow frozen graph, and SQuAD v1.1 dev with the model's vocabulary.

Checksums as MLCommons' own automation records them (mlcommons/cm4mlops script/*/_cm.yaml), or the MLPerf
reference README where noted.
"""

from __future__ import annotations

from benchfleet.benchmarks.entry import ONNX_BACKENDS, ModelEntry, OfficialFile

SQUAD_DEV = OfficialFile("https://raw.githubusercontent.com/rajpurkar/SQuAD-explorer/master/dataset/dev-v1.1.json",
                         "dev-v1.1.json", "3e85deb501d4e538b6bc56f786231552")
BERT_VOCAB = OfficialFile("https://zenodo.org/record/3733868/files/vocab.txt", "vocab.txt",
                          "64800d5d8528ce344256daf115d4965e")

# The dataset folder --dataset PATH names, in the reference's layout.
LAYOUT = "SQuAD v1.1: dev-v1.1.json + vocab.txt"

ENTRIES = (
    ModelEntry(
        name="bert-large-onnx", benchmarks=("bert-99", "bert-99.9"), backends=ONNX_BACKENDS, task="squad",
        family="BERT-large (SQuAD v1.1 fine-tuned)",
        # The reference's fp32 ONNX model (F1 90.874).
        url="https://zenodo.org/record/3733910/files/model.onnx", filename="bert_large_v1_1.onnx",
        md5="819b25b19cd8e59080c10892689750ca", input_names=("input_ids", "input_mask", "segment_ids"),
        output_names=("output_start_logits", "output_end_logits"), input_data_types="int64",
        dataset_files=(SQUAD_DEV, BERT_VOCAB),
    ),
    ModelEntry(
        name="bert-large-tf", benchmarks=("bert-99", "bert-99.9"), backends=("tensorflow",), task="squad",
        family="BERT-large (SQuAD v1.1 fine-tuned)",
        # The reference's TensorFlow frozen graph; one output, logits (N, 384, 2).
        url="https://zenodo.org/record/3939747/files/model.pb", filename="bert_large_v1_1.pb",
        md5="dd72de12e8226f25f0128a1a864b97ad", input_names=("input_ids:0", "input_mask:0", "segment_ids:0"),
        output_names=("logits:0",), input_data_types="int32", dataset_files=(SQUAD_DEV, BERT_VOCAB),
    ),
)
