"""The published model of the summarization task: GPT-J 6B fine-tuned on CNN/DailyMail (gptj-99, gptj-99.9).
The dataset has no download with a checksum: the reference's download_cnndm.py builds cnn_eval.json."""

from __future__ import annotations

from benchfleet.benchmarks.entry import ONNX_BACKENDS, ModelEntry

# The dataset folder --dataset PATH names, in the reference's layout.
LAYOUT = "CNN/DailyMail: cnn_eval.json + vocab.json + merges.txt"

ENTRIES = (
    ModelEntry(
        name="gptj-6b-onnx", benchmarks=("gptj-99", "gptj-99.9"), backends=ONNX_BACKENDS, task="cnndm",
        family="GPT-J 6B (CNN/DailyMail fine-tuned)",
        # MLCommons' fine-tuned checkpoint (Hugging Face PyTorch format, 22.7 GB unpacked).
        url="https://cloud.mlcommons.org/index.php/s/QAZ2oM94MkFtbQx/download", filename="gpt-j-checkpoint.zip",
        md5="e677e28aaf03da84584bb3073b7ee315", input_names=("input_ids", "attention_mask", "position_ids"),
        output_names=("next_token_logits",), input_data_types="int64",
        conversion="unzip it and export the model to ONNX with inputs input_ids, attention_mask, position_ids and "
                   "output next_token_logits (the last position's logits), e.g. with optimum",
    ),
)
