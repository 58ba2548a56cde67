"""Question answering on SQuAD v1.1 (BERT-large: bert-99, bert-99.9)."""
